/**
 * Interop of log file integrity: OpenTrail (its digest job, a 2 s digest period) delivers into a
 * bucket on moto server; the real AWS CLI (`aws cloudtrail validate-logs --endpoint-url <opentrail>`
 * with AWS_ENDPOINT_URL_S3 pointing at moto) and `opentrail validate-logs` run on the same bucket
 * with the same arguments. Untouched, both say everything is valid; after each tampering both say
 * exactly the same (stdout, stderr, exit code), except where the AWS CLI misses something and
 * `opentrail validate-logs` adds its report (docs/validate-logs.md).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { CreateTrailCommand, GetTrailStatusCommand, StartLoggingCommand, StopLoggingCommand, type CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { gzipSync } from 'node:zlib';
import { ACCOUNT_A, BIN, cliEnv, cloudTrailClient, startServer, type StartedServer, type TestConfig } from './helpers/server.ts';
import { motoNeighbourConfig, motoS3, startMoto, type StartedMoto } from './helpers/moto.ts';
import { runAws, type CliResult } from './helpers/cli.ts';
import { parseDigestKey } from '../src/integrity/digest.ts';
import { ingest, sleep, traffic, waitFor } from './helpers/delivery.ts';

const ALICE = ACCOUNT_A.identities[1]!;
const A = ACCOUNT_A.id;
const REGION = 'us-east-1';
const BUCKET = 'ot-validate';
const TRAIL = 'audit';
const ARN = `arn:aws:cloudtrail:${REGION}:${A}:trail/${TRAIL}`;
const PERIOD_MS = 2000;

let moto: StartedMoto;
let server: StartedServer;
let s3: S3Client;
let ct: CloudTrailClient;
let env: Record<string, string>;
let range: string[];
let digests: string[];
let logs: string[];

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function runOurs(args: string[], e = env, nodeArgs: string[] = []): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...nodeArgs, BIN, 'validate-logs', ...args], { env: e, maxBuffer: 64 << 20, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Both tools on the same arguments. */
async function both(extra: string[] = [], base = ['--trail-arn', ARN, ...range], e = env): Promise<{ aws: CliResult; ours: CliResult }> {
  const [aws, ours] = await Promise.all([
    runAws(['cloudtrail', 'validate-logs', '--endpoint-url', server.url, '--region', REGION, ...base, ...extra], e),
    runOurs(['--endpoint-url', server.url, '--region', REGION, ...base, ...extra], e),
  ]);
  return { aws, ours };
}

function assertSame(r: { aws: CliResult; ours: CliResult }, what: string): void {
  assert.equal(r.ours.stderr, r.aws.stderr, `${what}: stderr`);
  assert.equal(r.ours.stdout, r.aws.stdout, `${what}: stdout`);
  assert.equal(r.ours.code, r.aws.code, `${what}: exit code`);
}

async function keys(prefix: string): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) out.push(o.Key!);
    token = page.NextContinuationToken;
  } while (token);
  return out.sort();
}

async function newestDigestEndMs(): Promise<number> {
  return Math.max(0, ...(await keys(`AWSLogs/${A}/CloudTrail-Digest/`)).map((k) => parseDigestKey(k)?.endMs ?? 0));
}

interface Saved {
  key: string;
  body: Buffer;
  metadata: Record<string, string>;
}

async function save(key: string): Promise<Saved> {
  const o = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return { key, body: Buffer.from(await o.Body!.transformToByteArray()), metadata: o.Metadata ?? {} };
}

async function restore(...saved: Saved[]): Promise<void> {
  for (const s of saved) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: s.key, Body: s.body, Metadata: s.metadata }));
}

async function remove(key: string): Promise<void> {
  await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
}

before(async () => {
  moto = await startMoto();
  s3 = motoS3(moto);
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  const config = {
    regions: [REGION],
    accounts: [ACCOUNT_A],
    delivery: { maxAgeMs: 300, pollMs: 50 },
    objectStore: motoNeighbourConfig(moto).objectStore,
    integrity: { digestPeriodMs: PERIOD_MS },
  } as TestConfig;
  server = await startServer(config);
  ct = cloudTrailClient(server.url, ALICE, REGION);
  env = { ...cliEnv(ALICE, REGION), AWS_ENDPOINT_URL_S3: moto.url };

  const startMs = Date.now() - 60_000;
  await ct.send(new CreateTrailCommand({ Name: TRAIL, S3BucketName: BUCKET, EnableLogFileValidation: true }));
  await ct.send(new StartLoggingCommand({ Name: TRAIL }));
  // Events over several digest periods, so that digests list log files and some periods have none.
  for (let round = 0; round < 4; round++) {
    await ingest(server.url, ALICE, traffic(40, { accounts: [A], regions: [REGION] }));
    await sleep(round === 1 ? 2 * PERIOD_MS + 500 : PERIOD_MS);
  }
  await sleep(1000);
  await ct.send(new StopLoggingCommand({ Name: TRAIL }));
  // The final digest, ending at or after the stop, follows within a period.
  const stopMs = (await ct.send(new GetTrailStatusCommand({ Name: TRAIL }))).StopLoggingTime!.getTime();
  await waitFor(async () => (await newestDigestEndMs()) >= stopMs, 20_000, 'the final digest');
  await sleep(PERIOD_MS);
  range = ['--start-time', iso(startMs), '--end-time', iso(Date.now())];
  digests = await keys(`AWSLogs/${A}/CloudTrail-Digest/`);
  logs = await keys(`AWSLogs/${A}/CloudTrail/`);
});

