/**
 * BENCH_ONLY=lakecompact: Lake compaction (issue 13, docs/lake.md "Compaction"). A store that
 * ingestion filled a file a minute (BENCH_COMPACT_EVENTS records of bench/gen.ts over one day, in
 * BENCH_COMPACT_FILES files written by the writer ingestion uses, each with its eventID sidecar) is
 * queried through the real API (an in-process server, the SDK: StartQuery, DescribeQuery until
 * FINISHED, GetQueryResults), a GROUP BY eventName and a point query `WHERE eventID = ...`, before
 * and after it is compacted, each beside DuckDB reading the same live files directly (the floor).
 * The compaction itself (LakeCompactor, the server's own code, with the configuration's defaults:
 * 128 MiB outputs, 1 DuckDB thread, 512 MiB) is timed: events/s by wall time and by CPU time
 * (process.cpuUsage: DuckDB's threads are this process's).
 *
 *   BENCH_COMPACT_EVENTS   events in the store (default 1000000)
 *   BENCH_COMPACT_FILES    files it is written in (default 1440: a file a minute for a day)
 *   BENCH_COMPACT_REPEAT   timed runs of each query (default 5, after a warm-up run)
 *   BENCH_COMPACT_THREADS  DuckDB threads of compaction (default 1, the configuration's default)
 *   BENCH_LAKE_THREADS     DuckDB threads of the queries and of the floor (default: the machine's cores)
 */
import { cpus } from 'node:os';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { DescribeQueryCommand, GetQueryResultsCommand, StartQueryCommand } from '@aws-sdk/client-cloudtrail';
import { GENERATOR_VERSION, record, type GenParams } from './gen.ts';
import { OUT_DIR } from './dataset.ts';
import { log, round } from './lib.ts';
import { writeLakeFiles } from '../src/lake/storage/writer.ts';
import { LAKE_ROW_GROUP_SIZE, storeDir } from '../src/lake/layout.ts';
import { liveDataFiles } from '../src/lake/storage/live-files.ts';
import { LakeCompactor } from '../src/lake/compaction/compactor.ts';
import { LAKE_BENCH_ACCOUNT as ACCOUNT, startLakeBenchServer } from './lake-server.ts';
import { EVENT_DATA_STORE_KIND, eventDataStoreKey, type EventDataStoreDoc } from '../src/core/index.ts';
import { SqliteControlStore } from '../src/stores/sqlite/index.ts';

const STORE_ID = 'c0c0a000-0000-4000-8000-00000000c0c0';
const DAY_END = Date.parse('2026-11-30T23:59:50Z');

interface QueryFigure {
  /** Server-side time (DescribeQuery's ExecutionTimeInMillis), median and min. */
  executionMedianMs: number;
  executionMinMs: number;
  /** StartQuery to the first results page, median. */
  apiMedianMs: number;
  /** CPU of this process per run (the server, its DuckDB threads, the SDK), median. */
  apiCpuMedianMs: number;
  /** DuckDB reading the same live files directly. */
  floorMedianMs: number;
  floorCpuMedianMs: number;
}

interface StoreFigures {
  files: number;
  storeMiB: number;
  groupBy: QueryFigure;
  point: QueryFigure;
}

