/**
 * A CloudTrail log file: gzip of `{"Records":[...]}` with each record's stored JSON verbatim.
 * Deterministic: the same records in the same order give the same bytes (no time in the gzip header).
 */
import { gzipSync } from 'node:zlib';

export function logFileBody(recordsJson: readonly string[]): Buffer {
  return gzipSync(Buffer.from(`{"Records":[${recordsJson.join(',')}]}`), { level: 6 });
}
