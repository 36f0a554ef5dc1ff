import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalLogSource } from './source.ts';

async function keys(s: LocalLogSource, startAfter?: string): Promise<string[]> {
  const out: string[] = [];
  for await (const k of s.list(startAfter)) out.push(k);
  return out;
}

test('LocalLogSource: keys in S3 order below the prefix, after startAfter; symlinks not followed; staged in place', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lake-src-'));
  const root = join(dir, 'bucket');
  for (const k of ['a/x-1.gz', 'a/x/2.gz', 'a/x.gz', 'a-b/1.gz', 'b/1.gz', 'a/é.gz', 'a/z.gz']) {
    mkdirSync(join(root, k, '..'), { recursive: true });
    writeFileSync(join(root, k), k);
  }
  writeFileSync(join(dir, 'secret'), 's');
  symlinkSync(join(dir, 'secret'), join(root, 'a', 'link.gz'));
  const all = new LocalLogSource(root, '', 'file:///b/');
  // By UTF-8 bytes: '-' < '.' < '/' < 'z' < 'é'.
  assert.deepEqual(await keys(all), ['a-b/1.gz', 'a/x-1.gz', 'a/x.gz', 'a/x/2.gz', 'a/z.gz', 'a/é.gz', 'b/1.gz']);
  assert.deepEqual(await keys(new LocalLogSource(root, 'a/', 'file:///b/')), ['a/x-1.gz', 'a/x.gz', 'a/x/2.gz', 'a/z.gz', 'a/é.gz']);
  assert.deepEqual(await keys(all, 'a/x.gz'), ['a/x/2.gz', 'a/z.gz', 'a/é.gz', 'b/1.gz']);
  const staged = await all.stage(['a/z.gz', 'a/link.gz', 'nope.gz']);
  assert.deepEqual(staged[0], { key: 'a/z.gz', path: join(root, 'a/z.gz') });
  assert.ok('error' in staged[1]!);
  assert.ok('error' in staged[2]!);
  await assert.rejects(keys(new LocalLogSource(join(dir, 'missing'), '', 'file:///missing/')), (e: Error & { code?: string }) => e.code === 'NoSuchBucket' && /file:\/\/\/missing\/ does not exist/.test(e.message));
});
