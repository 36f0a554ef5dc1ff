/**
 * The npm package, as a user gets it: `npm pack` of a copy of this working tree (so the repository
 * itself is left alone), the tarball's contents (what runs, nothing else), then `npm install -g` of
 * it into a temporary prefix and README.md's "Install from npm" block run as written, with the
 * installed `opentrail` (only the install line points at the tarball and the port is a free one):
 * `opentrail serve`, `/health`, `opentrail status` and a lookup with the AWS CLI.
 * Skipped, saying so, when the npm registry cannot be reached (the install fetches the
 * dependencies) or the AWS CLI the block calls is missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, existsSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { freePort } from './helpers/moto.ts';
import { runBash } from './helpers/bash.ts';

const ROOT = resolve(import.meta.dirname, '..');
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };

/** README.md's install block. */
export function installBlock(markdown: string): string {
  const m = /<!-- install -->\n```sh\n([\s\S]*?)```/.exec(markdown);
  if (!m) throw new Error('README.md has no <!-- install --> block');
  return m[1]!;
}

function unreachable(): string | undefined {
  try {
    execFileSync('npm', ['ping'], { stdio: 'ignore', timeout: 20_000 });
  } catch {
    return 'the npm registry cannot be reached (npm ping failed); the install needs it for the dependencies';
  }
  try {
    execFileSync('aws', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'the AWS CLI (aws) is not installed; the README block calls it';
  }
  return undefined;
}

const why = unreachable();

test('README.md has an install block that installs the package and starts it', () => {
  const block = installBlock(readFileSync(join(ROOT, 'README.md'), 'utf8'));
  assert.match(block, /^npm install -g opentrail\b/m);
  assert.match(block, /^opentrail serve --port 4580/m);
});

test('npm pack ships what runs, and npm install -g of it gives a working opentrail (README install block)', { skip: why ? `cannot install the package: ${why}` : false, timeout: 240_000 }, async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'opentrail-package-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true })); // ~180 MB a run: the tree, the tarball, the installed prefix
  // A copy of the working tree: tracked and new files, not what git ignores (node_modules is linked).
  const tree = join(tmp, 'tree');
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const f of listed) {
    if (f === 'node_modules' || !existsSync(join(ROOT, f))) continue;
    mkdirSync(dirname(join(tree, f)), { recursive: true });
    cpSync(join(ROOT, f), join(tree, f));
  }
  symlinkSync(realpathSync(join(ROOT, 'node_modules')), join(tree, 'node_modules'));
  const env = { ...process.env, PATH: `${join(ROOT, 'node_modules/.bin')}:${dirname(process.execPath)}:${process.env.PATH}` };
  execFileSync('npm', ['pack', '--pack-destination', tmp], { cwd: tree, env, stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000 });
  assert.equal(existsSync(join(tree, 'dist')), false, 'postpack removed dist/');
  const tarball = join(tmp, `${PKG.name}-${PKG.version}.tgz`);

  // What the package holds: the command, the compiled code and what it reads, docs, schema, license.
  const files = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
  for (const f of ['package.json', 'README.md', 'LICENSE', 'opentrail.schema.json', 'bin/opentrail.js', 'dist/cli/main.js', 'dist/stores/sqlite/event-writer-worker.js',
    'dist/aws/protocol/models/index.json', 'docs/configuration.md', 'docs/validate-logs.md', 'src/capture/middleware/index.js', 'src/capture/middleware/index.d.ts', 'console/dist/index.html']) {
    assert.ok(files.includes(f), `the package has ${f}`);
  }
  const extra = files.filter((f) => /(^|\/)(test|bench|scripts|fixtures)\//.test(f) || /\.test\.|\.suite\.|\.ts$/.test(f.replace(/\.d\.ts$/, '')) || f.startsWith('node_modules/'));
  assert.deepEqual(extra, [], 'no tests, benchmarks, fixtures, scripts or TypeScript sources');

  // README's block, as written, with the installed command.
  const prefix = join(tmp, 'prefix');
  const port = await freePort();
  const block = installBlock(readFileSync(join(ROOT, 'README.md'), 'utf8'))
    .replace(/^npm install -g opentrail\b.*$/m, `npm install -g ${tarball} --prefix ${prefix} --no-audit --no-fund --prefer-offline`)
    .replace(/\b4580\b/g, String(port));
  const blockEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('AWS_') && !k.startsWith('OPENTRAIL_') && !k.startsWith('npm_')) blockEnv[k] = v;
  // The installed command first; then the Node 24 this test runs on (a fresh machine's node).
  Object.assign(blockEnv, { PATH: `${join(prefix, 'bin')}:${dirname(process.execPath)}:${process.env.PATH}`, TMPDIR: tmp, AWS_CONFIG_FILE: '/dev/null', AWS_PAGER: '', AWS_MAX_ATTEMPTS: '1' });
  const { code, out, err } = await runBash(`${block}\necho "@@END $PWD"`, { cwd: tmp, env: blockEnv, args: ['-euo', 'pipefail'] });
  const all = `stdout:\n${out}\nstderr:\n${err}`;
  assert.equal(code, 0, all);
  assert.ok(existsSync(join(prefix, 'bin/opentrail')), all);
  assert.match(out, new RegExp(`^opentrail ${PKG.version.replace(/\./g, '\\.')} \\(node v24\\.`, 'm'), all);
  assert.match(out, new RegExp(`^OpenTrail listening on http://127\\.0\\.0\\.1:${port}$`, 'm'), all);
  assert.match(out, /^healthy$/m, all);
  assert.match(out, new RegExp(`^OpenTrail at http://127\\.0\\.0\\.1:${port}: healthy$`, 'm'), `opentrail status: ${all}`);
  assert.deepEqual(JSON.parse(out.slice(out.indexOf('{', out.indexOf('failures since start')), out.indexOf('@@END')).trim()), { Events: [] }, all);
  const work = /^@@END (\S+)$/m.exec(out)?.[1] ?? '';
  assert.match(readFileSync(join(work, 'server.log'), 'utf8'), /SIGTERM: shutting down/, 'stopped in order');
  assert.ok(readdirSync(join(work, '.opentrail')).includes('events.db'), 'its data in ./.opentrail');
  // The installed package runs the compiled code, not the sources.
  const installed = join(prefix, 'lib/node_modules', PKG.name);
  assert.equal(existsSync(join(installed, 'src/cli/main.ts')), false);
  // The web console, built by `prepare` when the package was packed (docs/console.md).
  assert.ok(existsSync(join(installed, 'console/dist/index.html')), 'the built console');
  // Every command loads from it (each is loaded only when it runs), and the gateway finds its models.
  const opentrail = (...args: string[]) => execFileSync(join(prefix, 'bin/opentrail'), args, { encoding: 'utf8', env: blockEnv });
  const commands = [...new Set([...opentrail('--help').matchAll(/^\s*(?:usage: )?opentrail ([a-z][\w-]*)/gm)].map((m) => m[1]!))];
  assert.ok(commands.includes('validate-logs') && commands.includes('migrate'), commands.join(' '));
  for (const c of commands) assert.match(opentrail(c, '--help'), new RegExp(`^usage: opentrail ${c}\\b`), c);
  const models = execFileSync(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(join(installed, 'dist/aws/protocol/model.js'))}); console.log(m.modelsFor('monitoring').length, m.modelNames().length)`], { encoding: 'utf8' });
  const [monitoring, total] = models.trim().split(' ').map(Number) as [number, number];
  assert.ok(monitoring >= 1 && total > 300, models);
});
