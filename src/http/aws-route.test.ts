/**
 * The route skeleton, driven over HTTP with SigV4-signed requests: a Fastify app of its own whose
 * endpoints are instances of it, over the real group commit and a real SQLite event store (a store
 * that fails is real: its writer connection made read-only, so every write fails with SQLITE_READONLY).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import Fastify, { type FastifyInstance } from 'fastify';
import { ServiceError } from '../aws/errors.ts';
import { JsonText } from '../aws/json-text.ts';
import { BodyBudget } from '../aws/body.ts';
import { randomIds, systemClock, type Identity } from '../core/index.ts';
import { ingest, Ingester } from '../ingest/index.ts';
import { SqliteEventStore } from '../stores/sqlite/sqlite-event-store.ts';
import type { AppendFollow, AppendInput, AppendOutcome, Durability } from '../stores/index.ts';
import { createAwsEdge, parseJsonBody, type AwsEdge, type AwsEdgeDeps, type AwsEndpoint } from './aws-route.ts';
import { signRequest } from '../../test/helpers/signed-fetch.ts';

const ROOT = { type: 'Root' as const, accessKeyId: 'AKIAROUTEAAAAAAAAAAA', secretAccessKey: 'route-secret' };
const identity: Identity = { ...ROOT, accountId: '111111111111', principalId: '111111111111', mfaAuthenticated: false, isTrustedProducer: false };
const JSON_11 = 'application/x-amz-json-1.1';

/** A real store that remembers the durability each append asked for, and whose commits can be held. */
class Recording extends SqliteEventStore {
  readonly asked: Durability[] = [];
  /** While set, every append waits for it before it commits. */
  held: Promise<void> | undefined;
  override async append(batch: readonly AppendInput[], durability?: Durability, follow?: AppendFollow): Promise<AppendOutcome[]> {
    this.asked.push(durability ?? 'disk');
    if (this.held) await this.held;
    return super.append(batch, durability, follow);
  }
  /** Holds every commit from now until the returned function is called. */
  hold(): () => void {
    let release!: () => void;
    this.held = new Promise((r) => (release = r));
    return () => {
      this.held = undefined;
      release();
    };
  }
}

