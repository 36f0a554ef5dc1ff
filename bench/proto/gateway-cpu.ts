/**
 * Prototype (not used by `npm run bench`): the recording gateway server's CPU per call under
 * concurrent load, per thread, for the gateway bench's 1 KB cases (bench/gateway.ts: the same
 * upstream child process, signed requests and server config). Each case: `clients` keep-alive
 * clients, `warmup` calls, then `calls` counted; CPU from /proc/<pid>/task/* /stat of the server
 * (all threads and the main thread), so the figure does not depend on the machine's other load
 * the way calls/s does.
 *
 *   node bench/proto/gateway-cpu.ts [calls=8000] [clients=16] [recordBeforeAnswer=1] [cases=unrecorded-1k,read-1k,write-1k]
 *   GATEWAY_CPU_PROFILE=dir: the server runs under --cpu-prof (written to dir when it stops).
 *
 * A case named `bare-<case>` (bare-write-1k) sends that case's request to bench/proto/bare-proxy.ts
 * instead, a bare node:http + undici proxy to the same upstream (no SigV4, decoding, record, log
 * line): the floor of the two HTTP legs, measured the same way in the same run.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { call, makeCases, sign, startGatewayServer, startListener, startUpstream } from '../gateway.ts';
import { cpuDelta, ioOf, threadCpu } from '../lib.ts';

const calls = Number(process.argv[2] ?? 8000);
const clients = Number(process.argv[3] ?? 16);
const recordBeforeAnswer = (process.argv[4] ?? '1') !== '0';
const names = (process.argv[5] ?? 'unrecorded-1k,read-1k,write-1k').split(',');
const warmup = Math.max(1000, Math.round(calls / 3));
const profileDir = process.env.GATEWAY_CPU_PROFILE;

/**
 * Context switches of the server so far (/proc/<pid>/task/* /status): the main thread's and all
 * threads', voluntary (the thread slept: each is a wake-up later) and not.
 */
const switches = (pid: number): { mainVoluntary: number; allVoluntary: number; allInvoluntary: number } => {
  const out = { mainVoluntary: 0, allVoluntary: 0, allInvoluntary: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    } catch {
      continue;
    }
    const v = Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(text)?.[1] ?? 0);
    out.allVoluntary += v;
    out.allInvoluntary += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(text)?.[1] ?? 0);
    if (tid === String(pid)) out.mainVoluntary += v;
  }
  return out;
};

const upstream = await startUpstream();
const server = await startGatewayServer(upstream.url, recordBeforeAnswer, profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-interval', '100'] : []);
/** The bare proxy (bare-proxy.ts), started for the first `bare-*` case. */
let bare: Awaited<ReturnType<typeof startListener>> | undefined;
const out: Record<string, unknown> = {};
/** Group commits so far and the events they held, from the server's /metrics. */
const commits = async (): Promise<{ commits: number; events: number }> => {
  const text = await (await fetch(new URL('/metrics', server.api))).text();
  const v = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { commits: v('opentrail_group_commit_events_count'), events: v('opentrail_group_commit_events_sum') };
};
try {
  const cases = makeCases(1024).concat(makeCases(60 * 1024));
  for (const name of names) {
    const isBare = name.startsWith('bare-');
    const c = cases.find((x) => x.name === name.replace(/^bare-/, ''));
    if (!c) throw new Error(`no case ${name}`);
    if (isBare) bare ??= await startListener([new URL('./bare-proxy.ts', import.meta.url).pathname, upstream.url], 'bare proxy');
    const target = isBare ? new URL(bare!.url) : server.gateway;
    const pid = isBare ? bare!.process.pid! : server.pid;
    const headers = await sign(c, target.host);
    const agent = new Agent({ keepAlive: true, maxSockets: clients });
    const run = async (n: number) => {
      let left = n;
      await Promise.all(Array.from({ length: clients }, async () => {
        while (left-- > 0) {
          const status = await call(agent, target, c.path, headers, c.body);
          if (status !== 200) throw new Error(`${name}: HTTP ${status}`);
        }
      }));
    };
    await run(warmup);
    const before = threadCpu(pid);
    const io0 = ioOf(pid);
    const c0 = await commits();
    const s0 = switches(pid);
    const t0 = performance.now();
    await run(calls);
    const wall = (performance.now() - t0) / 1000;
    const d = cpuDelta(before, threadCpu(pid));
    const s1 = switches(pid);
    const io1 = ioOf(pid);
    const c1 = await commits();
    agent.destroy();
    const total = Object.values(d).reduce((a, v) => a + v.user + v.sys, 0);
    const main = (d['main thread']?.user ?? 0) + (d['main thread']?.sys ?? 0);
    out[name] = {
      allThreadsUsPerCall: Math.round((total * 1e6) / calls), mainThreadUsPerCall: Math.round((main * 1e6) / calls),
      groupCommits: c1.commits - c0.commits, eventsPerCommit: Math.round((10 * (c1.events - c0.events)) / Math.max(1, c1.commits - c0.commits)) / 10,
      writeSyscallsPerCall: Math.round((100 * (io1.syscw - io0.syscw)) / calls) / 100,
      // Sleeps per call (each one a wake-up): the main thread's, all threads'; preemptions of all threads.
      wakeupsPerCall: { main: Math.round((100 * (s1.mainVoluntary - s0.mainVoluntary)) / calls) / 100, all: Math.round((100 * (s1.allVoluntary - s0.allVoluntary)) / calls) / 100, preempted: Math.round((100 * (s1.allInvoluntary - s0.allInvoluntary)) / calls) / 100 },
      callsPerSecond: Math.round(calls / wall), threads: d,
    };
    process.stderr.write(`${name}: ${JSON.stringify(out[name])}\n`);
  }
} finally {
  await bare?.stop();
  const stored = await server.stop();
  await upstream.stop();
  out.storedEvents = stored;
}
process.stdout.write(`${JSON.stringify({ calls, clients, recordBeforeAnswer, ...out })}\n`);
