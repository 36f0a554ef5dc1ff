/**
 * LookupEvents latency over HTTP against a dataset built by dataset.ts, sequential requests, one
 * at a time, warm-up excluded, two clients:
 * - lean: every request SigV4-signed before its case starts (re-signed when a signature would
 *   reach 10 minutes of age: the server accepts 15 minutes of clock skew), its bytes replayed
 *   over one keep-alive node:http connection; the server's own time per request comes from its
 *   `Server-Timing: app;dur=<ms>` answer header;
 * - the AWS SDK (@aws-sdk/client-cloudtrail), what a user's tool sees.
 * The lean client is wrk (`wrkCase`: bench/wrk-lookup.lua, a C client on one keep-alive
 * connection, so no Node event loop or GC of the client shares the 2 cores with the server)
 * when `wrk` is on PATH, else the node:http one (`leanCase`); BENCH_LEAN_CLIENT=wrk|node picks
 * one, `both` runs the two on each case back to back (`lean` is wrk's, `leanNode` node's, on
 * another draw of the case's inputs so that wrk's do not find node's blocks in the cache). Both
 * send pre-signed requests back to back with no think time, the same warm-up and samples;
 * `leanClient` in the result says which `lean` is.
 * Cases: each lookup attribute (EventId, EventName, EventSource, ReadOnly, Username,
 * AccessKeyId, ResourceType, ResourceName), no attribute, a 1-hour range; the SDK also an
 * EventName within one day and a paged walk. Values come from real records of the dataset,
 * rebuilt by the generator and mapped by the server's own historyAttributes(), so popular values
 * are asked for as often as they occur.
 *
 * The server runs on a scratch copy of the dataset (the caller's): every LookupEvents is
 * self-audited (a write), and the cache stays as built.
 */
import { CloudTrailClient, LookupEventsCommand, type LookupEventsCommandInput } from '@aws-sdk/client-cloudtrail';
import { Agent, request } from 'node:http';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from '../src/aws/sigv4.ts';
import { historyAttributes, normalizeRecord } from '../src/core/index.ts';
import { Rng, record, type GenParams } from './gen.ts';
import { normalizeContext, OUT_DIR, type DatasetManifest } from './dataset.ts';
import { BENCH_IDENTITY, cpuDelta, log, machineBusySeconds, memoryBreakdown, memoryOf, round, startBenchServer, summarize, threadCpu } from './lib.ts';

export interface LookupOptions {
  /** Timed requests per case, lean client (BENCH_SAMPLES). */
  samples: number;
  warmup: number;
  /** Lookups of every case mixed, before the first case (BENCH_SERVER_WARMUP; 0: none). */
  serverWarmup: number;
  /** Timed requests per case, SDK client (BENCH_SDK_SAMPLES; 0: no SDK run). */
  sdkSamples: number;
  /** Pages per SDK paged walk; walks = sdkSamples / pages. */
  pages: number;
  nodeFlags?: string[];
  /** The lean client (BENCH_LEAN_CLIENT; default: wrk when on PATH, else node). */
  leanClient?: LeanClientChoice;
  /** The server's environment and extra config (BENCH_DB=postgres: OPENTRAIL_DATABASE_URL, the deployment's key file). */
  server?: { env: Record<string, string>; config: Record<string, unknown> };
}

type Stats = ReturnType<typeof summarize>;

export interface LookupCase extends Stats {
  avgEvents: number;
}

export interface LeanCase extends LookupCase {
  /** Server-Timing app;dur of the same requests: the server's time, without client and network. */
  serverMs: Stats;
  /**
   * Each request's client time minus its own Server-Timing: what was spent outside the server's
   * handling (the server's event loop before routing and after the answer was handed to the
   * socket, the kernel, the client, waits for a core).
   */
  outsideMs: Stats;
}

export type LeanClientChoice = 'wrk' | 'node' | 'both';

/** BENCH_LEAN_CLIENT, or wrk when `wrk` runs, else node. */
export function leanClientFromEnv(env: NodeJS.ProcessEnv = process.env): LeanClientChoice {
  const v = env.BENCH_LEAN_CLIENT;
  if (v === 'wrk' || v === 'node' || v === 'both') return v;
  if (v !== undefined && v !== '') throw new Error(`BENCH_LEAN_CLIENT must be wrk, node or both, not ${v}`);
  return wrkAvailable() ? 'wrk' : 'node';
}

