/**
 * The read side of events.db layout 2, on the calling thread with its own connection
 * (query_only): every call is one read transaction, so blocks, pending rows, buckets and postings
 * are one snapshot, and no read waits behind a commit (WAL).
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { BlockView, FrameDecoder, IdFilter, decodeBlock, decodeChunk, decodePending, hashString, historyKeyText, idKeyText, recordBytes, type BlockEvent, type Pending } from './event-format.ts';
import { EventCache } from './event-cache.ts';
import { GROUP_STRIDE } from './event-schema.ts';
import { summaryCategory } from '../../core/history-attributes.ts';
import type { HistoryQuery, HistoryRow, SharedEventRows, StoredEvent } from '../event-store.ts';

interface Bucket { id: number; firstSeq: number; minT: number; maxT: number }

/** The row of the reader's `heads` statement (null where the table or meta row is empty). */
interface Heads {
  cutoff: number | null;
  pendingVersion: number | null;
  pendingLo: number | null;
  lowest: number | null;
  bucketLo: number | null;
  bucketHi: number | null;
  bucketHiSeq: number | null;
}

/** One key's L0 entries, across every pending row, sorted by (t, seq) ascending (newest last) when `sorted`. */
interface Entries {
  t: number[];
  seq: number[];
  /** False once an entry arrived out of order (an older eventTime committed later): sorted before use. */
  sorted: boolean;
}

/** Appends (t, seq); an entry older than the last one leaves the list to be sorted when read. */
function addEntry(e: Entries, t: number, seq: number): void {
  const n = e.t.length;
  if (n > 0 && (e.t[n - 1]! > t || (e.t[n - 1] === t && e.seq[n - 1]! > seq))) e.sorted = false;
  e.t.push(t);
  e.seq.push(seq);
}

/** The entries in (t, seq) order, sorting them once if some arrived out of order. */
function sortedEntries(e: Entries): Entries {
  if (e.sorted) return e;
  const order = e.t.map((_, i) => i).sort((a, b) => e.t[a]! - e.t[b]! || e.seq[a]! - e.seq[b]!);
  e.t = order.map((i) => e.t[i]!);
  e.seq = order.map((i) => e.seq[i]!);
  e.sorted = true;
  return e;
}

/**
 * Every pending row of the reader's last snapshot merged into one index per key, so that a lookup
 * costs the same however many pending rows there are (each small commit, such as one self-audit
 * record, is its own row: with one cursor per row, lookups slowed down as rows piled up between
 * two merges). Rows are added as they appear; a merge or a prune that rewrote rows rebuilds it.
 */
class PendingIndex {
  /** How many pending rows are indexed. */
  rows = 0;
  maxFirstSeq = -1;
  minFirstSeq = Number.POSITIVE_INFINITY;
  readonly byKey = new Map<string, Entries>();
  readonly byId = new Map<number, Entries>();
  readonly version: number;
  constructor(version: number) {
    this.version = version;
  }

  /**
   * Forgets the entries of the rows below `lo`, the oldest row left (a merge or a log prune took
   * the oldest rows): their entries are exactly those with seq < lo, since rows hold disjoint seq
   * ranges and leave from the oldest end. One pass over the entries, against decoding every row
   * left again (a rebuild at 10M events: 0.4-0.8 s of the main thread's CPU after each merge).
   */
  dropBelow(lo: number): void {
    const drop = <K>(m: Map<K, Entries>) => {
      for (const [key, e] of m) {
        let w = 0;
        for (let r = 0; r < e.seq.length; r++) {
          if (e.seq[r]! < lo) continue;
          e.t[w] = e.t[r]!;
          e.seq[w] = e.seq[r]!;
          w++;
        }
        if (w === 0) m.delete(key);
        else if (w < e.seq.length) {
          e.t.length = w;
          e.seq.length = w;
        }
      }
    };
    drop(this.byKey);
    drop(this.byId);
    this.minFirstSeq = lo;
  }

