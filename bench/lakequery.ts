/**
 * BENCH_ONLY=lakequery: CloudTrail Lake queries over a large event data store (issue 13): a GROUP BY
 * eventName over every event (target under 1 s) and a point query `WHERE eventID = ...` (target
 * under 200 ms), each through the real API (an in-process server with the SDK: StartQuery, then
 * DescribeQuery from every 5 ms to every 40 ms until FINISHED, then GetQueryResults) and beside the floor, DuckDB
 * reading the same Parquet files directly with the same threads.
 *
 * The store is BENCH_LAKE_EVENTS records of bench/gen.ts (default 10,000,000) written by the writer
 * ingestion uses (writeLakeFiles) in chunks, once, cached in bench/out/lake/.
 *   BENCH_LAKE_EVENTS    events in the store (default 10000000)
 *   BENCH_LAKE_REPEAT    timed runs of each query (default 5; the first run before them is a warm-up)
 *   BENCH_LAKE_THREADS   DuckDB threads of the queries and of the floor (default: the machine's cores)
 */
import { cpus } from 'node:os';
import { createWriteStream, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { DuckDBInstance } from '@duckdb/node-api';
import { DescribeQueryCommand, GetQueryResultsCommand, StartQueryCommand } from '@aws-sdk/client-cloudtrail';
import { GENERATOR_VERSION, record, type GenParams } from './gen.ts';
import { OUT_DIR } from './dataset.ts';
import { log, round } from './lib.ts';
import { writeLakeFiles } from '../src/lake/storage/writer.ts';
import { LAKE_ROW_GROUP_SIZE, storeGlob } from '../src/lake/layout.ts';
import { LAKE_BENCH_ACCOUNT as ACCOUNT, startLakeBenchServer } from './lake-server.ts';

const STORE_ID = 'be0c4000-0000-4000-8000-00000000be0c';
const CHUNK = 500_000;

export interface LakeQueryFigure {
  query: string;
  rows: number;
  /** Through the API: StartQuery to FINISHED (ms), and the first results page after. */
  apiMedianMs: number;
  apiMinMs: number;
  /** The server's own time for it (DescribeQuery's ExecutionTimeInMillis: listing the files to the results written). */
  executionMedianMs: number;
  /** DuckDB reading the same files directly. */
  floorMedianMs: number;
  floorMinMs: number;
  /** CPU time of this process (the server, its DuckDB threads and the SDK client; the floor's DuckDB) per run, medians: on a loaded machine, the figure to compare. */
  apiCpuMedianMs: number;
  floorCpuMedianMs: number;
  targetMs: number;
  /**
   * CPU time of the background work the warm-up run started, waited out before the timed runs
   * (for the point query: the in-memory summaries of the eventID sidecars, made once per server).
   */
  backgroundCpuMs: number;
}

export interface LakeQueryResult {
  events: number;
  files: number;
  storeBytes: number;
  buildSeconds?: number;
  threads: number;
  groupBy: LakeQueryFigure;
  point: LakeQueryFigure;
}

/**
 * Waits until this process is idle (under 10 ms of CPU in a 250 ms window, at most 10 minutes) and
 * answers the CPU it spent meanwhile: the background work a warm-up started, kept out of the timed runs.
 */
async function quiesce(): Promise<number> {
  const start = process.cpuUsage();
  const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
  for (let waited = 0; waited < 600_000; waited += 250) {
    const before = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 250));
    if (cpuMs(process.cpuUsage(before)) < 10) break;
  }
  return cpuMs(process.cpuUsage(start));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The store's root, built when missing (one per generator version, writer row group size and size). */
