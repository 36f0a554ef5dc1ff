/** The byte formats of events.db layout 2: round trips, raw frames, id filters and the IdTable. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib, { constants, createZstdCompress, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import fc from 'fast-check';
import {
  BlockView, FrameDecoder, IdFilter, ZSTD_LEVEL, IdTable, RAW_BELOW, decodeBlock, decodeChunk, decodeIds, decodePending, encodeBlock, encodeChunk, encodeIdFilter, encodeIds, encodePending,
  hashString, idKeyText, rawFrame, unpack,
} from './event-format.ts';
import { FrameEncoder, frameContentSize } from '../zstd-frames.ts';

test('a block round-trips its header and records byte for byte (unicode, summary or none)', () => {
  const events = [
    { seq: 7, accountId: '111111111111', region: 'us-east-1', eventId: 'a', eventTimeSec: 1_767_225_600, inHistory: true, json: '{"x":"ü€😀\\u2028"}', summary: '{"EventName":"X"}' },
    { seq: 9, accountId: '222222222222', region: 'eu-west-1', eventId: 'b', eventTimeSec: -5, inHistory: false, json: 'y'.repeat(70_000), summary: undefined },
  ];
  const { events: back } = decodeBlock(encodeBlock(events));
  assert.deepEqual(back.map((e) => ({ seq: e.seq, accountId: e.accountId, region: e.region, eventId: e.eventId, eventTimeSec: e.eventTimeSec, inHistory: e.inHistory, json: e.json, summary: e.summary })), events);
});

test('a pending row round-trips keys, postings and ids', () => {
  const p = { firstSeq: 3, lastSeq: 5, n: 2, keys: [{ text: 'a\u0000b', k: 12345678901234 }, { text: 'c', k: 1 }], postings: Float64Array.from([0, 100, 3, 1, 100, 3, 0, 99, 5]), ids: Float64Array.from([42, 100, 3, 43, 99, 5]) };
  assert.deepEqual(decodePending(3, 5, encodePending(p)), p);
});

test('blocks and pending rows of many sizes round-trip (zstd window sized to the input)', () => {
  for (const size of [0, 1, 900, 20_000, 300_000, 3_000_000]) {
    const json = JSON.stringify({ pad: 'x'.repeat(size), n: size });
    const back = decodeBlock(encodeBlock([{ seq: 1, accountId: 'a', region: 'r', eventId: 'e', eventTimeSec: 5, inHistory: true, json }]));
    assert.equal(back.events[0]!.json, json);
  }
});

test('a posting chunk round-trips (t desc, seq in any order, negative times, 53-bit values) in a few bytes an entry', () => {
  for (const n of [1, 4, 5, 256]) {
    const t = Array.from({ length: n }, (_, i) => 1_767_225_600 - Math.floor(i / 3));
    const seq = Array.from({ length: n }, (_, i) => 1_000_000 - i * 7 + (i % 2) * 20);
    const data = encodeChunk(t, seq);
    assert.equal(data[0], 2);
    if (n === 256) assert.ok(data.length < 5 * n, `${data.length} bytes for ${n} entries`);
    const back = decodeChunk(data);
    assert.deepEqual([...back.t], t);
    assert.deepEqual([...back.seq], seq);
  }
  const part = decodeChunk(encodeChunk(Float64Array.from([9, 8, 7, 6]), Float64Array.from([40, 30, 20, 10]), 1, 3));
  assert.deepEqual([[...part.t], [...part.seq]], [[8, 7], [30, 20]]);
  const odd = decodeChunk(encodeChunk([2 ** 40, -5, -7], [2 ** 52, 3, 2 ** 51]));
  assert.deepEqual([[...odd.t], [...odd.seq]], [[2 ** 40, -5, -7], [2 ** 52, 3, 2 ** 51]]);
  const ids = Float64Array.from([2 ** 52 + 1, 5]);
  assert.deepEqual(decodeIds(encodeIds(ids)), ids);
});

test('hashString: 53 bits by default, fewer when asked, deterministic', () => {
  const h = hashString('111111111111\u0000us-east-1\u0000EventName\u0000PutObject');
  assert.ok(Number.isSafeInteger(h) && h >= 0);
  assert.equal(h, hashString('111111111111\u0000us-east-1\u0000EventName\u0000PutObject'));
  assert.notEqual(h, hashString('111111111111\u0000us-east-1\u0000EventName\u0000PutObjecu'));
  for (let i = 0; i < 100; i++) assert.ok(hashString(`k${i}`, 3) < 8);
});

test('IdTable: never misses an added hash, mostly answers absent for others, and reports when it must grow', () => {
  const table = new IdTable();
  const cap = table.capacity;
  const added: number[] = [];
  for (let i = 0; !table.full; i++) {
    const k = hashString(`id-${i}`);
    table.add(k);
    added.push(k);
  }
  assert.equal(table.capacity, cap, 'the table never grows by itself (the writer rebuilds it)');
  assert.ok(table.size >= cap * 0.75 - 1);
  assert.ok(added.every((k) => table.mayHave(k)), 'an added id was missed');
  let hits = 0;
  for (let i = 0; i < 10_000; i++) if (table.mayHave(hashString(`other-${i}`))) hits++;
  assert.ok(hits < 100, `${hits} false hits in 10,000`);
  const big = new IdTable(1_000_000);
  assert.ok(big.capacity * 0.75 >= 1_000_000);
  // A tiny hash makes every id collide: the table still answers "maybe" for all of them.
  const tiny = new IdTable();
  for (let i = 0; i < 50; i++) tiny.add(hashString(`x${i}`, 2));
  for (let i = 0; i < 50; i++) assert.ok(tiny.mayHave(hashString(`y${i}`, 2)));
});

test('a small block or pending row is a raw zstd frame: standard (zstd itself reads it), read without a zstd call, 12 bytes over its payload', () => {
  const event = { seq: 1, accountId: '111111111111', region: 'us-east-1', eventId: 'e', eventTimeSec: 5, inHistory: true, json: '{"eventID":"e","x":"ü"}', summary: '{"EventId":"e"}' };
  const block = encodeBlock([event]);
  const payload = zstdDecompressSync(block); // what a build before raw frames does with it
  assert.equal(block.length, payload.length + 12);
  assert.ok(block.subarray(12).equals(payload), 'the payload is stored as is');
  assert.equal(decodeBlock(block).events[0]!.json, event.json);
  const p = { firstSeq: 1, lastSeq: 1, n: 1, keys: [{ text: 'a\u0000b', k: 7 }], postings: Float64Array.from([0, 5, 1]), ids: Float64Array.from([9, 5, 1]) };
  const row = encodePending(p);
  assert.equal(row.length, zstdDecompressSync(row).length + 12);
  assert.deepEqual(decodePending(1, 1, row), p);
  // Payloads from RAW_BELOW on are compressed as before.
  const big = encodeBlock([{ ...event, json: JSON.stringify({ pad: 'x'.repeat(RAW_BELOW) }) }]);
  assert.ok(big.length < RAW_BELOW / 2, `${big.length} bytes: compressed`);
  for (const size of [1, 100, 4095, 100_000]) {
    const bytes = Buffer.alloc(size, 0x5a);
    bytes[0] = 0xa0; // a payload that starts like a frame header changes nothing
    assert.ok(unpack(rawFrame(bytes)).equals(bytes));
    assert.ok(zstdDecompressSync(rawFrame(bytes)).equals(bytes));
  }
});

test('blocks and pending rows written before raw frames (every payload zstd-compressed) still decode', () => {
  const events = [
    { seq: 3, accountId: '111111111111', region: 'us-east-1', eventId: 'a', eventTimeSec: 10, inHistory: true, json: '{"eventID":"a"}', summary: undefined },
  ];
  const p = { firstSeq: 3, lastSeq: 3, n: 1, keys: [{ text: 'k', k: 11 }], postings: Float64Array.from([0, 10, 3]), ids: Float64Array.from([12, 10, 3]) };
  // The layout-2 writer before 2026-12-04 compressed every payload: re-frame today's as it did.
  const oldBlock = zstdCompressSync(unpack(encodeBlock(events)));
  const oldRow = zstdCompressSync(unpack(encodePending(p)));
  assert.notEqual(oldBlock[4], 0xa0, 'a compressed frame');
  const back = decodeBlock(oldBlock).events[0]!;
  assert.deepEqual({ seq: back.seq, eventId: back.eventId, json: back.json, summary: back.summary }, { seq: 3, eventId: 'a', json: '{"eventID":"a"}', summary: undefined });
  assert.deepEqual(decodePending(3, 3, oldRow), p);
});

test('an id filter never misses an id it was built from (property), whatever the ids and their count', () => {
  fc.assert(fc.property(
    fc.array(fc.oneof(fc.string(), fc.uuid()), { minLength: 0, maxLength: 3000 }), fc.integer({ min: 2, max: 53 }),
    (ids, bits) => {
      const ks = Float64Array.from(ids, (id) => hashString(idKeyText('111111111111', id), bits));
      const filter = new IdFilter(encodeIdFilter(ks));
      return ks.every((k) => filter.mayHave(k));
    },
  ), { numRuns: 200 });
});

test('an id filter of a full bucket (65,536 ids) is 10 bits an id and answers maybe for about 1 % of other ids', () => {
  const ks = Float64Array.from({ length: 65_536 }, (_, i) => hashString(idKeyText('111111111111', `id-${i}`)));
  const blob = encodeIdFilter(ks);
  assert.ok(blob.length <= (65_536 * 10) / 8 + 64 + 8, `${blob.length} bytes`);
  const filter = new IdFilter(blob);
  assert.ok(ks.every((k) => filter.mayHave(k)));
  let maybe = 0;
  const others = 200_000;
  for (let i = 0; i < others; i++) if (filter.mayHave(hashString(idKeyText('111111111111', `other-${i}`)))) maybe++;
  const rate = maybe / others;
  assert.ok(rate > 0 && rate < 0.015, `false positive rate ${rate}`);
  assert.equal(new IdFilter(encodeIdFilter([])).mayHave(ks[0]!), false, 'an empty bucket holds nothing');
});


/** A zstd frame that does not declare its content size (written by a stream in several writes). */
async function streamedFrame(parts: Buffer[]): Promise<Buffer> {
  const z = createZstdCompress();
  const out: Buffer[] = [];
  z.on('data', (c: Buffer) => out.push(c));
  const done = new Promise((resolve) => z.on('end', resolve));
  for (const p of parts) await new Promise<void>((resolve) => z.write(p, () => resolve()));
  z.end();
  await done;
  return Buffer.concat(out);
}

