/**
 * events.db layout 2, in process: ingest N bench/gen.ts events (a 20k-record pool under fresh
 * eventIds) in durable commits of BATCH, then lookups. Prints JSON: bytes written per event
 * (/proc/self/io write_bytes, every thread: WAL, checkpoints and all), events/s per slice of the
 * run, CPU on the main thread vs the other threads, lookup latencies.
 *   node bench/proto/engine-v2-ingest.ts [events=1000000] [batch=2000] [dir]
 * ZSTD_LEVEL=n sets the writer's zstd level (the store's `zstdLevel`).
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '../../src/stores/sqlite/index.ts';
import type { HistoryQuery } from '../../src/stores/index.ts';
import { nth, pool, threadCpu } from './engine-v2-pool.ts';

const N = Number(process.argv[2] ?? 1_000_000);
const BATCH = Number(process.argv[3] ?? 2000);
const dir = process.argv[4] ?? mkdtempSync(join(tmpdir(), 'engine-v2-'));
const path = join(dir, 'events.db');

const writeBytes = () => Number(/write_bytes: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))![1]);
const size = (p: string) => {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
};

const p = pool();
const rawBytes = p.reduce((s, e) => s + Buffer.byteLength(e.json), 0) / p.length;
const startStore = performance.now();
const store = new SqliteEventStore({ path, ...(process.env.ZSTD_LEVEL ? { zstdLevel: Number(process.env.ZSTD_LEVEL) } : {}) });
const before = await store.count();
const writerCpu0 = (await store.writerStats()).cpuMs;
const w0 = writeBytes();
const cpu0 = threadCpu();
const t0 = performance.now();
const slices: { stored: number; eventsPerSec: number }[] = [];
let sliceStart = t0;
let sliceN = 0;
const SLICE = Math.max(BATCH, Math.floor(N / 10));
for (let i = 0; i < N; i += BATCH) {
  const batch = Array.from({ length: Math.min(BATCH, N - i) }, (_, j) => nth(p, before + i + j));
  await store.append(batch);
  sliceN += batch.length;
  if (sliceN >= SLICE || i + BATCH >= N) {
    const now = performance.now();
    slices.push({ stored: before + i + batch.length, eventsPerSec: Math.round(sliceN / ((now - sliceStart) / 1000)) });
    process.stderr.write(`${JSON.stringify(slices[slices.length - 1])} wal ${size(`${path}-wal`)}\n`);
    sliceStart = now;
    sliceN = 0;
  }
}
const seconds = (performance.now() - t0) / 1000;
const writer = await store.writerStats();
const written = writeBytes() - w0;
const cpu1 = threadCpu();

// Lookups: recent-first, limit 50, the way LookupEvents asks.
const total = before + N;
const lastT = nth(p, total - 1).eventTimeSec;
const qs: [string, HistoryQuery][] = [];
for (let i = 0; i < 100; i++) {
  const e = nth(p, Math.floor(Math.random() * total));
  const base = { accountId: e.accountId, region: e.region, startSec: 0, endSec: 4e9, limit: 50 };
  const name = e.history!.find(([k]) => k === 'EventName')!;
  const user = e.history!.find(([k]) => k === 'Username');
  qs.push(['EventName', { ...base, attribute: name }]);
  if (user) qs.push(['Username', { ...base, attribute: user }]);
  qs.push(['EventId', { ...base, attribute: ['EventId', e.eventId] }]);
  qs.push(['all', { ...base, attribute: ['*', 'management'] }]);
  qs.push(['1 hour', { ...base, attribute: ['*', 'management'], startSec: lastT - 86_400 * 3 - 3600, endSec: lastT - 86_400 * 3 }]);
}
// Two passes over the same queries: the first after the ingest (cold caches), the second warm.
const lat = new Map<string, number[]>();
const slowest: { pass: number; i: number; kind: string; ms: number }[] = [];
for (let pass = 0; pass < 2; pass++) {
  for (const [i, [kind, q]] of qs.entries()) {
    const t = performance.now();
    const rows = await store.lookup(q);
    const ms = performance.now() - t;
    if (kind === 'EventId' && rows.length !== 1) throw new Error(`EventId lookup found ${rows.length}`);
    if (pass === 1) (lat.get(kind) ?? lat.set(kind, []).get(kind)!).push(ms);
    if (ms > 20) slowest.push({ pass, i, kind, ms: Math.round(ms) });
  }
}
const pct = (a: number[], q: number) => +[...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(q * a.length))]!.toFixed(2);
const lookups = Object.fromEntries([...lat].map(([k, a]) => [k, { n: a.length, p50Ms: pct(a, 0.5), p99Ms: pct(a, 0.99), maxMs: pct(a, 1) }]));
await store.close();
const reopenStart = performance.now();
const again = new SqliteEventStore({ path });
await again.append([]); // nothing: opens lazily
await again.probe(); // the writer thread has rebuilt its id table by now
const reopenMs = performance.now() - reopenStart;
const reopenWriterMs = (await again.writerStats()).openMs;
await again.close();
console.log(JSON.stringify({
  events: N, batch: BATCH, storedBefore: before, storedAfter: total, rawBytesPerEvent: Math.round(rawBytes),
  seconds: +seconds.toFixed(1), eventsPerSec: Math.round(N / seconds), slices,
  writeBytesPerEvent: Math.round(written / N), dbBytesPerEvent: Math.round(size(path) / total),
  cpuUsPerEvent: { main: +(((cpu1.main - cpu0.main) * 1e6) / N).toFixed(1), otherThreads: +(((cpu1.others - cpu0.others) * 1e6) / N).toFixed(1), writerThread: +(((writer.cpuMs - writerCpu0) * 1e3) / N).toFixed(1) },
  lookups, slowLookups: slowest.slice(0, 20), reopenMs: Math.round(reopenMs), reopenWriterOpenMs: Math.round(reopenWriterMs), openMs: Math.round(t0 - startStore),
  merges: writer.merges, mergeMsMax: Math.round(writer.mergeMsMax), mergeWriteMsMax: Math.round(writer.mergeWriteMsMax), mergeMsAvg: Math.round(writer.mergeMsTotal / Math.max(1, writer.merges)), idTableCapacity: writer.tableCapacity,
  rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
}));
if (!process.argv[4]) rmSync(dir, { recursive: true, force: true });
