/**
 * BENCH_DB=postgres lookups over a cached, bulk-loaded PostgreSQL dataset (bench/pg-bulk-load.ts;
 * issue 12, docs/performance.md "Issue 12, part 9"): PostgreSQL started on the cached data
 * directory, the same lookup bench as SQLite's (bench/lookup.ts) through one `opentrail serve`
 * node, the database rewound to its loaded state after the run (the server's self-audit events
 * and tables removed); then SQLite's lookups over its cached dataset of the same scale, unless
 * BENCH_PG_SQLITE=0.
 *
 *   BENCH_PG_AUTO_EXPLAIN_MS=N   PostgreSQL's auto_explain logs the plan (ANALYZE, BUFFERS) of every
 *                                statement slower than N ms into bench/out/pg-explain-<events>.log
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDataset, OUT_DIR, removeScratch, scratchCopy, type DatasetManifest } from './dataset.ts';
import { runLookups, type LookupOptions, type LookupResult } from './lookup.ts';
import { log, round } from './lib.ts';
import { benchPgSettings, ensurePgDataset, rewindPgDataset } from './pg-bulk-load.ts';

export interface CachedPgLookups {
  postgres: LookupResult & { build: { seconds: number; eventsPerSecond: number; databaseBytesPerEvent: number; method: 'copy'; tableBytes: Record<string, number> }; settings: Record<string, string> };
  sqlite?: LookupResult;
}

export async function cachedPgLookups(n: number, lookupOpts: LookupOptions, work: string, serverConfig: Record<string, unknown>): Promise<CachedPgLookups> {
  const explainMs = process.env.BENCH_PG_AUTO_EXPLAIN_MS;
  const settings: Record<string, string> = {
    ...benchPgSettings(),
    ...(explainMs ? {
      session_preload_libraries: 'auto_explain', 'auto_explain.log_min_duration': explainMs, 'auto_explain.log_analyze': 'on',
      'auto_explain.log_buffers': 'on', 'auto_explain.log_nested_statements': 'on',
    } : {}),
  };
  const { server, url, manifest } = await ensurePgDataset(n, settings);
  let pgResult: LookupResult;
  try {
    // A run stopped before its rewind left its events: take them out first.
    await rewindPgDataset(url, manifest);
    const asDataset: DatasetManifest = {
      key: manifest.key, params: manifest.params, generatorVersion: manifest.generatorVersion, layout: `postgres-copy-l${manifest.loaderVersion}`,
      events: manifest.events, buildSeconds: manifest.load.seconds, eventsPerSecond: manifest.events / manifest.load.seconds,
      bytes: manifest.bytes, bytesPerEvent: manifest.bytesPerEvent, files: {}, builtAt: manifest.builtAt, resumedAt: [],
    };
    log(`pgserve: lookups over ${n} events in PostgreSQL (bulk-loaded, cached) through one node`);
    pgResult = await runLookups(mkdtempSync(join(work, `lookup${n}-`)), asDataset, { ...lookupOpts, server: { env: { OPENTRAIL_DATABASE_URL: url }, config: serverConfig } });
    await rewindPgDataset(url, manifest);
  } finally {
    await server.stop();
    if (explainMs) {
      const file = join(OUT_DIR, `pg-explain-${n}.log`);
      writeFileSync(file, server.output());
      log(`pgserve: PostgreSQL's log with auto_explain's plans in ${file}`);
    }
    await server.destroy();
  }
  const out: CachedPgLookups = {
    postgres: {
      ...pgResult,
      build: { seconds: round(manifest.load.seconds, 1), eventsPerSecond: Math.round(manifest.events / manifest.load.seconds), databaseBytesPerEvent: manifest.bytesPerEvent, method: 'copy', tableBytes: manifest.tableBytes },
      settings,
    },
  };
  if (process.env.BENCH_PG_SQLITE === '0') return out;
  log(`pgserve: lookups over ${n} events in SQLite`);
  const { dir, manifest: sqliteManifest } = await ensureDataset(n);
  const scratch = scratchCopy(dir, `pgserve-sqlite-${n}`);
  try {
    out.sqlite = await runLookups(scratch, sqliteManifest, lookupOpts);
  } finally {
    removeScratch(scratch);
  }
  return out;
}