test('FrameDecoder decodes every kind of frame as zstdDecompressSync does, into scratch memory kept until reset()', async () => {
  const d = new FrameDecoder();
  const payloads = [Buffer.from('x'), Buffer.alloc(5000, 7), Buffer.from(JSON.stringify({ a: 'ü€😀'.repeat(3000) })), Buffer.alloc(900_000, 'abc'), Buffer.alloc(3_000_000, 'z')];
  const frames = payloads.map((p) => zstdCompressSync(p));
  // Sizes as they declare them (node's one-shot call writes the content size in the header).
  assert.deepEqual(frames.map((f) => frameContentSize(f)), payloads.map((p) => p.length));
  const streamed = await streamedFrame([Buffer.alloc(3000, 'q'), Buffer.alloc(3000, 'r')]);
  assert.equal(frameContentSize(streamed), undefined);
  const all = [...frames, rawFrame(Buffer.from('raw payload')), streamed];
  const views = all.map((f) => d.decode(f));
  // Every view still holds its bytes: nothing is overwritten before reset(), even past one chunk.
  for (let i = 0; i < all.length; i++) assert.deepEqual(views[i], zstdDecompressSync(all[i]!), `frame ${i}`);
  assert.ok(d.stats.reused >= 3, JSON.stringify(d.stats));
  // The 3 MB frame (over a chunk) and the one without a size went to zstdDecompressSync.
  assert.equal(d.stats.fallback, 2);
  d.reset();
  assert.deepEqual(d.decode(frames[2]!), payloads[2]);
});

