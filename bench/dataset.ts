/**
 * Builds (or reuses) a large Event history dataset through the real write path: bench/gen.ts
 * records, normalised and mapped exactly as POST /ingest maps them (normalizeRecord +
 * toAppendInput of src/ingest, so history attributes and summaries are what the server stores),
 * appended with `SqliteEventStore.append` in batches of 5,000. It knows nothing of the store's
 * files: whatever the store keeps under the data directory is the dataset, so the same code
 * builds the datasets of any store behind the EventStore interface.
 *
 * A worker thread generates and normalises batches while the main thread appends, so the build
 * time is close to the store's own append cost.
 *
 * Cache: bench/out/datasets/<key>/ with manifest.json (written last: a directory without it is an
 * unfinished build). The key holds the generator version, the store's layout version
 * (EVENT_STORE_LAYOUT exported by src/stores/sqlite, 1 while it exports none; BENCH_LAYOUT
 * overrides), a fingerprint of what the ingest mapping gives the store, the seed, count and time
 * span: a changed generator, layout or mapping builds a new dataset.
 * An interrupted build resumes where it stopped: every append is atomic and in generator order,
 * so the store's count() is the index of the next record to append.
 *
 * Runs never write into the cache: scratchCopy() copies a dataset to a data directory of its own,
 * which the server then opens (and adds self-audit and ingested events to).
 * BENCH_DATASETS_DIR=<another checkout's bench/out/datasets> reads finished datasets from there
 * (read only: a dataset missing there is an error, never built there); the scratch copies still go
 * to this checkout's bench/out/work.
 *
 * Run alone: node bench/dataset.ts 1000000
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ACCOUNT_ID, GENERATOR_VERSION, REGION, record, type GenParams } from './gen.ts';
import { normalizeRecord, type NormalizeContext } from '../src/core/index.ts';
import { toAppendInput } from '../src/ingest/prepare.ts';
import * as sqliteStores from '../src/stores/sqlite/index.ts';
import { SqliteEventStore } from '../src/stores/sqlite/index.ts';
import type { AppendInput, EventStore } from '../src/stores/index.ts';

export const OUT_DIR = new URL('./out/', import.meta.url).pathname;
const BATCH = 5000;
/** The dataset's last eventTime: fixed, so datasets are the same whenever they are built. */
export const DATASET_END_MS = Date.UTC(2026, 9, 1);
export const DATASET_SPAN_MS = 30 * 24 * 3600 * 1000;
export const DATASET_SEED = 20260101;

/** Where the server keeps its event store under a data directory (as src/server.ts opens it). */
export function eventStorePath(dataDir: string): string {
  return join(dataDir, 'events.db');
}

/** The event store as the server opens it for `dataDir`. */
export function openEventStore(dataDir: string): SqliteEventStore {
  return new SqliteEventStore({ path: eventStorePath(dataDir) });
}

/**
 * The store's on-disk layout version: `EVENT_STORE_LAYOUT` when src/stores/sqlite exports one
 * (a number bumped with every change of what is on disk), else 1 (the layout without one).
 */
export function storeLayout(): string {
  if (process.env.BENCH_LAYOUT) return process.env.BENCH_LAYOUT;
  const v = (sqliteStores as Record<string, unknown>).EVENT_STORE_LAYOUT;
  return v === undefined ? '1' : String(v);
}

export interface DatasetManifest {
  key: string;
  params: GenParams;
  generatorVersion: number;
  layout: string;
  events: number;
  /** Seconds of the build (summed over resumed parts) and its rate. */
  buildSeconds: number;
  eventsPerSecond: number;
  /** Every file of the data directory (the store's files), after the store closed. */
  bytes: number;
  bytesPerEvent: number;
  files: Record<string, number>;
  builtAt: string;
  resumedAt: number[];
}

interface Progress {
  key: string;
  buildSeconds: number;
  resumedAt: number[];
}

/**
 * What POST /ingest normalises a record against (src/ingest/bulk.ts): the bench caller's account
 * and signing region; "now" is the dataset's end.
 */
