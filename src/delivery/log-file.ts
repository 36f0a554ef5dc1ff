/**
 * A CloudTrail log file: gzip of `{"Records":[...]}` with each record's stored JSON verbatim.
 * Deterministic: the same records in the same order give the same bytes (no time in the gzip header).
 */
import { gzip } from 'node:zlib';
import { promisify } from 'node:util';

const gzipAsync = promisify(gzip);

/** The uncompressed log file: what digests hash. */
export function logFileJson(recordsJson: readonly string[]): Buffer {
  return Buffer.from(`{"Records":[${recordsJson.join(',')}]}`);
}

/** Compresses on libuv's thread pool, off the event loop (same bytes as gzipSync at the same level). */
export function logFileBody(recordsJson: readonly string[] | Buffer): Promise<Buffer> {
  return gzipAsync(Buffer.isBuffer(recordsJson) ? recordsJson : logFileJson(recordsJson), { level: 6 });
}