  add(p: Pending): void {
    this.rows++;
    this.maxFirstSeq = Math.max(this.maxFirstSeq, p.firstSeq);
    this.minFirstSeq = Math.min(this.minFirstSeq, p.firstSeq);
    const put = <K>(m: Map<K, Entries>, key: K, t: number, seq: number) => {
      let e = m.get(key);
      if (!e) m.set(key, (e = { t: [], seq: [], sorted: true }));
      addEntry(e, t, seq);
    };
    // A row holds each key's entries newest first: read backwards, they arrive oldest first.
    for (let i = p.postings.length - 3; i >= 0; i -= 3) put(this.byKey, p.keys[p.postings[i]!]!.text, p.postings[i + 1]!, p.postings[i + 2]!);
    for (let i = p.ids.length - 3; i >= 0; i -= 3) put(this.byId, p.ids[i]!, p.ids[i + 1]!, p.ids[i + 2]!);
  }
}

/** A key's L0 entries newest first, from the last one with t <= upper. */
class EntriesCursor implements Cursor {
  t = 0;
  seq = 0;
  done = false;
  private i: number;
  private readonly e: Entries;
  constructor(e: Entries, upper: number) {
    this.e = e;
    let lo = 0;
    let hi = e.t.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (e.t[mid]! <= upper) lo = mid + 1;
      else hi = mid;
    }
    this.i = lo;
    this.next();
  }
  next(): void {
    this.i--;
    if (this.i < 0) {
      this.done = true;
      return;
    }
    this.t = this.e.t[this.i]!;
    this.seq = this.e.seq[this.i]!;
  }
}

/** A source of candidate (t, seq) entries, newest first. */
interface Cursor {
  /** Head entry, or undefined when exhausted. */
  t: number;
  seq: number;
  done: boolean;
  next(): void;
}

class ArrayCursor implements Cursor {
  t = 0;
  seq = 0;
  done = false;
  private i = -1;
  private readonly ts: number[];
  private readonly seqs: number[];
  constructor(ts: number[], seqs: number[]) {
    this.ts = ts;
    this.seqs = seqs;
    this.next();
  }
  next(): void {
    this.i++;
    if (this.i >= this.ts.length) {
      this.done = true;
      return;
    }
    this.t = this.ts[this.i]!;
    this.seq = this.seqs[this.i]!;
  }
}

/** Entries of one key in one bucket, chunk by chunk, from the first chunk that can hold t <= upper. */
class ChunkCursor implements Cursor {
  t = 0;
  seq = 0;
  done = false;
  private chunk: { t: Float64Array; seq: Float64Array } | undefined;
  private i = 0;
  private readonly read: (chunk: number) => Uint8Array | undefined;
  private c: number;
  constructor(read: (chunk: number) => Uint8Array | undefined, c: number) {
    this.read = read;
    this.c = c;
    this.load();
  }
  private load(): void {
    const data = this.read(this.c);
    if (!data) {
      this.done = true;
      return;
    }
    this.chunk = decodeChunk(data);
    this.i = 0;
    this.t = this.chunk.t[0]!;
    this.seq = this.chunk.seq[0]!;
  }
  next(): void {
    this.i++;
    if (this.i < this.chunk!.t.length) {
      this.t = this.chunk!.t[this.i]!;
      this.seq = this.chunk!.seq[this.i]!;
      return;
    }
    this.c++;
    this.load();
  }
}

export interface ReaderOptions {
  path: string;
  hashBits: number;
  cacheMiB: number;
  /** Bytes of looked-up events (records and summaries) kept between lookups. */
  blockCacheBytes: number;
  /** Bytes of bucket id filters kept between lookups (10 bits an event: 16 MiB hold 13M events' filters). */
  idFilterCacheBytes?: number;
}

/** readAfterShared keeps a staging buffer up to this size between reads (2,000 records of ~1.5 KB take ~3 MB). */
const STAGE_KEEP_BYTES = 8 * 1024 * 1024;

