/** The EventStore contract on SQLite: file-backed (with reopening) and in memory. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DatabaseSync } from 'node:sqlite';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runEventStoreContract } from '../event-store.suite.ts';
import { SqliteEventStore } from './sqlite-event-store.ts';
import { storeFailure } from './errors.ts';
import { StoreUnavailableError } from '../errors.ts';
import type { AppendInput } from '../event-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'opentrail-sqlite-events-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

runEventStoreContract('SqliteEventStore (file)', async () => new SqliteEventStore({ path: join(dir, `store-${++n}.db`) }), {
  persistent: async () => {
    const path = join(dir, `persistent-${++n}`, 'events.db'); // a directory that does not exist yet
    return async () => new SqliteEventStore({ path });
  },
});

runEventStoreContract('SqliteEventStore (:memory:)', async () => new SqliteEventStore({ path: ':memory:' }), { modelRuns: 80 });

describe('SqliteEventStore: appends in slices', () => {
  const ev = (eventId: string, attr = 'big'): AppendInput => ({
    accountId: '111111111111', region: 'us-east-1', eventId, eventTimeSec: 1_767_225_600,
    json: JSON.stringify({ eventID: eventId }), history: [['*', 'management'], ['EventName', attr]],
  });
  const q = (attr: string) => ({ accountId: '111111111111', region: 'us-east-1', attribute: ['EventName', attr] as const, startSec: 0, endSec: 4e9, limit: 10_000 });

  test('reads answer while an append is open (second connection), and see none of it, not even its new Event history keys', async () => {
    const store = new SqliteEventStore({ path: join(dir, `slices-${++n}.db`) });
    try {
      await store.append([ev('seed', 'seed')]);
      let resolved = false;
      const appending = store.append(Array.from({ length: 5000 }, (_, i) => ev(`e-${i}`, 'new-key'))).then(() => (resolved = true));
      let during = 0;
      while (!resolved) {
        await new Promise((r) => setImmediate(r));
        const [count, rows, found] = await Promise.all([store.count(), store.readAfter(0, 10_000), store.lookup(q('new-key'))]);
        if (resolved) break;
        during++;
        assert.deepEqual([count, rows.length, found.length], [1, 1, 0]);
      }
      await appending;
      assert.ok(during >= 1, 'no read answered while the append was open');
      assert.equal((await store.lookup(q('new-key'))).length, 5000);
    } finally {
      await store.close();
    }
  });

  test('close() waits for an open append, which commits', async () => {
    const path = join(dir, `slices-${++n}.db`);
    const store = new SqliteEventStore({ path });
    const appending = store.append(Array.from({ length: 5000 }, (_, i) => ev(`c-${i}`)));
    await new Promise((r) => setImmediate(r));
    await store.close();
    assert.equal((await appending).length, 5000);
    const again = new SqliteEventStore({ path });
    try {
      assert.equal(await again.count(), 5000);
    } finally {
      await again.close();
    }
  });

  test('a long prune runs in steps between which appends commit', async () => {
    const store = new SqliteEventStore({ path: join(dir, `slices-${++n}.db`), sliceRows: 100 });
    try {
      await store.append(Array.from({ length: 3000 }, (_, i) => ev(`old-${i}`)));
      await new Promise((r) => setTimeout(r, 5));
      const cutoff = Date.now();
      await new Promise((r) => setTimeout(r, 5));
      let prunedDone = false;
      const pruning = store.prune(1_767_225_601, cutoff).then((r) => {
        prunedDone = true;
        return r;
      });
      await new Promise((r) => setImmediate(r));
      const [mid] = await store.append([{ ...ev('mid', 'mid'), eventTimeSec: 1_767_225_700 }]);
      assert.equal(prunedDone, false, 'the append waited for the whole prune');
      const res = await pruning;
      assert.equal(res.historyRows, 6000, 'the old events\' history rows, not the new one\'s');
      assert.ok(res.events === 3000, `events ${res.events}`);
      assert.deepEqual((await store.readAfter(0, 10)).map((r) => r.seq), [mid!.seq]);
    } finally {
      await store.close();
    }
  });
});

/** Real SQLite failures: the store's connection capped at its size (max_page_count) fails with SQLITE_FULL as on a full disk. */
describe('SqliteEventStore: failures that pass by themselves', () => {
  const ev = (eventId: string, pad = 0): AppendInput => ({
    accountId: '111111111111', region: 'us-east-1', eventId, eventTimeSec: 1_767_225_600,
    json: JSON.stringify({ eventID: eventId, pad: 'x'.repeat(pad) }), history: [['*', 'management'], ['EventName', eventId]],
  });
  const capped = (sliceRows?: number) => {
    const store = new SqliteEventStore({ path: join(dir, `full-${++n}.db`), sliceRows });
    const db = (store as unknown as { db: DatabaseSync }).db;
    const pages = (db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count;
    return { store, db, fill: () => db.exec(`PRAGMA max_page_count = ${pages}`), free: () => db.exec('PRAGMA max_page_count = 1073741823') };
  };

  test('SQLITE_FULL rejects with StoreUnavailableError (the SQLite error as cause), rolls back all of the batch and its follow, and the next append succeeds', async () => {
    const { store, db, fill, free } = capped();
    try {
      fill();
      const err = await store.append([ev('a'), ev('b', 50_000)], 'disk', () => [ev('audit')]).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof StoreUnavailableError, `rejected with ${String(err)}`);
      assert.match(err.message, /^events\.db: append failed: SQLITE_FULL/);
      assert.equal(((err.cause as { errcode: number }).errcode & 0xff), 13);
      assert.equal(db.isTransaction, false);
      assert.equal(await store.count(), 0);
      free();
      const out = await store.append([ev('a'), ev('c', 50_000)], 'disk', (o) => [ev(`audit-${o.length}`)]);
      assert.deepEqual(out.map((o) => o.duplicate), [false, false, false]);
      assert.equal(await store.count(), 3);
      const found = await store.lookup({ accountId: '111111111111', region: 'us-east-1', attribute: ['EventName', 'a'], startSec: 0, endSec: 4e9, limit: 10 });
      assert.equal(found.length, 1, 'history keys created in the failed transaction are not used');
    } finally {
      await store.close();
    }
  });

  test('SQLITE_FULL in a later slice of a large append: nothing stored, no transaction left open, key ids of the failed transaction never answer a lookup', async () => {
    const { store, db } = capped(50); // 50 rows of 1 KB a slice: the cap is reached after several
    try {
      await store.append([ev('seed')]);
      const pages = (db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count;
      // Room for some slices of the batch, not for all of it.
      db.exec(`PRAGMA max_page_count = ${pages + 300}`);
      const batch = Array.from({ length: 3000 }, (_, i) => ev(`lost-${i}`, 1000));
      let settled = false;
      const failing = store.append(batch).finally(() => (settled = true));
      let turns = 0;
      const count = () => setImmediate(() => {
        if (settled) return;
        turns++;
        count();
      });
      count();
      const err = await failing.then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof StoreUnavailableError, `rejected with ${String(err)}`);
      assert.ok(turns >= 2, `the failure came after ${turns} turns of the event loop: not in a later slice`);
      assert.equal(db.isTransaction, false);
      assert.equal(await store.count(), 1);
      db.exec('PRAGMA max_page_count = 1073741823');
      // New keys now take the ids the rolled-back transaction had handed out.
      await store.append(Array.from({ length: 50 }, (_, i) => ev(`fresh-${i}`)));
      const lost = await store.lookup({ accountId: '111111111111', region: 'us-east-1', attribute: ['EventName', 'lost-0'], startSec: 0, endSec: 4e9, limit: 10 });
      assert.deepEqual(lost, [], 'a key id of the failed transaction answered a lookup');
      const fresh = await store.lookup({ accountId: '111111111111', region: 'us-east-1', attribute: ['EventName', 'fresh-7'], startSec: 0, endSec: 4e9, limit: 10 });
      assert.equal(fresh.length, 1);
    } finally {
      await store.close();
    }
  });

  test('a follow that throws stores nothing and rejects with its error', async () => {
    const { store } = capped();
    try {
      await assert.rejects(store.append([ev('x')], 'disk', () => {
        throw new Error('no record');
      }), /no record/);
      assert.equal(await store.count(), 0);
    } finally {
      await store.close();
    }
  });

  test('a mistake in a statement is not reported as unavailable', async () => {
    const err = storeFailure(Object.assign(new Error('no such table: x'), { code: 'ERR_SQLITE_ERROR', errcode: 1 }), 'events.db', 'append');
    assert.ok(!(err instanceof StoreUnavailableError));
    for (const errcode of [5, 10, 13, 14, 266 /* SQLITE_IOERR_READ */, 778 /* SQLITE_IOERR_WRITE */]) {
      assert.ok(storeFailure(Object.assign(new Error('x'), { code: 'ERR_SQLITE_ERROR', errcode }), 'events.db', 'append') instanceof StoreUnavailableError, `errcode ${errcode}`);
    }
    assert.ok(storeFailure(Object.assign(new Error('no space'), { code: 'ENOSPC' }), 'events.db', 'append') instanceof StoreUnavailableError);
  });
});
