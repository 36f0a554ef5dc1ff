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

/** Real SQLite failures: the store's connection capped at its size (max_page_count) fails with SQLITE_FULL as on a full disk. */
describe('SqliteEventStore: failures that pass by themselves', () => {
  const ev = (eventId: string, pad = 0): AppendInput => ({
    accountId: '111111111111', region: 'us-east-1', eventId, eventTimeSec: 1_767_225_600,
    json: JSON.stringify({ eventID: eventId, pad: 'x'.repeat(pad) }), history: [['*', 'management'], ['EventName', eventId]],
  });
  const capped = () => {
    const store = new SqliteEventStore({ path: join(dir, `full-${++n}.db`) });
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
