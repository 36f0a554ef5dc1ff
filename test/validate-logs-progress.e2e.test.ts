/**
 * `opentrail validate-logs` progress, on the filesystem bucket of a real server (2 s digests):
 * with stderr not a terminal, `--progress` prints plain progress lines there and the result lines
 * stay what they are without it (and a run without the flag prints none, as it ends in under 10 s);
 * on a pseudo-terminal (`script`), a bar is drawn, erased at the end, and the output around it is
 * the same report.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { BIN } from './helpers/server.ts';
import { FS_TRAIL_ACCOUNT as A, FS_TRAIL_ARN, FS_TRAIL_REGION, fsTrailEnv, useFsTrail } from './helpers/fs-trail.ts';

const BUCKET = 'ot-progress';
const PROGRESS_LINE = /^validate-logs: \d+\/\d+ files \(\d+%\), (ETA \S+|done in \S+)(, \d+\/\d+ digests, \d+\.\d MB read, \d+\.\d MB\/s)?$/;

const fixture = useFsTrail(BUCKET);
const files = (dir: string) => fixture.trail.files(dir);
const validate = (extra: string[] = []) => fixture.trail.validate(extra);

test('not a terminal: --progress prints plain lines on stderr; the report is unchanged', async () => {
  const logs = files(join(fixture.trail.root, BUCKET, 'AWSLogs', A, 'CloudTrail'));
  const digests = files(join(fixture.trail.root, BUCKET, 'AWSLogs', A, 'CloudTrail-Digest'));
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
  const log = join(fixture.trail.root, BUCKET, logs[0]!);
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
  const { server, root, range } = fixture.trail;
  const args = ['--endpoint-url', server.url, '--region', FS_TRAIL_REGION, '--bucket-root', root, '--trail-arn', FS_TRAIL_ARN, ...range];
  const argv = [process.execPath, BIN, 'validate-logs', ...args, '--verbose'].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync('script', ['-qec', argv, '/dev/null'], { env: { ...fsTrailEnv(), TERM: 'xterm', COLUMNS: '120' }, encoding: 'utf8', timeout: 60_000 });
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
