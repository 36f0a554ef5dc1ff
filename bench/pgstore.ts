/**
 * In-process bench of the event store drivers side by side (issue 12): the same generated records
 * (bench/gen.ts, normalised and mapped as POST /ingest does) appended in the same batches to a
 * SqliteEventStore and to a PgEventStore (a real PostgreSQL 15 started by test/helpers/postgres.ts
 * in a temp dir, fsync on, synchronous_commit on), batch by batch in turn, so both see the same
 * machine load; then LookupEvents-shaped lookups (limit 50) on both, interleaved. Beside them, the
 * fsync floor of the same disk, measured in the same run.
 *
 *   node bench/pgstore.ts                  (or BENCH_ONLY=pgstore npm run bench)
 *   BENCH_PG_EVENTS    events appended to each store (default 1000000)
 *   BENCH_PG_BATCH     events per append (default 1000)
 *   BENCH_PG_SAMPLES   timed lookups per case and store (default 500; warm-up 50)
 *   BENCH_PG_BASELINE  path of another PgEventStore module (e.g. main's, copied out with
 *                      `git show`): appended to and looked up as a third store, "postgres-baseline",
 *                      in a database of its own on the same server: before/after in one run
 *
 * Prints one JSON document on stdout; progress on stderr. Figures: append events/s (the time
 * spent inside append only: generation is not counted), bytes per event (SQLite: its files;
 * PostgreSQL: tables, indexes and TOAST of the event store, and the WAL written by its appends:
 * the WAL position read just before and just after each append, the stores taking turns), lookup p50/p99 ms.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { appendInputOf, datasetParams, filesOf, normalizeContext, sumBytes } from './dataset.ts';
import { ACCOUNT_ID, lookupKeys, Rng } from './gen.ts';
import { fsyncRate } from './floors.ts';
import { log, round, summarize } from './lib.ts';
import { startPostgres } from '../test/helpers/postgres.ts';
import { SqliteEventStore } from '../src/stores/sqlite/index.ts';
import { PgEventStore } from '../src/stores/postgres/index.ts';
import type { AppendInput, EventStore, HistoryQuery, LookupAttribute } from '../src/stores/index.ts';

const env = process.env;
const num = (name: string, dflt: number) => {
  const v = env[name] ? Number(env[name]) : dflt;
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a whole number > 0, not ${env[name]}`);
  return v;
};

interface PgTarget {
  name: string;
  url: string;
  store: EventStore;
  walBytes: number;
}

async function openBaseline(path: string, url: string): Promise<EventStore> {
  const mod = await import(path) as { PgEventStore?: { open(o: { url: string }): Promise<EventStore> } };
  if (!mod.PgEventStore) throw new Error(`BENCH_PG_BASELINE: ${path} exports no PgEventStore`);
  return mod.PgEventStore.open({ url });
}

export async function runPgStore(): Promise<Record<string, unknown>> {
  const events = num('BENCH_PG_EVENTS', 1_000_000);
  const batch = num('BENCH_PG_BATCH', 1000);
  const samples = num('BENCH_PG_SAMPLES', 500);
  const params = datasetParams(events);
  const ctx = normalizeContext(params);
  const dir = mkdtempSync(join(tmpdir(), 'opentrail-bench-pgstore-'));
  const server = await startPostgres();
  const url = await server.createDatabase('bench');
  const sql = new pg.Client({ connectionString: url });
  await sql.connect();
  const sqlite = new SqliteEventStore({ path: join(dir, 'events.db') });
  const pgs: PgTarget[] = [{ name: 'postgres', url, store: await PgEventStore.open({ url }), walBytes: 0 }];
  if (env.BENCH_PG_BASELINE) {
    const baseUrl = await server.createDatabase('bench_baseline');
    pgs.push({ name: 'postgres-baseline', url: baseUrl, store: await openBaseline(env.BENCH_PG_BASELINE, baseUrl), walBytes: 0 });
  }
  const stores: [string, EventStore][] = [['sqlite', sqlite], ...pgs.map((t): [string, EventStore] => [t.name, t.store])];
  const names = stores.map(([n]) => n);
  const lsn = async () => (await sql.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
  try {
    const fsync = fsyncRate(dir);
    const appendMs: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
    let recordBytes = 0;
    const t0 = performance.now();
    for (let from = 0; from < events; from += batch) {
      const inputs: AppendInput[] = [];
      for (let i = from; i < Math.min(events, from + batch); i++) inputs.push(appendInputOf(params, i, ctx));
      for (const e of inputs) recordBytes += Buffer.byteLength(e.json);
      // Alternate which store goes first, so neither always finds the caches the other warmed.
      const order = (from / batch) % 2 ? [...stores].reverse() : stores;
      for (const [name, s] of order) {
        const target = pgs.find((t) => t.name === name);
        const before = target ? await lsn() : undefined;
        const s0 = performance.now();
        await s.append(inputs);
        appendMs[name]! += performance.now() - s0;
        if (target) target.walBytes += Number((await sql.query<{ b: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::int8 AS b', [before])).rows[0]!.b);
      }
      if ((from / batch) % 50 === 0) log(`pgstore: ${from + inputs.length} / ${events} events (${Math.round((performance.now() - t0) / 1000)} s)`);
    }
    await sql.query('CHECKPOINT');
    const sizes: Record<string, { total: number; tables: Record<string, number> }> = {};
    for (const t of pgs) {
      const c = new pg.Client({ connectionString: t.url });
      await c.connect();
      try {
        const perTable = (await c.query<{ t: string; b: string }>(`
          SELECT CASE WHEN relname LIKE 'event\\_log\\_p%' THEN 'event_log' WHEN relname LIKE 'event\\_history\\_p%' THEN 'event_history' ELSE relname END AS t,
            sum(pg_total_relation_size(oid))::int8 AS b FROM pg_class WHERE relkind = 'r' AND relname LIKE 'event\\_%' GROUP BY 1`)).rows;
        sizes[t.name] = { total: perTable.reduce((a, r) => a + Number(r.b), 0), tables: Object.fromEntries(perTable.map((r) => [r.t, Math.round(Number(r.b) / events)])) };
      } finally {
        await c.end();
      }
    }

    // Lookups: the attributes of random records of the dataset, over its whole time span.
    const rng = new Rng(7);
    const startSec = Math.floor((params.endMs - params.spanMs) / 1000) - 1;
    const endSec = Math.ceil(params.endMs / 1000) + 1;
    const cases: Record<string, () => LookupAttribute> = {
      EventId: () => ['EventId', lookupKeys(params, rng.int(events)).eventId],
      EventName: () => ['EventName', lookupKeys(params, rng.int(events)).eventName],
      Username: () => {
        for (;;) {
          const u = lookupKeys(params, rng.int(events)).username;
          if (u) return ['Username', u];
        }
      },
      ResourceName: () => {
        for (;;) {
          const r = lookupKeys(params, rng.int(events)).resourceName;
          if (r) return ['ResourceName', r];
        }
      },
    };
    const lookups: Record<string, Record<string, ReturnType<typeof summarize> & { rowsMean: number }>> = Object.fromEntries(names.map((n) => [n, {}]));
    for (const [kind, attr] of Object.entries(cases)) {
      const lat: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
      const rows: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
      for (let i = 0; i < samples + 50; i++) {
        const q: HistoryQuery = { accountId: ACCOUNT_ID, region: 'us-east-1', attribute: attr(), startSec, endSec, limit: 50 };
        for (const [name, s] of i % 2 ? [...stores].reverse() : stores) {
          const s0 = performance.now();
          const got = await s.lookup(q);
          if (i >= 50) {
            lat[name]!.push(performance.now() - s0);
            rows[name]! += got.length;
          }
        }
      }
      for (const name of names) lookups[name]![kind] = { ...summarize(lat[name]!), rowsMean: round(rows[name]! / samples, 1) };
      log(`pgstore: lookups by ${kind}: ${names.map((n) => `${n} p50 ${lookups[n]![kind]!.p50} ms`).join(', ')}`);
    }
    await sqlite.close();
    const sqliteBytes = sumBytes(filesOf(dir));
    return {
      events, batch, recordBytesMean: Math.round(recordBytes / events),
      floor: { fsync },
      append: Object.fromEntries(names.map((n) => [n, { eventsPerSecond: Math.round(events / (appendMs[n]! / 1000)), msPerBatch: round(appendMs[n]! / Math.ceil(events / batch), 2) }])),
      bytesPerEvent: {
        sqlite: Math.round(sqliteBytes / events),
        ...Object.fromEntries(pgs.flatMap((t) => [
          [t.name, Math.round(sizes[t.name]!.total / events)],
          [`${t.name}Tables`, sizes[t.name]!.tables],
          [`${t.name}WalWritten`, Math.round(t.walBytes / events)],
        ])),
      },
      lookups,
    };
  } finally {
    await sqlite.close().catch(() => undefined);
    for (const t of pgs) await t.store.close().catch(() => undefined);
    await sql.end().catch(() => undefined);
    await server.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runPgStore();
  process.stdout.write(`${JSON.stringify({ date: new Date().toISOString(), pgstore: result }, null, 2)}\n`);
}