const dir = mkdtempSync(join(tmpdir(), 'opentrail-aws-route-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

interface Stored { eventID: string; eventName: string; requestID: string; readOnly: boolean; errorCode?: string; requestParameters: Record<string, unknown> | null; responseElements: Record<string, unknown> | null; [k: string]: unknown }

async function setup(opts: Pick<AwsEdgeDeps, 'readRecords' | 'readRecordLingerMs'> = {}): Promise<{
  url: string; store: Recording; ingester: Ingester; budget: BodyBudget; applied: string[]; bugs: unknown[]; lines: string[]; lost: unknown[]; edge: AwsEdge; app: FastifyInstance;
  records(): Promise<Stored[]>; refuseWrites(): void; takeWrites(): void; close(): Promise<void>;
}> {
  const store = new Recording({ path: join(dir, `events-${++n}.db`) });
  const db = (store as unknown as { db: DatabaseSync }).db;
  const ingester = new Ingester(store, { maxBatchEvents: 1000 });
  const budget = new BodyBudget(4 * 1024 * 1024);
  const bugs: unknown[] = [];
  const lines: string[] = [];
  const applied: string[] = [];
  const lost: unknown[] = [];
  const edge = createAwsEdge({
    auth: { identities: new Map([[ROOT.accessKeyId, identity]]), regions: new Set(['us-east-1']), nowMs: () => Date.now() },
    ids: randomIds, clock: systemClock, ingester, budget, maxUnverifiedBodyBytes: 1024 * 1024,
    onInternalError: (e) => bugs.push(e), log: (m) => lines.push(m),
    logRecordFailure: (m, err) => {
      lines.push(m);
      lost.push(err);
    },
    // Each read's record handed over alone, at once, unless a test groups them.
    readRecordLingerMs: 0,
    ...opts,
  });
  const app = Fastify();
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));

  // Recorded after the call: GetTrail (a read), AddTags (a change), and calls that fail.
  const api: AwsEndpoint<Record<string, unknown>, object> = {
    contentType: JSON_11, services: ['cloudtrail'], maxBodyBytes: 1024 * 1024,
    open(req) {
      const op = String(req.headers['x-op'] ?? '');
      if (!['GetTrail', 'AddTags', 'GetTrailStatus', 'DescribeTrails', 'RemoveTags'].includes(op)) throw new ServiceError('UnknownOperationException', `Unknown operation ${op}`, 400);
      return {
        mutating: op === 'AddTags' || op === 'RemoveTags',
        decode: (body) => parseJsonBody(body),
        call: async (_ctx, input) => {
          if (op === 'GetTrail') return { Name: input.Name };
          if (op === 'GetTrailStatus') return new JsonText('{"IsLogging" : true}');
          if (op === 'AddTags') {
            applied.push(String(input.Name).slice(0, 10));
            return {};
          }
          if (op === 'RemoveTags') throw new ServiceError('TrailNotFoundException', 'Unknown trail', 400);
          throw new Error('a bug');
        },
        record: (input) => ({ eventSource: 'cloudtrail.amazonaws.com', eventName: op, requestParameters: input ?? {}, category: 'Management' }),
      };
    },
  };
  app.post('/', edge.route(api));

  // Stores records and its own record together.
  const data: AwsEndpoint<Record<string, unknown>, object> = {
    contentType: 'application/json', services: ['cloudtrail'], maxBodyBytes: 1024 * 1024, recordWithData: true,
    open: () => ({
      decode: (body) => parseJsonBody(body),
      call: async (ctx, input, own) => {
        if (input.fail) throw new ServiceError('ValidationException', 'asked to fail', 400);
        const recs = (input.ids as string[]).map((eventID) => ({ eventVersion: '1.09', eventTime: '2026-01-01T00:00:00Z', eventSource: 's3.amazonaws.com', eventName: 'GetObject', eventID, eventCategory: 'Data', managementEvent: false }));
        const results = await ingest(ingester, recs, { defaultAccountId: ctx.accountId, defaultRegion: ctx.region, nowMs: ctx.nowMs, ids: randomIds }, { follow: (r) => own({ stored: r.length }) });
        return { stored: results.length };
      },
      record: (input) => ({ eventSource: 'cloudtrail.amazonaws.com', eventName: 'IngestEvents', requestParameters: { count: (input?.ids as unknown[] | undefined)?.length }, category: 'Data' }),
    }),
  };
  app.post('/data', edge.route(data));

  // No body, not recorded.
  const tail: AwsEndpoint<undefined, JsonText> = {
    contentType: 'application/json', services: ['cloudtrail'], maxBodyBytes: 0,
    open: () => ({ decode: () => undefined, call: async (ctx) => new JsonText(`{"account":"${ctx.accountId}"}`), record: () => undefined }),
  };
  app.get('/tail', edge.route(tail));

  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url, store, ingester, budget, applied, bugs, lines, lost, edge, app,
    records: async () => {
      await ingester.drain();
      return (await store.readAfter(0, 1000)).map((r) => JSON.parse(r.json) as Stored);
    },
    refuseWrites: () => db.exec('PRAGMA query_only = 1'),
    takeWrites: () => db.exec('PRAGMA query_only = 0'),
    close: async () => {
      await app.close();
      await edge.close();
      await store.close();
    },
  };
}

async function call(url: string, path: string, op: string | undefined, body: unknown, opts: { id?: typeof ROOT; method?: string } = {}): Promise<{ status: number; headers: Headers; text: string; json: Record<string, unknown> }> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> = { 'content-type': path === '/' ? JSON_11 : 'application/json' };
  if (op) headers['x-op'] = op;
  const signed = await signRequest(`${url}${path}`, opts.id ?? ROOT, { method: opts.method, body: text, headers, service: 'cloudtrail' });
  const res = await fetch(`${url}${path}`, { method: signed.method, headers: signed.headers, body: text });
  const answer = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(answer) as Record<string, unknown>;
  } catch { /* not JSON: text says */ }
  return { status: res.status, headers: res.headers, text: answer, json };
}

/** The promise's value, or a failure with `message` when it takes longer than `ms`. */
async function within<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether the promise settles within `ms` (it is not cancelled). */
async function answeredWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const done = await Promise.race([p.then(() => true, () => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))]);
  clearTimeout(timer);
  return done;
}

