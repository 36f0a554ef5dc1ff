import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BulkBodyError, bulkAdmitter, ingestAdmitted, ingestBulk, parseBulkChunks, RequestRecordBuffers, splitBody, type BulkContext } from './bulk.ts';
import { Ingester } from './ingester.ts';
import { SqliteEventStore } from '../stores/sqlite/sqlite-event-store.ts';
import type { Identity } from '../core/index.ts';

describe('splitBody', () => {
  const recs = [{ eventName: 'A' }, { eventName: 'B', n: [1, 2] }];

  test('a CloudTrail log file: {"Records": [...]}', () => {
    assert.deepEqual(splitBody(JSON.stringify({ Records: recs })), recs);
  });

  test('a pretty-printed log file with leading whitespace', () => {
    assert.deepEqual(splitBody(`\n  ${JSON.stringify({ Records: recs }, null, 2)}\n`), recs);
  });

  test('a JSON array of records', () => {
    assert.deepEqual(splitBody(JSON.stringify(recs)), recs);
    assert.deepEqual(splitBody(JSON.stringify(recs, null, 2)), recs);
  });

  test('NDJSON: one record per line; blank lines and CRLF endings are fine', () => {
    assert.deepEqual(splitBody(`${JSON.stringify(recs[0])}\r\n\r\n   \n${JSON.stringify(recs[1])}\r\n`), recs);
  });

  test('a single record on one line is one record', () => {
    assert.deepEqual(splitBody('{"eventName":"A"}'), [{ eventName: 'A' }]);
  });

  test('NDJSON: a line that is not JSON becomes a SyntaxError entry in its place, not an error', () => {
    const out = splitBody('{"eventName":"A"}\n{not json\n{"eventName":"C"}');
    assert.equal(out.length, 3);
    assert.deepEqual(out[0], { eventName: 'A' });
    assert.ok(out[1] instanceof SyntaxError);
    assert.deepEqual(out[2], { eventName: 'C' });
  });

  test('NDJSON lines may be any JSON value; judging them is the normaliser\'s job', () => {
    assert.deepEqual(splitBody('1\n"s"\nnull\n{"a":1}'), [1, 's', null, { a: 1 }]);
  });

  test('an empty or blank body is no records', () => {
    assert.deepEqual(splitBody(''), []);
    assert.deepEqual(splitBody(' \n\t\n'), []);
  });

  test('a broken log file or array is a BulkBodyError naming the problem', () => {
    for (const body of ['{"Records": [', '[{"a":1},', '{"Records":[1,2]} trailing', '[1] [2]']) {
      assert.throws(() => splitBody(body), (e: unknown) => e instanceof BulkBodyError && /not valid JSON/.test(e.message), body);
    }
  });

  test('a log file whose Records is not a list is a BulkBodyError', () => {
    for (const body of ['{"Records": {}}', '{"Records": null}', '{"Records": "x"}']) {
      assert.throws(() => splitBody(body), (e: unknown) => e instanceof BulkBodyError && /Records/.test(e.message), body);
    }
  });

  const recordArb = fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => k !== 'Records'), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 });

  test('property: the three body forms give back exactly the records written', () => {
    fc.assert(fc.property(fc.array(recordArb, { maxLength: 20 }), (records) => {
      const expected = JSON.parse(JSON.stringify(records));
      assert.deepEqual(splitBody(JSON.stringify({ Records: records })), expected);
      assert.deepEqual(splitBody(JSON.stringify(records)), expected);
      assert.deepEqual(splitBody(records.map((r) => JSON.stringify(r)).join('\n')), expected);
    }), { numRuns: 300 });
  });

  test('property: splitBody never throws anything but BulkBodyError', () => {
    fc.assert(fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.json().map((j) => j.slice(0, Math.floor(j.length / 2)))), (body) => {
      try {
        const out = splitBody(body);
        assert.ok(Array.isArray(out));
      } catch (e) {
        assert.ok(e instanceof BulkBodyError, String(e));
      }
    }), { numRuns: 300 });
  });
});

