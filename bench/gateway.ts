/**
 * Recording gateway benchmark: the latency the gateway adds to an AWS call, and calls/s through it.
 *
 * The upstream is a minimal node:http server in a child process answering as the AWS JSON
 * services do (a small JSON body and x-amzn-requestid), so its own time is tiny and stable. Every
 * request is SigV4-signed once per phase, before the clock starts (as an SDK would sign it, for
 * the gateway's host), and the same bytes are sent either directly to the upstream or through the
 * gateway, over keep-alive connections.
 *
 * - Latency: one call in flight; direct and through-gateway calls alternate (in both orders), so
 *   drift and machine noise hit both series alike. Overhead = through - direct at each percentile.
 * - Throughput: N concurrent clients for a fixed time, through the gateway and directly.
 * Both with gateway.recordBeforeAnswer true and false (one server start each).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from '../src/aws/sigv4.ts';
import { BENCH_IDENTITY, cpuDelta, log, machineBusySeconds, removeServerConfig, round, summarize, threadCpu } from './lib.ts';
import { startServer } from '../test/helpers/server.ts';
import { openEventStore } from './dataset.ts';
import { summarizeProfile, type ProfileSummary } from './profile.ts';

export interface GatewayBenchOptions {
  /** Timed calls per case and arm (direct, gateway). */
  samples: number;
  warmup: number;
  /** Concurrent clients of the throughput runs. */
  concurrency: number[];
  throughputSeconds: number;
  /** Directory for a --cpu-prof run of the gateway server (latency cases only); none: no profile. */
  profileDir?: string;
}

type Durability = 'disk' | 'process' | 'none';

