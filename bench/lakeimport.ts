/**
 * `BENCH_ONLY=lakeimport`: CloudTrail Lake import of trail log files (issue 13: at least 100,000
 * events/s), beside its floors measured in the same run on the same files:
 *
 * - `gunzipJsonParse`: Node's gunzip + JSON.parse of each file, one core (what any importer pays
 *   to read the files);
 * - `duckdbRawCopy`: DuckDB reading all the gzip files with one COPY into one Parquet file of the
 *   records' JSON text (reading, unnesting, compressing: no columns);
 * - `duckdbLakeCopy`: the same one COPY through the Lake schema (`writeLakeFiles`: json_transform
 *   to CloudTrail Lake's columns, eventJson and its SHA-256, partitioned by day): the writer's floor;
 *   then the same COPY at DuckDB's default zstd level, the writer's options against it in CPU-us
 *   per event (`writerOptions`; CPU, not wall, as the machine may be shared);
 * - `import`: the import engine (src/lake/import/engine.ts) over the files as a filesystem bucket,
 *   into one store: batches of `BENCH_LAKEIMPORT_BATCH` files (default 64), its progress saved in
 *   a SQLite control store after each; with the event loop's largest delay while it ran.
 *
 *   BENCH_LAKEIMPORT_EVENTS    events (default 1,000,000); files of BENCH_LAKEIMPORT_PER_FILE (500)
 *   BENCH_LAKEIMPORT_THREADS   DuckDB threads (default: the cores)
 *
 * The files are generated once (bench/gen.ts records, as a trail writes them: gzip JSON
 * `{"Records":[...]}` under AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/) and cached in
 * bench/out/lakeimport-<events>-<perFile>.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { mkdtempSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { DuckDBInstance } from '@duckdb/node-api';
import { ACCOUNT_ID, GENERATOR_VERSION, REGION, record, type GenParams } from './gen.ts';
import { OUT_DIR } from './dataset.ts';
import { log, round } from './lib.ts';
import { PARQUET_OPTIONS, writeLakeFiles } from '../src/lake/storage/writer.ts';
import { lakeRowsSql } from '../src/lake/schema.ts';
import { ImportEngine, type ImportDoc } from '../src/lake/import/engine.ts';
import { LocalLogSource } from '../src/lake/import/source.ts';
import type { LakeCatalog, LakeStoreRef } from '../src/lake/catalog.ts';
import { SqliteControlStore } from '../src/stores/sqlite/sqlite-control-store.ts';
import type { ControlStore } from '../src/stores/control-store.ts';

export interface LakeImportOptions {
  events: number;
  perFile: number;
  batchFiles: number;
  threads: number;
}

/** The cached bucket folder of `events` events, `perFile` a file, a day folder per 100 files. */
function ensureFiles(o: LakeImportOptions): { dir: string; files: string[]; bytes: number } {
  const dir = join(OUT_DIR, `lakeimport-v${GENERATOR_VERSION}-${o.events}-${o.perFile}`);
  const done = join(dir, '.complete');
  if (!existsSync(done)) {
    rmSync(dir, { recursive: true, force: true });
    const p: GenParams = { seed: 13, count: o.events, endMs: Date.parse('2026-11-30T23:00:00Z'), spanMs: 30 * 86_400_000 };
    log(`lakeimport: generating ${o.events} events in files of ${o.perFile}`);
    for (let f = 0; f * o.perFile < o.events; f++) {
      const recs = [];
      for (let i = f * o.perFile; i < Math.min(o.events, (f + 1) * o.perFile); i++) recs.push(record(p, i));
      const t = new Date(Date.parse(recs.at(-1)!.eventTime as string) + 300_000);
      const day = t.toISOString().slice(0, 10);
      const stamp = `${day.replaceAll('-', '')}T${t.toISOString().slice(11, 13)}${t.toISOString().slice(14, 16)}Z`;
      const folder = join(dir, 'AWSLogs', ACCOUNT_ID, 'CloudTrail', REGION, ...day.split('-'));
      mkdirSync(folder, { recursive: true });
      writeFileSync(join(folder, `${ACCOUNT_ID}_CloudTrail_${REGION}_${stamp}_${String(f).padStart(16, '0')}.json.gz`), gzipSync(JSON.stringify({ Records: recs })));
    }
    writeFileSync(done, '');
  }
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.json.gz')) files.push(join(d, e.name));
    }
  };
  walk(dir);
  files.sort();
  return { dir, files, bytes: files.reduce((s, f) => s + statSync(f).size, 0) };
}