describe('ingestBulk', () => {
  const base = { secretAccessKey: 's', mfaAuthenticated: false, principalId: 'AIDA', type: 'IAMUser' as const };
  const alice: Identity = { ...base, accountId: '111111111111', accessKeyId: 'AKIAALICE', userName: 'alice', isTrustedProducer: false };
  const producer: Identity = { ...base, accountId: '111111111111', accessKeyId: 'AKIAPROD', userName: 'producer', isTrustedProducer: true };

  const stores: SqliteEventStore[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
  });
  function setup() {
    const store = new SqliteEventStore({ path: ':memory:' });
    stores.push(store);
    let n = 0;
    const ctx = (identity: Identity): BulkContext => ({ identity, region: 'eu-west-1', nowMs: Date.UTC(2026, 0, 1), ids: { uuid: () => `gen-${++n}` } });
    return { store, ingester: new Ingester(store, { maxBatchEvents: 1000 }), ctx };
  }
  const rec = (id: string, extra: Record<string, unknown> = {}) => ({ eventSource: 's3.amazonaws.com', eventName: 'PutObject', eventID: id, eventTime: '2026-01-01T00:00:00Z', ...extra });

  test('results stand at the index of their record; valid ones are stored, in order', async () => {
    const { store, ingester, ctx } = setup();
    const records = [
      rec('ok-1'),
      new SyntaxError('the line is not valid JSON'),
      { eventName: 'NoSource' },
      rec('ok-2', { awsRegion: 'BAD REGION' }),
      rec('ok-3'),
      42,
    ];
    const out = await ingestBulk(ingester, ctx(alice), records);
    assert.deepEqual(out.results.map((r) => r.status), ['accepted', 'rejected', 'rejected', 'rejected', 'accepted', 'rejected']);
    assert.deepEqual(out.results[0], { status: 'accepted', eventID: 'ok-1' });
    assert.deepEqual(out.results[1], { status: 'rejected', errorCode: 'InvalidJson', errorMessage: 'the line is not valid JSON' });
    assert.equal(out.results[2]!.status === 'rejected' && out.results[2]!.errorCode, 'InvalidRecord');
    assert.match(out.results[3]!.status === 'rejected' ? out.results[3]!.errorMessage : '', /awsRegion/);
    assert.deepEqual({ accepted: out.accepted, duplicates: out.duplicates, rejected: out.rejected }, { accepted: 2, duplicates: 0, rejected: 4 });
    const rows = await store.readAfter(0, 10);
    assert.deepEqual(rows.map((r) => JSON.parse(r.json).eventID), ['ok-1', 'ok-3']);
  });

  test('defaults: the caller\'s account, the signed region, generated ids', async () => {
    const { store, ingester, ctx } = setup();
    const out = await ingestBulk(ingester, ctx(alice), [{ eventSource: 'x.amazonaws.com', eventName: 'ListThings' }]);
    const r = out.results[0]!;
    assert.equal(r.status, 'accepted');
    const [row] = await store.readAfter(0, 1);
    assert.equal(row!.accountId, '111111111111');
    assert.equal(row!.region, 'eu-west-1');
    const stored = JSON.parse(row!.json);
    assert.equal(stored.eventID, r.status === 'accepted' ? r.eventID : '');
    assert.match(stored.eventID, /^gen-\d+$/);
  });

  test('records for another account are AccessDenied for an ordinary caller', async () => {
    const { store, ingester, ctx } = setup();
    const out = await ingestBulk(ingester, ctx(alice), [rec('mine'), rec('theirs', { recipientAccountId: '222222222222' })]);
    assert.equal(out.results[1]!.status, 'rejected');
    assert.equal(out.results[1]!.status === 'rejected' && out.results[1]!.errorCode, 'AccessDenied');
    assert.equal(await store.count(), 1);
  });

  test('a trusted producer may write to any account; each record is routed to its own', async () => {
    const { store, ingester, ctx } = setup();
    const out = await ingestBulk(ingester, ctx(producer), [rec('a', { recipientAccountId: '222222222222' }), rec('b', { recipientAccountId: '333333333333', awsRegion: 'us-west-2' })]);
    assert.equal(out.accepted, 2);
    const rows = await store.readAfter(0, 10);
    assert.deepEqual(rows.map((r) => [r.accountId, r.region]), [['222222222222', 'eu-west-1'], ['333333333333', 'us-west-2']]);
  });

  test('duplicates within a body and on a re-sent body are reported, never stored twice', async () => {
    const { store, ingester, ctx } = setup();
    const body = [rec('x'), rec('y'), rec('x')];
    const first = await ingestBulk(ingester, ctx(alice), body);
    assert.deepEqual(first.results.map((r) => r.status), ['accepted', 'accepted', 'duplicate']);
    assert.deepEqual(first.results[2], { status: 'duplicate', eventID: 'x' });
    const again = await ingestBulk(ingester, ctx(alice), body);
    assert.deepEqual(again.results.map((r) => r.status), ['duplicate', 'duplicate', 'duplicate']);
    assert.deepEqual({ a: again.accepted, d: again.duplicates, r: again.rejected }, { a: 0, d: 3, r: 0 });
    assert.equal(await store.count(), 2);
  });

  test('management records are indexed for Event history; data records are only in the log', async () => {
    const { store, ingester, ctx } = setup();
    await ingestBulk(ingester, ctx(alice), [rec('mgmt'), rec('data', { eventCategory: 'Data', managementEvent: false })]);
    const q = { accountId: '111111111111', region: 'eu-west-1', startSec: 0, endSec: 4e9, limit: 10 };
    assert.deepEqual((await store.lookup({ ...q, attribute: ['EventName', 'PutObject'] })).map((r) => JSON.parse(r.json).eventID), ['mgmt']);
    assert.equal(await store.count(), 2);
  });

  test('an empty body stores nothing', async () => {
    const { store, ingester, ctx } = setup();
    assert.deepEqual(await ingestBulk(ingester, ctx(alice), []), { accepted: 0, duplicates: 0, rejected: 0, notInEventHistory: 0, results: [] });
    assert.equal(await store.count(), 0);
  });

  // The bulk endpoint gives splitBody's output straight to ingestBulk; one pathological record
  // must be rejected on its own rather than failing the whole request (HTTP 500 at /ingest).
  test('a pathologically deep record is rejected on its own; its neighbours are stored', async () => {
    const { store, ingester, ctx } = setup();
    const depth = 20_000;
    const body = `${JSON.stringify(rec('before'))}\n{"eventSource":"s","eventName":"N","eventID":"deep","requestParameters":${'['.repeat(depth)}${']'.repeat(depth)}}\n${JSON.stringify(rec('after'))}`;
    const records = splitBody(body);
    assert.equal(records.length, 3);
    const out = await ingestBulk(ingester, ctx(alice), records);
    assert.deepEqual(out.results.map((r) => r.status), ['accepted', 'rejected', 'accepted']);
    assert.equal(await store.count(), 2);
  });

  test('admitted while parsing (bulkAdmitter, ingestAdmitted: the HTTP path) answers and stores as parse-then-ingestBulk does', async () => {
    const body = [
      JSON.stringify(rec('p-1')), '{broken', JSON.stringify({ eventName: 'NoSource' }), JSON.stringify(rec('p-2', { awsRegion: 'BAD REGION' })),
      JSON.stringify(rec('p-3', { eventCategory: 'Data', managementEvent: false })), JSON.stringify(rec('p-4', { eventTime: '2030-01-01T00:00:00Z' })),
      JSON.stringify(rec('p-1')), JSON.stringify(rec('p-5', { recipientAccountId: '222222222222' })),
    ].join('\n');
    async function* chunks() {
      yield Buffer.from(body);
    }
    const a = setup();
    const b = setup();
    for (const who of [alice, producer]) {
      const twoStep = await ingestBulk(a.ingester, a.ctx(who), splitBody(body));
      const fused = await ingestAdmitted(b.ingester, await parseBulkChunks(chunks(), { maxRecords: 100, maxRecordChars: 1 << 20 }, bulkAdmitter(b.ctx(who))));
      assert.deepEqual(fused, twoStep);
      assert.ok(fused.rejected >= 3 && fused.duplicates >= 1 && fused.notInEventHistory === 1, JSON.stringify(fused));
    }
    assert.equal(await b.store.count(), await a.store.count());
    const q = { accountId: '111111111111', region: 'eu-west-1', startSec: 0, endSec: 4e9, limit: 10 };
    assert.deepEqual((await b.store.lookup({ ...q, attribute: ['EventName', 'PutObject'] })).map((r) => r.json), (await a.store.lookup({ ...q, attribute: ['EventName', 'PutObject'] })).map((r) => r.json));
  });

  test('property: counts add up, results line up with input, and the store grows by exactly the accepted records', async () => {
    const recordArb = fc.oneof(
      fc.record({ id: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), acct: fc.constantFrom('111111111111', '222222222222'), bad: fc.boolean() })
        .map(({ id, acct, bad }) => rec(id, bad ? { recipientAccountId: acct, awsRegion: 'Nope' } : { recipientAccountId: acct })),
      fc.jsonValue({ maxDepth: 2 }),
      fc.constant(new SyntaxError('the line is not valid JSON')),
    );
    // One store for every run (a store per run, with its writer threads, made this test take
    // minutes): each run's eventIDs are its own, and it counts what the store gained.
    const store = new SqliteEventStore({ path: ':memory:' });
    let run = 0;
    const ownIds = (records: unknown[], tag: string) => records.map((r) => {
      const id = (r as { eventID?: unknown } | null)?.eventID;
      return typeof id === 'string' && /^[a-f]$/.test(id) ? { ...(r as object), eventID: `${tag}-${id}` } : r;
    });
    try {
      await fc.assert(fc.asyncProperty(fc.array(fc.array(recordArb, { maxLength: 12 }), { minLength: 1, maxLength: 3 }), fc.boolean(), async (generated, trusted) => {
        const tag = `r${++run}`;
        const bodies = generated.map((records) => ownIds(records, tag));
        const ingester = new Ingester(store, { maxBatchEvents: 7 });
        let n = 0;
        const ctx: BulkContext = { identity: trusted ? producer : alice, region: 'us-east-1', nowMs: 0, ids: { uuid: () => `${tag}-g${++n}` } };
        const base = await store.count();
        let storedTotal = 0;
        const seen = new Set<string>();
        for (const records of bodies) {
          const out = await ingestBulk(ingester, ctx, records);
          assert.equal(out.results.length, records.length);
          assert.equal(out.accepted + out.duplicates + out.rejected, records.length);
          assert.equal(out.results.filter((r) => r.status === 'accepted').length, out.accepted);
          assert.equal(out.results.filter((r) => r.status === 'duplicate').length, out.duplicates);
          out.results.forEach((r, i) => {
            const input = records[i] as { eventID?: unknown; recipientAccountId?: string } | undefined;
            if (r.status === 'rejected') return;
            const key = `${input?.recipientAccountId ?? '111111111111'}/${r.eventID}`;
            assert.equal(r.status === 'duplicate', seen.has(key), key);
            seen.add(key);
            if (typeof input?.eventID === 'string') assert.equal(r.eventID, input.eventID);
            if (!trusted) assert.notEqual(input?.recipientAccountId, '222222222222', 'an ordinary caller cannot write to another account');
          });
          storedTotal += out.accepted;
          assert.equal(await store.count() - base, storedTotal);
        }
      }), { numRuns: 150 });
    } finally {
      await store.close();
    }
  });
});

