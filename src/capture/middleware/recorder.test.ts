/**
 * The recorder's batching and retry logic against a scripted ingest endpoint (a real HTTP server
 * in this process whose answers each test chooses). The real OpenTrail server is in
 * test/middleware.e2e.test.ts. No assertion depends on how long anything took.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Recorder, type RecorderError, type RecorderOptions } from './index.js';

interface Received {
  headers: IncomingMessage['headers'];
  records: Record<string, unknown>[];
}

type Answer = (records: Record<string, unknown>[], n: number) => { status: number; body: unknown };

const acceptAll: Answer = (records) => ({ status: 200, body: { results: records.map((r) => ({ status: 'accepted', eventID: r.eventID })) } });

/** A scripted ingest endpoint; `answer` decides each response (n counts requests from 0). */
class FakeIngest {
  received: Received[] = [];
  answer: Answer = acceptAll;
  server: Server | undefined;
  port = 0;
  #waiters: (() => void)[] = [];

  async start(port = 0): Promise<void> {
    const server = createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Resolves once `n` requests have arrived. */
  async requests(n: number): Promise<void> {
    while (this.received.length < n) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const records = Buffer.concat(chunks).toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const n = this.received.length;
    this.received.push({ headers: req.headers, records });
    const { status, body } = this.answer(records, n);
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    for (const w of this.#waiters.splice(0)) w();
  }
}

const HOUR = 3_600_000;
/** A regression that loses track of a record makes flush() wait forever: fail instead. */
const BOUND = { timeout: 30_000 };

function recorderFor(ingest: FakeIngest, errors: RecorderError[], extra: Partial<RecorderOptions> = {}): Recorder {
  return new Recorder({
    endpoint: ingest.url, region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIATESTTESTTESTTEST', secretAccessKey: 'secret' },
    flushIntervalMs: HOUR, retryBaseMs: 5, retryMaxMs: 20,
    onError: (e) => errors.push(e),
    ...extra,
  });
}

const event = (i: number) => ({ eventSource: 'orders.example.com', eventName: 'GetOrder', requestParameters: { orderId: `o-${i}` } });

async function withIngest(fn: (ingest: FakeIngest) => Promise<void>): Promise<void> {
  const ingest = new FakeIngest();
  await ingest.start();
  try {
    await fn(ingest);
  } finally {
    await ingest.stop();
  }
}

test('a full batch is sent at once, signed for opentrail, as NDJSON with client-side eventIDs', BOUND, () => withIngest(async (ingest) => {
  const errors: RecorderError[] = [];
  const r = recorderFor(ingest, errors, { batchSize: 3 });
  for (let i = 0; i < 7; i++) assert.equal(r.record(event(i)), true);
  await ingest.requests(2); // two full batches went without a flush (the timer is an hour)
  assert.deepEqual(ingest.received.map((x) => x.records.length), [3, 3]);
  await r.flush();
  assert.deepEqual(ingest.received.map((x) => x.records.length), [3, 3, 1]);
  const all = ingest.received.flatMap((x) => x.records);
  assert.deepEqual(all.map((x) => (x.requestParameters as { orderId: string }).orderId), ['o-0', 'o-1', 'o-2', 'o-3', 'o-4', 'o-5', 'o-6']);
  assert.equal(new Set(all.map((x) => x.eventID)).size, 7);
  for (const x of all) assert.match(String(x.eventID), /^[0-9a-f-]{36}$/);
  const h = ingest.received[0]!.headers;
  assert.match(String(h.authorization), /^AWS4-HMAC-SHA256 Credential=AKIATESTTESTTESTTEST\/\d{8}\/eu-west-1\/opentrail\/aws4_request, SignedHeaders=[^,]*host[^,]*, Signature=[0-9a-f]{64}$/);
  assert.equal(h['content-type'], 'application/x-ndjson');
  assert.deepEqual(r.stats(), { queued: 0, inFlight: 0, accepted: 7, duplicates: 0, rejected: 0, dropped: 0, retries: 0 });
  assert.deepEqual(errors, []);
}));

test('a partial batch goes out after flushIntervalMs without a flush', BOUND, () => withIngest(async (ingest) => {
  const r = recorderFor(ingest, [], { flushIntervalMs: 10 });
  r.record(event(1));
  await ingest.requests(1);
  assert.equal(ingest.received[0]!.records.length, 1);
}));

test('an eventID given by the caller is kept', BOUND, () => withIngest(async (ingest) => {
  const r = recorderFor(ingest, []);
  r.record({ ...event(1), eventID: 'my-own-id' });
  await r.flush();
  assert.equal(ingest.received[0]!.records[0]!.eventID, 'my-own-id');
}));

test('5xx and 429 are retried with the same eventIDs until accepted', BOUND, () => withIngest(async (ingest) => {
  const errors: RecorderError[] = [];
  ingest.answer = (records, n) => (n === 0 ? { status: 503, body: { message: 'busy' } } : n === 1 ? { status: 429, body: {} } : acceptAll(records, n));
  const r = recorderFor(ingest, errors);
  r.record(event(1));
  r.record(event(2));
  await r.flush();
  assert.equal(ingest.received.length, 3);
  const ids = ingest.received.map((x) => x.records.map((y) => y.eventID).join(','));
  assert.equal(new Set(ids).size, 1, 'every attempt carries the same eventIDs');
  assert.deepEqual(errors.map((e) => [e.code, e.status, e.count]), [['Unavailable', 503, 2], ['Unavailable', 429, 2]]);
  assert.deepEqual(r.stats(), { queued: 0, inFlight: 0, accepted: 2, duplicates: 0, rejected: 0, dropped: 0, retries: 2 });
}));

test('while the endpoint is down, events stay queued and are delivered once it is back', BOUND, async () => {
  const ingest = new FakeIngest();
  await ingest.start();
  const port = ingest.port;
  await ingest.stop();
  const errors: RecorderError[] = [];
  let twoFailures!: () => void;
  const reported = new Promise<void>((resolve) => (twoFailures = resolve));
  const recorder = recorderFor(ingest, [], { onError: (e) => { errors.push(e); if (errors.length === 2) twoFailures(); } });
  recorder.record(event(1));
  recorder.record(event(2));
  let flushed = false;
  const flushing = recorder.flush().then(() => (flushed = true));
  await reported; // two connection failures, both kept for a retry
  assert.equal(flushed, false);
  assert.deepEqual(errors.slice(0, 2).map((e) => [e.code, e.count]), [['Unavailable', 2], ['Unavailable', 2]]);
  assert.match(errors[0]!.message, /cannot reach OpenTrail/);
  assert.equal(recorder.stats().queued + recorder.stats().inFlight, 2);
  assert.equal(recorder.stats().dropped, 0);
  await ingest.start(port);
  try {
    await flushing;
    assert.equal(ingest.received.length, 1);
    assert.deepEqual(ingest.received[0]!.records.map((x) => (x.requestParameters as { orderId: string }).orderId), ['o-1', 'o-2']);
    assert.equal(recorder.stats().accepted, 2);
  } finally {
    await ingest.stop();
  }
});

test('duplicates (a retried batch the server already stored) are counted, not reported as errors', BOUND, () => withIngest(async (ingest) => {
  const errors: RecorderError[] = [];
  ingest.answer = (records) => ({ status: 200, body: { results: records.map((x) => ({ status: 'duplicate', eventID: x.eventID })) } });
  const r = recorderFor(ingest, errors);
  r.record(event(1));
  await r.flush();
  assert.equal(r.stats().duplicates, 1);
  assert.deepEqual(errors, []);
}));

test('records the server refuses are reported with their eventID and reason; the rest count as accepted', BOUND, () => withIngest(async (ingest) => {
  const errors: RecorderError[] = [];
  ingest.answer = (records) => ({
    status: 200,
    body: { results: records.map((x, i) => (i === 1 ? { status: 'rejected', errorCode: 'InvalidRecord', errorMessage: 'missing required field eventName' } : { status: 'accepted', eventID: x.eventID })) },
  });
  const r = recorderFor(ingest, errors);
  r.record(event(0));
  r.record(event(1));
  r.record(event(2));
  await r.flush();
  const sent = ingest.received[0]!.records;
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.code, 'Rejected');
  assert.deepEqual(errors[0]!.rejected, [{ eventID: sent[1]!.eventID, errorCode: 'InvalidRecord', errorMessage: 'missing required field eventName' }]);
  assert.equal(ingest.received.length, 1, 'a record-level refusal is not retried');
  assert.deepEqual({ ...r.stats(), queued: 0 }, { queued: 0, inFlight: 0, accepted: 2, duplicates: 0, rejected: 1, dropped: 0, retries: 0 });
}));

test('a 4xx other than 429 refuses the batch: reported, not retried, flush still resolves', BOUND, () => withIngest(async (ingest) => {
  const errors: RecorderError[] = [];
  ingest.answer = () => ({ status: 403, body: { __type: 'InvalidClientTokenId', message: 'The security token included in the request is invalid.' } });
  const r = recorderFor(ingest, errors);
  r.record(event(1));
  r.record(event(2));
  await r.flush();
  assert.equal(ingest.received.length, 1);
  assert.deepEqual(errors.map((e) => [e.code, e.status, e.count]), [['HttpError', 403, 2]]);
  assert.match(errors[0]!.message, /InvalidClientTokenId/);
  assert.equal(r.stats().rejected, 2);
}));

test('an answer that is not an ingest result is retried (sending again is safe)', BOUND, () => withIngest(async (ingest) => {
  const errors: RecorderError[] = [];
  ingest.answer = (records, n) => (n === 0 ? { status: 200, body: 'oops' } : acceptAll(records, n));
  const r = recorderFor(ingest, errors);
  r.record(event(1));
  await r.flush();
  assert.equal(ingest.received.length, 2);
  assert.equal(r.stats().accepted, 1);
  assert.deepEqual(errors.map((e) => e.code), ['Unavailable']);
}));

test('the queue is bounded: beyond maxQueueSize new events are dropped, counted and reported', BOUND, async () => {
  const ingest = new FakeIngest();
  await ingest.start();
  await ingest.stop(); // nothing listens: every send fails and is retried
  const errors: RecorderError[] = [];
  const r = recorderFor(ingest, errors, { maxQueueSize: 3, retryBaseMs: HOUR, retryMaxMs: HOUR });
  const kept = [1, 2, 3, 4, 5].map((i) => r.record(event(i)));
  assert.deepEqual(kept, [true, true, true, false, false]);
  const full = errors.filter((e) => e.code === 'QueueFull');
  assert.equal(full.length, 1, 'reported once per flushIntervalMs, not per event');
  assert.equal(full[0]!.count, 1);
  assert.equal(r.stats().dropped, 2);
  await r.close({ timeoutMs: 50 });
  const abandoned = errors.filter((e) => e.code === 'Abandoned');
  assert.deepEqual(abandoned.map((e) => e.count), [3]);
  assert.equal(r.stats().dropped, 5);
  assert.equal(r.stats().queued, 0);
});

test('close() drains what is queued; afterwards events are dropped as Closed', BOUND, () => withIngest(async (ingest) => {
  const errors: RecorderError[] = [];
  const r = recorderFor(ingest, errors, { batchSize: 2 });
  for (let i = 0; i < 5; i++) r.record(event(i));
  await r.close();
  assert.equal(ingest.received.flatMap((x) => x.records).length, 5);
  assert.equal(r.stats().accepted, 5);
  assert.equal(r.record(event(9)), false);
  assert.deepEqual(errors.map((e) => e.code), ['Closed']);
  await r.flush(); // nothing left: resolves
}));

test('an event that is not JSON is reported and skipped; the others still go', BOUND, () => withIngest(async (ingest) => {
  const errors: RecorderError[] = [];
  const r = recorderFor(ingest, errors);
  assert.equal(r.record({ ...event(1), requestParameters: { n: 1n } }), false);
  assert.equal(r.record(event(2)), true);
  await r.flush();
  assert.equal(ingest.received.flatMap((x) => x.records).length, 1);
  assert.deepEqual(errors.map((e) => e.code), ['InvalidRecord']);
}));

test('an onError that throws does not break recording', BOUND, () => withIngest(async (ingest) => {
  ingest.answer = (records, n) => (n === 0 ? { status: 500, body: {} } : acceptAll(records, n));
  const r = recorderFor(ingest, [], { onError: () => { throw new Error('boom'); } });
  r.record(event(1));
  await r.flush();
  assert.equal(r.stats().accepted, 1);
}));

test('options are checked when the recorder is made', BOUND, () => {
  const base = { endpoint: 'http://127.0.0.1:1', region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } };
  assert.throws(() => new Recorder({ ...base, endpoint: 'ftp://x' }), /http\(s\) URL/);
  assert.throws(() => new Recorder({ ...base, region: '' }), /region/);
  assert.throws(() => new Recorder({ ...base, batchSize: 0 }), /batchSize/);
  assert.throws(() => new Recorder({ ...base, credentials: undefined as never }), /credentials/);
});

test('an endpoint with a path prefix posts to <prefix>/ingest', BOUND, async () => {
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url!);
    req.resume();
    req.on('end', () => res.writeHead(200).end(JSON.stringify({ results: [{ status: 'accepted' }] })));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const r = new Recorder({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/opentrail/`, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    r.record(event(1));
    await r.flush();
    assert.deepEqual(paths, ['/opentrail/ingest']);
  } finally {
    server.close();
  }
});
