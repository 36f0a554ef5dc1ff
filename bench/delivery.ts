/**
 * Delivery benchmark: log files from the event log into a filesystem bucket (gzip and fsync
 * included), three ways.
 *
 * 1. End to end under full ingest (real server): the same N events POSTed to /ingest (1,000 per
 *    request, 8 keep-alive connections) as fast as the server takes them, once to a server without
 *    a trail and once with a logging all-events trail (maxAgeMs 1000); the ratio of the two ingest
 *    rates (target >= 0.9), and the time from the end of ingest until the last event is readable in
 *    the bucket (target <= maxAgeMs + 2 s).
 * 2. Latency (real server): events at a steady rate; for each, the time from its ingest
 *    acknowledgement to the moment its log file is readable in the bucket (the bucket directory is
 *    polled every 25 ms), p50/p99, with the default maxAgeMs (30 s) and with maxAgeMs 1000.
 * 3. Capacity (in process): the DeliveryWorker draining a backlog of N events already in the log,
 *    nothing else running, for 1 and 3 trails; beside it the gzip floor measured in the same run
 *    (gzip of the same uncompressed files at the level delivery uses, LOG_FILE_GZIP, on libuv's thread pool, as many at a time as
 *    there are trails) and the ratio (target for 3 trails <= 1.5), of wall times and of CPU times.
 */
import { Agent } from 'node:http';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzip, gunzipSync, gzip } from 'node:zlib';
import { promisify } from 'node:util';
import { CloudTrailClient, CreateTrailCommand, StartLoggingCommand } from '@aws-sdk/client-cloudtrail';
import { normalizeRecord, randomIds, TRAIL_KIND, DELIVERY_STATE_KIND, trailKey, type DeliveryState, type TrailDoc } from '../src/core/index.ts';
import { toAppendInput } from '../src/ingest/index.ts';
import { SqliteControlStore, SqliteEventStore } from '../src/stores/sqlite/index.ts';
import { FsObjectStore } from '../src/stores/fs/index.ts';
import type { EventStore, ObjectStore } from '../src/stores/index.ts';
import { DeliveryWorker, LOG_FILE_GZIP, RecordArena } from '../src/delivery/index.ts';
import { record, type GenParams } from './gen.ts';
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
  /** maxAgeMs of the trail in the end-to-end run (default 1000). */
  maxAgeMs?: number;
  /** Skip the latency runs (they take 20 s + 75 s by default). */
  skipLatency?: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);


/**
 * Watches a bucket directory: the time each log file was first seen is recorded by a cheap listing
 * (files appear by rename, so seen = readable); files are read (gunzip + parse) by `read()`, which
 * maps each eventID to the time its file was first seen. Reading can wait until ingest is over, so
 * the watcher takes little CPU from the server it measures.
 */
class BucketWatcher {
  readonly seenAt = new Map<string, number>();
  private readonly fileSeenAt = new Map<string, number>();
  private readonly unread: string[] = [];
  files = 0;
  gzBytes = 0;
  jsonBytes = 0;
  cpuMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Lists every `everyMs`; with `readToo`, also reads new files at once (the latency runs). */
  start(everyMs: number, readToo = false): void {
    this.timer = setInterval(() => {
      this.list();
      if (readToo) this.read();
    }, everyMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.list();
    this.read();
  }

  list(): void {
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
        if (this.fileSeenAt.has(p)) continue;
        if (n.endsWith('.json.gz')) {
          this.fileSeenAt.set(p, now);
          this.unread.push(p);
        } else if (!n.includes('.tmp-') && statSync(p).isDirectory()) walk(p);
      }
    };
    walk(this.dir);
    const c = process.cpuUsage(c0);
    this.cpuMs += (c.user + c.system) / 1000;
  }

  read(): void {
    const c0 = process.cpuUsage();
    for (const p of this.unread.splice(0)) {
      const at = this.fileSeenAt.get(p)!;
      const gz = readFileSync(p);
      const json = gunzipSync(gz);
      this.files++;
      this.gzBytes += gz.length;
      this.jsonBytes += json.length;
      for (const r of (JSON.parse(json.toString('utf8')) as { Records: { eventID: string }[] }).Records) {
        if (!this.seenAt.has(r.eventID)) this.seenAt.set(r.eventID, at);
      }
    }
    const c = process.cpuUsage(c0);
    this.cpuMs += (c.user + c.system) / 1000;
  }
}

