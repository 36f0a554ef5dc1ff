/** SyncWaiters (the calling thread's side of the syncer) and the store when its syncer thread stops. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { SyncWaiters } from './wal-sync.ts';
import { SqliteEventStore } from './sqlite-event-store.ts';
import { StoreUnavailableError } from '../errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'opentrail-wal-sync-'));
after(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }));

const settled = (p: Promise<unknown>, ms: number) =>
  Promise.race([p.then(() => 'resolved', () => 'rejected'), new Promise((r) => setTimeout(r, ms, 'pending'))]);

describe('SyncWaiters', () => {
  test('after failAll (the syncer stopped), a reply that comes later is rejected, not left waiting for a sync that never comes', async () => {
    const w = new SyncWaiters();
    w.failAll(() => new Error('the syncer stopped'));
    const p = new Promise<void>((resolve, reject) => w.wait(1, resolve, reject));
    assert.equal(await settled(p, 50), 'rejected');
    assert.equal(w.pending, 0);
  });

  test('a ticket already synced is answered even after failAll', async () => {
    const w = new SyncWaiters();
    w.onMessage({ synced: 2, ms: 1 }, (m) => new Error(m));
    w.failAll(() => new Error('the syncer stopped'));
    const p = new Promise<void>((resolve, reject) => w.wait(2, resolve, reject));
    assert.equal(await settled(p, 50), 'resolved');
  });
});

describe('SqliteEventStore: its syncer thread stops while a disk append is being committed', () => {
  test('the append is answered (503), it does not hang', async () => {
    const before = process.env.OPENTRAIL_TEST_COMMIT_STALL_MS;
    process.env.OPENTRAIL_TEST_COMMIT_STALL_MS = '500';
    let store: SqliteEventStore;
    try {
      store = new SqliteEventStore({ path: join(dir, 'events.db') });
    } finally {
      if (before === undefined) delete process.env.OPENTRAIL_TEST_COMMIT_STALL_MS;
      else process.env.OPENTRAIL_TEST_COMMIT_STALL_MS = before;
    }
    try {
      const p = store.append([{ accountId: '111111111111', region: 'us-east-1', eventId: 'e1', eventTimeSec: 1_767_225_600, json: '{"eventID":"e1"}' }]);
      p.catch(() => undefined);
      // The syncer stops while the writer holds the commit (stalled 500 ms): its reply comes after.
      await (store as unknown as { syncer: Worker }).syncer.terminate();
      const outcome = await settled(p, 5_000);
      assert.equal(outcome, 'rejected', 'the append answered');
      await assert.rejects(p, StoreUnavailableError);
    } finally {
      await store.close();
    }
  });
});
