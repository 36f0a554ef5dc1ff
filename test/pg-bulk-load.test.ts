/**
 * bench/pg-bulk-load.ts writes exactly what PgEventStore.append writes (issue 12): the same 3k
 * generated events appended through the write path (bench/dataset.ts appendAll, batches of
 * 5,000) into one database and bulk-loaded with COPY into another, on one real PostgreSQL. Then:
 * every row of the log, Event history and ids tables (all columns but ingest_ms, which the load
 * stamps once), the state row, the indexes and partitions, and every lookup attribute's pages
 * through PgEventStore.lookup: the same rows in the same order.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendAll, datasetKey, datasetParams } from '../bench/dataset.ts';
import { GENERATOR_VERSION } from '../bench/gen.ts';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, openPool } from '../src/stores/postgres/index.ts';
import { eventMigrations } from '../src/stores/postgres/pg-event-schema.ts';
import { bulkLoad, copyIn, eventsSchemaVersion, LOADED_XID, migrateOlderPgDataset, PG_DATABASE, readPgDatasetState, rewindPgDataset, staleManifest, type PgDatasetManifest } from '../bench/pg-bulk-load.ts';
import { LOOKUP_CASES, makeInputs } from '../bench/lookup.ts';
import { ACCOUNT_ID, REGION } from '../bench/gen.ts';
import { ALL_MANAGEMENT } from '../src/core/index.ts';
import { PgEventStore } from '../src/stores/postgres/index.ts';
import type { HistoryQuery, HistoryRow, LookupAttribute } from '../src/stores/index.ts';
import { startPostgres, withSql, type StartedPostgres } from './helpers/postgres.ts';

const EVENTS = 3_000;
const params = datasetParams(EVENTS);
let server: StartedPostgres;
let appendedUrl: string;
let loadedUrl: string;

before(async () => {
  server = await startPostgres();
  [appendedUrl, loadedUrl] = await Promise.all([server.createDatabase('appended'), server.createDatabase('loaded')]);
  const store = await PgEventStore.open({ url: appendedUrl });
  try {
    assert.equal(await appendAll(store, params, 0, () => undefined), EVENTS);
  } finally {
    await store.close();
  }
  await withSql(appendedUrl, (c) => c.query('VACUUM ANALYZE'));
  const r = await bulkLoad(loadedUrl, params, { workers: 2 });
  assert.equal(r.events, EVENTS);
});

after(() => server?.destroy());

/** Count and an md5 of a table's rows (ingest_ms left out) in a total order. */
const TABLE_DIGESTS = {
  event_log: `SELECT count(*)::int AS n, md5(string_agg(concat_ws('|', account_id, seq, region, event_id, event_time, in_history, coalesce(summary, '<null>'), coalesce(record, '<null>'), encode(zrecord, 'hex'), record_bytes), E'\\n' ORDER BY seq)) AS h FROM event_log`,
  event_history: `SELECT count(*)::int AS n, md5(string_agg(concat_ws('|', account_id, region, attr, value, t, seq), E'\\n' ORDER BY account_id, region, attr, value, t, seq)) AS h FROM event_history`,
  event_ids: `SELECT count(*)::int AS n, md5(string_agg(concat_ws('|', account_id, event_id, seq), E'\\n' ORDER BY account_id, event_id)) AS h FROM event_ids`,
  event_state: `SELECT 1 AS n, concat_ws('|', last_seq, events, history_cutoff_sec, log_partition_ms, history_partition_sec) AS h FROM event_state`,
  // Migration 3: the sequence's position, and the count (the state row's and event_counts' slots:
  // appends pick slots at random, so the total is compared, not the rows).
  event_seq: `SELECT 1 AS n, concat_ws('|', last_value, is_called) AS h FROM event_seq`,
  event_count: `SELECT 1 AS n, ((SELECT events FROM event_state WHERE id = 1) + (SELECT coalesce(sum(events), 0) FROM event_counts))::text AS h`,
} as const;

