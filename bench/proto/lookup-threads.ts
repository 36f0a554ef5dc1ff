/**
 * Prototype (not used by `npm run bench`): where a LookupEvents' time goes on the server's threads
 * when the client is wrk (bench/lookup.ts `wrkRun`), for server variants (node flags) side by side
 * on the same scratch copy of a dataset. Per case and variant, over the timed requests: each
 * server thread's time on a CPU and waiting for one (/proc/<pid>/task/* /schedstat, ns), per
 * lookup; the main thread's GC pauses by kind and the event-loop delay (the server's /metrics:
 * prom-client's `nodejs_gc_duration_seconds` and `nodejs_eventloop_lag_*`, reset at each scrape);
 * group commits per lookup; wrk's latency and the server's Server-Timing. CPU counts do not move
 * with the machine's load; waits and latencies do.
 *
 *   node bench/proto/lookup-threads.ts DATA_DIR [samples=1000] [warmup=300] [cases=none,EventName] [variant...]
 *
 * With `--trace-opt --trace-deopt` among a variant's flags, compilations and deoptimisations during
 * the timed requests are counted (SERVER_OUTPUT_DIR=DIR: the server's output of each case kept there).
 * A variant is a label and node flags, e.g. `default` `single:--single-threaded-gc`
 * `young16:--min-semi-space-size=16` (flags separated by commas). DATA_DIR: a scratch copy of a
 * cached dataset with its manifest.json (the server writes self-audit records into it).
 */
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execSync } from 'node:child_process';
import { makeInputs, wrkRun } from '../lookup.ts';
import { startBenchServer, summarize, round } from '../lib.ts';
import type { DatasetManifest } from '../dataset.ts';

const dir = process.argv[2]!;
const samples = Number(process.argv[3] ?? 1000);
const warmup = Number(process.argv[4] ?? 300);
const cases = (process.argv[5] ?? 'none,EventName').split(',');
const variants = (process.argv.length > 6 ? process.argv.slice(6) : ['default']).map((v) => {
  const [label, flags] = v.split(':');
  return { label: label!, flags: flags ? flags.split(',') : [] };
});
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as DatasetManifest;

/** ns on a CPU and ns runnable but waiting, per thread name (V8's pool summed as `V8 helpers`). */
function sched(pid: number): Map<string, [number, number]> {
  const m = new Map<string, [number, number]>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      let name = tid === String(pid) ? 'main' : readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      if (name.startsWith('V8')) name = 'V8 helpers';
      const [run, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
      const v = m.get(name) ?? [0, 0];
      m.set(name, [v[0] + run!, v[1] + wait!]);
    } catch {
      // thread gone
    }
  }
  return m;
}

/** The server's /metrics as name{labels} -> value. */
async function metrics(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    m.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return m;
}

const out: Record<string, unknown> = { events: manifest.events, samples, warmup, load: execSync('uptime').toString().trim() };
for (const v of variants) {
  const server = await startBenchServer(dir, v.flags);
  const url = new URL(server.url);
  const res: Record<string, unknown> = {};
  try {
    for (const name of cases) {
      const inputs = makeInputs(manifest.params, name, warmup + samples, 0xbeef + name.length * 7919);
      const file = join(dir, '..', `threads-${process.pid}.http`);
      await wrkRun(url, inputs.slice(0, warmup), file);
      const m0 = await metrics(server.url);
      const s0 = sched(server.pid);
      const out0 = server.output().length;
      const r = await wrkRun(url, inputs.slice(warmup), file);
      const s1 = sched(server.pid);
      const m1 = await metrics(server.url);
      // With --trace-opt --trace-deopt: compilations and deoptimisations during the timed requests.
      const text = server.output().slice(out0);
      if (process.env.SERVER_OUTPUT_DIR) writeFileSync(join(process.env.SERVER_OUTPUT_DIR, `${v.label}-${name}.txt`), text);
      const jit = { compiled: (text.match(/\[completed compiling/g) ?? []).length, deopts: (text.match(/\[bailout|deoptimiz/gi) ?? []).length };
      const d = (k: string) => (m1.get(k) ?? 0) - (m0.get(k) ?? 0);
      const threads: Record<string, { cpuMs: number; waitMs: number }> = {};
      for (const [k, b] of s1) {
        const a = s0.get(k) ?? [0, 0];
        const cpu = (b[0] - a[0]) / 1e6 / samples;
        const wait = (b[1] - a[1]) / 1e6 / samples;
        if (cpu > 0.001 || wait > 0.001) threads[k] = { cpuMs: round(cpu, 3), waitMs: round(wait, 3) };
      }
      const gc: Record<string, { count: number; ms: number; msPerLookup: number }> = {};
      for (const kind of ['minor', 'major', 'incremental', 'weakcb']) {
        const count = d(`nodejs_gc_duration_seconds_count{kind="${kind}"}`);
        const sum = d(`nodejs_gc_duration_seconds_sum{kind="${kind}"}`) * 1000;
        if (count > 0) gc[kind] = { count, ms: round(sum / count, 3), msPerLookup: round(sum / samples, 3) };
      }
      const lag = Object.fromEntries(['min', 'mean', 'p50', 'p90', 'p99', 'max'].map((p) => [p, round((m1.get(`nodejs_eventloop_lag_${p}_seconds`) ?? NaN) * 1000, 2)]));
      res[name] = {
        client: summarize(r.ms), server: summarize(r.serverMs), outside: summarize(r.outsideMs), threads, gc, eventLoopLagMs: lag,
        commitsPerLookup: round(d('opentrail_group_commit_events_count') / samples, 3), jit,
      };
      process.stderr.write(`${v.label} ${name}: wrk p50 ${summarize(r.ms).p50} p99 ${summarize(r.ms).p99}, server p50 ${summarize(r.serverMs).p50} p99 ${summarize(r.serverMs).p99}, outside p50 ${summarize(r.outsideMs).p50} p99 ${summarize(r.outsideMs).p99}; ${JSON.stringify(threads)} gc ${JSON.stringify(gc)} lag ${JSON.stringify(lag)} jit ${JSON.stringify(jit)}\n`);
    }
  } finally {
    await server.stop();
    rmSync(join(dir, '..', `threads-${process.pid}.http`), { force: true });
  }
  out[v.label] = res;
}
console.log(JSON.stringify(out, null, 2));
