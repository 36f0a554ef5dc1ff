/**
 * Candidate shapes of a PostgreSQL lookup page's log fetch, compared in one run on the cached
 * bulk-loaded dataset (bench/pg-bulk-load.ts; issue 12, docs/performance.md "Issue 12, part 13").
 * Each candidate is the page statement (same parameters as LOOKUP_PAGE_SQL, src/stores/postgres/
 * pg-event-store.ts), prepared with the generic plan the store's connections settle on:
 *
 * - `store`: the store's statement (the history rows, then one LATERAL probe of the log per row).
 * - `runs`: the history rows' seqs cut into runs where two are more than RUN_GAP apart, one range
 *   scan of the log per run (partitions pruned per run by its ingest times).
 * - `bitmap`: the seqs grouped by log partition, one bitmap heap scan per partition (heap pages
 *   in physical order, each once, prefetched ahead when effective_io_concurrency > 0).
 *
 * warm: the bench's case inputs (bench/lookup.ts, the seeds of pg-lookup-blocks.ts), each run
 * through every candidate in turn on one connection, the first candidate rotating (the first run
 * of an input reads its pages from outside shared_buffers, the next ones find them there); per case and candidate, PostgreSQL's
 * execution time (EXPLAIN ANALYZE, TIMING OFF) and the shared blocks of the statement.
 * cold (`--cold CASE`): per candidate and round, PostgreSQL stopped, the dataset's files dropped
 * from the OS page cache (`dd iflag=nocache count=0`, this dataset's files only), started again,
 * then SAMPLES lookups of CASE; a candidate `name+setting=value` runs with that session setting
 * (e.g. bitmap+effective_io_concurrency=32).
 *
 *   node bench/pg-lookup-plans.ts [events=1000000] [samples=200]                       (warm)
 *   node bench/pg-lookup-plans.ts [events] [samples] --cold Username store bitmap+effective_io_concurrency=32 ...
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { ALL_MANAGEMENT, DAY_MS } from '../src/core/index.ts';
import { lookupAttribute } from '../src/history/lookup-events.ts';
import { LOOKUP_PAGE_SQL, historyUpperBound, keyText } from '../src/stores/postgres/index.ts';
import type { GenParams } from './gen.ts';
import { normalizeContext } from './dataset.ts';
import { LOOKUP_CASES, makeInputs } from './lookup.ts';
import { log, round, summarize } from './lib.ts';
import { benchPgSettings, ensurePgDataset, pgDatasetDir } from './pg-bulk-load.ts';

const args = process.argv.slice(2);
const coldAt = args.indexOf('--cold');
const [n, samples] = [Number(args[0] ?? 1_000_000), Number(args[1] ?? 200)];
/** The bench server's Event history retention (bench/lib.ts) and page size + 1. */
const RETENTION_DAYS = 36500;
const LIMIT = 51;
/** `runs`: seqs at most this far apart are one range scan. */
const RUN_GAP = 16;

/** The page's Event history rows (index-only since v4): as in LOOKUP_PAGE_SQL. */
const HISTORY = `
  SELECT t, seq, ingest_ms FROM event_history
  WHERE account_id = $1 AND region = $2 AND attr = $3 AND value = $4
    AND t >= GREATEST($5::int8, (SELECT history_cutoff_sec FROM event_state WHERE id = 1)) AND t <= $6 AND (t, seq) < ($7::int8, $8::int8)
  ORDER BY t DESC, seq DESC
  LIMIT $9`;
/** `h` and `l` MATERIALIZED: otherwise the planner may join `h` to the log by seq, a probe per row again. */
const JOINED = `
  SELECT h.t, h.seq, l.record, l.summary, l.zrecord, l.seq IS NOT NULL AS found
  FROM h LEFT JOIN l ON l.seq = h.seq AND l.ingest_ms = h.ingest_ms
  ORDER BY h.t DESC, h.seq DESC`;

