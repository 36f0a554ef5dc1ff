/**
 * Hostile input at the HTTP edge (issue 10, items 1, 4 and 6), against the real server:
 * - bodies that inflate or split into too much (gzip bombs, millions of tiny lines) are refused
 *   while /health and another account's LookupEvents keep answering, and a large real batch is
 *   stored without stalling anyone;
 * - SigV4 as strict as AWS: X-Amz-Target and Content-Type signed for the CloudTrail API, the
 *   payload signed (no UNSIGNED-PAYLOAD outside S3), nothing of a body read before the headers
 *   verified, and memory bounded under many concurrent large posts;
 * - GET /events answers are capped by bytes and page on with their cursor.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { CreateChannelCommand, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, ACCOUNT_B, cloudTrailClient, startServer, type StartedServer, type TestConfig, type TestIdentity } from '../helpers/server.ts';
import { channelStore } from '../helpers/lake.ts';
import { signRequest, signedFetch } from '../helpers/signed-fetch.ts';
import { assertAlive, whileProbing } from './liveness.ts';
import { rawPost, rssMiB, samplePeakRss } from './raw-http.ts';

const alice = ACCOUNT_A.identities[1]!; // trusted producer
const carol = ACCOUNT_B.identities[0]!;
const stranger: TestIdentity = { type: 'IAMUser', userName: 'nobody', accessKeyId: 'AKIANOBODYXXXXXXXXXX', secretAccessKey: 'nope' };
const JSON_11 = 'application/x-amz-json-1.1';
const TARGET = 'com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** An AWS-shaped error: JSON {__type, message} and x-amzn-errortype naming the same exception. */
function assertAwsError(a: Answer, status: number, type: string | RegExp, message?: RegExp): void {
  assert.equal(a.status, status, a.text.slice(0, 300));
  const doc = JSON.parse(a.text) as { __type?: string; message?: string };
  if (typeof type === 'string') assert.equal(doc.__type, type, a.text.slice(0, 300));
  else assert.match(doc.__type ?? '', type);
  assert.equal(a.headers['x-amzn-errortype'], doc.__type);
  assert.equal(typeof doc.message, 'string');
  if (message) assert.match(doc.message!, message);
}

async function answerOf(res: Response): Promise<Answer> {
  return { status: res.status, headers: Object.fromEntries(res.headers), text: await res.text() };
}


/** Signed headers for a raw POST of `body` to /ingest (or another path) as `id`. */
async function signedHeaders(url: string, path: string, id: TestIdentity, body: Buffer, extra: Record<string, string> = {}, payloadHash: 'signed' | 'none' | string = 'signed', service = 'opentrail'): Promise<Record<string, string>> {
  const { headers } = await signRequest(`${url}${path}`, id, { body, headers: extra, payloadHash, service });
  return { ...headers, 'content-length': String(body.length) };
}

/** A multi-member gzip: `member` (gzip of `unit`) repeated, inflating to unit × times bytes. */
function gzipBomb(unit: string, unitBytes: number, times: number): Buffer {
  const member = gzipSync(Buffer.from(unit.repeat(Math.ceil(unitBytes / unit.length)).slice(0, unitBytes)), { level: 9 });
  return Buffer.concat(Array.from({ length: times }, () => member));
}


/** Another account's real work during a hostile request: LookupEvents must keep succeeding. */
async function neighbourLookups(url: string, stop: () => boolean): Promise<number> {
  const ct = cloudTrailClient(url, carol);
  let n = 0;
  while (!stop()) {
    const out = await ct.send(new LookupEventsCommand({ MaxResults: 5 }));
    assert.ok(Array.isArray(out.Events));
    n++;
    await new Promise((r) => setTimeout(r, 50));
  }
  return n;
}

/** Runs `hostile` while probing /health and while account B keeps calling LookupEvents. */
async function hostileWithNeighbour<T>(server: StartedServer, hostile: () => Promise<T>, t?: { diagnostic(msg: string): void }): Promise<T> {
  let stop = false;
  const neighbour = neighbourLookups(server.url, () => stop);
  try {
    const { result, report } = await whileProbing(server, async () => {
      try {
        return await hostile();
      } finally {
        stop = true;
      }
    });
    const calls = await neighbour;
    t?.diagnostic(`worst /health ${Math.round(report.worstMs)} ms over ${report.probes} probes; account B made ${calls} LookupEvents calls`);
    assert.ok(calls > 0, 'account B called LookupEvents during the hostile request');
    return result;
  } finally {
    stop = true;
    await neighbour.catch(() => undefined);
  }
}