export interface LakeCompactResult {
  events: number;
  threads: number;
  buildSeconds?: number;
  before: StoreFigures;
  compaction: { outputs: number; inputFiles: number; seconds: number; cpuSeconds: number; eventsPerSecond: number; eventsPerCpuSecond: number; bytesIn: number; bytesOut: number; threads: number };
  after: StoreFigures;
  /** before / after, server-side medians. */
  speedup: { groupBy: number; point: number };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

/** The store as ingestion leaves it (a file per minute), built once per size and cached in bench/out/lake/. */
async function ensureSmallFiles(events: number, files: number): Promise<{ root: string; params: GenParams; buildSeconds?: number }> {
  const root = join(OUT_DIR, 'lake', `compact-g${GENERATOR_VERSION}-rg${LAKE_ROW_GROUP_SIZE}-${events}-${files}`);
  const params: GenParams = { seed: 17, count: events, endMs: DAY_END, spanMs: 86_300_000 };
  if (existsSync(join(root, 'complete'))) return { root, params };
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const started = performance.now();
  const db = await DuckDBInstance.create(':memory:', { threads: '1' });
  const conn = await db.connect();
  const per = Math.ceil(events / files);
  const tmp = join(root, '.file.jsonl');
  for (let f = 0; f * per < events; f++) {
    const lines: string[] = [];
    for (let i = f * per; i < Math.min(events, (f + 1) * per); i++) lines.push(JSON.stringify(record(params, i)));
    writeFileSync(tmp, lines.join('\n') + '\n');
    await writeLakeFiles(conn, { root, accountId: ACCOUNT, storeId: STORE_ID, source: `read_json_objects('${tmp}', format='newline_delimited')`, name: `ingest-${f * per}-${(f + 1) * per}` });
    if (f % 100 === 99) log(`lakecompact: ${f + 1} of ${files} files written`);
  }
  rmSync(tmp, { force: true });
  conn.closeSync();
  db.closeSync();
  writeFileSync(join(root, 'complete'), new Date().toISOString());
  return { root, params, buildSeconds: round((performance.now() - started) / 1000, 1) };
}

/** The store's live files (as the query engine lists them). */
async function liveFiles(root: string): Promise<string[]> {
  const dir = join(root, storeDir(ACCOUNT, STORE_ID));
  const out: string[] = [];
  for (const p of readdirSync(dir).filter((x) => x.startsWith('eventDate=')).sort()) {
    for (const f of await liveDataFiles(join(dir, p), readdirSync(join(dir, p)))) out.push(join(dir, p, f));
  }
  return out;
}

export async function runLakeCompact(): Promise<LakeCompactResult> {
  const events = Number(process.env.BENCH_COMPACT_EVENTS ?? 1_000_000);
  const nFiles = Number(process.env.BENCH_COMPACT_FILES ?? 1440);
  const repeat = Number(process.env.BENCH_COMPACT_REPEAT ?? 5);
  const compactThreads = Number(process.env.BENCH_COMPACT_THREADS ?? 1);
  const threads = Number(process.env.BENCH_LAKE_THREADS ?? cpus().length);
  const { root: source, params, buildSeconds } = await ensureSmallFiles(events, nFiles);
  // Compaction changes the store: it runs on a copy.
  const work = join(OUT_DIR, 'work', `lakecompact-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  const root = join(work, 'lake');
  cpSync(join(source, ACCOUNT), join(root, ACCOUNT), { recursive: true });
  const dataDir = join(work, 'data');
  mkdirSync(dataDir, { recursive: true });
  const eventId = String(record(params, Math.floor(events * 0.61)).eventID);

  const bench = await startLakeBenchServer({ root, storeId: STORE_ID, dataDir, threads, config: { lake: { compaction: { enabled: false } } } });
  const { ct, floor, store } = bench;

  const measure = async (sql: (from: string) => string): Promise<QueryFigure> => {
    const files = await liveFiles(root);
    const direct = `read_parquet([${files.map((f) => `'${f}'`).join(', ')}], hive_partitioning = false, union_by_name = true)`;
    const exec: number[] = [];
    const api: number[] = [];
    const apiCpu: number[] = [];
    const direct_: number[] = [];
    const floorCpu: number[] = [];
    for (let i = 0; i <= repeat; i++) {
      let t = performance.now();
      let cpu = process.cpuUsage();
      const { QueryId } = await ct.send(new StartQueryCommand({ QueryStatement: sql(STORE_ID) }));
      let ms = 0;
      for (let wait = 5; ; wait = Math.min(40, wait * 2)) {
        const d = await ct.send(new DescribeQueryCommand({ QueryId }));
        if (d.QueryStatus === 'FINISHED') {
          ms = d.QueryStatistics!.ExecutionTimeInMillis!;
          break;
        }
        if (d.QueryStatus !== 'QUEUED' && d.QueryStatus !== 'RUNNING') throw new Error(`lakecompact: ${d.QueryStatus}: ${d.ErrorMessage}`);
        await new Promise((r) => setTimeout(r, wait));
      }
      const page = await ct.send(new GetQueryResultsCommand({ QueryId }));
      const apiMs = performance.now() - t;
      const apiCpuMs = cpuMs(process.cpuUsage(cpu));
      t = performance.now();
      cpu = process.cpuUsage();
      const r = await floor.runAndReadAll(sql(direct));
      if (i === 0) {
        if (r.getRows().length !== page.QueryStatistics!.TotalResultsCount) throw new Error(`lakecompact: the API answered ${page.QueryStatistics!.TotalResultsCount} rows, DuckDB ${r.getRows().length}`);
        continue;
      }
      direct_.push(performance.now() - t);
      floorCpu.push(cpuMs(process.cpuUsage(cpu)));
      exec.push(ms);
      api.push(apiMs);
      apiCpu.push(apiCpuMs);
    }
    return {
      executionMedianMs: median(exec), executionMinMs: Math.min(...exec), apiMedianMs: round(median(api), 1), apiCpuMedianMs: round(median(apiCpu), 1),
      floorMedianMs: round(median(direct_), 1), floorCpuMedianMs: round(median(floorCpu), 1),
    };
  };
  const figures = async (label: string): Promise<StoreFigures> => {
    const files = await liveFiles(root);
    const storeMiB = round(files.reduce((n, f) => n + statSync(f).size, 0) / 2 ** 20, 1);
    const groupBy = await measure((from) => `SELECT eventName, count(*) AS n FROM ${from} GROUP BY eventName ORDER BY n DESC`);
    const point = await measure((from) => `SELECT * FROM ${from} WHERE eventID = '${eventId}'`);
    log(`lakecompact ${label}: ${files.length} files (${storeMiB} MiB): GROUP BY ${groupBy.executionMedianMs} ms (floor ${groupBy.floorMedianMs}), point ${point.executionMedianMs} ms (floor ${point.floorMedianMs})`);
    return { files: files.length, storeMiB, groupBy, point };
  };

  const control = new SqliteControlStore(join(work, 'compact-control.db'));
  const compactDb = await DuckDBInstance.create(':memory:', { threads: String(compactThreads), memory_limit: '512MiB' });
  const compactConn = await compactDb.connect();
  try {
    log(`lakecompact: ${events.toLocaleString('en-US')} events in ${nFiles} files; queries on ${threads} threads, compaction on ${compactThreads}`);
    const before = await figures('before');
    const doc = { EventDataStoreArn: store.arn, Status: 'ENABLED', accountId: ACCOUNT, storeId: STORE_ID, RetentionPeriod: 3653, createdMs: 1 } as EventDataStoreDoc;
    await control.put(EVENT_DATA_STORE_KIND, eventDataStoreKey(ACCOUNT, STORE_ID), doc);
    const now = { ms: Date.now() };
    const compactor = new LakeCompactor(
      { control, clock: { nowMs: () => now.ms }, duck: () => Promise.resolve(compactConn), logError: (m, e) => log(`lakecompact: ${m}: ${String(e)}`) },
      { root, targetBytes: 128 * 1024 * 1024, minFiles: 32, settleMs: 0, deleteAfterMs: 1 },
    );
    const t = performance.now();
    const cpu = process.cpuUsage();
    const r = await compactor.runOnce();
    const seconds = (performance.now() - t) / 1000;
    const cpuSeconds = cpuMs(process.cpuUsage(cpu)) / 1000;
    if (r.rows !== events) throw new Error(`lakecompact: compacted ${r.rows} of ${events} events`);
    // The replaced files are deleted once their grace is over (a second pass).
    now.ms += 10;
    await compactor.runOnce();
    const compaction = {
      outputs: r.compactions, inputFiles: r.inputFiles, seconds: round(seconds, 1), cpuSeconds: round(cpuSeconds, 1),
      eventsPerSecond: Math.round(r.rows / seconds), eventsPerCpuSecond: Math.round(r.rows / cpuSeconds), bytesIn: r.bytesIn, bytesOut: r.bytesOut, threads: compactThreads,
    };
    log(`lakecompact: ${r.inputFiles} files -> ${r.compactions} in ${compaction.seconds} s (${compaction.eventsPerSecond} events/s; CPU ${compaction.cpuSeconds} s, ${compaction.eventsPerCpuSecond} events per CPU-second)`);
    const after = await figures('after');
    return {
      events, threads, ...(buildSeconds !== undefined ? { buildSeconds } : {}), before, compaction, after,
      speedup: { groupBy: round(before.groupBy.executionMedianMs / after.groupBy.executionMedianMs, 2), point: round(before.point.executionMedianMs / after.point.executionMedianMs, 2) },
    };
  } finally {
    compactConn.closeSync();
    compactDb.closeSync();
    await control.close();
    await bench.close();
    rmSync(work, { recursive: true, force: true });
  }
}
