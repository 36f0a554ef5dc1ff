/**
 * The byte formats of events.db layout 2 (docs/storage.md "events.db"), pure functions shared by
 * the writer thread and the reader:
 *
 * - key hashes: a 53-bit hash of an Event history key (account, region, attribute, value) or of an
 *   event id (account, eventId), kept in SQLite as an INTEGER;
 * - blocks: a run of consecutive events of one group commit, zstd of a header (per event: seq,
 *   account, region, eventId, eventTimeSec, inHistory, JSON byte length, summary) and the records;
 * - pending rows (L0): one group commit's postings and id hashes;
 * - posting chunks (L1): up to CHUNK (t, seq) entries of one key, newest first;
 * - IdTable: the writer's in-memory set of id hashes (duplicate detection);
 * - id filters: a blocked Bloom filter of a bucket's id hashes (EventId lookups skip buckets);
 * - frames: blocks and pending rows are zstd frames; a small one (a one-event commit: a
 *   self-audit record, a gateway call) is a zstd frame of one raw (stored) block, written and
 *   read without calling zstd.
 */
import { zstdDecompressSync } from 'node:zlib';
import { FrameDecoder as ZstdFrameDecoder, FrameEncoder, ZSTD_MAGIC } from '../zstd-frames.ts';

/** Bits of a key hash (53: the most a JS number holds exactly); tests inject fewer to force collisions. */
export const HASH_BITS = 53;

/** The last steps of hashString's cyrb53: the two lanes mixed and folded into `bits` bits. */
function finishHash(h1: number, h2: number, bits: number): number {
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  const h = 4294967296 * (2097151 & h2) + (h1 >>> 0);
  return bits >= 53 ? h : h % 2 ** bits;
}

/** cyrb53-style string hash: two 32-bit lanes, folded into `bits` bits (<= 53). */
export function hashString(s: string, bits = HASH_BITS): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  return finishHash(h1, h2, bits);
}

/** What idKeyText puts between the account and the event id. */
const ID_SEPARATOR = '\u0000\u0000\u0000id\u0000';

/**
 * hashString(idKeyText(account, eventId), bits), without building the text: the writer hashes
 * every event's id, and the text is needed for nothing else.
 */
export function hashIdKey(account: string, eventId: string, bits = HASH_BITS): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let part = 0; part < 3; part++) {
    const s = part === 0 ? account : part === 1 ? ID_SEPARATOR : eventId;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 2654435761);
      h2 = Math.imul(h2 ^ c, 1597334677);
    }
  }
  return finishHash(h1, h2, bits);
}

/** The text of an Event history key, as kept beside its postings (collisions are told apart by it). */
export const historyKeyText = (account: string, region: string, attr: string, value: string): string =>
  `${account}\u0000${region}\u0000${attr}\u0000${value}`;

/** The text hashed for an event id (duplicates are per account; collisions are told apart by the block header). */
export const idKeyText = (account: string, eventId: string): string => `${account}${ID_SEPARATOR}${eventId}`;

/**
 * zstd level of the frames written from now on (blocks and pending rows). 3 until 2026-12-05; 1
 * since issue 11's fifth round: with one reused context, 2.9 against 3.9 µs of CPU per event for
 * 8-record blocks, 415 against 406 bytes an event (docs/performance.md "Issue 11, fifth round:
 * the writer"). The level is not in the format: frames of any level read the same.
 */
export const ZSTD_LEVEL = 1;

/** Payloads below this many bytes are stored in a raw zstd frame (no compression call either way). */
export const RAW_BELOW = 4096;

/** Frame header descriptor of a raw frame: Frame_Content_Size_Flag 2 (4 bytes), Single_Segment_Flag, no checksum, no dictionary. */
const RAW_DESCRIPTOR = 0xa0;
/** Magic, descriptor, 4-byte content size, one 3-byte block header. */
const RAW_OVERHEAD = 12;

