/**
 * What each LookupEvents case of the bench costs PostgreSQL, counted rather than timed (issue 12,
 * docs/performance.md "Issue 12, part 10"): the cases' inputs of bench/lookup.ts (same seeds),
 * mapped to store queries as LookupEvents maps them (src/history/lookup-events.ts: attribute,
 * range, MaxResults 50 + 1), run through PgEventStore.lookup on the cached bulk-loaded dataset
 * (bench/pg-bulk-load.ts); per case, from pg_stat_statements: the shared blocks each lookup's
 * statements touched (hit + read) and read from outside shared_buffers, and PostgreSQL's execution
 * time. Blocks do not depend on the machine's load, which timings on a shared 2-core machine do.
 * The dataset's database is not changed: the extension lives in the cluster's `postgres`
 * database, whose view shows every database's statements.
 *
 *   node bench/pg-lookup-blocks.ts [events=1000000] [samples=300]   (JSON on stdout)
 */
import pg from 'pg';
import { ALL_MANAGEMENT, DAY_MS } from '../src/core/index.ts';
import { lookupAttribute } from '../src/history/lookup-events.ts';
import { PgEventStore } from '../src/stores/postgres/index.ts';
import type { HistoryQuery } from '../src/stores/event-store.ts';
import { normalizeContext } from './dataset.ts';
import { LOOKUP_CASES, makeInputs } from './lookup.ts';
import { log, round, summarize } from './lib.ts';
import { benchPgSettings, ensurePgDataset } from './pg-bulk-load.ts';

const n = Number(process.argv[2] ?? 1_000_000);
const samples = Number(process.argv[3] ?? 300);
/** The bench server's Event history retention (bench/lib.ts) and page size. */
const RETENTION_DAYS = 36500;
const MAX_RESULTS = 50;

const { server, url, manifest } = await ensurePgDataset(n, { ...benchPgSettings(), shared_preload_libraries: 'pg_stat_statements' });
const admin = new pg.Client({ connectionString: url.replace(/\/[^/]+$/, '/postgres') });
const store = await PgEventStore.open({ url });
const out: Record<string, unknown> = {};
try {
  await admin.connect();
  await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  const dbid = (await admin.query<{ oid: number }>('SELECT oid FROM pg_database WHERE datname = $1', [manifest.database])).rows[0]!.oid;
  const nowMs = Date.now();
  const ctx = normalizeContext(manifest.params);
  const oldestSec = Math.floor((nowMs - RETENTION_DAYS * DAY_MS) / 1000);
  for (const name of LOOKUP_CASES) {
    const queries: HistoryQuery[] = makeInputs(manifest.params, name, samples, 0xbeef + name.length * 7919).map((input) => {
      const a = input.LookupAttributes?.[0];
      return {
        accountId: ctx.defaultAccountId, region: ctx.defaultRegion,
        attribute: a ? lookupAttribute('management', a.AttributeKey, a.AttributeValue) : ALL_MANAGEMENT,
        startSec: Math.max(Math.ceil(input.StartTime ?? oldestSec), oldestSec), endSec: Math.floor(input.EndTime ?? nowMs / 1000), limit: MAX_RESULTS + 1,
      };
    });
    // Each connection of the store's pool past its custom plans, into the generic one, before counting.
    for (const q of queries.slice(0, 40)) await store.lookup(q);
    await admin.query('SELECT pg_stat_statements_reset()');
    const ms: number[] = [];
    let rows = 0;
    for (const q of queries) {
      const t0 = performance.now();
      rows += (await store.lookup(q)).length;
      ms.push(performance.now() - t0);
    }
    const s = (await admin.query<{ calls: string; hit: string; read: string; exec: number }>(`
      SELECT sum(calls) AS calls, sum(shared_blks_hit) AS hit, sum(shared_blks_read) AS read, sum(total_exec_time) AS exec
      FROM pg_stat_statements WHERE dbid = $1`, [dbid])).rows[0]!;
    const hit = Number(s.hit);
    const read = Number(s.read);
    out[name] = {
      rowsPerLookup: round(rows / samples, 1), statementsPerLookup: round(Number(s.calls) / samples, 2),
      blocksPerLookup: round((hit + read) / samples, 1), readPerLookup: round(read / samples, 1),
      pgExecMsPerLookup: round(s.exec / samples, 3), lookupMs: summarize(ms),
    };
    log(`blocks ${n}: ${name} ${round((hit + read) / samples, 1)} blocks a lookup (${round(read / samples, 1)} read), PostgreSQL ${round(s.exec / samples, 3)} ms, ${round(rows / samples, 1)} rows`);
  }
} finally {
  await store.close();
  await admin.end().catch(() => undefined);
  await server.stop();
  await server.destroy();
}
process.stdout.write(`${JSON.stringify({ events: n, samples, schemaVersion: manifest.schemaVersion, cases: out }, null, 2)}\n`);