let server: StartedServer;
const servers: StartedServer[] = [];

async function start(config: TestConfig): Promise<StartedServer> {
  const s = await startServer(config);
  servers.push(s);
  return s;
}

before(async () => {
  server = await start({ accounts: [ACCOUNT_A, ACCOUNT_B] });
});

after(async () => {
  for (const s of servers) {
    await s.stop();
    rmSync(s.dataDir, { recursive: true, force: true });
    rmSync(s.configFile, { force: true });
  }
});

describe('item 1: no request kills or stalls the process', () => {
  test('a gzip body inflating to 150 MiB of tiny NDJSON lines is refused 413 while it is parsed; others keep answering', async (t) => {
    const bomb = gzipBomb('{}\n', 1024 * 1024, 150);
    const headers = await signedHeaders(server.url, '/ingest', alice, bomb, { 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' });
    const a = await hostileWithNeighbour(server, () => rawPost(server.url, '/ingest', headers, bomb, { timeoutMs: 120_000 }), t);
    assertAwsError(a, 413, 'RequestEntityTooLargeException', /records/);
  });

  test('a gzip body inflating past ingest.maxDecodedBytes (300 MiB of zeros) is refused 413 without inflating the rest', async (t) => {
    const bomb = gzipBomb('0', 1024 * 1024, 300);
    const headers = await signedHeaders(server.url, '/ingest', alice, bomb, { 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' });
    const a = await hostileWithNeighbour(server, () => rawPost(server.url, '/ingest', headers, bomb, { timeoutMs: 120_000 }), t);
    assertAwsError(a, 413, 'RequestEntityTooLargeException', /inflates to more than/);
  });

  test('a body of 8 million tiny NDJSON lines is refused 413 at the record cap; others keep answering', async (t) => {
    const body = Buffer.from('1\n'.repeat(8_000_000));
    const headers = await signedHeaders(server.url, '/ingest', alice, body, { 'content-type': 'application/x-ndjson' });
    const a = await hostileWithNeighbour(server, () => rawPost(server.url, '/ingest', headers, body, { timeoutMs: 120_000 }), t);
    assertAwsError(a, 413, 'RequestEntityTooLargeException', /more than 5000 records/);
  });

  test('a large real batch (5,000 records in one log file, the default cap) is stored while /health and another account keep answering', async (t) => {
    const records = Array.from({ length: 5000 }, (_, i) => ({
      eventSource: 'orders.example.com', eventName: 'CreateOrder', eventID: `big-batch-${i}`,
      userIdentity: { type: 'IAMUser', userName: 'alice', arn: 'arn:aws:iam::111111111111:user/alice', accountId: '111111111111' },
      requestParameters: { orderId: `o-${i}`, items: Array.from({ length: 12 }, (_, j) => ({ sku: `sku-${j}`, qty: j, price: { amount: j * 3.5, currency: 'EUR' } })) },
      responseElements: { order: { id: `o-${i}`, state: 'CREATED', lines: Array.from({ length: 8 }, (_, j) => ({ line: j, ok: true })) } },
      resources: [{ ARN: `arn:aws:orders:us-east-1:111111111111:order/o-${i}`, type: 'AWS::Orders::Order' }],
    }));
    const body = Buffer.from(JSON.stringify({ Records: records }));
    const headers = await signedHeaders(server.url, '/ingest', alice, body, { 'content-type': 'application/json' });
    const a = await hostileWithNeighbour(server, () => rawPost(server.url, '/ingest', headers, body, { timeoutMs: 120_000 }), t);
    assert.equal(a.status, 200, a.text.slice(0, 300));
    assertAlive(server);
    const out = JSON.parse(a.text) as { accepted: number; rejected: number; results: unknown[] };
    assert.equal(out.accepted, 5000);
    assert.equal(out.results.length, 5000);
  });

  test('ingest.maxRecordsPerRequest is enforced while parsing: one record over the cap refuses the whole body (413) and stores nothing', async () => {
    const s = await start({ accounts: [ACCOUNT_A, ACCOUNT_B], ingest: { maxRecordsPerRequest: 100 } });
    const lines = (n: number, tag: string) => Array.from({ length: n }, (_, i) => JSON.stringify({ eventSource: 'cap.example.com', eventName: 'Put', eventID: `${tag}-${i}` })).join('\n');
    const over = await answerOf(await signedFetch(`${s.url}/ingest`, alice, { body: lines(101, 'over'), headers: { 'content-type': 'application/x-ndjson' } }));
    assertAwsError(over, 413, 'RequestEntityTooLargeException', /more than 100 records/);
    const at = await answerOf(await signedFetch(`${s.url}/ingest`, alice, { body: lines(100, 'at'), headers: { 'content-type': 'application/x-ndjson' } }));
    assert.equal(at.status, 200, at.text);
    const tail = JSON.parse((await answerOf(await signedFetch(`${s.url}/events?limit=10000`, alice))).text) as { events: { record: { eventID: string } }[] };
    const ids = tail.events.map((e) => e.record.eventID).filter((id) => /^(over|at)-/.test(id));
    assert.equal(ids.filter((id) => id.startsWith('over-')).length, 0, 'nothing of the refused body was stored');
    assert.equal(ids.filter((id) => id.startsWith('at-')).length, 100);
  });
});

describe('item 4: SigV4 as strict as AWS', () => {
  const lookupBody = Buffer.from('{}');

  test('CloudTrail API: X-Amz-Target or Content-Type left out of SignedHeaders is refused 403', async () => {
    for (const unsigned of [['x-amz-target'], ['content-type'], ['x-amz-target', 'content-type']]) {
      const res = await signedFetch(`${server.url}/`, alice, {
        body: lookupBody, service: 'cloudtrail', payloadHash: 'none', unsignedHeaders: unsigned,
        headers: { 'content-type': JSON_11, 'x-amz-target': `${TARGET}LookupEvents` },
      });
      assertAwsError(await answerOf(res), 403, 'SignatureDoesNotMatch', /not signed/);
    }
    // Both signed: the same call is answered.
    const ok = await signedFetch(`${server.url}/`, alice, { body: lookupBody, service: 'cloudtrail', payloadHash: 'none', headers: { 'content-type': JSON_11, 'x-amz-target': `${TARGET}LookupEvents` } });
    assert.equal(ok.status, 200, await ok.text());
  });

  test('UNSIGNED-PAYLOAD (or any non-hash x-amz-content-sha256) is refused on every endpoint; only S3 through the gateway accepts it', async () => {
    const ndjson = Buffer.from(JSON.stringify({ eventSource: 'u.example.com', eventName: 'Unsigned', eventID: 'unsigned-payload' }));
    for (const hash of ['UNSIGNED-PAYLOAD', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD']) {
      const ing = await signedFetch(`${server.url}/ingest`, alice, { body: ndjson, payloadHash: hash, headers: { 'content-type': 'application/x-ndjson' } });
      assertAwsError(await answerOf(ing), 400, 'XAmzContentSHA256Mismatch', /payload must be signed/);
      const api = await signedFetch(`${server.url}/`, alice, { body: lookupBody, service: 'cloudtrail', payloadHash: hash, headers: { 'content-type': JSON_11, 'x-amz-target': `${TARGET}LookupEvents` } });
      assertAwsError(await answerOf(api), 400, 'XAmzContentSHA256Mismatch');
    }
    const tail = JSON.parse((await answerOf(await signedFetch(`${server.url}/events?limit=10000`, alice))).text) as { events: { record: { eventID: string } }[] };
    assert.ok(!tail.events.some((e) => e.record.eventID === 'unsigned-payload'), 'nothing was stored');
  });

  test('a wrong signed payload hash is XAmzContentSHA256Mismatch and stores nothing', async () => {
    const body = Buffer.from(JSON.stringify({ eventSource: 'w.example.com', eventName: 'Wrong', eventID: 'wrong-hash' }));
    const wrong = createHash('sha256').update('something else').digest('hex');
    const res = await signedFetch(`${server.url}/ingest`, alice, { body, payloadHash: wrong, headers: { 'content-type': 'application/x-ndjson' } });
    assertAwsError(await answerOf(res), 400, 'XAmzContentSHA256Mismatch');
  });

  test('nothing of a body is read before the headers verify: unknown key, wrong signature over a signed hash, and an unverified payload over the small limit are answered before the body is sent', async () => {
    const body = Buffer.alloc(30 * 1024 * 1024, 0x20);
    const cases: [string, string, Record<string, string>, number, string][] = [
      ['unknown access key', '/ingest', await signedHeaders(server.url, '/ingest', stranger, body), 403, 'UnrecognizedClientException'],
      ['signed hex hash, wrong secret', '/ingest', await signedHeaders(server.url, '/ingest', { ...alice, secretAccessKey: 'wrong' }, body), 403, 'SignatureDoesNotMatch'],
      ['expired date', '/ingest', { ...(await signRequest(`${server.url}/ingest`, alice, { body, signingDateMs: Date.now() - 3_600_000 })).headers, 'content-length': String(body.length) }, 400, 'RequestExpired'],
      ['unsigned payload hash over the small limit', '/ingest', await signedHeaders(server.url, '/ingest', alice, body, {}, 'none'), 413, 'RequestEntityTooLargeException'],
      ['CloudTrail API body over its limit', '/', await signedHeaders(server.url, '/', alice, body, { 'content-type': JSON_11, 'x-amz-target': `${TARGET}LookupEvents` }, 'signed', 'cloudtrail'), 413, 'RequestEntityTooLargeException'],
    ];
    for (const [what, path, headers, status, type] of cases) {
      // Only 1 MiB of the 30 MiB is ever sent: the answer must come without the rest.
      const a = await rawPost(server.url, path, headers, body, { sendBytes: 1024 * 1024, timeoutMs: 10_000 });
      assert.equal(a.error, undefined, `${what}: ${a.error}`);
      assertAwsError(a, status, type);
      assert.equal(a.headers.connection, 'close', `${what}: the unread body's connection is closed`);
    }
    assertAlive(server);
  });

  test('memory stays bounded under many concurrent large posts: in-flight body bytes are budgeted (503 beyond), oversize unverified bodies cut off', async (t) => {
    const s = await start({ accounts: [ACCOUNT_A, ACCOUNT_B], ingest: { maxInFlightBodyBytes: 32 * 1024 * 1024 } });
    const pid = s.process.pid!;
    const baseline = rssMiB(pid);
    // 1.9 MiB bodies signed without a payload hash (so only the small limit applies), all at once,
    // plus 40 MiB bodies with an unknown key and with an unsigned hash that must never be buffered.
    // Records missing eventSource/eventName: parsed and rejected, so nothing piles up in the store.
    const small = Buffer.from(`${JSON.stringify({ note: 'y'.repeat(1000) })}\n`.repeat(1900));
    const smallHeaders = await signedHeaders(s.url, '/ingest', alice, small, { 'content-type': 'application/x-ndjson' }, 'none');
    const big = Buffer.alloc(40 * 1024 * 1024, 0x20);
    const bigUnknown = await signedHeaders(s.url, '/ingest', stranger, big, {}, 'none');
    const bigUnsigned = await signedHeaders(s.url, '/ingest', alice, big, {}, 'none');
    const rss = samplePeakRss(pid, baseline);
    const answers = await whileProbing(s, () => Promise.all([
      ...Array.from({ length: 60 }, () => rawPost(s.url, '/ingest', smallHeaders, small, { timeoutMs: 120_000 })),
      ...Array.from({ length: 6 }, (_, i) => rawPost(s.url, '/ingest', i % 2 ? bigUnknown : bigUnsigned, big, { timeoutMs: 120_000 })),
    ]));
    const peak = await rss.stop();
    t.diagnostic(`RSS baseline ${Math.round(baseline)} MiB, peak ${Math.round(peak)} MiB; worst /health ${Math.round(answers.report.worstMs)} ms`);
    const statuses = new Map<number, number>();
    for (const a of answers.result) {
      statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
      if (a.status === 200) continue;
      assert.ok(a.status !== 0, `every post got an answer (${a.error})`);
      assertAwsError(a, a.status, a.status === 503 ? 'ServiceUnavailableException' : a.status === 413 ? 'RequestEntityTooLargeException' : 'UnrecognizedClientException');
    }
    assert.ok((statuses.get(200) ?? 0) > 0, `some posts were accepted: ${JSON.stringify([...statuses])}`);
    assert.ok((statuses.get(503) ?? 0) > 0, `the budget refused some posts with a retryable 503: ${JSON.stringify([...statuses])}`);
    // 60 x 1.9 MiB + 6 x 40 MiB = 354 MiB offered; the budget is 32 MiB.
    assert.ok(peak - baseline < 250, `server RSS grew by ${Math.round(peak - baseline)} MiB (baseline ${Math.round(baseline)} MiB, peak ${Math.round(peak)} MiB)`);
  });
});

describe('item 6: bounded answers', () => {
  test('GET /events caps a page by ingest.maxEventsPageBytes, always returns one record, and pages on with next', async () => {
    const s = await start({ accounts: [ACCOUNT_A, ACCOUNT_B], ingest: { maxEventsPageBytes: 1024 * 1024 } });
    const big = (i: number) => JSON.stringify({ eventSource: 'big.example.com', eventName: 'Big', eventID: `big-${i}`, requestParameters: { pad: 'z'.repeat(200 * 1024) } });
    const body = Array.from({ length: 30 }, (_, i) => big(i)).join('\n');
    const put = await answerOf(await signedFetch(`${s.url}/ingest`, alice, { body, headers: { 'content-type': 'application/x-ndjson' } }));
    assert.equal(put.status, 200, put.text.slice(0, 300));
    assert.equal((JSON.parse(put.text) as { accepted: number }).accepted, 30);
    const seen: string[] = [];
    let after = 0;
    let pages = 0;
    for (;;) {
      const page = await answerOf(await signedFetch(`${s.url}/events?after=${after}&limit=10000`, alice));
      assert.equal(page.status, 200, page.text.slice(0, 300));
      const doc = JSON.parse(page.text) as { events: { seq: number; record: { eventID: string } }[]; next: number };
      if (doc.events.length === 0) break;
      pages++;
      assert.ok(Buffer.byteLength(page.text) <= 1024 * 1024 + 64 * 1024, `a page is ${Buffer.byteLength(page.text)} bytes`);
      seen.push(...doc.events.map((e) => e.record.eventID));
      after = doc.next;
    }
    assert.ok(pages >= 6, `30 records of 200 KB take several 1 MiB pages, not ${pages}`);
    const bigIds = seen.filter((id) => id.startsWith('big-'));
    assert.deepEqual(bigIds, Array.from({ length: 30 }, (_, i) => `big-${i}`), 'every record exactly once, in order');
  });

  test('LookupEvents: a full page of 50 of the largest records the ingest path accepts is answered (confirmation; 50 is its page cap)', async () => {
    const s = await start({ accounts: [ACCOUNT_A, ACCOUNT_B] });
    const recs = Array.from({ length: 50 }, (_, i) => JSON.stringify({
      eventSource: 'iam.amazonaws.com', eventName: 'GetUser', eventID: `max-${i}`, readOnly: true,
      userIdentity: { type: 'IAMUser', userName: 'alice' }, requestParameters: { pad: '"\\'.repeat(62 * 1024) },
    }));
    const put = await answerOf(await signedFetch(`${s.url}/ingest`, alice, { body: recs.join('\n'), headers: { 'content-type': 'application/x-ndjson' } }));
    assert.equal(put.status, 200, put.text.slice(0, 300));
    assert.equal((JSON.parse(put.text) as { accepted: number }).accepted, 50, put.text.slice(0, 500));
    const ct = cloudTrailClient(s.url, alice);
    const out = await ct.send(new LookupEventsCommand({ MaxResults: 50, LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'GetUser' }] }));
    assert.equal(out.Events?.length, 50);
    await ct.send(new CreateChannelCommand({ Name: 'still-works', Source: 'Custom', Destinations: [{ Type: 'EVENT_DATA_STORE', Location: await channelStore(ct) }] }));
  });
});
