/**
 * Delivery benchmark: log files from the event log into a filesystem bucket (gzip and fsync
 * included), three ways.
 *
 * 1. End to end under full ingest (real server): N events POSTed to /ingest as fast as the server
 *    takes them while a logging trail (maxAgeMs 1000) delivers; reports when ingest completed and
 *    when the last event was readable in the bucket, and what delivery costs ingest.
 * 2. Latency (real server): events at a steady rate; for each, the time from its ingest
 *    acknowledgement to the moment its log file is readable in the bucket (the bucket directory is
 *    polled every 25 ms), p50/p99, with the default maxAgeMs (30 s) and with maxAgeMs 1000.
 * 3. Capacity (in process): the DeliveryWorker draining a backlog of N events already in the log,
 *    nothing else running: the most events/s delivery can do on this machine, and where the time goes.
 */
import { Agent } from 'node:http';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { CloudTrailClient, CreateTrailCommand, StartLoggingCommand } from '@aws-sdk/client-cloudtrail';
import { normalizeRecord, randomIds, TRAIL_KIND, DELIVERY_STATE_KIND, trailKey, type DeliveryState, type TrailDoc } from '../src/core/index.ts';
import { toAppendInput } from '../src/ingest/index.ts';
import { SqliteControlStore, SqliteEventStore } from '../src/stores/sqlite/index.ts';
import { FsObjectStore } from '../src/stores/fs/index.ts';
import type { EventStore, ObjectStore } from '../src/stores/index.ts';
import { DeliveryWorker } from '../src/delivery/index.ts';
import { record, type GenParams } from './gen.ts';
import { runIngest } from './ingest.ts';
import { BENCH_IDENTITY, cpuDelta, log, machineBusySeconds, post, round, signPost, startBenchServer, summarize, threadCpu } from './lib.ts';

const ACCOUNT = '111111111111';
const REGION = 'us-east-1';
const BUCKET = 'bench-bucket';

