/**
 * The console's file handler on a Fastify app of its own over a temp folder: built files served by
 * exact name with their content type and caching, gzip when accepted, nothing outside the folder,
 * and a page saying how to build the console when it is not built.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Fastify from 'fastify';
import { registerConsoleStatic } from './console-static.ts';

function appOver(dir: string) {
  const app = Fastify();
  registerConsoleStatic(app, dir);
  return app;
}

test('without a built console, /console/ says how to build it', async () => {
  const app = appOver(join(mkdtempSync(join(tmpdir(), 'console-static-')), 'dist'));
  const r = await app.inject({ url: '/console/' });
  assert.equal(r.statusCode, 503);
  assert.match(r.headers['content-type'] as string, /^text\/html/);
  assert.match(r.body, /npm run build:console/);
  assert.equal((await app.inject({ url: '/console' })).headers.location, '/console/');
  await app.close();
});

test('built files: by exact name, typed, cached by kind, gzip when accepted, nothing outside the folder', async () => {
  const root = mkdtempSync(join(tmpdir(), 'console-static-'));
  const dist = join(root, 'dist');
  mkdirSync(join(dist, 'assets'), { recursive: true });
  writeFileSync(join(root, 'secret.txt'), 'not served');
  writeFileSync(join(dist, 'index.html'), '<!doctype html><title>console</title>');
  const js = `console.log(${JSON.stringify('x'.repeat(4000))});`;
  writeFileSync(join(dist, 'assets', 'index-abc123.js'), js);
  writeFileSync(join(dist, 'assets', 'index-abc123.css'), 'body{}');
  writeFileSync(join(dist, 'assets', 'unknown.exe'), 'MZ');
  const app = appOver(dist);

  const index = await app.inject({ url: '/console/' });
  assert.equal(index.statusCode, 200);
  assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(index.headers['cache-control'], 'no-cache');
  assert.match(index.headers['content-security-policy'] as string, /default-src 'self'/);
  assert.equal(index.headers['x-content-type-options'], 'nosniff');

  const plain = await app.inject({ url: '/console/assets/index-abc123.js' });
  assert.equal(plain.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(plain.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.equal(plain.body, js);
  const zipped = await app.inject({ url: '/console/assets/index-abc123.js', headers: { 'accept-encoding': 'gzip, br' } });
  assert.equal(zipped.headers['content-encoding'], 'gzip');
  assert.equal(gunzipSync(zipped.rawPayload).toString(), js);
  assert.equal((await app.inject({ url: '/console/assets/index-abc123.css' })).headers['content-type'], 'text/css; charset=utf-8');

  for (const url of ['/console/../secret.txt', '/console/..%2fsecret.txt', '/console/assets/..%2f..%2fsecret.txt', '/console/%2e%2e/secret.txt', '/console/assets/unknown.exe', '/console/nope.js']) {
    const r = await app.inject({ url });
    assert.notEqual(r.statusCode, 200, url);
    assert.doesNotMatch(r.body, /not served|MZ/, url);
  }
  await app.close();
});
