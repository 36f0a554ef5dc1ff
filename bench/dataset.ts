/**
 * Builds (or reuses) a large Event history dataset by driving SqliteEventStore directly, the same
 * append() the server's group commit calls, in transactions of BATCH events. A worker thread
 * generates and normalises records while the main thread appends, so the build time is close to
 * the store's own append cost.
 *
 * Cache: bench/out/datasets/<key>/events.db with manifest.json; the key covers the generator
 * version, seed, count and time span, so a changed generator builds a new dataset.
 *
 * Run alone: node bench/dataset.ts 1000000
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileBytes } from './lib.ts';
import { bulkLoad } from './bulkload.ts';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { GENERATOR_VERSION, record, type GenParams } from './gen.ts';
import { normalizeRecord } from '../src/core/index.ts';
import { toAppendInput } from '../src/ingest/prepare.ts';
import { SqliteEventStore } from '../src/stores/sqlite/index.ts';
import type { AppendInput } from '../src/stores/index.ts';

export const OUT_DIR = new URL('./out/', import.meta.url).pathname;
const BATCH = 5000;
/** The dataset's last eventTime: fixed, so datasets are the same whenever they are built. */
export const DATASET_END_MS = Date.UTC(2026, 9, 1);
export const DATASET_SPAN_MS = 30 * 24 * 3600 * 1000;
export const DATASET_SEED = 20260101;

export interface DatasetManifest {
  key: string;
  method: BuildMethod;
  params: GenParams;
  generatorVersion: number;
  events: number;
  buildSeconds: number;
  eventsPerSecond: number;
  dbBytes: number;
  walBytes: number;
  builtAt: string;
  historyRows: number;
  historyKeys: number;
}

export function datasetParams(count: number): GenParams {
  return { seed: DATASET_SEED, count, endMs: DATASET_END_MS, spanMs: DATASET_SPAN_MS };
}

function log(msg: string): void {
  process.stderr.write(`[dataset] ${msg}\n`);
}

export type BuildMethod = 'store' | 'bulk';

export function datasetKey(p: GenParams, method: BuildMethod): string {
  return `v${GENERATOR_VERSION}-s${p.seed}-n${p.count}-e${p.endMs}-span${p.spanMs}${method === 'bulk' ? '-bulk' : ''}`;
}

/**
 * SqliteEventStore.append below 1M events, the bulk loader from 1M on (BENCH_BUILD=store|bulk
 * overrides): append() slows to ~1,000 events/s past 500k events on this machine (docs/performance.md).
 */
export function defaultMethod(count: number): BuildMethod {
  const m = process.env.BENCH_BUILD;
  if (m === 'store' || m === 'bulk') return m;
  return count >= 1_000_000 ? 'bulk' : 'store';
}

