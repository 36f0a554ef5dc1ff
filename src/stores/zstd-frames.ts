/**
 * zstd frames made and read with one kept context each, shared by the drivers that store compressed
 * data (the SQLite event store's blocks, src/stores/sqlite/event-format.ts; the PostgreSQL event
 * store's records, src/stores/postgres/pg-record-codec.ts). Frames are standard: any zstd decoder
 * reads them (with the encoder's dictionary, when it has one).
 *
 * Node's `zstdCompressSync` builds a stream object, a native context and its tables, and output
 * chunks on every call, and with a dictionary it loads the dictionary into those tables again on
 * every call: tens of µs before the first byte, for records of 1-2 KB. `FrameEncoder` keeps one
 * context (node:zlib's own, through its stream's handle), its dictionary loaded once; `FrameDecoder`
 * does the same for reading, into reused memory.
 */
import zlib, { constants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';

/**
 * zstd at `level` with its window and match tables sized to the input (window: the input rounded
 * up to a power of two, 1 KiB-2 MiB; hash and chain tables half of it, at most 2^16), not the
 * level's defaults (2 MiB window, 2^17 hash): node's one-shot call does not pass the input size to
 * zstd, so it would allocate and clear full-size tables on every call. Measured on 8-record blocks
 * of ~11.4 KB at level 3: 96 -> 37 µs of CPU to compress, same ratio (4.153 -> 4.144). Used when
 * the FrameEncoder's reused context is not available.
 */
export function zstdOneShot(b: Uint8Array, level: number, dictionary?: Uint8Array): Buffer {
  const windowLog = Math.max(10, Math.min(21, Math.ceil(Math.log2(Math.max(1, b.length)))));
  const tableLog = Math.min(windowLog - 1, 16);
  return zstdCompressSync(b, {
    ...(dictionary ? { dictionary: Buffer.from(dictionary.buffer, dictionary.byteOffset, dictionary.byteLength) } : {}),
    params: {
      [constants.ZSTD_c_compressionLevel]: level,
      [constants.ZSTD_c_windowLog]: windowLog,
      [constants.ZSTD_c_hashLog]: tableLog,
      [constants.ZSTD_c_chainLog]: tableLog,
    },
  });
}

/** What node:zlib's zstd streams keep inside (not public API: used only when present and checked). */
interface ZstdHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
  reset(): void;
}
/** A node:zlib zstd stream seen with its internals. */
export type ZstdEngine<T> = T & { _handle?: ZstdHandle | null; _writeState?: Uint32Array; destroyed: boolean };
const usableEngine = <T extends { _handle?: ZstdHandle | null; _writeState?: Uint32Array }>(e: T): boolean =>
  typeof e._handle?.writeSync === 'function' && typeof e._handle.reset === 'function' && e._writeState instanceof Uint32Array;

/** The stream when its internals look as expected, else undefined (the stream destroyed: a caller then never makes another). */
export function kept<T extends zlib.ZstdCompress | zlib.ZstdDecompress>(e: ZstdEngine<T>): ZstdEngine<T> | undefined {
  if (usableEngine(e)) return e;
  e.destroy();
  return undefined;
}

/** ZSTD_compressBound (zstd.h): the most a frame of `n` bytes can take. */
const compressBound = (n: number): number => n + (n >>> 8) + (n < 128 * 1024 ? (128 * 1024 - n) >>> 11 : 0);

/** zstd frame magic number, little-endian (RFC 8878 3.1.1). */
export const ZSTD_MAGIC = 0xfd2fb528;

/** The Frame_Content_Size a zstd frame header declares (RFC 8878 3.1.1.1), or undefined when it declares none. */
export function frameContentSize(data: Uint8Array): number | undefined {
  if (data.length < 6) return undefined;
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (view.readUInt32LE(0) !== ZSTD_MAGIC) return undefined;
  const fhd = data[4]!;
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  const at = 5 + (single ? 0 : 1) + [0, 1, 2, 4][fhd & 3]!;
  const fcsBytes = [single, 2, 4, 8][fcsFlag]!;
  if (fcsBytes === 0 || at + fcsBytes > data.length) return undefined;
  if (fcsFlag === 0) return data[at];
  if (fcsFlag === 1) return view.readUInt16LE(at) + 256;
  if (fcsFlag === 2) return view.readUInt32LE(at);
  const v = Number(view.readBigUInt64LE(at));
  return Number.isSafeInteger(v) ? v : undefined;
}

