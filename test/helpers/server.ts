/**
 * Test harness: starts the real `opentrail serve` as a child process on a free port with a config
 * the test writes, and gives clients for it. Nothing of ours is mocked.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { reapOnExit } from './reap.ts';

export const BIN = new URL('../../bin/opentrail.js', import.meta.url).pathname;

export interface TestIdentity {
  type: 'Root' | 'IAMUser' | 'AssumedRole';
  accessKeyId: string;
  secretAccessKey: string;
  userName?: string;
  roleName?: string;
  sessionName?: string;
  sessionToken?: string;
  trustedProducer?: boolean;
  mfaAuthenticated?: boolean;
  sessionCreationDate?: string;
}

export interface TestAccount {
  id: string;
  alias?: string;
  identities: TestIdentity[];
}

export interface TestConfig {
  regions?: string[];
  /** Regions may be any names (the shared corpus's are anonymised, e.g. us-north-2r). */
  allowNonAwsRegions?: boolean;
  accounts?: TestAccount[];
  eventHistory?: { retentionDays?: number; pruneIntervalMs?: number };
  ingest?: { maxBodyBytes?: number; maxBatchEvents?: number; maxUnverifiedBodyBytes?: number; maxDecodedBytes?: number; maxInFlightBodyBytes?: number; maxRecordsPerRequest?: number; maxEventsPageBytes?: number };
  delivery?: { maxAgeMs?: number; maxBytes?: number; pollMs?: number };
  lake?: { root?: string; maxAgeMs?: number; maxBytes?: number; pollMs?: number; retentionIntervalMs?: number; compaction?: Record<string, unknown> };
  objectStore?: Record<string, unknown>;
  sns?: Record<string, unknown>;
  organization?: { id: string; managementAccountId: string; memberAccountIds: string[] };
  gateway?: Record<string, unknown>;
  eventBridge?: Record<string, unknown>;
  sqs?: Record<string, unknown>;
  rules?: Record<string, unknown>[];
  liveTail?: Record<string, unknown>;
  selfAudit?: { readRecords?: 'after-answer' | 'before-answer' };
  lakeQueries?: Record<string, unknown>;
}

/** Account 111111111111 with a root key, an IAM user and an assumed-role session. */
export const ACCOUNT_A: TestAccount = {
  id: '111111111111',
  identities: [
    { type: 'Root', accessKeyId: 'AKIAROOTAAAAAAAAAAAA', secretAccessKey: 'root-secret-a' },
    { type: 'IAMUser', userName: 'alice', accessKeyId: 'AKIAALICEAAAAAAAAAAA', secretAccessKey: 'alice-secret', trustedProducer: true },
    { type: 'AssumedRole', roleName: 'Admin', sessionName: 'bob', accessKeyId: 'ASIABOBAAAAAAAAAAAAA', secretAccessKey: 'bob-secret', sessionToken: 'bob-token', sessionCreationDate: '2026-01-02T03:04:05Z' },
  ],
};

/** Account 222222222222 with one IAM user. */
export const ACCOUNT_B: TestAccount = {
  id: '222222222222',
  identities: [{ type: 'IAMUser', userName: 'carol', accessKeyId: 'AKIACAROLBBBBBBBBBBB', secretAccessKey: 'carol-secret' }],
};

export interface StartedServer {
  url: string;
  /** The recording gateway's URL, when the config has a gateway. */
  gatewayUrl?: string;
  dataDir: string;
  configFile: string;
  process: ChildProcess;
  output(): string;
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
}

export interface StartOptions {
  dataDir?: string;
  /** Write no config file: the server bootstraps its own account. */
  noConfig?: boolean;
  env?: Record<string, string>;
  /** Node flags placed before the script (e.g. --cpu-prof). */
  nodeFlags?: string[];
  startTimeoutMs?: number;
  /** Run this script and its arguments instead of `opentrail serve` (no config file is written); it must print `listening on URL`. */
  argv?: string[];
}

export function tempDir(prefix = 'opentrail-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Starts `opentrail serve --port 0` and waits for the line that names its URL. */
export async function startServer(config: TestConfig = { accounts: [ACCOUNT_A, ACCOUNT_B] }, opts: StartOptions = {}): Promise<StartedServer> {
  const dataDir = opts.dataDir ?? tempDir();
  const configFile = join(dataDir, '..', `${dataDir.split('/').pop()}-config.json`);
  const args = [...(opts.nodeFlags ?? []), ...(opts.argv ?? [BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir])];
  if (!opts.noConfig && !opts.argv) {
    writeFileSync(configFile, JSON.stringify(config));
    args.push('--config', configFile);
  }
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  reapOnExit(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    // A healthy start takes a second or two; a loaded CI machine can take far longer, and a start
    // that fails exits (noticed at once), so only a hung one ever waits this long.
    const timeoutMs = opts.startTimeoutMs ?? 60_000;
    const timer = setTimeout(() => {
      // The server must not outlive the failed start: it would keep the test file's process alive.
      child.kill('SIGKILL');
      reject(new Error(`server did not start in ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const onData = () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m && (!config.gateway || opts.noConfig || /recording gateway: http/.test(out))) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${out}`));
    });
  });
  return {
    url, dataDir, configFile, process: child,
    gatewayUrl: /recording gateway: (http:\/\/\S+)/.exec(out)?.[1],
    output: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export function cloudTrailClient(url: string, id: TestIdentity, region = 'us-east-1', extra: Record<string, unknown> = {}): CloudTrailClient {
  return new CloudTrailClient({
    endpoint: url,
    region,
    credentials: { accessKeyId: id.accessKeyId, secretAccessKey: id.secretAccessKey, sessionToken: id.sessionToken },
    maxAttempts: 1,
    ...extra,
  });
}

/** Environment for running the AWS CLI against the server as this identity. */
export function cliEnv(id: TestIdentity, region = 'us-east-1'): Record<string, string> {
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    AWS_ACCESS_KEY_ID: id.accessKeyId,
    AWS_SECRET_ACCESS_KEY: id.secretAccessKey,
    AWS_DEFAULT_REGION: region,
    AWS_MAX_ATTEMPTS: '1',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_PAGER: '',
  };
  delete env.AWS_PROFILE;
  if (id.sessionToken) env.AWS_SESSION_TOKEN = id.sessionToken;
  else delete env.AWS_SESSION_TOKEN;
  return env;
}
