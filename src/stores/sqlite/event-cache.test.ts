import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventCache } from './event-cache.ts';
import type { BlockEvent } from './event-format.ts';

function event(seq: number, size: number, summary?: string): BlockEvent {
  const json = JSON.stringify({ seq, pad: 'x'.repeat(Math.max(0, size - 20)), u: 'é€' });
  return { seq, accountId: '111111111111', region: 'us-east-1', eventId: `id-${seq}`, eventTimeSec: 1000 + seq, inHistory: seq % 3 !== 0, json, summary };
}

test('EventCache: every event still kept reads back exactly as put, however the ring wrapped; the oldest leave first; the newest stays', () => {
  const cache = new EventCache(64 * 1024);
  const put = new Map<number, BlockEvent>();
  let x = 12345;
  const rnd = (n: number) => ((x = (x * 1103515245 + 12345) % 2 ** 31) % n);
  // 9,000 puts: more than the 4,096 evictions after which the eviction order is compacted.
  for (let seq = 1; seq <= 9000; seq++) {
    const e = event(seq, 200 + rnd(3000), rnd(4) === 0 ? undefined : rnd(5) === 0 ? '' : `{"s":${seq}}`);
    put.set(seq, e);
    // Bytes given (as a decoded block has them) or not (encoded from json).
    cache.put(seq % 7, e, seq % 2 === 0 ? Buffer.from(e.json) : undefined);
    assert.ok(cache.get(seq), `the event just put (${seq}) is kept`);
    if (seq % 97 === 0) {
      let lowestKept = Infinity;
      for (let s = 1; s <= seq; s++) {
        const got = cache.get(s);
        if (!got) {
          assert.ok(s < lowestKept || lowestKept === Infinity, `event ${s} gone while an older one (${lowestKept}) is kept: not first in, first out`);
          continue;
        }
        lowestKept = Math.min(lowestKept, s);
        const want = put.get(s)!;
        assert.equal(got.json, want.json, `record of ${s}`);
        assert.equal(got.summary, want.summary, `summary of ${s}`);
        assert.deepEqual([got.seq, got.first, got.accountId, got.region, got.eventId, got.eventTimeSec, got.inHistory], [s, s % 7, want.accountId, want.region, want.eventId, want.eventTimeSec, want.inHistory]);
      }
      // At ~1.7 KB an event, a 64 KiB slab holds a few dozen of the newest.
      assert.ok(cache.size >= 10 && cache.size <= 64 * 1024 / 200, `kept ${cache.size}`);
    }
  }
});

test('EventCache: an event larger than a quarter of the slab is not kept; putting a kept seq again changes nothing', () => {
  const cache = new EventCache(64 * 1024);
  cache.put(1, event(1, 20_000));
  assert.equal(cache.get(1), undefined);
  const e = event(2, 500, 'sum');
  cache.put(1, e);
  cache.put(9, { ...e, json: '{"other":true}' });
  assert.equal(cache.get(2)!.json, e.json);
  assert.equal(cache.get(2)!.first, 1);
});