export function wrkAvailable(): boolean {
  return spawnSync('wrk', ['-v'], { stdio: 'ignore' }).error === undefined;
}

export interface LookupResult {
  events: number;
  /** Which client `lean` is: wrk (bench/wrk-lookup.lua) or node (node:http). */
  leanClient: 'wrk' | 'node';
  dataset: { key: string; layout: string; bytes: number; bytesPerEvent: number; buildSeconds: number; buildEventsPerSecond: number };
  serverStartMs: number;
  lean: Record<string, LeanCase>;
  /** BENCH_LEAN_CLIENT=both: the node:http client on the same cases (another draw of their inputs, as many), each run just before wrk's. */
  leanNode?: Record<string, LeanCase>;
  sdk: Record<string, LookupCase>;
  sdkPagedWalk?: LookupCase & { pagesPerWalk: number; walks: number; walkMs: Stats };
  /** The server after the run: RSS now and its peak (VmHWM), CPU per thread over the run. */
  server: { rssMiB: number; hwmMiB: number; memory?: ReturnType<typeof memoryBreakdown>; cpuSeconds: Record<string, { user: number; sys: number }> };
  /** Average cores busy during the run: the server, this client, and other jobs on the machine. */
  cpuCores: { server: number; client: number; otherProcesses: number };
}

/** The request of one case: JSON 1.1 input as the SDK would serialise it (times in epoch seconds). */
type Input = { LookupAttributes?: { AttributeKey: string; AttributeValue: string }[]; StartTime?: number; EndTime?: number; MaxResults?: number; NextToken?: string };

/** The Event history attributes record i is found by, as the server indexes them, and its eventID and time. */
function attributesOf(p: GenParams, i: number): { eventId: string; timeSec: number; attrs: Map<string, string[]> } {
  const n = normalizeRecord(record(p, i), normalizeContext(p));
  if (!n.ok) throw new Error(`generator record ${i} is invalid: ${n.errorMessage}`);
  const attrs = new Map<string, string[]>();
  for (const [k, v] of historyAttributes(n.value.record) ?? []) attrs.set(k, [...(attrs.get(k) ?? []), v]);
  return { eventId: n.value.record.eventID, timeSec: n.value.eventTimeSec, attrs };
}

export const LOOKUP_CASES = ['EventId', 'EventName', 'EventSource', 'ReadOnly', 'Username', 'AccessKeyId', 'ResourceType', 'ResourceName', 'none', 'TimeRange1h'] as const;

/** Inputs of a case: values drawn from random records of the dataset. */
export function makeInputs(p: GenParams, name: string, n: number, seed: number): Input[] {
  const r = new Rng(seed);
  const out: Input[] = [];
  for (let k = 0; k < n; k++) {
    if (name === 'none') {
      out.push({});
    } else if (name === 'TimeRange1h') {
      const end = Math.floor(p.endMs / 1000) - r.int(Math.floor(p.spanMs / 1000) - 3600);
      out.push({ StartTime: end - 3600, EndTime: end });
    } else if (name === 'EventName+TimeRange1d') {
      const a = attributesOf(p, r.int(p.count));
      out.push({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: a.attrs.get('EventName')![0]! }], StartTime: a.timeSec - 86400, EndTime: a.timeSec });
    } else {
      for (let tries = 0; ; tries++) {
        if (tries > 1000) throw new Error(`no record of the dataset has a ${name}`);
        const a = attributesOf(p, r.int(p.count));
        const values = name === 'EventId' ? [a.eventId] : a.attrs.get(name);
        if (!values?.length) continue;
        out.push({ LookupAttributes: [{ AttributeKey: name, AttributeValue: values[r.int(values.length)]! }] });
        break;
      }
    }
  }
  return out;
}

const TARGET = 'com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents';
const RESIGN_AFTER_MS = 10 * 60 * 1000;

interface Signed {
  headers: Record<string, string>;
  body: Buffer;
  signedAt: number;
}

