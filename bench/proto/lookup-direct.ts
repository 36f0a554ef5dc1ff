/**
 * Prototype (not used by `npm run bench`): LookupEvents in-process on a copy of a cached dataset
 * (layout 2), without HTTP, SigV4 or the SDK: lookupEvents() from src/history over
 * SqliteEventStore, with the lean client's inputs (bench/lookup.ts makeInputs, same seeds) and,
 * after each lookup, a one-event `process` append as the self-audit record would make (so L0
 * grows as under the HTTP bench). Per case: wall time and the main thread's CPU per lookup, and
 * the reader's counters (blocks read and decoded), and the main thread's GC pauses (count, total,
 * longest, and the p99 of the lookups that no GC pause overlapped). Use it on a scratch copy: it
 * writes.
 *
 *   node bench/proto/lookup-direct.ts DATA_DIR [samples=500] [warmup=50] [cases=all] [audit=1]
 *
 * audit: 0 no record, 1 the record awaited after each lookup (selfAudit.readRecords
 * before-answer), 2 handed over and not awaited (after-answer: its commit overlaps the next lookup).
 */
import { readFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { join } from 'node:path';
import { SqliteEventStore } from '../../src/stores/sqlite/index.ts';
import { lookupEvents, NextTokenCodec } from '../../src/history/index.ts';
import { LOOKUP_CASES, makeInputs } from '../lookup.ts';
import { appendInputOf, type DatasetManifest } from '../dataset.ts';
import { summarize } from '../lib.ts';

const dir = process.argv[2]!;
const samples = Number(process.argv[3] ?? 500);
const warmup = Number(process.argv[4] ?? 50);
const only = process.argv[5] && process.argv[5] !== 'all' ? process.argv[5].split(',') : [...LOOKUP_CASES];
const audit = Number(process.argv[6] ?? '1');
/** The main thread's GC pauses, [start, end] in performance.now() time. */
const gcs: [number, number][] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push([e.startTime, e.startTime + e.duration]);
}).observe({ entryTypes: ['gc'] });
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as DatasetManifest;
const p = manifest.params;
const store = new SqliteEventStore({ path: join(dir, 'events.db') });
const deps = { store, tokens: new NextTokenCodec(NextTokenCodec.randomKey()), retentionDays: 36500 };
const ctx = { accountId: '111111111111', region: 'us-east-1', nowMs: p.endMs + 1000 };
const reader = (store as unknown as { reader: { stats?: Record<string, number> } }).reader;
let extra = p.count + 1_000_000;
const out: Record<string, unknown> = {};
const cpu0 = process.cpuUsage();
for (const name of only) {
  const inputs = makeInputs(p, name, warmup + samples, 0xbeef + name.length * 7919);
  const wall: number[] = [];
  const cpu: number[] = [];
  let events = 0;
  const clean: number[] = [];
  const windows: [number, number][] = [];
  const gc0 = gcs.length;
  const stats0 = { ...reader.stats };
  let pending: Promise<unknown> = Promise.resolve();
  for (let i = 0; i < inputs.length; i++) {
    if (i === warmup) Object.assign(stats0, reader.stats);
    const c0 = process.threadCpuUsage();
    const s = performance.now();
    const answer = await lookupEvents(deps, ctx, inputs[i] as never);
    const ms = performance.now() - s;
    const c1 = process.threadCpuUsage(c0);
    if (audit === 1) await store.append([{ ...appendInputOf(p, extra++), accountId: '999999999999' }], 'process');
    if (audit === 2) pending = store.append([{ ...appendInputOf(p, extra++), accountId: '999999999999' }], 'process');
    if (i >= warmup) {
      wall.push(ms);
      windows.push([s, s + ms]);
      cpu.push((c1.user + c1.system) / 1000);
      events += (answer.text.match(/"EventId"/g) ?? []).length;
    }
  }
  await pending;
  // GC entries arrive asynchronously: give the observer a turn before reading them.
  await new Promise((r) => setTimeout(r, 10));
  const mine = gcs.slice(gc0);
  for (let k = 0; k < windows.length; k++) {
    const [a, b] = windows[k]!;
    if (!mine.some(([g0, g1]) => g0 < b && g1 > a)) clean.push(wall[k]!);
  }
  const gcMs = mine.map(([a, b]) => b - a);
  const gc = { pauses: mine.length, totalMs: Math.round(gcMs.reduce((x, y) => x + y, 0) * 100) / 100, maxMs: Math.round(Math.max(0, ...gcMs) * 100) / 100, lookupsHit: windows.length - clean.length, cleanWallMs: summarize(clean) };
  const counters = Object.fromEntries(Object.entries(reader.stats ?? {}).map(([k, v]) => [k, Math.round(((v - (stats0[k] ?? 0)) / samples) * 100) / 100]));
  out[name] = { wallMs: summarize(wall), cpuMs: summarize(cpu), cpuMeanMs: Math.round((cpu.reduce((a, b) => a + b, 0) / cpu.length) * 1000) / 1000, events: events / samples, perLookup: counters, gc };
  process.stderr.write(`${name}: wall p50 ${(out[name] as { wallMs: { p50: number } }).wallMs.p50} p99 ${(out[name] as { wallMs: { p99: number } }).wallMs.p99} cpu mean ${(out[name] as { cpuMeanMs: number }).cpuMeanMs} ms ${JSON.stringify(counters)} gc ${JSON.stringify({ ...gc, cleanWallMs: { p50: gc.cleanWallMs.p50, p99: gc.cleanWallMs.p99 } })}\n`);
}
const c = process.cpuUsage(cpu0);
await store.close();
console.log(JSON.stringify({ events: manifest.events, samples, processCpuS: (c.user + c.system) / 1e6, results: out }, null, 2));
