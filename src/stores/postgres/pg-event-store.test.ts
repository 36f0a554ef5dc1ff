/** The EventStore contract on PostgreSQL (a real server), and what only PgEventStore promises. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startPostgres, withSql, type StartedPostgres } from '../../../test/helpers/postgres.ts';
import { runEventStoreContract } from '../event-store.suite.ts';
import { StoreUnavailableError } from '../errors.ts';
import type { AppendInput, EventStore } from '../event-store.ts';
import { keyText, LOOKUP_PAGE_SQL, PgEventStore } from './pg-event-store.ts';
import { DAY_MS } from '../../core/index.ts';
import { openPool, withTransaction } from './db.ts';
import { migrate } from './migrations.ts';
import { ensurePartitions, eventMigrations, partitionStart } from './pg-event-schema.ts';

let server: StartedPostgres;
before(async () => {
  // pg_stat_statements: the blocks a lookup's statement reads (a test below).
  server = await startPostgres({ settings: { shared_preload_libraries: 'pg_stat_statements' } });
});
after(async () => {
  await server.destroy();
});

runEventStoreContract('PgEventStore', async () => PgEventStore.open({ url: await server.createDatabase('ev') }), {
  persistent: async () => {
    const url = await server.createDatabase('evp');
    return () => PgEventStore.open({ url });
  },
  modelRuns: 25,
});

const T0 = 1_767_225_600;
const A = '111111111111';
const ALL = ['*', 'management'] as const;
let serial = 0;
const ev = (fields: Partial<AppendInput> = {}): AppendInput => {
  const eventId = fields.eventId ?? `pg-${++serial}`;
  return { accountId: A, region: 'us-east-1', eventId, eventTimeSec: T0, json: JSON.stringify({ eventID: eventId }), history: [[...ALL]], ...fields };
};
const idsOf = (rows: { json: string }[]) => rows.map((r) => (JSON.parse(r.json) as { eventID: string }).eventID);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const partitionsOf = (url: string, table: string) => withSql(url, async (c) => (await c.query<{ relname: string }>(
  'SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass ORDER BY c.relname', [table])).rows.map((r) => r.relname));
/** Waits until a session of `url`'s database waits for a lock on a row or relation of `table`. */
async function waitForLockWait(url: string, table: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const waiting = await withSql(url, async (c) => (await c.query(
      "SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE NOT l.granted AND a.datname = current_database() AND (l.relation = $1::regclass OR l.locktype = 'transactionid') LIMIT 1", [table])).rowCount);
    if (waiting) return;
    if (Date.now() > deadline) throw new Error(`no session waited on ${table} within 10 s`);
    await sleep(20);
  }
}

describe('PgEventStore: seq in commit order across nodes', () => {
  test('two stores (two pools: two nodes) append concurrently, two appends in flight each; a reader polling readAfter never skips an event', async () => {
    const url = await server.createDatabase('order');
    const nodes = await Promise.all([PgEventStore.open({ url }), PgEventStore.open({ url })]);
    const reader = await PgEventStore.open({ url });
    try {
      const perNode = 60;
      let writing = true;
      const seen: number[] = [];
      const polling = (async () => {
        let after = 0;
        for (;;) {
          const done = !writing;
          const page = await reader.readAfter(after, 1000);
          for (const r of page) seen.push(r.seq);
          if (page.length) after = page[page.length - 1]!.seq;
          if (done && page.length === 0) return;
          await new Promise((r) => setImmediate(r));
        }
      })();
      const acked: number[] = [];
      // Two lanes per node: each node has two appends in flight at once (parallelAppends 2).
      await Promise.all([...nodes, ...nodes].map(async (s, n) => {
        for (let i = 0; i < perNode / 2; i++) {
          // Different sizes, so that the two nodes' transactions take different times.
          const batch = Array.from({ length: 1 + ((i * 7 + n * 3) % 40) }, () => ev({ history: [[...ALL], ['EventName', `n${n}`]] }));
          const out = await s.append(batch, i % 2 ? 'process' : 'disk');
          acked.push(...out.map((o) => o.seq));
        }
      }));
      writing = false;
      await polling;
      const stored = (await reader.readAfter(0, 100_000)).map((r) => r.seq);
      assert.equal(stored.length, acked.length);
      assert.deepEqual(seen, stored, 'the poller saw every stored event once, in seq order: none skipped');
      assert.deepEqual([...acked].sort((a, b) => a - b), stored);
      assert.equal(await reader.count(), acked.length);
    } finally {
      await Promise.all([...nodes, reader].map((s) => s.close()));
    }
  });
});

