import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync } from 'node:fs';
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
  // Written again (a redo): still the object and its metadata, no temp file. (A write without
  // metadata removes the metadata, as on S3: the ObjectStore contract.)
  await s.putObject('my-bucket', 'AWSLogs/1/a.json.gz', Buffer.from('abc'), { metadata: { signature: 'ff' } });
  assert.deepEqual(readdirSync(join(root, 'my-bucket/AWSLogs/1')).sort(), ['a.json.gz', 'a.json.gz.meta.json']);
});

test('a missing bucket and a key escaping the bucket are refused with codes', async () => {
  const { s } = store();
  await assert.rejects(s.putObject('no-bucket', 'k', Buffer.from('x')), (e: unknown) => e instanceof ObjectStoreError && e.code === 'NoSuchBucket');
  await assert.rejects(s.putObject('my-bucket', '../outside', Buffer.from('x')), (e: unknown) => e instanceof ObjectStoreError && e.code === 'InvalidKey');
  assert.equal(await s.bucketExists('no-bucket'), false);
  assert.equal(await s.bucketExists('my-bucket'), true);
});

test('hostile keys are refused with InvalidKey and nothing is written anywhere', async () => {
  const { root, s } = store();
  mkdirSync(join(root, 'other-bucket'));
  const hostile = [
    '../other-bucket/x', '../../etc/x', 'a/../../other-bucket/x', '/abs/x', 'a//b', 'a/./b', './a', 'a/..', 'a/', '',
    'a\0b', 'AWSLogs/x.json.gz.meta.json', 'x.tmp-1-2', 'k'.repeat(1025), 'bad-\ud800',
    // Harmless-looking but not one to one: "a/../b" would land on "b".
    'a/../b',
  ];
  for (const key of hostile) {
    await assert.rejects(s.putObject('my-bucket', key, Buffer.from('x')), (e: unknown) => e instanceof ObjectStoreError && e.code === 'InvalidKey', JSON.stringify(key.slice(0, 40)));
  }
  assert.deepEqual(readdirSync(join(root, 'my-bucket')), []);
  assert.deepEqual(readdirSync(join(root, 'other-bucket')), []);
  assert.deepEqual(readdirSync(root).sort(), ['my-bucket', 'other-bucket']);
});

test('a symlink inside the bucket that leads out of it is never written through', async () => {
  const { root, s } = store();
  const outside = mkdtempSync(join(tmpdir(), 'ot-outside-'));
  symlinkSync(outside, join(root, 'my-bucket', 'escape'));
  symlinkSync(join(outside, 'nowhere'), join(root, 'my-bucket', 'dangling'));
  mkdirSync(join(root, 'my-bucket', 'real'));
  symlinkSync(join(outside, 'target'), join(root, 'my-bucket', 'real', 'file.json.gz'));
  for (const key of ['escape/AWSLogs/x.json.gz', 'escape/x', 'dangling/x/y', 'real/file.json.gz']) {
    await assert.rejects(s.putObject('my-bucket', key, Buffer.from('x'), { metadata: { a: 'b' } }), (e: unknown) => e instanceof ObjectStoreError && e.code === 'InvalidKey', key);
  }
  assert.deepEqual(readdirSync(outside), []);
  // A symlink that stays inside the bucket is followed as a directory would be.
  symlinkSync(join(root, 'my-bucket', 'real'), join(root, 'my-bucket', 'alias'));
  await s.putObject('my-bucket', 'alias/ok.json.gz', Buffer.from('ok'));
  assert.equal(readFileSync(join(root, 'my-bucket', 'real', 'ok.json.gz'), 'utf8'), 'ok');
});
