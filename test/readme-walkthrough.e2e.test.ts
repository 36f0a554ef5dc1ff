/**
 * README.md's walkthrough, run as it is written: every ```sh block preceded by
 * `<!-- walkthrough -->` is taken from the README and run, in order, in one bash, from the
 * repository, as a newcomer would paste them. Only the port numbers are replaced by free ones (the
 * machine may already use 4580). Each step's output is checked, and so is that nothing was created
 * in the repository.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './helpers/moto.ts';
import { runBash } from './helpers/bash.ts';

const ROOT = resolve(import.meta.dirname, '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The walkthrough blocks, in README order. */
export function walkthroughBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/<!-- walkthrough -->\n```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

function missingTool(): string | undefined {
  const has = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch {
      return undefined;
    }
  };
  if (has('aws', ['--version']) === undefined) return 'the AWS CLI (aws) is not installed';
  if (!/--aws-sigv4/.test(has('curl', ['--help', 'all']) ?? '')) return 'curl has no --aws-sigv4 (7.75 or newer needed)';
  if (has('python3', ['-c', 'import moto.server']) === undefined) return 'moto is not installed (pip install "moto[server]")';
  return undefined;
}

const why = missingTool();

test('the README walkthrough has its blocks', () => {
  const blocks = walkthroughBlocks(README);
  assert.equal(blocks.length, 5, 'start, AWS CLI, ingest and lookups, gateway, stop');
  assert.match(blocks[0]!, /cd "\$\(mktemp -d\)"/, 'it works in a temporary folder');
  assert.match(blocks[1]!, /export AWS_ENDPOINT_URL=http:\/\/127\.0\.0\.1:4580/);
});

test('the README walkthrough works as written', { skip: why ? `cannot run the walkthrough: ${why}` : false, timeout: 240_000 }, async () => {
  const blocks = walkthroughBlocks(README);
  const ports = new Map<string, number>();
  for (const p of ['4580', '4581', '4582', '5000']) ports.set(p, await freePort());
  const withPorts = (text: string) => text.replace(/\b(4580|4581|4582|5000)\b/g, (p) => String(ports.get(p)));
  const script = blocks.map((b, i) => `echo "@@STEP ${i}"\n${withPorts(b)}`).join('\n') + '\necho "@@STEP end $PWD"\n';

  const tmp = mkdtempSync(join(tmpdir(), 'opentrail-readme-'));
  const home = join(tmp, 'home');
  execFileSync('mkdir', ['-p', home, join(tmp, 'tmp')]);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('AWS_') && !k.startsWith('OPENTRAIL_')) env[k] = v;
  Object.assign(env, { HOME: home, TMPDIR: join(tmp, 'tmp'), AWS_CONFIG_FILE: '/dev/null', AWS_PAGER: '', AWS_MAX_ATTEMPTS: '1', AWS_CA_BUNDLE: process.env.AWS_CA_BUNDLE ?? '' });
  if (!env.AWS_CA_BUNDLE) delete env.AWS_CA_BUNDLE;

  const repoBefore = readdirSync(ROOT).sort();
  const { code, out, err } = await runBash(script, { cwd: ROOT, env });
  const all = `stdout:\n${out}\nstderr:\n${err}`;
  assert.equal(code, 0, all);
  const steps = out.split(/^@@STEP \S+.*\n?/m).slice(1);
  assert.equal(steps.length, 6, all);
  const [start, cli, ingest, gateway, stop] = steps as [string, string, string, string, string];

  // 1. The server starts and says where everything is.
  assert.match(start, new RegExp(`^OpenTrail listening on http://127\\.0\\.0\\.1:${ports.get('4580')}$`, 'm'), all);
  assert.match(start, /^ {2}credentials: \.opentrail\/aws-credentials \(profile opentrail; created now\)$/m);
  assert.match(start, /^ {2}data: \.opentrail$/m);

  // 2. The first lookup finds nothing, the second the first.
  assert.match(cli, /^\[\]\n\[\n\s+"LookupEvents"\n\]\n$/, all);

  // 3. Ingest answers per record; the lookups find the records by attribute.
  const answer = JSON.parse(ingest.split('\n')[0]!) as { accepted: number; rejected: number; notInEventHistory: number; results: { status: string }[] };
  assert.deepEqual([answer.accepted, answer.rejected, answer.notInEventHistory, answer.results.map((r) => r.status)], [2, 0, 0, ['accepted', 'accepted']], all);
  const lines = ingest.split('\n').slice(1).filter(Boolean);
  assert.equal(lines[0], 'CreateOrder\talice', all);
  const readOnly = lines[1]!.split('\t');
  assert.ok(readOnly.includes('GetOrder') && readOnly.includes('LookupEvents') && !readOnly.includes('CreateOrder'), all);

  // 4. The gateway beside it records the CloudWatch call in its own server's Event history.
  assert.match(gateway, new RegExp(`^OpenTrail listening on http://127\\.0\\.0\\.1:${ports.get('4582')}$`, 'm'), all);
  assert.match(gateway, new RegExp(`recording gateway: http://127\\.0\\.0\\.1:${ports.get('4581')}`), all);
  assert.match(gateway, /^PutMetricAlarm\tmonitoring\.amazonaws\.com$/m, all);

  // 5. Stopped: both servers shut down in order; nothing landed in the repository.
  assert.equal(stop, '', all);
  const work = /^@@STEP end (\S+)$/m.exec(out)?.[1] ?? '';
  assert.ok(work.startsWith(join(tmp, 'tmp')), `the walkthrough worked under TMPDIR: ${work}`);
  assert.match(readFileSync(join(work, 'server.log'), 'utf8'), /SIGTERM: shutting down/);
  assert.match(readFileSync(join(work, 'gw.log'), 'utf8'), /SIGTERM: shutting down/);
  for (const f of ['events.ndjson', 'gw.json', '.opentrail/aws-credentials', 'gw-data/aws-credentials']) assert.ok(existsSync(join(work, f)), f);
  assert.deepEqual(readdirSync(ROOT).sort(), repoBefore, 'the walkthrough created nothing in the repository');
});