async function startTrailServer(dataDir: string, delivery: Record<string, number>, withTrail = true) {
  mkdirSync(join(dataDir, 'buckets', BUCKET), { recursive: true });
  const server = await startBenchServer(dataDir, [], { delivery });
  if (!withTrail) return server;
  const ct = new CloudTrailClient({
    endpoint: server.url, region: REGION, maxAttempts: 1,
    credentials: { accessKeyId: BENCH_IDENTITY.accessKeyId, secretAccessKey: BENCH_IDENTITY.secretAccessKey },
  });
  await ct.send(new CreateTrailCommand({ Name: 'bench', S3BucketName: BUCKET }));
  await ct.send(new StartLoggingCommand({ Name: 'bench' }));
  ct.destroy();
  return server;
}

export function bodiesOf(params: GenParams, from: number, count: number, batch: number): { bodies: Buffer[]; ids: string[][] } {
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

export interface IngestRun {
  ingestSeconds: number;
  ingestEventsPerSecond: number;
  server: { cpuSeconds: Record<string, { user: number; sys: number }>; cpuCoresUsed: number };
  otherProcessesCores: number;
}

export interface ThroughputResult {
  events: number;
  batch: number;
  connections: number;
  maxAgeMs: number;
  /** The same bodies to a server without a trail. */
  withoutTrail: IngestRun;
  /** ... and to a server with a logging all-events trail. */
  withTrail: IngestRun & {
    delivered: number;
    /** From the first request to the last event readable in the bucket. */
    deliveredSeconds: number;
    deliveredEventsPerSecond: number;
    /** How long after ingest completed the last event was readable. */
    lagAfterIngestSeconds: number;
    files: number;
    gzipBytesPerEvent: number;
    compressionRatio: number;
    watcherCpuSeconds: number;
  };
  /** Ingest rate with the trail over the rate without (target >= 0.9). */
  rateRatio: number;
  /** lagAfterIngestSeconds must not exceed this: maxAgeMs + 2 s. */
  drainTargetSeconds: number;
  meetsTargets: { rate: boolean; drain: boolean };
}

/** Runs `job` over `items`, at most `concurrency` at a time. */
async function pooled<T>(items: T[], concurrency: number, job: (x: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      await job(items[i]!);
    }
  }));
}

/** POSTs every body over `connections` keep-alive connections; the run's wall time and the server's CPU. */
export async function ingestAll(server: { url: string; pid: number }, events: number, bodies: Buffer[], connections: number, onStart?: () => void): Promise<IngestRun & { t0: number; t1: number }> {
  const url = new URL(server.url);
  const signed: Record<string, string>[] = [];
  for (const b of bodies) signed.push(await signPost(server.url, '/ingest', b, 'application/json'));
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const cpu0 = threadCpu(server.pid);
  const machine0 = machineBusySeconds();
  const client0 = process.cpuUsage();
  onStart?.();
  const t0 = performance.now();
  await pooled(bodies.map((_, i) => i), connections, async (i) => {
    const r = await post(agent, url, signed[i]!, bodies[i]!);
    if (r.status !== 200) throw new Error(`ingest failed: ${r.status} ${r.text.slice(0, 300)}`);
  });
  const t1 = performance.now();
  agent.destroy();
  const seconds = (t1 - t0) / 1000;
  const cpuSeconds = cpuDelta(cpu0, threadCpu(server.pid));
  const cpuTotal = Object.values(cpuSeconds).reduce((a, v) => a + v.user + v.sys, 0);
  const client = process.cpuUsage(client0);
  return {
    t0, t1,
    ingestSeconds: round(seconds, 2),
    ingestEventsPerSecond: Math.round(events / seconds),
    server: { cpuSeconds, cpuCoresUsed: round(cpuTotal / seconds, 2) },
    otherProcessesCores: round(Math.max(0, machineBusySeconds() - machine0 - cpuTotal - (client.user + client.system) / 1e6) / seconds, 2),
  };
}