export async function signLookup(url: URL, input: Input): Promise<Signed> {
  const body = Buffer.from(JSON.stringify(input));
  const signer = new SignatureV4({
    credentials: { accessKeyId: BENCH_IDENTITY.accessKeyId, secretAccessKey: BENCH_IDENTITY.secretAccessKey },
    region: 'us-east-1', service: 'cloudtrail', sha256: NodeSha256,
  });
  const signedAt = Date.now();
  const signed = await signer.sign(
    { method: 'POST', protocol: url.protocol, hostname: url.hostname, port: Number(url.port), path: '/', query: {}, headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': TARGET }, body },
    { signingDate: new Date(signedAt) },
  );
  return { headers: { ...(signed.headers as Record<string, string>), 'content-length': String(body.length) }, body, signedAt };
}

/** One request over the agent's connection; resolves when the whole answer arrived. */
export function send(agent: Agent, url: URL, s: Signed): Promise<{ ms: number; serverMs: number; events: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request({ agent, host: url.hostname, port: url.port, method: 'POST', path: '/', headers: s.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const ms = performance.now() - t0;
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) return reject(new Error(`LookupEvents ${s.body.toString()} answered ${res.statusCode}: ${text.slice(0, 300)}`));
        const timing = /app;dur=([\d.]+)/.exec(String(res.headers['server-timing'] ?? ''));
        let events = 0;
        for (let at = text.indexOf('"EventId"'); at >= 0; at = text.indexOf('"EventId"', at + 9)) events++;
        resolve({ ms, serverMs: timing ? Number(timing[1]) : NaN, events });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(s.body);
  });
}

/** The seed of a case's inputs; `other`: another draw of the same case (BENCH_LEAN_CLIENT=both's node run). */
function caseSeed(name: string, other = false): number {
  return 0xbeef + name.length * 7919 + (other ? 104729 : 0);
}

async function leanCase(url: URL, p: GenParams, name: string, opts: LookupOptions, otherDraw = false): Promise<LeanCase> {
  const inputs = makeInputs(p, name, opts.warmup + opts.samples, caseSeed(name, otherDraw));
  let signed = await Promise.all(inputs.map((i) => signLookup(url, i)));
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  const server: number[] = [];
  const outside: number[] = [];
  let events = 0;
  try {
    for (let i = 0; i < signed.length; i++) {
      if (Date.now() - signed[i]!.signedAt > RESIGN_AFTER_MS) {
        signed = [...signed.slice(0, i), ...(await Promise.all(inputs.slice(i).map((x) => signLookup(url, x))))];
      }
      const r = await send(agent, url, signed[i]!);
      if (i >= opts.warmup) {
        times.push(r.ms);
        server.push(r.serverMs);
        if (!Number.isNaN(r.serverMs)) outside.push(r.ms - r.serverMs);
        events += r.events;
      }
    }
  } finally {
    agent.destroy();
  }
  return { ...summarize(times), avgEvents: round(events / opts.samples, 1), serverMs: summarize(server.filter((x) => !Number.isNaN(x))), outsideMs: summarize(outside) };
}

const WRK_SCRIPT = new URL('./wrk-lookup.lua', import.meta.url).pathname;
/**
 * Requests per wrk run: each run's requests are signed just before it starts, so a signature is
 * seconds old when sent (SigV4 allows 5 minutes of skew on AWS, 15 on our server); a batch of
 * 1,000 at even 50 ms each takes under a minute.
 */
const WRK_BATCH = 1000;

