/**
 * The event store's log-reader thread: its own read-only connection (query_only), answering
 * readAfterShared (sqlite-event-store.ts) off the main thread. Each read is one read transaction:
 * the blocks after a seq are decoded here and their records' bytes copied into one shared buffer,
 * so the thread that asked gets columns and bytes, no string per record (the main thread of a busy
 * server spent ~9-10 us per delivered event on that read: docs/performance.md, "Delivery end to
 * end, 2026-12-05 afternoon"). Which rows it may hand out (an fdatasync covers them) is decided by
 * the store on the calling thread, after the answer, as for readAfter.
 *
 * It runs at the process's priority, unlike the log-file pool's threads (nice 10): the scan waits
 * for each read, one at a time, so a starved reader holds delivery back; at nice 10 on a saturated
 * machine (load average ~34 on 2 cores) the drain after ingest took 17.8 s against 1.6 s for the
 * main thread's read (docs/performance.md, "Delivery's log read off the main thread").
 */
import { parentPort, workerData } from 'node:worker_threads';
import { EventReader, type ReaderOptions } from './event-reader.ts';
import type { SharedEventRows } from '../event-store.ts';

export interface LogReadRequest {
  id: number;
  afterSeq: number;
  limit: number;
}

/** A failure as it crosses threads (the store rebuilds it and reports it as storeFailure does). */
export interface LogReadError {
  message: string;
  code?: unknown;
  errcode?: unknown;
  errstr?: unknown;
}

export type LogReadReply = { id: number; rows: SharedEventRows; error?: undefined } | { id: number; error: LogReadError };

const reader = new EventReader(workerData as ReaderOptions);
parentPort!.postMessage({ ready: true });

parentPort!.on('message', (m: LogReadRequest | { op: 'close' }) => {
  if ('op' in m) {
    reader.close();
    parentPort!.close();
    return;
  }
  let reply: LogReadReply;
  const transfer: ArrayBuffer[] = [];
  try {
    const rows = reader.readAfterShared(m.afterSeq, m.limit);
    for (const a of [rows.seq, rows.eventTimeSec, rows.off, rows.len, rows.account, rows.region, rows.category]) transfer.push(a.buffer as ArrayBuffer);
    reply = { id: m.id, rows };
  } catch (e) {
    const err = e as { message?: unknown; code?: unknown; errcode?: unknown; errstr?: unknown };
    reply = { id: m.id, error: { message: String(err?.message ?? e), code: err?.code, errcode: err?.errcode, errstr: err?.errstr } };
  }
  parentPort!.postMessage(reply, transfer);
});