/** 1. End to end under full ingest, without and with a logging trail. */
export async function runDeliveryThroughput(opts: DeliveryOptions): Promise<ThroughputResult> {
  const maxAgeMs = opts.maxAgeMs ?? 1000;
  const params: GenParams = { seed: 4242, count: opts.events, endMs: Date.now(), spanMs: 60_000 };
  log(`delivery end to end: generating ${opts.events} records`);
  const { bodies, ids } = bodiesOf(params, 0, opts.events, opts.batch);
  const mine = ids.flat();

  // Without a trail: the same bodies, the same server settings.
  let withoutTrail: IngestRun;
  {
    const dataDir = mkdtempSync(join(tmpdir(), 'opentrail-bench-delivery-'));
    const server = await startTrailServer(dataDir, { maxAgeMs }, false);
    try {
      log(`delivery end to end: ingesting ${opts.events} events, no trail, ${opts.connections} connections`);
      const { t0: _t0, t1: _t1, ...run } = await ingestAll(server, opts.events, bodies, opts.connections);
      withoutTrail = run;
      log(`delivery end to end: no trail, ingest ${withoutTrail.ingestEventsPerSecond} events/s`);
    } finally {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }

  const dataDir = mkdtempSync(join(tmpdir(), 'opentrail-bench-delivery-'));
  const server = await startTrailServer(dataDir, { maxAgeMs });
  const watcher = new BucketWatcher(join(dataDir, 'buckets', BUCKET));
  try {
    log(`delivery end to end: ingesting ${opts.events} events with a logging trail (maxAgeMs ${maxAgeMs})`);
    const cpu0 = threadCpu(server.pid);
    const { t0, t1, ...run } = await ingestAll(server, opts.events, bodies, opts.connections, () => watcher.start(50));
    const ingestEventsPerSecond = run.ingestEventsPerSecond;
    // The drain: the bucket is listed every 50 ms (a file's time is when a listing first saw it),
    // and the files are read only once the trail's delivery lag (GET /metrics) is 0: reading them
    // meanwhile (gunzip and parse of ~280 MB) took a core from the drain it measures and, being
    // synchronous, held back the next listing by seconds (the 3.55 s of 2026-12-05 noon included it).
    const deadline = performance.now() + 120_000;
    const lagZero = async (): Promise<boolean> => {
      const text = await fetch(`${server.url}/metrics`).then((r) => r.text(), () => '');
      const line = text.split('\n').find((l) => l.startsWith('opentrail_consumer_lag_events{') && l.includes('consumer="delivery"'));
      return line !== undefined && Number(line.slice(line.lastIndexOf(' ') + 1)) === 0;
    };
    let lastScrape = 0;
    while (performance.now() < deadline) {
      await sleep(50);
      watcher.list();
      if (performance.now() - lastScrape < 250) continue;
      lastScrape = performance.now();
      if (await lagZero()) break;
    }
    watcher.list();
    watcher.read();
    // Files written after the lag was scraped as 0 (none expected): read until every event is seen or the deadline.
    while (performance.now() < deadline && !mine.every((id) => watcher.seenAt.has(id))) {
      await sleep(100);
      watcher.list();
      watcher.read();
    }
    watcher.stop();
    const seen = mine.map((id) => watcher.seenAt.get(id)).filter((x): x is number => x !== undefined);
    const delivered = seen.length;
    // A loop, not Math.max(...seen): 200,000 arguments overflow the stack.
    const last = seen.reduce((a, b) => (b > a ? b : a), -Infinity);
    const deliveredSeconds = (last - t0) / 1000;
    const cpuSeconds = cpuDelta(cpu0, threadCpu(server.pid));
    const cpuTotal = Object.values(cpuSeconds).reduce((a, v) => a + v.user + v.sys, 0);
    const wall = (performance.now() - t0) / 1000;
    if (delivered < opts.events) log(`WARNING: only ${delivered} of ${opts.events} delivered within 120 s of ingest's end`);
    const lagAfterIngestSeconds = round((last - t1) / 1000, 2);
    const withTrail: ThroughputResult['withTrail'] = {
      ...run,
      ingestEventsPerSecond,
      server: { cpuSeconds, cpuCoresUsed: round(cpuTotal / wall, 2) },
      delivered,
      deliveredSeconds: round(deliveredSeconds, 2),
      deliveredEventsPerSecond: Math.round(delivered / deliveredSeconds),
      lagAfterIngestSeconds,
      files: watcher.files,
      gzipBytesPerEvent: Math.round(watcher.gzBytes / Math.max(1, delivered)),
      compressionRatio: round(watcher.jsonBytes / Math.max(1, watcher.gzBytes), 1),
      watcherCpuSeconds: round(watcher.cpuMs / 1000, 2),
    };
    const rateRatio = round(ingestEventsPerSecond / withoutTrail.ingestEventsPerSecond, 3);
    const drainTargetSeconds = maxAgeMs / 1000 + 2;
    const result: ThroughputResult = {
      events: opts.events, batch: opts.batch, connections: opts.connections, maxAgeMs, withoutTrail, withTrail, rateRatio, drainTargetSeconds,
      meetsTargets: { rate: rateRatio >= 0.9, drain: delivered === opts.events && lagAfterIngestSeconds <= drainTargetSeconds },
    };
    log(`delivery end to end: ingest ${ingestEventsPerSecond} events/s with the trail, ${withoutTrail.ingestEventsPerSecond} without (ratio ${rateRatio}); last event readable ${lagAfterIngestSeconds} s after ingest ended (target ${drainTargetSeconds} s)`);
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
    watcher.start(25, true);
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
  /** Events delivered per second summed over trails (each trail files every event). */
  trailEventsPerSecond: number;
  /** CPU of this process during the drain, by thread (main: read, parse, admit, build; libuv: gzip, file writes). */
  cpuSeconds: Record<string, { user: number; sys: number }>;
  files: number;
  mibWritten: number;
  /**
   * gzip of the same uncompressed files at delivery's level (`level`: LOG_FILE_GZIP) on libuv's thread pool, as many at a time as there
   * are trails (the worker compresses the trails' batches side by side): the floor of the drain.
   */
  gzipFloor: { level: number; seconds: number; concurrency: number; mibIn: number; mibPerSecond: number; cpuSeconds: number };
  /** seconds / gzipFloor.seconds (target for 3 trails: <= 1.5). */
  overGzipFloor: number;
  /**
   * CPU of this process during the drain (every thread) / CPU of the floor: what the wall ratio
   * tends to on 2 busy cores, and robust on a shared machine, where wall times are not.
   */
  overGzipFloorCpu: number;
  /**
   * Costs measured apart on the same data: store reads and putObject (wall time in the drain);
   * main-thread CPU of JSON.parse of every record once (the shared scan parses each once whatever
   * the trail count) and of writing every record once as UTF-8 to the shared record bytes (the
   * log-file threads assemble each trail's files from them).
   */
  breakdownSeconds: { storeRead: number; jsonParseOnce: number; recordBytesOnce: number; putObject: number };
  /** Rows the worker read from the store (readAfter and readAfterShared) per event of the backlog: 1 when every row is read once for all trails. */
  rowsReadPerEvent: number;
}

/** 3. The DeliveryWorker alone draining a backlog, for 1 and 3 trails (each trail a bucket of its own), with its gzip floor. */
export async function runDeliveryCapacity(events: number): Promise<CapacityResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'opentrail-bench-capacity-'));
  const maxBytes = 16 * 1024 * 1024;
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
    // Main-thread costs apart: JSON.parse of every record once; every record written once to the
    // shared record bytes, as the worker writes them (src/delivery/log-file.ts, RecordArena).
    // CPU time (this process; the work is synchronous on the main thread), not wall time: robust on a shared machine.
    const cpuMs = (f: () => void) => {
      const c0 = process.cpuUsage();
      f();
      const c = process.cpuUsage(c0);
      return (c.user + c.system) / 1000;
    };
    let rows = await store.readAfter(0, events);
    const parseOnce = cpuMs(() => {
      for (const r of rows) JSON.parse(r.json);
    }) / 1000;
    // (The arena made here is not kept: 137 MiB of shared memory held through the drains would
    // make V8 collect more often during them.)
    const recordBytesOnce = cpuMs(() => {
      const arena = new RecordArena();
      for (const r of rows) arena.add(r.json);
    }) / 1000;
    rows = [];

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
      const timing = { storeRead: 0, rowsRead: 0, putObject: 0, files: 0, bytes: 0 };
      const timedEvents: EventStore = Object.create(store) as EventStore;
      timedEvents.readAfter = async (after: number, limit: number, account?: string, max?: number) => {
        const s = performance.now();
        try {
          const got = await store.readAfter(after, limit, account, max);
          timing.rowsRead += got.length;
          return got;
        } finally {
          timing.storeRead += performance.now() - s;
        }
      };
      // (Called on the store itself: the store keeps its log-reader thread on itself, not on this wrapper.)
      timedEvents.readAfterShared = async (after: number, limit: number) => {
        const s = performance.now();
        try {
          const got = await store.readAfterShared(after, limit);
          timing.rowsRead += got.n;
          return got;
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
        { maxAgeMs: 0, maxBytes, pollMs: 3_600_000, readBatch: 2000, regions: [REGION] },
      );
      log(`delivery capacity: draining ${events} events for ${trails} trail(s)`);
      const cpu0 = threadCpu(process.pid);
      let t = performance.now();
      for (;;) {
        await worker.tick(true);
        const states = await control.list<DeliveryState>(DELIVERY_STATE_KIND, '');
        if (states.length === trails && states.every((s) => s.doc.cursor >= lastSeq && !s.doc.intent)) break;
      }
      const seconds = (performance.now() - t) / 1000;
      const cpuSeconds = cpuDelta(cpu0, threadCpu(process.pid));
      // The floor: gzip of the same uncompressed files at delivery's level, on the thread pool, `trails` at a time.
      const walk = (d: string): string[] => readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : [join(d, n)]));
      const jsons = await Promise.all(walk(join(run, 'buckets')).filter((f) => f.endsWith('.json.gz')).map((f) => gunzipAsync(readFileSync(f))));
      const mibIn = jsons.reduce((a, j) => a + j.length, 0) / 2 ** 20;
      const floorCpu0 = threadCpu(process.pid);
      t = performance.now();
      await pooled(jsons, trails, (j) => gzipAsync(j, LOG_FILE_GZIP));
      const floorSeconds = (performance.now() - t) / 1000;
      const total = (c: Record<string, { user: number; sys: number }>) => Object.values(c).reduce((a, v) => a + v.user + v.sys, 0);
      const floorCpu = total(cpuDelta(floorCpu0, threadCpu(process.pid)));
      results.push({
        events, trails, seconds: round(seconds, 2),
        eventsPerSecond: Math.round(events / seconds),
        trailEventsPerSecond: Math.round((events * trails) / seconds),
        cpuSeconds,
        files: timing.files,
        mibWritten: round(timing.bytes / 2 ** 20, 1),
        gzipFloor: { level: LOG_FILE_GZIP.level, seconds: round(floorSeconds, 2), concurrency: trails, mibIn: round(mibIn, 1), mibPerSecond: round(mibIn / floorSeconds, 1), cpuSeconds: round(floorCpu, 2) },
        overGzipFloor: round(seconds / floorSeconds, 2),
        overGzipFloorCpu: round(total(cpuSeconds) / floorCpu, 2),
        rowsReadPerEvent: round(timing.rowsRead / events, 2),
        breakdownSeconds: {
          storeRead: round(timing.storeRead / 1000, 2), jsonParseOnce: round(parseOnce, 2), recordBytesOnce: round(recordBytesOnce, 2), putObject: round(timing.putObject / 1000, 2),
        },
      });
      const r = results.at(-1)!;
      log(`delivery capacity (${trails} trail(s)): ${r.eventsPerSecond} events/s, ${r.seconds} s against a gzip floor of ${r.gzipFloor.seconds} s (${r.overGzipFloor}x; CPU ${round(total(cpuSeconds), 2)} s against ${r.gzipFloor.cpuSeconds} s: ${r.overGzipFloorCpu}x); rows read per event ${r.rowsReadPerEvent}`);
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
  const throughput = await runDeliveryThroughput(opts);
  const latency = opts.skipLatency
    ? undefined
    : { maxAge1000: await runDeliveryLatency(1000, opts.latencyRate, opts.latencySeconds[0]), maxAgeDefault: await runDeliveryLatency(undefined, opts.latencyRate, opts.latencySeconds[1]) };
  const three = capacity.find((c) => c.trails === 3);
  return {
    capacity, throughput, latency,
    targets: {
      threeTrailsOverGzipFloor: { value: three?.overGzipFloor, target: 1.5, met: three !== undefined && three.overGzipFloor <= 1.5 },
      ingestRateRatioWithTrail: { value: throughput.rateRatio, target: 0.9, met: throughput.meetsTargets.rate },
      drainAfterIngestSeconds: { value: throughput.withTrail.lagAfterIngestSeconds, target: throughput.drainTargetSeconds, met: throughput.meetsTargets.drain },
    },
  };
}

/** The delivery bench's settings from the environment (shared by bench/run.ts). */
export function deliveryOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): DeliveryOptions {
  const num = (name: string, dflt: number) => (env[name] ? Number(env[name]) : dflt);
  return {
    events: num('BENCH_DELIVERY_EVENTS', 200_000), batch: 1000, connections: num('BENCH_DELIVERY_CONNECTIONS', 8),
    maxAgeMs: num('BENCH_DELIVERY_MAX_AGE_MS', 1000),
    latencyRate: num('BENCH_DELIVERY_RATE', 500), latencySeconds: [num('BENCH_DELIVERY_FAST_SECONDS', 20), num('BENCH_DELIVERY_DEFAULT_SECONDS', 75)],
    capacityEvents: num('BENCH_DELIVERY_CAPACITY_EVENTS', 100_000),
    skipLatency: env.BENCH_DELIVERY_LATENCY === '0',
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = await runDelivery(deliveryOptionsFromEnv());
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}
