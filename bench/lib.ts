/** Shared pieces of the benchmark: the server process, /proc sampling, SigV4 signing, stats. */
import type { ChildProcess } from 'node:child_process';
import { request, type Agent } from 'node:http';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
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
}

/** Starts `opentrail serve` on a free port with the bench account; nodeFlags go before the script. */
export async function startBenchServer(dataDir: string, nodeFlags: string[] = [], extraConfig: Record<string, unknown> = {}): Promise<BenchServer> {
  const config = {
    regions: ['us-east-1'],
    accounts: [{ id: '111111111111', identities: [BENCH_IDENTITY] }],
    eventHistory: { retentionDays: 36500 },
    ...extraConfig,
  } as TestConfig;
  const server = await startServer(config, { dataDir: dataDir.replace(/\/$/, ''), nodeFlags, startTimeoutMs: 60_000 });
  return {
    url: server.url, pid: server.process.pid!, process: server.process,
    stop: async () => {
      await server.stop();
      removeServerConfig(dataDir);
      const out = server.output();
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
