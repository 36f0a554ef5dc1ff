/**
 * One server per data dir, and nothing written before the port and the lock are held: a second
 * `opentrail serve` on a data dir in use, or on a port in use, is refused with one line and exit 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { ACCOUNT_A, BIN, startServer, tempDir } from './helpers/server.ts';

function serve(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'serve', '--host', '127.0.0.1', ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

async function occupiedPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as { port: number }).port, server };
}

test('a second server on a data dir in use is refused with one line naming the other process, exit 2', async () => {
  const first = await startServer({ accounts: [ACCOUNT_A] });
  try {
    const before = readdirSync(first.dataDir).sort();
    const second = await serve(['--port', '0', '--data-dir', first.dataDir, '--config', first.configFile]);
    assert.equal(second.code, 2, second.stderr);
    assert.equal(second.stdout, '');
    assert.equal(second.stderr.trim().split('\n').length, 1, `one line: ${second.stderr}`);
    assert.match(second.stderr, new RegExp(`^opentrail: data dir ${first.dataDir} is in use by another OpenTrail server \\(pid ${first.process.pid}, listening on ${first.url}, since `));
    assert.deepEqual(readdirSync(first.dataDir).sort(), before, 'the refused server added nothing');
    // Same data dir and the same port (two plain `opentrail serve` in one folder): told about the server, not the port.
    const port = new URL(first.url).port;
    const same = await serve(['--port', port, '--data-dir', first.dataDir, '--config', first.configFile]);
    assert.equal(same.code, 2, same.stderr);
    assert.match(same.stderr, new RegExp(`^opentrail: data dir \\S+ is in use by another OpenTrail server \\(pid ${first.process.pid}, listening on ${first.url}, since [^)]+\\); stop it first, or give this one another --data-dir\\n$`));
  } finally {
    await first.stop();
  }
});

test("a dead server's lock is taken over: kill -9, then a new server starts on the same data dir", async () => {
  const first = await startServer({ accounts: [ACCOUNT_A] });
  await first.kill();
  const again = await startServer({ accounts: [ACCOUNT_A] }, { dataDir: first.dataDir });
  try {
    const refused = await serve(['--port', '0', '--data-dir', first.dataDir, '--config', first.configFile]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, new RegExp(`pid ${again.process.pid},`), 'the message names the live holder, not the dead one');
  } finally {
    assert.equal(await again.stop(), 0);
  }
  // Stopped cleanly, the lock is free again.
  const third = await startServer({ accounts: [ACCOUNT_A] }, { dataDir: first.dataDir });
  assert.equal(await third.stop(), 0);
});

test('a port in use is refused with one line naming the port, before anything is written (no account, no credentials)', async () => {
  const { port, server } = await occupiedPort();
  try {
    const dataDir = join(tempDir(), 'fresh');
    const r = await serve(['--port', String(port), '--data-dir', dataDir]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^opentrail: cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use by another process; stop it or choose another --port`));
    assert.equal(existsSync(dataDir), false, 'the data dir was not even created');
  } finally {
    server.close();
  }
});

test('a gateway port in use is refused the same way, naming gateway.port', async () => {
  const { port, server } = await occupiedPort();
  try {
    const dir = tempDir();
    const dataDir = join(dir, 'fresh');
    const config = join(dir, 'gw.json');
    writeFileSync(config, JSON.stringify({ gateway: { port, upstream: { endpoint: 'http://127.0.0.1:9' } } }));
    const r = await serve(['--port', '0', '--data-dir', dataDir, '--config', config]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^opentrail: cannot listen on 127\\.0\\.0\\.1:${port}: .*choose another gateway\\.port\\n$`));
    assert.equal(existsSync(dataDir), false);
  } finally {
    server.close();
  }
});

test('a SIGTERM that arrives while the server starts stops it in order once it is up (exit 0), not half-way', async () => {
  const dataDir = join(tempDir(), 'd');
  const child = spawn(process.execPath, [BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  // The lock's holder file is written inside startServer, after the signal handlers are in place.
  while (!existsSync(join(dataDir, 'opentrail.lock.json'))) await new Promise((r) => setTimeout(r, 5));
  child.kill('SIGTERM');
  assert.deepEqual(await exited, { code: 0, signal: null }, out);
  assert.match(out, /OpenTrail listening on [\s\S]*SIGTERM: shutting down/);
});
