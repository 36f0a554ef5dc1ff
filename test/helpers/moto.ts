/**
 * Test harness: moto server (`python3 -m moto.server`) as the S3 / SNS neighbour, on a free
 * loopback port. One per test file; each is a fresh, empty AWS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { reapOnExit } from './reap.ts';

/** Credentials and region every client talking to moto uses (moto accepts anything). */
export const MOTO_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' } as const;
export const MOTO_REGION = 'us-east-1';
/** The account moto creates resources in unless told otherwise (topic ARNs name it). */
export const MOTO_DEFAULT_ACCOUNT = '123456789012';

export interface StartedMoto {
  url: string;
  port: number;
  process: ChildProcess;
  output(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit: the endpoint goes away at once, and everything it held with it. */
  kill(): Promise<void>;
}

/** A port nobody listens on right now (the OS's pick for port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startOnce(port: number, timeoutMs: number, accountId: string | undefined): Promise<StartedMoto | 'port-in-use'> {
  const env: Record<string, string | undefined> = { ...process.env, PYTHONUNBUFFERED: '1' };
  if (accountId) env.MOTO_ACCOUNT_ID = accountId;
  else delete env.MOTO_ACCOUNT_ID;
  const child = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'], env });
  reapOnExit(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) => child.once('exit', (code) => {
    exitCode = code;
    resolve();
  }));
  child.once('error', (e) => (out += `\nspawn error: ${e.message}`));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exitCode !== undefined) {
      if (/address already in use|is in use by another program/i.test(out)) return 'port-in-use';
      throw new Error(`moto server exited with ${exitCode} before answering:\n${out}`);
    }
    try {
      const res = await fetch(`${url}/moto-api/`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      throw new Error(`moto server did not answer on ${url} within ${timeoutMs} ms:\n${out}`);
    }
    await sleep(100);
  }
  return {
    url, port, process: child,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface MotoOptions {
  /** Every resource lives in this account (MOTO_ACCOUNT_ID), so that topic names given to OpenTrail resolve there. */
  accountId?: string;
  attempts?: number;
  /** Default START_TIMEOUT_MS. */
  startTimeoutMs?: number;
}

/**
 * How long a start may take before it counts as failed. Python importing moto takes seconds even
 * idle and far more on a loaded machine (20 s was missed in a run beside other work); a healthy
 * start never waits for it, and a crashed one is noticed at once by its exit.
 */
export const START_TIMEOUT_MS = 60_000;

/** Starts moto server on a free port (another port if it was taken meanwhile) and waits until it answers HTTP. */
export async function startMoto(opts: MotoOptions = {}): Promise<StartedMoto> {
  const attempts = opts.attempts ?? 5;
  for (let i = 0; i < attempts; i++) {
    const started = await startOnce(await freePort(), opts.startTimeoutMs ?? START_TIMEOUT_MS, opts.accountId);
    if (started !== 'port-in-use') return started;
  }
  throw new Error(`moto server found no free port in ${attempts} attempts`);
}

/**
 * Starts moto server on this very port (e.g. again on the port of one that was killed, whose
 * socket may linger a moment) and waits until it answers.
 */
export async function startMotoOnPort(port: number, opts: MotoOptions = {}): Promise<StartedMoto> {
  const deadline = Date.now() + (opts.startTimeoutMs ?? START_TIMEOUT_MS);
  for (;;) {
    const started = await startOnce(port, Math.max(1000, deadline - Date.now()), opts.accountId);
    if (started !== 'port-in-use') return started;
    if (Date.now() > deadline) throw new Error(`moto server could not start on port ${port}`);
    await sleep(200);
  }
}

/** The `objectStore` / `sns` members of an OpenTrail config that point at this moto. */
export function motoNeighbourConfig(moto: StartedMoto) {
  return {
    objectStore: { type: 's3' as const, endpoint: moto.url, region: MOTO_REGION, forcePathStyle: true, ...MOTO_CREDENTIALS },
    sns: { endpoint: moto.url, region: MOTO_REGION, ...MOTO_CREDENTIALS },
  };
}

/** An S3 client for this moto (path-style, dummy credentials). */
export function motoS3(moto: StartedMoto): S3Client {
  return new S3Client({ endpoint: moto.url, region: MOTO_REGION, forcePathStyle: true, credentials: { ...MOTO_CREDENTIALS }, maxAttempts: 1 });
}

/** An SNS client for this moto (dummy credentials). */
export function motoSns(moto: StartedMoto): SNSClient {
  return new SNSClient({ endpoint: moto.url, region: MOTO_REGION, credentials: { ...MOTO_CREDENTIALS }, maxAttempts: 1 });
}
