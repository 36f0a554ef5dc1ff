/** The ObjectStore and BucketReader contracts, run by the S3 drivers against a real moto server. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { text } from 'node:stream/consumers';
import { CreateBucketCommand, PutBucketPolicyCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { BucketReadError } from '../bucket-reader.ts';
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
  admin?.destroy();
  await moto?.stop();
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

test('S3BucketReader: the light path (no SDK client) and the SDK\'s endpoint rules find the same Region, keys, bytes and errors', async () => {
  const bucket = 'ot-contract-eu';
  await admin.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
  await admin.send(new PutObjectCommand({ Bucket: bucket, Key: 'a/x y+z.json.gz', Body: 'one', Metadata: { signature: 'abc' } }));
  await admin.send(new PutObjectCommand({ Bucket: bucket, Key: 'a/two', Body: 'two' }));
  const read = async (sdkEndpointRules: boolean) => {
    const reader = new S3BucketReader({ endpoint: moto.url, region: MOTO_REGION, credentials: { ...MOTO_CREDENTIALS }, sdkEndpointRules });
    try {
      const region = await reader.regionOf(bucket);
      const keys: string[] = [];
      for await (const k of reader.listKeys(bucket, 'a/')) keys.push(k);
      const o = await reader.getObject(bucket, 'a/x y+z.json.gz');
      const missing = await reader.getObject('ot-no-such-bucket', 'k').then(() => undefined, (e: unknown) => e);
      assert.ok(missing instanceof BucketReadError, String(missing));
      return { region, keys, body: await text(o.body), metadata: o.metadata, missing: [missing.code, missing.operation, missing.message] };
    } finally {
      reader.close();
    }
  };
  const light = await read(false);
  assert.equal(light.region, 'eu-west-1');
  assert.deepEqual(light.keys, ['a/two', 'a/x y+z.json.gz']);
  assert.equal(light.body, 'one');
  assert.equal(light.metadata.signature, 'abc');
  assert.deepEqual(light, await read(true));
});