/** The bytes of one HTTP/1.1 request as node:http would send them for `s` (keep-alive is HTTP/1.1's default). */
function rawRequest(s: Signed): Buffer {
  const head = ['POST / HTTP/1.1', ...Object.entries(s.headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
  return Buffer.concat([Buffer.from(head, 'latin1'), s.body]);
}

interface WrkRun {
  requests: number;
  durationUs: number;
  errors: Record<string, number>;
  serverMs: number[];
  clientUs: number[];
  events: number;
  notOk: number;
  firstNotOk: string;
}

/**
 * One wrk run (`-t1 -c1`, one keep-alive connection) replaying `inputs` signed now, in order;
 * resolves with each request's time (taken by the script's own clock: wrk's latency statistics
 * hold made-up samples, bench/wrk-lookup.lua) and its Server-Timing, in request order. Any
 * answer but 200 (an expired signature: 403) fails the run.
 */
export async function wrkRun(url: URL, inputs: Input[], file: string): Promise<{ ms: number[]; serverMs: number[]; outsideMs: number[]; events: number }> {
  const signed = await Promise.all(inputs.map((i) => signLookup(url, i)));
  writeFileSync(file, Buffer.concat(signed.flatMap((x) => {
    const r = rawRequest(x);
    return [Buffer.from(`${r.length}\n`), r];
  })));
  const child = spawn('wrk', ['-t1', '-c1', '-d3600s', '--timeout', '60s', '-s', WRK_SCRIPT, url.origin + '/', '--', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    out += c;
    // The thread stopped after the last answer; wrk's main thread sleeps for -d until interrupted.
    if (c.includes('wrk-lookup-answered')) child.kill('SIGINT');
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  const line = /^wrk-lookup (\{.*\})$/m.exec(out)?.[1];
  if (!line) throw new Error(`wrk exited ${code} without its result: ${(err || out).slice(-500)}`);
  const r = JSON.parse(line) as WrkRun;
  if (r.notOk > 0) throw new Error(`wrk: ${r.notOk} of ${r.requests} LookupEvents not answered 200; the first: ${r.firstNotOk}`);
  const errors = Object.entries(r.errors).filter(([, n]) => n > 0);
  if (errors.length > 0 || r.requests !== inputs.length || r.serverMs.length !== inputs.length) {
    throw new Error(`wrk: ${r.requests} of ${inputs.length} requests answered (${r.serverMs.length} seen), errors ${JSON.stringify(r.errors)}`);
  }
  if (r.clientUs.length !== inputs.length) throw new Error(`wrk: ${r.clientUs.length} request times for ${inputs.length} requests`);
  const ms = r.clientUs.map((us) => us / 1000);
  const outsideMs = ms.flatMap((m, i) => (r.serverMs[i]! >= 0 ? [m - r.serverMs[i]!] : []));
  return { ms, serverMs: r.serverMs.filter((x) => x >= 0), outsideMs, events: r.events };
}

/**
 * The lean case through wrk: the same inputs, warm-up and samples as `leanCase`; the warm-up is
 * a wrk run of its own (node's shares its samples' connection), then the samples in runs of at
 * most WRK_BATCH, each on a new connection.
 */
async function wrkCase(url: URL, p: GenParams, name: string, opts: LookupOptions): Promise<LeanCase> {
  const inputs = makeInputs(p, name, opts.warmup + opts.samples, caseSeed(name));
  const dir = join(OUT_DIR, 'work');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `wrk-${name}-${process.pid}.http`);
  const times: number[] = [];
  const server: number[] = [];
  const outside: number[] = [];
  let events = 0;
  try {
    if (opts.warmup > 0) await wrkRun(url, inputs.slice(0, opts.warmup), file);
    for (let at = opts.warmup; at < inputs.length; at += WRK_BATCH) {
      const r = await wrkRun(url, inputs.slice(at, Math.min(inputs.length, at + WRK_BATCH)), file);
      times.push(...r.ms);
      server.push(...r.serverMs);
      outside.push(...r.outsideMs);
      events += r.events;
    }
  } finally {
    rmSync(file, { force: true });
  }
  return { ...summarize(times), avgEvents: round(events / opts.samples, 1), serverMs: summarize(server), outsideMs: summarize(outside) };
}

async function sdkCases(client: CloudTrailClient, p: GenParams, opts: LookupOptions, events: number): Promise<{ cases: Record<string, LookupCase>; walk: NonNullable<LookupResult['sdkPagedWalk']> }> {
  const toSdk = (i: Input): LookupEventsCommandInput => ({
    ...i, LookupAttributes: i.LookupAttributes as LookupEventsCommandInput['LookupAttributes'], StartTime: i.StartTime === undefined ? undefined : new Date(i.StartTime * 1000), EndTime: i.EndTime === undefined ? undefined : new Date(i.EndTime * 1000),
  });
  const cases: Record<string, LookupCase> = {};
  const warmup = Math.min(opts.warmup, opts.sdkSamples);
  for (const name of [...LOOKUP_CASES, 'EventName+TimeRange1d']) {
    const inputs = makeInputs(p, name, warmup + opts.sdkSamples, caseSeed(name)).map(toSdk);
    const times: number[] = [];
    let got = 0;
    for (let i = 0; i < inputs.length; i++) {
      const s = performance.now();
      const res = await client.send(new LookupEventsCommand(inputs[i]!));
      const ms = performance.now() - s;
      if (i >= warmup) {
        times.push(ms);
        got += res.Events?.length ?? 0;
      }
    }
    cases[name] = { ...summarize(times), avgEvents: round(got / opts.sdkSamples, 1) };
    log(`lookup ${events} sdk: ${name} p50 ${cases[name].p50} ms p99 ${cases[name].p99} ms (${cases[name].avgEvents} events/page)`);
  }
  // Paged walk: a popular EventName, MaxResults 50, following NextToken.
  const r = new Rng(0xfeed);
  const pageTimes: number[] = [];
  const walkTimes: number[] = [];
  let got = 0;
  const walks = Math.max(1, Math.round(opts.sdkSamples / opts.pages));
  for (let w = 0; w < walks + 2; w++) {
    const name = attributesOf(p, r.int(p.count)).attrs.get('EventName')![0]!;
    let token: string | undefined;
    const ws = performance.now();
    const mine: number[] = [];
    let n = 0;
    for (let pg = 0; pg < opts.pages; pg++) {
      const s = performance.now();
      const res = await client.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: name }], MaxResults: 50, NextToken: token }));
      mine.push(performance.now() - s);
      n += res.Events?.length ?? 0;
      token = res.NextToken;
      if (!token) break;
    }
    if (w >= 2) {
      pageTimes.push(...mine);
      walkTimes.push(performance.now() - ws);
      got += n;
    }
  }
  const walk = { ...summarize(pageTimes), avgEvents: round(got / Math.max(1, pageTimes.length), 1), pagesPerWalk: opts.pages, walks, walkMs: summarize(walkTimes) };
  log(`lookup ${events} sdk: paged walk page p50 ${walk.p50} ms p99 ${walk.p99} ms; ${opts.pages} pages p50 ${walk.walkMs.p50} ms`);
  return { cases, walk };
}