export interface Case {
  name: string;
  /** What the gateway does with the call's record: durable append, process-durable append, nothing. */
  record: Durability;
  service: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

type Stats = ReturnType<typeof summarize>;

export interface LatencyCase {
  record: Durability;
  bodyBytes: number;
  directMs: Stats;
  gatewayMs: Stats;
  /** gateway - direct at each percentile (and of the means). */
  overheadMs: { p50: number; p90: number; p99: number; mean: number };
  /** Server CPU per gateway call (all threads), µs. */
  serverCpuUsPerCall: number;
}

export interface ThroughputRun {
  target: 'direct' | 'gateway';
  case: string;
  concurrency: number;
  callsPerSecond: number;
  /**
   * Through the gateway with recordBeforeAnswer on, of a recorded case: every answered call was
   * recorded (durably for writes) before its answer, so this is recorded calls/s; the mode's
   * `recorded` counts confirm it from the store.
   */
  recordedCallsPerSecond?: number;
  latencyMs: Stats;
  cores: { server: number; upstream: number; client: number; other: number };
}

export interface GatewayModeResult {
  recordBeforeAnswer: boolean;
  latency: Record<string, LatencyCase>;
  throughput: ThroughputRun[];
  serverCpuSeconds: Record<string, { user: number; sys: number }>;
  /** Calls of recorded cases the gateway answered 200 in this mode, and the events its store held after the server stopped. */
  recorded: { answeredCalls: number; storedEvents: number };
}

export interface GatewayBenchResult {
  upstream: string;
  samples: number;
  warmup: number;
  modes: GatewayModeResult[];
  profile?: ProfileSummary;
  target: { p99OverheadMs: number; maxBodyBytes: number };
  targetMet: Record<string, boolean>;
}

const REGION = 'us-east-1';

/** Padding of a given length that survives JSON encoding unchanged. */
const pad = (n: number) => 'abcdefghijklmnopqrstuvwxyz0123456789 '.repeat(Math.ceil(n / 37)).slice(0, n);

/** The calls measured, at about `size` bytes of body each. */
export function makeCases(size: number): Case[] {
  const label = size >= 1024 ? `${Math.round(size / 1024)}k` : `${size}b`;
  const json = (o: unknown) => Buffer.from(JSON.stringify(o));
  // Cloud Map ListNamespaces: a read (ReadOnly, recorded with 'process' durability); the filter
  // values carry the body size.
  const values: string[] = [];
  const readBase = json({ Filters: [{ Name: 'NAME', Values: [], Condition: 'BEGINS_WITH' }], MaxResults: 100 }).length;
  for (let left = size - readBase; left > 3; left -= 203) values.push(pad(Math.min(200, left - 3)));
  const read = json({ Filters: [{ Name: 'NAME', Values: values, Condition: 'BEGINS_WITH' }], MaxResults: 100 });
  // CloudWatch PutMetricAlarm: a write (recorded with 'disk' durability); AlarmDescription carries the size.
  const alarm = (d: string) => ({
    AlarmName: 'bench-cpu-high', AlarmDescription: d, ActionsEnabled: true, MetricName: 'CPUUtilization', Namespace: 'AWS/EC2',
    Statistic: 'Average', Dimensions: [{ Name: 'InstanceId', Value: 'i-0123456789abcdef0' }], Period: 300, EvaluationPeriods: 2,
    Threshold: 80, ComparisonOperator: 'GreaterThanThreshold', TreatMissingData: 'missing',
  });
  const write = json(alarm(pad(Math.max(1, size - json(alarm('')).length))));
  // X-Ray PutTraceSegments: never recorded; the segment documents carry the size.
  const seg = (i: number, n: number) => JSON.stringify({ name: 'bench', id: (0x1000000000000000n + BigInt(i)).toString(16), trace_id: '1-5f84c7a4-0123456789abcdef01234567', start_time: 1.6e9, end_time: 1.6e9 + 1, annotations: { note: pad(n) } });
  const segments: string[] = [];
  const segBase = json({ TraceSegmentDocuments: [] }).length;
  for (let left = size - segBase, i = 0; left > 0; i++) {
    const s = seg(i, 0);
    const n = Math.max(0, Math.min(1800, left - JSON.stringify(s).length - 1));
    segments.push(seg(i, n));
    left -= JSON.stringify(segments.at(-1)).length + 1;
  }
  const unrecorded = json({ TraceSegmentDocuments: segments });
  const amzJson = (v: string, target: string) => ({ 'content-type': `application/x-amz-json-${v}`, 'x-amz-target': target });
  return [
    { name: `read-${label}`, record: 'process', service: 'servicediscovery', path: '/', headers: amzJson('1.1', 'Route53AutoNaming_v20170314.ListNamespaces'), body: read },
    { name: `write-${label}`, record: 'disk', service: 'monitoring', path: '/', headers: amzJson('1.0', 'GraniteServiceVersion20100801.PutMetricAlarm'), body: write },
    { name: `unrecorded-${label}`, record: 'none', service: 'xray', path: '/TraceSegments', headers: { 'content-type': 'application/json' }, body: unrecorded },
  ];
}

/** The upstream: answers every call at once as an AWS JSON service would. Plain CommonJS for `node -e`. */
const UPSTREAM_JS = `
const http = require('node:http');
const answers = {
  'Route53AutoNaming_v20170314.ListNamespaces': JSON.stringify({ Namespaces: [{ Id: 'ns-bench0000000001', Arn: 'arn:aws:servicediscovery:us-east-1:111111111111:namespace/ns-bench0000000001', Name: 'bench-http', Type: 'HTTP', CreateDate: 1.7e9 }] }),
  'GraniteServiceVersion20100801.PutMetricAlarm': '{}',
};
let n = 0;
const server = http.createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    const target = req.headers['x-amz-target'];
    const body = target ? (answers[target] ?? '{}') : '{"UnprocessedTraceSegments":[]}';
    const type = target ? (target.startsWith('Granite') ? 'application/x-amz-json-1.0' : 'application/x-amz-json-1.1') : 'application/json';
    res.writeHead(200, { 'content-type': type, 'x-amzn-requestid': 'upstream-' + (++n), 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 120000;
server.listen(0, '127.0.0.1', () => process.stdout.write('listening ' + server.address().port + '\\n'));
`;

export function startUpstream(): Promise<{ url: string; process: ChildProcess; stop(): Promise<void> }> {
  return startListener(['-e', UPSTREAM_JS], 'upstream');
}

/** A node child process run with `args` that prints `listening PORT` once it serves on 127.0.0.1:PORT. */
export async function startListener(args: string[], what: string): Promise<{ url: string; process: ChildProcess; stop(): Promise<void> }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`${what} exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`, process: child,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** SigV4 headers for a case, as an SDK client signs them for `host` (no x-amz-content-sha256). */
export async function sign(c: Case, host: string): Promise<Record<string, string>> {
  const signer = new SignatureV4({
    credentials: { accessKeyId: BENCH_IDENTITY.accessKeyId, secretAccessKey: BENCH_IDENTITY.secretAccessKey },
    region: REGION, service: c.service, sha256: NodeSha256, applyChecksum: false,
  });
  const [hostname, port] = host.split(':');
  const signed = await signer.sign(
    { method: 'POST', protocol: 'http:', hostname: hostname!, port: Number(port), path: c.path, query: {}, headers: { host, ...c.headers }, body: c.body },
    { signingDate: new Date() },
  );
  return { ...(signed.headers as Record<string, string>), 'content-length': String(c.body.length) };
}

/** One call; resolves with its status once the whole answer arrived. */
export function call(agent: Agent, target: URL, path: string, headers: Record<string, string>, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: target.hostname, port: target.port, method: 'POST', path, headers }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Calls of recorded cases answered by the gateway (counted per mode). */
let answeredRecorded = 0;

async function checked(agent: Agent, target: URL, c: Case, headers: Record<string, string>, viaGateway: boolean): Promise<void> {
  const status = await call(agent, target, c.path, headers, c.body);
  if (status !== 200) throw new Error(`${c.name} via ${target.host}: HTTP ${status}`);
  if (viaGateway && c.record !== 'none') answeredRecorded++;
}

const sub = (a: number, b: number) => round(a - b, 3);

/** CPU seconds a process has used so far, all threads. */
const cpuTotal = (pid: number) => Object.values(cpuDelta(new Map(), threadCpu(pid))).reduce((a, v) => a + v.user + v.sys, 0);

async function latencyCase(server: GatewayServer, gateway: URL, upstream: URL, c: Case, opts: GatewayBenchOptions, directToo = true): Promise<LatencyCase> {
  const headers = await sign(c, gateway.host);
  const agents = { direct: new Agent({ keepAlive: true, maxSockets: 1 }), gateway: new Agent({ keepAlive: true, maxSockets: 1 }) };
  const times = { direct: [] as number[], gateway: [] as number[] };
  let cpu0 = 0;
  let gatewayCalls = 0;
  try {
    for (let i = 0; i < opts.warmup + opts.samples; i++) {
      // Server CPU is counted over the timed part of the case: the direct calls do not touch it.
      if (i === opts.warmup) cpu0 = cpuTotal(server.pid);
      const order: ('direct' | 'gateway')[] = !directToo ? ['gateway'] : i % 2 === 0 ? ['direct', 'gateway'] : ['gateway', 'direct'];
      for (const arm of order) {
        const s = performance.now();
        await checked(agents[arm], arm === 'gateway' ? gateway : upstream, c, headers, arm === 'gateway');
        if (i >= opts.warmup) times[arm].push(performance.now() - s);
      }
    }
    gatewayCalls = times.gateway.length;
  } finally {
    agents.direct.destroy();
    agents.gateway.destroy();
  }
  const cpu = cpuTotal(server.pid) - cpu0;
  const directMs = summarize(times.direct);
  const gatewayMs = summarize(times.gateway);
  return {
    record: c.record, bodyBytes: c.body.length, directMs, gatewayMs,
    overheadMs: { p50: sub(gatewayMs.p50, directMs.p50), p90: sub(gatewayMs.p90, directMs.p90), p99: sub(gatewayMs.p99, directMs.p99), mean: sub(gatewayMs.mean, directMs.mean) },
    serverCpuUsPerCall: Math.round((cpu * 1e6) / Math.max(1, gatewayCalls)),
  };
}

async function throughputRun(server: GatewayServer, upstreamPid: number, target: URL, arm: 'direct' | 'gateway', c: Case, concurrency: number, seconds: number, gatewayHost: string, recordBeforeAnswer: boolean): Promise<ThroughputRun> {
  const headers = await sign(c, gatewayHost);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  let measuring = false;
  let stop = false;
  let t0 = 0;
  let cpu0 = { server: 0, upstream: 0, client: process.cpuUsage(), machine: 0 };
  // Warm up (connections, JIT) for a second, then count for `seconds`.
  const worker = async () => {
    while (!stop) {
      const s = performance.now();
      await checked(agent, target, c, headers, arm === 'gateway');
      if (measuring && !stop) latencies.push(performance.now() - s);
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  await new Promise((r) => setTimeout(r, 1000));
  cpu0 = { server: cpuTotal(server.pid), upstream: cpuTotal(upstreamPid), client: process.cpuUsage(), machine: machineBusySeconds() };
  t0 = performance.now();
  measuring = true;
  await new Promise((r) => setTimeout(r, seconds * 1000));
  stop = true;
  const wall = (performance.now() - t0) / 1000;
  const serverCpu = cpuTotal(server.pid) - cpu0.server;
  const upstreamCpu = cpuTotal(upstreamPid) - cpu0.upstream;
  const cu = process.cpuUsage(cpu0.client);
  const clientCpu = (cu.user + cu.system) / 1e6;
  const machine = machineBusySeconds() - cpu0.machine;
  await Promise.all(workers);
  agent.destroy();
  const cores = (s: number) => round(s / wall, 2);
  const out: ThroughputRun = {
    target: arm, case: c.name, concurrency, callsPerSecond: Math.round(latencies.length / wall),
    recordedCallsPerSecond: arm === 'gateway' && recordBeforeAnswer && c.record !== 'none' ? Math.round(latencies.length / wall) : undefined,
    latencyMs: summarize(latencies),
    cores: { server: cores(arm === 'gateway' ? serverCpu : 0), upstream: cores(upstreamCpu), client: cores(clientCpu), other: cores(Math.max(0, machine - serverCpu - upstreamCpu - clientCpu)) },
  };
  log(`gateway: throughput ${arm} ${c.name} x${concurrency}: ${out.callsPerSecond} calls/s, p50 ${out.latencyMs.p50} p99 ${out.latencyMs.p99} ms, cores ${JSON.stringify(out.cores)}`);
  return out;
}

interface GatewayServer {
  pid: number;
  gateway: URL;
  /** The API port (its `/metrics`). */
  api: URL;
  /** Stops the server; resolves with the count of events its store holds. */
  stop(): Promise<number>;
}

/** `opentrail serve` with the bench account and a gateway in front of `upstream` (startBenchServer's
 * config; started with startServer directly because the gateway's URL is needed). */
export async function startGatewayServer(upstream: string, recordBeforeAnswer: boolean, nodeFlags: string[] = []): Promise<GatewayServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'opentrail-bench-gateway-'));
  const server = await startServer({
    regions: [REGION],
    accounts: [{ id: '111111111111', identities: [BENCH_IDENTITY] }],
    gateway: { port: 0, upstream: { endpoint: upstream }, recordBeforeAnswer },
  }, { dataDir, nodeFlags, startTimeoutMs: 60_000 });
  if (!server.gatewayUrl) throw new Error(`no gateway URL in the server's output:\n${server.output()}`);
  return {
    pid: server.process.pid!, gateway: new URL(server.gatewayUrl), api: new URL(server.url),
    stop: async () => {
      await server.stop();
      const out = server.output();
      if (/internal error|Error:/.test(out)) log(`server output:\n${out.slice(-2000)}`);
      const store = openEventStore(dataDir);
      try {
        return await store.count();
      } finally {
        await store.close();
        rmSync(dataDir, { recursive: true, force: true });
        removeServerConfig(dataDir);
      }
    },
  };
}