/**
 * A standard zstd frame holding `b` as one raw block (RFC 8878: Block_Type 0, stored as is; the
 * block size limit is 128 KiB, far above RAW_BELOW): any zstd decoder reads it, older builds of
 * this reader included, and this reader takes the bytes out of it without a zstd call. 12 bytes
 * more than the payload.
 */
export function rawFrame(b: Uint8Array): Buffer {
  if (b.length === 0 || b.length >= 128 * 1024) throw new RangeError(`rawFrame: ${b.length} bytes (1 to 128 KiB)`);
  const out = Buffer.allocUnsafe(RAW_OVERHEAD + b.length);
  out.writeUInt32LE(ZSTD_MAGIC, 0);
  out[4] = RAW_DESCRIPTOR;
  out.writeUInt32LE(b.length, 5);
  const blockHeader = 1 + b.length * 8; // Last_Block 1, Block_Type 0 (raw), Block_Size
  out[9] = blockHeader & 0xff;
  out[10] = (blockHeader >>> 8) & 0xff;
  out[11] = (blockHeader >>> 16) & 0xff;
  out.set(b, RAW_OVERHEAD);
  return out;
}

/** The payload of a frame rawFrame wrote (a view, no copy), or undefined for any other frame. */
function rawPayload(data: Uint8Array): Buffer | undefined {
  if (data.length <= RAW_OVERHEAD || data[4] !== RAW_DESCRIPTOR) return undefined;
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (view.readUInt32LE(0) !== ZSTD_MAGIC) return undefined;
  const size = view.readUInt32LE(5);
  const blockHeader = data[9]! | (data[10]! << 8) | (data[11]! << 16);
  if (blockHeader !== 1 + size * 8 || RAW_OVERHEAD + size !== data.length) return undefined;
  return view.subarray(RAW_OVERHEAD);
}

/** The encoder of this thread's frames (each worker thread has its own module instance, so its own). */
let threadEncoder: FrameEncoder | undefined;
const defaultEncoder = (): FrameEncoder => (threadEncoder ??= new FrameEncoder(ZSTD_LEVEL));

/** A payload as stored: a raw frame when small, zstd otherwise (through `encoder`, this thread's by default). */
export const pack = (b: Uint8Array, encoder: FrameEncoder = defaultEncoder()): Buffer => (b.length > 0 && b.length < RAW_BELOW ? rawFrame(b) : encoder.compress(b));

/** The payload of a stored frame, raw or zstd (every frame ever written: both kinds are standard zstd frames). */
export const unpack = (data: Uint8Array): Buffer => rawPayload(data) ?? zstdDecompressSync(data);

/**
 * zstd-frames.ts's FrameDecoder (one kept zstd context, frames written into reused scratch memory:
 * a lookup decodes up to ~50 blocks of ~15 KB to use one event of each) that reads this format's
 * raw frames without calling zstd.
 */
export class FrameDecoder extends ZstdFrameDecoder {
  override decode(data: Uint8Array): Buffer {
    return rawPayload(data) ?? super.decode(data);
  }
}

// ---------------------------------------------------------------------------------------------
// Blocks

export interface BlockEvent {
  seq: number;
  accountId: string;
  region: string;
  eventId: string;
  eventTimeSec: number;
  inHistory: boolean;
  json: string;
  summary?: string | undefined;
}

/** Header row: [seq, account, region, eventId, eventTimeSec, inHistory 0|1, json bytes, summary | null]. */
type HeaderRow = [number, string, string, string, number, 0 | 1, number, string | null];

/** Where encodeBlock lays a block out before compressing it (reused: no Buffer per record; blocks over 1 MiB get their own). */
let blockScratch = Buffer.allocUnsafe(64 * 1024);

/**
 * What encodeBlock takes: an event with its record as text (`json`) or as its UTF-8 bytes (`raw`,
 * from the writer's packed batches, copied into the block as they are).
 */
export type BlockInput = Omit<BlockEvent, 'json'> & ({ json: string; raw?: undefined } | { raw: Uint8Array; json?: undefined });

