/** The ObjectStore and BucketReader contracts, run by the S3 drivers against a real moto server. */
import { after, before } from 'node:test';
import { CreateBucketCommand, PutBucketPolicyCommand, type S3Client } from '@aws-sdk/client-s3';
import { MOTO_CREDENTIALS, MOTO_REGION, motoS3, startMoto, type StartedMoto } from '../../../test/helpers/moto.ts';
import { runObjectStoreContract, type BucketFixture } from '../object-store.suite.ts';
import { runBucketReaderContract } from '../bucket-reader.suite.ts';
import { S3ObjectStore } from './s3-object-store.ts';
import { S3BucketReader } from './s3-bucket-reader.ts';

let moto: StartedMoto;
let admin: S3Client;
let n = 0;

before(async () => {
  moto = await startMoto();
  admin = motoS3(moto);
});
after(async () => {
  admin.destroy();
  await moto.stop();
});

async function s3Fixture(): Promise<BucketFixture> {
  const store = new S3ObjectStore({ endpoint: moto.url, region: MOTO_REGION, forcePathStyle: true, ...MOTO_CREDENTIALS });
  const reader = new S3BucketReader({ endpoint: moto.url, region: MOTO_REGION, credentials: { ...MOTO_CREDENTIALS } });
  return {
    store,
    reader,
    newBucket: async () => {
      const bucket = `ot-contract-${++n}`;
      await admin.send(new CreateBucketCommand({ Bucket: bucket }));
      return bucket;
    },
    setBucketPolicy: async (bucket, policy) => {
      await admin.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: policy }));
    },
    kmsKeyId: 'arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000',
    close: async () => {
      store.destroy();
      reader.close();
    },
  };
}

runObjectStoreContract('S3 (moto)', s3Fixture, { concurrentWritesOfOneKeyMayFail: true });
runBucketReaderContract('S3 (moto)', s3Fixture);