/** Default bound of the id filters held by the reader. */
export const ID_FILTER_CACHE_BYTES = 16 * 1024 * 1024;

export class EventReader {
  private readonly db: DatabaseSync;
  private readonly hashBits: number;
  private readonly st: Record<string, StatementSync>;
  private l0 = new PendingIndex(-1);
  /** Every bucket (newest max_t first) as of `bucketsKey`: the lowest id, the highest id and its first seq. */
  private bucketsAll: Bucket[] = [];
  private bucketsKey = '';
  /** Events lookups met, by seq (records and summaries as bytes in one slab: event-cache.ts): found again without SQL or a decode. */
  private readonly events: EventCache;
  /** Bucket id -> its id filter (LRU by Map order), with the bucket's first seq (ids are reused after a prune emptied the buckets). */
  private readonly filters = new Map<number, { firstSeq: number; filter: IdFilter }>();
  private filterBytes = 0;
  private readonly filterCacheBytes: number;
  /** Decodes blocks into scratch memory reused from one read to the next (reset at the start of each). */
  private readonly decoder = new FrameDecoder();
  /** Counters for measurements (bench/proto/lookup-direct.ts): lookups, events found in the cache, blocks read and decoded, buckets opened. */
  readonly stats = { lookups: 0, cachedEvents: 0, blockReads: 0, bucketsOpened: 0 };

  constructor(opts: ReaderOptions) {
    this.hashBits = opts.hashBits;
    this.events = new EventCache(opts.blockCacheBytes);
    this.filterCacheBytes = opts.idFilterCacheBytes ?? ID_FILTER_CACHE_BYTES;
    this.db = new DatabaseSync(opts.path, { readOnly: false });
    this.db.exec(`PRAGMA cache_size=-${opts.cacheMiB * 1024}; PRAGMA mmap_size=0; PRAGMA busy_timeout=5000; PRAGMA query_only=1;`);
    const p = (sql: string) => this.db.prepare(sql);
    this.st = {
      meta: p('SELECT value FROM meta WHERE name = ?'),
      // The oldest pending row by its rowid (O(log n); count(*) scanned every row, one per
      // self-audit record since the last merge, on every lookup).
      pendingAfter: p('SELECT first_seq, last_seq, data FROM pending WHERE first_seq > ? ORDER BY first_seq'),
      // The bucket list is read again only when its ends changed (bucketList below): a scan of
      // `buckets` visits one page per row (each row's id blobs overflow), 153 rows at 10M events.
      // What a lookup needs to know of the snapshot before it starts, in one statement: the
      // history cut-off, whether the L0 index and the bucket list held still hold, the oldest block.
      heads: p(`SELECT (SELECT value FROM meta WHERE name = 'history_cutoff_sec') AS cutoff,
        (SELECT value FROM meta WHERE name = 'pending_version') AS pendingVersion,
        (SELECT first_seq FROM pending ORDER BY first_seq LIMIT 1) AS pendingLo,
        (SELECT first_seq FROM blocks ORDER BY first_seq LIMIT 1) AS lowest,
        (SELECT id FROM buckets ORDER BY id LIMIT 1) AS bucketLo,
        (SELECT id FROM buckets ORDER BY id DESC LIMIT 1) AS bucketHi,
        (SELECT first_seq FROM buckets ORDER BY id DESC LIMIT 1) AS bucketHiSeq`),
      buckets: p('SELECT id, first_seq, min_t, max_t FROM buckets ORDER BY max_t DESC, id DESC'),
      idFilter: p('SELECT idf FROM buckets WHERE id = ?'),
      chunkKey: p('SELECT key FROM postings WHERE bucket = ? AND k = ? AND chunk = ?'),
      chunkMax: p('SELECT max_t FROM postings WHERE bucket = ? AND k = ? AND chunk = ?'),
      chunkData: p('SELECT data FROM postings WHERE bucket = ? AND k = ? AND chunk = ?'),
      ids: p('SELECT t, seq FROM ids WHERE bucket = ? AND k = ? ORDER BY seq DESC'),
      blockWith: p('SELECT first_seq, last_seq, data FROM blocks WHERE first_seq <= ? ORDER BY first_seq DESC LIMIT 1'),
      // Each block is one commit's events (committed_ms): the block holding afterSeq + 1, or the next one.
      committedAt: p('SELECT last_seq, committed_ms FROM blocks WHERE first_seq <= ? ORDER BY first_seq DESC LIMIT 1'),
      committedAfter: p('SELECT committed_ms FROM blocks WHERE first_seq > ? ORDER BY first_seq LIMIT 1'),
      readBlocks: p('SELECT first_seq, data FROM blocks WHERE first_seq >= coalesce((SELECT first_seq FROM blocks WHERE first_seq <= ? ORDER BY first_seq DESC LIMIT 1), 0) ORDER BY first_seq'),
    };
  }

