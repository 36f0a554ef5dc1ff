/** The shared zstd frame encoder: a kept context, with or without a dictionary; its fallback. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { FrameEncoder, frameContentSize } from './zstd-frames.ts';

const DICTIONARY = Buffer.from('{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDA","arn":"arn:aws:iam:::user/"},"eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1"}');
const record = (i: number): Buffer => Buffer.from(JSON.stringify({
  eventVersion: '1.08', userIdentity: { type: 'IAMUser', principalId: `AIDA${i}`, arn: `arn:aws:iam::12345678901${i % 10}:user/u${i}` },
  eventSource: 's3.amazonaws.com', eventName: 'GetObject', awsRegion: 'us-east-1', eventID: `${(i * 2654435761) % 1000003}`, note: 'ü€😀',
}));

test('FrameEncoder with a dictionary: every frame from the kept context, read with the dictionary only, smaller than without it', () => {
  const enc = new FrameEncoder(1, DICTIONARY);
  const plain = new FrameEncoder(1);
  const payloads = [...Array.from({ length: 20 }, (_, i) => record(i)), Buffer.from('x'), Buffer.alloc(300_000, 'abc')];
  for (const p of payloads) {
    const frame = enc.compress(p);
    assert.ok(zstdDecompressSync(frame, { dictionary: DICTIONARY }).equals(p));
    assert.equal(frameContentSize(frame), p.length);
  }
  assert.deepEqual(enc.stats, { reused: payloads.length, fallback: 0 });
  // The dictionary is used by every frame, not only the first (it stays loaded in the context).
  const again = enc.compress(record(3));
  assert.ok(again.length < plain.compress(record(3)).length - 40, `${again.length} with the dictionary`);
  assert.throws(() => zstdDecompressSync(again), 'a frame made against the dictionary needs it');
  // As node's one-shot call with the same dictionary and level makes it, within a few bytes.
  const oneShot = zstdCompressSync(record(3), { dictionary: DICTIONARY, params: { [0x64]: 1 } });
  assert.ok(Math.abs(again.length - oneShot.length) < 16, `${again.length} vs ${oneShot.length}`);
});

test('FrameEncoder: a lead byte goes before the frame, from the kept context and from the fallback alike', () => {
  const enc = new FrameEncoder(1, DICTIONARY);
  const p = record(1);
  const a = enc.compress(p, 7);
  assert.equal(a[0], 7);
  assert.ok(zstdDecompressSync(a.subarray(1), { dictionary: DICTIONARY }).equals(p));
  (enc as unknown as { engine: { _handle: null } }).engine._handle = null;
  const b = enc.compress(p, 7);
  assert.deepEqual(enc.stats, { reused: 1, fallback: 1 });
  assert.equal(b[0], 7);
  assert.ok(zstdDecompressSync(b.subarray(1), { dictionary: DICTIONARY }).equals(p), 'the fallback uses the dictionary too');
  const empty = enc.compress(Buffer.alloc(0), 7);
  assert.equal(empty[0], 7);
  assert.equal(zstdDecompressSync(empty.subarray(1), { dictionary: DICTIONARY }).length, 0);
  // Frames are buffers of their own: the next frame does not overwrite the previous one.
  const c = enc.compress(record(2), 9);
  assert.ok(zstdDecompressSync(a.subarray(1), { dictionary: DICTIONARY }).equals(p));
  assert.ok(zstdDecompressSync(c.subarray(1), { dictionary: DICTIONARY }).equals(record(2)));
});