/**
 * Compresses frames with one zstd context kept for the life of the encoder (one per thread and
 * use), instead of node's `zstdCompressSync` per frame. Each frame is one ZSTD_e_end call with the
 * whole input, so zstd knows the input's size (the frame declares it, and the window and tables
 * are sized to it as zstdOneShot does by hand), and a frame ended leaves the context ready for the
 * next with the same parameters and dictionary (no reset: node's resets the parameters too). The
 * frame is checked (input all taken, room left in the output, its declared size); anything else,
 * or a Node whose zlib does not look as expected, goes to zstdOneShot (same level, same
 * dictionary). With a `dictionary` (raw content: any bytes), frames are made against it and read
 * only with it, as node's `{ dictionary }` option makes them.
 */
export class FrameEncoder {
  /** Scratch output kept between calls up to this size (a larger frame gets its own). */
  private static readonly KEEP = 4 * 1024 * 1024;
  private engine: ZstdEngine<zlib.ZstdCompress> | undefined;
  private out: Buffer = Buffer.alloc(0);
  /** Frames compressed by the kept context / by zstdOneShot (for tests and measurements). */
  readonly stats = { reused: 0, fallback: 0 };

  readonly level: number;
  private readonly dictionary: Buffer | undefined;

  constructor(level: number, dictionary?: Uint8Array) {
    this.level = level;
    this.dictionary = dictionary ? Buffer.from(dictionary.buffer, dictionary.byteOffset, dictionary.byteLength) : undefined;
  }

  /** Node's zstd stream does not look as expected: every frame goes to zstdOneShot (no stream made per frame). */
  private unusable = false;

  private newEngine(): void {
    const e = new zlib.ZstdCompress({
      ...(this.dictionary ? { dictionary: this.dictionary } : {}),
      params: { [constants.ZSTD_c_compressionLevel]: this.level },
    }) as ZstdEngine<zlib.ZstdCompress>;
    e.on('error', () => undefined); // seen by `destroyed` after the call; the frame then goes to zstdOneShot
    this.engine = kept(e);
    this.unusable = !this.engine;
  }

  /**
   * A zstd frame of `b`, in a Buffer of its own; with `lead` (a byte), that byte first and the
   * frame after it (a format byte, without copying the frame again).
   */
  compress(b: Uint8Array, lead?: number): Buffer {
    const skip = lead === undefined ? 0 : 1;
    if (b.length === 0 || this.unusable) return this.fallback(b, lead);
    if (!this.engine || this.engine.destroyed) this.newEngine();
    const engine = this.engine;
    if (!engine) return this.fallback(b, lead);
    const bound = compressBound(b.length) + 32 + skip;
    let out = this.out;
    if (out.length < bound) {
      out = Buffer.allocUnsafe(bound);
      if (bound <= FrameEncoder.KEEP) this.out = out;
    }
    try {
      engine._handle!.writeSync(constants.ZSTD_e_end, b, 0, b.length, out, skip, out.length - skip);
    } catch {
      this.engine = undefined;
      return this.fallback(b, lead);
    }
    const state = engine._writeState!;
    const n = out.length - skip - state[0]!;
    if (engine.destroyed || state[1] !== 0 || state[0] === 0 || frameContentSize(out.subarray(skip, skip + n)) !== b.length) {
      this.engine = undefined;
      return this.fallback(b, lead);
    }
    this.stats.reused++;
    if (lead !== undefined) out[0] = lead;
    return Buffer.from(out.subarray(0, skip + n));
  }

  private fallback(b: Uint8Array, lead: number | undefined): Buffer {
    this.stats.fallback++;
    const z = zstdOneShot(b, this.level, this.dictionary);
    if (lead === undefined) return z;
    const out = Buffer.allocUnsafe(z.length + 1);
    out[0] = lead;
    z.copy(out, 1);
    return out;
  }
}