describe('RequestRecordBuffers (the bulk path keeps records as UTF-8 bytes)', () => {
  const identity: Identity = { secretAccessKey: 's', mfaAuthenticated: false, principalId: 'AIDA', type: 'IAMUser', accountId: '111111111111', accessKeyId: 'AKIAPROD', userName: 'producer', isTrustedProducer: true };
  const ctx: BulkContext = { identity, region: 'eu-west-1', nowMs: Date.UTC(2026, 0, 1), ids: { uuid: () => 'gen' } };
  const admitted = async (texts: readonly string[], arena: RequestRecordBuffers) => {
    const body = Buffer.from(`{"Records":[${texts.join(',')}]}`);
    return parseBulkChunks((async function* () {
      yield body;
    })(), { maxRecords: 10_000, maxRecordChars: 1 << 20 }, bulkAdmitter(ctx, arena));
  };

  const asRecords = (xs: readonly string[], tag: string) => xs.map((userAgent, i) => JSON.stringify({ eventSource: 's3.amazonaws.com', eventName: 'GetObject', eventID: `${tag}-${i}`, eventTime: '2026-01-01T00:00:00Z', userAgent }));
  const check = (entries: Awaited<ReturnType<typeof admitted>>, xs: readonly string[]) => {
    assert.equal(entries.length, xs.length);
    for (const [i, e] of entries.entries()) {
      assert.ok(e.ok);
      const json = e.input.json;
      assert.equal(JSON.parse(json).userAgent, xs[i]);
      assert.deepEqual(Buffer.from(e.input.utf8!), Buffer.from(json));
    }
  };

  test('property: each record\'s bytes are its stored JSON\'s UTF-8, and stay so while a released arena\'s buffers serve the next request', async () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'é', '€', '😀', '"', '\\', '\n', 'z') });
    await fc.assert(fc.asyncProperty(fc.array(text, { minLength: 1 }), fc.array(text, { minLength: 1 }), async (first, second) => {
      const arena = new RequestRecordBuffers();
      check(await admitted(asRecords(first, 'a'), arena), first);
      arena.release();
      check(await admitted(asRecords(second, 'b'), arena), second);
    }), { numRuns: 50 });
  });

  test('records of 3-byte characters across the ends of the arena\'s buffers are whole', async () => {
    // ~3.1 KB records: one of them meets the end of each 256 KiB buffer.
    const xs = Array.from({ length: 200 }, (_, i) => '€'.repeat(1000 + i));
    const arena = new RequestRecordBuffers();
    check(await admitted(asRecords(xs, 'a'), arena), xs);
    arena.release();
    check(await admitted(asRecords(xs.slice(50), 'b'), arena), xs.slice(50));
  });
});