/** The indexes and constraints of the event store's parent tables and of the Event history partitions of the dataset's days, and those partitions' storage parameters. */
const SCHEMA = `
  SELECT string_agg(d, E'\\n' ORDER BY d) AS h FROM (
    SELECT tablename || ': ' || indexdef AS d FROM pg_indexes
    WHERE schemaname = 'public' AND (tablename IN ('event_log', 'event_history', 'event_ids', 'event_state') OR tablename ~ '^event_history_p[0-9]+$' AND substring(tablename FROM '[0-9]+$')::int8 < $1)
    UNION ALL
    SELECT conrelid::regclass::text || ': ' || pg_get_constraintdef(oid) FROM pg_constraint
    WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text IN ('event_log', 'event_history', 'event_ids', 'event_state')
    UNION ALL
    SELECT 'partition ' || c.relname || ' ' || pg_get_expr(c.relpartbound, c.oid) || ' ' || coalesce(array_to_string(c.reloptions, ','), '') FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'event_history'::regclass AND substring(c.relname FROM '[0-9]+$')::int8 < $1
  ) x`;

test('the loaded tables hold row for row what the write path stored', async () => {
  for (const [table, sql] of Object.entries(TABLE_DIGESTS)) {
    const [a, b] = await Promise.all([appendedUrl, loadedUrl].map((u) => withSql(u, async (c) => (await c.query<{ n: number; h: string }>(sql)).rows[0]!)));
    assert.ok(a!.n > 0, `${table}: the appended store is empty`);
    assert.deepEqual(b, a, `${table} differs between the appended and the loaded store`);
  }
  const history = await withSql(loadedUrl, async (c) => (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM event_history')).rows[0]!.n);
  assert.ok(history > EVENTS * 5, `only ${history} Event history rows for ${EVENTS} events`);
  // The one column that legitimately differs besides ingest_ms: xid. The write path keeps its
  // append's transaction id (set, and settled now); the loader writes FrozenTransactionId on
  // every row, below any transaction's, and its counts sit in event_counts' own slots.
  const xids = `SELECT count(*)::int AS n, count(*) FILTER (WHERE xid = '${LOADED_XID}')::int AS frozen,
    count(*) FILTER (WHERE xid IS NOT NULL AND xid < pg_snapshot_xmin(pg_current_snapshot()))::int AS settled FROM event_log`;
  const [ax, bx] = await Promise.all([appendedUrl, loadedUrl].map((u) => withSql(u, async (c) => (await c.query<{ n: number; frozen: number; settled: number }>(xids)).rows[0]!)));
  assert.deepEqual(ax, { n: EVENTS, frozen: 0, settled: EVENTS });
  assert.deepEqual(bx, { n: EVENTS, frozen: EVENTS, settled: EVENTS });
  const slots = await withSql(loadedUrl, async (c) => (await c.query<{ slot: number }>('SELECT slot::int FROM event_counts ORDER BY slot')).rows.map((r) => r.slot));
  assert.deepEqual(slots, Array.from({ length: 16 }, (_, i) => i));
});

test('the loaded store reads, counts and numbers as the appended one: readAfter, count, lastSeq, the next append', async () => {
  const [appended, loaded] = await Promise.all([PgEventStore.open({ url: appendedUrl }), PgEventStore.open({ url: loadedUrl })]);
  try {
    const [a, b] = await Promise.all([appended.readAfter(0, EVENTS + 10), loaded.readAfter(0, EVENTS + 10)]);
    assert.equal(a.length, EVENTS);
    assert.deepEqual(b, a);
    assert.deepEqual([await loaded.count(), await loaded.lastSeq()], [EVENTS, EVENTS]);
    assert.deepEqual([await appended.count(), await appended.lastSeq()], [EVENTS, EVENTS]);
  } finally {
    await Promise.all([appended.close(), loaded.close()]);
  }
});

test('the loaded store has the write path\'s indexes, constraints and data partitions', async () => {
  const endSec = Math.ceil(params.endMs / 1000) + 86_400;
  const [a, b] = await Promise.all([appendedUrl, loadedUrl].map((u) => withSql(u, async (c) => (await c.query<{ h: string }>(SCHEMA, [endSec])).rows[0]!.h)));
  assert.match(a!, /event_history_p\d+: CREATE UNIQUE INDEX/);
  assert.match(a!, /event_ids: PRIMARY KEY \(account_id, event_id\)/);
  assert.equal(b, a);
});

test('every lookup attribute answers the same pages from both stores', async () => {
  const [appended, loaded] = await Promise.all([PgEventStore.open({ url: appendedUrl }), PgEventStore.open({ url: loadedUrl })]);
  try {
    const startSec = Math.floor((params.endMs - params.spanMs) / 1000) - 1;
    const endSec = Math.ceil(params.endMs / 1000) + 1;
    const queries: { attribute: LookupAttribute; startSec: number; endSec: number }[] = [];
    for (const name of LOOKUP_CASES) {
      for (const input of makeInputs(params, name, 12, 0x5eed + name.length)) {
        const a = input.LookupAttributes?.[0];
        queries.push({
          attribute: a ? [a.AttributeKey, a.AttributeValue] : ALL_MANAGEMENT,
          startSec: input.StartTime ?? startSec, endSec: input.EndTime ?? endSec,
        });
      }
    }
    let rows = 0, multiPage = 0;
    for (const q of queries) {
      // Up to three pages of 50, each after the last row of the one before.
      let beforePos: HistoryQuery['before'];
      for (let page = 0; page < 3; page++) {
        const hq: HistoryQuery = { accountId: ACCOUNT_ID, region: REGION, attribute: q.attribute, startSec: q.startSec, endSec: q.endSec, limit: 50, before: beforePos };
        const [a, b] = await Promise.all([appended.lookup(hq), loaded.lookup(hq)]) as [HistoryRow[], HistoryRow[]];
        assert.deepEqual(b, a, `${q.attribute.join('=')} page ${page}`);
        rows += a.length;
        if (a.length < 50) break;
        if (page === 1) multiPage++;
        const last = a.at(-1)!;
        beforePos = { t: last.t, seq: last.seq };
      }
    }
    // The comparison compared something: most queries found rows, and frequent values paged.
    assert.ok(rows > queries.length * 10, `${rows} rows over ${queries.length} queries`);
    assert.ok(multiPage >= 10, `only ${multiPage} queries reached a third page`);
  } finally {
    await Promise.all([appended.close(), loaded.close()]);
  }
});

test('COPY through node-pg reports a bad row as the statement\'s error, and the connection stays usable', async () => {
  await withSql(loadedUrl, async (c) => {
    await c.query('CREATE TEMP TABLE t (a int8, b text)');
    assert.equal(await copyIn(c, 't (a, b)', Buffer.from('1\tone\n2\ttwo\\tand a tab\n')), 2);
    await assert.rejects(copyIn(c, 't (a, b)', Buffer.from('3\tthree\nnot a number\tx\n')), /invalid input syntax for type bigint/);
    const rows = (await c.query<{ a: string; b: string }>('SELECT a::text, b FROM t ORDER BY a')).rows;
    assert.deepEqual(rows, [{ a: '1', b: 'one' }, { a: '2', b: 'two\tand a tab' }]);
  });
});

test('a store that holds events is refused, and a rewind takes a dataset back to its loaded state', async () => {
  await assert.rejects(bulkLoad(loadedUrl, params), /holds events/);
  const describeState = () => withSql(loadedUrl, async (c) => ({
    tables: (await c.query<{ t: string }>("SELECT relname AS t FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p') ORDER BY 1")).rows.map((r) => r.t),
    state: await readPgDatasetState(c),
    digests: await (async () => {
      const out: unknown[] = [];
      for (const sql of Object.values(TABLE_DIGESTS)) out.push((await c.query(sql)).rows[0]);
      return out;
    })(),
  }));
  const loaded = await describeState();
  const manifest = { tables: loaded.tables, state: loaded.state, maxEventTimeSec: Math.ceil(params.endMs / 1000) } as PgDatasetManifest;
  // What a run does: the server's own tables, and events appended now (with Event history).
  const store = await PgEventStore.open({ url: loadedUrl });
  try {
    const [first] = await store.append([{ accountId: ACCOUNT_ID, region: REGION, eventId: 'run-1', eventTimeSec: Math.floor(Date.now() / 1000), json: '{"eventID":"run-1"}', history: [['EventName', 'LookupEvents']] }]);
    // Numbered after the loaded events, and readable at once after them.
    assert.equal(first!.seq, EVENTS + 1);
    assert.deepEqual((await store.readAfter(EVENTS - 1, 10)).map((e) => e.seq), [EVENTS, EVENTS + 1]);
    assert.equal(await store.count(), EVENTS + 1);
  } finally {
    await store.close();
  }
  await withSql(loadedUrl, (c) => c.query('CREATE TABLE control_things (id int PRIMARY KEY)'));
  const run = await describeState();
  assert.notDeepEqual(run.tables, loaded.tables);
  assert.notEqual(run.state.seq, loaded.state.seq);
  assert.notDeepEqual(run.state.counts, loaded.state.counts);
  assert.deepEqual(await rewindPgDataset(loadedUrl, manifest), { events: 1 });
  assert.deepEqual(await describeState(), loaded);
  // Rewound: the next append takes the seq after the loaded ones again.
  const again = await PgEventStore.open({ url: loadedUrl });
  try {
    assert.equal(await again.lastSeq(), EVENTS);
    assert.equal(await again.count(), EVENTS);
  } finally {
    await again.close();
  }
});

test('a cached dataset loaded at another schema or loader version is not reused', () => {
  const good = { schemaVersion: eventsSchemaVersion(), loaderVersion: 2 } as const;
  const fresh = staleManifest({}, EVENTS);
  assert.match(fresh!, /schema version undefined/);
  // A migration-2 manifest (the pg10m12 1M dataset's fields): refused for its schema version.
  assert.match(staleManifest({ ...good, schemaVersion: 2 }, EVENTS)!, new RegExp(`events schema version 2, this code writes ${eventsSchemaVersion()}`));
  assert.match(staleManifest({ ...good, loaderVersion: 1 }, EVENTS)!, /loader version 1/);
});

test('a cached dataset of the previous schema version is migrated in place (as a user\'s database) and renamed, not loaded again', async () => {
  const root = mkdtempSync(join(tmpdir(), 'opentrail-pgmig-'));
  chmodSync(root, 0o755); // PostgreSQL runs as another user when the tests run as root
  const version = eventsSchemaVersion();
  const count = 7;
  const dir = join(root, `${datasetKey(datasetParams(count))}-pg${version}-l2`);
  const old = join(root, `${datasetKey(datasetParams(count))}-pg${version - 1}-l2`);
  mkdirSync(old);
  const older = await startPostgres({ dataDir: join(old, 'pgdata') });
  try {
    await withSql(older.adminUrl, (c) => c.query(`CREATE DATABASE ${PG_DATABASE}`));
    const pool = openPool(older.urlOf(PG_DATABASE));
    try {
      await migrate(pool, 'events', eventMigrations({ logPartitionMs: 86_400_000, historyPartitionSec: 86_400 }).slice(0, version - 1));
    } finally {
      await pool.end();
    }
  } finally {
    await older.stop();
  }
  const manifest: Partial<PgDatasetManifest> = {
    key: datasetKey(datasetParams(count)), events: count, schemaVersion: version - 1, loaderVersion: 2, generatorVersion: GENERATOR_VERSION,
    database: PG_DATABASE, state: { last_seq: '0', events: '0', history_cutoff_sec: '0', probe_ms: '0', seq: '0', counts: [] },
  };
  writeFileSync(join(old, 'manifest.json'), JSON.stringify(manifest));
  try {
    await migrateOlderPgDataset(count, dir, {});
    assert.equal(existsSync(old), false, 'the old directory is renamed');
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as PgDatasetManifest;
    assert.equal(m.schemaVersion, version);
    assert.equal(m.migrated?.from, version - 1);
    assert.equal(staleManifest(m, count), undefined);
    const again = await startPostgres({ dataDir: join(dir, 'pgdata') });
    try {
      const v = await withSql(again.urlOf(PG_DATABASE), async (c) => (await c.query<{ version: number }>("SELECT version FROM opentrail_schema WHERE component = 'events'")).rows[0]?.version);
      assert.equal(v, version);
    } finally {
      await again.stop();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
