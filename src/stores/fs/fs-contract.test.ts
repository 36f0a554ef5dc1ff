/** The ObjectStore and BucketReader contracts, run by the filesystem drivers over a temp dir. */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runObjectStoreContract, type BucketFixture } from '../object-store.suite.ts';
import { runBucketReaderContract } from '../bucket-reader.suite.ts';
import { FsObjectStore } from './fs-object-store.ts';
import { FsBucketReader } from './fs-bucket-reader.ts';

async function fsFixture(): Promise<BucketFixture> {
  const root = mkdtempSync(join(tmpdir(), 'ot-fs-contract-'));
  let n = 0;
  return {
    store: new FsObjectStore(root),
    reader: new FsBucketReader(root),
    newBucket: async () => {
      const bucket = `bucket-${++n}`;
      mkdirSync(join(root, bucket));
      return bucket;
    },
    // The filesystem store ignores the key (no encryption at rest of its own).
    kmsKeyId: 'arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000',
    close: async () => rmSync(root, { recursive: true, force: true }),
  };
}

runObjectStoreContract('filesystem', fsFixture);
runBucketReaderContract('filesystem', fsFixture);
