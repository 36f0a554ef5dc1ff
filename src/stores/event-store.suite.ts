/**
 * The EventStore contract (see the header of event-store.ts), as tests any driver must pass.
 *
 *   runEventStoreContract('SQLite (file)', async () => new SqliteEventStore({ path: ... }), { persistent });
 *
 * The suite uses only the EventStore interface and the real clock (pruning by ingestion time
 * sleeps a few tens of milliseconds around its cutoff), so a PostgreSQL driver runs it unchanged.
 * Every test gets a fresh, empty store from `makeStore` and closes it; the model-based property
 * shares one among its runs, each run with accounts of its own.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { INSIGHT_SUMMARY_MARK } from '../core/history-attributes.ts';
import type { AppendInput, AppendOutcome, EventStore, HistoryPosition, HistoryQuery, HistoryRow, LookupAttribute } from './event-store.ts';

export interface EventStoreContractOptions {
  /**
   * For drivers whose data outlives the object (files, databases): allocates fresh storage and
   * returns an opener; every call of the opener opens that same storage again.
   */
  persistent?: () => Promise<() => Promise<EventStore>>;
  /** fast-check runs of the model-based property (default 40). */
  modelRuns?: number;
}

const A = '111111111111';
const B = '222222222222';
const R1 = 'us-east-1';
const R2 = 'eu-west-1';
const T0 = 1_767_225_600; // 2026-01-01T00:00:00Z
const ALL: LookupAttribute = ['*', 'management'];
const WIDE = { startSec: 0, endSec: 4_000_000_000, limit: 1000 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let serial = 0;
/** An event whose json names its eventID and a variant, so rows can be told apart. */
function ev(fields: Partial<AppendInput> & { variant?: string } = {}): AppendInput {
  const { variant, ...rest } = fields;
  const eventId = rest.eventId ?? `evt-${++serial}`;
  return {
    accountId: A,
    region: R1,
    eventId,
    eventTimeSec: T0,
    json: JSON.stringify({ eventID: eventId, variant: variant ?? 'first' }),
    history: [ALL],
    ...rest,
  };
}

const idOf = (json: string): string => (JSON.parse(json) as { eventID: string }).eventID;
const ids = (rows: { json: string }[]) => rows.map((r) => idOf(r.json));

function q(fields: Partial<HistoryQuery> = {}): HistoryQuery {
  return { accountId: A, region: R1, attribute: ALL, ...WIDE, ...fields };
}

export function runEventStoreContract(name: string, makeStore: () => Promise<EventStore>, options: EventStoreContractOptions = {}): void {
  async function withStore(fn: (s: EventStore) => Promise<void>): Promise<void> {
    const s = await makeStore();
    try {
      await fn(s);
    } finally {
      await s.close();
    }
  }

  describe(`EventStore contract: ${name}`, () => {
    describe('append', () => {
      test('a fresh store is empty', () => withStore(async (s) => {
        assert.equal(await s.count(), 0);
        assert.deepEqual(await s.readAfter(0, 10), []);
        assert.deepEqual(await s.lookup(q()), []);
      }));

      test('one outcome per event, in order, none duplicate, seq strictly increasing', () => withStore(async (s) => {
        const batch = [ev(), ev(), ev(), ev()];
        const out = await s.append(batch);
        assert.equal(out.length, 4);
        assert.ok(out.every((o) => o.duplicate === false));
        for (let i = 1; i < out.length; i++) assert.ok(out[i]!.seq > out[i - 1]!.seq, `seq ${out[i]!.seq} after ${out[i - 1]!.seq}`);
        assert.ok(out.every((o) => Number.isSafeInteger(o.seq)));
        assert.equal(await s.count(), 4);
        // readAfter agrees with the seqs append reported.
        const rows = await s.readAfter(0, 10);
        assert.deepEqual(rows.map((r) => r.seq), out.map((o) => o.seq));
        assert.deepEqual(ids(rows), batch.map((e) => e.eventId));
      }));

      test('an empty batch appends nothing', () => withStore(async (s) => {
        assert.deepEqual(await s.append([]), []);
        assert.equal(await s.count(), 0);
      }));

      test('follow: built from the batch\'s outcomes, appended after it in the same append; when it throws, nothing is stored', () => withStore(async (s) => {
        await s.append([ev({ eventId: 'old' })]);
        const out = await s.append([ev({ eventId: 'n1' }), ev({ eventId: 'old' })], 'disk', (o) => [ev({ eventId: `f-${o.map((x) => (x.duplicate ? 'd' : 'n')).join('')}` })]);
        assert.deepEqual(out.map((o) => o.duplicate), [false, true, false]);
        assert.deepEqual(ids(await s.readAfter(0, 10)), ['old', 'n1', 'f-nd']);
        await assert.rejects(s.append([ev({ eventId: 'lost' })], 'disk', () => {
          throw new Error('follow failed');
        }), /follow failed/);
        assert.deepEqual(ids(await s.readAfter(0, 10)), ['old', 'n1', 'f-nd'], 'nothing of the failed append is stored');
        await s.probe();
        assert.equal(await s.count(), 3, 'a probe stores no event');
      }));

      test('seq keeps growing across batches', () => withStore(async (s) => {
        const first = await s.append([ev(), ev()]);
        const second = await s.append([ev()]);
        const third = await s.append([ev(), ev(), ev()]);
        const all = [...first, ...second, ...third].map((o) => o.seq);
        assert.deepEqual(all, [...all].sort((a, b) => a - b));
        assert.equal(new Set(all).size, all.length);
      }));

      test('a duplicate eventID within one batch is reported, keeps the first, and stores once', () => withStore(async (s) => {
        const a = ev({ eventId: 'dup', variant: 'first' });
        const b = ev();
        const a2 = ev({ eventId: 'dup', variant: 'second', history: [ALL, ['EventName', 'OnlyInSecond']] });
        const out = await s.append([a, b, a2]);
        assert.deepEqual(out.map((o) => o.duplicate), [false, false, true]);
        assert.equal(out[2]!.seq, out[0]!.seq, 'the duplicate names the stored event');
        assert.equal(await s.count(), 2);
        const rows = await s.readAfter(0, 10);
        assert.equal(JSON.parse(rows[0]!.json).variant, 'first');
        assert.deepEqual(await s.lookup(q({ attribute: ['EventName', 'OnlyInSecond'] })), [], 'the duplicate indexes nothing');
      }));

      test('a duplicate eventID across batches changes nothing', () => withStore(async (s) => {
        const [first] = await s.append([ev({ eventId: 'again', eventTimeSec: T0 })]);
        const [second] = await s.append([ev({ eventId: 'again', variant: 'second', eventTimeSec: T0 + 500, history: [ALL, ['EventName', 'X']] })]);
        assert.equal(second!.duplicate, true);
        assert.equal(second!.seq, first!.seq);
        assert.equal(await s.count(), 1);
        const rows = await s.lookup(q());
        assert.equal(rows.length, 1);
        assert.equal(rows[0]!.t, T0, 'history keeps the first event time');
        assert.equal(JSON.parse(rows[0]!.json).variant, 'first');
        assert.deepEqual(await s.lookup(q({ attribute: ['EventName', 'X'] })), []);
      }));

      test('an eventID is unique per account: the same id in another region of the account is a duplicate', () => withStore(async (s) => {
        const out = await s.append([ev({ eventId: 'x', region: R1 }), ev({ eventId: 'x', region: R2 })]);
        assert.deepEqual(out.map((o) => o.duplicate), [false, true]);
      }));

      test('the same eventID in two accounts is two events', () => withStore(async (s) => {
        const out = await s.append([ev({ eventId: 'shared', accountId: A }), ev({ eventId: 'shared', accountId: B })]);
        assert.deepEqual(out.map((o) => o.duplicate), [false, false]);
        assert.notEqual(out[0]!.seq, out[1]!.seq);
        assert.equal(await s.count(), 2);
        assert.deepEqual(ids(await s.lookup(q({ accountId: B, attribute: ['EventId', 'shared'] }))), ['shared']);
      }));

      test('concurrent appends all land, with distinct seqs', () => withStore(async (s) => {
        const batches = Array.from({ length: 10 }, () => Array.from({ length: 5 }, () => ev()));
        const outs = await Promise.all(batches.map((b) => s.append(b)));
        const seqs = outs.flat().map((o) => o.seq);
        assert.equal(new Set(seqs).size, 50);
        for (const out of outs) for (let i = 1; i < out.length; i++) assert.ok(out[i]!.seq > out[i - 1]!.seq);
        assert.equal(await s.count(), 50);
        const rows = await s.readAfter(0, 100);
        const bySeq = new Map(rows.map((r) => [r.seq, idOf(r.json)]));
        batches.forEach((b, i) => b.forEach((e, j) => assert.equal(bySeq.get(outs[i]![j]!.seq), e.eventId)));
      }));

      test('records are stored byte for byte (unicode, escapes, 256 KB)', () => withStore(async (s) => {
        const big = JSON.stringify({ eventID: 'big', pad: 'x'.repeat(256 * 1024 - 40) });
        const uni = JSON.stringify({ eventID: 'uni', s: 'ü€😀\u2028\\"\u0000', n: -0.5e-7 });
        await s.append([ev({ eventId: 'big', json: big }), ev({ eventId: 'uni', json: uni })]);
        const rows = await s.readAfter(0, 10);
        assert.equal(rows[0]!.json, big);
        assert.equal(rows[1]!.json, uni);
        assert.equal((await s.lookup(q({ attribute: ['EventId', 'uni'] })))[0]!.json, uni);
      }));
    });

    describe('appends spread over turns of the event loop', () => {
      const many = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => ev({ eventId: `${prefix}-${i}`, history: [ALL, ['EventName', prefix]] }));
      const turn = () => new Promise<void>((r) => setImmediate(r));

      test('a 5000-event append lets the event loop turn before it resolves', () => withStore(async (s) => {
        let resolved = false;
        const appending = s.append(many(5000, 'big')).then((out) => {
          resolved = true;
          return out;
        });
        let ranBefore: boolean | undefined;
        setImmediate(() => (ranBefore = !resolved));
        assert.equal((await appending).length, 5000);
        assert.equal(ranBefore, true, 'a setImmediate scheduled right after append ran only after append resolved: the append held the event loop');
      }));

      test('reads during an open append see none of its rows (all of them once it resolved), on every read', () => withStore(async (s) => {
        await s.append([ev({ eventId: 'before', history: [ALL, ['EventName', 'big']] })]);
        let resolved = false;
        const appending = s.append(many(5000, 'big'), 'disk', (o) => [ev({ eventId: `audit-${o.length}` })]).then((out) => {
          resolved = true;
          return out;
        });
        const seen: { during: boolean; count: number; read: number; found: number; last: number }[] = [];
        for (let i = 0; i < 20 && !resolved; i++) {
          await turn();
          const during = !resolved;
          const [count, read, found, last] = await Promise.all([s.count(), s.readAfter(0, 10_000), s.lookup(q({ attribute: ['EventName', 'big'], limit: 10_000 })), s.lastSeq()]);
          seen.push({ during, count, read: read.length, found: found.length, last });
        }
        const out = await appending;
        for (const r of seen) {
          // A read issued while the append's promise was open sees none of it or (the append
          // committed meanwhile: a client-server store's COMMIT is visible before its answer
          // reaches us) all of it, never a part; a read issued after it resolved sees all of it.
          if (r.during) {
            assert.ok([1, 5002].includes(r.count) && [1, 5002].includes(r.read) && [1, 5001].includes(r.found), `a read issued while the append was open saw a part of it: ${JSON.stringify(r)}`);
          } else assert.deepEqual({ ...r, last: undefined }, { during: false, count: 5002, read: 5002, found: 5001, last: undefined }, 'a read saw part of the append');
          assert.ok(r.last < out[0]!.seq || r.last >= out[4999]!.seq, `lastSeq ${r.last} inside the open append`);
        }
        assert.equal(await s.count(), 5002);
      }));

      test('an append that fails after its rows were written stores nothing, and appends queued behind it land', () => withStore(async (s) => {
        await s.append([ev({ eventId: 'kept' })]);
        const failing = s.append(many(5000, 'lost'), 'disk', () => {
          throw new Error('follow failed at the end');
        });
        const behind = s.append([ev({ eventId: 'after', history: [ALL, ['EventName', 'after']] })]);
        await assert.rejects(failing, /follow failed at the end/);
        const [o] = await behind;
        assert.equal(o!.duplicate, false);
        assert.deepEqual(ids(await s.readAfter(0, 10_000)), ['kept', 'after']);
        assert.deepEqual(await s.lookup(q({ attribute: ['EventName', 'lost'] })), []);
        assert.deepEqual(ids(await s.lookup(q({ attribute: ['EventName', 'after'] }))), ['after']);
        // The failed ids were never stored: appending them again stores them.
        const again = await s.append(many(3, 'lost'));
        assert.deepEqual(again.map((x) => x.duplicate), [false, false, false]);
        assert.equal((await s.lookup(q({ attribute: ['EventName', 'lost'] }))).length, 3);
      }));

      test('prune and append serialise: a prune called during an open append removes all of it or none of it', () => withStore(async (s) => {
        await s.append([ev({ eventId: 'old' })]);
        await sleep(5);
        const appending = s.append(many(5000, 'open'));
        await turn();
        const pruned = await s.prune(T0 + 1, Date.now() + 60_000);
        await appending;
        assert.ok(pruned.events === 1 || pruned.events === 5001, `prune removed ${pruned.events} events: part of an append`);
        assert.equal(await s.count(), 5001 - pruned.events);
        assert.ok(pruned.historyRows === 1 || pruned.historyRows === 1 + 2 * 5000, `prune removed ${pruned.historyRows} history rows`);
        const [next] = await s.append([ev({ eventId: 'next' })]);
        assert.ok(next!.seq > (await s.lastSeq()) - 1);
        assert.deepEqual(ids(await s.readAfter(0, 10_000)).slice(-1), ['next']);
      }));
    });

    describe('readAfter', () => {
      test('returns events after a seq, in seq order, at most limit, with their routing', () => withStore(async (s) => {
        const batch = [ev({ accountId: A, region: R1, eventTimeSec: T0 + 1 }), ev({ accountId: B, region: R2, eventTimeSec: T0 + 2, history: undefined }), ev({ accountId: A, region: R2, eventTimeSec: T0 + 3 })];
        const out = await s.append(batch);
        const rows = await s.readAfter(0, 10);
        assert.deepEqual(rows.map((r) => ({ ...r })), batch.map((e, i) => ({ seq: out[i]!.seq, accountId: e.accountId, region: e.region, eventTimeSec: e.eventTimeSec, json: e.json })));
        assert.deepEqual((await s.readAfter(out[0]!.seq, 10)).map((r) => r.seq), [out[1]!.seq, out[2]!.seq], 'afterSeq is exclusive');
        assert.deepEqual((await s.readAfter(0, 2)).map((r) => r.seq), [out[0]!.seq, out[1]!.seq]);
        assert.deepEqual(await s.readAfter(out[2]!.seq, 10), []);
      }));

      test('paging with the last seq visits every event once, in order', () => withStore(async (s) => {
        const all: AppendInput[] = [];
        for (let b = 0; b < 4; b++) {
          const batch = Array.from({ length: 7 }, () => ev());
          all.push(...batch);
          await s.append(batch);
        }
        const seen: string[] = [];
        let after = 0;
        for (;;) {
          const page = await s.readAfter(after, 3);
          if (page.length === 0) break;
          assert.ok(page.length <= 3);
          seen.push(...ids(page));
          after = page[page.length - 1]!.seq;
        }
        assert.deepEqual(seen, all.map((e) => e.eventId));
      }));

      test('the account filter returns only that account, paging on its own seqs', () => withStore(async (s) => {
        const batch = Array.from({ length: 12 }, (_, i) => ev({ accountId: i % 3 === 0 ? B : A }));
        await s.append(batch);
        const expected = batch.filter((e) => e.accountId === B).map((e) => e.eventId);
        const got: string[] = [];
        let after = 0;
        for (;;) {
          const page = await s.readAfter(after, 2, B);
          if (page.length === 0) break;
          assert.ok(page.every((r) => r.accountId === B));
          got.push(...ids(page));
          after = page[page.length - 1]!.seq;
        }
        assert.deepEqual(got, expected);
        assert.equal((await s.readAfter(0, 100, A)).length, 8);
        assert.deepEqual(await s.readAfter(0, 100, '333333333333'), []);
      }));

      test('maxBytes caps a page by the records\' UTF-8 bytes, always returns the first event, and paging still visits every event once', () => withStore(async (s) => {
        const pad = (n: number, c = 'x') => ({ variant: c.repeat(n) });
        const batch = [ev(pad(100)), ev(pad(5000)), ev(pad(100, 'é')), ev(pad(100)), ev(pad(100))];
        const out = await s.append(batch);
        const size = batch.map((e) => Buffer.byteLength(e.json));
        // A cap below the first record still returns it, alone.
        assert.deepEqual((await s.readAfter(0, 10, undefined, 1)).map((r) => r.seq), [out[0]!.seq]);
        // Exactly the first two fit; one byte less and only the first does.
        assert.deepEqual((await s.readAfter(0, 10, undefined, size[0]! + size[1]!)).map((r) => r.seq), [out[0]!.seq, out[1]!.seq]);
        assert.deepEqual((await s.readAfter(0, 10, undefined, size[0]! + size[1]! - 1)).map((r) => r.seq), [out[0]!.seq]);
        // Bytes, not characters: the multi-byte record counts twice its length.
        const after1 = out[1]!.seq;
        assert.deepEqual((await s.readAfter(after1, 10, undefined, size[2]! + size[3]! - 1)).map((r) => r.seq), [out[2]!.seq]);
        // limit still applies; the account filter still applies.
        assert.equal((await s.readAfter(0, 2, undefined, 1e9)).length, 2);
        assert.deepEqual(await s.readAfter(0, 10, '333333333333', 10), []);
        const seen: string[] = [];
        let after = 0;
        for (;;) {
          const page = await s.readAfter(after, 10, undefined, 300);
          if (page.length === 0) break;
          seen.push(...ids(page));
          after = page[page.length - 1]!.seq;
        }
        assert.deepEqual(seen, batch.map((e) => e.eventId));
      }));

      test('readAfterShared (when the driver has it) gives readAfter\'s rows: routing, times, category, and the records\' bytes exactly', () => withStore(async (s) => {
        if (!s.readAfterShared) return;
        const batch = [
          ev({ accountId: A, region: R1, eventTimeSec: T0 + 1, summary: '{"EventName":"m"}' }), ev({ accountId: B, region: R2, eventTimeSec: T0 + 2, history: undefined }),
          ev({ accountId: A, region: R2, eventTimeSec: T0 + 3, variant: 'é✓'.repeat(50), summary: `${INSIGHT_SUMMARY_MARK}"EventName":"i"}` }), ev({ accountId: B, region: R1, eventTimeSec: T0 + 4 }),
        ];
        const out = await s.append(batch);
        const plain = await s.readAfter(0, 10);
        const got = await s.readAfterShared(0, 10);
        assert.equal(got.n, 4);
        const rows = Array.from({ length: got.n }, (_, i) => ({
          seq: got.seq[i], accountId: got.names[got.account[i]!], region: got.names[got.region[i]!], eventTimeSec: got.eventTimeSec[i],
          json: Buffer.from(got.bytes, got.off[i], got.len[i]).toString('utf8'), category: got.category[i],
        }));
        assert.deepEqual(rows.map(({ category: _, ...r }) => r), plain.map((r) => ({ seq: r.seq, accountId: r.accountId, region: r.region, eventTimeSec: r.eventTimeSec, json: r.json })));
        // What the summary says where the driver keeps it (SQLite); 0 where it does not return summaries.
        const categories = rows.map((r) => r.category);
        assert.ok(JSON.stringify(categories) === '[1,0,2,0]' || JSON.stringify(categories) === '[0,0,0,0]', JSON.stringify(categories));
        assert.deepEqual(Array.from((await s.readAfterShared(out[1]!.seq, 1)).seq), [out[2]!.seq], 'afterSeq is exclusive, limit applies');
        assert.equal((await s.readAfterShared(out[3]!.seq, 10)).n, 0);
      }));

      test('events outside Event history are in the log', () => withStore(async (s) => {
        await s.append([ev({ eventId: 'data', history: undefined })]);
        assert.deepEqual(ids(await s.readAfter(0, 10)), ['data']);
        assert.deepEqual(await s.lookup(q()), []);
        assert.deepEqual(await s.lookup(q({ attribute: ['EventId', 'data'] })), [], 'not an Event history entry, even by EventId');
      }));
    });

    describe('lookup', () => {
      test('newest eventTime first; ties by higher seq first', () => withStore(async (s) => {
        // Appended out of time order, with ties.
        const batch = [
          ev({ eventId: 'mid-1', eventTimeSec: T0 + 10 }),
          ev({ eventId: 'old', eventTimeSec: T0 }),
          ev({ eventId: 'new', eventTimeSec: T0 + 20 }),
          ev({ eventId: 'mid-2', eventTimeSec: T0 + 10 }),
          ev({ eventId: 'mid-3', eventTimeSec: T0 + 10 }),
        ];
        await s.append(batch.slice(0, 3));
        await s.append(batch.slice(3));
        const rows = await s.lookup(q());
        assert.deepEqual(ids(rows), ['new', 'mid-3', 'mid-2', 'mid-1', 'old']);
        assert.deepEqual(rows.map((r) => r.t), [T0 + 20, T0 + 10, T0 + 10, T0 + 10, T0]);
        for (let i = 1; i < rows.length; i++) {
          const [p, c] = [rows[i - 1]!, rows[i]!];
          assert.ok(p.t > c.t || (p.t === c.t && p.seq > c.seq));
        }
      }));

      test('limit caps the answer', () => withStore(async (s) => {
        await s.append(Array.from({ length: 10 }, (_, i) => ev({ eventTimeSec: T0 + i })));
        assert.equal((await s.lookup(q({ limit: 3 }))).length, 3);
        assert.equal((await s.lookup(q({ limit: 1 })))[0]!.t, T0 + 9);
      }));

      test('time bounds are inclusive at both ends', () => withStore(async (s) => {
        await s.append([
          ev({ eventId: 'before', eventTimeSec: T0 - 1 }), ev({ eventId: 'start', eventTimeSec: T0 }),
          ev({ eventId: 'end', eventTimeSec: T0 + 100 }), ev({ eventId: 'after', eventTimeSec: T0 + 101 }),
        ]);
        assert.deepEqual(ids(await s.lookup(q({ startSec: T0, endSec: T0 + 100 }))), ['end', 'start']);
        assert.deepEqual(ids(await s.lookup(q({ startSec: T0, endSec: T0 }))), ['start']);
        assert.deepEqual(await s.lookup(q({ startSec: T0 + 1, endSec: T0 + 99 })), []);
        assert.deepEqual(ids(await s.lookup(q({ startSec: T0 + 100, endSec: T0 + 100, attribute: ['EventId', 'end'] }))), ['end']);
        assert.deepEqual(await s.lookup(q({ startSec: T0 + 101, endSec: T0 + 200, attribute: ['EventId', 'end'] })), []);
      }));

      test('before: strictly older positions only, ties broken by seq', () => withStore(async (s) => {
        const out = await s.append([
          ev({ eventId: 'a', eventTimeSec: T0 }), ev({ eventId: 'b', eventTimeSec: T0 + 5 }),
          ev({ eventId: 'c', eventTimeSec: T0 + 5 }), ev({ eventId: 'd', eventTimeSec: T0 + 5 }), ev({ eventId: 'e', eventTimeSec: T0 + 9 }),
        ]);
        const [sa, sb, sc, sd] = out.map((o) => o.seq) as [number, number, number, number];
        assert.ok(sa < sb && sb < sc && sc < sd);
        const at = (before: HistoryPosition) => s.lookup(q({ before })).then(ids);
        assert.deepEqual(await at({ t: T0 + 5, seq: sd }), ['c', 'b', 'a']);
        assert.deepEqual(await at({ t: T0 + 5, seq: sc }), ['b', 'a']);
        assert.deepEqual(await at({ t: T0 + 5, seq: sb }), ['a']);
        assert.deepEqual(await at({ t: T0 + 6, seq: 0 }), ['d', 'c', 'b', 'a']);
        assert.deepEqual(await at({ t: T0, seq: sa }), []);
        assert.deepEqual(await at({ t: T0 + 100, seq: 0 }), ['e', 'd', 'c', 'b', 'a']);
      }));

      test('paging by the last row position visits every entry once, in order, across ties', () => withStore(async (s) => {
        const batch = Array.from({ length: 23 }, (_, i) => ev({ eventTimeSec: T0 + Math.floor(i / 4) }));
        await s.append(batch.slice(0, 11));
        await s.append(batch.slice(11));
        const full = ids(await s.lookup(q()));
        assert.equal(full.length, 23);
        const paged: string[] = [];
        let before: HistoryPosition | undefined;
        for (let guard = 0; guard < 100; guard++) {
          const page = await s.lookup(q({ limit: 4, before }));
          if (page.length === 0) break;
          paged.push(...ids(page));
          const last = page[page.length - 1]!;
          before = { t: last.t, seq: last.seq };
        }
        assert.deepEqual(paged, full);
      }));

      test('an attribute finds only the events indexed under it, with exact value match', () => withStore(async (s) => {
        await s.append([
          ev({ eventId: 'put', history: [ALL, ['EventName', 'PutObject'], ['Username', 'alice']] }),
          ev({ eventId: 'get', history: [ALL, ['EventName', 'GetObject'], ['Username', 'alice']] }),
          ev({ eventId: 'put2', history: [ALL, ['EventName', 'PutObject'], ['Username', 'bob']] }),
        ]);
        assert.deepEqual(new Set(ids(await s.lookup(q({ attribute: ['EventName', 'PutObject'] })))), new Set(['put', 'put2']));
        assert.deepEqual(new Set(ids(await s.lookup(q({ attribute: ['Username', 'alice'] })))), new Set(['put', 'get']));
        for (const value of ['putobject', 'PutObjec', 'PutObject ', '%', '*']) {
          assert.deepEqual(await s.lookup(q({ attribute: ['EventName', value] })), [], value);
        }
        assert.deepEqual(await s.lookup(q({ attribute: ['Username', 'PutObject'] })), [], 'keys are not interchangeable');
        assert.deepEqual(await s.lookup(q({ attribute: ['insight:EventName', 'PutObject'] })), []);
      }));

      test('EventId finds one event of the account and region, within the time bounds and before the cursor', () => withStore(async (s) => {
        const [o] = await s.append([ev({ eventId: 'target', eventTimeSec: T0 + 7, history: [ALL] }), ev({ eventId: 'other' })]);
        const byId = (fields: Partial<HistoryQuery>) => s.lookup(q({ attribute: ['EventId', 'target'], ...fields }));
        const rows = await byId({});
        assert.equal(rows.length, 1);
        assert.deepEqual({ t: rows[0]!.t, seq: rows[0]!.seq, id: idOf(rows[0]!.json) }, { t: T0 + 7, seq: o!.seq, id: 'target' });
        assert.deepEqual(await byId({ region: R2 }), []);
        assert.deepEqual(await byId({ accountId: B }), []);
        assert.deepEqual(await byId({ startSec: T0 + 8 }), []);
        assert.deepEqual(await byId({ endSec: T0 + 6 }), []);
        assert.deepEqual(await byId({ before: { t: T0 + 7, seq: o!.seq } }), [], 'the cursor position itself is excluded');
        assert.equal((await byId({ before: { t: T0 + 7, seq: o!.seq + 1 } })).length, 1);
        assert.deepEqual(await s.lookup(q({ attribute: ['EventId', 'missing'] })), []);
      }));

      test('attributes are isolated between accounts and regions', () => withStore(async (s) => {
        const name: LookupAttribute = ['EventName', 'CreateTrail'];
        await s.append([
          ev({ eventId: 'a1', accountId: A, region: R1, history: [ALL, name] }),
          ev({ eventId: 'a2', accountId: A, region: R2, history: [ALL, name] }),
          ev({ eventId: 'b1', accountId: B, region: R1, history: [ALL, name] }),
        ]);
        assert.deepEqual(ids(await s.lookup(q({ accountId: A, region: R1, attribute: name }))), ['a1']);
        assert.deepEqual(ids(await s.lookup(q({ accountId: A, region: R2, attribute: name }))), ['a2']);
        assert.deepEqual(ids(await s.lookup(q({ accountId: B, region: R1, attribute: name }))), ['b1']);
        assert.deepEqual(await s.lookup(q({ accountId: B, region: R2, attribute: name })), []);
        assert.deepEqual(ids(await s.lookup(q({ accountId: A, region: R1 }))), ['a1']);
        assert.deepEqual(await s.lookup(q({ accountId: A, region: R1, attribute: ['EventId', 'a2'] })), []);
        assert.deepEqual(await s.lookup(q({ accountId: B, region: R1, attribute: ['EventId', 'a1'] })), []);
      }));

      test('rows carry t, seq and the stored record', () => withStore(async (s) => {
        const e = ev({ eventTimeSec: T0 + 3 });
        const [o] = await s.append([e]);
        const rows: HistoryRow[] = await s.lookup(q());
        assert.deepEqual(rows.map((r) => ({ t: r.t, seq: r.seq, json: r.json })), [{ t: T0 + 3, seq: o!.seq, json: e.json }]);
      }));

      test('a row carries the summary given at append (by attribute and by EventId); a row appended without one carries none', () => withStore(async (s) => {
        const summary = JSON.stringify({ EventId: 'with', EventName: 'PutObject', ReadOnly: 'false', Resources: [], u: 'ü€' });
        await s.append([ev({ eventId: 'with', eventTimeSec: T0 + 1, summary }), ev({ eventId: 'without', eventTimeSec: T0 })]);
        const rows = await s.lookup(q());
        assert.deepEqual(rows.map((r) => [idOf(r.json), r.summary]), [['with', summary], ['without', undefined]]);
        assert.equal((await s.lookup(q({ attribute: ['EventId', 'with'] })))[0]!.summary, summary);
        assert.equal((await s.lookup(q({ attribute: ['EventId', 'without'] })))[0]!.summary, undefined);
      }));
    });

    describe('prune', () => {
      test('by history time: entries older than the cutoff leave Event history, the log keeps them', () => withStore(async (s) => {
        await s.append([
          ev({ eventId: 'old', eventTimeSec: T0 - 10, history: [ALL, ['EventName', 'N']] }),
          ev({ eventId: 'edge', eventTimeSec: T0, history: [ALL, ['EventName', 'N']] }),
          ev({ eventId: 'new', eventTimeSec: T0 + 10, history: [ALL, ['EventName', 'N']] }),
        ]);
        const res = await s.prune(T0, 0);
        assert.ok(res.historyRows >= 1, `historyRows ${res.historyRows}`);
        assert.equal(res.events, 0, 'nothing was ingested before epoch 0');
        assert.deepEqual(ids(await s.lookup(q())), ['new', 'edge'], 'the cutoff itself is kept');
        assert.deepEqual(ids(await s.lookup(q({ attribute: ['EventName', 'N'] }))), ['new', 'edge']);
        assert.equal(await s.count(), 3);
        assert.deepEqual(ids(await s.readAfter(0, 10)), ['old', 'edge', 'new']);
        assert.deepEqual(await s.prune(T0, 0), { historyRows: 0, events: 0 }, 'pruning again removes nothing');
      }));

      test('by history time: an entry pruned from Event history is not found by EventId either', () => withStore(async (s) => {
        await s.append([ev({ eventId: 'old', eventTimeSec: T0 - 10 })]);
        await s.prune(T0, 0);
        assert.deepEqual(await s.lookup(q()), []);
        assert.deepEqual(await s.lookup(q({ attribute: ['EventId', 'old'] })), [], 'EventId answers from Event history, which no longer holds it');
      }));

      test('by ingestion time: events ingested before the cutoff leave the log; later ones stay', () => withStore(async (s) => {
        await s.append([ev({ eventId: 'early-1', eventTimeSec: T0 + 1 }), ev({ eventId: 'early-2', eventTimeSec: T0 + 2 })]);
        await sleep(40);
        const cutoff = Date.now();
        await sleep(40);
        await s.append([ev({ eventId: 'late', eventTimeSec: T0 })]);
        const res = await s.prune(0, cutoff);
        assert.equal(res.events, 2);
        assert.equal(await s.count(), 1);
        assert.deepEqual(ids(await s.readAfter(0, 10)), ['late']);
        assert.deepEqual(ids(await s.lookup(q())), ['late'], 'pruned events are gone from lookups too');
        assert.deepEqual(await s.lookup(q({ attribute: ['EventId', 'early-1'] })), []);
        assert.deepEqual((await s.prune(0, cutoff)).events, 0);
      }));

      test('seq numbers are never reused, even after the whole log was pruned', () => withStore(async (s) => {
        const first = await s.append([ev(), ev(), ev()]);
        const maxSeq = Math.max(...first.map((o) => o.seq));
        await sleep(5);
        const res = await s.prune(0, Date.now() + 60_000);
        assert.equal(res.events, 3);
        assert.equal(await s.count(), 0);
        const [next] = await s.append([ev()]);
        assert.ok(next!.seq > maxSeq, `seq ${next!.seq} reused (had reached ${maxSeq}); a reader at readAfter(${maxSeq}) would never see this event`);
        assert.equal((await s.readAfter(maxSeq, 10)).length, 1);
      }));

      test('after the log is pruned, a new event is not found under an old event\'s history entries', () => withStore(async (s) => {
        // Event history (by eventTime) can outlive the log (by ingestion time), e.g. for a record
        // whose eventTime is later than its ingestion.
        await s.append([ev({ eventId: 'gone', eventTimeSec: T0 + 1000, history: [ALL, ['EventName', 'OldName']] })]);
        await sleep(5);
        await s.prune(0, Date.now() + 60_000);
        await s.append([ev({ eventId: 'fresh', eventTimeSec: T0, history: [ALL, ['EventName', 'NewName']] })]);
        assert.deepEqual(ids(await s.lookup(q({ attribute: ['EventName', 'OldName'] }))), []);
        assert.deepEqual(ids(await s.lookup(q())), ['fresh']);
      }));
    });

    if (options.persistent) {
      const persistent = options.persistent;
      describe('persistence', () => {
        test('a reopened store holds what was appended, still detects duplicates and keeps seq growing', async () => {
          const open = await persistent();
          const s1 = await open();
          let first: AppendOutcome[];
          try {
            first = await s1.append([ev({ eventId: 'p1', eventTimeSec: T0 + 1, history: [ALL, ['EventName', 'Persisted']] }), ev({ eventId: 'p2', eventTimeSec: T0 + 2, history: undefined })]);
          } finally {
            await s1.close();
          }
          const s2 = await open();
          try {
            assert.equal(await s2.count(), 2);
            assert.deepEqual(ids(await s2.readAfter(0, 10)), ['p1', 'p2']);
            assert.deepEqual(ids(await s2.lookup(q({ attribute: ['EventName', 'Persisted'] }))), ['p1']);
            assert.deepEqual(ids(await s2.lookup(q({ attribute: ['EventId', 'p1'] }))), ['p1']);
            const again = await s2.append([ev({ eventId: 'p1', variant: 'retry' }), ev({ eventId: 'p3' })]);
            assert.deepEqual(again.map((o) => o.duplicate), [true, false]);
            assert.equal(again[0]!.seq, first[0]!.seq);
            assert.ok(again[1]!.seq > first[1]!.seq);
          } finally {
            await s2.close();
          }
        });

        test('lastSeq is the high-water mark of seq, across reopen and pruning', async () => {
          const open = await persistent();
          const s1 = await open();
          try {
            assert.equal(await s1.lastSeq(), 0);
            const out = await s1.append([ev({ eventId: 'h1' }), ev({ eventId: 'h2' })]);
            assert.equal(await s1.lastSeq(), out[1]!.seq);
            await s1.append([ev({ eventId: 'h1' })]);
            assert.ok((await s1.lastSeq()) >= out[1]!.seq, 'seq may skip, never go back');
            assert.deepEqual(await s1.readAfter(await s1.lastSeq(), 10), [], 'nothing stored lies beyond lastSeq');
            await s1.prune(0, Date.now() + 60_000);
            assert.equal(await s1.count(), 0);
            assert.ok((await s1.lastSeq()) >= out[1]!.seq, 'pruning keeps the high-water mark');
          } finally {
            await s1.close();
          }
          const s2 = await open();
          try {
            const [next] = await s2.append([ev({ eventId: 'h3' })]);
            assert.ok(next!.seq > (await s2.lastSeq()) - 1 && next!.seq === (await s2.lastSeq()));
          } finally {
            await s2.close();
          }
        });

        test("appends with 'process' durability interleave with 'disk' ones and persist alike", async () => {
          const open = await persistent();
          const s1 = await open();
          try {
            await s1.append([ev({ eventId: 'r1', history: [ALL, ['EventName', 'Read']] })], 'process');
            await s1.append([ev({ eventId: 'w1', eventTimeSec: T0 + 1 })], 'disk');
            await s1.append([ev({ eventId: 'r2', eventTimeSec: T0 + 2, history: [ALL, ['EventName', 'Read']] })], 'process');
          } finally {
            await s1.close();
          }
          const s2 = await open();
          try {
            assert.deepEqual(ids(await s2.readAfter(0, 10)), ['r1', 'w1', 'r2']);
            assert.deepEqual(ids(await s2.lookup(q({ attribute: ['EventName', 'Read'] }))), ['r2', 'r1']);
          } finally {
            await s2.close();
          }
        });

        test('a resolved append is visible to a second handle on the same storage, before the first is closed', async () => {
          const open = await persistent();
          const s1 = await open();
          await s1.append([ev({ eventId: 'acked' })]);
          const s2 = await open();
          try {
            assert.deepEqual(ids(await s2.readAfter(0, 10)), ['acked']);
          } finally {
            await s2.close();
            await s1.close();
          }
        });
      });
    }

    describe('model-based property', () => {
      interface ModelEvent extends AppendInput { seq: number }
      const accounts = [A, B];
      const regions = [R1, R2];
      const attrPool: LookupAttribute[] = [ALL, ['EventName', 'x'], ['EventName', 'y'], ['Username', 'u']];
      const eventArb = fc.record({
        accountId: fc.constantFrom(...accounts),
        region: fc.constantFrom(...regions),
        eventId: fc.constantFrom('e0', 'e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7', 'e8', 'e9'),
        eventTimeSec: fc.integer({ min: T0, max: T0 + 6 }),
        history: fc.option(fc.subarray(attrPool), { nil: undefined }),
      });
      const queryArb = fc.record({
        accountId: fc.constantFrom(...accounts),
        region: fc.constantFrom(...regions),
        attribute: fc.oneof(fc.constantFrom(...attrPool), fc.constantFrom('e0', 'e3', 'e9').map((id): LookupAttribute => ['EventId', id])),
        startSec: fc.integer({ min: T0 - 1, max: T0 + 7 }),
        span: fc.integer({ min: 0, max: 8 }),
        limit: fc.integer({ min: 1, max: 6 }),
        before: fc.option(fc.record({ t: fc.integer({ min: T0 - 1, max: T0 + 7 }), seqRank: fc.nat({ max: 40 }) }), { nil: undefined }),
      });

      test('appends, lookups and readAfter agree with a simple in-memory model', async () => {
        // One store for every run (a store per run made this the slowest test of the suite): each
        // run's two accounts are its own, and it reads the log from where the run began.
        const s = await makeStore();
        let run = 0;
        try {
          await fc.assert(fc.asyncProperty(
            fc.array(fc.array(eventArb, { maxLength: 6 }), { minLength: 1, maxLength: 5 }),
            fc.array(queryArb, { minLength: 1, maxLength: 8 }),
            fc.array(fc.record({ after: fc.nat({ max: 40 }), limit: fc.integer({ min: 1, max: 10 }), account: fc.option(fc.constantFrom(...accounts), { nil: undefined }) }), { maxLength: 3 }),
            async (batches, queries, reads) => {
              run++;
              const own = (account: string) => String(Number(account) + run * 10);
              const startSeq = await s.lastSeq();
              const startCount = await s.count();
              const stored: ModelEvent[] = [];
              const byKey = new Map<string, ModelEvent>();
              let maxSeq = startSeq;
              for (const batch of batches) {
                const inputs = batch.map((e) => ({ ...e, accountId: own(e.accountId), json: JSON.stringify({ eventID: e.eventId, a: own(e.accountId), n: serial++ }) }));
                const out = await s.append(inputs);
                assert.equal(out.length, inputs.length);
                inputs.forEach((e, i) => {
                  const o = out[i]!;
                  const key = `${e.accountId}/${e.eventId}`;
                  const prior = byKey.get(key);
                  if (prior) {
                    assert.deepEqual({ dup: o.duplicate, seq: o.seq }, { dup: true, seq: prior.seq }, `duplicate ${key}`);
                  } else {
                    assert.equal(o.duplicate, false, `new ${key}`);
                    assert.ok(o.seq > maxSeq, `seq ${o.seq} after ${maxSeq}`);
                    maxSeq = o.seq;
                    const m = { ...e, seq: o.seq };
                    byKey.set(key, m);
                    stored.push(m);
                  }
                });
              }
              const seqs = stored.map((e) => e.seq);
              for (const qa of queries) {
                const before = qa.before ? { t: qa.before.t, seq: qa.before.seqRank < seqs.length ? seqs[qa.before.seqRank]! : qa.before.seqRank * 1000 } : undefined;
                const query: HistoryQuery = { accountId: own(qa.accountId), region: qa.region, attribute: qa.attribute, startSec: qa.startSec, endSec: qa.startSec + qa.span, limit: qa.limit, before };
                const [key, value] = query.attribute;
                const expected = stored
                  .filter((e) => e.accountId === query.accountId && e.region === query.region && e.history !== undefined)
                  .filter((e) => (key === 'EventId' ? e.eventId === value : e.history!.some(([k, v]) => k === key && v === value)))
                  .filter((e) => e.eventTimeSec >= query.startSec && e.eventTimeSec <= query.endSec)
                  .filter((e) => !before || e.eventTimeSec < before.t || (e.eventTimeSec === before.t && e.seq < before.seq))
                  .sort((x, y) => y.eventTimeSec - x.eventTimeSec || y.seq - x.seq)
                  .slice(0, query.limit)
                  .map((e) => ({ t: e.eventTimeSec, seq: e.seq, json: e.json }));
                const got = (await s.lookup(query)).map((r) => ({ t: r.t, seq: r.seq, json: r.json }));
                assert.deepEqual(got, expected, JSON.stringify(query));
              }
              for (const r of reads) {
                const after = r.after < seqs.length ? seqs[r.after]! : startSeq;
                const account = r.account === undefined ? undefined : own(r.account);
                const expected = stored.filter((e) => e.seq > after && (account === undefined || e.accountId === account)).slice(0, r.limit);
                const got = await s.readAfter(after, r.limit, account);
                assert.deepEqual(got.map((g) => ({ seq: g.seq, accountId: g.accountId, region: g.region, eventTimeSec: g.eventTimeSec, json: g.json })),
                  expected.map((e) => ({ seq: e.seq, accountId: e.accountId, region: e.region, eventTimeSec: e.eventTimeSec, json: e.json })));
              }
              assert.equal(await s.count() - startCount, stored.length);
            },
          ), { numRuns: options.modelRuns ?? 40 });
        } finally {
          await s.close();
        }
      });
    });
  });
}