export interface DeliveryOptions {
  /** Events ingested in the end-to-end run. */
  events: number;
  batch: number;
  connections: number;
  /** Events/s offered in the latency runs. */
  latencyRate: number;
  /** How long events are offered in the latency runs, s: [maxAgeMs 1000, default maxAgeMs]. */
  latencySeconds: [number, number];
  /** Events in the backlog of the in-process capacity run. */
  capacityEvents: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


/**
 * Watches a bucket directory: every new log file is read once (gunzip + parse) and the time it was
 * first seen is recorded for each of its eventIDs.
 */
class BucketWatcher {
  readonly seenAt = new Map<string, number>();
  readonly known = new Set<string>();
  files = 0;
  gzBytes = 0;
  jsonBytes = 0;
  cpuMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  start(everyMs: number): void {
    this.timer = setInterval(() => this.scan(), everyMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.scan();
  }

  scan(): void {
    const c0 = process.cpuUsage();
    const now = performance.now();
    const walk = (d: string) => {
      let names: string[];
      try {
        names = readdirSync(d);
      } catch {
        return;
      }
      for (const n of names) {
        const p = join(d, n);
        if (this.known.has(p)) continue;
        if (n.endsWith('.json.gz')) {
          this.known.add(p);
          const gz = readFileSync(p);
          const json = gunzipSync(gz);
          this.files++;
          this.gzBytes += gz.length;
          this.jsonBytes += json.length;
          for (const r of (JSON.parse(json.toString('utf8')) as { Records: { eventID: string }[] }).Records) {
            if (!this.seenAt.has(r.eventID)) this.seenAt.set(r.eventID, now);
          }
        } else if (!n.includes('.tmp-') && statSync(p).isDirectory()) walk(p);
      }
    };
    walk(this.dir);
    const c = process.cpuUsage(c0);
    this.cpuMs += (c.user + c.system) / 1000;
  }
}

async function startTrailServer(dataDir: string, delivery: Record<string, number>) {
  mkdirSync(join(dataDir, 'buckets', BUCKET), { recursive: true });
  const server = await startBenchServer(dataDir, [], { delivery });
  const ct = new CloudTrailClient({
    endpoint: server.url, region: REGION, maxAttempts: 1,
    credentials: { accessKeyId: BENCH_IDENTITY.accessKeyId, secretAccessKey: BENCH_IDENTITY.secretAccessKey },
  });
  await ct.send(new CreateTrailCommand({ Name: 'bench', S3BucketName: BUCKET }));
  await ct.send(new StartLoggingCommand({ Name: 'bench' }));
  ct.destroy();
  return server;
}

function bodiesOf(params: GenParams, from: number, count: number, batch: number): { bodies: Buffer[]; ids: string[][] } {
  const bodies: Buffer[] = [];
  const ids: string[][] = [];
  for (let start = from; start < from + count; start += batch) {
    const parts: string[] = [];
    const mine: string[] = [];
    for (let i = start; i < Math.min(from + count, start + batch); i++) {
      const r = record(params, i);
      mine.push(r.eventID as string);
      parts.push(JSON.stringify(r));
    }
    bodies.push(Buffer.from(`{"Records":[${parts.join(',')}]}`));
    ids.push(mine);
  }
  return { bodies, ids };
}

export interface ThroughputResult {
  events: number;
  maxAgeMs: number;
  ingestSeconds: number;
  ingestEventsPerSecond: number;
  /** From the first request to the last event readable in the bucket. */
  deliveredSeconds: number;
  deliveredEventsPerSecond: number;
  /** How long after ingest completed the last event was readable. */
  lagAfterIngestSeconds: number;
  files: number;
  gzipBytesPerEvent: number;
  compressionRatio: number;
  server: { cpuSeconds: Record<string, { user: number; sys: number }>; cpuCoresUsed: number };
  watcherCpuSeconds: number;
  otherProcessesCores: number;
}

/** 1. End to end under full ingest. */
export async function runDeliveryThroughput(opts: DeliveryOptions): Promise<ThroughputResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'opentrail-bench-delivery-'));
  const maxAgeMs = 1000;
  const params: GenParams = { seed: 4242, count: opts.events, endMs: Date.now(), spanMs: 60_000 };
  log(`delivery throughput: generating ${opts.events} records`);
  const { bodies, ids } = bodiesOf(params, 0, opts.events, opts.batch);
  const mine = ids.flat();
  const server = await startTrailServer(dataDir, { maxAgeMs });
  const watcher = new BucketWatcher(join(dataDir, 'buckets', BUCKET));
  try {
    const url = new URL(server.url);
    const signed: Record<string, string>[] = [];
    for (const b of bodies) signed.push(await signPost(server.url, '/ingest', b, 'application/json'));
    const agent = new Agent({ keepAlive: true, maxSockets: opts.connections });
    log(`delivery throughput: ingesting ${opts.events} events with a logging trail (maxAgeMs ${maxAgeMs})`);
    const cpu0 = threadCpu(server.pid);
    const machine0 = machineBusySeconds();
    const client0 = process.cpuUsage();
    watcher.start(50);
    const t0 = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: opts.connections }, async () => {
      for (;;) {
        const i = next++;
        if (i >= bodies.length) return;
        const r = await post(agent, url, signed[i]!, bodies[i]!);
        if (r.status !== 200) throw new Error(`ingest failed: ${r.status} ${r.text.slice(0, 300)}`);
      }
    }));
    const ingestSeconds = (performance.now() - t0) / 1000;
    agent.destroy();
    const deadline = performance.now() + 120_000;
    const seenAll = () => mine.every((id) => watcher.seenAt.has(id));
    while (performance.now() < deadline && !seenAll()) await sleep(200);
    watcher.stop();
    const seen = mine.map((id) => watcher.seenAt.get(id)).filter((x): x is number => x !== undefined);
    const events = seen.length;
    const last = Math.max(...seen);
    const deliveredSeconds = (last - t0) / 1000;
    const cpuSeconds = cpuDelta(cpu0, threadCpu(server.pid));
    const cpuTotal = Object.values(cpuSeconds).reduce((a, v) => a + v.user + v.sys, 0);
    const wall = (performance.now() - t0) / 1000;
    const client = process.cpuUsage(client0);
    if (events < opts.events) log(`WARNING: only ${events} of ${opts.events} delivered within 120 s of ingest's end`);
    const result: ThroughputResult = {
      events,
      maxAgeMs,
      ingestSeconds: round(ingestSeconds, 2),
      ingestEventsPerSecond: Math.round(opts.events / ingestSeconds),
      deliveredSeconds: round(deliveredSeconds, 2),
      deliveredEventsPerSecond: Math.round(events / deliveredSeconds),
      lagAfterIngestSeconds: round(deliveredSeconds - ingestSeconds, 2),
      files: watcher.files,
      gzipBytesPerEvent: Math.round(watcher.gzBytes / Math.max(1, events)),
      compressionRatio: round(watcher.jsonBytes / Math.max(1, watcher.gzBytes), 1),
      server: { cpuSeconds, cpuCoresUsed: round(cpuTotal / wall, 2) },
      watcherCpuSeconds: round(watcher.cpuMs / 1000, 2),
      otherProcessesCores: round(Math.max(0, machineBusySeconds() - machine0 - cpuTotal - (client.user + client.system) / 1e6) / wall, 2),
    };
    log(`delivery throughput: ingest ${result.ingestEventsPerSecond} events/s, all delivered after ${result.deliveredSeconds} s (${result.deliveredEventsPerSecond} events/s), lag ${result.lagAfterIngestSeconds} s`);
    return result;
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export interface LatencyResult {
  maxAgeMs: number;
  pollMs: number;
  rate: number;
  events: number;
  delivered: number;
  latencyMs: ReturnType<typeof summarize>;
}

