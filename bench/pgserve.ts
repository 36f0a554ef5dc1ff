/**
 * BENCH_DB=postgres (issue 12): the server-level ingest and lookup benches (bench/ingest.ts,
 * bench/lookup.ts, unchanged in what they send) against `opentrail serve` nodes sharing one
 * PostgreSQL 15 (a real one, started by test/helpers/postgres.ts in a temp dir: fsync on,
 * synchronous_commit on), beside the SQLite figures of the same run at the same scale.
 *
 * - Ingest: the same bodies (POST /ingest, BENCH_BATCH records each, BENCH_CONNECTIONS keep-alive
 *   connections) into an empty database with 1, 2 and 3 nodes (BENCH_PG_NODES, default 1,2,3),
 *   connection c to node c mod nodes; then the same on SQLite (one node: SQLite is one process).
 *   Bytes per event: the nodes' /proc/<pid>/io write_bytes, PostgreSQL's WAL written
 *   (pg_current_wal_lsn), the database's growth (pg_database_size) and what PostgreSQL's
 *   processes alive at the end wrote (/proc/<pid>/io of the postmaster's children: backends that
 *   ended meanwhile are missing, so it is a lower bound); CPU seconds of PostgreSQL's processes.
 * - Lookups: the dataset of BENCH_SCALE events (bench/dataset.ts's generator) bulk-loaded with COPY
 *   into the store's layout and cached (bench/pg-lookup-cached.ts, bench/pg-bulk-load.ts), or with
 *   BENCH_PG_BUILD=append appended to an empty database through PgEventStore.append in batches of
 *   5,000 (its build rate reported), then the lean and SDK lookups through one node; the SQLite
 *   lookups over the cached SQLite dataset of the same scale.
 *
 *   BENCH_DB=postgres BENCH_SCALE=50000 npm run bench
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { runIngest, type IngestBodies, type IngestResult } from './ingest.ts';
import { runLookups, type LookupOptions, type LookupResult } from './lookup.ts';
import { appendAll, datasetKey, datasetParams, ensureDataset, removeScratch, scratchCopy, storeLayout, type DatasetManifest } from './dataset.ts';
import { GENERATOR_VERSION } from './gen.ts';
import { ioOf, log, round } from './lib.ts';
import { startPostgres, type StartedPostgres } from '../test/helpers/postgres.ts';
import { PgEventStore } from '../src/stores/postgres/index.ts';
import { cachedPgLookups } from './pg-lookup-cached.ts';
import { summarizeProfile } from './profile.ts';

export interface PgServeOptions {
  sizes: number[];
  nodes: number[];
  ingest: { events: number; batch: number; connections: number; bodies?: IngestBodies };
  lookup: LookupOptions;
  /**
   * BENCH_PROFILE=1: each PostgreSQL ingest node runs with --cpu-prof into this folder (one
   * subfolder per run), and the report carries the first node's summary (bench/profile.ts). The
   * profiler costs the node CPU: a profiled run's rate is not a figure.
   */
  profileDir?: string;
}

