/**
 * Hostile bodies at the recording gateway (issue 10, item 4), against the real server with a
 * gateway in front of a tiny counting upstream (it drains and counts what reaches it):
 * - nothing of a body is read before the headers verify: an unknown key (and every other refusal
 *   the headers allow) is answered while the client is still sending, in the protocol's error
 *   shape, with the connection closed; nothing reaches the upstream;
 * - memory stays bounded under many concurrent large posts to the gateway and the API edge
 *   together: one in-flight body budget for both listeners (503 beyond it), unverified bodies
 *   capped at the small limit;
 * - a gzip bomb stops at the limit (413), and is never inflated for a caller whose signature failed.
 * /health is probed throughout (whileProbing).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { ACCOUNT_A, ACCOUNT_B, startServer, type StartedServer, type TestConfig, type TestIdentity } from '../helpers/server.ts';
import { signRequest } from '../helpers/signed-fetch.ts';
import { assertAlive, whileProbing } from './liveness.ts';
import { rawPost, rssMiB, samplePeakRss, type RawAnswer } from './raw-http.ts';

const alice = ACCOUNT_A.identities[1]!;
const stranger: TestIdentity = { type: 'IAMUser', userName: 'nobody', accessKeyId: 'AKIANOBODYXXXXXXXXXX', secretAccessKey: 'nope' };
const JSON_11 = 'application/x-amz-json-1.1';
const LIST_NAMESPACES = 'Route53AutoNaming_v20170314.ListNamespaces';
const MiB = 1024 * 1024;

type Answer = RawAnswer;

/** Counts the requests and body bytes that reach it; answers every request 200 `{}`. */
async function startCountingUpstream(): Promise<{ url: string; requests: () => number; bytes: () => number; close(): Promise<void> }> {
  let requests = 0;
  let bytes = 0;
  const server = http.createServer((req, res) => {
    requests++;
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => res.writeHead(200, { 'content-type': JSON_11 }).end('{}'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    requests: () => requests,
    bytes: () => bytes,
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}


/** Signed headers of a Cloud Map (awsJson1_1) call through the gateway. */
async function gatewayHeaders(gw: string, id: TestIdentity, body: Buffer, payloadHash: 'signed' | 'none' | string = 'signed', extra: Record<string, string> = {}, signingDateMs?: number): Promise<Record<string, string>> {
  const { headers } = await signRequest(`${gw}/`, id, {
    body, service: 'servicediscovery', payloadHash, signingDateMs,
    headers: { 'content-type': JSON_11, 'x-amz-target': LIST_NAMESPACES, ...extra },
  });
  return { ...headers, 'content-length': String(body.length) };
}

/** Signed headers of an S3 PutBucketPolicy (restXml, a body read whole) through the gateway. */
async function s3Headers(gw: string, id: TestIdentity, body: Buffer): Promise<Record<string, string>> {
  const { headers } = await signRequest(`${gw}/some-bucket?policy=`, id, { body, service: 's3', method: 'PUT' });
  return { ...headers, 'content-length': String(body.length) };
}

/** An awsJson error answer: JSON {__type, message} and x-amzn-errortype naming the same exception. */
function assertJsonError(a: Answer, status: number, type: string, message?: RegExp): void {
  assert.equal(a.error, undefined, `an answer arrived (${a.error})`);
  assert.equal(a.status, status, a.text.slice(0, 300));
  const doc = JSON.parse(a.text) as { __type?: string; message?: string };
  assert.equal(doc.__type, type, a.text.slice(0, 300));
  assert.equal(a.headers['x-amzn-errortype'], type);
  assert.equal(typeof doc.message, 'string');
  if (message) assert.match(doc.message!, message);
}


/** A multi-member gzip: `member` (gzip of `unitBytes` zeros) repeated, inflating to unitBytes × times. */
function gzipBomb(unitBytes: number, times: number): Buffer {
  const member = gzipSync(Buffer.alloc(unitBytes, 0x30), { level: 9 });
  return Buffer.concat(Array.from({ length: times }, () => member));
}

let upstream: Awaited<ReturnType<typeof startCountingUpstream>>;
const servers: StartedServer[] = [];

async function start(config: Partial<TestConfig> = {}): Promise<{ server: StartedServer; gw: string }> {
  const server = await startServer({ accounts: [ACCOUNT_A, ACCOUNT_B], gateway: { port: 0, upstream: { endpoint: upstream.url } }, ...config });
  servers.push(server);
  assert.ok(server.gatewayUrl, 'the gateway listens');
  return { server, gw: server.gatewayUrl };
}

before(async () => {
  upstream = await startCountingUpstream();
});

after(async () => {
  for (const s of servers) {
    await s.stop();
    rmSync(s.dataDir, { recursive: true, force: true });
    rmSync(s.configFile, { force: true });
  }
  await upstream.close();
});

describe('hostile: bodies at the recording gateway', () => {
  test('nothing of a body is read before the headers verify: refusals arrive while the client is still sending, and nothing reaches the upstream', async () => {
    const { server, gw } = await start();
    const body = Buffer.alloc(16 * MiB, 0x20);
    const cases: [string, Record<string, string>, number, string, RegExp?][] = [
      ['unknown access key, 16 MiB body', await gatewayHeaders(gw, stranger, body, 'none'), 403, 'UnrecognizedClientException'],
      ['unknown access key, signed payload hash', await gatewayHeaders(gw, stranger, body), 403, 'UnrecognizedClientException'],
      ['signed hex hash, wrong secret', await gatewayHeaders(gw, { ...alice, secretAccessKey: 'wrong' }, body), 403, 'SignatureDoesNotMatch'],
      ['expired date', await gatewayHeaders(gw, alice, body, 'signed', {}, Date.now() - 3_600_000), 400, 'RequestExpired'],
      ['UNSIGNED-PAYLOAD outside S3', await gatewayHeaders(gw, alice, body, 'UNSIGNED-PAYLOAD'), 400, 'XAmzContentSHA256Mismatch', /payload must be signed/],
      ['payload hash not signed, body over the small limit', await gatewayHeaders(gw, alice, body, 'none'), 413, 'RequestEntityTooLargeException', /sign the payload hash/],
    ];
    const before = upstream.requests();
    await whileProbing(server, async () => {
      for (const [what, headers, status, type, message] of cases) {
        // Only 1 MiB of the 16 MiB is ever sent: the answer must come without the rest.
        const a = await rawPost(gw, '/', headers, body, { sendBytes: MiB, timeoutMs: 10_000 });
        assert.equal(a.error, undefined, `${what}: answered before the whole body was sent (${a.error})`);
        assertJsonError(a, status, type, message);
        assert.equal(a.headers.connection, 'close', `${what}: the unread body's connection is closed`);
      }
      // S3 (restXml) speaks its own error shape.
      const s3 = await rawPost(gw, '/some-bucket?policy=', await s3Headers(gw, stranger, body), body, { sendBytes: MiB, timeoutMs: 10_000 });
      assert.equal(s3.error, undefined, `S3, unknown key: answered before the whole body was sent (${s3.error})`);
      assert.equal(s3.status, 403);
      assert.match(s3.text, /<Error><Code>InvalidAccessKeyId<\/Code>/);
      assert.equal(s3.headers.connection, 'close');
    });
    assert.equal(upstream.requests(), before, 'nothing reached the upstream');
    // The gateway still serves a real call afterwards.
    const ok = await rawPost(gw, '/', await gatewayHeaders(gw, alice, Buffer.from('{}'), 'none'), Buffer.from('{}'));
    assert.equal(ok.status, 200, ok.text);
    assertAlive(server);
  });

  test('memory stays bounded under many concurrent large posts to the gateway and the API edge: one in-flight budget (503 beyond), unverified bodies capped', async (t) => {
    const { server, gw } = await start({ ingest: { maxInFlightBodyBytes: 32 * MiB } });
    const pid = server.process.pid!;
    const baseline = rssMiB(pid);
    // Through the gateway: 1.9 MiB bodies whose signature covers them (no payload hash: the small
    // limit), 15 MiB bodies with a signed payload hash (a verified caller: the big limit, within the
    // budget) and 15 MiB bodies without one (over the small limit: never buffered).
    const small = Buffer.from(JSON.stringify({ MaxResults: 1, pad: 'y'.repeat(1.9 * MiB) }));
    const big = Buffer.from(JSON.stringify({ MaxResults: 1, pad: 'z'.repeat(15 * MiB) }));
    const smallHeaders = await gatewayHeaders(gw, alice, small, 'none');
    const bigSigned = await gatewayHeaders(gw, alice, big);
    const bigUnsigned = await gatewayHeaders(gw, alice, big, 'none');
    // And to the API edge at the same time (the same budget): /ingest bodies with a signed hash.
    const ingest = Buffer.from(`${JSON.stringify({ note: 'x'.repeat(1000) })}\n`.repeat(1900));
    const { headers: ingestSigned } = await signRequest(`${server.url}/ingest`, alice, { body: ingest, headers: { 'content-type': 'application/x-ndjson' } });
    const rss = samplePeakRss(pid, baseline);
    const { result: answers, report } = await whileProbing(server, () => Promise.all([
      ...Array.from({ length: 40 }, () => rawPost(gw, '/', smallHeaders, small, { timeoutMs: 120_000 })),
      ...Array.from({ length: 8 }, () => rawPost(gw, '/', bigSigned, big, { timeoutMs: 120_000 })),
      ...Array.from({ length: 8 }, () => rawPost(gw, '/', bigUnsigned, big, { timeoutMs: 120_000 })),
      ...Array.from({ length: 20 }, () => rawPost(server.url, '/ingest', { ...ingestSigned, 'content-length': String(ingest.length) }, ingest, { timeoutMs: 120_000 })),
    ]));
    const peak = await rss.stop();
    t.diagnostic(`RSS baseline ${Math.round(baseline)} MiB, peak ${Math.round(peak)} MiB; worst /health ${Math.round(report.worstMs)} ms`);
    const statuses = new Map<string, number>();
    for (const [i, a] of answers.entries()) {
      const where = i < 56 ? 'gateway' : 'edge';
      statuses.set(`${where} ${a.status}`, (statuses.get(`${where} ${a.status}`) ?? 0) + 1);
      assert.ok(a.status !== 0, `every post got an answer (${a.error})`);
      if (a.status === 200) continue;
      if (a.status === 503) assertJsonError(a, 503, 'ServiceUnavailableException');
      else assertJsonError(a, 413, 'RequestEntityTooLargeException');
      if (i >= 48 && i < 56) assert.equal(a.status, 413, 'a 15 MiB body without a signed payload hash is over the small limit');
    }
    const seen = JSON.stringify([...statuses]);
    assert.ok((statuses.get('gateway 200') ?? 0) > 0, `some gateway posts went through: ${seen}`);
    assert.ok((statuses.get('gateway 503') ?? 0) > 0, `the shared budget refused some gateway posts with a retryable 503: ${seen}`);
    // Offered: 40 x 1.9 + 16 x 15 + 20 x 1.9 MiB = 354 MiB; the budget is 32 MiB.
    assert.ok(peak - baseline < 250, `server RSS grew by ${Math.round(peak - baseline)} MiB (baseline ${Math.round(baseline)} MiB, peak ${Math.round(peak)} MiB): ${seen}`);
  });

  test('a gzip bomb stops at the limit (413) for a verified caller, and is never inflated for a caller whose signature failed', async () => {
    const { server, gw } = await start();
    // 300 members of 1 MiB: inflates to 300 MiB, far over gateway.maxBodyBytes (16 MiB).
    const bomb = gzipBomb(MiB, 300);
    const gz = { 'content-encoding': 'gzip' };
    const before = upstream.requests();
    await whileProbing(server, async () => {
      const verified = await rawPost(gw, '/', await gatewayHeaders(gw, alice, bomb, 'signed', gz), bomb, { timeoutMs: 60_000 });
      assertJsonError(verified, 413, 'RequestEntityTooLargeException', /decompressed request body is larger than/);
      const coveredBySignature = await rawPost(gw, '/', await gatewayHeaders(gw, alice, bomb, 'none', gz), bomb, { timeoutMs: 60_000 });
      assertJsonError(coveredBySignature, 413, 'RequestEntityTooLargeException', /decompressed request body is larger than/);
      // The signature is checked before anything is inflated: these are refused for who they are.
      const unknown = await rawPost(gw, '/', await gatewayHeaders(gw, stranger, bomb, 'none', gz), bomb, { timeoutMs: 60_000 });
      assertJsonError(unknown, 403, 'UnrecognizedClientException');
      const wrongSecret = await rawPost(gw, '/', await gatewayHeaders(gw, { ...alice, secretAccessKey: 'wrong' }, bomb, 'none', gz), bomb, { timeoutMs: 60_000 });
      assertJsonError(wrongSecret, 403, 'SignatureDoesNotMatch');
    });
    assert.equal(upstream.requests(), before, 'nothing reached the upstream');
    // A small gzip body from the same caller goes through whole.
    const fine = gzipSync(Buffer.from('{"MaxResults":1}'));
    const ok = await rawPost(gw, '/', await gatewayHeaders(gw, alice, fine, 'signed', gz), fine);
    assert.equal(ok.status, 200, ok.text);
    assertAlive(server);
  });
});