export function encodeBlock(events: readonly BlockInput[], encoder?: FrameEncoder): Buffer {
  const sizes = events.map((e) => (e.raw !== undefined ? e.raw.length : Buffer.byteLength(e.json, 'utf8')));
  const header = JSON.stringify(events.map((e, i): HeaderRow => [
    e.seq, e.accountId, e.region, e.eventId, e.eventTimeSec, e.inHistory ? 1 : 0, sizes[i]!, e.summary ?? null,
  ]));
  const headerLen = Buffer.byteLength(header, 'utf8');
  const total = 4 + headerLen + sizes.reduce((a, b) => a + b, 0);
  if (total > blockScratch.length && total <= 1024 * 1024) blockScratch = Buffer.allocUnsafe(1024 * 1024);
  const buf = total <= blockScratch.length ? blockScratch : Buffer.allocUnsafe(total);
  buf.writeUInt32LE(headerLen, 0);
  let off = 4 + buf.write(header, 4, 'utf8');
  for (const e of events) {
    if (e.raw !== undefined) {
      buf.set(e.raw, off);
      off += e.raw.length;
    } else off += buf.write(e.json, off, 'utf8');
  }
  return pack(buf.subarray(0, off), encoder);
}

export interface DecodedBlock {
  events: BlockEvent[];
  /** Decompressed size, for the reader's cache budget. */
  bytes: number;
}

/** An event of a decoded block: the header's fields, and its record turned into a string only when read. */
class BlockRecord implements BlockEvent {
  seq: number;
  accountId: string;
  region: string;
  eventId: string;
  eventTimeSec: number;
  inHistory: boolean;
  summary: string | undefined;
  private readonly raw: Buffer;
  private readonly off: number;
  private readonly len: number;
  private text: string | undefined;
  constructor(row: HeaderRow, raw: Buffer, off: number) {
    [this.seq, this.accountId, this.region, this.eventId, this.eventTimeSec] = row;
    this.inHistory = row[5] === 1;
    this.summary = row[7] ?? undefined;
    this.raw = raw;
    this.off = off;
    this.len = row[6];
  }
  get json(): string {
    return (this.text ??= this.raw.toString('utf8', this.off, this.off + this.len));
  }
  /** The record's UTF-8 bytes as stored (a view of the decoded block: valid until the decoder's next reset()). */
  bytes(): Uint8Array {
    return this.raw.subarray(this.off, this.off + this.len);
  }
}

/** A decoded event's record bytes (a view, valid while its block's decode is), or undefined for an event not from decodeBlock. */
export function recordBytes(e: BlockEvent): Uint8Array | undefined {
  return e instanceof BlockRecord ? e.bytes() : undefined;
}

/**
 * The events of a stored block. With a `decoder`, the block is decoded into its scratch area: the
 * events' records must be read (`json`) before the decoder's next reset().
 */
export function decodeBlock(data: Uint8Array, decoder?: FrameDecoder): DecodedBlock {
  const raw = decoder ? decoder.decode(data) : unpack(data);
  const headerLen = raw.readUInt32LE(0);
  const header = JSON.parse(raw.toString('utf8', 4, 4 + headerLen)) as HeaderRow[];
  let off = 4 + headerLen;
  const events = header.map((row) => {
    const e = new BlockRecord(row, raw, off);
    off += row[6];
    return e;
  });
  return { events, bytes: raw.length };
}

/**
 * A decoded block read one event at a time, for lookups (event-reader.ts): a scattered page uses
 * one event of each block it decodes, and decodeBlock's JSON.parse of the whole header (every
 * row's ids and summary, ~3.5 KB of text at 10M) made ~8 KB of garbage a block for that one event,
 * three quarters of what a scattered lookup allocates beyond a dense one (docs/performance.md
 * "Issue 11, ninth round"). Here the header is scanned once as bytes for each row's place, seq and
 * record length (no string made), and only a row asked for is parsed. The header is
 * JSON.stringify's text of numbers, strings and null (encodeBlock), so the scan needs only to step
 * over strings (a `"` not escaped ends one) and count brackets and commas outside them; a header
 * that does not look as expected is parsed whole (`rows` below), as decodeBlock does.
 */
