/**
 * The bulk ingest path in process, for its garbage: bodies of bench/gen.ts records (fresh
 * eventIDs) go through parseBulkChunks -> ingestBulk -> Ingester -> SqliteEventStore, REQUESTS at
 * a time (as BULK_ADMISSION admits them over HTTP). Prints JSON: CPU per event per thread (main;
 * writer; every other thread, which is mostly V8's GC/JIT helpers), and the main thread's GCs per
 * 1,000 events by kind with their pause time (PerformanceObserver 'gc').
 *   node --max-semi-space-size=16 --max-old-space-size=1536 bench/proto/ingest-gc.ts [events=60000] [perRequest=1000] [requests=2]
 * SRC=/abs/path/to/src measures another tree's src (e.g. main's, exported with git archive), the
 * same bench against both.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { record } from '../gen.ts';
import { PARAMS, threadCpu } from './engine-v2-pool.ts';

const N = Number(process.argv[2] ?? 60_000);
const PER = Number(process.argv[3] ?? 1000);
const CONC = Number(process.argv[4] ?? 2);
const SRC = resolve(process.env.SRC ?? join(import.meta.dirname, '../../src'));
const { ingestBulk, ingestAdmitted, bulkAdmitter, parseBulkChunks, Ingester } = await import(join(SRC, 'ingest/index.ts'));
/** The tree's HTTP path: parse then admit (before), or admit while parsing (src/http/app.ts now). */
const fused = typeof bulkAdmitter === 'function' && process.env.FUSED !== '0';
const { SqliteEventStore } = await import(join(SRC, 'stores/sqlite/index.ts'));


// Bodies built ahead (off-heap Buffers), so the run's garbage is the server path's alone.
const WARM = 4;
const requests = Math.ceil(N / PER) + WARM;
const POOL = 5000;
const texts: string[] = [];
for (let i = 0; i < POOL; i++) texts.push(JSON.stringify(record({ ...PARAMS, count: POOL }, i)));
const bodies: Buffer[] = [];
for (let k = 0; k < requests; k++) {
  const recs: string[] = [];
  for (let j = 0; j < PER; j++) {
    const t = texts[(k * PER + j) % POOL]!;
    recs.push(t.replace(/"eventID":"[^"]*"/, `"eventID":"${crypto.randomUUID()}"`));
  }
  bodies.push(Buffer.from(`{"Records":[${recs.join(',')}]}`));
}
texts.length = 0;

const dir = mkdtempSync(join(tmpdir(), 'ingest-gc-'));
const store = new SqliteEventStore({ path: join(dir, 'events.db') });
const ingester = new Ingester(store, { maxBatchEvents: 4000 });
const identity = { type: 'Root', accountId: '111111111111', accessKeyId: 'AKIA', secretAccessKey: 's', principalId: '111111111111', isTrustedProducer: true };
const ids = { uuid: () => crypto.randomUUID() };

async function* once(b: Buffer): AsyncIterable<Uint8Array> {
  yield b;
}

let next = 0;
let measuring = false;
const gcs = new Map<string, { n: number; ms: number }>();
const KIND: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor', [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};
new PerformanceObserver((list) => {
  if (!measuring) return;
  for (const e of list.getEntries()) {
    const kind = KIND[((e as unknown as { detail: { kind: number } }).detail).kind] ?? 'other';
    const g = gcs.get(kind) ?? gcs.set(kind, { n: 0, ms: 0 }).get(kind)!;
    g.n++;
    g.ms += e.duration;
  }
}).observe({ entryTypes: ['gc'] });

async function client(upTo: number): Promise<void> {
  while (next < upTo) {
    const body = bodies[next]!;
    bodies[next++] = Buffer.alloc(0);
    const limits = { maxRecords: 5000, maxRecordChars: 1024 * 1024 };
    const ctx = { identity, region: 'us-east-1', nowMs: Date.now(), ids };
    const out = fused
      ? await ingestAdmitted(ingester, await parseBulkChunks(once(body), limits, bulkAdmitter(ctx)))
      : await ingestBulk(ingester, ctx, await parseBulkChunks(once(body), limits));
    if (out.accepted !== PER) throw new Error(`accepted ${out.accepted} of ${PER}: ${JSON.stringify(out.results.find((r: { status: string }) => r.status !== 'accepted'))}`);
  }
}

await Promise.all(Array.from({ length: CONC }, () => client(WARM)));
const w0 = (await store.writerStats()).cpuMs;
const c0 = threadCpu();
const t0 = performance.now();
measuring = true;
await Promise.all(Array.from({ length: CONC }, () => client(requests)));
measuring = false;
const seconds = (performance.now() - t0) / 1000;
const c1 = threadCpu();
const w1 = (await store.writerStats()).cpuMs;
const events = (requests - WARM) * PER;
await new Promise((r) => setTimeout(r, 50)); // let the observer's last entries arrive
const us = (s: number) => +((s * 1e6) / events).toFixed(1);
const writerUs = +(((w1 - w0) * 1e3) / events).toFixed(1);
console.log(JSON.stringify({
  src: SRC, fused, events, perRequest: PER, concurrent: CONC, seconds: +seconds.toFixed(1), eventsPerSec: Math.round(events / seconds),
  cpuUsPerEvent: { main: us(c1.main - c0.main), writer: writerUs, othersButWriter: +(us(c1.others - c0.others) - writerUs).toFixed(1), all: us(c1.main - c0.main + c1.others - c0.others) },
  mainGcPer1kEvents: Object.fromEntries([...gcs].map(([k, g]) => [k, { n: +((g.n * 1000) / events).toFixed(2), ms: +((g.ms * 1000) / events).toFixed(2) }])),
  rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
}));
await store.close();
rmSync(dir, { recursive: true, force: true });