/** PostgreSQL's processes: the postmaster's children (found from a backend's parent). */
async function pgProcesses(sql: pg.Client): Promise<number[]> {
  const backend = (await sql.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const postmaster = Number(readFileSync(`/proc/${backend}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
  const out = [postmaster];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (Number(readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]) === postmaster) out.push(Number(d));
    } catch {
      // ended meanwhile
    }
  }
  return out;
}

interface PgCounters {
  walLsn: string;
  dbBytes: number;
  io: Map<number, number>;
  cpu: Map<number, number>;
}

const CLK_TCK = 100;

async function pgCounters(sql: pg.Client): Promise<PgCounters> {
  const walLsn = (await sql.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l')).rows[0]!.l;
  const dbBytes = Number((await sql.query<{ b: string }>('SELECT pg_database_size(current_database())::int8 AS b')).rows[0]!.b);
  const io = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const pid of await pgProcesses(sql)) {
    try {
      io.set(pid, ioOf(pid).writeBytes);
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      cpu.set(pid, (Number(f[11]) + Number(f[12])) / CLK_TCK);
    } catch {
      // ended meanwhile
    }
  }
  return { walLsn, dbBytes, io, cpu };
}

/** PostgreSQL's side of a run, per event: WAL, database growth, writes and CPU of its processes. */
async function pgDelta(sql: pg.Client, a: PgCounters, events: number, seconds: number) {
  const b = await pgCounters(sql);
  const wal = Number((await sql.query<{ b: string }>('SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::int8 AS b', [b.walLsn, a.walLsn])).rows[0]!.b);
  let written = 0, cpu = 0;
  for (const [pid, w] of b.io) written += w - (a.io.get(pid) ?? 0);
  for (const [pid, c] of b.cpu) cpu += c - (a.cpu.get(pid) ?? 0);
  return {
    walBytesPerEvent: Math.round(wal / events),
    databaseGrowthBytesPerEvent: Math.round((b.dbBytes - a.dbBytes) / events),
    processesDiskWriteBytesPerEvent: Math.round(written / events),
    cpuSeconds: round(cpu, 1),
    cpuCoresUsed: round(cpu / seconds, 2),
    cpuUsPerEvent: round((cpu * 1e6) / events, 1),
  };
}

export async function runPgServe(opts: PgServeOptions): Promise<Record<string, unknown>> {
  const server: StartedPostgres = await startPostgres({ settings: { shared_buffers: process.env.BENCH_PG_SHARED_BUFFERS ?? '256MB', max_wal_size: '4GB' } });
  const work = mkdtempSync(join(tmpdir(), 'opentrail-bench-pgserve-'));
  const deploymentConfig = {
    integrity: { keyEncryption: { type: 'file', path: join(work, 'deployment.kek') } },
    // Appends a node runs at once (issue 12, part 8); the URL comes from OPENTRAIL_DATABASE_URL.
    ...(process.env.BENCH_PG_PARALLEL_APPENDS ? { database: { type: 'postgres', url: 'postgres://unused@localhost/unused', parallelAppends: Number(process.env.BENCH_PG_PARALLEL_APPENDS) } } : {}),
  };
  const out: Record<string, unknown> = { postgres: { version: '', sharedBuffers: process.env.BENCH_PG_SHARED_BUFFERS ?? '256MB' } };
  try {
    const admin = new pg.Client({ connectionString: server.adminUrl });
    await admin.connect();
    (out.postgres as { version: string }).version = (await admin.query<{ v: string }>('SHOW server_version')).rows[0]!.v;
    await admin.end();

    // Ingest: 1, 2, 3 nodes on an empty database each time; SQLite in the same run.
    const ingest: Record<string, IngestResult & { postgres?: Awaited<ReturnType<typeof pgDelta>>; profile?: ReturnType<typeof summarizeProfile> }> = {};
    for (const nodes of opts.nodes) {
      const url = await server.createDatabase(`ingest${nodes}`);
      const sql = new pg.Client({ connectionString: url });
      await sql.connect();
      let before: PgCounters | undefined;
      let pgSide: Awaited<ReturnType<typeof pgDelta>> | undefined;
      let t0 = 0;
      try {
        log(`pgserve: ingest through ${nodes} node(s) on one PostgreSQL database`);
        const dataDir = mkdtempSync(join(work, `ingest${nodes}-`));
        const profileDir = opts.profileDir ? join(opts.profileDir, `ingest${nodes}`) : undefined;
        if (profileDir) {
          rmSync(profileDir, { recursive: true, force: true });
          mkdirSync(profileDir, { recursive: true });
        }
        const r = await runIngest({
          ...opts.ingest, dataDir, keepDataDir: true,
          ...(profileDir ? { nodeFlags: ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-interval', '200'] } : {}),
          deployment: { nodes, env: { OPENTRAIL_DATABASE_URL: url }, config: deploymentConfig },
          hooks: {
            start: async () => {
              before = await pgCounters(sql);
              t0 = performance.now();
            },
            // The run's events over the time from the first request to the end of the settle pause.
            end: async () => {
              pgSide = await pgDelta(sql, before!, opts.ingest.events, (performance.now() - t0) / 1000);
            },
          },
        });
        const profile = profileDir ? readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile')).sort()[0] : undefined;
        ingest[`postgres${nodes}node${nodes > 1 ? 's' : ''}`] = { ...r, postgres: pgSide, ...(profile ? { profile: summarizeProfile(join(profileDir!, profile), 40) } : {}) };
        log(`pgserve: ${nodes} node(s): ${r.eventsPerSecond} events/s; PostgreSQL: ${pgSide?.walBytesPerEvent} B WAL/event, +${pgSide?.databaseGrowthBytesPerEvent} B/event, ${pgSide?.cpuCoresUsed} cores`);
      } finally {
        await sql.end();
      }
    }
    if (opts.nodes.length) {
      log('pgserve: the same ingest on SQLite');
      ingest.sqlite = await runIngest({ ...opts.ingest });
      out.ingest = ingest;
    }

    // Lookups at each scale: PostgreSQL (dataset appended through PgEventStore) and SQLite.
    const lookup: Record<string, { postgres: LookupResult & { build: { seconds: number; eventsPerSecond: number; databaseBytesPerEvent: number } }; sqlite?: LookupResult }> = {};
    for (const n of opts.sizes) {
      // The dataset bulk-loaded with COPY and cached (bench/pg-lookup-cached.ts); BENCH_PG_BUILD=append: built below.
      if (process.env.BENCH_PG_BUILD !== 'append') {
        lookup[String(n)] = await cachedPgLookups(n, opts.lookup, work, deploymentConfig);
        continue;
      }
      const params = datasetParams(n);
      const url = await server.createDatabase(`lookup${n}`);
      const store = await PgEventStore.open({ url });
      const b0 = performance.now();
      let appended: number;
      try {
        log(`pgserve: building ${n} events in PostgreSQL through PgEventStore.append`);
        appended = await appendAll(store, params, 0, () => undefined);
      } finally {
        await store.close();
      }
      const buildSeconds = (performance.now() - b0) / 1000;
      const sql = new pg.Client({ connectionString: url });
      await sql.connect();
      let dbBytes: number;
      try {
        await sql.query('VACUUM ANALYZE');
        dbBytes = Number((await sql.query<{ b: string }>('SELECT pg_database_size(current_database())::int8 AS b')).rows[0]!.b);
      } finally {
        await sql.end();
      }
      const manifest: DatasetManifest = {
        key: datasetKey(params), params, generatorVersion: GENERATOR_VERSION, layout: `postgres-${storeLayout()}`, events: appended, buildSeconds,
        eventsPerSecond: appended / buildSeconds, bytes: dbBytes, bytesPerEvent: Math.round(dbBytes / appended), files: {},
        builtAt: new Date().toISOString(), resumedAt: [],
      };
      const dataDir = mkdtempSync(join(work, `lookup${n}-`));
      log(`pgserve: lookups over ${n} events in PostgreSQL through one node`);
      const pgResult = await runLookups(dataDir, manifest, { ...opts.lookup, server: { env: { OPENTRAIL_DATABASE_URL: url }, config: deploymentConfig } });
      log(`pgserve: lookups over ${n} events in SQLite`);
      const { dir, manifest: sqliteManifest } = await ensureDataset(n);
      const scratch = scratchCopy(dir, `pgserve-sqlite-${n}`);
      let sqliteResult: LookupResult;
      try {
        sqliteResult = await runLookups(scratch, sqliteManifest, opts.lookup);
      } finally {
        removeScratch(scratch);
      }
      lookup[String(n)] = {
        postgres: { ...pgResult, build: { seconds: round(buildSeconds, 1), eventsPerSecond: Math.round(appended / buildSeconds), databaseBytesPerEvent: Math.round(dbBytes / appended) } },
        sqlite: sqliteResult,
      };
    }
    out.lookup = lookup;
    return out;
  } finally {
    await server.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}