export class BlockView {
  readonly first: number;
  readonly last: number;
  private readonly raw: Buffer;
  private readonly headerLen: number;
  /** Per row scanned so far: seq, where its header text starts and ends, where its record starts, the record's length. */
  private readonly seqs: number[] = [];
  private readonly rowAt: number[] = [];
  private readonly rowEnd: number[] = [];
  private readonly recAt: number[] = [];
  private readonly recLen: number[] = [];
  /** Where the scan goes on (the next row's `[`), and where that row's record starts; -1 once every row is known. */
  private scanAt: number;
  private recNext: number;
  /** The header parsed whole, when the scan did not hold. */
  private rows: HeaderRow[] | undefined;

  /** Whether the header had to be parsed whole (tests: encodeBlock's headers never are). */
  get parsedWhole(): boolean {
    return this.rows !== undefined;
  }

  constructor(first: number, last: number, data: Uint8Array, decoder?: FrameDecoder) {
    this.first = first;
    this.last = last;
    const raw = decoder ? decoder.decode(data) : unpack(data);
    this.raw = raw;
    this.headerLen = raw.readUInt32LE(0);
    const end = 4 + this.headerLen;
    this.recNext = end;
    this.scanAt = 5;
    if (end > raw.length || end < 6 || raw[4] !== 0x5b /* [ */ || raw[end - 1] !== 0x5d /* ] */) this.parseWhole();
    else if (end === 6) this.scanAt = -1;
  }

  /** The header parsed whole, as decodeBlock does. */
  private parseWhole(): HeaderRow[] {
    const rows = JSON.parse(this.raw.toString('utf8', 4, 4 + this.headerLen)) as HeaderRow[];
    this.seqs.length = this.rowAt.length = this.rowEnd.length = this.recAt.length = this.recLen.length = 0;
    let off = 4 + this.headerLen;
    for (const row of rows) {
      this.seqs.push(row[0]);
      this.recAt.push(off);
      this.recLen.push(row[6]);
      off += row[6];
    }
    this.scanAt = -1;
    return (this.rows = rows);
  }

  /** Scans the next row of the header; false when it is not as encodeBlock writes it (the caller then parses it whole). */
  private scanRow(): boolean {
    const b = this.raw;
    const to = 4 + this.headerLen - 1; // the closing ]
    let at = this.scanAt;
    if (b[at] !== 0x5b) return false;
    const start = at++;
    let field = 0;
    let seq = -1;
    let len = -1;
    // Fields separated by commas; a string is stepped over to its closing quote (a backslash escapes the byte after it).
    for (;;) {
      let c = b[at]!;
      if (c === 0x22 /* " */) {
        for (at++; at < to; at++) {
          c = b[at]!;
          if (c === 0x5c /* \ */) at++;
          else if (c === 0x22) break;
        }
        if (at >= to) return false;
        at++;
      } else if (c >= 0x30 && c <= 0x39 && (field === 0 || field === 6)) {
        let v = 0;
        while (b[at]! >= 0x30 && b[at]! <= 0x39) v = v * 10 + (b[at++]! - 0x30);
        if (field === 0) seq = v;
        else len = v;
      } else {
        // Another number, or null: nothing nested.
        while (at < to && b[at] !== 0x2c && b[at] !== 0x5d && b[at] !== 0x5b && b[at] !== 0x22) at++;
        if (at >= to || b[at] === 0x5b || b[at] === 0x22) return false;
      }
      if (b[at] === 0x2c) {
        field++;
        at++;
      } else if (b[at] === 0x5d) break;
      else return false;
    }
    at++;
    if (field < 6 || seq < 0 || len < 0 || !Number.isSafeInteger(seq) || this.recNext + len > b.length) return false;
    this.seqs.push(seq);
    this.rowAt.push(start);
    this.rowEnd.push(at);
    this.recAt.push(this.recNext);
    this.recLen.push(len);
    this.recNext += len;
    if (b[at] === 0x2c && at + 1 < to) this.scanAt = at + 1;
    else if (at === to) this.scanAt = -1;
    else return false;
    return true;
  }

