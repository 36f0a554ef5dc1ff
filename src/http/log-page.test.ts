/**
 * GET /events' page over a real SQLite event store: each row of the log is walked once by a poller,
 * however quiet its account (the store counts the rows its readAfter returns).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '../stores/sqlite/sqlite-event-store.ts';
import type { AppendInput, StoredEvent } from '../stores/index.ts';
import { readLogPage } from './log-page.ts';

const dir = mkdtempSync(join(tmpdir(), 'opentrail-log-page-'));
after(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }));

/** A real store that counts the rows its readAfter calls return. */
class Counting extends SqliteEventStore {
  rowsRead = 0;
  override async readAfter(afterSeq: number, limit: number, accountId?: string, maxBytes?: number): Promise<StoredEvent[]> {
    const rows = await super.readAfter(afterSeq, limit, accountId, maxBytes);
    this.rowsRead += rows.length;
    return rows;
  }
}

const QUIET = '222222222222';
const BUSY = '111111111111';
let id = 0;
const ev = (accountId: string, pad = 0): AppendInput => {
  const eventId = `e-${++id}`;
  return { accountId, region: 'us-east-1', eventId, eventTimeSec: 1_790_000_000 + id, json: JSON.stringify({ eventID: eventId, recipientAccountId: accountId, pad: 'x'.repeat(pad) }) };
};

describe('GET /events pages (readLogPage)', () => {
  test('a quiet account\'s poller walks each row of the log once; the page contract holds (empty = nothing more now, next continues)', async () => {
    const store = new Counting({ path: join(dir, 'quiet.db') });
    try {
      await store.append([ev(QUIET)]);
      for (let b = 0; b < 5; b++) await store.append(Array.from({ length: 1000 }, () => ev(BUSY)));
      const page = (after: number) => readLogPage(store, { after, limit: 1000, accountId: QUIET, maxBytes: 1 << 20, batchRows: 500 });
      // First read: the quiet account's one record, then an empty page at the end of the log.
      const first = await page(0);
      assert.deepEqual(first.rows.map((r) => r.accountId), [QUIET]);
      const end = await page(first.next);
      assert.deepEqual(end.rows, []);
      assert.equal(end.next, await store.lastSeq(), 'next moves past the rows of other accounts');
      // Polls while only other accounts write: each new row is walked once.
      for (let p = 0; p < 10; p++) {
        await store.append(Array.from({ length: 100 }, () => ev(BUSY)));
        const before = store.rowsRead;
        const poll = await page(end.next + p * 100);
        assert.deepEqual(poll.rows, []);
        assert.equal(store.rowsRead - before, 100, `poll ${p} walked only the rows written since the last one`);
        assert.equal(poll.next, end.next + (p + 1) * 100);
      }
      assert.equal(store.rowsRead, 1 + 5000 + 1000, 'every row walked once');
      // The caller's next record is found after the others'.
      await store.append([ev(QUIET)]);
      const found = await page(end.next + 1000);
      assert.equal(found.rows.length, 1);
      assert.equal(found.next, found.rows[0]!.seq);
    } finally {
      await store.close();
    }
  });

  test('limit, byte cap and the walk bound end a page at the right cursor: nothing skipped, nothing repeated', async () => {
    const store = new Counting({ path: join(dir, 'caps.db') });
    try {
      const mine: AppendInput[] = [];
      const batch: AppendInput[] = [];
      for (let i = 0; i < 300; i++) {
        const e = ev(i % 3 === 0 ? QUIET : BUSY, i % 3 === 0 ? 300 : 0);
        if (e.accountId === QUIET) mine.push(e);
        batch.push(e);
      }
      await store.append(batch);
      for (const opts of [{ limit: 7 }, { limit: 1000, maxBytes: 1500 }, { limit: 1000, maxScanRows: 20, batchRows: 10 }]) {
        const seen: string[] = [];
        let next = 0;
        let pages = 0;
        for (;;) {
          const p = await readLogPage(store, { after: next, accountId: QUIET, maxBytes: 1 << 20, ...opts });
          if (p.rows.length === 0) break;
          pages++;
          for (const r of p.rows) seen.push((JSON.parse(r.json) as { eventID: string }).eventID);
          next = p.next;
        }
        assert.deepEqual(seen, mine.map((e) => e.eventId), JSON.stringify(opts));
        assert.ok(pages > 1, `${JSON.stringify(opts)} split the answer into pages`);
      }
    } finally {
      await store.close();
    }
  });
});
