/**
 * The ObjectStore contract (see object-store.ts), as tests any driver must pass: buckets that exist
 * or not, policies where the store has them, and writes that read back whole (bytes and user
 * metadata), replace what was there, and are refused with an ObjectStoreError, never half done.
 *
 *   runObjectStoreContract('filesystem', async () => fsFixture());
 *
 * The ObjectStore interface has no reads: the suite reads what it wrote through the same driver's
 * BucketReader (what validate-logs reads is what delivery wrote), so a fixture brings both.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { buffer } from 'node:stream/consumers';
import { ObjectStoreError, type ObjectStore } from './object-store.ts';
import type { BucketReader } from './bucket-reader.ts';

/** One driver's object store and bucket reader over the same buckets. */
export interface BucketFixture {
  store: ObjectStore;
  /** The same driver's reader: how the suites see what the store wrote. */
  reader: BucketReader;
  /** Creates a new, empty bucket and answers its name (a new name each call). */
  newBucket(): Promise<string>;
  /** Sets a bucket's policy, for stores that have policies. */
  setBucketPolicy?(bucket: string, policy: string): Promise<void>;
  /** A KMS key id the store accepts for SSE-KMS, when the driver's neighbour has one. */
  kmsKeyId?: string;
  close(): Promise<void>;
}

/** Opens a fixture, runs `fn` on a new bucket of it, and closes it. */
export async function withNewBucket(open: () => Promise<BucketFixture>, fn: (f: BucketFixture, bucket: string) => Promise<void>): Promise<void> {
  const f = await open();
  try {
    await fn(f, await f.newBucket());
  } finally {
    await f.close();
  }
}

export async function readObject(reader: BucketReader, bucket: string, key: string): Promise<{ body: Buffer; metadata: Record<string, string> }> {
  const o = await reader.getObject(bucket, key);
  return { body: await buffer(o.body), metadata: o.metadata };
}

export async function listAll(reader: BucketReader, bucket: string, prefix: string, startAfter?: string): Promise<string[]> {
  const out: string[] = [];
  for await (const k of reader.listKeys(bucket, prefix, startAfter)) out.push(k);
  return out;
}

/** A bucket name of the rules of S3 and of every driver, that no fixture creates. */
export const MISSING_BUCKET = 'ot-contract-no-such-bucket';

const isStoreError = (code?: string) => (e: unknown) => e instanceof ObjectStoreError && (code === undefined || e.code === code);

/** Keys as delivery writes them: log files and digests under a trail's S3KeyPrefix. */
const LOG_KEY = 'logs/AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/02/111122223333_CloudTrail_us-east-1_20260102T0305Z_abcDEF123.json.gz';
const DIGEST_KEY = 'logs/AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/01/02/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20260102T030000Z.json.gz';

export interface ObjectStoreContractOptions {
  /**
   * Concurrent writes of one key may be refused (an ObjectStoreError, as S3 may answer 409 or 503)
   * instead of all succeeding. For emulators that fail them: moto 5.2 answers 500 to some
   * (`ValueError: I/O operation on closed file` computing the replaced object's ETag).
   */
  concurrentWritesOfOneKeyMayFail?: boolean;
}