describe('PgEventStore: appends in parallel', () => {
  /** An open transaction holding the event_ids row of `eventId`: an append carrying it waits for it. */
  async function holdId(url: string, eventId: string): Promise<{ release: () => Promise<void> }> {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query('BEGIN');
    await c.query('INSERT INTO event_ids (account_id, event_id, seq, ingest_ms) VALUES ($1, $2, -1, 0)', [A, eventId]);
    return {
      release: async () => {
        await c.query('ROLLBACK');
        await c.end();
      },
    };
  }

  test('an append that commits before one holding lower seqs is not returned by readAfter (nor counted by committedMsAfter) until the lower one ended: a reader following by seq misses nothing', async () => {
    const url = await server.createDatabase('outoforder');
    const store = await PgEventStore.open({ url });
    const reader = await PgEventStore.open({ url });
    try {
      await store.append([ev({ eventId: 'first' })]);
      const cursor = (await reader.readAfter(0, 10)).at(-1)!.seq;
      const held = await holdId(url, 'slow-1');
      // Allocates its seqs, then waits for the held id row inside its transaction.
      const slow = store.append([ev({ eventId: 'slow-1' }), ev({ eventId: 'slow-2' })]);
      await waitForLockWait(url, 'event_ids');
      // A second append of the same store goes beside it and commits first, with higher seqs.
      const fast = await store.append([ev({ eventId: 'fast' })]);
      assert.equal(await reader.count(), 2, 'the fast append committed while the slow one is open');
      assert.deepEqual(await reader.readAfter(cursor, 10), [], 'readAfter returned an event while an append holding lower seqs was still open');
      assert.deepEqual(await reader.readAfter(cursor, 10, A, 1 << 20), [], 'readAfter (by account, by bytes) returned an event past an open append');
      assert.equal(await reader.committedMsAfter(cursor), undefined);
      assert.ok((await reader.lastSeq()) >= fast[0]!.seq, 'lastSeq is at or above every stored seq');
      await held.release();
      const slowOut = await slow;
      assert.ok(slowOut.every((o) => !o.duplicate && o.seq < fast[0]!.seq), `the slow append took the lower seqs: ${JSON.stringify({ slowOut, fast })}`);
      const after = await reader.readAfter(cursor, 10);
      assert.deepEqual(idsOf(after), ['slow-1', 'slow-2', 'fast'], 'the follower sees every event once, in seq order');
      assert.deepEqual(after.map((r) => r.seq), [slowOut[0]!.seq, slowOut[1]!.seq, fast[0]!.seq]);
    } finally {
      await Promise.all([store.close(), reader.close()]);
    }
  });

  test('two appends in flight at once carrying the same eventID: it is stored once, the other append reports it as a duplicate with its seq; the count is exact', async () => {
    const url = await server.createDatabase('pardup');
    const a = await PgEventStore.open({ url });
    const b = await PgEventStore.open({ url });
    try {
      const held = await holdId(url, 'both');
      // Both wait for the held row; once it is gone one inserts 'both', the other waits for that
      // one's COMMIT and finds the row committed after its statement's snapshot.
      const fromA = a.append([ev({ eventId: 'a-own' }), ev({ eventId: 'both' })]);
      const fromB = b.append([ev({ eventId: 'both' }), ev({ eventId: 'b-own' })]);
      await waitForLockWait(url, 'event_ids');
      await sleep(200);
      await held.release();
      const [outA, outB] = await Promise.all([fromA, fromB]);
      const both = [outA[1]!, outB[0]!];
      assert.deepEqual(both.map((o) => o.duplicate).sort(), [false, true], `exactly one append stored it: ${JSON.stringify({ outA, outB })}`);
      assert.equal(both[0]!.seq, both[1]!.seq, 'the duplicate names the seq it is stored under');
      assert.equal(outA[0]!.duplicate || outB[1]!.duplicate, false);
      const rows = await a.readAfter(0, 10);
      assert.deepEqual(idsOf(rows).sort(), ['a-own', 'b-own', 'both']);
      assert.equal(await a.count(), 3);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('PgEventStore: partitions and retention', () => {
  test('partitions are created ahead, by two nodes at once without a race; prune drops whole partitions and deletes only in the boundary one', async () => {
    const url = await server.createDatabase('parts');
    const HOUR = 3_600_000;
    let now = Date.UTC(2026, 0, 10, 12);
    const opts = { url, nowMs: () => now, logPartitionMs: HOUR, historyPartitionSec: 3600 };
    const [s1, s2] = await Promise.all([PgEventStore.open(opts), PgEventStore.open(opts)]);
    try {
      const tAt = (ms: number) => Math.floor(ms / 1000);
      // Hour 12 and 13 get events (both nodes at once: the partition creation must not race).
      await Promise.all([s1.append([ev({ eventId: 'h12a', eventTimeSec: tAt(now) })]), s2.append([ev({ eventId: 'h12b', eventTimeSec: tAt(now) + 60 })])]);
      now += HOUR;
      await s1.append([ev({ eventId: 'h13', eventTimeSec: tAt(now) })]);
      now += 30 * 60_000; // 13:30
      await s2.append([ev({ eventId: 'h13b', eventTimeSec: tAt(now) })]);
      const h12 = Date.UTC(2026, 0, 10, 12);
      const logParts = await partitionsOf(url, 'event_log');
      assert.deepEqual(logParts, [h12, h12 + HOUR, h12 + 2 * HOUR].map((ms) => `event_log_p${ms}`), 'the current hour and the next, created ahead');
      assert.ok((await partitionsOf(url, 'event_history')).includes(`event_history_p${tAt(h12)}`));
      // Two hours later: the partition of hour 12 is whole below the cut-off and dropped;
      // hour 13 is the boundary: only h13 (13:00) goes, h13b (13:30) stays.
      now += 2 * HOUR;
      const res = await s1.prune(tAt(h12 + HOUR + 10 * 60_000), h12 + HOUR + 10 * 60_000);
      assert.deepEqual(res, { historyRows: 3, events: 3 });
      const after = await partitionsOf(url, 'event_log');
      assert.ok(!after.includes(`event_log_p${h12}`), 'hour 12 dropped');
      assert.ok(after.includes(`event_log_p${h12 + HOUR}`), 'the boundary partition stays');
      assert.ok(!(await partitionsOf(url, 'event_history')).includes(`event_history_p${tAt(h12)}`), 'history hour 12 dropped');
      assert.deepEqual(idsOf(await s2.readAfter(0, 10)), ['h13b']);
      assert.equal(await s2.count(), 1);
      assert.deepEqual(idsOf(await s2.lookup({ accountId: A, region: 'us-east-1', attribute: [...ALL], startSec: 0, endSec: 4e9, limit: 10 })), ['h13b']);
      // The dropped events' ids are gone with them: they may be stored again.
      const again = await s2.append([ev({ eventId: 'h12a', eventTimeSec: tAt(now) }), ev({ eventId: 'h13b' })]);
      assert.deepEqual(again.map((o) => o.duplicate), [false, true]);
      assert.deepEqual(await s1.prune(tAt(h12 + HOUR + 10 * 60_000), h12 + HOUR + 10 * 60_000), { historyRows: 0, events: 0 });
    } finally {
      await s1.close();
      await s2.close();
    }
  });

  test('a hostile batch of far-flung eventTimes makes no partitions: Event history is written only within historyWindowSec of now; the log keeps every event', async () => {
    const url = await server.createDatabase('window');
    const now = Date.UTC(2026, 0, 10, 12);
    const DAY = 86_400;
    const s = await PgEventStore.open({ url, nowMs: () => now, historyWindowSec: 10 * DAY });
    try {
      const nowSec = Math.floor(now / 1000);
      const before = (await partitionsOf(url, 'event_history')).length;
      // 300 events, one per day from 2100 on, and 300 one per day before 2020: no partition each.
      const far = Array.from({ length: 600 }, (_, i) => ev({ eventId: `far-${i}`, eventTimeSec: i < 300 ? Date.UTC(2100, 0, 1) / 1000 + i * DAY : Date.UTC(2019, 0, 1) / 1000 - (i - 300) * DAY }));
      const near = [ev({ eventId: 'near-past', eventTimeSec: nowSec - 9 * DAY }), ev({ eventId: 'near-now', eventTimeSec: nowSec })];
      const out = await s.append([...far, ...near]);
      assert.equal(out.filter((o) => !o.duplicate).length, 602, 'every event is in the log');
      const made = (await partitionsOf(url, 'event_history')).length - before;
      assert.ok(made <= 3, `at most the near days' partitions are made, not one per far day (made ${made})`);
      assert.deepEqual(idsOf(await s.lookup({ accountId: A, region: 'us-east-1', attribute: [...ALL], startSec: 0, endSec: 5e9, limit: 1000 })), ['near-now', 'near-past']);
      assert.equal(await s.count(), 602);
    } finally {
      await s.close();
    }
  });

  test('a history row whose record the log already pruned (a future-dated event) does not shorten a page; a frequent value\'s page stays a LIMIT before the log probes', async () => {
    const url = await server.createDatabase('dangling');
    let now = Date.UTC(2026, 0, 10, 12);
    const s = await PgEventStore.open({ url, nowMs: () => now });
    try {
      const nowSec = Math.floor(now / 1000);
      await s.append([ev({ eventId: 'older', eventTimeSec: nowSec - 60 })]);
      now += 1000;
      // Ingested after 'older', dated in the future: the log's retention (by ingestion time) takes it first.
      await s.append([ev({ eventId: 'future', eventTimeSec: nowSec + 3600 })]);
      now += 1000;
      // The log pruned of both by ingestion time, Event history kept (cut-off 0): two history rows
      // whose records are gone.
      const res = await s.prune(0, now);
      assert.equal(res.events, 2);
      assert.deepEqual(idsOf(await s.lookup({ accountId: A, region: 'us-east-1', attribute: [...ALL], startSec: 0, endSec: 5e9, limit: 1 })), []);
      await s.append([ev({ eventId: 'kept', eventTimeSec: nowSec - 30 })]);
      // limit 1: the first history row in order ('future', record gone) is skipped, 'kept' is the page.
      assert.deepEqual(idsOf(await s.lookup({ accountId: A, region: 'us-east-1', attribute: [...ALL], startSec: 0, endSec: 5e9, limit: 1 })), ['kept']);
      for (let i = 0; i < 8; i++) assert.equal((await s.lookup({ accountId: A, region: 'us-east-1', attribute: [...ALL], startSec: 0, endSec: 5e9, limit: 1 })).length, 1, `execution ${i}`);
    } finally {
      await s.close();
    }
  });

  test('a partition dropped behind a store\'s back (by another node\'s prune) is created again by its next append', async () => {
    const url = await server.createDatabase('gone');
    const s = await PgEventStore.open({ url });
    try {
      await s.append([ev({ eventId: 'first' })]);
      const [current] = await partitionsOf(url, 'event_log');
      await withSql(url, (c) => c.query(`DROP TABLE ${current!}`));
      const [o] = await s.append([ev({ eventId: 'second' })]);
      assert.equal(o!.duplicate, false);
      assert.deepEqual(idsOf(await s.readAfter(0, 10)), ['second']);
      assert.ok((await partitionsOf(url, 'event_log')).includes(current!));
    } finally {
      await s.close();
    }
  });

  test('a whole partition dropped while an append re-sends one of its event ids: no deadlock; the id is stored once, the partition gone, the count exact', async () => {
    const url = await server.createDatabase('dropdup');
    const HOUR = 3_600_000;
    let now = Date.UTC(2026, 0, 10, 12);
    const opts = { url, nowMs: () => now, logPartitionMs: HOUR, historyPartitionSec: 3600, pruneChunk: 4 };
    const [pruner, sender] = await Promise.all([PgEventStore.open(opts), PgEventStore.open(opts)]);
    const blocker = new pg.Client({ connectionString: url });
    await blocker.connect();
    try {
      const tAt = (ms: number) => Math.floor(ms / 1000);
      // Hour 12: 'old-0' .. 'old-9' ('old-0' first in the id table, 'old-9' last).
      for (let i = 0; i < 10; i++) await sender.append([ev({ eventId: `old-${i}`, eventTimeSec: tAt(now) })]);
      now += 3 * HOUR;
      await sender.append([ev({ eventId: 'new', eventTimeSec: tAt(now) })]);
      // The test's own transaction holds the id row of 'old-9': the prune's deletion of the
      // partition's ids stops there, after it deleted (and holds) the rows before it.
      await blocker.query('BEGIN');
      await blocker.query("SELECT 1 FROM event_ids WHERE event_id = 'old-9' FOR UPDATE");
      const pruning = pruner.prune(tAt(now - HOUR), now - HOUR);
      await waitForLockWait(url, 'event_ids');
      // Meanwhile another node's append re-sends 'old-0': it holds the state row and meets the id row
      // the prune deleted; the prune then needs the state row.
      const resending = sender.append([ev({ eventId: 'old-0', eventTimeSec: tAt(now) })]);
      await sleep(300);
      await blocker.query('COMMIT');
      const [pruned, resent] = await Promise.allSettled([pruning, resending]);
      assert.equal(pruned.status, 'fulfilled', `the prune: ${pruned.status === 'rejected' ? String(pruned.reason) : ''}`);
      assert.equal(resent.status, 'fulfilled', `the append: ${resent.status === 'rejected' ? String(resent.reason) : ''}`);
      assert.equal(pruned.value.events, 10);
      assert.ok(!(await partitionsOf(url, 'event_log')).includes(`event_log_p${Date.UTC(2026, 0, 10, 12)}`), 'hour 12 dropped whole');
      const left = idsOf(await sender.readAfter(0, 100));
      assert.deepEqual(left.sort(), ['new', 'old-0'], 'the re-sent id stored once, nothing of hour 12 left');
      assert.equal(await sender.count(), 2);
      const [again] = await sender.append([ev({ eventId: 'old-0' })]);
      assert.equal(again!.duplicate, true, 'the re-sent id is known');
    } finally {
      await blocker.end();
      await pruner.close();
      await sender.close();
    }
  });

  test('a log partition dropped while an append that wrote into it is still open (a node whose clock lags): the count stays exact, the dropped rows\' ids are free again', async () => {
    const url = await server.createDatabase('droprace');
    const HOUR = 3_600_000;
    const start = Date.UTC(2026, 0, 10, 12);
    let prunerNow = start;
    const common = { url, logPartitionMs: HOUR, historyPartitionSec: 3600, pruneChunk: 4, dropLockTimeoutMs: 20_000 };
    const pruner = await PgEventStore.open({ ...common, nowMs: () => prunerNow });
    const lagger = await PgEventStore.open({ ...common, nowMs: () => start + 5 * 60_000 });
    const blocker = new pg.Client({ connectionString: url });
    await blocker.connect();
    try {
      const t = Math.floor(start / 1000);
      await pruner.append([ev({ eventId: 'old-0', eventTimeSec: t }), ev({ eventId: 'old-1', eventTimeSec: t })]);
      prunerNow = start + 3 * HOUR;
      const tNow = Math.floor(prunerNow / 1000);
      await pruner.append([ev({ eventId: 'new', eventTimeSec: tNow })]);
      // The test holds the id row of 'held'. The lagging node's append writes 'lagging' into the
      // log's hour 12 (its clock's; the eventTimes are current, so Event history's partition is a
      // current one), then its follow-up event 'held' waits for that row in the same transaction.
      await blocker.query('BEGIN');
      await blocker.query("INSERT INTO event_ids (account_id, event_id, seq, ingest_ms) VALUES ($1, 'held', -1, 0)", [A]);
      const lagging = lagger.append([ev({ eventId: 'lagging', eventTimeSec: tNow })], 'disk', () => [ev({ eventId: 'held', eventTimeSec: tNow })]);
      await waitForLockWait(url, 'event_ids');
      // The prune drops the log's hour 12 whole (ended more than a partition ago on its clock);
      // Event history keeps everything (a cut-off older than its partitions).
      const pruning = pruner.prune(t - 86_400, prunerNow - HOUR);
      // Until the prune waits for hour 12's partition or the log (the lagging append holds both).
      const partition = `event_log_p${start}`;
      for (const deadline = Date.now() + 10_000; ;) {
        const waits = await withSql(url, async (c) => (await c.query("SELECT 1 FROM pg_locks WHERE NOT granted AND relation IN ($1::regclass, 'event_log'::regclass)", [partition])).rowCount);
        if (waits) break;
        assert.ok(Date.now() < deadline, `the prune never waited for ${partition} or event_log`);
        await sleep(20);
      }
      await blocker.query('ROLLBACK');
      const [pruned, appended] = await Promise.allSettled([pruning, lagging]);
      assert.equal(pruned.status, 'fulfilled', pruned.status === 'rejected' ? String(pruned.reason) : '');
      const stored = idsOf(await pruner.readAfter(0, 100)).sort();
      assert.equal(await pruner.count(), stored.length, `count() agrees with the rows stored (${JSON.stringify(stored)}; the lagging append ${appended.status})`);
      // Every id whose row is gone is free again: sent now by an up-to-date node, it is stored.
      for (const id of ['old-0', 'lagging', 'held']) {
        if (stored.includes(id)) continue;
        const [o] = await pruner.append([ev({ eventId: id, eventTimeSec: tNow })]);
        assert.equal(o!.duplicate, false, `${id}: its row was dropped, yet a new event with its id is refused as a duplicate of seq ${o!.seq}`);
      }
    } finally {
      await blocker.end().catch(() => undefined);
      await Promise.all([pruner.close(), lagger.close()]);
    }
  });

  test('the boundary partition is deleted in chunks, and ids go with their events', async () => {
    const url = await server.createDatabase('chunks');
    const s = await PgEventStore.open({ url, pruneChunk: 7 });
    try {
      await s.append(Array.from({ length: 30 }, (_, i) => ev({ eventId: `c-${i}`, eventTimeSec: T0 - 100 + i })));
      await sleep(20);
      const cutoff = Date.now();
      await sleep(20);
      await s.append([ev({ eventId: 'late' })]);
      assert.deepEqual(await s.prune(T0 - 85, cutoff), { historyRows: 15, events: 30 });
      assert.deepEqual(idsOf(await s.readAfter(0, 100)), ['late']);
      assert.equal(await s.count(), 1);
      const out = await s.append([ev({ eventId: 'c-3' })]);
      assert.equal(out[0]!.duplicate, false, 'the pruned id is free again');
    } finally {
      await s.close();
    }
  });
});

describe('PgEventStore: what is stored', () => {
  test('a lookup is one backward range scan of the history index, newest partition first, and one probe per answer in the log partition it names (EXPLAIN ANALYZE)', async () => {
    const url = await server.createDatabase('explain');
    const s = await PgEventStore.open({ url });
    try {
      await s.append(Array.from({ length: 200 }, (_, i) => ev({ eventTimeSec: T0 + i * 1000, history: [[...ALL], ['EventName', `n${i % 5}`]] })));
      const plan = await withSql(url, async (c) => {
        await c.query('ANALYZE');
        // A few hundred rows are read faster without an index; the plan at scale is what is checked.
        await c.query('SET enable_seqscan = off');
        const r = await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
          SELECT h.t, h.seq, l.record, l.summary
          FROM event_history h JOIN event_log l ON l.account_id = h.account_id AND l.seq = h.seq AND l.ingest_ms = h.ingest_ms
          WHERE h.account_id = $1 AND h.region = $2 AND h.attr = $3 AND h.value = $4
            AND h.t >= GREATEST($5::int8, (SELECT history_cutoff_sec FROM event_state WHERE id = 1)) AND h.t <= $6 AND (h.t, h.seq) < ($7::int8, $8::int8)
          ORDER BY h.t DESC, h.seq DESC LIMIT 5`.replace(/\$(\d)/g, (_, n: string) => ['', `'${A}'`, "'us-east-1'", "'EventName'", "'n3'", String(T0), String(T0 + 300_000), '9007199254740991', '0'][Number(n)]!));
        return r.rows.map((x) => x['QUERY PLAN']).join('\n');
      });
      // Event times span three daily partitions: an ordered Append, newest partition first, each a
      // backward scan of its primary key; the limit is met in the newest one, so the older ones
      // are never executed. No sort anywhere.
      // (Index-only since v4: ingest_ms is in the key.)
      assert.match(plan, /Append \(actual rows=5 loops=1\)\n\s+-> {2}Index Only Scan Backward using event_history_p(\d+)_pkey on event_history_p\1 h_3 \(actual rows=5 loops=1\)/, plan);
      assert.match(plan, /event_history_p\d+ h_1 \(never executed\)/, plan);
      assert.doesNotMatch(plan, /Sort|Seq Scan/, plan);
      // Each answer's record is one index probe, in the log partition its ingest_ms names (pruned
      // at run time: the other one is never executed).
      assert.match(plan, /Index Scan (Backward )?using event_log_p\d+_(pkey|seq_idx) on event_log_p\d+ l_\d \(actual rows=1 loops=5\)/, plan);
      assert.match(plan, /event_log_p\d+ l_\d \(never executed\)/, plan);
      // readAfter's order is the log's key (seq first since v5): no sort, the key of each partition
      // read in order, merged.
      const read = await withSql(url, async (c) => {
        await c.query('SET enable_seqscan = off');
        const r = await c.query<{ 'QUERY PLAN': string }>('EXPLAIN (COSTS OFF) SELECT seq, record, zrecord FROM event_log WHERE seq > 10 ORDER BY seq LIMIT 20');
        return r.rows.map((x) => x['QUERY PLAN']).join('\n');
      });
      assert.match(read, /Index Scan using event_log_p\d+_pkey on event_log_p\d+/, read);
      assert.doesNotMatch(read, /^\s*(-> {2})?Sort$|Seq Scan|Bitmap/m, read);
    } finally {
      await s.close();
    }
  });

  test('a first page whose range ends in the past starts at the range\'s end: it reads no more blocks than a page of a range ending now (pg_stat_statements)', async () => {
    const url = await server.createDatabase('rangeend');
    const s = await PgEventStore.open({ url });
    try {
      // 6,000 entries of one value over one day (one partition): dozens of leaf pages of its key.
      const n = 6000;
      await s.append(Array.from({ length: n }, (_, i) => ev({ eventTimeSec: T0 + Math.floor((i * 86_400) / n) })));
      await withSql(url, (c) => c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements'));
      /** Shared blocks the Event history statement read over 8 lookups (past custom plans, into the generic one). */
      const blocks = async (startSec: number, endSec: number) => {
        await withSql(url, (c) => c.query('SELECT pg_stat_statements_reset()'));
        for (let i = 0; i < 8; i++) {
          const rows = await s.lookup({ accountId: A, region: 'us-east-1', attribute: [...ALL], startSec, endSec, limit: 2 });
          assert.equal(rows.length, 2);
          assert.ok(rows.every((r) => r.t <= endSec && r.t >= startSec));
        }
        return withSql(url, async (c) => Number((await c.query<{ b: string }>(`SELECT sum(shared_blks_hit + shared_blks_read) AS b FROM pg_stat_statements
          WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query LIKE '%FROM event_history%'`)).rows[0]!.b));
      };
      const now = await blocks(T0, T0 + 86_399);
      // The first hour of the day: ~5,750 newer entries of the value that the scan must not step over.
      const past = await blocks(T0, T0 + 3599);
      assert.ok(now > 0);
      assert.ok(past <= now + 16, `a range ending in the past read ${past} blocks in 8 lookups, one ending now ${now}`);
    } finally {
      await s.close();
    }
  });

  test('a page\'s Event history scan is index-only (ingest_ms in the key since v4): after VACUUM it reads no history heap page (EXPLAIN ANALYZE of the store\'s statement, generic plan)', async () => {
    const url = await server.createDatabase('indexonly');
    const s = await PgEventStore.open({ url });
    try {
      // A rare value (every 40th event) among other rows: its rows are far apart in the heap.
      await s.append(Array.from({ length: 2000 }, (_, i) => ev({ eventTimeSec: T0 + i * 10, history: [[...ALL], ['EventName', `n${i % 40}`], ['Username', `u${i}`]] })));
      const plan = await withSql(url, async (c) => {
        await c.query('VACUUM (ANALYZE) event_history');
        // A few thousand rows are read faster without an index; the plan at scale is what is checked.
        await c.query('SET enable_seqscan = off');
        await c.query('SET enable_bitmapscan = off');
        await c.query('SET plan_cache_mode = force_generic_plan');
        await c.query(`PREPARE page(text, text, text, text, int8, int8, int8, int8, int8) AS ${LOOKUP_PAGE_SQL}`);
        const r = await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
          EXECUTE page('${A}', 'us-east-1', 'EventName', 'n7', 0, ${T0 + 86_400}, ${T0 + 86_401}, 0, 21)`);
        return r.rows.map((x) => x['QUERY PLAN']).join('\n');
      });
      assert.match(plan, /Index Only Scan Backward using event_history_p\d+_pkey on event_history_p\d+ \S+ \(actual rows=21 loops=1\)\n(.*\n)*?\s+Heap Fetches: 0\n/, plan);
      assert.doesNotMatch(plan, /Sort|Seq Scan on event_history|Index Scan Backward using event_history/, plan);
    } finally {
      await s.close();
    }
  });

  test('the record is stored compressed by the node (bytea, not compressed again by PostgreSQL), the summary as text; both returned byte for byte', async () => {
    const url = await server.createDatabase('bytes');
    const s = await PgEventStore.open({ url });
    try {
      const json = JSON.stringify({ eventID: 'z', pad: 'abc'.repeat(5000), u: 'ü\u2028\u001e', eventName: 'GetObject' });
      const summary = JSON.stringify({ EventId: 'z', EventName: 'GetObject' });
      await s.append([ev({ eventId: 'z', json, summary, history: [[...ALL], ['EventName', 'GetObject']] })]);
      const row = await withSql(url, async (c) => (await c.query<{ record: string | null; zrecord: Buffer; summary: string; method: string | null; bytes: number }>(
        'SELECT record, zrecord, summary, pg_column_compression(zrecord) AS method, record_bytes AS bytes FROM event_log')).rows[0]!);
      assert.equal(row.record, null);
      assert.equal(row.method, null, 'PostgreSQL does not compress it again');
      assert.ok(row.zrecord.length < Buffer.byteLength(json) / 20, `${row.zrecord.length} bytes stored for ${Buffer.byteLength(json)}`);
      assert.equal(row.summary, summary);
      assert.equal(row.bytes, Buffer.byteLength(json));
      const [found] = await s.lookup({ accountId: A, region: 'us-east-1', attribute: ['EventName', 'GetObject'], startSec: 0, endSec: 4e9, limit: 10 });
      assert.equal(found!.json, json);
      assert.equal(found!.summary, summary);
      assert.equal((await s.readAfter(0, 10))[0]!.json, json);
    } finally {
      await s.close();
    }
  });

  test('rows written by schema v1 (record and summary as text) are read as they are after the migration to v2, beside v2 rows; v4 rebuilds the history key and v5 the log key of partitions holding rows', async () => {
    const url = await server.createDatabase('v1rows');
    const pool = openPool(url);
    const v1json = JSON.stringify({ eventID: 'old', n: 'é'.repeat(10) });
    try {
      await migrate(pool, 'events', eventMigrations({ logPartitionMs: DAY_MS, historyPartitionSec: DAY_MS / 1000 }).slice(0, 1));
      const ingest = T0 * 1000;
      await withTransaction(pool, async (c) => {
        await ensurePartitions(c, 'event_log', [partitionStart(ingest, DAY_MS)], DAY_MS);
        await ensurePartitions(c, 'event_history', [partitionStart(T0, DAY_MS / 1000)], DAY_MS / 1000);
        await c.query(`INSERT INTO event_log (account_id, seq, ingest_ms, region, event_id, event_time, in_history, summary, record)
          VALUES ($1, 1, $2, 'us-east-1', 'old', $3, true, '{"EventId":"old"}', $4)`, [A, ingest, T0, v1json]);
        await c.query("INSERT INTO event_ids VALUES ($1, 'old', 1, $2)", [A, ingest]);
        await c.query("INSERT INTO event_history VALUES ($1, 'us-east-1', 'EventName', 'Old', $2, 1, $3)", [A, T0, ingest]);
        await c.query('UPDATE event_state SET last_seq = 1, events = 1');
      }, { operation: 'test' });
    } finally {
      await pool.end();
    }
    const s = await PgEventStore.open({ url, nowMs: () => T0 * 1000 + 1000 });
    try {
      const newJson = JSON.stringify({ eventID: 'new', n: 'x'.repeat(10) });
      await s.append([ev({ eventId: 'new', json: newJson })]);
      const [old] = await s.lookup({ accountId: A, region: 'us-east-1', attribute: ['EventName', 'Old'], startSec: 0, endSec: 4e9, limit: 10 });
      assert.equal(old!.json, v1json);
      assert.equal(old!.summary, '{"EventId":"old"}');
      assert.equal((await s.lookup({ accountId: A, region: 'us-east-1', attribute: ['EventId', 'old'], startSec: 0, endSec: 4e9, limit: 10 }))[0]!.json, v1json);
      assert.deepEqual((await s.readAfter(0, 10)).map((e) => e.json), [v1json, newJson]);
      // maxBytes counts a v1 row by its text and a v2 row by its record's UTF-8 length.
      assert.deepEqual((await s.readAfter(0, 10, undefined, Buffer.byteLength(v1json) + Buffer.byteLength(newJson) - 1)).map((e) => e.json), [v1json]);
      assert.equal((await s.readAfter(0, 10, undefined, Buffer.byteLength(v1json) + Buffer.byteLength(newJson))).length, 2);
      assert.deepEqual((await s.append([ev({ eventId: 'old' })]))[0], { seq: 1, duplicate: true });
      // v4 rebuilt the key of the partition that held the v1 row, ingest_ms INCLUDEd.
      const key = await withSql(url, async (c) => (await c.query<{ indexdef: string }>('SELECT indexdef FROM pg_indexes WHERE indexname = $1', [`event_history_p${partitionStart(T0, DAY_MS / 1000)}_pkey`])).rows[0]?.indexdef);
      assert.match(key ?? '', /\(account_id, region, attr, value, t, seq\) INCLUDE \(ingest_ms\)$/);
      // v5 rebuilt the key of the log partition that held the v1 row, seq first, and dropped its
      // seq index: the partition's B-trees are its key alone (and the BRIN on ingest_ms).
      const logIndexes = await withSql(url, async (c) => (await c.query<{ indexdef: string }>('SELECT indexdef FROM pg_indexes WHERE tablename = $1 ORDER BY indexname', [`event_log_p${partitionStart(T0 * 1000, DAY_MS)}`])).rows.map((r) => r.indexdef));
      assert.equal(logIndexes.length, 2, logIndexes.join('\n'));
      assert.match(logIndexes[0]!, /USING brin \(ingest_ms\)$/);
      assert.match(logIndexes[1]!, /_pkey ON .* USING btree \(seq, account_id, ingest_ms\)$/);
    } finally {
      await s.close();
    }
  });

  test('long and NUL-bearing ids and values are stored as a hash, found and deduplicated alike; lone surrogates do not fail an append', async () => {
    const s = await PgEventStore.open({ url: await server.createDatabase('keys') });
    try {
      const long = 'r'.repeat(5000);
      const nul = 'a\u0000b';
      const lone = 'x\ud800y';
      assert.notEqual(keyText(long), long);
      await s.append([ev({ eventId: `id-${long}`, history: [[...ALL], ['ResourceName', long], ['Username', nul], ['EventName', lone]] }), ev({ eventId: nul })]);
      const q = (attribute: readonly [string, string]) => s.lookup({ accountId: A, region: 'us-east-1', attribute: [...attribute], startSec: 0, endSec: 4e9, limit: 10 });
      assert.equal((await q(['ResourceName', long])).length, 1);
      assert.equal((await q(['ResourceName', long.slice(1)])).length, 0);
      assert.equal((await q(['Username', nul])).length, 1);
      assert.equal((await q(['EventId', nul])).length, 1);
      assert.equal((await q(['EventName', lone])).length, 1, 'a lone surrogate is stored as U+FFFD and found the same way');
      const again = await s.append([ev({ eventId: nul }), ev({ eventId: `id-${long}` })]);
      assert.deepEqual(again.map((o) => o.duplicate), [true, true]);
    } finally {
      await s.close();
    }
  });

  test('Event history values with the characters of an array literal (quotes, backslashes, braces, commas, spaces, NULL) are stored and found as they are', async () => {
    const s = await PgEventStore.open({ url: await server.createDatabase('arrlit') });
    try {
      const values = ['a"b', 'a\\b', '\\', '"', '{x,y}', 'a, b', ' lead and trail ', 'NULL', '', 'caf\u00e9 \u{1F600}', '\\"{}'];
      await s.append(values.map((v, i) => ev({ eventId: `arr-${i}`, history: [[...ALL], ['Username', v]] })));
      for (const [i, v] of values.entries()) {
        const got = await s.lookup({ accountId: A, region: 'us-east-1', attribute: ['Username', v], startSec: 0, endSec: 4e9, limit: 10 });
        assert.deepEqual(idsOf(got), [`arr-${i}`], `value ${JSON.stringify(v)}`);
      }
      // The events' own fields travel as array literals too: event ids and regions with those characters.
      const odd = ['e"1', 'e\\2', '{e,3}', 'NULL', ' e 5 '];
      const out = await s.append(odd.map((id, i) => ev({ eventId: id, region: i % 2 ? 'r"\\{,}' : 'us-east-1', history: [[...ALL], ['EventName', 'Odd']] })));
      assert.ok(out.every((o) => !o.duplicate));
      assert.deepEqual(idsOf(await s.lookup({ accountId: A, region: 'us-east-1', attribute: ['EventId', '{e,3}'], startSec: 0, endSec: 4e9, limit: 10 })), ['{e,3}']);
      assert.deepEqual(idsOf(await s.lookup({ accountId: A, region: 'r"\\{,}', attribute: ['EventName', 'Odd'], startSec: 0, endSec: 4e9, limit: 10 })).sort(), ['NULL', 'e\\2'].sort());
      assert.ok((await s.append(odd.map((id) => ev({ eventId: id })))).every((o) => o.duplicate));
    } finally {
      await s.close();
    }
  });

  test('a record given as its UTF-8 (AppendInput.utf8, as the bulk endpoint admits it) is stored from those bytes: its text is never asked for', async () => {
    const s = await PgEventStore.open({ url: await server.createDatabase('utf8in') });
    try {
      const json = JSON.stringify({ eventID: 'u8', note: 'ü€😀 \u2028' });
      const input = { ...ev({ eventId: 'u8', history: [[...ALL], ['EventName', 'U8']] }), utf8: Buffer.from(json) } as AppendInput;
      Object.defineProperty(input, 'json', { get: () => assert.fail('the store asked for the record\'s text') });
      await s.append([input]);
      const [found] = await s.lookup({ accountId: A, region: 'us-east-1', attribute: ['EventName', 'U8'], startSec: 0, endSec: 4e9, limit: 10 });
      assert.equal(found!.json, json);
      assert.equal((await s.readAfter(0, 10))[0]!.json, json);
    } finally {
      await s.close();
    }
  });
});

describe('PgEventStore: large appends', () => {
  test('prepare (records compressed ahead of their append) changes nothing stored: a prepared batch appends as an unprepared one; a batch prepared and never appended stores nothing', async () => {
    const url = await server.createDatabase('prepare');
    const s = await PgEventStore.open({ url });
    try {
      const big = 'x'.repeat(3000);
      const batch = Array.from({ length: 2500 }, (_, i) => ev({ eventId: `pre-${i}`, json: JSON.stringify({ eventID: `pre-${i}`, pad: i % 7 ? '' : big }), summary: i % 2 ? `{"s":${i}}` : undefined }));
      s.prepare(batch);
      s.prepare([ev({ eventId: 'never-appended' })]);
      // Half of it appended at once (prepare still under way), the rest after prepare finished.
      const first = await s.append(batch.slice(0, 1250));
      await sleep(50);
      const second = await s.append([...batch.slice(1250), batch[0]!]);
      assert.deepEqual([...first, ...second].map((o) => o.duplicate), [...batch.map(() => false), true]);
      const stored = await s.readAfter(0, 5000);
      assert.deepEqual(stored.map((r) => r.json), batch.map((e) => e.json), 'every record byte for byte, in order, once');
      const [one] = await s.lookup({ accountId: A, region: 'us-east-1', attribute: ['EventId', 'pre-3'], startSec: 0, endSec: 4e9, limit: 1 });
      assert.equal(one?.summary, '{"s":3}');
      assert.equal(await s.count(), 2500);
    } finally {
      await s.close();
    }
  });

  test('an append of several insert slices reports repeats and stored duplicates across slices, seqs growing', async () => {
    const s = await PgEventStore.open({ url: await server.createDatabase('slices') });
    try {
      const [old] = await s.append([ev({ eventId: 'stored-before' })]);
      const batch = Array.from({ length: 2500 }, (_, i) => ev({ eventId: `s-${i}` }));
      batch[1500] = ev({ eventId: 's-10', json: JSON.stringify({ eventID: 's-10', variant: 'repeat' }) });
      batch[2100] = ev({ eventId: 'stored-before' });
      batch[2200] = ev({ eventId: 's-1500-never' });
      batch[2300] = ev({ eventId: 's-1500-never' });
      const out = await s.append(batch);
      assert.deepEqual(out[1500], { seq: out[10]!.seq, duplicate: true }, 'a repeat of an event of the first slice');
      assert.deepEqual(out[2100], { seq: old!.seq, duplicate: true }, 'an event stored before');
      assert.deepEqual(out[2300], { seq: out[2200]!.seq, duplicate: true }, 'a repeat within the third slice');
      assert.equal(out[2200]!.duplicate, false);
      const fresh = out.filter((o) => !o.duplicate).map((o) => o.seq);
      assert.equal(fresh.length, 2497);
      assert.ok(fresh.every((x, i) => i === 0 || x > fresh[i - 1]!), 'seqs grow with the batch order');
      assert.equal(await s.count(), 2498);
      const rows = await s.readAfter(0, 10_000);
      assert.equal(JSON.parse(rows.find((r) => r.seq === out[10]!.seq)!.json).variant, undefined, 'the first occurrence is kept');
    } finally {
      await s.close();
    }
  });
});

describe('PgEventStore: the database goes away', () => {
  test('PostgreSQL killed mid-append: the append rejects with StoreUnavailableError, nothing half-written; appends succeed once it is back', async () => {
    const own = await startPostgres();
    let s: EventStore | undefined;
    try {
      const url = await own.createDatabase('crash');
      s = await PgEventStore.open({ url, poolOptions: { connectionTimeoutMs: 2000 } });
      await s.append([ev({ eventId: 'before' })]);
      const big = Array.from({ length: 20_000 }, (_, i) => ev({ eventId: `lost-${i}`, json: JSON.stringify({ eventID: `lost-${i}`, pad: 'x'.repeat(2000) }) }));
      const appending = s.append(big);
      await sleep(150);
      await own.kill();
      await assert.rejects(appending, StoreUnavailableError);
      await assert.rejects(s.append([ev({ eventId: 'while-down' })]), StoreUnavailableError);
      await own.restart();
      let out;
      for (let i = 0; ; i++) {
        try {
          out = await s.append([ev({ eventId: 'after' })]);
          break;
        } catch (err) {
          assert.ok(err instanceof StoreUnavailableError, String(err));
          if (i > 20) throw err;
          await sleep(200);
        }
      }
      assert.equal(out[0]!.duplicate, false);
      const ids = idsOf(await s.readAfter(0, 100_000));
      assert.ok(ids[0] === 'before' && ids.at(-1) === 'after', ids.slice(0, 3).join());
      assert.ok(ids.length === 2 || ids.length === 20_002, `the killed append is all there or not at all (${ids.length} events)`);
      assert.equal(await s.count(), ids.length);
    } finally {
      await s?.close().catch(() => undefined);
      await own.destroy();
    }
  });
});