const perSecond = (n: number, ms: number) => Math.round((n * 1000) / ms);
/** The process's CPU time since `from`, in microseconds, all threads (DuckDB's included). */
const cpuUs = (from: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(from);
  return d.user + d.system;
};

export async function runLakeImport(o: LakeImportOptions): Promise<Record<string, unknown>> {
  const { dir, files, bytes } = ensureFiles(o);
  const work = mkdtempSync(join(tmpdir(), 'opentrail-bench-lakeimport-'));
  try {
    // Floor 1: gunzip + JSON.parse, one core.
    let t0 = performance.now();
    let events = 0;
    let rawBytes = 0;
    for (const f of files) {
      const text = gunzipSync(readFileSync(f));
      rawBytes += text.length;
      events += (JSON.parse(text.toString('utf8')) as { Records: unknown[] }).Records.length;
    }
    const parseMs = performance.now() - t0;
    log(`lakeimport: ${files.length} files, ${events} events, ${round(bytes / 1e6, 1)} MB gzip, ${round(rawBytes / 1e6, 1)} MB JSON; gunzip+parse ${perSecond(events, parseMs)} events/s`);
    const instance = await DuckDBInstance.create(':memory:', { threads: String(o.threads), memory_limit: '2048MiB' });
    const conn = await instance.connect();
    const list = `[${files.map((f) => `'${f}'`).join(', ')}]`;
    const records = `(SELECT unnest(json_extract(json, '$.Records[*]')) AS json FROM read_json_objects(${list}, format = 'unstructured', maximum_object_size = ${128 * 1024 * 1024}))`;
    // Floor 2: DuckDB, one COPY of the records' text.
    t0 = performance.now();
    await conn.run(`COPY (SELECT CAST(json AS VARCHAR) AS j FROM ${records}) TO '${join(work, 'raw.parquet')}' (FORMAT parquet, COMPRESSION zstd)`);
    const rawMs = performance.now() - t0;
    log(`lakeimport: DuckDB raw COPY ${perSecond(events, rawMs)} events/s`);
    // Floor 3: one COPY through the Lake schema.
    t0 = performance.now();
    let cpu0 = process.cpuUsage();
    const one = await writeLakeFiles(conn, { root: join(work, 'floor'), accountId: ACCOUNT_ID, storeId: 'floor', source: records, name: 'all' });
    const lakeMs = performance.now() - t0;
    const lakeCpuUs = cpuUs(cpu0);
    log(`lakeimport: DuckDB Lake COPY ${perSecond(one.rows, lakeMs)} events/s, ${round(lakeCpuUs / one.rows, 1)} CPU-us/event`);
    // The same COPY with DuckDB's default zstd level (3), what the writer used before issue 13's
    // second round: the writer's PARQUET_OPTIONS against it, in CPU per event (the machine may be shared).
    cpu0 = process.cpuUsage();
    await conn.run(`COPY (SELECT *, strftime(coalesce("eventTime", TIMESTAMP '1970-01-01'), '%Y-%m-%d') AS "eventDate" FROM (${lakeRowsSql(records)})) ` +
      `TO '${join(work, 'level3')}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY ("eventDate"), WRITE_PARTITION_COLUMNS false)`);
    const level3CpuUs = cpuUs(cpu0);
    log(`lakeimport: the same COPY at zstd level 3: ${round(level3CpuUs / one.rows, 1)} CPU-us/event`);
    conn.closeSync();
    instance.closeSync();

    // The import engine.
    const store: LakeStoreRef = { accountId: ACCOUNT_ID, storeId: 'imported', arn: `arn:aws:cloudtrail:${REGION}:${ACCOUNT_ID}:eventdatastore/imported`, status: 'ENABLED' };
    const catalog: LakeCatalog = { root: join(work, 'lake'), resolve: () => Promise.resolve(store) };
    const sqlite = new SqliteControlStore(join(work, 'control.db'));
    // Where the import's time goes: DuckDB's COPYs, and the control store's saves (per batch).
    let copyMs = 0;
    let saveMs = 0;
    const timed = async <T>(p: Promise<T>, add: (ms: number) => void): Promise<T> => {
      const t = performance.now();
      try {
        return await p;
      } finally {
        add(performance.now() - t);
      }
    };
    const control: ControlStore = {
      get: (k, key) => sqlite.get(k, key), list: (k, p) => sqlite.list(k, p), put: (k, key, d) => sqlite.put(k, key, d), delete: (k, key) => sqlite.delete(k, key),
      putMany: (docs, opts) => timed(sqlite.putMany(docs, opts), (ms) => (saveMs += ms)),
      close: () => sqlite.close(),
    };
    const engineDb = await DuckDBInstance.create(':memory:', { threads: String(o.threads), memory_limit: '2048MiB' });
    let batches = 0;
    let finished!: (d: ImportDoc) => void;
    const whenDone = new Promise<ImportDoc>((r) => (finished = r));
    const engine = new ImportEngine({
      control, catalog,
      openSource: (uri) => new LocalLogSource(dir, '', `${uri}/`),
      connect: async () => {
        const c = await engineDb.connect();
        const run = c.run.bind(c);
        c.run = (sql, values) => timed(run(sql, values), (ms) => (copyMs += ms));
        return c;
      },
      clock: { nowMs: () => Date.now() },
      ids: { uuid: () => '00000000-0000-4000-8000-000000000013' },
      logError: (m, e) => log(`lakeimport: ${m} ${String(e)}`),
    }, {
      batchFiles: o.batchFiles,
      onBatch: () => {
        batches++;
      },
    });
    // The event loop's delay with nothing running (the machine's own scheduling), then during the import.
    const idle = monitorEventLoopDelay({ resolution: 10 });
    idle.enable();
    await new Promise((r) => setTimeout(r, 3000));
    idle.disable();
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    t0 = performance.now();
    const importCpu0 = process.cpuUsage();
    const doc = await engine.create({ accountId: ACCOUNT_ID, destinations: [store], source: { S3: { S3LocationUri: 'file:///bench', S3BucketRegion: REGION, S3BucketAccessRoleArn: 'arn:aws:iam::111111111111:role/x' } } });
    const poll = setInterval(() => {
      void engine.get(doc!.ImportId).then((d) => {
        if (d && d.ImportStatus !== 'INITIALIZING' && d.ImportStatus !== 'IN_PROGRESS') finished(d);
      });
    }, 20);
    const done = await whenDone;
    clearInterval(poll);
    const importMs = performance.now() - t0;
    const importCpuUs = cpuUs(importCpu0);
    loop.disable();
    await engine.close();
    await control.close();
    engineDb.closeSync();
    log(`lakeimport: import ${perSecond(done.stats.EventsCompleted, importMs)} events/s (${done.ImportStatus}, ${batches} batches), event loop max delay ${round(loop.max / 1e6, 1)} ms`);
    const importRate = perSecond(done.stats.EventsCompleted, importMs);
    return {
      files: files.length, events, gzipMB: round(bytes / 1e6, 1), jsonMB: round(rawBytes / 1e6, 1), recordBytes: Math.round(rawBytes / events),
      threads: o.threads, batchFiles: o.batchFiles, cores: cpus().length,
      floors: {
        gunzipJsonParse: { eventsPerSecond: perSecond(events, parseMs), seconds: round(parseMs / 1000) },
        duckdbRawCopy: { eventsPerSecond: perSecond(events, rawMs), seconds: round(rawMs / 1000) },
        duckdbLakeCopy: { eventsPerSecond: perSecond(one.rows, lakeMs), seconds: round(lakeMs / 1000), cpuUsPerEvent: round(lakeCpuUs / one.rows, 1) },
      },
      writerOptions: { parquetOptions: PARQUET_OPTIONS, cpuUsPerEvent: round(lakeCpuUs / one.rows, 1), zstdLevel3CpuUsPerEvent: round(level3CpuUs / one.rows, 1), vsLevel3: round(lakeCpuUs / level3CpuUs) },
      import: {
        status: done.ImportStatus, stats: done.stats, batches, eventsPerSecond: importRate, seconds: round(importMs / 1000),
        cpuUsPerEvent: round(importCpuUs / Math.max(1, done.stats.EventsCompleted), 1),
        secondsIn: { duckdbCopy: round(copyMs / 1000), controlStoreSaves: round(saveMs / 1000), rest: round((importMs - copyMs - saveMs) / 1000) },
        vsLakeCopyFloor: round(importRate / perSecond(one.rows, lakeMs)),
        eventLoopDelayMs: { max: round(loop.max / 1e6, 1), p99: round(loop.percentile(99) / 1e6, 1), mean: round(loop.mean / 1e6, 1) },
        eventLoopDelayIdleMs: { max: round(idle.max / 1e6, 1), p99: round(idle.percentile(99) / 1e6, 1), mean: round(idle.mean / 1e6, 1) },
      },
      target: { eventsPerSecond: 100_000 },
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