export async function ensureStore(events: number): Promise<{ root: string; buildSeconds?: number; params: GenParams }> {
  const root = join(OUT_DIR, 'lake', `g${GENERATOR_VERSION}-rg${LAKE_ROW_GROUP_SIZE}-${events}`);
  const done = join(root, 'complete');
  const params: GenParams = { seed: 13, count: events, endMs: Date.parse('2026-11-30T00:00:00Z'), spanMs: 30 * 24 * 3600 * 1000 };
  if (existsSync(done)) return { root, params };
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const started = performance.now();
  const db = await DuckDBInstance.create(':memory:', { threads: String(cpus().length) });
  const conn = await db.connect();
  const tmp = join(root, '.chunk.jsonl');
  for (let from = 0; from < events; from += CHUNK) {
    const to = Math.min(events, from + CHUNK);
    const out = createWriteStream(tmp);
    for (let i = from; i < to; i++) {
      if (!out.write(JSON.stringify(record(params, i)) + '\n')) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
    await writeLakeFiles(conn, { root, accountId: ACCOUNT, storeId: STORE_ID, source: `read_json_objects('${tmp}', format='newline_delimited')`, name: `chunk-${from / CHUNK}` });
    log(`lakequery: ${to.toLocaleString('en-US')} of ${events.toLocaleString('en-US')} events written`);
  }
  rmSync(tmp, { force: true });
  conn.closeSync();
  db.closeSync();
  writeFileSync(done, new Date().toISOString());
  return { root, params, buildSeconds: round((performance.now() - started) / 1000, 1) };
}

export async function runLakeQuery(): Promise<LakeQueryResult> {
  const events = Number(process.env.BENCH_LAKE_EVENTS ?? 10_000_000);
  const repeat = Number(process.env.BENCH_LAKE_REPEAT ?? 5);
  const threads = Number(process.env.BENCH_LAKE_THREADS ?? cpus().length);
  const { root, buildSeconds, params } = await ensureStore(events);
  const dir = join(root, ACCOUNT, STORE_ID);
  const files = readdirSync(dir).filter((p) => p.startsWith('eventDate=')).flatMap((p) => readdirSync(join(dir, p)).filter((f) => f.endsWith('.parquet')).map((f) => join(dir, p, f)));
  const storeBytes = files.reduce((n, f) => n + statSync(f).size, 0);
  const eventId = String(record(params, Math.floor(events * 0.61)).eventID);

  const dataDir = join(OUT_DIR, 'work', `lakequery-${process.pid}`);
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  const bench = await startLakeBenchServer({ root, storeId: STORE_ID, dataDir, threads });
  const { ct, floor } = bench;
  const glob = join(root, storeGlob(ACCOUNT, STORE_ID));

  const measure = async (sql: string, floorSql: string, targetMs: number): Promise<LakeQueryFigure> => {
    const api: number[] = [];
    const direct: number[] = [];
    const engine: number[] = [];
    const apiCpu: number[] = [];
    const floorCpu: number[] = [];
    const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
    let rows = 0;
    let backgroundCpuMs = 0;
    for (let i = 0; i <= repeat; i++) {
      if (i === 1) backgroundCpuMs = await quiesce();
      let t = performance.now();
      let cpu = process.cpuUsage();
      const { QueryId } = await ct.send(new StartQueryCommand({ QueryStatement: sql }));
      // Polls back off from 5 ms to 40 ms: each DescribeQuery is a call the server also records.
      for (let wait = 5; ; wait = Math.min(40, wait * 2)) {
        const d = await ct.send(new DescribeQueryCommand({ QueryId }));
        if (d.QueryStatus === 'FINISHED') {
          if (i > 0) engine.push(d.QueryStatistics!.ExecutionTimeInMillis!);
          break;
        }
        if (d.QueryStatus !== 'QUEUED' && d.QueryStatus !== 'RUNNING') throw new Error(`lakequery: ${d.QueryStatus}: ${d.ErrorMessage}`);
        await new Promise((r) => setTimeout(r, wait));
      }
      const page = await ct.send(new GetQueryResultsCommand({ QueryId }));
      if (i > 0) api.push(performance.now() - t);
      if (i > 0) apiCpu.push(cpuMs(process.cpuUsage(cpu)));
      rows = page.QueryStatistics!.TotalResultsCount!;
      t = performance.now();
      cpu = process.cpuUsage();
      const r = await floor.runAndReadAll(floorSql);
      if (i > 0) direct.push(performance.now() - t);
      if (i > 0) floorCpu.push(cpuMs(process.cpuUsage(cpu)));
      if (r.getRows().length !== rows) throw new Error(`lakequery: the API answered ${rows} rows, DuckDB ${r.getRows().length}`);
    }
    return { query: sql, rows, apiMedianMs: round(median(api), 1), apiMinMs: round(Math.min(...api), 1), executionMedianMs: median(engine), floorMedianMs: round(median(direct), 1), floorMinMs: round(Math.min(...direct), 1), apiCpuMedianMs: round(median(apiCpu), 1), floorCpuMedianMs: round(median(floorCpu), 1), targetMs, backgroundCpuMs: round(backgroundCpuMs, 1) };
  };
  try {
    log(`lakequery: ${events.toLocaleString('en-US')} events in ${files.length} files (${round(storeBytes / 2 ** 20, 1)} MiB), ${threads} threads`);
    const direct = `read_parquet('${glob}', hive_partitioning = false, union_by_name = true)`;
    const groupBy = await measure(`SELECT eventName, count(*) AS n FROM ${STORE_ID} GROUP BY eventName ORDER BY n DESC`, `SELECT eventName, count(*) AS n FROM ${direct} GROUP BY eventName ORDER BY n DESC`, 1000);
    log(`lakequery: GROUP BY eventName: API ${groupBy.apiMedianMs} ms (CPU ${groupBy.apiCpuMedianMs}), DuckDB directly ${groupBy.floorMedianMs} ms (CPU ${groupBy.floorCpuMedianMs})`);
    const point = await measure(`SELECT * FROM ${STORE_ID} WHERE eventID = '${eventId}'`, `SELECT * FROM ${direct} WHERE eventID = '${eventId}'`, 200);
    log(`lakequery: WHERE eventID = ...: API ${point.apiMedianMs} ms (CPU ${point.apiCpuMedianMs}; server ${point.executionMedianMs} ms), DuckDB directly ${point.floorMedianMs} ms (CPU ${point.floorCpuMedianMs}); after the warm-up, ${point.backgroundCpuMs} ms of CPU in the background (eventID summaries)`);
    return { events, files: files.length, storeBytes, ...(buildSeconds !== undefined ? { buildSeconds } : {}), threads, groupBy, point };
  } finally {
    await bench.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
