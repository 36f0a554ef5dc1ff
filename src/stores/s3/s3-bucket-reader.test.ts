/**
 * S3BucketReader against an endpoint that answers what no S3 writes: each answer must come out as
 * a BucketReadError naming the operation, never a raw RangeError or URIError, and a listing that
 * repeats its continuation token must end, not loop.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BucketReadError } from '../bucket-reader.ts';
import { S3BucketReader } from './s3-bucket-reader.ts';

const listing = (keys: string[], next?: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name>${keys.map((k) => `<Contents><Key>${k}</Key></Contents>`).join('')}` +
  `<IsTruncated>${next ? 'true' : 'false'}</IsTruncated>${next ? `<NextContinuationToken>${next}</NextContinuationToken>` : ''}</ListBucketResult>`;

/** The answer of each bucket's listing; `location` answers GetBucketLocation. */
const answers: Record<string, { status?: number; body: string }> = {
  'bad-ref': { body: listing(['a&#99999999;b']) },
  'bad-escape': { body: listing(['a%zzb']) },
  'same-token': { body: listing(['k1'], 'tok') },
  'bad-error': { status: 403, body: '<Error><Code>Access&#x110000;Denied</Code><Message>no</Message></Error>' },
  'good': { body: listing(['a%20b', 'c%2Bd&amp;e']) },
};

let server: Server;
let reader: S3BucketReader;
let requests = 0;

before(async () => {
  server = createServer((req, res) => {
    requests++;
    const url = new URL(req.url!, 'http://x');
    const bucket = url.pathname.split('/')[1]!;
    if (url.searchParams.has('location')) {
      res.end('<LocationConstraint>us-east-1</LocationConstraint>');
      return;
    }
    // Two tokens answered in turn: a cycle, not one token repeated.
    if (bucket === 'token-cycle') {
      res.end(listing([`k-${url.searchParams.get('continuation-token') ?? 'first'}`], url.searchParams.get('continuation-token') === 'a' ? 'b' : 'a'));
      return;
    }
    const a = answers[bucket];
    res.statusCode = a?.status ?? (a ? 200 : 404);
    res.end(a?.body ?? '<Error><Code>NoSuchBucket</Code><Message>none</Message></Error>');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  reader = new S3BucketReader({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, region: 'us-east-1',
    credentials: { accessKeyId: 'AKIAEXAMPLEEXAMPLE00', secretAccessKey: 'secret' },
  });
});
after(() => new Promise<void>((r) => server.close(() => r())));

async function list(bucket: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const k of reader.listKeys(bucket, '')) keys.push(k);
  return keys;
}

test('a well-formed listing: URL-encoded keys and entities decoded', async () => {
  assert.deepEqual(await list('good'), ['a b', 'c+d&e']);
});

test('a character reference that is no character, a malformed %-escape, an error body with one: BucketReadError', async () => {
  for (const bucket of ['bad-ref', 'bad-escape']) {
    await assert.rejects(list(bucket), (e: unknown) => {
      assert.ok(e instanceof BucketReadError, `${bucket}: ${String(e)}`);
      assert.equal(e.operation, 'ListObjects');
      assert.match(e.message, /the endpoint answered/);
      return true;
    });
  }
  await assert.rejects(list('bad-error'), (e: unknown) => e instanceof BucketReadError && e.operation === 'ListObjects');
});

test('a listing that answers a continuation token again (repeated or in a cycle) ends with an error', async () => {
  for (const [bucket, most] of [['same-token', 3], ['token-cycle', 4]] as const) {
    const before = requests;
    await assert.rejects(list(bucket), (e: unknown) => e instanceof BucketReadError && /continuation token it had answered before/.test(e.message));
    assert.ok(requests - before <= most, `${bucket}: ${requests - before} requests`);
  }
});
