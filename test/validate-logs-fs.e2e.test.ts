/**
 * `opentrail validate-logs --bucket-root` on the filesystem bucket of a server that delivers and
 * writes digests there (2 s digest period): all valid, then a tampered log file and a deleted
 * digest are reported with the AWS CLI's lines and exit codes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { CreateTrailCommand, GetTrailStatusCommand, StartLoggingCommand, StopLoggingCommand, type CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, BIN, cliEnv, cloudTrailClient, startServer, type StartedServer, type TestConfig } from './helpers/server.ts';
import { ingest, sleep, traffic, waitFor } from './helpers/delivery.ts';
import type { CliResult } from './helpers/cli.ts';
import { parseDigestKey } from '../src/integrity/digest.ts';

const ALICE = ACCOUNT_A.identities[1]!;
const A = ACCOUNT_A.id;
const REGION = 'us-east-1';
const BUCKET = 'ot-fs-validate';
const ARN = `arn:aws:cloudtrail:${REGION}:${A}:trail/audit`;
const PERIOD_MS = 2000;

let server: StartedServer;
let ct: CloudTrailClient;
let root: string;
let range: string[];

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : n.endsWith('.json.gz') ? [relative(join(root, BUCKET), p)] : [];
  }).sort();
}

async function newestDigestEndMs(): Promise<number> {
  const dir = join(root, BUCKET, 'AWSLogs', A, 'CloudTrail-Digest');
  if (!existsSync(dir)) return 0;
  return Math.max(0, ...files(dir).map((k) => parseDigestKey(k)?.endMs ?? 0));
}

function validate(extra: string[] = []): Promise<CliResult> {
  const args = [BIN, 'validate-logs', '--endpoint-url', server.url, '--region', REGION, '--bucket-root', root, '--trail-arn', ARN, ...range, ...extra];
  return new Promise((resolve) => {
    execFile(process.execPath, args, { env: cliEnv(ALICE, REGION), timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code) : 0, stdout, stderr });
    });
  });
}

before(async () => {
  const config = {
    regions: [REGION], accounts: [ACCOUNT_A],
    delivery: { maxAgeMs: 300, pollMs: 50 },
    integrity: { digestPeriodMs: PERIOD_MS },
  } as TestConfig;
  server = await startServer(config);
  root = join(server.dataDir, 'buckets');
  mkdirSync(join(root, BUCKET), { recursive: true });
  ct = cloudTrailClient(server.url, ALICE, REGION);
  const startMs = Date.now() - 60_000;
  await ct.send(new CreateTrailCommand({ Name: 'audit', S3BucketName: BUCKET, EnableLogFileValidation: true }));
  await ct.send(new StartLoggingCommand({ Name: 'audit' }));
  for (let round = 0; round < 3; round++) {
    await ingest(server.url, ALICE, traffic(30, { accounts: [A], regions: [REGION] }));
    await sleep(PERIOD_MS);
  }
  await ct.send(new StopLoggingCommand({ Name: 'audit' }));
  // The final digest, ending at or after the stop, follows within a period.
  const stopMs = (await ct.send(new GetTrailStatusCommand({ Name: 'audit' }))).StopLoggingTime!.getTime();
  await waitFor(async () => (await newestDigestEndMs()) >= stopMs, 20_000, 'the final digest');
  await sleep(PERIOD_MS);
  range = ['--start-time', iso(startMs), '--end-time', iso(Date.now())];
});

after(async () => {
  ct?.destroy();
  await server?.stop();
});

test('the filesystem bucket: valid, then each tampering reported as the AWS CLI words it', async () => {
  const digests = files(join(root, BUCKET, 'AWSLogs', A, 'CloudTrail-Digest'));
  const logs = files(join(root, BUCKET, 'AWSLogs', A, 'CloudTrail'));
  assert.ok(digests.length >= 4 && logs.length >= 2, `${digests.length} digests, ${logs.length} log files`);

  const ok = await validate(['--verbose']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stderr, '');
  assert.match(ok.stdout, new RegExp(`^Validating log files for trail ${ARN} between `));
  assert.match(ok.stdout, new RegExp(`\\n${digests.length}/${digests.length} digest files valid\\n${logs.length}/${logs.length} log files valid\\n$`));
  assert.equal(ok.stdout.split('\n').filter((l) => /^Digest file\ts3:\/\/.+\tvalid$/.test(l)).length, digests.length);

  const log = join(root, BUCKET, logs[0]!);
  const original = readFileSync(log);
  writeFileSync(log, gzipSync(Buffer.from('{"Records":[]}')));
  const modified = await validate();
  assert.equal(modified.code, 1);
  assert.equal(modified.stderr, `Log file\ts3://${BUCKET}/${logs[0]}\tINVALID: hash value doesn't match\n\n`);
  assert.match(modified.stdout, new RegExp(`\\n${logs.length - 1}/${logs.length} log files valid, 1/${logs.length} log files INVALID\\n$`));
  writeFileSync(log, original);

  const digest = join(root, BUCKET, digests[1]!);
  renameSync(digest, `${digest}.away`);
  const deleted = await validate();
  assert.equal(deleted.code, 1);
  assert.equal(deleted.stderr, `Digest file\ts3://${BUCKET}/${digests[1]}\tINVALID: not found\n\n`);
  renameSync(`${digest}.away`, digest);

  assert.equal((await validate()).code, 0);
});