after(async () => {
  ct?.destroy();
  s3?.destroy();
  await server?.stop();
  await moto?.stop();
});

test('the bucket holds a chain of digests and log files', () => {
  assert.ok(digests.length >= 6, `digests: ${digests.length}`);
  assert.ok(logs.length >= 4, `log files: ${logs.length}`);
});

test('untouched: both tools find every digest and log file valid, byte for byte the same output', async () => {
  const r = await both();
  assertSame(r, 'untouched');
  assert.equal(r.aws.code, 0, r.aws.stderr);
  assert.match(r.aws.stdout, new RegExp(`\\n${digests.length}/${digests.length} digest files valid\\n${logs.length}/${logs.length} log files valid\\n$`));
  const verbose = await both(['--verbose']);
  assertSame(verbose, 'untouched, verbose');
  assert.equal(verbose.aws.stdout.split('\n').filter((l) => l.startsWith('Log file\t')).length, logs.length);
});

test('a modified, then a deleted log file: both report it the same way', async () => {
  const target = logs[1]!;
  const saved = await save(target);
  try {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: target, Body: gzipSync(Buffer.from('{"Records":[]}')) }));
    const modified = await both(['--verbose']);
    assertSame(modified, 'modified log file');
    assert.equal(modified.aws.code, 1);
    assert.match(modified.aws.stderr, new RegExp(`Log file\\ts3://${BUCKET}/${target}\\tINVALID: hash value doesn't match`));
    await remove(target);
    const deleted = await both();
    assertSame(deleted, 'deleted log file');
    assert.match(deleted.aws.stderr, /INVALID: not found/);
  } finally {
    await restore(saved);
  }
  assertSame(await both(), 'restored');
});

test('a modified digest, then a deleted one: both report it the same way', async () => {
  const target = digests[Math.floor(digests.length / 2)]!;
  const saved = await save(target);
  try {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: target, Body: gzipSync(Buffer.from('{"awsAccountId":"x"}')), Metadata: saved.metadata }));
    const modified = await both();
    assertSame(modified, 'modified digest');
    assert.equal(modified.aws.code, 1);
    assert.match(modified.aws.stderr, /INVALID: invalid format/);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: target, Body: gzipSync(Buffer.concat([Buffer.from(' '), (await import('node:zlib')).gunzipSync(saved.body)])), Metadata: saved.metadata }));
    const resigned = await both();
    assertSame(resigned, 'digest with other bytes');
    assert.match(resigned.aws.stderr, /INVALID: signature verification failed/);
    await remove(target);
    const deleted = await both(['--verbose']);
    assertSame(deleted, 'deleted digest');
    assert.match(deleted.aws.stderr, new RegExp(`Digest file\\ts3://${BUCKET}/${target}\\tINVALID: not found`));
  } finally {
    await restore(saved);
  }
});

test('two consecutive deleted digests: the AWS CLI names the newer; opentrail names both', async () => {
  const i = Math.floor(digests.length / 2);
  const older = digests[i - 1]!;
  const newer = digests[i]!;
  const saved = [await save(older), await save(newer)];
  try {
    await remove(older);
    await remove(newer);
    const r = await both();
    assert.equal(r.aws.code, 1);
    assert.equal(r.ours.code, 1);
    assert.equal(r.aws.stderr, `Digest file\ts3://${BUCKET}/${newer}\tINVALID: not found\n\n`);
    assert.equal(r.ours.stderr, `${r.aws.stderr}Digest file\ts3://${BUCKET}/${older}\tINVALID: not found\n\n`);
    const n = digests.length;
    assert.match(r.aws.stdout, new RegExp(`\\n${n - 2}/${n - 1} digest files valid, 1/${n - 1} digest files INVALID\\n`));
    assert.match(r.ours.stdout, new RegExp(`\\n${n - 2}/${n} digest files valid, 2/${n} digest files INVALID\\n`));
    // --aws-compatible: only what the AWS CLI reports.
    const compatible = await runOurs(['--endpoint-url', server.url, '--region', REGION, '--trail-arn', ARN, ...range, '--aws-compatible']);
    assertSame({ aws: r.aws, ours: compatible }, 'two deleted digests, --aws-compatible');
  } finally {
    await restore(...saved);
  }
});

test('the newest digest deleted: the AWS CLI sees nothing; opentrail knows the final digest existed', async () => {
  const newest = digests.at(-1)!;
  const saved = await save(newest);
  try {
    await remove(newest);
    const r = await both();
    assert.equal(r.aws.code, 0, r.aws.stderr);
    assert.equal(r.aws.stderr, '');
    assert.equal(r.ours.code, 1);
    assert.equal(r.ours.stderr, `Digest file\ts3://${BUCKET}/${newest}\tINVALID: not found\n\n`);
  } finally {
    await restore(saved);
  }
});

