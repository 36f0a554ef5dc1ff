/**
 * The BucketReader contract (see bucket-reader.ts), as tests any driver must pass: listing by prefix
 * from a key on, in S3's order (ascending UTF-8 bytes), across pages, stopped early at will; objects
 * with their bytes as stored (gzip is not inflated) and their user metadata; NoSuchKey and
 * NoSuchBucket as BucketReadError codes.
 *
 *   runBucketReaderContract('filesystem', async () => fsFixture());
 *
 * Objects are written through the same driver's ObjectStore (see BucketFixture).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { BucketReadError } from './bucket-reader.ts';
import { listAll, MISSING_BUCKET, readObject, withNewBucket, type BucketFixture } from './object-store.suite.ts';

export interface BucketReaderContractOptions {
  /** Keys written for the paging test: more than the driver's page (S3: 1,000). Default 1,005. */
  pagedKeys?: number;
  /** fast-check runs of the listing model property (default 150). */
  modelRuns?: number;
}

/** S3's order: ascending by UTF-8 bytes (not by UTF-16 code units, as JavaScript's `<` compares). */
const s3Order = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** What a listing must answer, from the keys of the bucket. */
function model(keys: readonly string[], prefix: string, startAfter?: string): string[] {
  return keys
    .filter((k) => k.startsWith(prefix) && (startAfter === undefined || s3Order(k, startAfter) > 0))
    .sort(s3Order);
}

const readError = (code: string) => (e: unknown) => e instanceof BucketReadError && e.code === code;

/**
 * Segments that sort differently by UTF-8 bytes and by UTF-16 code units (U+FF5E against U+1F600),
 * around `/` (0x2F: after `-` and `.`, before digits), with upper and lower case.
 */
const SEGMENTS = ['a', 'b', 'A', 'a-', 'a.', 'a0', '~', 'é', '\uff5e', '😀', 'a b', '+'];

/**
 * Keys of up to three segments; none is a "folder" of another key (`a` beside `a/b`), which a
 * filesystem bucket cannot hold.
 */
function keySet(raw: string[][]): string[] {
  const keys = [...new Set(raw.map((segs) => segs.join('/')))];
  return keys.filter((k) => !keys.some((o) => o.startsWith(`${k}/`)));
}

