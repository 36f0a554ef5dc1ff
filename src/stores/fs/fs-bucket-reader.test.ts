import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { FsBucketReader } from './fs-bucket-reader.ts';
import { BucketReadError } from '../bucket-reader.ts';

/** root/{my-bucket,other-bucket}, a secret file beside them, and a directory outside the root. */
function fixture() {
  const root = mkdtempSync(join(tmpdir(), 'ot-fsr-'));
  const outside = mkdtempSync(join(tmpdir(), 'ot-fsr-outside-'));
  mkdirSync(join(root, 'my-bucket', 'AWSLogs', '1'), { recursive: true });
  writeFileSync(join(root, 'my-bucket', 'AWSLogs', '1', 'a.json.gz'), 'mine');
  writeFileSync(join(root, 'my-bucket', 'AWSLogs', '1', 'a.json.gz.meta.json'), '{"signature":"ff"}');
  mkdirSync(join(root, 'other-bucket', 'AWSLogs'), { recursive: true });
  writeFileSync(join(root, 'other-bucket', 'AWSLogs', 'theirs.json.gz'), 'theirs');
  writeFileSync(join(root, 'secret.txt'), 'secret');
  writeFileSync(join(outside, 'passwd'), 'outside');
  writeFileSync(join(outside, 'evil.meta.json'), '{"leak":"outside"}');
  return { root, outside, reader: new FsBucketReader(root) };
}

async function list(reader: FsBucketReader, prefix: string, startAfter?: string): Promise<string[]> {
  const out: string[] = [];
  for await (const k of reader.listKeys('my-bucket', prefix, startAfter)) out.push(k);
  return out;
}

const noSuchKey = (e: unknown) => e instanceof BucketReadError && e.code === 'NoSuchKey';

test('lists and reads the keys of its bucket', async () => {
  const { reader } = fixture();
  assert.deepEqual(await list(reader, ''), ['AWSLogs/1/a.json.gz']);
  assert.deepEqual(await list(reader, 'AWSLogs/1/'), ['AWSLogs/1/a.json.gz']);
  const o = await reader.getObject('my-bucket', 'AWSLogs/1/a.json.gz');
  assert.equal(await text(o.body), 'mine');
  assert.deepEqual(o.metadata, { signature: 'ff' });
});

test('hostile prefixes list nothing outside the bucket (.., ., empty segments, absolute, NUL)', async () => {
  const { reader } = fixture();
  for (const prefix of ['../', '../other-bucket/', '../other-bucket/AWSLogs/', 'AWSLogs/../../', './AWSLogs/', 'AWSLogs//', '/', '/etc/', '..', 'AWSLogs/1/\0']) {
    const keys = await list(reader, prefix);
    assert.deepEqual(keys.filter((k) => !k.startsWith('AWSLogs/1/')), [], `${JSON.stringify(prefix)} listed ${keys}`);
    assert.ok(!keys.some((k) => /theirs|secret/.test(k)), JSON.stringify(prefix));
  }
  assert.deepEqual(await list(reader, '../'), []);
  assert.deepEqual(await list(reader, '../other-bucket/AWSLogs/'), []);
});

test('hostile keys read nothing outside the bucket', async () => {
  const { reader, outside } = fixture();
  for (const key of ['../secret.txt', '../other-bucket/AWSLogs/theirs.json.gz', 'AWSLogs/../../secret.txt', '/etc/passwd', `${outside}/passwd`, 'AWSLogs/1/a.json.gz\0', 'AWSLogs/1/a.json.gz.meta.json', 'AWSLogs//1/a.json.gz', './AWSLogs/1/a.json.gz']) {
    await assert.rejects(reader.getObject('my-bucket', key), noSuchKey, JSON.stringify(key));
  }
});

test('symlinks inside the bucket that lead out are neither listed, followed nor read', async () => {
  const { root, outside, reader } = fixture();
  const b = join(root, 'my-bucket');
  symlinkSync(outside, join(b, 'escape'));
  symlinkSync(join(outside, 'passwd'), join(b, 'AWSLogs', '1', 'b.json.gz'));
  symlinkSync(join(root, 'other-bucket'), join(b, 'AWSLogs', 'neighbour'));
  writeFileSync(join(b, 'AWSLogs', '1', 'c.json.gz'), 'c');
  symlinkSync(join(outside, 'evil.meta.json'), join(b, 'AWSLogs', '1', 'c.json.gz.meta.json'));
  assert.deepEqual(await list(reader, ''), ['AWSLogs/1/a.json.gz', 'AWSLogs/1/c.json.gz']);
  assert.deepEqual(await list(reader, 'escape/'), []);
  assert.deepEqual(await list(reader, 'AWSLogs/neighbour/AWSLogs/'), []);
  for (const key of ['escape/passwd', 'AWSLogs/1/b.json.gz', 'AWSLogs/neighbour/AWSLogs/theirs.json.gz']) {
    await assert.rejects(reader.getObject('my-bucket', key), noSuchKey, key);
  }
  const c = await reader.getObject('my-bucket', 'AWSLogs/1/c.json.gz');
  assert.equal(await text(c.body), 'c');
  assert.deepEqual(c.metadata, {}, 'a metadata sidecar outside the bucket is not read');
});
