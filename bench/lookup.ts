/**
 * LookupEvents latency over HTTP against a dataset built by dataset.ts, sequential requests, one
 * at a time, warm-up excluded, two clients:
 * - lean: every request SigV4-signed before its case starts (re-signed when a signature would
 *   reach 10 minutes of age: the server accepts 15 minutes of clock skew), its bytes replayed
 *   over one keep-alive node:http connection; the server's own time per request comes from its
 *   `Server-Timing: app;dur=<ms>` answer header;
 * - the AWS SDK (@aws-sdk/client-cloudtrail), what a user's tool sees.
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
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from '../src/aws/sigv4.ts';
import { historyAttributes, normalizeRecord } from '../src/core/index.ts';
import { Rng, record, type GenParams } from './gen.ts';
import { normalizeContext, type DatasetManifest } from './dataset.ts';
import { BENCH_IDENTITY, cpuDelta, log, machineBusySeconds, memoryBreakdown, memoryOf, round, startBenchServer, summarize, threadCpu } from './lib.ts';

export interface LookupOptions {
  /** Timed requests per case, lean client (BENCH_SAMPLES). */
  samples: number;
  warmup: number;
  /** Timed requests per case, SDK client (BENCH_SDK_SAMPLES; 0: no SDK run). */
  sdkSamples: number;
  /** Pages per SDK paged walk; walks = sdkSamples / pages. */
  pages: number;
  nodeFlags?: string[];
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
}

export interface LookupResult {
  events: number;
  dataset: { key: string; layout: string; bytes: number; bytesPerEvent: number; buildSeconds: number; buildEventsPerSecond: number };
  serverStartMs: number;
  lean: Record<string, LeanCase>;
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

async function leanCase(url: URL, p: GenParams, name: string, opts: LookupOptions): Promise<LeanCase> {
  const inputs = makeInputs(p, name, opts.warmup + opts.samples, 0xbeef + name.length * 7919);
  let signed = await Promise.all(inputs.map((i) => signLookup(url, i)));
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  const server: number[] = [];
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
        events += r.events;
      }
    }
  } finally {
    agent.destroy();
  }
  return { ...summarize(times), avgEvents: round(events / opts.samples, 1), serverMs: summarize(server.filter((x) => !Number.isNaN(x))) };
}

async function sdkCases(client: CloudTrailClient, p: GenParams, opts: LookupOptions, events: number): Promise<{ cases: Record<string, LookupCase>; walk: NonNullable<LookupResult['sdkPagedWalk']> }> {
  const toSdk = (i: Input): LookupEventsCommandInput => ({
    ...i, LookupAttributes: i.LookupAttributes as LookupEventsCommandInput['LookupAttributes'], StartTime: i.StartTime === undefined ? undefined : new Date(i.StartTime * 1000), EndTime: i.EndTime === undefined ? undefined : new Date(i.EndTime * 1000),
  });
  const cases: Record<string, LookupCase> = {};
  const warmup = Math.min(opts.warmup, opts.sdkSamples);
  for (const name of [...LOOKUP_CASES, 'EventName+TimeRange1d']) {
    const inputs = makeInputs(p, name, warmup + opts.sdkSamples, 0xbeef + name.length * 7919).map(toSdk);
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

/** Runs the lookups against a server on `dataDir` (a scratch copy of the dataset `manifest` describes). */
export async function runLookups(dataDir: string, manifest: DatasetManifest, opts: LookupOptions): Promise<LookupResult> {
  const p = manifest.params;
  const t0 = performance.now();
  const server = await startBenchServer(dataDir, opts.nodeFlags ?? [], opts.server?.config, opts.server?.env);
  const serverStartMs = performance.now() - t0;
  const url = new URL(server.url);
  const out: LookupResult = {
    events: manifest.events,
    dataset: { key: manifest.key, layout: manifest.layout, bytes: manifest.bytes, bytesPerEvent: manifest.bytesPerEvent, buildSeconds: round(manifest.buildSeconds, 1), buildEventsPerSecond: Math.round(manifest.eventsPerSecond) },
    serverStartMs: round(serverStartMs, 0),
    lean: {}, sdk: {}, server: { rssMiB: 0, hwmMiB: 0, cpuSeconds: {} }, cpuCores: { server: 0, client: 0, otherProcesses: 0 },
  };
  const cpu0 = threadCpu(server.pid);
  const machine0 = machineBusySeconds();
  const client0 = process.cpuUsage();
  const wall0 = performance.now();
  try {
    for (const name of LOOKUP_CASES) {
      const c = await leanCase(url, p, name, opts);
      out.lean[name] = c;
      log(`lookup ${manifest.events} lean: ${name} p50 ${c.p50} p99 ${c.p99} max ${c.max} ms; server p50 ${c.serverMs.p50} p99 ${c.serverMs.p99} ms (${c.avgEvents} events/page)`);
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