/** CPU seconds of this process's children that have exited and been waited for (/proc/self/stat cutime + cstime). */
function reapedChildrenCpuSeconds(): number {
  const text = readFileSync('/proc/self/stat', 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / 100;
}

/** Runs the lookups against a server on `dataDir` (a scratch copy of the dataset `manifest` describes). */
export async function runLookups(dataDir: string, manifest: DatasetManifest, opts: LookupOptions): Promise<LookupResult> {
  const p = manifest.params;
  const t0 = performance.now();
  const server = await startBenchServer(dataDir, opts.nodeFlags ?? [], opts.server?.config, opts.server?.env);
  const serverStartMs = performance.now() - t0;
  const url = new URL(server.url);
  const choice = opts.leanClient ?? leanClientFromEnv();
  if (choice !== 'node' && !wrkAvailable()) throw new Error('BENCH_LEAN_CLIENT asks for wrk, which is not on PATH (Debian: apt-get install wrk)');
  const out: LookupResult = {
    events: manifest.events, leanClient: choice === 'node' ? 'node' : 'wrk',
    dataset: { key: manifest.key, layout: manifest.layout, bytes: manifest.bytes, bytesPerEvent: manifest.bytesPerEvent, buildSeconds: round(manifest.buildSeconds, 1), buildEventsPerSecond: Math.round(manifest.eventsPerSecond) },
    serverStartMs: round(serverStartMs, 0),
    lean: {}, sdk: {}, server: { rssMiB: 0, hwmMiB: 0, cpuSeconds: {} }, cpuCores: { server: 0, client: 0, otherProcesses: 0 },
  };
  if (opts.serverWarmup > 0) {
    // The request path's JIT settles over a few thousand requests: with only each case's warm-up,
    // the first cases ran while V8 was still compiling and deoptimising (bench/proto/lookup-threads.ts
    // with --trace-opt --trace-deopt: 374 compilations and 22 deoptimisations during the 2,000
    // timed requests of the first case after 300 warm-up, 69 and 0 by the third case).
    const t = performance.now();
    const k = Math.ceil(opts.serverWarmup / LOOKUP_CASES.length);
    const byCase = LOOKUP_CASES.map((name) => makeInputs(p, name, k, caseSeed(name) ^ 0x5eed));
    const mixed = Array.from({ length: k }, (_, i) => byCase.map((c) => c[i]!)).flat();
    if (out.leanClient === 'wrk') {
      const file = join(OUT_DIR, 'work', `wrk-warmup-${process.pid}.http`);
      mkdirSync(join(OUT_DIR, 'work'), { recursive: true });
      try {
        for (let at = 0; at < mixed.length; at += WRK_BATCH) await wrkRun(url, mixed.slice(at, at + WRK_BATCH), file);
      } finally {
        rmSync(file, { force: true });
      }
    } else {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        for (const x of mixed) await send(agent, url, await signLookup(url, x));
      } finally {
        agent.destroy();
      }
    }
    log(`lookup ${manifest.events}: server warm-up, ${mixed.length} lookups of every case mixed, in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  const cpu0 = threadCpu(server.pid);
  const machine0 = machineBusySeconds();
  const client0 = process.cpuUsage();
  const children0 = reapedChildrenCpuSeconds();
  const wall0 = performance.now();
  try {
    const line = (who: string, name: string, c: LeanCase) => log(`lookup ${manifest.events} ${who}: ${name} p50 ${c.p50} p99 ${c.p99} max ${c.max} ms; server p50 ${c.serverMs.p50} p99 ${c.serverMs.p99} ms; outside the server p50 ${c.outsideMs.p50} p99 ${c.outsideMs.p99} ms (${c.avgEvents} events/page)`);
    for (const name of LOOKUP_CASES) {
      if (choice === 'both') {
        // Its own draw of the case's inputs: on the same ones, wrk's would find the blocks node's had just read in the cache.
        const c = await leanCase(url, p, name, opts, true);
        (out.leanNode ??= {})[name] = c;
        line('lean node', name, c);
      }
      const c = out.leanClient === 'wrk' ? await wrkCase(url, p, name, opts) : await leanCase(url, p, name, opts);
      out.lean[name] = c;
      line(`lean ${out.leanClient}`, name, c);
    }
    if (opts.sdkSamples > 0) {
      const client = new CloudTrailClient({
        endpoint: server.url, region: 'us-east-1', maxAttempts: 1,
        credentials: { accessKeyId: BENCH_IDENTITY.accessKeyId, secretAccessKey: BENCH_IDENTITY.secretAccessKey },
      });
      try {
        const r = await sdkCases(client, p, opts, manifest.events);
        out.sdk = r.cases;
        out.sdkPagedWalk = r.walk;
      } finally {
        client.destroy();
      }
    }
    const mem = memoryOf(server.pid);
    const cpuSeconds = cpuDelta(cpu0, threadCpu(server.pid));
    const serverCpu = Object.values(cpuSeconds).reduce((a, v) => a + v.user + v.sys, 0);
    const clientCpu = process.cpuUsage(client0);
    // wrk runs are child processes, reaped by now: their CPU counts as the client's.
    clientCpu.user += (reapedChildrenCpuSeconds() - children0) * 1e6;
    const wall = (performance.now() - wall0) / 1000;
    out.server = { ...mem, memory: memoryBreakdown(server.memorySamples(), `lookup-${manifest.events}`), cpuSeconds };
    out.cpuCores = {
      server: round(serverCpu / wall, 2),
      client: round((clientCpu.user + clientCpu.system) / 1e6 / wall, 2),
      otherProcesses: round(Math.max(0, machineBusySeconds() - machine0 - serverCpu - (clientCpu.user + clientCpu.system) / 1e6) / wall, 2),
    };
  } finally {
    await server.stop();
  }
  return out;
}
