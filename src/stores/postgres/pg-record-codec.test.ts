/** The PostgreSQL event store's record format: round trips, and rows written by earlier builds. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeText, encodeRecord, encodeText, recordDecodeStats } from './pg-record-codec.ts';

test('records round-trip as their UTF-8 (lone surrogates as U+FFFD), with their UTF-8 length, at any size', () => {
  fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => {
    const { stored, utf8Bytes } = encodeRecord(s);
    assert.equal(utf8Bytes, Buffer.byteLength(s, 'utf8'));
    assert.equal(decodeText(stored), Buffer.from(s, 'utf8').toString('utf8'));
  }));
  // Past the kept scratch memory (64 KiB), past what it keeps (1 MiB), then small again.
  for (const s of ['😀'.repeat(40_000), `{"a":"${'é'.repeat(700_000)}"}`, 'x'.repeat(1_500_000), '{"b":1}', '']) {
    const { stored, utf8Bytes } = encodeRecord(s);
    assert.equal(utf8Bytes, Buffer.byteLength(s));
    assert.equal(decodeText(stored), s);
  }
});

test('a record stored by an earlier build (one zstd call per record) reads the same', () => {
  // Made by encodeText at 7520829 (node's zstdCompressSync with format 1's dictionary).
  const old = Buffer.from('ASi1L/1gMwA9AwBUAzhFWEFNUExFMTIzNDU2Nzg5MDEyYW5hbmEyMDI2LTEyLTA1VDFHZXRub8O84oKs8J+YgCJ9DwDuhYAYhCDYC2rzQCiCacJOyQRhzZBAITI4igOKgH0cAk7ily/wTTjbwHl0oGEQ', 'base64');
  const text = JSON.stringify({ eventVersion: '1.08', userIdentity: { type: 'IAMUser', principalId: 'AIDAEXAMPLE', arn: 'arn:aws:iam::123456789012:user/ana', accountId: '123456789012', userName: 'ana' }, eventTime: '2026-12-05T10:00:00Z', eventSource: 's3.amazonaws.com', eventName: 'GetObject', awsRegion: 'us-east-1', note: 'ü€😀' });
  assert.equal(decodeText(old), text);
  // Records written now use format 1's dictionary as those did: about the same size.
  const now = encodeText(text);
  assert.equal(now[0], 1);
  assert.ok(Math.abs(now.length - old.length) <= 8, `${now.length} vs ${old.length}`);
  assert.throws(() => decodeText(Buffer.from([2, 0, 0])), /unknown format 2/);
});

test('records are read through one kept zstd context into reused memory (no context, dictionary load and ArrayBuffer per record); a damaged one throws and the next reads', () => {
  const texts = Array.from({ length: 50 }, (_, i) => JSON.stringify({ eventName: `Get${i}`, requestParameters: { key: 'k'.repeat(i * 97), note: 'ü€😀' } }));
  const stored = texts.map(encodeText);
  const before = { ...recordDecodeStats };
  for (let round = 0; round < 3; round++) stored.forEach((z, i) => assert.equal(decodeText(z), texts[i]));
  assert.deepEqual({ reused: recordDecodeStats.reused - before.reused, fallback: recordDecodeStats.fallback - before.fallback }, { reused: 150, fallback: 0 });
  const damaged = Buffer.from(stored[7]!);
  damaged.fill(0xff, 8, 14);
  assert.throws(() => decodeText(damaged));
  assert.equal(decodeText(stored[8]!), texts[8]);
  assert.equal(decodeText(stored[7]!), texts[7]);
});