/**
 * Decodes zstd frames into memory of its own, reused: node's `zstdDecompressSync` makes a stream
 * object, a context and a new ArrayBuffer of at least 16 KB per call (external memory, whose growth
 * by 64 MiB starts a full collection of the main thread's heap; with a dictionary it also loads the
 * dictionary again on every call). The SQLite reader decodes up to ~50 blocks of ~15 KB a lookup
 * (src/stores/sqlite/event-format.ts), the PostgreSQL store 50 records of 1-2 KB, each with the
 * records' dictionary (src/stores/postgres/pg-record-codec.ts). This keeps
 * one decompression context (node:zlib's own, through its stream's handle: no dependency, same
 * zstd) and writes each frame at the next free place of a scratch area the caller resets between
 * reads (`reset()`: what was decoded before is overwritten from then on, so callers turn what they
 * keep into strings first). A frame without a declared content size, one larger than a chunk, an
 * error, or a Node whose zlib does not look as expected: `zstdDecompressSync`, as before. With a
 * `dictionary` (raw content, as FrameEncoder's), the context loads it once and reads every frame
 * with it. Measured in process on 10M-event blocks (15 KB decoded): 21 -> 16 µs of CPU a block.
 */
export class FrameDecoder {
  private static readonly CHUNK = 1024 * 1024;
  private engine: ZstdEngine<zlib.ZstdDecompress> | undefined;
  private chunks: Buffer[] = [];
  private chunk = 0;
  private at = 0;
  /** Frames decoded in place / by zstdDecompressSync (for tests and measurements). */
  readonly stats = { reused: 0, fallback: 0 };
  private readonly options: { dictionary: Buffer } | undefined;

  constructor(dictionary?: Uint8Array) {
    this.options = dictionary ? { dictionary: Buffer.from(dictionary.buffer, dictionary.byteOffset, dictionary.byteLength) } : undefined;
  }

  /** Everything decoded before may be overwritten from now on. */
  reset(): void {
    this.chunk = 0;
    this.at = 0;
    if (this.chunks.length > 1) this.chunks.length = 1;
  }

  /** Node's zstd stream does not look as expected: every frame goes to zstdDecompressSync (no stream made per frame). */
  private unusable = false;

  private newEngine(): void {
    const e = new zlib.ZstdDecompress(this.options) as ZstdEngine<zlib.ZstdDecompress>;
    e.on('error', () => undefined); // errors are seen by `destroyed` after the call, and decoded again by zstdDecompressSync to throw
    this.engine = kept(e);
    this.unusable = !this.engine;
  }

  /** The frame's payload: a view of the scratch area (valid until reset()), or a Buffer of its own. */
  decode(data: Uint8Array): Buffer {
    const size = frameContentSize(data);
    if (size === undefined || size === 0 || size > FrameDecoder.CHUNK || this.unusable) return this.fallback(data);
    if (this.chunks.length === 0 || this.at + size > FrameDecoder.CHUNK) {
      if (this.chunks.length > 0) this.chunk++;
      if (this.chunk >= this.chunks.length) this.chunks.push(Buffer.allocUnsafe(FrameDecoder.CHUNK));
      this.at = 0;
    }
    if (!this.engine || this.engine.destroyed) this.newEngine();
    const engine = this.engine;
    if (!engine) return this.fallback(data);
    const out = this.chunks[this.chunk]!;
    try {
      engine._handle!.writeSync(constants.ZSTD_e_end, data, 0, data.length, out, this.at, size);
    } catch {
      this.engine = undefined;
      return this.fallback(data);
    }
    const state = engine._writeState!;
    if (engine.destroyed || state[0] !== 0 || state[1] !== 0) {
      // An error, a frame longer than it declared, or input left over: not ours to judge here.
      this.engine = undefined;
      return this.fallback(data);
    }
    // No reset: the frame ended (all of it taken, exactly its declared size out), which leaves the
    // context ready for the next frame; node's reset() rebuilt the context's state, ~20 us a frame,
    // as much as decoding one (docs/performance.md, "Delivery, 2026-12-05"). A frame that did not
    // end would make the next decode fail, and that one goes to zstdDecompressSync.
    this.stats.reused++;
    const view = out.subarray(this.at, this.at + size);
    this.at += size;
    return view;
  }

  private fallback(data: Uint8Array): Buffer {
    this.stats.fallback++;
    return this.options ? zstdDecompressSync(data, this.options) : zstdDecompressSync(data);
  }
}