/** An AWS-shaped error answer. */
function isError(r: Awaited<ReturnType<typeof call>>, status: number, code: string, contentType: string): void {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json.__type, code);
  assert.equal(typeof r.json.message, 'string');
  assert.equal(r.headers.get('x-amzn-errortype'), code);
  assert.equal(r.headers.get('content-type'), contentType);
  assert.match(r.headers.get('x-amzn-requestid') ?? '', /^[0-9a-f-]{36}$/);
}

describe('the AWS route skeleton', () => {
  test('a read: the answer encoded with the endpoint\'s content type and request id; its record handed to the store before the answer, at process durability', async () => {
    const h = await setup();
    try {
      const r = await call(h.url, '/', 'GetTrail', { Name: 't1' });
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { Name: 't1' });
      assert.equal(r.headers.get('content-type'), JSON_11);
      const requestId = r.headers.get('x-amzn-requestid');
      const recs = await h.records();
      assert.equal(recs.length, 1, 'stored');
      assert.equal(recs[0]!.eventName, 'GetTrail');
      assert.equal(recs[0]!.requestID, requestId);
      assert.equal(recs[0]!.readOnly, true);
      assert.deepEqual(recs[0]!.requestParameters, { name: 't1' });
      assert.equal(recs[0]!.responseElements, null);
      assert.deepEqual(h.store.asked, ['process']);
      assert.equal(h.budget.inFlight, 0, 'the lease is given back');
    } finally {
      await h.close();
    }
  });

  test('a change is recorded at disk durability; an answer written as JSON text is sent as it is', async () => {
    const h = await setup();
    try {
      assert.equal((await call(h.url, '/', 'AddTags', { Name: 'x' })).status, 200);
      assert.deepEqual(h.applied, ['x']);
      assert.deepEqual(h.store.asked, ['disk']);
      const text = await call(h.url, '/', 'GetTrailStatus', {});
      assert.equal(text.text, '{"IsLogging" : true}', 'not re-encoded');
    } finally {
      await h.close();
    }
  });

  test('refused before the body is read (unknown operation, bad signature): the error envelope, nothing recorded, the lease given back', async () => {
    const h = await setup();
    try {
      isError(await call(h.url, '/', 'Nope', {}), 400, 'UnknownOperationException', JSON_11);
      isError(await call(h.url, '/', 'GetTrail', {}, { id: { ...ROOT, secretAccessKey: 'wrong' } }), 403, 'SignatureDoesNotMatch', JSON_11);
      isError(await call(h.url, '/data', undefined, { ids: [] }, { id: { ...ROOT, accessKeyId: 'AKIAUNKNOWNAAAAAAAAA' } }), 403, 'UnrecognizedClientException', 'application/json');
      assert.deepEqual(await h.records(), []);
      assert.equal(h.budget.inFlight, 0);
    } finally {
      await h.close();
    }
  });

  test('a failed call answers its error and is recorded with it; a body that does not decode too; a bug answers InternalFailure and is reported', async () => {
    const h = await setup();
    try {
      isError(await call(h.url, '/', 'RemoveTags', { Name: 'gone' }), 400, 'TrailNotFoundException', JSON_11);
      const bad = await signRequest(`${h.url}/`, ROOT, { body: '{not json', headers: { 'content-type': JSON_11, 'x-op': 'GetTrail' }, service: 'cloudtrail' });
      const res = await fetch(`${h.url}/`, { method: 'POST', headers: bad.headers, body: '{not json' });
      assert.equal(res.status, 400);
      assert.equal(((await res.json()) as { __type: string }).__type, 'SerializationException');
      isError(await call(h.url, '/', 'DescribeTrails', {}), 500, 'InternalFailure', JSON_11);
      assert.equal(h.bugs.length, 1);
      const recs = await h.records();
      assert.deepEqual(recs.map((r) => [r.eventName, r.errorCode]), [['RemoveTags', 'TrailNotFoundException'], ['GetTrail', 'SerializationException'], ['DescribeTrails', 'InternalFailure']]);
      assert.deepEqual(recs[0]!.requestParameters, { name: 'gone' });
      assert.equal(recs[1]!.requestParameters, null, 'nothing decoded');
    } finally {
      await h.close();
    }
  });

  test('the event store fails after a change: answered as applied, its record waits in the backlog; the next change is refused (503) before it is applied; both recover', async () => {
    const h = await setup();
    try {
      await call(h.url, '/', 'GetTrail', { Name: 'warm' });
      h.refuseWrites();
      const applied = await call(h.url, '/', 'AddTags', { Name: 'first' });
      assert.equal(applied.status, 200, 'never an error after the change was applied');
      assert.deepEqual(h.applied, ['first']);
      assert.ok(h.lines.some((l) => /answered as applied/.test(l)));
      assert.ok(h.lines.some((l) => /waits in memory/.test(l)));
      isError(await call(h.url, '/', 'AddTags', { Name: 'second' }), 503, 'ServiceUnavailableException', JSON_11);
      assert.deepEqual(h.applied, ['first'], 'the refused change was not applied');
      isError(await call(h.url, '/', 'GetTrail', { Name: 'read' }), 503, 'ServiceUnavailableException', JSON_11);
      h.takeWrites();
      assert.equal((await call(h.url, '/', 'AddTags', { Name: 'third' })).status, 200);
      const names = (await h.records()).map((r) => `${r.eventName}:${(r.requestParameters as { name?: string } | null)?.name ?? ''}:${r.errorCode ?? ''}`);
      assert.deepEqual(names, ['GetTrail:warm:', 'AddTags:first:', 'AddTags:third:'], 'the waiting record went first, then the next change\'s; the refused calls stored nothing');
    } finally {
      await h.close();
    }
  });

  test('a read is answered while its record\'s commit is held (selfAudit.readRecords after-answer); its record follows, in call order; a write still waits for its own', async () => {
    const h = await setup();
    try {
      const release = h.store.hold();
      const first = await within(call(h.url, '/', 'GetTrail', { Name: 'one' }), 5000, 'the read\'s answer waited for its record\'s commit');
      assert.equal(first.status, 200);
      assert.deepEqual(await h.store.readAfter(0, 10), [], 'answered before its record was committed');
      const second = await within(call(h.url, '/', 'GetTrail', { Name: 'two' }), 5000, 'the second read\'s answer waited');
      assert.equal(second.status, 200);
      const write = call(h.url, '/', 'AddTags', { Name: 'w' });
      assert.equal(await answeredWithin(write, 300), false, 'a write\'s answer waits for its record');
      release();
      assert.equal((await write).status, 200);
      const names = (await h.records()).map((r) => `${r.eventName}:${(r.requestParameters as { name?: string }).name}`);
      assert.deepEqual(names, ['GetTrail:one', 'GetTrail:two', 'AddTags:w'], 'in the order of the calls');
      assert.deepEqual(h.lost, []);
    } finally {
      await h.close();
    }
  });

  test('reads\' records (after-answer) are appended in groups: one append for the reads of the linger, a change\'s record after the reads held before it, what is held at close appended', async () => {
    const h = await setup({ readRecordLingerMs: 60_000 });
    try {
      for (const name of ['r1', 'r2', 'r3']) assert.equal((await call(h.url, '/', 'GetTrail', { Name: name })).status, 200);
      await h.ingester.drain();
      assert.deepEqual(h.store.asked, [], 'three answered reads, no append yet: their records wait for the group');
      assert.equal((await call(h.url, '/', 'AddTags', { Name: 'w' })).status, 200);
      assert.deepEqual(h.store.asked, ['disk'], 'the held reads handed over first, then the change\'s record: one group commit took both');
      assert.equal((await call(h.url, '/', 'GetTrail', { Name: 'r4' })).status, 200);
      await h.app.close();
      await h.edge.close();
      assert.deepEqual(h.store.asked, ['disk', 'process'], 'the read held at close appended by close()');
      const names = (await h.records()).map((r) => `${r.eventName}:${(r.requestParameters as { name?: string }).name}`);
      assert.deepEqual(names, ['GetTrail:r1', 'GetTrail:r2', 'GetTrail:r3', 'AddTags:w', 'GetTrail:r4'], 'in the order of the calls');
      assert.deepEqual(h.lost, []);
    } finally {
      await h.close();
    }
  });

  test('reads\' records (after-answer) with a short linger: appended together once it passes', async () => {
    const h = await setup({ readRecordLingerMs: 40 });
    try {
      await Promise.all(['a', 'b', 'c', 'd'].map(async (name) => assert.equal((await call(h.url, '/', 'GetTrail', { Name: name })).status, 200)));
      const deadline = Date.now() + 5000;
      while (h.store.asked.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(h.store.asked, ['process'], 'four reads, one append');
      assert.deepEqual((await h.records()).map((r) => (r.requestParameters as { name?: string }).name).sort(), ['a', 'b', 'c', 'd']);
    } finally {
      await h.close();
    }
  });

  test('selfAudit.readRecords before-answer: a read\'s answer waits for its record\'s commit', async () => {
    const h = await setup({ readRecords: 'before-answer' });
    try {
      const release = h.store.hold();
      const read = call(h.url, '/', 'GetTrail', { Name: 'r' });
      assert.equal(await answeredWithin(read, 300), false, 'answered before its record was committed');
      release();
      assert.equal((await read).status, 200);
      assert.equal((await h.records()).length, 1);
    } finally {
      await h.close();
    }
  });

  test('a read\'s record that fails after its answer is logged (whole) and reported, never an unhandled rejection; reads then wait for their record while the store fails', async () => {
    const h = await setup();
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      h.refuseWrites();
      const r = await call(h.url, '/', 'GetTrail', { Name: 'lost' });
      assert.equal(r.status, 200, 'answered before the store failed to take its record');
      await h.ingester.drain();
      await new Promise((res) => setImmediate(res));
      assert.equal(h.lost.length, 1, 'the failure is reported once');
      assert.ok(h.lines.some((l) => l.includes('not stored after its answer') && l.includes('"eventName":"GetTrail"') && l.includes(r.headers.get('x-amzn-requestid')!)), h.lines.join('\n'));
      isError(await call(h.url, '/', 'GetTrail', { Name: 'refused' }), 503, 'ServiceUnavailableException', JSON_11);
      h.takeWrites();
      assert.equal((await call(h.url, '/', 'AddTags', { Name: 'back' })).status, 200);
      assert.equal((await call(h.url, '/', 'GetTrail', { Name: 'after' })).status, 200);
      const names = (await h.records()).map((r) => (r.requestParameters as { name?: string }).name);
      assert.deepEqual(names, ['back', 'after']);
      assert.equal(h.lost.length, 1);
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await h.close();
    }
  });

  test('recordWithData: a success\'s own record is stored by the call with its data, once; a failure is recorded after', async () => {
    const h = await setup();
    try {
      const ok = await call(h.url, '/data', undefined, { ids: ['d1', 'd2'] });
      assert.equal(ok.status, 200);
      assert.deepEqual(ok.json, { stored: 2 });
      assert.equal(ok.headers.get('content-type'), 'application/json');
      assert.equal(h.store.asked.length, 1, 'one transaction');
      let recs = await h.records();
      assert.deepEqual(recs.map((r) => r.eventID === 'd1' || r.eventID === 'd2' ? r.eventID : r.eventName), ['d1', 'd2', 'IngestEvents']);
      assert.deepEqual(recs[2]!.responseElements, { stored: 2 });
      assert.equal(recs[2]!.requestID, ok.headers.get('x-amzn-requestid'));
      isError(await call(h.url, '/data', undefined, { fail: true }), 400, 'ValidationException', 'application/json');
      recs = await h.records();
      assert.equal(recs.length, 4);
      assert.equal(recs[3]!.errorCode, 'ValidationException');
    } finally {
      await h.close();
    }
  });

  test('a route without a body authenticates the headers; a call that is not recorded leaves no record', async () => {
    const h = await setup();
    try {
      const r = await call(h.url, '/tail', undefined, undefined, { method: 'GET' });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, { account: '111111111111' });
      isError(await call(h.url, '/tail', undefined, undefined, { method: 'GET', id: { ...ROOT, secretAccessKey: 'wrong' } }), 403, 'SignatureDoesNotMatch', 'application/json');
      assert.deepEqual(await h.records(), []);
    } finally {
      await h.close();
    }
  });
});