/** Returns the dataset directory (holding events.db) and its manifest, building it if needed. */
export async function ensureDataset(count: number, method: BuildMethod = defaultMethod(count)): Promise<{ dir: string; manifest: DatasetManifest; reused: boolean }> {
  const params = datasetParams(count);
  const key = datasetKey(params, method);
  const dir = join(OUT_DIR, 'datasets', key);
  const manifestFile = join(dir, 'manifest.json');
  if (existsSync(manifestFile)) {
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as DatasetManifest;
    manifest.method ??= 'store';
    log(`reusing ${dir} (${manifest.events} events, built in ${manifest.buildSeconds.toFixed(0)} s)`);
    return { dir, manifest, reused: true };
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const dbPath = join(dir, 'events.db');
  log(`building ${count} events into ${dbPath} with ${method === 'bulk' ? 'the bulk loader' : 'SqliteEventStore.append'}`);
  const t0 = performance.now();
  const appended = method === 'bulk' ? (await bulkLoad(dbPath, params), count) : await buildWithStore(dbPath, params);
  // Checkpoint the WAL so the measured size is the database's and the server starts clean.
  const db = new DatabaseSync(dbPath);
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  const historyRows = (db.prepare('SELECT count(*) AS n FROM history').get() as { n: number }).n;
  const historyKeys = (db.prepare('SELECT count(*) AS n FROM history_keys').get() as { n: number }).n;
  db.close();
  const buildSeconds = (performance.now() - t0) / 1000;
  const manifest: DatasetManifest = {
    key, method, params, generatorVersion: GENERATOR_VERSION, events: appended, buildSeconds,
    eventsPerSecond: appended / buildSeconds, dbBytes: fileBytes(dbPath), walBytes: fileBytes(`${dbPath}-wal`),
    builtAt: new Date().toISOString(), historyRows, historyKeys,
  };
  writeFileSync(manifestFile, JSON.stringify(manifest, null, 2));
  log(`built ${appended} events in ${buildSeconds.toFixed(0)} s (${manifest.eventsPerSecond.toFixed(0)} ev/s), ${(manifest.dbBytes / 2 ** 30).toFixed(2)} GiB`);
  return { dir, manifest, reused: false };
}

/** Appends the dataset through SqliteEventStore.append in batches of BATCH; returns the count. */
async function buildWithStore(dbPath: string, params: GenParams): Promise<number> {
  const store = new SqliteEventStore({ path: dbPath });
  const worker = new Worker(new URL(import.meta.url), { workerData: { kind: 'store', params, batch: BATCH } });
  const queue: AppendInput[][] = [];
  let done = false;
  let wake: (() => void) | undefined;
  let failed: unknown;
  worker.on('message', (m: AppendInput[] | null) => {
    if (m === null) done = true;
    else queue.push(m);
    wake?.();
  });
  worker.on('error', (e) => {
    failed = e;
    wake?.();
  });
  const t0 = performance.now();
  let appended = 0;
  let lastLog = t0;
  let appendMs = 0;
  for (;;) {
    if (failed) throw failed;
    const batch = queue.shift();
    if (!batch) {
      if (done) break;
      await new Promise<void>((r) => (wake = r));
      wake = undefined;
      continue;
    }
    if (queue.length < 4) worker.postMessage('more');
    const a0 = performance.now();
    await store.append(batch);
    appendMs += performance.now() - a0;
    appended += batch.length;
    const now = performance.now();
    if (now - lastLog > 10_000) {
      lastLog = now;
      log(`${appended} events, ${(appended / ((now - t0) / 1000)).toFixed(0)} ev/s overall, append ${((appendMs * 1000) / appended).toFixed(1)} us/event`);
    }
  }
  await worker.terminate();
  await store.close();
  return appended;
}

/** Worker: generates and normalises batches ahead of the appender (at most ~8 batches ahead). */
function workerMain(): void {
  const { params, batch } = workerData as { params: GenParams; batch: number };
  const ctx = { defaultAccountId: '111111111111', defaultRegion: 'us-east-1', nowMs: params.endMs, ids: { uuid: () => crypto.randomUUID() } };
  let next = 0;
  let credit = 8;
  const produce = () => {
    while (credit > 0 && next < params.count) {
      const end = Math.min(params.count, next + batch);
      const out: AppendInput[] = [];
      for (let i = next; i < end; i++) {
        const n = normalizeRecord(record(params, i), ctx);
        if (!n.ok) throw new Error(`generator produced an invalid record ${i}: ${n.errorMessage}`);
        out.push(toAppendInput(n.value));
      }
      next = end;
      credit--;
      parentPort!.postMessage(out);
    }
    if (next >= params.count) parentPort!.postMessage(null);
  };
  parentPort!.on('message', () => {
    credit++;
    produce();
  });
  produce();
}

if (!isMainThread) {
  if ((workerData as { kind?: string }).kind === 'store') workerMain();
} else if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const n = Number(process.argv[2] ?? 1_000_000);
  await ensureDataset(n, (process.argv[3] as BuildMethod | undefined) ?? defaultMethod(n));
}
