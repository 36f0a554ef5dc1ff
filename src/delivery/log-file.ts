/**
 * A CloudTrail log file: gzip of `{"Records":[...]}` with each record's stored JSON verbatim.
 * Deterministic: the same records in the same order give the same bytes (no time in the gzip header).
 */
import { gzip } from 'node:zlib';
import { promisify } from 'node:util';

const gzipAsync = promisify(gzip);

/**
 * gzip of a log file: level 3 (the same bytes whichever thread compresses: the thread pool, a
 * worker thread). CloudTrail does not say which level its files use; any reader inflates them.
 * On CloudTrail records level 3 costs about half of level 6's CPU for files ~20 % larger (ratio
 * ~7.2 against ~8.9): delivery shares 2 cores with ingest, and its gzip CPU comes out of ingest's
 * (docs/performance.md, "Delivery end to end, 2026-12-05 afternoon"; docs/compatibility.md).
 * Level 1 would save only ~7 % of it for 5 % larger files (Node's zlib: levels 1-3 share one
 * fast matcher; docs/performance.md, "Delivery: one read of the log for three trails").
 */
export const LOG_FILE_GZIP = { level: 3 } as const;

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
  return gzipAsync(Buffer.isBuffer(recordsJson) ? recordsJson : logFileJson(recordsJson), LOG_FILE_GZIP);
}

/**
 * Where a record's UTF-8 bytes were written once for every trail that delivers it: a range of a
 * shared buffer (RecordArena), which log-file-pool.ts hands to a worker thread without copying.
 */
export interface RecordRef {
  sab: SharedArrayBuffer;
  off: number;
  len: number;
}

/**
 * Record bytes written once, in chunks of shared memory: the records of a scan (stored JSON, UTF-8,
 * as logFileJson writes them) that some trail admitted, so that every trail's log file is
 * assembled from the same bytes by a worker thread, not encoded again per trail on the main thread.
 * A chunk lives as long as a ref to it is held (an open batch, a file being built).
 */
export class RecordArena {
  private sab: SharedArrayBuffer | undefined;
  private view: Buffer<ArrayBufferLike> = Buffer.alloc(0);
  private at = 0;
  /** Bytes of a chunk (a record larger than a quarter of it gets a buffer of its own). */
  readonly chunkBytes: number;

  constructor(chunkBytes = 4 << 20) {
    this.chunkBytes = chunkBytes;
  }

  add(json: string): RecordRef {
    // UTF-8 takes at most 3 bytes per UTF-16 unit (a lone surrogate becomes U+FFFD, 3 bytes).
    const most = json.length * 3;
    if (this.sab === undefined || this.at + most > this.view.length) {
      const size = most > this.chunkBytes / 4 ? Buffer.byteLength(json, 'utf8') : this.chunkBytes;
      const sab = new SharedArrayBuffer(size);
      const view = Buffer.from(sab);
      if (size !== this.chunkBytes) {
        // A large record gets a buffer of its own; the current chunk stays current.
        const len = view.write(json, 0, 'utf8');
        return { sab, off: 0, len };
      }
      this.sab = sab;
      this.view = view;
      this.at = 0;
    }
    const off = this.at;
    const len = this.view.write(json, off, 'utf8');
    this.at += len;
    return { sab: this.sab, off, len };
  }
}

/**
 * Copies the records of `refs` (in place: each entry's sab, off, len) into one shared buffer of
 * their own bytes, so they no longer keep alive the arena chunks they were written to (a batch
 * that takes few of a pass's records would otherwise hold every chunk they landed in). Same bytes.
 * Returns the new buffer's size.
 */
export function compactRefs(refs: RecordRef[]): number {
  let size = 0;
  for (const r of refs) size += r.len;
  const sab = new SharedArrayBuffer(Math.max(1, size));
  const out = new Uint8Array(sab);
  let at = 0;
  for (const r of refs) {
    out.set(new Uint8Array(r.sab, r.off, r.len), at);
    r.sab = sab;
    r.off = at;
    at += r.len;
  }
  return size;
}

/**
 * A batch's records as a worker thread receives them: the distinct shared buffers, and per record
 * (buffer index, offset, length) triples.
 */
export interface RecordRanges {
  sabs: SharedArrayBuffer[];
  ranges: Float64Array;
}

export function recordRanges(refs: readonly RecordRef[]): RecordRanges {
  const sabs: SharedArrayBuffer[] = [];
  const index = new Map<SharedArrayBuffer, number>();
  const ranges = new Float64Array(refs.length * 3);
  let last: SharedArrayBuffer | undefined;
  let lastIndex = -1;
  for (let i = 0; i < refs.length; i++) {
    const r = refs[i]!;
    if (r.sab !== last) {
      last = r.sab;
      let k = index.get(r.sab);
      if (k === undefined) {
        k = sabs.length;
        sabs.push(r.sab);
        index.set(r.sab, k);
      }
      lastIndex = k;
    }
    ranges[i * 3] = lastIndex;
    ranges[i * 3 + 1] = r.off;
    ranges[i * 3 + 2] = r.len;
  }
  return { sabs, ranges };
}

/**
 * The uncompressed log file of records given as ranges: the same bytes as logFileJson of their
 * strings. With `scratch` large enough, written into it (a view of it is returned): a thread that
 * builds file after file reuses its memory instead of faulting in 16 MiB of new pages each time.
 */
export function assembleLogFile({ sabs, ranges }: RecordRanges, scratch?: Buffer): Buffer {
  const views = sabs.map((s) => new Uint8Array(s));
  const n = ranges.length / 3;
  let size = HEAD.length + TAIL.length + Math.max(0, n - 1);
  for (let i = 0; i < n; i++) size += ranges[i * 3 + 2]!;
  const out = scratch !== undefined && scratch.length >= size ? scratch.subarray(0, size) : Buffer.allocUnsafe(size);
  let at = out.write(HEAD, 0, 'latin1');
  for (let i = 0; i < n; i++) {
    if (i > 0) out[at++] = 0x2c; // ,
    const off = ranges[i * 3 + 1]!;
    const len = ranges[i * 3 + 2]!;
    out.set(views[ranges[i * 3]!]!.subarray(off, off + len), at);
    at += len;
  }
  at += out.write(TAIL, at, 'latin1');
  if (at !== size) throw new Error(`log file body: wrote ${at} of ${size} bytes`);
  return out;
}