export function runObjectStoreContract(name: string, open: () => Promise<BucketFixture>, options: ObjectStoreContractOptions = {}): void {
  /** Runs the writes at once: all must succeed, or (with the option) some be refused with an ObjectStoreError; answers those that succeeded. */
  async function racing(writes: (() => Promise<void>)[]): Promise<number[]> {
    const settled = await Promise.allSettled(writes.map((w) => w()));
    const ok: number[] = [];
    settled.forEach((r, i) => {
      if (r.status === 'fulfilled') ok.push(i);
      else if (!options.concurrentWritesOfOneKeyMayFail || !(r.reason instanceof ObjectStoreError)) throw r.reason;
    });
    assert.ok(ok.length > 0, 'at least one of the concurrent writes succeeds');
    return ok;
  }

  const withFixture = (fn: (f: BucketFixture, bucket: string) => Promise<void>) => withNewBucket(open, fn);

  describe(`ObjectStore contract: ${name}`, () => {
    test('a bucket exists once created; a missing one does not', () => withFixture(async (f, bucket) => {
      assert.equal(await f.store.bucketExists(bucket), true);
      assert.equal(await f.store.bucketExists(MISSING_BUCKET), false);
      assert.ok(f.store.kind === 'filesystem' || f.store.kind === 's3', f.store.kind);
      const hint = f.store.missingBucketHint?.(MISSING_BUCKET);
      if (hint !== undefined) assert.ok(hint.includes(MISSING_BUCKET), hint);
    }));

    test('a bucket without a policy, and a missing bucket, have none', () => withFixture(async (f, bucket) => {
      assert.equal(await f.store.bucketPolicy(bucket), undefined);
      assert.equal(await f.store.bucketPolicy(MISSING_BUCKET), undefined);
    }));

    test('a bucket policy reads back as the document set', async (t) => {
      const probe = await open();
      const settable = probe.setBucketPolicy !== undefined;
      await probe.close();
      if (!settable) return t.skip('this store has no policies');
      await withFixture(async (f, bucket) => {
        const policy = {
          Version: '2012-10-17',
          Statement: [{ Sid: 'AWSCloudTrailWrite', Effect: 'Allow', Principal: { Service: 'cloudtrail.amazonaws.com' }, Action: 's3:PutObject', Resource: `arn:aws:s3:::${bucket}/AWSLogs/111122223333/*` }],
        };
        await f.setBucketPolicy!(bucket, JSON.stringify(policy));
        assert.deepEqual(JSON.parse((await f.store.bucketPolicy(bucket))!), policy);
      });
    });

    test('putObject writes bytes and user metadata that read back whole', () => withFixture(async (f, bucket) => {
      const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const gz = gzipSync(Buffer.from('{"Records":[]}'));
      const big = randomBytes(3 * 1024 * 1024 + 17);
      await f.store.putObject(bucket, LOG_KEY, gz, { contentType: 'application/json' });
      await f.store.putObject(bucket, DIGEST_KEY, gz, { contentType: 'application/json', metadata: { signature: 'ab01', 'signature-algorithm': 'SHA256withRSA' } });
      await f.store.putObject(bucket, 'bytes/every', every);
      await f.store.putObject(bucket, 'bytes/empty', Buffer.alloc(0));
      await f.store.putObject(bucket, 'bytes/big', big);
      assert.deepEqual(await readObject(f.reader, bucket, LOG_KEY), { body: gz, metadata: {} }, 'gzip bytes are stored as given, never inflated');
      assert.deepEqual(await readObject(f.reader, bucket, DIGEST_KEY), { body: gz, metadata: { signature: 'ab01', 'signature-algorithm': 'SHA256withRSA' } });
      assert.deepEqual((await readObject(f.reader, bucket, 'bytes/every')).body, every);
      assert.equal((await readObject(f.reader, bucket, 'bytes/empty')).body.length, 0);
      assert.ok((await readObject(f.reader, bucket, 'bytes/big')).body.equals(big));
      assert.deepEqual(await listAll(f.reader, bucket, ''), ['bytes/big', 'bytes/empty', 'bytes/every', DIGEST_KEY, LOG_KEY]);
    }));

    test('metadata names read back in lower case', () => withFixture(async (f, bucket) => {
      await f.store.putObject(bucket, 'k', Buffer.from('x'), { metadata: { Signature: 'ff', 'Signature-Algorithm': 'SHA256withRSA' } });
      assert.deepEqual((await readObject(f.reader, bucket, 'k')).metadata, { signature: 'ff', 'signature-algorithm': 'SHA256withRSA' });
    }));

    test('writing a key again replaces its bytes and its metadata; the same bytes again are harmless', () => withFixture(async (f, bucket) => {
      await f.store.putObject(bucket, 'k', Buffer.from('one'), { metadata: { a: '1', b: '2' } });
      await f.store.putObject(bucket, 'k', Buffer.from('one'), { metadata: { a: '1', b: '2' } });
      assert.deepEqual(await readObject(f.reader, bucket, 'k'), { body: Buffer.from('one'), metadata: { a: '1', b: '2' } });
      await f.store.putObject(bucket, 'k', Buffer.from('two, longer'), { metadata: { c: '3' } });
      assert.deepEqual(await readObject(f.reader, bucket, 'k'), { body: Buffer.from('two, longer'), metadata: { c: '3' } });
      await f.store.putObject(bucket, 'k', Buffer.from('3'));
      assert.deepEqual(await readObject(f.reader, bucket, 'k'), { body: Buffer.from('3'), metadata: {} }, 'a write without metadata leaves none');
      assert.deepEqual(await listAll(f.reader, bucket, ''), ['k']);
    }));

    test('concurrent writes: different keys all land; one key ends as one whole write', () => withFixture(async (f, bucket) => {
      const keys = Array.from({ length: 24 }, (_, i) => `AWSLogs/1/CloudTrail/us-east-1/2026/01/02/f${String(i).padStart(2, '0')}.json.gz`);
      await Promise.all(keys.map((k) => f.store.putObject(bucket, k, Buffer.from(k))));
      assert.deepEqual(await listAll(f.reader, bucket, 'AWSLogs/'), keys);
      for (const k of keys) assert.equal((await readObject(f.reader, bucket, k)).body.toString(), k);
      // The same bytes written at once (a redo racing the first attempt) all succeed.
      const same = Buffer.from('same bytes');
      await racing(Array.from({ length: 8 }, () => () => f.store.putObject(bucket, 'same', same, { metadata: { m: 'v' } })));
      assert.deepEqual(await readObject(f.reader, bucket, 'same'), { body: same, metadata: { m: 'v' } });
      // Different bytes at once: one of them, whole.
      const versions = Array.from({ length: 8 }, (_, i) => Buffer.alloc(4096 + i, 65 + i));
      const ok = await racing(versions.map((v) => () => f.store.putObject(bucket, 'race', v)));
      const got = (await readObject(f.reader, bucket, 'race')).body;
      assert.ok(ok.some((i) => versions[i]!.equals(got)), 'the object is one of the writes that succeeded, whole');
    }));

    test('a write to a missing bucket is refused with NoSuchBucket and creates nothing', () => withFixture(async (f) => {
      await assert.rejects(f.store.putObject(MISSING_BUCKET, 'AWSLogs/k.json.gz', Buffer.from('x')), isStoreError('NoSuchBucket'));
      assert.equal(await f.store.bucketExists(MISSING_BUCKET), false);
    }));

    test('keys of any characters a trail prefix may hold round trip and list as written', () => withFixture(async (f, bucket) => {
      // S3KeyPrefix: up to 200 characters.
      const keys = ['my prefix/AWSLogs/k.json.gz', 'ü/é€😀/k.json.gz', 'a+b=c&d;e,f@g$h/k', "quote'\"/k", 'percent%20/k', 'tilde~/k', 'UPPER/k', `${'p'.repeat(200)}/${LOG_KEY}`];
      for (const k of keys) await f.store.putObject(bucket, k, Buffer.from(k));
      for (const k of keys) assert.equal((await readObject(f.reader, bucket, k)).body.toString(), k, k);
      const sorted = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      assert.deepEqual(await listAll(f.reader, bucket, ''), sorted);
    }));

    test('a key under an existing object\'s name, or too long for a file name, is written or refused with an ObjectStoreError; the object stays', () => withFixture(async (f, bucket) => {
      await f.store.putObject(bucket, 'a/b', Buffer.from('file'));
      // ... and a key whose part is longer than a filesystem's file name (255 bytes): S3 takes it.
      for (const key of ['a/b/c', 'a', `${'é'.repeat(150)}/k`, `d/${'n'.repeat(300)}`]) {
        try {
          await f.store.putObject(bucket, key, Buffer.from(key));
          assert.equal((await readObject(f.reader, bucket, key)).body.toString(), key);
        } catch (e) {
          assert.ok(e instanceof ObjectStoreError, `refused with ${String(e)}`);
        }
      }
      assert.equal((await readObject(f.reader, bucket, 'a/b')).body.toString(), 'file');
    }));

    test('SSE-KMS writes read back the same', async (t) => {
      const probe = await open();
      const keyId = probe.kmsKeyId;
      await probe.close();
      if (keyId === undefined) return t.skip('the driver has no KMS key to use');
      await withFixture(async (f, bucket) => {
        await f.store.putObject(bucket, LOG_KEY, Buffer.from('sealed'), { kmsKeyId: keyId, contentType: 'application/json' });
        assert.equal((await readObject(f.reader, bucket, LOG_KEY)).body.toString(), 'sealed');
      });
    });
  });
}
