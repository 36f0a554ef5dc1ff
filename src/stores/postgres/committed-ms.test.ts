/** PgEventStore.committedMsAfter on a real PostgreSQL: the ingestion time of the first event after a position (consumer lag, docs/operations.md). */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, type StartedPostgres } from '../../../test/helpers/postgres.ts';
import { PgEventStore } from './pg-event-store.ts';
import type { AppendInput } from '../event-store.ts';

let server: StartedPostgres;
before(async () => {
  server = await startPostgres();
});
after(async () => {
  await server?.destroy();
});

const ev = (eventId: string): AppendInput => ({ accountId: '111111111111', region: 'us-east-1', eventId, eventTimeSec: 1_767_225_600, json: `{"eventID":"${eventId}"}` });

test('committedMsAfter: each event\'s ingestion time, across appends; undefined past the end', async () => {
  let now = 1_767_225_600_000;
  const store = await PgEventStore.open({ url: await server.createDatabase('cms'), nowMs: () => now });
  try {
    assert.equal(await store.committedMsAfter(0), undefined, 'an empty log');
    const first = await store.append([ev('a-0'), ev('a-1'), ev('a-2')]);
    now += 60_000;
    const second = await store.append([ev('b-0')]);
    assert.equal(await store.committedMsAfter(0), now - 60_000, 'the oldest event');
    assert.equal(await store.committedMsAfter(first[1]!.seq), now - 60_000);
    assert.equal(await store.committedMsAfter(first[2]!.seq), now, 'after the first append: the second');
    assert.equal(await store.committedMsAfter(second[0]!.seq), undefined, 'at the end');
  } finally {
    await store.close();
  }
});
