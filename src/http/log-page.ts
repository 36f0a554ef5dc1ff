/**
 * One page of `GET /events` (docs/ingest.md "Reading the log"): the caller's account's records
 * after a cursor. The log is read in order across all accounts, a bounded batch at a time, each
 * row once, and filtered here (as the live tail does, src/realtime/live-tail.ts), instead of
 * asking the store for the account's rows: that walked every later row of other accounts on each
 * request and, when fewer than `limit` were the caller's, to the end of the log, and answered
 * `next` = `after` on an empty page, so a quiet account's poller walked the same rows again on
 * every poll, synchronously.
 *
 * - `next` is the seq of the last row read (the caller's or not) whose successor was not left
 *   out: a poller continues after the rows it has already been through, however quiet its account.
 * - An empty page still means "nothing more now" (the contract clients loop on): the walk only
 *   stops early (`maxScanRows`) once the page holds at least one record.
 * - Between batches the event loop gets a turn, so a long walk never stalls other callers.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { EventStore, StoredEvent } from '../stores/index.ts';

export interface LogPageOptions {
  after: number;
  limit: number;
  accountId: string;
  /** Bytes of records in the page (at least one record). */
  maxBytes: number;
  /** Rows read from the store per call (default 1000). */
  batchRows?: number;
  /** Once the page holds a record, rows walked at most before it is answered (default 100,000). */
  maxScanRows?: number;
}

export interface LogPage {
  rows: StoredEvent[];
  next: number;
}

export async function readLogPage(store: Pick<EventStore, 'readAfter'>, opts: LogPageOptions): Promise<LogPage> {
  const batchRows = opts.batchRows ?? 1000;
  const maxScanRows = opts.maxScanRows ?? 100_000;
  const rows: StoredEvent[] = [];
  let bytes = 0;
  let next = opts.after;
  let scanned = 0;
  for (let first = true; ; first = false) {
    if (!first) await nextTurn();
    // maxBytes bounds the batch held in memory too (at least one row is always returned).
    const batch = await store.readAfter(next, batchRows, undefined, opts.maxBytes);
    if (batch.length === 0) return { rows, next };
    for (const row of batch) {
      if (row.accountId === opts.accountId) {
        const size = Buffer.byteLength(row.json);
        if (rows.length > 0 && bytes + size > opts.maxBytes) return { rows, next };
        rows.push(row);
        bytes += size;
      }
      next = row.seq;
      if (rows.length >= opts.limit) return { rows, next };
    }
    scanned += batch.length;
    if (rows.length > 0 && scanned >= maxScanRows) return { rows, next };
  }
}
