/** Shared pieces of the benchmark: the server process, /proc sampling, SigV4 signing, stats. */
import type { ChildProcess } from 'node:child_process';
import { request, type Agent } from 'node:http';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from '../src/aws/sigv4.ts';
import { startServer, type TestConfig } from '../test/helpers/server.ts';

export const BENCH_IDENTITY = {
  type: 'IAMUser' as const,
  userName: 'alice',
  accessKeyId: 'AKIAALICEAAAAAAAAAAA',
  secretAccessKey: 'alice-secret',
  trustedProducer: true,
};

export function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

export interface BenchServer {
  url: string;
  pid: number;
  process: ChildProcess;
  stop(): Promise<void>;
  /** The server's memory samples so far (OPENTRAIL_MEMORY_TRACE_MS, every BENCH_MEMORY_TRACE_MS, default 250). */
  memorySamples(): MemorySample[];
  /** Everything the server printed so far (stdout and stderr). */
  output(): string;
}

/**
 * One memory sample the server printed (SqliteEventStore.memoryReport, src/stores/sqlite): MiB of
 * the process (rss, its peak hwm, anonymous / file-backed / shared pages) and of each thread's V8
 * heap (physical size, used, malloced by V8, external), the main thread's heap spaces and
 * ArrayBuffers.
 */
export interface MemorySample {
  t: number;
  rss: number;
  hwm: number;
  anon: number;
  file: number;
  shmem: number;
  main: { physical: number; used: number; malloced: number; external: number; spaces: Record<string, number>; arrayBuffers: number; externalAll: number };
  writer?: { physical: number; used: number; malloced: number; external: number };
  checkpointer?: { physical: number; used: number; malloced: number; external: number };
}

/** Every `opentrail-memory {...}` line of a server's output. */
export function memorySamplesOf(output: string): MemorySample[] {
  const out: MemorySample[] = [];
  for (const m of output.matchAll(/^opentrail-memory (\{.*\})$/gm)) {
    try {
      out.push(JSON.parse(m[1]!) as MemorySample);
    } catch {
      // a line cut short at exit
    }
  }
  return out;
}

/**
 * What the samples say about where the memory was: the sample with the highest RSS (with the
 * native rest: anonymous pages not in any V8 heap, i.e. malloc: SQLite, zstd, Buffers' backing
 * stores, thread stacks), and each part's own maximum over the run.
 */
export function memoryBreakdown(samples: MemorySample[], name = 'server'): { samples: number; atPeak: Record<string, number>; maxima: Record<string, number> } | undefined {
  if (samples.length === 0) return undefined;
  // BENCH_MEMORY_OUT=DIR: every sample kept as JSON lines, DIR/<name>-<time>.jsonl.
  if (process.env.BENCH_MEMORY_OUT) {
    mkdirSync(process.env.BENCH_MEMORY_OUT, { recursive: true });
    writeFileSync(join(process.env.BENCH_MEMORY_OUT, `${name}-${Date.now()}.jsonl`), samples.map((s) => JSON.stringify(s)).join('\n') + '\n');
  }
  const parts = (s: MemorySample): Record<string, number> => {
    const heaps = s.main.physical + (s.writer?.physical ?? 0) + (s.checkpointer?.physical ?? 0);
    return {
      rss: s.rss, anon: s.anon, file: s.file, shmem: s.shmem,
      mainHeap: s.main.physical, mainNew: s.main.spaces.new ?? 0, mainOld: s.main.spaces.old ?? 0, mainLargeObject: s.main.spaces.large_object ?? 0,
      mainArrayBuffers: s.main.arrayBuffers,
      writerHeap: s.writer?.physical ?? 0, writerUsed: s.writer?.used ?? 0, writerExternal: s.writer?.external ?? 0,
      checkpointerHeap: s.checkpointer?.physical ?? 0,
      nativeRest: Math.round((s.anon - heaps) * 10) / 10,
    };
  };
  const all = samples.map(parts);
  const peak = all.reduce((a, b) => (b.rss! > a.rss! ? b : a));
  const maxima: Record<string, number> = {};
  for (const p of all) for (const [k, v] of Object.entries(p)) maxima[k] = Math.max(maxima[k] ?? -Infinity, v);
  return { samples: samples.length, atPeak: peak, maxima };
}

/** Starts `opentrail serve` on a free port with the bench account; nodeFlags go before the script. */
export async function startBenchServer(dataDir: string, nodeFlags: string[] = [], extraConfig: Record<string, unknown> = {}, env: Record<string, string> = {}): Promise<BenchServer> {
  const config = {
    regions: ['us-east-1'],
    accounts: [{ id: '111111111111', identities: [BENCH_IDENTITY] }],
    eventHistory: { retentionDays: 36500 },
    // BENCH_METRICS=off: the server without /metrics and its hooks (issue 17: ingest with metrics on vs off).
    ...(process.env.BENCH_METRICS === 'off' ? { metrics: { enabled: false } } : {}),
    ...extraConfig,
  } as TestConfig;
  const traceMs = process.env.BENCH_MEMORY_TRACE_MS ?? '250';
  const server = await startServer(config, { dataDir: dataDir.replace(/\/$/, ''), nodeFlags, startTimeoutMs: 60_000, env: { OPENTRAIL_MEMORY_TRACE_MS: traceMs, ...env } });
  return {
    url: server.url, pid: server.process.pid!, process: server.process,
    memorySamples: () => memorySamplesOf(server.output()),
    output: () => server.output(),
    stop: async () => {
      await server.stop();
      removeServerConfig(dataDir);
      const out = server.output().replace(/^opentrail-memory .*\n/gm, '');
      if (/internal error|Error:/.test(out)) log(`server output:\n${out.slice(-2000)}`);
    },
  };
}