export async function runGateway(opts: GatewayBenchOptions): Promise<GatewayBenchResult> {
  const upstream = await startUpstream();
  const upstreamUrl = new URL(upstream.url);
  const cases = [...makeCases(1024), ...makeCases(60 * 1024)];
  const modes: GatewayModeResult[] = [];
  let profile: ProfileSummary | undefined;
  try {
    for (const recordBeforeAnswer of [true, false]) {
      const server = await startGatewayServer(upstream.url, recordBeforeAnswer);
      const gateway = server.gateway;
      const cpuStart = threadCpu(server.pid);
      const mode: GatewayModeResult = { recordBeforeAnswer, latency: {}, throughput: [], serverCpuSeconds: {}, recorded: { answeredCalls: 0, storedEvents: 0 } };
      answeredRecorded = 0;
      try {
        for (const c of cases) {
          const r = await latencyCase(server, gateway, upstreamUrl, c, opts);
          mode.latency[c.name] = r;
          log(`gateway: recordBeforeAnswer=${recordBeforeAnswer} ${c.name} (${r.bodyBytes} B): direct p50/p99 ${r.directMs.p50}/${r.directMs.p99} ms, gateway ${r.gatewayMs.p50}/${r.gatewayMs.p99} ms, overhead ${r.overheadMs.p50}/${r.overheadMs.p99} ms, server ${r.serverCpuUsPerCall} µs CPU/call`);
        }
        for (const name of ['write-1k', 'read-1k']) {
          const c = cases.find((x) => x.name === name)!;
          for (const n of opts.concurrency) {
            // The direct baseline does not depend on the gateway's mode: measured once.
            if (recordBeforeAnswer) mode.throughput.push(await throughputRun(server, upstream.process.pid!, upstreamUrl, 'direct', c, n, opts.throughputSeconds, gateway.host, recordBeforeAnswer));
            mode.throughput.push(await throughputRun(server, upstream.process.pid!, gateway, 'gateway', c, n, opts.throughputSeconds, gateway.host, recordBeforeAnswer));
          }
        }
        mode.serverCpuSeconds = cpuDelta(cpuStart, threadCpu(server.pid));
      } finally {
        mode.recorded = { answeredCalls: answeredRecorded, storedEvents: await server.stop() };
      }
      log(`gateway: recordBeforeAnswer=${recordBeforeAnswer}: ${mode.recorded.answeredCalls} recorded calls answered, ${mode.recorded.storedEvents} events stored`);
      if (mode.recorded.storedEvents < mode.recorded.answeredCalls) log(`WARNING: the gateway answered ${mode.recorded.answeredCalls} recorded calls but its store holds ${mode.recorded.storedEvents} events`);
      modes.push(mode);
    }
    if (opts.profileDir) {
      rmSync(opts.profileDir, { recursive: true, force: true });
      mkdirSync(opts.profileDir, { recursive: true });
      const server = await startGatewayServer(upstream.url, true, ['--cpu-prof', '--cpu-prof-dir', opts.profileDir, '--cpu-prof-interval', '100']);
      try {
        for (const c of cases) await latencyCase(server, server.gateway, upstreamUrl, c, opts, false);
      } finally {
        await server.stop();
      }
      const file = readdirSync(opts.profileDir).find((f) => f.endsWith('.cpuprofile'));
      if (file) profile = summarizeProfile(join(opts.profileDir, file), 30);
    }
  } finally {
    await upstream.stop();
  }
  const targetMet: Record<string, boolean> = {};
  for (const m of modes) for (const [name, r] of Object.entries(m.latency)) targetMet[`${name}, recordBeforeAnswer=${m.recordBeforeAnswer}`] = r.overheadMs.p99 < 2;
  return { upstream: 'node:http child process answering AWS JSON', samples: opts.samples, warmup: opts.warmup, modes, profile, target: { p99OverheadMs: 2, maxBodyBytes: 64 * 1024 }, targetMet };
}