export const CANDIDATES: Record<string, string> = {
  store: LOOKUP_PAGE_SQL,
  runs: `
    WITH h AS MATERIALIZED (${HISTORY}
    ), runs AS (
      SELECT min(seq) AS lo, max(seq) AS hi, min(ingest_ms) AS ms_lo, max(ingest_ms) AS ms_hi
      FROM (SELECT seq, ingest_ms, count(*) FILTER (WHERE gap) OVER (ORDER BY seq) AS run
            FROM (SELECT seq, ingest_ms, seq - lag(seq) OVER (ORDER BY seq) > ${RUN_GAP} AS gap FROM h) g) r
      GROUP BY run
    ), l AS MATERIALIZED (
      SELECT l.seq, l.ingest_ms, l.record, l.summary, l.zrecord
      FROM runs JOIN event_log l ON l.seq >= runs.lo AND l.seq <= runs.hi AND l.ingest_ms >= runs.ms_lo AND l.ingest_ms <= runs.ms_hi
      WHERE l.account_id = $1
    )${JOINED}`,
  // The seqs of a partition as two arrays OR-ed: an OR of index conditions has only bitmap paths
  // (a single seq = ANY($x) gets a plain index scan, no prefetch). Pruning by the group's own
  // ingest range, per loop: a seq = ANY(array) alone prunes nothing.
  bitmap: `
    WITH h AS MATERIALIZED (${HISTORY}
    ), g AS (
      SELECT min(ingest_ms) AS lo, max(ingest_ms) AS hi,
        array_agg(seq) FILTER (WHERE seq % 2 = 0) AS even, array_agg(seq) FILTER (WHERE seq % 2 = 1) AS odd
      FROM h GROUP BY ingest_ms / (SELECT log_partition_ms FROM event_state WHERE id = 1)
    ), l AS MATERIALIZED (
      SELECT l.seq, l.ingest_ms, l.record, l.summary, l.zrecord
      FROM g CROSS JOIN LATERAL (
        SELECT seq, ingest_ms, record, summary, zrecord FROM event_log
        WHERE account_id = $1 AND ingest_ms >= g.lo AND ingest_ms <= g.hi AND (seq = ANY(g.even) OR seq = ANY(g.odd))
      ) l
    )${JOINED}`,
};

type Plan = { 'Execution Time': number; Plan: { 'Shared Hit Blocks': number; 'Shared Read Blocks': number } };

/** The page statement's parameters for each of `count` inputs of case `name`. */
function paramsOf(params: GenParams, name: string, count: number): unknown[][] {
  const ctx = normalizeContext(params);
  const nowMs = Date.now();
  return makeInputs(params, name, count, 0xbeef + name.length * 7919).map((input) => {
    const a = input.LookupAttributes?.[0];
    const [key, value] = a ? lookupAttribute('management', a.AttributeKey, a.AttributeValue) : ALL_MANAGEMENT;
    const startSec = Math.max(Math.ceil(input.StartTime ?? 0), Math.floor((nowMs - RETENTION_DAYS * DAY_MS) / 1000));
    const endSec = Math.floor(input.EndTime ?? nowMs / 1000);
    const [t, seq] = historyUpperBound(endSec, Number.MAX_SAFE_INTEGER, 0);
    return [ctx.defaultAccountId, ctx.defaultRegion, key, keyText(value), startSec, endSec, t, seq, LIMIT];
  });
}

/** Runs prepared statement `name` with `values` under EXPLAIN ANALYZE: execution ms and shared blocks (hit, read). */
async function explain(c: pg.Client, name: string, values: unknown[]): Promise<{ ms: number; hit: number; read: number }> {
  const literal = values.map((v) => typeof v === 'string' ? `'${v.replaceAll("'", "''")}'` : String(v)).join(', ');
  const r = await c.query<{ 'QUERY PLAN': Plan[] }>(`EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) EXECUTE ${name}(${literal})`);
  const p = r.rows[0]!['QUERY PLAN'][0]!;
  return { ms: p['Execution Time'], hit: p.Plan['Shared Hit Blocks'], read: p.Plan['Shared Read Blocks'] };
}