  /** The event with this seq, or undefined when the block does not hold it. */
  event(seq: number): BlockEvent | undefined {
    let i = this.seqs.indexOf(seq);
    // Rows are scanned only as far as the one asked for (on average half the header, for a scattered page's one event).
    while (i < 0 && this.scanAt >= 0) {
      if (!this.scanRow()) {
        this.parseWhole();
        i = this.seqs.indexOf(seq);
        break;
      }
      if (this.seqs[this.seqs.length - 1] === seq) i = this.seqs.length - 1;
    }
    if (i < 0) return undefined;
    let row: HeaderRow | undefined;
    try {
      row = this.rows ? this.rows[i]! : (JSON.parse(this.raw.toString('utf8', this.rowAt[i], this.rowEnd[i])) as HeaderRow);
    } catch {
      row = undefined;
    }
    if (!row || row[0] !== seq || row[6] !== this.recLen[i]) {
      // Not as scanned (never seen): the whole header decides, as decodeBlock reads it.
      i = this.parseWhole().findIndex((r) => r[0] === seq);
      if (i < 0) return undefined;
      row = this.rows![i]!;
    }
    return new BlockRecord(row, this.raw, this.recAt[i]!);
  }
}

// ---------------------------------------------------------------------------------------------
// Pending rows (L0): one group commit's postings and id hashes

export interface Pending {
  firstSeq: number;
  lastSeq: number;
  /** Events of the commit. */
  n: number;
  /** Distinct history keys: text and hash. */
  keys: { text: string; k: number }[];
  /** Postings: key index, t, seq (flat triples). */
  postings: Float64Array;
  /** Id hashes: k, t, seq (flat triples), one per event. */
  ids: Float64Array;
}

export function encodePending(p: Pending, encoder?: FrameEncoder): Buffer {
  const keys = Buffer.from(JSON.stringify(p.keys.map((x) => [x.text, x.k])), 'utf8');
  const head = Buffer.alloc(16);
  head.writeUInt32LE(keys.length, 0);
  head.writeUInt32LE(p.postings.length / 3, 4);
  head.writeUInt32LE(p.ids.length / 3, 8);
  head.writeUInt32LE(p.n, 12);
  return pack(Buffer.concat([head, keys, Buffer.from(p.postings.buffer, p.postings.byteOffset, p.postings.byteLength), Buffer.from(p.ids.buffer, p.ids.byteOffset, p.ids.byteLength)]), encoder);
}

export function decodePending(firstSeq: number, lastSeq: number, data: Uint8Array): Pending {
  const raw = unpack(data);
  const keysLen = raw.readUInt32LE(0);
  const nPost = raw.readUInt32LE(4);
  const nIds = raw.readUInt32LE(8);
  const n = raw.readUInt32LE(12);
  const keys = (JSON.parse(raw.toString('utf8', 16, 16 + keysLen)) as [string, number][]).map(([text, k]) => ({ text, k }));
  let off = 16 + keysLen;
  const copy = (count: number): Float64Array => {
    const out = new Float64Array(count);
    Buffer.from(out.buffer).set(raw.subarray(off, off + count * 8));
    off += count * 8;
    return out;
  };
  const postings = copy(nPost * 3);
  const ids = copy(nIds * 3);
  return { firstSeq, lastSeq, n, keys, postings, ids };
}

// ---------------------------------------------------------------------------------------------
// Posting chunks (L1): entries of one key, sorted (t desc, seq desc)

/** Most entries in one chunk row (a lookup of 50 reads one chunk). */
export const CHUNK = 256;

/**
 * One byte of format (2), the entry count, then per entry: t (the first as a zigzag varint, then
 * the decrease from the previous one, >= 0) and seq (the first as a varint, then the zigzag
 * difference from the previous one). About 3-5 bytes an entry; no zstd call per chunk (a merge
 * writes thousands of chunks, and node's zstd costs tens of µs a call before the first byte).
 */
