/** SqliteEventStore.committedMsAfter: the commit time of the first stored event after a position (consumer lag, docs/operations.md). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteEventStore } from './sqlite-event-store.ts';
import type { AppendInput } from '../event-store.ts';

const ev = (eventId: string): AppendInput => ({ accountId: '111111111111', region: 'us-east-1', eventId, eventTimeSec: 1_700_000_000, json: `{"eventID":"${eventId}"}` });

test('committedMsAfter: each event\'s commit time, across blocks and commits; undefined past the end', async () => {
  let now = 1_000;
  const store = new SqliteEventStore({ path: ':memory:', nowMs: () => now, blockEvents: 4 });
  try {
    assert.equal(await store.committedMsAfter(0), undefined, 'an empty log');
    // 10 events in one commit span three blocks; then 2 more in a later commit.
    const first = await store.append(Array.from({ length: 10 }, (_, i) => ev(`a-${i}`)));
    now = 5_000;
    const second = await store.append([ev('b-0'), ev('b-1')]);
    const seqs = [...first, ...second].map((o) => o.seq);
    assert.equal(await store.committedMsAfter(0), 1_000, 'the oldest event');
    for (let i = 0; i < 10; i++) assert.equal(await store.committedMsAfter(seqs[i]! - 1), 1_000, `before event ${i}`);
    assert.equal(await store.committedMsAfter(seqs[9]!), 5_000, 'after the first commit: the second');
    assert.equal(await store.committedMsAfter(seqs[10]!), 5_000);
    assert.equal(await store.committedMsAfter(seqs[11]!), undefined, 'at the end');
  } finally {
    await store.close();
  }
});
