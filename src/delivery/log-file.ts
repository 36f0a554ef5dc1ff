/**
 * A CloudTrail log file: gzip of `{"Records":[...]}` with each record's stored JSON verbatim.
 * Deterministic: the same records in the same order give the same bytes (no time in the gzip header).
 */
import { gzip } from 'node:zlib';
import { promisify } from 'node:util';

const gzipAsync = promisify(gzip);

const HEAD = '{"Records":[';
const TAIL = ']}';

/**
 * The uncompressed log file: what digests hash. Written record by record into one buffer of the
 * exact size: joining 16 MiB of records into one string and encoding that cost ~3 times more main-
 * thread CPU (docs/performance.md, Delivery 2026-12-04). Same bytes as
 * Buffer.from(`{"Records":[${records.join(',')}]}`).
 */
export function logFileJson(recordsJson: readonly string[]): Buffer {
  const fill = fillLogFile(recordsJson, Number.POSITIVE_INFINITY);
  for (;;) {
    const step = fill.next();
    if (step.done) return step.value;
  }
}

/** The same bytes as logFileJson, letting the event loop turn after every `sliceBytes` written. */
export async function logFileJsonSliced(recordsJson: readonly string[], sliceBytes = 1 << 20): Promise<Buffer> {
  const fill = fillLogFile(recordsJson, sliceBytes);
  for (;;) {
    const step = fill.next();
    if (step.done) return step.value;
    await new Promise<void>((r) => setImmediate(r));
  }
}

function* fillLogFile(recordsJson: readonly string[], sliceBytes: number): Generator<void, Buffer> {
  let size = HEAD.length + TAIL.length + Math.max(0, recordsJson.length - 1);
  for (const r of recordsJson) size += Buffer.byteLength(r, 'utf8');
  const out = Buffer.allocUnsafe(size);
  let at = out.write(HEAD, 0, 'latin1');
  let sliceEnd = at + sliceBytes;
  for (let i = 0; i < recordsJson.length; i++) {
    if (i > 0) out[at++] = 0x2c; // ,
    at += out.write(recordsJson[i]!, at, 'utf8');
    if (at >= sliceEnd) {
      yield;
      sliceEnd = at + sliceBytes;
    }
  }
  at += out.write(TAIL, at, 'latin1');
  if (at !== size) throw new Error(`log file body: wrote ${at} of ${size} bytes`);
  return out;
}

/** Compresses on libuv's thread pool, off the event loop (same bytes as gzipSync at the same level). */
export function logFileBody(recordsJson: readonly string[] | Buffer): Promise<Buffer> {
  return gzipAsync(Buffer.isBuffer(recordsJson) ? recordsJson : logFileJson(recordsJson), { level: 6 });
}