  /** Runs `work` in one read transaction (one snapshot). */
  private snapshot<T>(work: () => T): T {
    this.db.exec('BEGIN');
    try {
      return work();
    } finally {
      if (this.db.isTransaction) this.db.exec('COMMIT');
    }
  }

  private meta(name: string): number | undefined {
    return (this.st.meta!.get(name) as { value: number } | undefined)?.value;
  }

  lastSeq(): number {
    return this.snapshot(() => this.meta('last_seq') ?? 0);
  }

  count(): number {
    return this.snapshot(() => this.meta('count') ?? 0);
  }

  /** The commit time of the first stored event with seq > afterSeq (EventStore.committedMsAfter). */
  committedMsAfter(afterSeq: number): number | undefined {
    return this.snapshot(() => {
      const at = this.st.committedAt!.get(afterSeq + 1) as { last_seq: number; committed_ms: number } | undefined;
      if (at && at.last_seq > afterSeq) return at.committed_ms;
      return (this.st.committedAfter!.get(afterSeq) as { committed_ms: number } | undefined)?.committed_ms;
    });
  }

  /**
   * The L0 index of this snapshot: new pending rows are added; when rows it holds are gone (a
   * merge or a log prune took the oldest) or were rewritten (a prune raises meta
   * pending_version), it is rebuilt. Rows only ever appear above the newest one (first_seq grows
   * with commits) and leave from the oldest end, so the oldest row's first_seq and the version
   * tell whether the index still holds: no count of the rows is needed.
   */
  private pendingIndex(heads: Heads): PendingIndex {
    const version = heads.pendingVersion ?? 0;
    const lo = heads.pendingLo ?? undefined;
    let l0 = this.l0;
    if (version !== l0.version || (l0.rows > 0 && lo === undefined) || (lo !== undefined && lo < l0.minFirstSeq && l0.rows > 0)) {
      // Rows rewritten (a prune of history raises the version), all rows gone, or not the shape
      // rows ever take: built again from the rows.
      l0 = new PendingIndex(version);
    } else if (l0.rows > 0 && lo !== undefined && lo > l0.minFirstSeq) {
      l0.dropBelow(lo);
    }
    for (const r of this.st.pendingAfter!.iterate(l0.maxFirstSeq) as Iterable<{ first_seq: number; last_seq: number; data: Uint8Array }>) {
      l0.add(decodePending(r.first_seq, r.last_seq, r.data));
    }
    this.l0 = l0;
    return l0;
  }

  /**
   * Every bucket of this snapshot, newest max_t first (ties: higher id first). Buckets are only
   * ever added with an id above every other (a merge) or deleted from the lowest ids up (a prune
   * of the log), and a bucket's id, first seq and time range never change once written, so the
   * lowest id, the highest id and that bucket's first seq (seqs are never reused, even where ids
   * are after a prune emptied the table) tell whether the list held is still the table's.
   */
  private bucketList(heads: Heads): Bucket[] {
    const key = `${heads.bucketLo}/${heads.bucketHi}/${heads.bucketHiSeq}`;
    if (key !== this.bucketsKey) {
      this.bucketsAll = (this.st.buckets!.all() as { id: number; first_seq: number; min_t: number; max_t: number }[])
        .map((b): Bucket => ({ id: b.id, firstSeq: b.first_seq, minT: b.min_t, maxT: b.max_t }));
      this.bucketsKey = key;
    }
    return this.bucketsAll;
  }