export function encodeChunk(t: ArrayLike<number>, seq: ArrayLike<number>, from = 0, to = t.length): Buffer {
  const n = to - from;
  const out = Buffer.allocUnsafe(1 + 8 + n * 16);
  let o = 0;
  out[o++] = 2;
  const varint = (v: number) => {
    while (v >= 128) {
      out[o++] = (v % 128) + 128;
      v = Math.floor(v / 128);
    }
    out[o++] = v;
  };
  const zigzag = (d: number) => (d >= 0 ? 2 * d : -2 * d - 1);
  varint(n);
  for (let i = from; i < to; i++) {
    varint(i === from ? zigzag(t[i]!) : t[i - 1]! - t[i]!);
    varint(i === from ? seq[i]! : zigzag(seq[i]! - seq[i - 1]!));
  }
  return Buffer.from(out.subarray(0, o));
}

export function decodeChunk(data: Uint8Array): { t: Float64Array; seq: Float64Array } {
  if (data[0] !== 2) throw new Error(`posting chunk format ${data[0]} unknown`);
  let o = 1;
  const varint = () => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = data[o++]!;
      v += (b & 127) * mul;
      if (b < 128) return v;
      mul *= 128;
    }
  };
  const unzigzag = (z: number) => (z % 2 === 0 ? z / 2 : -(z + 1) / 2);
  const n = varint();
  const t = new Float64Array(n);
  const seq = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    t[i] = i === 0 ? unzigzag(varint()) : t[i - 1]! - varint();
    seq[i] = i === 0 ? varint() : seq[i - 1]! + unzigzag(varint());
  }
  return { t, seq };
}

/** A bucket's id hashes (for rebuilding the IdTable at open): float64 k per event. */
export const encodeIds = (ks: Float64Array): Buffer => Buffer.from(ks.buffer, ks.byteOffset, ks.byteLength);
export function decodeIds(data: Uint8Array): Float64Array {
  const out = new Float64Array(data.byteLength / 8);
  Buffer.from(out.buffer).set(data);
  return out;
}

// ---------------------------------------------------------------------------------------------
// IdTable

/**
 * The id hashes of stored events, for duplicate detection without a random-key index: open
 * addressing (linear probing) over a Uint16Array of fingerprints; the slot comes from the low 32
 * bits of the hash, the fingerprint (1 to 65,535: 0 marks an empty slot) from the bits above. A hit
 * only says "maybe": the writer confirms it by finding the event. It never forgets an id (ids of
 * pruned events stay until the next rebuild and then fail confirmation), so a miss is certain.
 * 2 bytes a slot, at most 3/4 full: 2^24 slots (32 MiB) hold 12.5M ids. A new id probes about
 * 8.5 slots at 3/4 full (linear probing's miss), so about 1 in 7,700 new ids is a false hit that
 * costs a confirmation (one indexed read per bucket): at 20,000 events/s, 2-3 a second.
 */
export class IdTable {
  private slots: Uint16Array;
  private mask: number;
  size = 0;

  constructor(capacityHint = 0) {
    let cap = 1 << 16;
    while (cap * 0.75 < capacityHint) cap *= 2;
    this.slots = new Uint16Array(cap);
    this.mask = cap - 1;
  }

  get capacity(): number {
    return this.slots.length;
  }

  private static fp(k: number): number {
    return (Math.floor(k / 4294967296) % 65535) + 1;
  }

  /** False: certainly absent. True: maybe present (confirm). */
  mayHave(k: number): boolean {
    const fp = IdTable.fp(k);
    for (let i = (k >>> 0) & this.mask; ; i = (i + 1) & this.mask) {
      const v = this.slots[i]!;
      if (v === 0) return false;
      if (v === fp) return true;
    }
  }

