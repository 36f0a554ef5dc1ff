/** The byte formats of events.db layout 2: round trips and the IdTable. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IdTable, decodeBlock, decodeChunk, decodeIds, decodePending, encodeBlock, encodeChunk, encodeIds, encodePending, hashString } from './event-format.ts';

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
