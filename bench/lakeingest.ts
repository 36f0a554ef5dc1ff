/**
 * Lake ingestion benchmark (`BENCH_ONLY=lakeingest`): does one event data store keep up with ingest?
 *
 * The same N events (bench/gen.ts, all management events) are POSTed to /ingest (1,000 per request,
 * 8 keep-alive connections) once to a server without an event data store and once to a server
 * with one store of every management event (lake.maxAgeMs 1000). Reported: both ingest rates and
 * their ratio; the rate at which the store's consumer wrote the events (events / seconds from the
 * first POST until its lag, `opentrail_consumer_lag_events{consumer="lake"}`, is 0); how long after
 * ingest ended it caught up; files written; and the floor: DuckDB alone turning the same records
 * (as JSON lines in a file) into zstd Parquet with the store's column mapping, in this process.
 */
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudTrailClient, CreateEventDataStoreCommand } from '@aws-sdk/client-cloudtrail';
import { DuckDBInstance } from '@duckdb/node-api';
import { lakeRowsSql } from '../src/lake/schema.ts';
import { storeGlob } from '../src/lake/layout.ts';
import { record, type GenParams } from './gen.ts';
import { bodiesOf, ingestAll } from './delivery.ts';
import { BENCH_IDENTITY, log, round, startBenchServer } from './lib.ts';

export interface LakeIngestOptions {
  events: number;
  batch: number;
  connections: number;
  maxAgeMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function lakeLag(url: string): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = /^opentrail_consumer_lag_events\{consumer="lake",[^}]*\} (\d+)/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

function filesUnder(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (n.endsWith('.parquet')) {
        files++;
        bytes += st.size;
      }
    }
  };
  walk(dir);
  return { files, bytes };
}

export async function runLakeIngest(opts: LakeIngestOptions): Promise<Record<string, unknown>> {
  const params: GenParams = { seed: 7373, count: opts.events, endMs: Date.now(), spanMs: 60_000 };
  log(`lake ingest: generating ${opts.events} records`);
  const { bodies } = bodiesOf(params, 0, opts.events, opts.batch);

  // Without a store.
  let withoutStore: Record<string, unknown>;
  {
    const dataDir = mkdtempSync(join(tmpdir(), 'opentrail-bench-lake-'));
    const server = await startBenchServer(dataDir);
    try {
      const { t0: _t0, t1: _t1, ...run } = await ingestAll(server, opts.events, bodies, opts.connections);
      withoutStore = run;
      log(`lake ingest: no store, ingest ${run.ingestEventsPerSecond} events/s`);
    } finally {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }

  const dataDir = mkdtempSync(join(tmpdir(), 'opentrail-bench-lake-'));
  const server = await startBenchServer(dataDir, [], { lake: { maxAgeMs: opts.maxAgeMs }, metrics: { enabled: true } });
  try {
    const ct = new CloudTrailClient({ endpoint: server.url, region: 'us-east-1', maxAttempts: 1, credentials: { accessKeyId: BENCH_IDENTITY.accessKeyId, secretAccessKey: BENCH_IDENTITY.secretAccessKey } });
    const arn = (await ct.send(new CreateEventDataStoreCommand({ Name: 'bench' }))).EventDataStoreArn!;
    ct.destroy();
    log(`lake ingest: ingesting ${opts.events} events with one event data store (maxAgeMs ${opts.maxAgeMs})`);
    const { t0, t1, ...run } = await ingestAll(server, opts.events, bodies, opts.connections);
    log(`lake ingest: with a store, ingest ${run.ingestEventsPerSecond} events/s; waiting for the store to catch up`);
    const deadline = performance.now() + 300_000;
    let caughtUp: number | undefined;
    while (performance.now() < deadline) {
      const lag = await lakeLag(server.url);
      if (lag === 0) {
        caughtUp = performance.now();
        break;
      }
      await sleep(100);
    }
    if (caughtUp === undefined) throw new Error('the store did not catch up within 300 s');
    const storeSeconds = (caughtUp - t0) / 1000;
    const root = join(dataDir, 'lake');
    const id = arn.split('/').pop()!;
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    const count = Number((await conn.runAndReadAll(`SELECT count(*) AS n FROM read_parquet('${join(root, storeGlob('111111111111', id))}', hive_partitioning = false) WHERE eventSource <> 'cloudtrail.amazonaws.com'`)).getRowObjectsJson()[0]!.n);
    if (count !== opts.events) log(`WARNING: the store holds ${count} of ${opts.events} events`);
    const written = filesUnder(join(root, '111111111111', id));

    // Floor: DuckDB alone, the same records as JSON lines to zstd Parquet with the same mapping.
    const jsonl = join(dataDir, 'floor.jsonl');
    const lines: string[] = [];
    for (let i = 0; i < opts.events; i++) lines.push(JSON.stringify(record(params, i)));
    writeFileSync(jsonl, lines.join('\n') + '\n');
    const f0 = performance.now();
    await conn.run(`COPY (${lakeRowsSql(`read_json_objects('${jsonl}', format='newline_delimited')`)}) TO '${join(dataDir, 'floor.parquet')}' (FORMAT parquet, COMPRESSION zstd)`);
    const floorSeconds = (performance.now() - f0) / 1000;
    conn.closeSync();
    db.closeSync();

    const storeEventsPerSecond = Math.round(opts.events / storeSeconds);
    const result = {
      events: opts.events,
      withoutStore,
      withStore: { ...run, ingestRatioToNoStore: round(run.ingestEventsPerSecond / (withoutStore.ingestEventsPerSecond as number), 2) },
      store: {
        eventsInStore: count, storeSeconds: round(storeSeconds, 2), storeEventsPerSecond,
        caughtUpAfterIngestSeconds: round((caughtUp - t1) / 1000, 2), files: written.files, parquetBytesPerEvent: round(written.bytes / Math.max(1, count), 1),
        keepsUp: storeEventsPerSecond >= 0.9 * run.ingestEventsPerSecond,
      },
      floor: { duckdbParquetEventsPerSecond: Math.round(opts.events / floorSeconds), seconds: round(floorSeconds, 2) },
    };
    log(`lake ingest: store wrote ${storeEventsPerSecond} events/s (ingest ${run.ingestEventsPerSecond}), caught up ${result.store.caughtUpAfterIngestSeconds} s after ingest; floor ${result.floor.duckdbParquetEventsPerSecond} events/s`);
    return result;
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
