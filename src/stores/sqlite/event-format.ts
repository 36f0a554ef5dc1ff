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
 * - IdTable: the writer's in-memory set of id hashes (duplicate detection).
 */
import { zstdCompressSync, zstdDecompressSync, constants } from 'node:zlib';

/** Bits of a key hash (53: the most a JS number holds exactly); tests inject fewer to force collisions. */
export const HASH_BITS = 53;

/** cyrb53-style string hash: two 32-bit lanes, folded into `bits` bits (<= 53). */
export function hashString(s: string, bits = HASH_BITS): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  const h = 4294967296 * (2097151 & h2) + (h1 >>> 0);
  return bits >= 53 ? h : h % 2 ** bits;
}

/** The text of an Event history key, as kept beside its postings (collisions are told apart by it). */
export const historyKeyText = (account: string, region: string, attr: string, value: string): string =>
  `${account}\u0000${region}\u0000${attr}\u0000${value}`;

/** The text hashed for an event id (duplicates are per account; collisions are told apart by the block header). */
export const idKeyText = (account: string, eventId: string): string => `${account}\u0000\u0000\u0000id\u0000${eventId}`;

const ZSTD_LEVEL = 3;
/**
 * zstd level 3 with its window and match tables sized to the input (window: the input rounded up
 * to a power of two, 1 KiB-2 MiB; hash and chain tables half of it, at most 2^16), not level 3's
 * defaults (2 MiB window, 2^17 hash): node's one-shot call does not pass the input size to zstd,
 * so it would allocate and clear full-size tables on every call. Measured on 8-record blocks of
 * ~11.4 KB: 96 -> 37 µs of CPU to compress, same ratio (4.153 -> 4.144), decompression no dearer.
 * Frames stay standard: any reader of older frames reads these.
 */
function zstd(b: Uint8Array): Buffer {
  const windowLog = Math.max(10, Math.min(21, Math.ceil(Math.log2(Math.max(1, b.length)))));
  const tableLog = Math.min(windowLog - 1, 16);
  return zstdCompressSync(b, {
    params: {
      [constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL,
      [constants.ZSTD_c_windowLog]: windowLog,
      [constants.ZSTD_c_hashLog]: tableLog,
      [constants.ZSTD_c_chainLog]: tableLog,
    },
  });
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

export function encodeBlock(events: readonly BlockEvent[]): Buffer {
  const sizes = events.map((e) => Buffer.byteLength(e.json, 'utf8'));
  const header = JSON.stringify(events.map((e, i): HeaderRow => [
    e.seq, e.accountId, e.region, e.eventId, e.eventTimeSec, e.inHistory ? 1 : 0, sizes[i]!, e.summary ?? null,
  ]));
  const headerLen = Buffer.byteLength(header, 'utf8');
  const total = 4 + headerLen + sizes.reduce((a, b) => a + b, 0);
  if (total > blockScratch.length && total <= 1024 * 1024) blockScratch = Buffer.allocUnsafe(1024 * 1024);
  const buf = total <= blockScratch.length ? blockScratch : Buffer.allocUnsafe(total);
  buf.writeUInt32LE(headerLen, 0);
  let off = 4 + buf.write(header, 4, 'utf8');
  for (const e of events) off += buf.write(e.json, off, 'utf8');
  return zstd(buf.subarray(0, off));
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
}

export function decodeBlock(data: Uint8Array): DecodedBlock {
  const raw = zstdDecompressSync(data);
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

export function encodePending(p: Pending): Buffer {
  const keys = Buffer.from(JSON.stringify(p.keys.map((x) => [x.text, x.k])), 'utf8');
  const head = Buffer.alloc(16);
  head.writeUInt32LE(keys.length, 0);
  head.writeUInt32LE(p.postings.length / 3, 4);
  head.writeUInt32LE(p.ids.length / 3, 8);
  head.writeUInt32LE(p.n, 12);
  return zstd(Buffer.concat([head, keys, Buffer.from(p.postings.buffer, p.postings.byteOffset, p.postings.byteLength), Buffer.from(p.ids.buffer, p.ids.byteOffset, p.ids.byteLength)]));
}

export function decodePending(firstSeq: number, lastSeq: number, data: Uint8Array): Pending {
  const raw = zstdDecompressSync(data);
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
 * addressing (linear probing) over a Uint32Array of fingerprints; the slot comes from the low 32
 * bits of the hash, the fingerprint from the bits above (+1: 0 marks an empty slot). A hit only
 * says "maybe": the writer confirms it by finding the event. It never forgets an id (ids of pruned
 * events stay until the next rebuild and then fail confirmation), so a miss is certain.
 * 4 bytes a slot, at most 3/4 full: 2^24 slots (64 MiB) hold 12.5M ids.
 */
export class IdTable {
  private slots: Uint32Array;
  private mask: number;
  size = 0;

  constructor(capacityHint = 0) {
    let cap = 1 << 16;
    while (cap * 0.75 < capacityHint) cap *= 2;
    this.slots = new Uint32Array(cap);
    this.mask = cap - 1;
  }

  get capacity(): number {
    return this.slots.length;
  }

  private static fp(k: number): number {
    return (Math.floor(k / 4294967296) & 0x1fffff) + 1;
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