test('fatal errors: a malformed ARN, an unknown trail, a missing bucket - same message, exit 255', async () => {
  const bad = await both([], ['--trail-arn', 'arn:aws:cloudtrail:us-east-1:1:trail/x', ...range]);
  assertSame(bad, 'malformed ARN');
  assert.equal(bad.aws.code, 255);
  const unknown = await both([], ['--trail-arn', `arn:aws:cloudtrail:${REGION}:${A}:trail/nope`, ...range]);
  assertSame(unknown, 'unknown trail');
  assert.equal(unknown.aws.stderr, `\nA trail could not be found for arn:aws:cloudtrail:${REGION}:${A}:trail/nope\n`);
  const noBucket = await both(['--s3-bucket', 'no-such-bucket']);
  assertSame(noBucket, 'missing bucket');
  assert.equal(noBucket.aws.code, 255);
  const backwards = await both([], ['--trail-arn', ARN, '--start-time', '2026-01-02T00:00:00Z', '--end-time', '2026-01-01T00:00:00Z']);
  assertSame(backwards, 'end before start');
});

/** A --import hook: on exit, prints which @aws-sdk/client-* packages the process loaded. */
const SDK_CLIENTS_HOOK = `data:text/javascript,${encodeURIComponent(
  "import { createRequire } from 'node:module'; const r = createRequire('/');"
  + " process.on('exit', () => process.stderr.write('sdk clients: ' + [...new Set(Object.keys(r.cache).map((k) => /@aws-sdk[\\/]client-([a-z0-9-]+)/.exec(k)?.[1]).filter(Boolean))].sort().join(',') + '\\n'));",
)}`;

function sdkClients(r: CliResult): string {
  const m = /^sdk clients: (.*)$/m.exec(r.stderr);
  assert.ok(m, `the hook's line: ${r.stderr}`);
  return m[1]!;
}

test('start-up without the AWS SDK: keys from the environment or a profile file, our own signed requests; the SDK only where its chain is needed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ot-validate-profile-'));
  try {
    const args = ['--trail-arn', ARN, ...range];
    const expected = (await both()).aws;
    assert.equal(expected.code, 0, expected.stderr);

    // Environment keys, --endpoint-url, a Region: neither SDK client is loaded.
    const fromEnv = await runOurs(['--endpoint-url', server.url, '--region', REGION, ...args], env, ['--import', SDK_CLIENTS_HOOK]);
    assert.equal(fromEnv.stdout, expected.stdout);
    assert.equal(sdkClients(fromEnv), '');

    // The keys in a shared credentials file's profile, as the AWS CLI reads them: the same, still no SDK.
    const creds = join(dir, 'credentials');
    writeFileSync(creds, `[other]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = nope\n\n[audit]\naws_access_key_id = ${ALICE.accessKeyId}\naws_secret_access_key = ${ALICE.secretAccessKey}\n`);
    const profileEnv: Record<string, string> = { ...env, AWS_SHARED_CREDENTIALS_FILE: creds, AWS_PROFILE: 'audit' };
    delete profileEnv.AWS_ACCESS_KEY_ID;
    delete profileEnv.AWS_SECRET_ACCESS_KEY;
    const profile = await both([], args, profileEnv);
    assertSame(profile, 'credentials from a profile file');
    assert.equal(profile.ours.stdout, expected.stdout);
    const profileOurs = await runOurs(['--endpoint-url', server.url, '--region', REGION, ...args], profileEnv, ['--import', SDK_CLIENTS_HOOK]);
    assert.equal(profileOurs.stdout, expected.stdout);
    assert.equal(sdkClients(profileOurs), '');

    // The Region only in the config file: the SDK's CloudTrail client reads it (S3 stays on the light path).
    const config = join(dir, 'config');
    writeFileSync(config, `[default]\nregion = ${REGION}\n`);
    const sdkEnv: Record<string, string> = { ...env, AWS_CONFIG_FILE: config };
    delete sdkEnv.AWS_DEFAULT_REGION;
    delete sdkEnv.AWS_REGION;
    const viaSdk = await runOurs(['--endpoint-url', server.url, ...args], sdkEnv, ['--import', SDK_CLIENTS_HOOK]);
    assert.equal(viaSdk.stdout, expected.stdout, viaSdk.stderr);
    assert.equal(sdkClients(viaSdk), 'cloudtrail');

    // A refused signature on our own requests reads as the AWS CLI's (DescribeTrails' error, exit 255).
    const badKey = await both([], args, { ...env, AWS_SECRET_ACCESS_KEY: 'wrong-secret' });
    assertSame(badKey, 'a wrong secret key');
    assert.equal(badKey.aws.code, 255);
    assert.match(badKey.aws.stderr, /when calling the DescribeTrails operation/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
