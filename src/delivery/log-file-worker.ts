/**
 * A thread of the log-file pool (log-file-pool.ts): assembles a log file from record ranges of
 * shared memory, compresses it (gzip at LOG_FILE_GZIP's level, the bytes logFileBody gives) and, for a trail with
 * log file validation, hashes the uncompressed file. Nothing else runs here.
 */
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { assembleLogFile, LOG_FILE_GZIP } from './log-file.ts';
import type { PoolJob, PoolReply } from './log-file-pool.ts';

/**
 * This thread's nice value (Linux): above the process's, so that on a busy machine the request
 * path and the event store's threads run first and compression takes the CPU they leave (a log
 * file can wait a few ms; an ingest answer should not). Linux applies setpriority to one thread
 * when given its id (/proc/thread-self). Elsewhere, or when refused, the thread keeps the
 * process's priority. (docs/performance.md, "Delivery end to end, 2026-12-05 afternoon".)
 */
export const LOG_FILE_THREAD_NICE = 10;
try {
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  if (Number.isInteger(tid) && tid > 0 && getPriority(tid) < LOG_FILE_THREAD_NICE) setPriority(tid, LOG_FILE_THREAD_NICE);
} catch {
  // Not Linux, or not allowed: the process's priority.
}

/** Kept between jobs, up to this size (a batch's file is at most delivery.maxBytes, 16 MiB by default, plus commas). */
const KEEP_BYTES = 24 * 1024 * 1024;
let scratch: Buffer | undefined;

parentPort!.on('message', (job: PoolJob) => {
  let reply: PoolReply;
  const transfer: ArrayBuffer[] = [];
  try {
    const json = assembleLogFile(job, scratch);
    // (Only a Buffer with memory of its own: a small one may be a slice of node's shared pool.)
    if (json.buffer !== scratch?.buffer && json.byteOffset === 0 && json.buffer.byteLength === json.length && json.length <= KEEP_BYTES) scratch = json;
    const gz = gzipSync(json, LOG_FILE_GZIP);
    // A Buffer that owns its whole ArrayBuffer moves without a copy; a small one (a slice of node's
    // shared pool, which cannot move) is copied into memory of its own first.
    const body = gz.byteOffset === 0 && gz.buffer.byteLength === gz.length && gz.buffer instanceof ArrayBuffer ? new Uint8Array(gz.buffer) : new Uint8Array(gz);
    transfer.push(body.buffer);
    reply = { id: job.id, body, sha256: job.hash ? createHash('sha256').update(json).digest('hex') : undefined };
  } catch (e) {
    reply = { id: job.id, error: e instanceof Error ? e.message : String(e) };
  }
  parentPort!.postMessage(reply, transfer);
});