export function normalizeContext(params: GenParams): NormalizeContext {
  return { defaultAccountId: ACCOUNT_ID, defaultRegion: REGION, nowMs: params.endMs, ids: { uuid: () => crypto.randomUUID() } };
}

export function datasetParams(count: number): GenParams {
  return { seed: DATASET_SEED, count, endMs: DATASET_END_MS, spanMs: DATASET_SPAN_MS };
}

function log(msg: string): void {
  process.stderr.write(`[dataset] ${msg}\n`);
}

export function datasetKey(p: GenParams): string {
  return `g${GENERATOR_VERSION}-layout${storeLayout()}-m${mappingFingerprint(p)}-s${p.seed}-n${p.count}-e${p.endMs}-span${p.spanMs}`;
}

/** A generated record as POST /ingest hands it to the store. */
export function appendInputOf(params: GenParams, i: number, ctx = normalizeContext(params)): AppendInput {
  const n = normalizeRecord(record(params, i), ctx);
  if (!n.ok) throw new Error(`generator produced an invalid record ${i}: ${n.errorMessage}`);
  return toAppendInput(n.value);
}

/**
 * 8 hex digits of SHA-256 over what the store is given for the first 200 records: changes when
 * src/core's normalising or src/ingest's mapping does (history attributes, summaries), so a
 * dataset is rebuilt when the server would now store something else.
 */
export function mappingFingerprint(params: GenParams): string {
  const h = createHash('sha256');
  const ctx = normalizeContext(params);
  for (let i = 0; i < Math.min(200, params.count); i++) h.update(JSON.stringify(appendInputOf(params, i, ctx)));
  return h.digest('hex').slice(0, 8);
}

/** Sizes of the files under dir (recursively), by relative path, without the bench's own files. */
export function filesOf(dir: string, skip: string[] = ['manifest.json', 'progress.json']): Record<string, number> {
  const out: Record<string, number> = {};
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (!rel && skip.includes(e.name)) continue;
      if (e.isDirectory()) walk(join(d, e.name), r);
      else if (e.isFile()) out[r] = statSync(join(d, e.name)).size;
    }
  };
  walk(dir, '');
  return out;
}

export const sumBytes = (files: Record<string, number>) => Object.values(files).reduce((a, b) => a + b, 0);

/** Returns the dataset directory and its manifest, building (or finishing) it if needed. */
export async function ensureDataset(count: number): Promise<{ dir: string; manifest: DatasetManifest; reused: boolean }> {
  const params = datasetParams(count);
  const key = datasetKey(params);
  // BENCH_DATASETS_DIR: another checkout's cache, read only (a run copies the dataset to its own bench/out/work).
  const shared = process.env.BENCH_DATASETS_DIR;
  const dir = join(shared ?? join(OUT_DIR, 'datasets'), key);
  const manifestFile = join(dir, 'manifest.json');
  const progressFile = join(dir, 'progress.json');
  if (existsSync(manifestFile)) {
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as DatasetManifest;
    log(`reusing ${dir} (${manifest.events} events, ${(manifest.bytes / 2 ** 30).toFixed(2)} GiB, built at ${Math.round(manifest.eventsPerSecond)} ev/s)`);
    return { dir, manifest, reused: true };
  }
  if (shared) throw new Error(`BENCH_DATASETS_DIR=${shared} holds no finished dataset ${key} (no manifest.json); it is only read: build it there with that checkout's node bench/dataset.ts ${count}, or unset BENCH_DATASETS_DIR to build one in this checkout's bench/out/datasets`);
  let progress: Progress = { key, buildSeconds: 0, resumedAt: [] };
  if (existsSync(progressFile)) {
    progress = JSON.parse(readFileSync(progressFile, 'utf8')) as Progress;
  } else {
    // Nothing there, or something this code did not start: begin afresh.
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(progressFile, JSON.stringify(progress));
  }
  const t0 = performance.now();
  const store = openEventStore(dir);
  let appended: number;
  try {
    const from = await store.count();
    if (from > 0) {
      log(`resuming the build of ${dir} at event ${from} of ${count}`);
      progress.resumedAt.push(from);
    } else log(`building ${count} events into ${dir} with SqliteEventStore.append, ${BATCH} per append`);
    const save = () => writeFileSync(progressFile, JSON.stringify({ ...progress, buildSeconds: progress.buildSeconds + (performance.now() - t0) / 1000 }));
    appended = await appendAll(store, params, from, save);
  } finally {
    await store.close();
  }
  const buildSeconds = progress.buildSeconds + (performance.now() - t0) / 1000;
  const files = filesOf(dir);
  const bytes = sumBytes(files);
  const manifest: DatasetManifest = {
    key, params, generatorVersion: GENERATOR_VERSION, layout: storeLayout(), events: appended, buildSeconds,
    eventsPerSecond: appended / buildSeconds, bytes, bytesPerEvent: Math.round(bytes / appended), files,
    builtAt: new Date().toISOString(), resumedAt: progress.resumedAt,
  };
  if (appended !== count) throw new Error(`dataset ${dir}: the store holds ${appended} events, not ${count}; remove the directory to rebuild`);
  writeFileSync(manifestFile, JSON.stringify(manifest, null, 2));
  rmSync(progressFile, { force: true });
  log(`built ${appended} events in ${buildSeconds.toFixed(0)} s (${manifest.eventsPerSecond.toFixed(0)} ev/s), ${(bytes / 2 ** 30).toFixed(2)} GiB (${manifest.bytesPerEvent} B/event)`);
  return { dir, manifest, reused: false };
}

