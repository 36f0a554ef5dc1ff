/**
 * `opentrail validate-logs` progress, on the filesystem bucket of a real server (2 s digests):
 * with stderr not a terminal, `--progress` prints plain progress lines there and the result lines
 * stay what they are without it (and a run without the flag prints none, as it ends in under 10 s);
 * on a pseudo-terminal (`script`), a bar is drawn, erased at the end, and the output around it is
 * the same report.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
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
const BUCKET = 'ot-progress';
const ARN = `arn:aws:cloudtrail:${REGION}:${A}:trail/audit`;
const PERIOD_MS = 2000;
const PROGRESS_LINE = /^validate-logs: \d+\/\d+ files \(\d+%\), (ETA \S+|done in \S+)(, \d+\/\d+ digests, \d+\.\d MB read, \d+\.\d MB\/s)?$/;

let server: StartedServer;
let ct: CloudTrailClient;
let root: string;
let args: string[];

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
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'validate-logs', ...args, ...extra], { env: cliEnv(ALICE, REGION), timeout: 60_000 }, (err, stdout, stderr) => {
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
  const stopMs = (await ct.send(new GetTrailStatusCommand({ Name: 'audit' }))).StopLoggingTime!.getTime();
  await waitFor(async () => (await newestDigestEndMs()) >= stopMs, 20_000, 'the final digest');
  await sleep(PERIOD_MS);
  args = ['--endpoint-url', server.url, '--region', REGION, '--bucket-root', root, '--trail-arn', ARN, '--start-time', iso(startMs), '--end-time', iso(Date.now())];
});

after(async () => {
  ct?.destroy();
  await server?.stop();
});

test('not a terminal: --progress prints plain lines on stderr; the report is unchanged', async () => {
  const logs = files(join(root, BUCKET, 'AWSLogs', A, 'CloudTrail'));
  const digests = files(join(root, BUCKET, 'AWSLogs', A, 'CloudTrail-Digest'));
  const plain = await validate();
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(plain.stderr, '', 'a run shorter than 10 s prints no progress');
  const withProgress = await validate(['--progress']);
  assert.equal(withProgress.code, 0, withProgress.stderr);
  assert.equal(withProgress.stdout, plain.stdout);
  const lines = withProgress.stderr.trimEnd().split('\n');
  assert.ok(lines.length >= 2, withProgress.stderr);
  for (const l of lines) assert.match(l, PROGRESS_LINE);
  const total = digests.length + logs.length;
  assert.match(lines.at(-1)!, new RegExp(`^validate-logs: ${total}/${total} files \\(100%\\), done in \\S+, ${digests.length}/${digests.length} digests, `));

  // An invalid file: its line is where the AWS CLI prints it, between progress lines.
  const log = join(root, BUCKET, logs[0]!);
  const original = readFileSync(log);
  writeFileSync(log, gzipSync(Buffer.from('{"Records":[]}')));
  try {
    const bad = await validate(['--progress']);
    assert.equal(bad.code, 1);
    const problem = `Log file\ts3://${BUCKET}/${logs[0]}\tINVALID: hash value doesn't match`;
    const rest = bad.stderr.split('\n').filter((l) => !PROGRESS_LINE.test(l));
    assert.deepEqual(rest, [problem, '', ''], bad.stderr);
    assert.equal((await validate(['--no-progress'])).stderr, `${problem}\n\n`);
  } finally {
    writeFileSync(log, original);
  }
});

const hasScript = spawnSync('script', ['--version']).status === 0;

test('a terminal: a bar on the pseudo-terminal, erased, around the same report', { skip: hasScript ? false : 'no script(1) here' }, async () => {
  const plain = await validate(['--verbose']);
  assert.equal(plain.code, 0, plain.stderr);
  // script(1) runs the command on a pseudo-terminal (stdin, stdout and stderr); its output is
    // what the terminal received.
  const argv = [process.execPath, BIN, 'validate-logs', ...args, '--verbose'].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync('script', ['-qec', argv, '/dev/null'], { env: { ...cliEnv(ALICE, REGION), TERM: 'xterm', COLUMNS: '120' }, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const screen = r.stdout;
  assert.match(screen, /validate-logs: \[[#-]{20}\] \d+\/\d+ files \(\d+%\)/, 'the bar was drawn');
  // Erased at the end: after its last frame, the line is cleared before the summary is written.
  const afterBar = screen.slice(screen.lastIndexOf('validate-logs: ['));
  assert.match(afterBar, /^[^\n]*?\x1b\[2K\r?\n?Results requested for /, JSON.stringify(afterBar.slice(0, 300)));
  // The report around it: every bar frame taken out, terminal controls dropped, CRLF as LF.
  const text = screen
    .replace(/\x1b\[1Gvalidate-logs: \[[^\x1b]*\x1b\[0K/g, '')
    .replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, '')
    .replace(/\r\n/g, '\n')
    .replace(/\r/g, '');
  assert.equal(text, plain.stdout);
});