/** 2. Acknowledgement to readable file, at a steady rate. `maxAgeMs` undefined: the server's default. */
export async function runDeliveryLatency(maxAgeMs: number | undefined, rate: number, seconds: number): Promise<LatencyResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'opentrail-bench-latency-'));
  const perTick = Math.max(1, Math.round(rate / 10));
  const ticks = Math.round(seconds * 10);
  const params: GenParams = { seed: 5151 + (maxAgeMs ?? 0), count: perTick * ticks, endMs: Date.now(), spanMs: 60_000 };
  const { bodies, ids } = bodiesOf(params, 0, perTick * ticks, perTick);
  const server = await startTrailServer(dataDir, maxAgeMs === undefined ? {} : { maxAgeMs });
  const watcher = new BucketWatcher(join(dataDir, 'buckets', BUCKET));
  try {
    const url = new URL(server.url);
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    log(`delivery latency (maxAgeMs ${maxAgeMs ?? 'default'}): ${rate} events/s for ${seconds} s`);
    watcher.start(25);
    const ackAt = new Map<string, number>();
    const t0 = performance.now();
    const inflight: Promise<void>[] = [];
    for (let k = 0; k < ticks; k++) {
      const due = t0 + k * 100;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const body = bodies[k]!;
      const mine = ids[k]!;
      inflight.push((async () => {
        const r = await post(agent, url, await signPost(server.url, '/ingest', body, 'application/json'), body);
        const at = performance.now();
        if (r.status !== 200) throw new Error(`ingest failed: ${r.status} ${r.text.slice(0, 300)}`);
        for (const id of mine) ackAt.set(id, at);
      })());
    }
    await Promise.all(inflight);
    agent.destroy();
    const deadline = performance.now() + (maxAgeMs ?? 30_000) + 15_000;
    while (performance.now() < deadline && watcher.seenAt.size < ackAt.size) await sleep(50);
    watcher.stop();
    const lat: number[] = [];
    for (const [id, at] of ackAt) {
      const seen = watcher.seenAt.get(id);
      if (seen !== undefined) lat.push(seen - at);
    }
    const result: LatencyResult = { maxAgeMs: maxAgeMs ?? 30_000, pollMs: 1000, rate, events: ackAt.size, delivered: lat.length, latencyMs: summarize(lat) };
    log(`delivery latency (maxAgeMs ${result.maxAgeMs}): p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, ${lat.length}/${ackAt.size} delivered`);
    return result;
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export interface CapacityResult {
  events: number;
  trails: number;
  seconds: number;
  eventsPerSecond: number;
  /** Events delivered per second summed over trails (each trail reads and files every event). */
  trailEventsPerSecond: number;
  cpuSeconds: number;
  files: number;
  mibWritten: number;
  /** Where the wall time went. `parse` and `gzip` are re-measured on the same data (see below). */
  breakdownSeconds: { storeRead: number; putObject: number; jsonParse: number; gzip: number; rest: number };
}

/** 3. The DeliveryWorker alone draining a backlog, for 1 and 3 trails (each trail a bucket of its own). */
export async function runDeliveryCapacity(events: number): Promise<CapacityResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'opentrail-bench-capacity-'));
  try {
    const store = new SqliteEventStore({ path: join(dir, 'events.db') });
    log(`delivery capacity: loading ${events} events into the log`);
    const params: GenParams = { seed: 6161, count: events, endMs: Date.now(), spanMs: 3600_000 };
    const now = Date.now();
    for (let from = 0; from < events; from += 5000) {
      const batch = [];
      for (let i = from; i < Math.min(events, from + 5000); i++) {
        const n = normalizeRecord(record(params, i), { defaultAccountId: ACCOUNT, defaultRegion: REGION, nowMs: now, ids: randomIds });
        if (!n.ok) throw new Error(n.errorMessage);
        batch.push(toAppendInput(n.value));
      }
      await store.append(batch, 'process');
    }
    const lastSeq = await store.lastSeq();
    // What parsing every stored record costs (the worker parses each once per trail to admit it; it
    // re-reads and re-parses a range only to redo an intent after a restart).
    const rows = await store.readAfter(0, events);
    let t = performance.now();
    for (const r of rows) JSON.parse(r.json);
    const parseOnce = (performance.now() - t) / 1000;

    const results: CapacityResult[] = [];
    for (const trails of [1, 3]) {
      const run = join(dir, `run-${trails}`);
      const control = new SqliteControlStore(join(run, 'control.db'));
      const objects = new FsObjectStore(join(run, 'buckets'));
      for (let k = 0; k < trails; k++) {
        mkdirSync(join(run, 'buckets', `${BUCKET}-${k}`), { recursive: true });
        const doc: TrailDoc = {
          Name: `bench-${k}`, accountId: ACCOUNT, HomeRegion: REGION, TrailARN: `arn:aws:cloudtrail:${REGION}:${ACCOUNT}:trail/bench-${k}`,
          S3BucketName: `${BUCKET}-${k}`, IncludeGlobalServiceEvents: true, IsMultiRegionTrail: false, LogFileValidationEnabled: false,
          IsOrganizationTrail: false, tags: [], isLogging: true, createdMs: now, deliverAfterSeq: 0,
        };
        await control.put(TRAIL_KIND, trailKey(ACCOUNT, REGION, doc.Name), doc);
      }
      const timing = { storeRead: 0, putObject: 0, files: 0, bytes: 0 };
      const timedEvents: EventStore = Object.create(store) as EventStore;
      timedEvents.readAfter = async (after: number, limit: number, account?: string) => {
        const s = performance.now();
        try {
          return await store.readAfter(after, limit, account);
        } finally {
          timing.storeRead += performance.now() - s;
        }
      };
      const timedObjects: ObjectStore = {
        kind: 'filesystem', bucketExists: (b) => objects.bucketExists(b), bucketPolicy: () => objects.bucketPolicy(),
        putObject: async (b, k, body, o) => {
          const s = performance.now();
          await objects.putObject(b, k, body, o);
          timing.putObject += performance.now() - s;
          timing.files++;
          timing.bytes += body.length;
        },
      };
      const worker = new DeliveryWorker(
        { events: timedEvents, control, objects: timedObjects, clock: { nowMs: () => Date.now() }, logError: (m, e) => log(`${m}: ${String(e)}`) },
        { maxAgeMs: 0, maxBytes: 16 * 1024 * 1024, pollMs: 3_600_000, readBatch: 2000, regions: [REGION] },
      );
      log(`delivery capacity: draining ${events} events for ${trails} trail(s)`);
      const c0 = process.cpuUsage();
      t = performance.now();
      for (;;) {
        await worker.tick(true);
        const states = await control.list<DeliveryState>(DELIVERY_STATE_KIND, '');
        if (states.length === trails && states.every((s) => s.doc.cursor >= lastSeq && !s.doc.intent)) break;
      }
      const seconds = (performance.now() - t) / 1000;
      const c = process.cpuUsage(c0);
      // gzip as the worker does it (level 6), re-run on the delivered files' contents.
      let gzipSeconds = 0;
      const walk = (d: string): string[] => readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : [join(d, n)]));
      for (const f of walk(join(run, 'buckets'))) {
        const json = gunzipSync(readFileSync(f));
        const s = performance.now();
        gzipSync(json, { level: 6 });
        gzipSeconds += (performance.now() - s) / 1000;
      }
      const storeRead = timing.storeRead / 1000;
      const putObject = timing.putObject / 1000;
      const jsonParse = parseOnce * trails;
      results.push({
        events, trails, seconds: round(seconds, 2),
        eventsPerSecond: Math.round(events / seconds),
        trailEventsPerSecond: Math.round((events * trails) / seconds),
        cpuSeconds: round((c.user + c.system) / 1e6, 2),
        files: timing.files,
        mibWritten: round(timing.bytes / 2 ** 20, 1),
        breakdownSeconds: {
          storeRead: round(storeRead, 2), putObject: round(putObject, 2), jsonParse: round(jsonParse, 2), gzip: round(gzipSeconds, 2),
          rest: round(Math.max(0, seconds - storeRead - putObject - jsonParse - gzipSeconds), 2),
        },
      });
      log(`delivery capacity (${trails} trail(s)): ${results.at(-1)!.eventsPerSecond} events/s`);
      await control.close();
    }
    await store.close();
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runDelivery(opts: DeliveryOptions) {
  const capacity = await runDeliveryCapacity(opts.capacityEvents);
  // The same ingest without a logging trail, for what delivery costs ingest (they share the main thread).
  const baseline = await runIngest({ events: opts.events, batch: opts.batch, connections: opts.connections });
  const throughput = { ...(await runDeliveryThroughput(opts)), ingestWithoutTrailEventsPerSecond: baseline.eventsPerSecond };
  const latencyFast = await runDeliveryLatency(1000, opts.latencyRate, opts.latencySeconds[0]);
  const latencyDefault = await runDeliveryLatency(undefined, opts.latencyRate, opts.latencySeconds[1]);
  return { capacity, throughput, latency: { maxAge1000: latencyFast, maxAgeDefault: latencyDefault } };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const env = process.env;
  const num = (name: string, dflt: number) => (env[name] ? Number(env[name]) : dflt);
  const out = await runDelivery({
    events: num('BENCH_DELIVERY_EVENTS', 100_000), batch: 1000, connections: 6,
    latencyRate: num('BENCH_DELIVERY_RATE', 500), latencySeconds: [num('BENCH_DELIVERY_FAST_SECONDS', 20), num('BENCH_DELIVERY_DEFAULT_SECONDS', 75)],
    capacityEvents: num('BENCH_DELIVERY_CAPACITY_EVENTS', 100_000),
  });
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}