test('FrameDecoder: a damaged frame throws as zstdDecompressSync does, and the next frames decode', () => {
  const d = new FrameDecoder();
  const payload = Buffer.from(Array.from({ length: 4000 }, (_, i) => `${(i * 2654435761) % 1000003},`).join(''));
  const good = zstdCompressSync(payload);
  assert.ok(good.length > 200);
  const bad = Buffer.from(good);
  bad.fill(0xff, 20, 120);
  const short = good.subarray(0, good.length - 10);
  for (const broken of [bad, short]) {
    assert.throws(() => d.decode(broken));
    assert.deepEqual(d.decode(good), payload);
  }
});

test('a block decoded through a FrameDecoder reads as one decoded on its own', () => {
  const d = new FrameDecoder();
  const events = Array.from({ length: 8 }, (_, i) => ({ seq: i + 1, accountId: 'a', region: 'r', eventId: `e${i}`, eventTimeSec: i, inHistory: true, json: JSON.stringify({ i, pad: 'p'.repeat(1500 + i) }), summary: `{"EventId":"e${i}"}` }));
  const data = encodeBlock(events);
  const viaDecoder = decodeBlock(data, d).events.map((e) => [e.seq, e.json, e.summary]);
  assert.deepEqual(viaDecoder, decodeBlock(data).events.map((e) => [e.seq, e.json, e.summary]));
  assert.equal(d.stats.reused, 1);
});