async function prepare(c: pg.Client, name: string, sql: string): Promise<void> {
  await c.query('SET plan_cache_mode = force_generic_plan');
  await c.query(`PREPARE ${name}(text, text, text, text, int8, int8, int8, int8, int8) AS ${sql}`);
}

/** Drops every file of the dataset's data directory from the OS page cache. */
function evict(dir: string): void {
  for (const e of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const f = join(dir, e);
    if (statSync(f, { throwIfNoEntry: false })?.isFile()) execFileSync('dd', [`if=${f}`, 'iflag=nocache', 'count=0', 'status=none']);
  }
}

const out: Record<string, unknown> = {};
if (coldAt < 0) {
  const { server, url, manifest } = await ensurePgDataset(n, benchPgSettings());
  const c = new pg.Client({ connectionString: url });
  try {
    await c.connect();
    const names = Object.keys(CANDIDATES);
    for (const name of names) await prepare(c, name, CANDIDATES[name]!);
    for (const kase of LOOKUP_CASES.filter((k) => k !== 'EventId')) {
      const per = Object.fromEntries(names.map((x) => [x, { ms: [] as number[], blocks: 0, read: 0 }]));
      for (const [i, values] of paramsOf(manifest.params, kase, samples).entries()) {
        // Each input's first statement finds its pages outside shared_buffers, the others inside: the order rotates.
        for (const name of [...names.slice(i % names.length), ...names.slice(0, i % names.length)]) {
          const r = await explain(c, name, values);
          per[name]!.ms.push(r.ms);
          per[name]!.blocks += r.hit + r.read;
          per[name]!.read += r.read;
        }
      }
      const base = summarize(per.store!.ms);
      out[kase] = Object.fromEntries(names.map((x) => {
        const s = summarize(per[x]!.ms);
        return [x, { blocksPerLookup: round(per[x]!.blocks / samples, 1), readPerLookup: round(per[x]!.read / samples, 1), execMs: s, p50VsStore: round(s.p50 / base.p50), meanVsStore: round(s.mean / base.mean) }];
      }));
      log(`plans ${n}: ${kase} ${names.map((x) => `${x} ${round(per[x]!.blocks / samples, 1)} blocks, p50 ${summarize(per[x]!.ms).p50} ms`).join('; ')}`);
    }
  } finally {
    await c.end().catch(() => undefined);
    await server.stop();
  }
} else {
  const [kase, ...variants] = args.slice(coldAt + 1);
  if (!kase || variants.length === 0) throw new Error('--cold CASE CANDIDATE[+setting=value...] ...');
  for (const [round_, variant] of variants.entries()) {
    const [name, ...settings] = variant.split('+');
    const sql = CANDIDATES[name!];
    if (!sql) throw new Error(`no candidate ${name}: ${Object.keys(CANDIDATES).join(', ')}`);
    evict(join(pgDatasetDir(n), 'pgdata'));
    const { server, url, manifest } = await ensurePgDataset(n, benchPgSettings());
    const c = new pg.Client({ connectionString: url });
    try {
      await c.connect();
      for (const s of settings) await c.query(`SET ${s}`);
      await prepare(c, 'page', sql);
      const ms: number[] = [];
      let [hit, read] = [0, 0];
      for (const values of paramsOf(manifest.params, kase, samples)) {
        const r = await explain(c, 'page', values);
        ms.push(r.ms);
        hit += r.hit;
        read += r.read;
      }
      out[`${round_}:${variant}`] = { blocksPerLookup: round((hit + read) / samples, 1), readPerLookup: round(read / samples, 1), execMs: summarize(ms) };
      log(`plans ${n} cold: ${kase} ${variant}: ${round((hit + read) / samples, 1)} blocks (${round(read / samples, 1)} read), p50 ${summarize(ms).p50} ms, mean ${summarize(ms).mean} ms`);
    } finally {
      await c.end().catch(() => undefined);
      await server.stop();
    }
  }
}
process.stdout.write(`${JSON.stringify({ events: n, samples, mode: coldAt < 0 ? 'warm' : 'cold', cases: out }, null, 2)}\n`);
