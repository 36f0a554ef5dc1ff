import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsObjectStore } from './fs-object-store.ts';
import { ObjectStoreError } from '../object-store.ts';

function store() {
  const root = mkdtempSync(join(tmpdir(), 'ot-fs-'));
  mkdirSync(join(root, 'my-bucket'));
  return { root, s: new FsObjectStore(root) };
}

test('putObject writes the bytes under bucket/key, with metadata beside them, and leaves no temp file', async () => {
  const { root, s } = store();
  await s.putObject('my-bucket', 'AWSLogs/1/a.json.gz', Buffer.from('abc'), { metadata: { signature: 'ff' } });
  assert.equal(readFileSync(join(root, 'my-bucket/AWSLogs/1/a.json.gz'), 'utf8'), 'abc');
  assert.deepEqual(JSON.parse(readFileSync(join(root, 'my-bucket/AWSLogs/1/a.json.gz.meta.json'), 'utf8')), { signature: 'ff' });
  await s.putObject('my-bucket', 'AWSLogs/1/a.json.gz', Buffer.from('abc'));
  assert.deepEqual(readdirSync(join(root, 'my-bucket/AWSLogs/1')).sort(), ['a.json.gz', 'a.json.gz.meta.json']);
});

test('a missing bucket and a key escaping the bucket are refused with codes', async () => {
  const { s } = store();
  await assert.rejects(s.putObject('no-bucket', 'k', Buffer.from('x')), (e: unknown) => e instanceof ObjectStoreError && e.code === 'NoSuchBucket');
  await assert.rejects(s.putObject('my-bucket', '../outside', Buffer.from('x')), (e: unknown) => e instanceof ObjectStoreError && e.code === 'InvalidKey');
  assert.equal(await s.bucketExists('no-bucket'), false);
  assert.equal(await s.bucketExists('my-bucket'), true);
});