test('FrameEncoder: standard frames (zstd itself reads them) declaring their size, one context kept across frames of any size, the level honoured', () => {
  const enc = new FrameEncoder(ZSTD_LEVEL);
  assert.equal(enc.level, ZSTD_LEVEL);
  const text = Array.from({ length: 3000 }, (_, i) => `{"eventID":"${(i * 2654435761) % 1000003}","eventName":"Put${i % 7}","ü€😀":${i}}`).join(',');
  const payloads = [Buffer.from('x'), Buffer.alloc(5000, 7), Buffer.from(text), Buffer.alloc(900_000, 'abc'), Buffer.alloc(5_000_000, 'z'), Buffer.from(text.slice(0, 20_000))];
  const frames = payloads.map((b) => enc.compress(b));
  for (let i = 0; i < payloads.length; i++) {
    assert.ok(zstdDecompressSync(frames[i]!).equals(payloads[i]!), `payload ${i}`);
    assert.equal(frameContentSize(frames[i]!), payloads[i]!.length, `payload ${i} declares its size`);
  }
  assert.deepEqual(enc.stats, { reused: payloads.length, fallback: 0 });
  // Nothing carries over from one frame to the next: a frame is the same from a fresh encoder.
  assert.ok(new FrameEncoder(ZSTD_LEVEL).compress(payloads[5]!).equals(frames[5]!));
  // Each frame is its own buffer, not a view of the encoder's scratch.
  assert.ok(zstdDecompressSync(frames[1]!).equals(payloads[1]!));
  // The level is applied to every frame, not only the first (node's reset() would drop it).
  const strong = new FrameEncoder(9);
  strong.compress(payloads[1]!);
  const a = strong.compress(Buffer.from(text));
  const weak = new FrameEncoder(-5);
  weak.compress(payloads[1]!);
  const b = weak.compress(Buffer.from(text));
  assert.ok(a.length < frames[2]!.length && frames[2]!.length < b.length, `${a.length} < ${frames[2]!.length} < ${b.length}`);
  // As node's one-shot call at the same level would write it, within a few bytes.
  assert.ok(Math.abs(frames[2]!.length - zstdCompressSync(Buffer.from(text), { params: { [constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL } }).length) < 64);
});

test('FrameEncoder: a context that fails is dropped, that frame compressed by the one-shot call, the next by a new context', () => {
  const enc = new FrameEncoder(ZSTD_LEVEL);
  const payload = Buffer.from('abc'.repeat(5000));
  enc.compress(payload);
  (enc as unknown as { engine: { _handle: null } }).engine._handle = null;
  const frame = enc.compress(payload);
  assert.ok(zstdDecompressSync(frame).equals(payload));
  assert.deepEqual(enc.stats, { reused: 1, fallback: 1 });
  assert.ok(zstdDecompressSync(enc.compress(payload)).equals(payload));
  assert.deepEqual(enc.stats, { reused: 2, fallback: 1 });
  assert.ok(zstdDecompressSync(enc.compress(Buffer.alloc(0))).length === 0, 'an empty payload is a valid frame');
});

test('FrameEncoder and FrameDecoder on a Node whose zstd streams do not look as expected: every frame by the one-shot calls, without a stream made per frame', () => {
  const original = { ZstdCompress: zlib.ZstdCompress, ZstdDecompress: zlib.ZstdDecompress };
  const made = { ZstdCompress: 0, ZstdDecompress: 0 };
  const patched = zlib as unknown as Record<string, unknown>;
  for (const name of ['ZstdCompress', 'ZstdDecompress'] as const) {
    // Internals that differ: the stream keeps no _writeState.
    patched[name] = class extends (original[name] as typeof zlib.ZstdCompress) {
      constructor(opts?: zlib.ZstdOptions) {
        super(opts);
        made[name]++;
        (this as unknown as { _writeState?: unknown })._writeState = undefined;
      }
    };
  }
  try {
    const enc = new FrameEncoder(ZSTD_LEVEL);
    const dec = new FrameDecoder();
    const payload = Buffer.from('abc'.repeat(5000));
    for (let i = 0; i < 20; i++) {
      const frame = enc.compress(payload);
      assert.ok(zstdDecompressSync(frame).equals(payload));
      assert.ok(dec.decode(frame).equals(payload));
    }
    assert.deepEqual(enc.stats, { reused: 0, fallback: 20 });
    assert.deepEqual(made, { ZstdCompress: 1, ZstdDecompress: 1 }, 'a zstd stream (a native context) made for every frame, then left for the one-shot call');
  } finally {
    Object.assign(patched, original);
  }
});

const fields = (e: { seq: number; accountId: string; region: string; eventId: string; eventTimeSec: number; inHistory: boolean; json: string; summary?: string | undefined } | undefined) =>
  e && [e.seq, e.accountId, e.region, e.eventId, e.eventTimeSec, e.inHistory, e.json, e.summary];

test('BlockView reads every event of a block as decodeBlock does, whatever the strings (quotes, backslashes, brackets) and the order asked (property)', () => {
  const text = fc.string({ unit: fc.constantFrom('"', '\\', '[', ']', ',', 'a', 'ü', '😀', '\n', '\u2028', '0', 'null') });
  const event = fc.record({ accountId: text, region: text, eventId: text, eventTimeSec: fc.integer({ min: -1e10, max: 1e10 }), inHistory: fc.boolean(), json: text, summary: fc.option(text, { nil: undefined }) });
  fc.assert(fc.property(fc.array(event, { minLength: 1, maxLength: 12 }), fc.integer({ min: 0, max: 2 ** 40 }), fc.boolean(), (events, base, viaDecoder) => {
    const block = encodeBlock(events.map((e, i) => ({ ...e, seq: base + i })));
    const d = viaDecoder ? new FrameDecoder() : undefined;
    const view = new BlockView(base, base + events.length - 1, block, d);
    const want = decodeBlock(block).events;
    for (const i of [...want.keys()].reverse()) assert.deepEqual(fields(view.event(base + i)), fields(want[i]));
    assert.equal(view.event(base + events.length), undefined);
    assert.equal(view.event(base - 1), undefined);
    assert.equal(view.parsedWhole, false, 'scanned, not parsed whole');
  }), { numRuns: 300 });
});

test('BlockView reads a header it cannot scan (not JSON.stringify\'s text) by parsing it whole', () => {
  // Spaces before the first row, and then only between the rows (the first row scans, the second does not).
  for (const text of [' [ [5, "a", "r", "e5", 10, 1, 3, null] , [6,"a","r","e6",11,0,2,"{\\"S\\":1}"] ] ', '[[5,"a","r","e5",10,1,3,null], [6,"a","r","e6",11,0,2,"{\\"S\\":1}"]]']) {
    const header = Buffer.from(text);
    const payload = Buffer.concat([Buffer.alloc(4), header, Buffer.from('abcde')]);
    payload.writeUInt32LE(header.length, 0);
    for (const order of [[5, 6], [6, 5]]) {
      const view = new BlockView(5, 6, rawFrame(payload));
      for (const seq of order) {
        assert.deepEqual(fields(view.event(seq)), seq === 6 ? [6, 'a', 'r', 'e6', 11, false, 'de', '{"S":1}'] : [5, 'a', 'r', 'e5', 10, true, 'abc', undefined]);
      }
      assert.equal(view.parsedWhole, true);
    }
  }
});
