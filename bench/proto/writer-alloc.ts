/**
 * The events.db writer alone, on this thread (no worker, no hand-off): N bench events in packed
 * batches of BATCH (packed before the clock starts), group commits and merges as the writer
 * thread runs them. Prints JSON: the thread's CPU per event, commits' and merges' shares, and
 * with ALLOC=1 where the writer's bytes are allocated (V8's sampling heap profiler through the
 * inspector, counting objects the GC already collected: garbage included), by function.
 *   node --max-semi-space-size=16 bench/proto/writer-alloc.ts [events=100000] [batch=1000]
 * SRC=/abs/path/to/src measures another tree's writer (e.g. main's, exported with git archive).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Session } from 'node:inspector/promises';
import { nth, pool } from './engine-v2-pool.ts';

const N = Number(process.argv[2] ?? 100_000);
const BATCH = Number(process.argv[3] ?? 1000);
const SRC = resolve(process.env.SRC ?? join(import.meta.dirname, '../../src'));
const { EventWriter } = await import(join(SRC, 'stores/sqlite/event-writer.ts'));
const { prepareFile } = await import(join(SRC, 'stores/sqlite/event-schema.ts'));
const { packBatch } = await import(join(SRC, 'stores/sqlite/append-batch.ts'));

const p = pool();
const batches: unknown[] = [];
for (let i = 0; i < N; i += BATCH) batches.push(packBatch(Array.from({ length: Math.min(BATCH, N - i) }, (_, j) => nth(p, i + j))).packed);
p.length = 0;

const dir = mkdtempSync(join(tmpdir(), 'writer-alloc-'));
const path = join(dir, 'events.db');
prepareFile(path, dir);
const writer = new EventWriter({ path, blockEvents: 8, bucketEvents: 65_536, hashBits: 53, cacheMiB: 8 });

const cpu = () => {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1000;
};
const session = new Session();
if (process.env.ALLOC === '1') {
  session.connect();
  await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
}
let commitMs = 0;
let mergeMs = 0;
let mergeWriteMs = 0;
const c0 = cpu();
for (const batch of batches) {
  const t = cpu();
  writer.begin('disk');
  writer.add(batch, Date.now());
  writer.commit();
  commitMs += cpu() - t;
  if (writer.mergeDue) {
    const m0 = cpu();
    const prepared = await writer.prepareMerge(() => Promise.resolve());
    const w0 = cpu();
    if (prepared) writer.commitMerge(prepared);
    mergeWriteMs += cpu() - w0;
    mergeMs += cpu() - m0;
  }
}
const totalMs = cpu() - c0;
let alloc: unknown;
if (process.env.ALLOC === '1') {
  const { profile } = await session.post('HeapProfiler.stopSampling');
  interface ProfNode { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: ProfNode[] }
  const self = new Map<string, number>();
  let total = 0;
  const walk = (n: ProfNode): void => {
    const name = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').slice(-1)[0]}:${n.callFrame.lineNumber + 1}`;
    total += n.selfSize;
    if (n.selfSize) self.set(name, (self.get(name) ?? 0) + n.selfSize);
    for (const c of n.children) walk(c);
  };
  walk(profile.head as ProfNode);
  alloc = { bytesPerEvent: Math.round(total / N), top: [...self].sort((a, b) => b[1] - a[1]).slice(0, 20).map(([f, s]) => [f, Math.round(s / N)]) };
  session.disconnect();
}
writer.close();
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({
  src: SRC, events: N, batch: BATCH, merges: writer.stats.merges,
  cpuUsPerEvent: { all: +((totalMs * 1000) / N).toFixed(1), commits: +((commitMs * 1000) / N).toFixed(1), merges: +((mergeMs * 1000) / N).toFixed(1), mergeWrites: +((mergeWriteMs * 1000) / N).toFixed(1) },
  mergedEvents: writer.stats.merges * 65_536,
  ...(alloc ? { alloc } : {}),
}));