export function runBucketReaderContract(name: string, open: () => Promise<BucketFixture>, options: BucketReaderContractOptions = {}): void {
  const withFixture = (fn: (f: BucketFixture, bucket: string) => Promise<void>) => withNewBucket(open, fn);

  async function putAll(f: BucketFixture, bucket: string, keys: readonly string[], parallel = 8): Promise<void> {
    let next = 0;
    await Promise.all(Array.from({ length: parallel }, async () => {
      while (next < keys.length) {
        const k = keys[next++]!;
        await f.store.putObject(bucket, k, Buffer.from(k));
      }
    }));
  }

  describe(`BucketReader contract: ${name}`, () => {
    test('an empty bucket lists nothing', () => withFixture(async (f, bucket) => {
      assert.deepEqual(await listAll(f.reader, bucket, ''), []);
      assert.deepEqual(await listAll(f.reader, bucket, 'AWSLogs/'), []);
    }));

    test('lists keys with the prefix, in S3 order, after startAfter', () => withFixture(async (f, bucket) => {
      const keys = [
        'AWSLogs/1/CloudTrail/us-east-1/2026/01/02/b.json.gz', 'AWSLogs/1/CloudTrail/us-east-1/2026/01/02/a.json.gz',
        'AWSLogs/1/CloudTrail/us-east-1/2026/01/03/a.json.gz', 'AWSLogs/1/CloudTrail-Digest/us-east-1/2026/01/02/d.json.gz',
        'AWSLogs/12/CloudTrail/us-east-1/2026/01/02/a.json.gz', 'AWSLogs/1.json', 'AWSLogs/1-x', 'AWSLogs/10',
        'other/k', 'top',
      ];
      await putAll(f, bucket, keys);
      const day = 'AWSLogs/1/CloudTrail/us-east-1/2026/01/02/';
      assert.deepEqual(await listAll(f.reader, bucket, ''), model(keys, ''));
      assert.deepEqual(await listAll(f.reader, bucket, day), [`${day}a.json.gz`, `${day}b.json.gz`]);
      assert.deepEqual(await listAll(f.reader, bucket, 'AWSLogs/1'), model(keys, 'AWSLogs/1'), 'a prefix that ends inside a segment');
      assert.deepEqual(await listAll(f.reader, bucket, 'AWSLogs/1/CloudTrail'), model(keys, 'AWSLogs/1/CloudTrail'));
      assert.deepEqual(await listAll(f.reader, bucket, 'top'), ['top'], 'a prefix that is a whole key');
      assert.deepEqual(await listAll(f.reader, bucket, 'nothing/'), []);
      assert.deepEqual(await listAll(f.reader, bucket, 'AWSLogs/1/CloudTrail/us-east-1/2026/01/02/a.json.gz.x'), []);
      // startAfter: strictly after, whether or not it is a key, wherever it falls.
      assert.deepEqual(await listAll(f.reader, bucket, day, `${day}a.json.gz`), [`${day}b.json.gz`]);
      assert.deepEqual(await listAll(f.reader, bucket, day, `${day}a`), [`${day}a.json.gz`, `${day}b.json.gz`]);
      assert.deepEqual(await listAll(f.reader, bucket, day, 'AWSLogs/0'), [`${day}a.json.gz`, `${day}b.json.gz`]);
      assert.deepEqual(await listAll(f.reader, bucket, day, 'AWSLogs/1/CloudTrail/us-east-1/2026/01/01/zzz'), [`${day}a.json.gz`, `${day}b.json.gz`]);
      assert.deepEqual(await listAll(f.reader, bucket, day, `${day}b.json.gz`), []);
      assert.deepEqual(await listAll(f.reader, bucket, day, 'AWSLogs/2'), []);
      assert.deepEqual(await listAll(f.reader, bucket, 'AWSLogs/', 'AWSLogs/1/CloudTrail/'), model(keys, 'AWSLogs/', 'AWSLogs/1/CloudTrail/'));
      assert.deepEqual(await listAll(f.reader, bucket, '', 'AWSLogs/1/CloudTrail/us-east-1/2026/01/02/b'), model(keys, '', 'AWSLogs/1/CloudTrail/us-east-1/2026/01/02/b'));
    }));

    test('listing follows the model for any keys, prefix and startAfter (UTF-8 byte order)', () => withFixture(async (f, bucket) => {
      // One bucket of keys, many listings of it (writing a bucket per run would be slow on S3).
      const raw = fc.sample(fc.array(fc.constantFrom(...SEGMENTS), { minLength: 1, maxLength: 3 }), { numRuns: 90, seed: 18 });
      const keys = keySet(raw);
      await putAll(f, bucket, keys);
      assert.deepEqual(await listAll(f.reader, bucket, ''), model(keys, ''));
      const fragment = fc.oneof(
        fc.constantFrom(...keys).chain((k) => fc.nat(k.length).map((n) => [...k].slice(0, n).join(''))), // whole characters
        fc.array(fc.constantFrom(...SEGMENTS, '/'), { maxLength: 4 }).map((p) => p.join('')),
      );
      await fc.assert(fc.asyncProperty(fragment, fc.option(fragment, { nil: undefined }), async (prefix, startAfter) => {
        assert.deepEqual(await listAll(f.reader, bucket, prefix, startAfter), model(keys, prefix, startAfter));
      }), { numRuns: options.modelRuns ?? 150 });
    }));

    test('lists every key across pages, and from a key on in the middle of them', () => withFixture(async (f, bucket) => {
      const n = options.pagedKeys ?? 1005;
      const keys = Array.from({ length: n }, (_, i) => `AWSLogs/1/CloudTrail/us-east-1/2026/01/02/f${String(i).padStart(5, '0')}.json.gz`);
      await putAll(f, bucket, keys);
      assert.deepEqual(await listAll(f.reader, bucket, 'AWSLogs/'), keys);
      const from = n - 7;
      assert.deepEqual(await listAll(f.reader, bucket, 'AWSLogs/1/', keys[from]), keys.slice(from + 1));
      assert.deepEqual(await listAll(f.reader, bucket, 'AWSLogs/1/', keys[2]), keys.slice(3));
    }));

    test('the consumer may stop a listing early; the reader goes on serving', { timeout: 120_000 }, () => withFixture(async (f, bucket) => {
      const keys = ['a/1', 'a/2', 'a/3', 'b/1', 'b/2'];
      await putAll(f, bucket, keys);
      for (let i = 0; i < 40; i++) {
        for await (const k of f.reader.listKeys(bucket, '')) {
          assert.equal(k, 'a/1');
          break;
        }
      }
      assert.deepEqual(await listAll(f.reader, bucket, 'b/'), ['b/1', 'b/2']);
    }));

    test('getObject answers the bytes as stored and the user metadata', () => withFixture(async (f, bucket) => {
      const gz = gzipSync(Buffer.from('{"Records":[{"eventVersion":"1.11"}]}'));
      const big = randomBytes(2 * 1024 * 1024 + 3);
      await f.store.putObject(bucket, 'log.json.gz', gz, { contentType: 'application/json' });
      await f.store.putObject(bucket, 'digest.json.gz', gz, { metadata: { signature: 'ff00', 'signature-algorithm': 'SHA256withRSA' } });
      await f.store.putObject(bucket, 'big', big);
      assert.deepEqual(await readObject(f.reader, bucket, 'log.json.gz'), { body: gz, metadata: {} });
      assert.deepEqual(await readObject(f.reader, bucket, 'digest.json.gz'), { body: gz, metadata: { signature: 'ff00', 'signature-algorithm': 'SHA256withRSA' } });
      assert.ok((await readObject(f.reader, bucket, 'big')).body.equals(big));
      // Many at once, each its own.
      const all = await Promise.all(Array.from({ length: 24 }, (_, i) => readObject(f.reader, bucket, i % 2 ? 'log.json.gz' : 'digest.json.gz')));
      for (const o of all) assert.ok(o.body.equals(gz));
    }));

    test('a body destroyed unread releases what it held', { timeout: 120_000 }, () => withFixture(async (f, bucket) => {
      await f.store.putObject(bucket, 'big', randomBytes(1024 * 1024));
      await f.store.putObject(bucket, 'small', Buffer.from('small'));
      // More than any driver's connection pool: a leaked connection or handle would hang here (the timeout fails it).
      for (let i = 0; i < 80; i++) {
        const o = await f.reader.getObject(bucket, 'big');
        o.body.destroy();
      }
      assert.equal((await readObject(f.reader, bucket, 'small')).body.toString(), 'small');
    }));

    test('a missing key is NoSuchKey; so is a key that is only a prefix of others, or too long for a file name', () => withFixture(async (f, bucket) => {
      await f.store.putObject(bucket, 'AWSLogs/1/a.json.gz', Buffer.from('a'));
      const long = 'é'.repeat(200);
      for (const key of ['nope', 'AWSLogs/1/b.json.gz', 'AWSLogs/1', 'AWSLogs/1/', 'AWSLogs/1/a.json', `${long}/k`, `AWSLogs/1/${long}`]) {
        await assert.rejects(f.reader.getObject(bucket, key), readError('NoSuchKey'), key.slice(0, 40));
      }
      assert.deepEqual(await listAll(f.reader, bucket, `${long}/`), []);
      assert.deepEqual(await listAll(f.reader, bucket, `AWSLogs/1/${long}`), []);
    }));

    test('a missing bucket is NoSuchBucket, for listing and for reading', () => withFixture(async (f) => {
      await assert.rejects(listAll(f.reader, MISSING_BUCKET, ''), readError('NoSuchBucket'));
      await assert.rejects(f.reader.getObject(MISSING_BUCKET, 'k'), readError('NoSuchBucket'));
    }));
  });
}
