/**
 * bin/opentrail.js started by a Node older than 24 re-launches itself on the Node 24 of
 * node_modules: signals sent to the process you started must reach the server, the launcher must
 * exit with the server's status, and the server must never outlive the launcher.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { BIN, tempDir } from './helpers/server.ts';

/** The first `node` on PATH (outside node_modules) older than 24, if there is one. */
function olderNode(): string | undefined {
  const seen = new Set<string>();
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/local/bin', '/bin']) {
    if (!dir || dir.includes('node_modules')) continue;
    const p = join(dir, 'node');
    if (seen.has(p) || !existsSync(p)) continue;
    seen.add(p);
    try {
      const v = execFileSync(p, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
      if (Number(v.split('.')[0]) < 24) return p;
    } catch { /* not runnable */ }
  }
  return undefined;
}

const OLD_NODE = olderNode();
const skip = OLD_NODE ? false : 'no Node older than 24 on this machine: the re-launch path cannot be exercised';

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** Processes a failing test may leave behind: killed when the file ends. */
const started: number[] = [];
after(() => {
  for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

interface Launched { launcher: ChildProcess; server: number; port: number; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; output(): string }

async function launch(): Promise<Launched> {
  const launcher = spawn(OLD_NODE!, [BIN, 'serve', '--port', '0', '--data-dir', tempDir()], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(launcher.pid!);
  let out = '';
  launcher.stdout!.on('data', (d) => (out += d));
  launcher.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => launcher.once('exit', (code, signal) => resolve({ code, signal })));
  await until(`the server to listen:\n${out}`, () => /listening on http:\/\/127\.0\.0\.1:\d+/.test(out));
  const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)![1]);
  const kids = childrenOf(launcher.pid!);
  started.push(...kids);
  assert.equal(kids.length, 1, `the launcher runs one server child: ${kids}`);
  const exe = readFileSync(`/proc/${kids[0]}/cmdline`, 'utf8').split('\0')[0]!;
  assert.match(exe, /node_modules\/node\/bin\/node$/, 'the child is the Node 24 of node_modules');
  return { launcher, server: kids[0]!, port, exited, output: () => out };
}

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  test(`${sig} to the launcher stops the server, frees the port, and the launcher exits with the server's status`, { skip }, async () => {
    const l = await launch();
    assert.equal(await portFree(l.port), false, 'the server holds its port');
    l.launcher.kill(sig);
    const { code, signal } = await l.exited;
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, l.output());
    assert.match(l.output(), new RegExp(`${sig}: shutting down`), 'the server got the signal and shut down in order');
    await until('the server process to end', () => !alive(l.server));
    assert.equal(await portFree(l.port), true, 'the port is free again');
  });
}

test('a server killed by a signal makes the launcher die of the same signal', { skip }, async () => {
  const l = await launch();
  process.kill(l.server, 'SIGKILL');
  const { code, signal } = await l.exited;
  assert.deepEqual({ code, signal }, { code: null, signal: 'SIGKILL' });
});

test('the server does not outlive a launcher killed with SIGKILL', { skip }, async () => {
  const l = await launch();
  l.launcher.kill('SIGKILL');
  await l.exited;
  await until('the orphaned server to shut down', () => !alive(l.server));
  assert.equal(await portFree(l.port), true, 'the port is free again');
});