/** Removes the config file test/helpers/server.ts writes beside a server's data directory. */
export function removeServerConfig(dataDir: string): void {
  const d = dataDir.replace(/\/$/, '');
  rmSync(join(dirname(d), `${basename(d)}-config.json`), { force: true });
}

/** Memory of a process from /proc/<pid>/status, MiB. */
export function memoryOf(pid: number): { rssMiB: number; hwmMiB: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { rssMiB: Math.round(kib('VmRSS') / 1024), hwmMiB: Math.round(kib('VmHWM') / 1024) };
}

const CLK_TCK = 100;

/**
 * CPU seconds per thread name (user, system) of a process, from /proc/<pid>/task/* /stat. Node
 * names a worker thread by its Worker `name` option (15 characters at most), so a store thread
 * shows under its own name; V8's and libuv's pools are summed.
 */
export function threadCpu(pid: number): Map<string, { user: number; sys: number }> {
  const out = new Map<string, { user: number; sys: number }>();
  const dir = `/proc/${pid}/task`;
  if (!existsSync(dir)) return out;
  for (const tid of readdirSync(dir)) {
    let text: string;
    try {
      text = readFileSync(join(dir, tid, 'stat'), 'utf8');
    } catch {
      continue;
    }
    const open = text.indexOf('(');
    const close = text.lastIndexOf(')');
    let name = text.slice(open + 1, close);
    if (name.startsWith('V8')) name = 'V8 workers (GC/JIT)';
    else if (name.startsWith('libuv-worker')) name = 'libuv threadpool';
    else if (tid === String(pid)) name = 'main thread';
    const f = text.slice(close + 2).split(' ');
    const user = Number(f[11]) / CLK_TCK;
    const sys = Number(f[12]) / CLK_TCK;
    const prev = out.get(name) ?? { user: 0, sys: 0 };
    out.set(name, { user: prev.user + user, sys: prev.sys + sys });
  }
  return out;
}

/** Per-thread CPU seconds spent between two threadCpu() samples (threads that exited are missed). */
export function cpuDelta(a: Map<string, { user: number; sys: number }>, b: Map<string, { user: number; sys: number }>): Record<string, { user: number; sys: number }> {
  const out: Record<string, { user: number; sys: number }> = {};
  for (const [k, v] of b) {
    const p = a.get(k) ?? { user: 0, sys: 0 };
    const d = { user: round(v.user - p.user, 2), sys: round(v.sys - p.sys, 2) };
    if (d.user + d.sys > 0) out[k] = d;
  }
  return out;
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export function summarize(samples: number[]): { n: number; p50: number; p90: number; p99: number; max: number; mean: number } {
  const s = [...samples].sort((a, b) => a - b);
  const mean = s.reduce((x, y) => x + y, 0) / Math.max(1, s.length);
  return { n: s.length, p50: round(percentile(s, 0.5), 3), p90: round(percentile(s, 0.9), 3), p99: round(percentile(s, 0.99), 3), max: round(s[s.length - 1] ?? NaN, 3), mean: round(mean, 3) };
}

/** SigV4-signs a POST (service `opentrail`) and returns the headers to send. */
export async function signPost(url: string, path: string, body: Buffer, contentType: string): Promise<Record<string, string>> {
  const u = new URL(url);
  const signer = new SignatureV4({
    credentials: { accessKeyId: BENCH_IDENTITY.accessKeyId, secretAccessKey: BENCH_IDENTITY.secretAccessKey },
    region: 'us-east-1', service: 'opentrail', sha256: NodeSha256,
  });
  const signed = await signer.sign(
    { method: 'POST', protocol: u.protocol, hostname: u.hostname, port: Number(u.port), path, query: {}, headers: { host: u.host, 'content-type': contentType }, body },
    { signingDate: new Date() },
  );
  return signed.headers as Record<string, string>;
}

export function fileBytes(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/** Bytes a process read and wrote (/proc/<pid>/io): write_bytes is what reached the block layer. */
export function ioOf(pid: number): { writeBytes: number; readBytes: number; wchar: number; syscw: number } {
  const text = readFileSync(`/proc/${pid}/io`, 'utf8');
  const v = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { writeBytes: v('write_bytes'), readBytes: v('read_bytes'), wchar: v('wchar'), syscw: v('syscw') };
}

/** CPU seconds the whole machine spent busy (all processes), from /proc/stat. */
export function machineBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  return ((f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0)) / CLK_TCK;
}

/** POSTs a pre-signed body to /ingest over a keep-alive agent. */
export function post(agent: Agent, url: URL, headers: Record<string, string>, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: url.hostname, port: url.port, method: 'POST', path: '/ingest', headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