  /** True when the table must grow before more ids are added (the caller rebuilds it bigger). */
  get full(): boolean {
    return this.size + 1 > this.slots.length * 0.75;
  }

  add(k: number): void {
    const fp = IdTable.fp(k);
    let i = (k >>> 0) & this.mask;
    while (this.slots[i] !== 0) {
      if (this.slots[i] === fp) return; // same fingerprint, same probe chain: already answers "maybe"
      i = (i + 1) & this.mask;
    }
    this.slots[i] = fp;
    this.size++;
  }
}

// ---------------------------------------------------------------------------------------------
// Id filters: which buckets may hold an event id

/** Bits of filter per id (a bucket of 65,536 ids: 80 KiB). */
export const ID_FILTER_BITS_PER_KEY = 10;
/** Bits set per id, all in one 512-bit block (one cache line). */
const ID_FILTER_PROBES = 7;
const ID_FILTER_FORMAT = 1;
/** Format byte, probes, two spare bytes, u32 block count, then the blocks (16 u32 words each). */
const ID_FILTER_HEADER = 8;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The block of a key hash and the two hashes its bits come from. */
function filterHashes(k: number, blocks: number): [number, number, number] {
  const lo = k >>> 0;
  const hi = Math.floor(k / 4294967296) >>> 0;
  const a = fmix32(lo ^ Math.imul(hi, 0x9e3779b1));
  const b = fmix32(hi ^ Math.imul(lo, 0x27d4eb2f) ^ 0x165667b1);
  return [a % blocks, b, fmix32(a ^ b) | 1];
}

/**
 * A blocked Bloom filter of a bucket's id hashes (built at merge time, kept in the bucket row):
 * ID_FILTER_BITS_PER_KEY bits an id, ID_FILTER_PROBES bits set per id in one 512-bit block.
 * Never a false negative; false positives about 1 % (measured in event-format.test.ts), each
 * costing one probe of the bucket's `ids` rows.
 */
export function encodeIdFilter(ks: ArrayLike<number>): Buffer {
  const blocks = Math.max(1, Math.ceil((ks.length * ID_FILTER_BITS_PER_KEY) / 512));
  const words = new Uint32Array(blocks * 16);
  for (let i = 0; i < ks.length; i++) {
    const [block, g, step] = filterHashes(ks[i]!, blocks);
    for (let p = 0, h = g; p < ID_FILTER_PROBES; p++, h = (h + step) >>> 0) {
      const bit = h >>> 23; // 0..511
      words[block * 16 + (bit >>> 5)]! |= 1 << (bit & 31);
    }
  }
  const out = Buffer.alloc(ID_FILTER_HEADER + words.byteLength);
  out[0] = ID_FILTER_FORMAT;
  out[1] = ID_FILTER_PROBES;
  out.writeUInt32LE(blocks, 4);
  out.set(new Uint8Array(words.buffer), ID_FILTER_HEADER);
  return out;
}

/** A filter read from a bucket row, ready to ask. */
export class IdFilter {
  private readonly words: Uint32Array;
  private readonly blocks: number;
  private readonly probes: number;
  constructor(data: Uint8Array) {
    if (data[0] !== ID_FILTER_FORMAT) throw new Error(`id filter format ${data[0]} unknown`);
    this.probes = data[1]!;
    this.blocks = Buffer.from(data.buffer, data.byteOffset, data.byteLength).readUInt32LE(4);
    this.words = new Uint32Array(this.blocks * 16);
    new Uint8Array(this.words.buffer).set(data.subarray(ID_FILTER_HEADER, ID_FILTER_HEADER + this.words.byteLength));
  }

  get bytes(): number {
    return this.words.byteLength;
  }

  /** False: the bucket certainly holds no id with this hash. True: it may (probe its ids). */
  mayHave(k: number): boolean {
    const [block, g, step] = filterHashes(k, this.blocks);
    for (let p = 0, h = g; p < this.probes; p++, h = (h + step) >>> 0) {
      const bit = h >>> 23;
      if ((this.words[block * 16 + (bit >>> 5)]! & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }
}
