/**
 * A real server whose logging trail (with log file validation) delivered a few digest periods of
 * traffic into its filesystem bucket and then stopped, its final digest written: what the
 * `opentrail validate-logs --bucket-root` tests validate.
 */
import { after, before } from 'node:test';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { CreateTrailCommand, GetTrailStatusCommand, StartLoggingCommand, StopLoggingCommand, type CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, BIN, cliEnv, cloudTrailClient, startServer, type StartedServer, type TestConfig } from './server.ts';
import { ingest, sleep, traffic, waitFor } from './delivery.ts';
import type { CliResult } from './cli.ts';
import { execFile } from 'node:child_process';
import { parseDigestKey } from '../../src/integrity/digest.ts';

export const FS_TRAIL_ACCOUNT = ACCOUNT_A.id;
export const FS_TRAIL_REGION = 'us-east-1';
export const FS_TRAIL_ARN = `arn:aws:cloudtrail:${FS_TRAIL_REGION}:${FS_TRAIL_ACCOUNT}:trail/audit`;
const ALICE = ACCOUNT_A.identities[1]!;

export interface FsTrail {
  server: StartedServer;
  ct: CloudTrailClient;
  /** The server's bucket root (`--bucket-root`). */
  root: string;
  bucket: string;
  /** `--start-time` / `--end-time` covering everything delivered. */
  range: string[];
  /** Keys of the `.json.gz` files under `dir` (a folder of the bucket), sorted. */
  files(dir: string): string[];
  /** `opentrail validate-logs` on the bucket with the range, as alice. */
  validate(extra?: string[]): Promise<CliResult>;
  stop(): Promise<void>;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export async function startFsTrail(bucket: string, periodMs = 2000): Promise<FsTrail> {
  const config = {
    regions: [FS_TRAIL_REGION], accounts: [ACCOUNT_A],
    delivery: { maxAgeMs: 300, pollMs: 50 },
    integrity: { digestPeriodMs: periodMs },
  } as TestConfig;
  const server = await startServer(config);
  const root = join(server.dataDir, 'buckets');
  mkdirSync(join(root, bucket), { recursive: true });
  const ct = cloudTrailClient(server.url, ALICE, FS_TRAIL_REGION);
  const files = (dir: string): string[] => readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : n.endsWith('.json.gz') ? [relative(join(root, bucket), p)] : [];
  }).sort();
  const newestDigestEndMs = () => {
    const dir = join(root, bucket, 'AWSLogs', FS_TRAIL_ACCOUNT, 'CloudTrail-Digest');
    if (!existsSync(dir)) return 0;
    return Math.max(0, ...files(dir).map((k) => parseDigestKey(k)?.endMs ?? 0));
  };
  const startMs = Date.now() - 60_000;
  await ct.send(new CreateTrailCommand({ Name: 'audit', S3BucketName: bucket, EnableLogFileValidation: true }));
  await ct.send(new StartLoggingCommand({ Name: 'audit' }));
  for (let round = 0; round < 3; round++) {
    await ingest(server.url, ALICE, traffic(30, { accounts: [FS_TRAIL_ACCOUNT], regions: [FS_TRAIL_REGION] }));
    await sleep(periodMs);
  }
  await ct.send(new StopLoggingCommand({ Name: 'audit' }));
  // The final digest, ending at or after the stop, follows within a period.
  const stopMs = (await ct.send(new GetTrailStatusCommand({ Name: 'audit' }))).StopLoggingTime!.getTime();
  await waitFor(() => newestDigestEndMs() >= stopMs, 20_000, 'the final digest');
  await sleep(periodMs);
  const range = ['--start-time', iso(startMs), '--end-time', iso(Date.now())];
  return {
    server, ct, root, bucket, range, files,
    validate: (extra = []) => new Promise((resolve) => {
      const args = [BIN, 'validate-logs', '--endpoint-url', server.url, '--region', FS_TRAIL_REGION, '--bucket-root', root, '--trail-arn', FS_TRAIL_ARN, ...range, ...extra];
      execFile(process.execPath, args, { env: cliEnv(ALICE, FS_TRAIL_REGION), timeout: 60_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: unknown }).code) : 0, stdout, stderr });
      });
    }),
    stop: async () => {
      ct.destroy();
      await server.stop();
    },
  };
}

/** The environment alice's CLI runs with. */
export function fsTrailEnv(): Record<string, string> {
  return cliEnv(ALICE, FS_TRAIL_REGION);
}

/**
 * Registers the test file's before/after hooks for one FsTrail on `bucket`; the returned object's
 * `trail` is it once `before` ran.
 */
export function useFsTrail(bucket: string): { readonly trail: FsTrail } {
  let trail: FsTrail | undefined;
  before(async () => {
    trail = await startFsTrail(bucket);
  });
  after(async () => {
    await trail?.stop();
  });
  return {
    get trail(): FsTrail {
      if (!trail) throw new Error('the trail is not started yet (before() has not run)');
      return trail;
    },
  };
}