  /**
   * The stored event with this seq in this snapshot, or undefined (its block was pruned). From the
   * event cache (no SQL): `lowest` is the snapshot's oldest block, and prune removes blocks from
   * the oldest end only, so a cached event whose block is below it is gone. Else from `blocks`,
   * the blocks this lookup decoded (neighbours in one block cost one query and one decode), else
   * one query and one decode; the event is then cached. A block is read as a BlockView: only the
   * events taken from it are made objects (a scattered page takes one of each).
   */
  private eventAt(seq: number, lowest: number, blocks: BlockView[]): BlockEvent | undefined {
    const cached = this.events.get(seq);
    if (cached !== undefined) {
      if (cached.first < lowest) return undefined;
      this.stats.cachedEvents++;
      return cached;
    }
    let block: BlockView | undefined;
    // Newest decoded first: a page walks from the newest events down.
    for (let i = blocks.length - 1; i >= 0; i--) {
      const b = blocks[i]!;
      if (b.first <= seq && seq <= b.last) {
        block = b;
        break;
      }
    }
    if (!block) {
      const row = this.st.blockWith!.get(seq) as { first_seq: number; last_seq: number; data: Uint8Array } | undefined;
      if (!row || row.last_seq < seq) return undefined;
      this.stats.blockReads++;
      block = new BlockView(row.first_seq, row.last_seq, row.data, this.decoder);
      blocks.push(block);
    }
    const e = block.event(seq);
    if (!e) return undefined;
    // Its bytes are copied into the cache now, while the decoded block is readable.
    this.events.put(block.first, e, recordBytes(e));
    return e;
  }

  lookup(q: HistoryQuery): HistoryRow[] {
    this.stats.lookups++;
    return this.snapshot(() => this.lookupIn(q));
  }

  private lookupIn(q: HistoryQuery): HistoryRow[] {
    // Blocks this lookup decodes stay readable until it returns: what it returns are strings by
    // then, and the event cache copied the bytes it keeps (event-cache.ts).
    this.decoder.reset();
    const heads = this.st.heads!.get() as unknown as Heads;
    const cutoff = heads.cutoff ?? Number.MIN_SAFE_INTEGER;
    const lower = Math.max(q.startSec, cutoff);
    const before = q.before ?? { t: Number.MAX_SAFE_INTEGER, seq: Number.MAX_SAFE_INTEGER };
    const upper = Math.min(q.endSec, before.t);
    if (lower > upper || q.limit <= 0) return [];
    const byId = q.attribute[0] === 'EventId';
    const text = byId ? idKeyText(q.accountId, q.attribute[1]) : historyKeyText(q.accountId, q.region, q.attribute[0], q.attribute[1]);
    const k = hashString(text, this.hashBits);
    const inRange = (t: number, seq: number) => t >= lower && t <= q.endSec && (t < before.t || (t === before.t && seq < before.seq));

    // L0: one cursor over every pending row's entries of the key.
    const cursors: Cursor[] = [];
    const l0 = this.pendingIndex(heads);
    const entries = byId ? l0.byId.get(k) : l0.byKey.get(text);
    if (entries) cursors.push(new EntriesCursor(sortedEntries(entries), upper));
    const buckets = this.bucketList(heads).filter((b) => b.maxT >= lower && b.minT <= upper);
    let nextBucket = 0;
    const lowest = heads.lowest ?? Number.POSITIVE_INFINITY;
    const decoded: BlockView[] = [];
    const out: HistoryRow[] = [];
    while (out.length < q.limit) {
      let best: Cursor | undefined;
      for (const c of cursors) {
        while (!c.done && !inRange(c.t, c.seq)) {
          if (c.t < lower) c.done = true;
          else c.next();
        }
        if (!c.done && (!best || c.t > best.t || (c.t === best.t && c.seq > best.seq))) best = c;
      }
      // A bucket whose newest entry could come before the best head joins before it is taken.
      if (nextBucket < buckets.length && (!best || buckets[nextBucket]!.maxT >= best.t)) {
        this.stats.bucketsOpened++;
        const cursor = this.bucketCursor(buckets[nextBucket++]!, k, text, byId, upper);
        if (cursor) cursors.push(cursor);
        continue;
      }
      if (!best) break;
      const { t, seq } = best;
      best.next();
      const e = this.eventAt(seq, lowest, decoded);
      if (!e || !e.inHistory || e.accountId !== q.accountId || e.region !== q.region) continue;
      if (byId && e.eventId !== q.attribute[1]) continue;
      out.push(e.summary === undefined ? { t, seq, json: e.json } : { t, seq, json: e.json, summary: e.summary });
    }
    return out;
  }

