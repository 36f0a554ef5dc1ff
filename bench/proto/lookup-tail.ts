/**
 * Prototype (not used by `npm run bench`): where the lean client's LookupEvents tail goes. Starts
 * `opentrail serve` on DATA_DIR (a scratch copy of a cached dataset: it writes self-audit records)
 * with bench/proto/gc-log.ts preloaded, replays the lean client's signed requests (bench/lookup.ts)
 * one at a time over one keep-alive connection and, around each request, reads every server
 * thread's and this client thread's /proc schedstat (ns on a CPU, ns waiting for one). For each
 * case: client and server (Server-Timing) p50/p99, and the slowest 1 %: what each was made of
 * (server handler ms, the server main thread's and the client's run and run-queue wait, main-thread
 * GC pauses of the server and of the client inside the request, the other server threads' run).
 *
 *   node bench/proto/lookup-tail.ts DATA_DIR [samples=500] [warmup=100] [cases=all] [node flags...]
 */
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from 'node:http';
import { PerformanceObserver } from 'node:perf_hooks';
import { LOOKUP_CASES, makeInputs, send, signLookup } from '../lookup.ts';
import { startBenchServer, summarize } from '../lib.ts';
import type { DatasetManifest } from '../dataset.ts';

const dir = process.argv[2]!;
const samples = Number(process.argv[3] ?? 500);
const warmup = Number(process.argv[4] ?? 100);
const only = process.argv[5] && process.argv[5] !== 'all' ? process.argv[5].split(',') : [...LOOKUP_CASES];
const flags = process.argv.slice(6);
const gcFile = `/tmp/lookup-tail-gc-${process.pid}.jsonl`;
const clientGc: [number, number][] = [];
new PerformanceObserver((l) => {
  for (const e of l.getEntries()) clientGc.push([performance.timeOrigin + e.startTime, e.duration]);
}).observe({ entryTypes: ['gc'] });

const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as DatasetManifest;
const p = manifest.params;
// ALLOC_PROF=FILE: the server's main-thread allocations of the timed requests of the first case (bench/proto/alloc-prof.ts).
const allocProf = process.env.ALLOC_PROF;
const preload = (f: string) => ['--import', new URL(f, import.meta.url).pathname];
const server = await startBenchServer(dir, [...preload('./gc-log.ts'), ...(allocProf ? preload('./alloc-prof.ts') : []), ...flags], {}, { GC_LOG_FILE: gcFile, ...(allocProf ? { ALLOC_PROF_FILE: allocProf } : {}) });
let profiled = !allocProf;
const url = new URL(server.url);

/** ns on CPU and ns waiting for a CPU, per thread name (threads of one name summed). */
function sched(pid: number): Map<string, [number, number]> {
  const m = new Map<string, [number, number]>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = tid === String(pid) ? 'main' : readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const [run, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
      const v = m.get(name) ?? [0, 0];
      m.set(name, [v[0] + run!, v[1] + wait!]);
    } catch {
      // thread gone
    }
  }
  return m;
}
const delta = (a: Map<string, [number, number]>, b: Map<string, [number, number]>) => {
  const out: Record<string, [number, number]> = {};
  for (const [k, v] of b) {
    const o = a.get(k) ?? [0, 0];
    const r = [(v[0] - o[0]) / 1e6, (v[1] - o[1]) / 1e6] as [number, number];
    if (r[0] > 0.05 || r[1] > 0.05) out[k] = [Math.round(r[0] * 100) / 100, Math.round(r[1] * 100) / 100];
  }
  return out;
};