/**
 * Copies a dataset into a fresh data directory under bench/out/work/ (the cache stays as built);
 * the caller removes it with removeScratch().
 */
export function scratchCopy(datasetDir: string, name: string): string {
  const dest = join(OUT_DIR, 'work', `${name}-${process.pid}`);
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(join(OUT_DIR, 'work'), { recursive: true });
  const t0 = performance.now();
  const r = spawnSync('cp', ['-a', '--reflink=auto', datasetDir, dest], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`copying ${datasetDir} to ${dest} failed: ${r.stderr?.toString() ?? r.error?.message}`);
  rmSync(join(dest, 'manifest.json'), { force: true });
  log(`copied ${datasetDir} to ${dest} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return dest;
}

export function removeScratch(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Appends records [from, params.count) in batches of BATCH; returns the store's count after. Any
 * EventStore: bench/pgserve.ts builds the PostgreSQL dataset through PgEventStore.append, so it
 * holds exactly the store's layout.
 */
export async function appendAll(store: EventStore, params: GenParams, from: number, saveProgress: () => void): Promise<number> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { kind: 'store', params, batch: BATCH, from } });
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
  try {
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
      const outcomes = await store.append(batch);
      appendMs += performance.now() - a0;
      if (outcomes.some((o) => o.duplicate)) throw new Error(`the store reported a duplicate in the batch at event ${from + appended}: the dataset directory holds something else; remove it`);
      appended += batch.length;
      const now = performance.now();
      if (now - lastLog > 10_000) {
        lastLog = now;
        saveProgress();
        log(`${from + appended} of ${params.count} events, ${(appended / ((now - t0) / 1000)).toFixed(0)} ev/s, append ${((appendMs * 1000) / appended).toFixed(1)} us/event`);
      }
    }
  } finally {
    await worker.terminate();
  }
  return store.count();
}

/** Worker: generates and normalises batches ahead of the appender (at most ~8 batches ahead). */
function workerMain(): void {
  const { params, batch, from } = workerData as { params: GenParams; batch: number; from: number };
  const ctx = normalizeContext(params);
  let next = from;
  let credit = 8;
  const produce = () => {
    while (credit > 0 && next < params.count) {
      const end = Math.min(params.count, next + batch);
      const out: AppendInput[] = [];
      for (let i = next; i < end; i++) out.push(appendInputOf(params, i, ctx));
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
  await ensureDataset(Number(process.argv[2] ?? 1_000_000));
}
