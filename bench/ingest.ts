/**
 * Ingest benchmark: durable, fully indexed events/s through POST /ingest of the real server (its
 * defaults: disk durability, every Event history attribute indexed).
 *
 * Bodies (CloudTrail log-file form, {"Records":[...]}) are generated as Buffers and SigV4-signed
 * before the clock starts (a signature older than 10 minutes is renewed before it is sent: the
 * server accepts 15 minutes of skew), so the client's work during the run is only writing bytes
 * to keep-alive node:http connections: on a 2-core machine the client shares the CPU with the
 * server, and this keeps its share small. Its CPU is reported, and whether it was the bound.
 * A 1M-event run holds ~1.4 GB of bodies in this process.
 */
import { Agent, request } from 'node:http';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { filesOf, sumBytes } from './dataset.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { record, type GenParams } from './gen.ts';
import { cpuDelta, ioOf, log, machineBusySeconds, memoryBreakdown, memoryOf, post, round, signPost, startBenchServer, summarize, threadCpu } from './lib.ts';

export interface IngestOptions {
  events: number;
  batch: number;
  connections: number;
  /** Extra node flags for the server (e.g. --cpu-prof). */
  nodeFlags?: string[];
  /** Ingest on top of an existing data dir (copied by the caller) instead of an empty one. */
  dataDir?: string;
  seed?: number;
  keepDataDir?: boolean;
  /** Bodies from an earlier run's prepareBodies (same events, same seed): not generated again. */
  bodies?: IngestBodies;
  /**
   * Several `opentrail serve` nodes of one deployment (BENCH_DB=postgres, bench/pgserve.ts): each
   * with its own data dir, `env` (OPENTRAIL_DATABASE_URL) and `config`; connection c sends to node
   * c mod nodes. CPU, memory and /proc io are the sum (peak: the highest) over the nodes.
   */
  deployment?: { nodes: number; env: Record<string, string>; config: Record<string, unknown> };
  /** Called just before the clock starts and after the settle pause (bench/pgserve.ts reads PostgreSQL's counters). */
  hooks?: { start(): Promise<void>; end(): Promise<void> };
  /** Called once the first server is up, before anything is sent (bench/insights.ts: a trail with or without Insights). */
  setup?: (url: string, dataDir: string) => Promise<void>;
}

export interface IngestBodies {
  bodies: Buffer[];
  events: number;
  recordBytes: number;
  batch: number;
}

export interface IngestResult {
  events: number;
  batch: number;
  connections: number;
  requests: number;
  avgRecordBytes: number;
  bodyMiB: number;
  seconds: number;
  eventsPerSecond: number;
  mibPerSecond: number;
  requestLatencyMs: ReturnType<typeof summarize>;
  /**
   * GET /health latency measured from this process while the ingest runs (one probe at a time,
   * a new one 5 ms (BENCH_HEALTH_PAUSE_MS) after the last answered, on its own connection): how long a request that needs
   * no store waits for the event loop, i.e. the longest hold of one ingest step.
   */
  healthLatencyMs: ReturnType<typeof summarize>;
  server: {
    rssMiBAfter: number;
    hwmMiB: number;
    /** Where the memory was (bench/lib.ts memoryBreakdown, MiB): at the highest sampled RSS, and each part's maximum. */
    memory: ReturnType<typeof memoryBreakdown>;
    cpuSeconds: Record<string, { user: number; sys: number }>;
    cpuCoresUsed: number;
  };
  /**
   * From /proc/<pid>/io of the server (all threads): write_bytes from the first request to
   * BENCH_INGEST_SETTLE_MS (3000) after the last answer, so a checkpoint that follows is counted;
   * DuringRun stops at the last answer. writeSyscall*: what write() calls were given (wchar).
   */
  io: { diskWriteMiB: number; diskWriteBytesPerEvent: number; diskWriteBytesPerEventDuringRun: number; writeSyscallBytesPerEvent: number; writeSyscalls: number; diskWriteMiBPerSecond: number };
  /**
   * This process (one thread) during the run. It is the bound when it kept its core busy
   * (coresUsed >= 0.85): the server then waited for requests.
   */
  client: { cpuSeconds: number; coresUsed: number; cpuUsPerEvent: number; isTheBound: boolean };
  otherProcessesCores: number;
  /** Bytes of every file in the data directory after the run (the store's files and the rest). */
  dataDirBytesAfter: number;
  dataDirBytesPerEventAfter: number;
}