  private bucketCursor(b: Bucket, k: number, text: string, byId: boolean, upper: number): Cursor | undefined {
    if (byId) {
      if (!(this.idFilter(b)?.mayHave(k) ?? true)) return undefined;
      const rows = this.st.ids!.all(b.id, k) as { t: number; seq: number }[];
      rows.sort((x, y) => y.t - x.t || y.seq - x.seq);
      return new ArrayCursor(rows.map((r) => r.t), rows.map((r) => r.seq));
    }
    // The group of chunks holding this key's text (several keys may share a hash).
    let base = -1;
    for (let g = 0; ; g++) {
      const row = this.st.chunkKey!.get(b.id, k, g * GROUP_STRIDE) as { key: string } | undefined;
      if (!row) return undefined;
      if (row.key === text) {
        base = g * GROUP_STRIDE;
        break;
      }
    }
    // The first chunk that can hold t <= upper: chunks are newest first, so binary search on max_t.
    let lo = 0;
    let hi = 0;
    const maxOf = (c: number) => (this.st.chunkMax!.get(b.id, k, base + c) as { max_t: number } | undefined)?.max_t;
    if ((maxOf(0) ?? -Infinity) > upper) {
      hi = 1;
      while ((maxOf(hi) ?? -Infinity) > upper) {
        lo = hi;
        hi *= 2;
      }
      // maxOf(lo) > upper >= maxOf(hi): the last chunk with max_t > upper is in [lo, hi).
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if ((maxOf(mid) ?? -Infinity) > upper) lo = mid;
        else hi = mid;
      }
    }
    return new ChunkCursor((c) => (this.st.chunkData!.get(b.id, k, base + c) as { data: Uint8Array } | undefined)?.data, lo);
  }

  /** The bucket's id filter, or undefined when it has none (written before filters; the writer fills them at open). */
  private idFilter(b: Bucket): IdFilter | undefined {
    const held = this.filters.get(b.id);
    if (held && held.firstSeq === b.firstSeq) {
      this.filters.delete(b.id);
      this.filters.set(b.id, held);
      return held.filter;
    }
    if (held) {
      this.filters.delete(b.id);
      this.filterBytes -= held.filter.bytes;
    }
    const data = (this.st.idFilter!.get(b.id) as { idf: Uint8Array | null } | undefined)?.idf;
    if (!data) return undefined;
    const filter = new IdFilter(data);
    this.filters.set(b.id, { firstSeq: b.firstSeq, filter });
    this.filterBytes += filter.bytes;
    while (this.filterBytes > this.filterCacheBytes && this.filters.size > 1) {
      const [oldest, f] = this.filters.entries().next().value as [number, { filter: IdFilter }];
      this.filters.delete(oldest);
      this.filterBytes -= f.filter.bytes;
    }
    return filter;
  }

  readAfter(afterSeq: number, limit: number, accountId?: string, maxBytes?: number): StoredEvent[] {
    return this.snapshot(() => {
      const out: StoredEvent[] = [];
      let bytes = 0;
      // Block by block, so no more than the cap plus one block is ever held.
      for (const row of this.st.readBlocks!.iterate(afterSeq) as Iterable<{ first_seq: number; data: Uint8Array }>) {
        // Each event kept is turned into a string below before the next block is decoded.
        this.decoder.reset();
        const events = decodeBlock(row.data, this.decoder).events;
        for (const e of events) {
          if (e.seq <= afterSeq || (accountId !== undefined && e.accountId !== accountId)) continue;
          if (maxBytes !== undefined) {
            bytes += Buffer.byteLength(e.json);
            if (out.length > 0 && bytes > maxBytes) return out;
          }
          const ev: StoredEvent = { seq: e.seq, accountId: e.accountId, region: e.region, eventTimeSec: e.eventTimeSec, json: e.json };
          if (e.inHistory && e.summary !== undefined) ev.summary = e.summary;
          out.push(ev);
          if (out.length >= limit) return out;
        }
      }
      return out;
    });
  }

  /**
   * readAfter's rows (no account filter, no byte cap) as SharedEventRows: each record's bytes as
   * stored, copied from the decoded block into a staging buffer (no string per record) and then
   * once into one shared buffer of their exact size. Runs on the store's log-reader thread
   * (event-log-reader-worker.ts), or on the calling thread when that thread is gone.
   */
  readAfterShared(afterSeq: number, limit: number): SharedEventRows {
    const seq = new Float64Array(limit);
    const eventTimeSec = new Float64Array(limit);
    const off = new Float64Array(limit);
    const len = new Float64Array(limit);
    const account = new Uint32Array(limit);
    const region = new Uint32Array(limit);
    const category = new Uint8Array(limit);
    const names: string[] = [];
    const nameIndex = new Map<string, number>();
    const nameOf = (s: string) => {
      let i = nameIndex.get(s);
      if (i === undefined) {
        i = names.length;
        names.push(s);
        nameIndex.set(s, i);
      }
      return i;
    };
    let n = 0;
    let at = 0;
    this.snapshot(() => {
      for (const row of this.st.readBlocks!.iterate(afterSeq) as Iterable<{ first_seq: number; data: Uint8Array }>) {
        // Each event kept is copied to the staging buffer below before the next block is decoded.
        this.decoder.reset();
        for (const e of decodeBlock(row.data, this.decoder).events) {
          if (e.seq <= afterSeq) continue;
          const b = recordBytes(e) ?? Buffer.from(e.json, 'utf8');
          if (at + b.length > this.stage.length) {
            const grown = Buffer.allocUnsafe(Math.max(2 * this.stage.length, at + b.length));
            this.stage.copy(grown, 0, 0, at);
            this.stage = grown;
          }
          this.stage.set(b, at);
          seq[n] = e.seq;
          eventTimeSec[n] = e.eventTimeSec;
          off[n] = at;
          len[n] = b.length;
          account[n] = nameOf(e.accountId);
          region[n] = nameOf(e.region);
          category[n] = e.inHistory && e.summary !== undefined ? (summaryCategory(e.summary) === 'insight' ? 2 : 1) : 0;
          at += b.length;
          if (++n >= limit) return;
        }
      }
    });
    const bytes = new SharedArrayBuffer(Math.max(1, at));
    new Uint8Array(bytes).set(this.stage.subarray(0, at));
    // A staging buffer grown by one large read is not kept for ever.
    if (this.stage.length > STAGE_KEEP_BYTES) this.stage = Buffer.allocUnsafe(STAGE_KEEP_BYTES);
    return {
      n, bytes, names,
      seq: seq.slice(0, n), eventTimeSec: eventTimeSec.slice(0, n), off: off.slice(0, n), len: len.slice(0, n),
      account: account.slice(0, n), region: region.slice(0, n), category: category.slice(0, n),
    };
  }

  /** readAfterShared's staging area, reused from one read to the next. */
  private stage = Buffer.allocUnsafe(1 << 20);

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}