/** Group commits so far (the server's /metrics: opentrail_group_commit_events_count). */
async function commits(): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return Number(/^opentrail_group_commit_events_count (\d+)/m.exec(text)?.[1] ?? NaN);
}
const results: Record<string, unknown> = {};
try {
  for (const name of only) {
    const inputs = makeInputs(p, name, warmup + samples, 0xbeef + name.length * 7919);
    const signed = await Promise.all(inputs.map((i) => signLookup(url, i)));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    let outAt = 0;
    let commits0 = 0;
    const rows: { at: number; ms: number; serverMs: number; server: Record<string, [number, number]>; client: Record<string, [number, number]> }[] = [];
    for (let i = 0; i < signed.length; i++) {
      const s0 = sched(server.pid);
      const c0 = sched(process.pid);
      const at = performance.timeOrigin + performance.now();
      const r = await send(agent, url, signed[i]!);
      const s1 = sched(server.pid);
      const c1 = sched(process.pid);
      if (i === warmup) {
        outAt = server.output().length;
        commits0 = await commits();
      }
      if (i === warmup && !profiled) {
        process.kill(server.pid, 'SIGUSR2');
        await new Promise((r) => setTimeout(r, 200));
      }
      if (i >= warmup) rows.push({ at, ms: r.ms, serverMs: r.serverMs, server: delta(s0, s1), client: delta(c0, c1) });
    }
    const outEnd = server.output().length;
    const commitsPerLookup = Math.round(((await commits()) - commits0) / rows.length * 1000) / 1000;
    if (!profiled) {
      profiled = true;
      process.kill(server.pid, 'SIGUSR2');
    }
    agent.destroy();
    await new Promise((r) => setTimeout(r, 1200));
    // --trace-gc-nvp lines of the timed requests: bytes allocated and promoted per lookup, pauses by kind.
    const nvp = { allocatedKiB: 0, promotedKiB: 0, survivedKiB: 0, scavenges: 0, markCompacts: 0, pauseMs: 0 };
    const mainIsolate = /^\[\d+:(0x[0-9a-f]+)/m.exec(server.output())?.[1];
    for (const line of server.output().slice(outAt, outEnd).split('\n')) {
      const iso = /^\[\d+:(0x[0-9a-f]+)/.exec(line)?.[1];
      if (!iso || iso !== mainIsolate || !line.includes('pause=')) continue;
      const f = Object.fromEntries(line.split(' ').filter((x) => x.includes('=')).map((x) => x.split('=') as [string, string]));
      nvp.pauseMs += Number(f.pause);
      if (f.gc === 's') nvp.scavenges++;
      else nvp.markCompacts++;
      nvp.allocatedKiB += Number(f.allocated ?? 0) / 1024 / rows.length;
      nvp.promotedKiB += Number(f.promoted ?? 0) / 1024 / rows.length;
      nvp.survivedKiB += Number(f.new_space_survived ?? 0) / 1024 / rows.length;
    }
    const gcs = readFileSync(gcFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { at: number; ms: number; kind: number });
    const over = (g: { at: number; ms: number; kind?: number }[] | [number, number][], a: number, b: number) =>
      (g as ({ at: number; ms: number; kind?: number } | [number, number])[]).filter((x) => (Array.isArray(x) ? x[0] < b && x[0] + x[1] > a : x.at < b && x.at + x.ms > a)).map((x) => (Array.isArray(x) ? Math.round(x[1] * 100) / 100 : `${Math.round(x.ms * 100) / 100}/k${x.kind}`));
    const sorted = [...rows].sort((a, b) => b.ms - a.ms);
    const slow = sorted.slice(0, Math.max(1, Math.ceil(rows.length / 100)) + 2).map((r) => ({
      ms: Math.round(r.ms * 100) / 100, serverMs: r.serverMs, serverGc: over(gcs, r.at, r.at + r.ms), clientGc: over(clientGc, r.at, r.at + r.ms), server: r.server, client: r.client,
    }));
    const t0 = rows[0]!.at;
    const t1 = rows.at(-1)!.at + rows.at(-1)!.ms;
    const inCase = gcs.filter((g) => g.at >= t0 && g.at <= t1);
    const sum = (k: string) => rows.reduce((a, r) => a + (r.server[k]?.[0] ?? 0), 0);
    const threads = new Set(rows.flatMap((r) => Object.keys(r.server)));
    results[name] = {
      client: summarize(rows.map((r) => r.ms)), server: summarize(rows.map((r) => r.serverMs)),
      serverGc: { pauses: inCase.length, over2ms: inCase.filter((g) => g.ms > 2).length, over5ms: inCase.filter((g) => g.ms > 5).length, totalMs: Math.round(inCase.reduce((a, g) => a + g.ms, 0)), maxMs: Math.round(Math.max(0, ...inCase.map((g) => g.ms)) * 10) / 10, markCompacts: inCase.filter((g) => g.kind === 4).length },
      serverCpuMsPerLookup: Object.fromEntries([...threads].map((k) => [k, Math.round((sum(k) / rows.length) * 1000) / 1000])),
      commitsPerLookup,
      nvp: Object.fromEntries(Object.entries(nvp).map(([k, v]) => [k, Math.round(v * 10) / 10])),
      mainWaitMsPerLookup: Math.round((rows.reduce((a, r) => a + (r.server.main?.[1] ?? 0), 0) / rows.length) * 1000) / 1000,
      slow,
    };
    const c = results[name] as { client: { p50: number; p99: number }; server: { p50: number; p99: number }; serverGc: unknown; serverCpuMsPerLookup: unknown };
    process.stderr.write(`${name}: client p50 ${c.client.p50} p99 ${c.client.p99} server p50 ${c.server.p50} p99 ${c.server.p99} gc ${JSON.stringify(c.serverGc)} nvp ${JSON.stringify((c as { nvp?: unknown }).nvp)} commits/lookup ${(c as { commitsPerLookup?: number }).commitsPerLookup} cpu ${JSON.stringify(c.serverCpuMsPerLookup)}\n`);
    for (const s of slow.slice(0, 6)) process.stderr.write(`   slow ${JSON.stringify(s)}\n`);
  }
  // HEAP_SNAPSHOT=1 (with the node flags --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=DIR; not with ALLOC_PROF): the
  // server's main-thread heap after the cases, written by the server into DIR.
  if (process.env.HEAP_SNAPSHOT === '1') {
    process.kill(server.pid, 'SIGUSR2');
    await new Promise((r) => setTimeout(r, 60_000));
  }
  const mem = server.memorySamples();
  const peak = mem.reduce((a, b) => (b.rss > a.rss ? b : a), mem[0]!);
  process.stderr.write(`memory at peak RSS: ${JSON.stringify(peak)}\n`);
  results.memoryAtPeak = peak;
} finally {
  await server.stop();
  rmSync(gcFile, { force: true });
}
console.log(JSON.stringify({ events: manifest.events, samples, flags, results }, null, 2));