/** Generates the request bodies: `events` records (bench/gen.ts, eventTimes over the last day) in bodies of `batch`. */
export function prepareBodies(events: number, batch: number, seed = 777): IngestBodies {
  const nowMs = Date.now();
  const params: GenParams = { seed, count: events, endMs: nowMs - 60_000, spanMs: 24 * 3600 * 1000 };
  log(`ingest: generating ${events} records in ${Math.ceil(events / batch)} bodies of ${batch}`);
  const bodies: Buffer[] = [];
  let recordBytes = 0;
  for (let start = 0; start < events; start += batch) {
    const parts: string[] = [];
    for (let i = start; i < Math.min(events, start + batch); i++) {
      // A distinct seed stream per run: eventIDs never collide with a dataset's.
      const s = JSON.stringify(record(params, i));
      recordBytes += s.length;
      parts.push(s);
    }
    bodies.push(Buffer.from(`{"Records":[${parts.join(',')}]}`));
  }
  return { bodies, events, recordBytes, batch };
}


/**
 * Probes GET /health in a loop on a connection of its own until stopped; resolves with the
 * latency of every probe (ms). The bench client is idle between sends, so a probe's latency is
 * the server's: the wait for its event loop plus a few tenths of a ms of HTTP.
 */
function probeHealth(url: URL): { stop(): Promise<number[]> } {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const samples: number[] = [];
  let stopped = false;
  const pauseMs = Number(process.env.BENCH_HEALTH_PAUSE_MS ?? 5);
  const get = () => new Promise<void>((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: '/health', agent }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`/health answered ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
  const loop = (async () => {
    while (!stopped) {
      const s = performance.now();
      await get();
      samples.push(performance.now() - s);
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      agent.destroy();
      return samples;
    },
  };
}

const SETTLE_MS = Number(process.env.BENCH_INGEST_SETTLE_MS ?? 3000);

export async function runIngest(opts: IngestOptions): Promise<IngestResult> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'opentrail-bench-ingest-'));
  const seed = opts.seed ?? 777;
  const prepared = opts.bodies && opts.bodies.events === opts.events && opts.bodies.batch === opts.batch ? opts.bodies : prepareBodies(opts.events, opts.batch, seed);
  const { bodies, recordBytes } = prepared;
  const params: GenParams = { seed, count: 1, endMs: Date.now() - 60_000, spanMs: 3600 * 1000 };
  const nodes = opts.deployment?.nodes ?? 1;
  const servers: Awaited<ReturnType<typeof startBenchServer>>[] = [];
  try {
    for (let n = 0; n < nodes; n++) {
      servers.push(await startBenchServer(n === 0 ? dataDir : join(dataDir, `node${n + 1}`), opts.nodeFlags ?? [], opts.deployment?.config, opts.deployment?.env));
    }
    const server = servers[0]!;
    await opts.setup?.(server.url, dataDir);
    const url = new URL(server.url);
    const urls = servers.map((x) => new URL(x.url));
    const pids = servers.map((x) => x.pid);
    const sumCpu = () => {
      const m = new Map<string, { user: number; sys: number }>();
      for (const pid of pids) {
        for (const [k, v] of threadCpu(pid)) {
          const p = m.get(k) ?? { user: 0, sys: 0 };
          m.set(k, { user: p.user + v.user, sys: p.sys + v.sys });
        }
      }
      return m;
    };
    const sumIo = () => pids.map(ioOf).reduce((a, b) => ({ writeBytes: a.writeBytes + b.writeBytes, readBytes: a.readBytes + b.readBytes, wchar: a.wchar + b.wchar, syscw: a.syscw + b.syscw }));
    const signed: Record<string, string>[] = [];
    const signedAt: number[] = [];
    for (const b of bodies) {
      signedAt.push(Date.now());
      signed.push(await signPost(server.url, '/ingest', b, 'application/json'));
    }
    // One agent per connection: connection c keeps to node c mod nodes.
    const agents = Array.from({ length: opts.connections }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
    // Warm the connections and the servers' JIT with one small signed request per connection.
    const warm = Buffer.from(`{"Records":[${JSON.stringify(record({ ...params, seed: params.seed + 1 }, 0))}]}`);
    await Promise.all(agents.map(async (agent, c) => {
      const r = await post(agent, urls[c % nodes]!, await signPost(server.url, '/ingest', warm, 'application/json'), warm);
      if (r.status !== 200) throw new Error(`warm-up ingest failed: ${r.status} ${r.text.slice(0, 300)}`);
    }));

    log(`ingest: ${bodies.length} requests over ${opts.connections} connections`);
    // BENCH_PERF=FILE: sample the server with Linux perf (native frames: SQLite, kernel, V8) during the run.
    const perf = process.env.BENCH_PERF ? spawn('perf', ['record', '-F', '499', '-g', '-o', process.env.BENCH_PERF, '-p', String(server.pid)], { stdio: 'ignore' }) : undefined;
    if (perf) await new Promise((r) => setTimeout(r, 500));
    await opts.hooks?.start();
    const cpu0 = sumCpu();
    const io0 = sumIo();
    const machine0 = machineBusySeconds();
    const client0 = process.cpuUsage();
    const latencies: number[] = [];
    let next = 0;
    let accepted = 0;
    const health = probeHealth(url);
    const t0 = performance.now();
    await Promise.all(agents.map(async (agent, c) => {
      for (;;) {
        const i = next++;
        if (i >= bodies.length) return;
        if (Date.now() - signedAt[i]! > 10 * 60_000) signed[i] = await signPost(server.url, '/ingest', bodies[i]!, 'application/json');
        const s = performance.now();
        const r = await post(agent, urls[c % nodes]!, signed[i]!, bodies[i]!);
        latencies.push(performance.now() - s);
        if (r.status !== 200) throw new Error(`ingest failed: ${r.status} ${r.text.slice(0, 300)}`);
        const m = /"accepted":(\d+)/.exec(r.text);
        accepted += Number(m?.[1] ?? 0);
      }
    }));
    const seconds = (performance.now() - t0) / 1000;
    const healthLatencies = await health.stop();
    if (perf) {
      perf.kill('SIGINT');
      await new Promise((r) => perf.once('exit', r));
    }
    const cpu1 = sumCpu();
    const client = process.cpuUsage(client0);
    const mems = pids.map(memoryOf);
    const mem = { rssMiB: mems.reduce((a, m) => a + m.rssMiB, 0), hwmMiB: Math.max(...mems.map((m) => m.hwmMiB)) };
    const io1 = sumIo();
    const machineBusy = machineBusySeconds() - machine0;
    for (const agent of agents) agent.destroy();
    // What the store writes after the last answer (a checkpoint it started, writeback of what it
    // dirtied) belongs to the ingest too: write_bytes again after a quiet pause.
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const io2 = sumIo();
    await opts.hooks?.end();
    if (accepted !== opts.events) log(`WARNING: ${accepted} of ${opts.events} accepted`);
    const cpuSeconds = cpuDelta(cpu0, cpu1);
    const cpuTotal = Object.values(cpuSeconds).reduce((a, v) => a + v.user + v.sys, 0);
    const bodyBytes = bodies.reduce((a, b) => a + b.length, 0);
    const clientSeconds = (client.user + client.system) / 1e6;
    const dataDirBytes = sumBytes(filesOf(dataDir));
    const result: IngestResult = {
      events: accepted,
      batch: opts.batch,
      connections: opts.connections,
      requests: bodies.length,
      avgRecordBytes: Math.round(recordBytes / opts.events),
      bodyMiB: round(bodyBytes / 2 ** 20, 1),
      seconds: round(seconds, 2),
      eventsPerSecond: Math.round(accepted / seconds),
      mibPerSecond: round(bodyBytes / 2 ** 20 / seconds, 1),
      requestLatencyMs: summarize(latencies),
      healthLatencyMs: summarize(healthLatencies),
      server: { rssMiBAfter: mem.rssMiB, hwmMiB: mem.hwmMiB, memory: memoryBreakdown(server.memorySamples(), 'ingest'), cpuSeconds, cpuCoresUsed: round(cpuTotal / seconds, 2) },
      io: {
        diskWriteMiB: round((io2.writeBytes - io0.writeBytes) / 2 ** 20, 1),
        diskWriteBytesPerEvent: Math.round((io2.writeBytes - io0.writeBytes) / accepted),
        diskWriteBytesPerEventDuringRun: Math.round((io1.writeBytes - io0.writeBytes) / accepted),
        writeSyscallBytesPerEvent: Math.round((io1.wchar - io0.wchar) / accepted),
        writeSyscalls: io1.syscw - io0.syscw,
        diskWriteMiBPerSecond: round((io1.writeBytes - io0.writeBytes) / 2 ** 20 / seconds, 1),
      },
      client: { cpuSeconds: round(clientSeconds, 2), coresUsed: round(clientSeconds / seconds, 2), cpuUsPerEvent: round((clientSeconds * 1e6) / accepted, 1), isTheBound: clientSeconds / seconds >= 0.85 },
      // CPU used on the machine by anything but this server and this client (other jobs).
      otherProcessesCores: round(Math.max(0, machineBusy - cpuTotal - (client.user + client.system) / 1e6) / seconds, 2),
      dataDirBytesAfter: dataDirBytes,
      dataDirBytesPerEventAfter: Math.round(dataDirBytes / accepted),
    };
    log(`ingest: ${result.eventsPerSecond} events/s (${result.mibPerSecond} MiB/s), p50/p99 ${result.requestLatencyMs.p50}/${result.requestLatencyMs.p99} ms, server ${result.server.cpuCoresUsed} cores, peak RSS ${mem.hwmMiB} MiB, ${result.io.diskWriteBytesPerEvent} B written/event, client ${result.client.coresUsed} cores${result.client.isTheBound ? ' (the bound)' : ''}`);
    log(`ingest: /health during the run: p50 ${result.healthLatencyMs.p50} ms, p99 ${result.healthLatencyMs.p99} ms, max ${result.healthLatencyMs.max} ms (${result.healthLatencyMs.n} probes)`);
    return result;
  } finally {
    for (const s of servers) await s.stop();
    if (!opts.keepDataDir && !opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}
