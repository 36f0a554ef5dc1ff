/**
 * The write side of events.db layout 2, run on the store's writer thread (event-writer-worker.ts):
 * group commits (blocks + one pending row), the merge of pending rows into an L1 bucket, prune in
 * steps, import with given seqs, and duplicate detection through the in-memory IdTable.
 * One instance owns the write connection; every method runs one at a time (the worker queues them).
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import {
  CHUNK, IdTable, ZSTD_LEVEL, decodeBlock, decodeChunk, decodeIds, decodePending, encodeBlock, encodeChunk, encodeIdFilter, encodeIds, encodePending,
  hashIdKey, type BlockEvent, type BlockInput, type Pending,
} from './event-format.ts';
import { FrameEncoder } from '../zstd-frames.ts';
import { GrowableFloat64, HistoryKeys, PendingIds } from './writer-memory.ts';
import { GROUP_STRIDE } from './event-schema.ts';
import type { AppendOutcome, Durability } from '../event-store.ts';
import type { PackedBatch } from './append-batch.ts';

export interface WriterOptions {
  path: string;
  /** Events per block (one zstd frame). */
  blockEvents: number;
  /** Events in pending rows that trigger a merge into one L1 bucket. */
  bucketEvents: number;
  /** Bits of the key hashes (tests use a few to force collisions). */
  hashBits: number;
  cacheMiB: number;
  /** zstd level of the frames written (default ZSTD_LEVEL; a bench knob: the format does not depend on it). */
  zstdLevel?: number | undefined;
  /**
   * Test hook (env OPENTRAIL_TEST_COMMIT_STALL_MS, read by SqliteEventStore): before each COMMIT of
   * an append, the writer thread prints "events.db: commit stalled" to stderr and sleeps this long
   * with the transaction open, so a kill -9 test can land mid-commit. 0 in production.
   */
  commitStallMs?: number;
  /**
   * false: `disk` transactions commit with synchronous=NORMAL like `process` ones, and the caller
   * makes them durable with an fdatasync of the WAL after COMMIT (the store's syncer thread,
   * wal-syncer-worker.ts). true (the default, for prototypes that use the writer alone): `disk`
   * commits with synchronous=FULL, the fsync inside COMMIT.
   */
  syncAtCommit?: boolean;
}

export interface ImportEvent {
  seq: number;
  accountId: string;
  region: string;
  eventId: string;
  eventTimeSec: number;
  json: string;
  history?: readonly (readonly [string, string])[] | undefined;
  summary?: string | undefined;
  committedMs: number;
}

/** A merge computed by prepareMerge, written by commitMerge. */
export interface PreparedMerge {
  rows: Pending[];
  epoch: number;
  start: number;
  /** ms the writer thread spent preparing it (without the pauses). */
  busy: number;
  minT: number;
  maxT: number;
  histMin: number | null;
  /** k, chunk, key text, n, max_t, min_t, data. */
  postings: [number, number, string, number, number, number, Buffer][];
  /** k, seq, t (flat triples), in (k, seq) order. */
  ids: Float64Array;
  idBlob: Float64Array;
}

/** What a migration carries besides the events (importEvents). */
export interface ImportOptions {
  /** Raises the history cut-off (meta history_cutoff_sec) to this, as prune would. */
  historyCutoffSec?: number | undefined;
  /** Raises the seq high-water mark to this (at least the last imported seq): the next append gets lastSeq + 1. */
  lastSeq?: number | undefined;
}

/**
 * One new event of the open transaction: its record as bytes (a packed batch's) or text (an
 * import's), its history pairs as hist[hFrom..hTo) (attribute, value, ...).
 */
type NewEvent = BlockInput & {
  hist: readonly string[];
  hFrom: number;
  hTo: number;
  idk: number;
  committedMs: number;
};

const NO_HISTORY: readonly string[] = [];

const PRUNE_ROWS = 500;

/** `ids` rows per INSERT statement of a merge (insertIds). */
const IDS_PER_INSERT = 64;

/** 0..n-1 as a plain array (cheaper to fill and sort than Array.from with a callback). */
function indices(n: number): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}

/**
 * -1, 0 or 1 as a < b, a = b, a > b. Sort comparators return this rather than a difference: a
 * difference of 53-bit hashes is no small integer, so every comparison allocated a heap number
 * (measured: ~150 bytes of garbage per event in a commit's id sort, MBs in a merge's).
 */
const cmp = (a: number, b: number): number => (a < b ? -1 : a > b ? 1 : 0);

/** (key, t, seq) triples sorted by key ascending, then t descending, then seq descending. */
function sortTriples(a: Float64Array): Float64Array {
  const n = a.length / 3;
  const order = indices(n).sort((x, y) => cmp(a[3 * x]!, a[3 * y]!) || cmp(a[3 * y + 1]!, a[3 * x + 1]!) || cmp(a[3 * y + 2]!, a[3 * x + 2]!));
  const out = new Float64Array(a.length);
  for (let to = 0; to < n; to++) {
    const from = 3 * order[to]!;
    out[3 * to] = a[from]!;
    out[3 * to + 1] = a[from + 1]!;
    out[3 * to + 2] = a[from + 2]!;
  }
  return out;
}

/**
 * Postings (key index, t, seq) given in seq order, sorted like sortTriples: a counting sort by key
 * index (keys are 0..keys-1), each key's run taken backwards (seq descending), and a run sorted by
 * comparison only when its times are not already newest first (events out of time order).
 */
function sortPostings(a: Float64Array, keys: number): Float64Array {
  const n = a.length / 3;
  const start = new Uint32Array(keys + 1);
  for (let i = 0; i < n; i++) start[a[3 * i]! + 1]!++;
  for (let k = 0; k < keys; k++) start[k + 1]! += start[k]!;
  const end = start.slice(1);
  const out = new Float64Array(a.length);
  // Backwards over the input, filling each key's run from its end: seq descending inside a run.
  const fill = start.slice(0, keys);
  for (let i = n - 1; i >= 0; i--) {
    const k = a[3 * i]!;
    const to = 3 * fill[k]!++;
    out[to] = k;
    out[to + 1] = a[3 * i + 1]!;
    out[to + 2] = a[3 * i + 2]!;
  }
  for (let k = 0; k < keys; k++) {
    const from = start[k]!;
    const to = end[k]!;
    let sorted = true;
    for (let i = from + 1; i < to && sorted; i++) {
      const t = out[3 * i + 1]!;
      const prevT = out[3 * i - 2]!;
      if (t > prevT || (t === prevT && out[3 * i + 2]! > out[3 * i - 1]!)) sorted = false;
    }
    if (!sorted) out.set(sortTriples(out.subarray(3 * from, 3 * to)), 3 * from);
  }
  return out;
}
const PRUNE_BLOCKS = 200;

export class EventWriter {
  readonly db: DatabaseSync;
  private readonly opts: WriterOptions;
  private table: IdTable;
  /** Pending rows, decoded, oldest first (what the next merge takes). */
  private pending: Pending[] = [];
  private pendingEvents = 0;
  /** Id hash -> seqs, over the pending rows (confirms a table hit without reading SQLite). */
  private readonly pendingIds = new PendingIds();
  /** The Event history keys of the last commits, their texts and hashes made once. */
  private readonly historyKeys: HistoryKeys;
  /** buildPending's postings, reused from one commit to the next. */
  private readonly postingsScratch = new GrowableFloat64();
  private lastSeq: number;
  private count: number;
  private synchronous = '';
  private readonly st: Record<string, StatementSync>;
  /** This writer's zstd context, kept for its life (FrameEncoder). */
  private readonly encoder: FrameEncoder;

  constructor(opts: WriterOptions) {
    const openStart = performance.now();
    this.opts = opts;
    this.encoder = new FrameEncoder(opts.zstdLevel ?? ZSTD_LEVEL);
    this.historyKeys = new HistoryKeys(opts.hashBits);
    this.db = new DatabaseSync(opts.path);
    this.db.exec(`PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=${64 * 1024 * 1024};
      PRAGMA cache_size=-${opts.cacheMiB * 1024}; PRAGMA mmap_size=0; PRAGMA temp_store=MEMORY; PRAGMA busy_timeout=5000;`);
    this.setSync('disk');
    const p = (sql: string) => this.db.prepare(sql);
    this.st = {
      meta: p('SELECT value FROM meta WHERE name = ?'),
      setMeta: p('INSERT INTO meta(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value'),
      insertBlock: p('INSERT INTO blocks(first_seq, last_seq, n, committed_ms, data) VALUES (?, ?, ?, ?, ?)'),
      insertPending: p('INSERT INTO pending(first_seq, last_seq, n, data) VALUES (?, ?, ?, ?)'),
      blockOf: p('SELECT first_seq, last_seq, data FROM blocks WHERE first_seq <= ? ORDER BY first_seq DESC LIMIT 1'),
      bucketIdsOf: p('SELECT seq FROM ids WHERE bucket = ? AND k = ?'),
      bucketList: p('SELECT id FROM buckets ORDER BY id'),
      insertBucket: p('INSERT INTO buckets(id, first_seq, last_seq, min_t, max_t, n, hist_min_t, ids, idf) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      insertPosting: p('INSERT INTO postings(bucket, k, chunk, key, n, max_t, min_t, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      insertId: p('INSERT INTO ids(bucket, k, seq, t) VALUES (?, ?, ?, ?)'),
      insertIds: p(`INSERT INTO ids(bucket, k, seq, t) VALUES ${Array.from({ length: IDS_PER_INSERT }, () => '(?, ?, ?, ?)').join(', ')}`),
      deletePendingUpTo: p('DELETE FROM pending WHERE first_seq <= ?'),
    };
    this.lastSeq = this.metaValue('last_seq') ?? 0;
    this.count = this.metaValue('count') ?? 0;
    this.pending = (this.db.prepare('SELECT first_seq, last_seq, data FROM pending ORDER BY first_seq').all() as { first_seq: number; last_seq: number; data: Uint8Array }[])
      .map((r) => decodePending(r.first_seq, r.last_seq, r.data));
    this.reindexPending();
    this.fillIdFilters();
    this.table = this.buildTable(0);
    this.stats.openMs = performance.now() - openStart;
  }

  /**
   * Gives every bucket without an id filter (written before the filters existed) its filter,
   * from its `ids` blob: once, at the first open by a build with filters, one transaction.
   */
  private fillIdFilters(): void {
    const missing = this.db.prepare('SELECT id FROM buckets WHERE idf IS NULL ORDER BY id').all() as { id: number }[];
    if (missing.length === 0) return;
    const read = this.db.prepare('SELECT ids FROM buckets WHERE id = ?');
    const update = this.db.prepare('UPDATE buckets SET idf = ? WHERE id = ?');
    this.inTxn(() => {
      for (const { id } of missing) update.run(encodeIdFilter(decodeIds((read.get(id) as { ids: Uint8Array }).ids)), id);
    });
  }

  private metaValue(name: string): number | undefined {
    return (this.st.meta!.get(name) as { value: number } | undefined)?.value;
  }

  private reindexPending(): void {
    this.pendingIds.clear();
    this.pendingEvents = 0;
    for (const p of this.pending) {
      this.pendingEvents += p.n;
      for (let i = 0; i < p.ids.length; i += 3) this.pendingIds.add(p.ids[i]!, p.ids[i + 2]!);
    }
  }

  /**
   * The IdTable from every persisted id hash (bucket blobs, then pending rows), with room for
   * `extra` more. Sized from the counts first (the buckets' `n`: one id per event), then filled one
   * bucket blob at a time, so building it holds the table and one blob (512 KiB), never every blob
   * (10M events: 80 MB); the table is the smallest that holds them at 3/4 (10M: 2^24 slots,
   * 64 MiB). When it fills up, notePending rebuilds it twice as big.
   */
  private buildTable(extra: number): IdTable {
    const stored = (this.db.prepare('SELECT coalesce(sum(n), 0) AS n FROM buckets').get() as { n: number }).n;
    const table = new IdTable(stored + this.pendingEvents + extra);
    for (const b of this.db.prepare('SELECT ids FROM buckets ORDER BY id').iterate() as Iterable<{ ids: Uint8Array }>) {
      for (const k of decodeIds(b.ids)) table.add(k);
    }
    this.pendingIds.forEachHash((k) => table.add(k));
    return table;
  }

  /** Figures for tests and the prototypes: id table capacity, merges done and their time, open time. */
  /** Merge figures are the writer thread's busy time (CPU slices + the write transaction). */
  readonly stats = { merges: 0, mergeMsTotal: 0, mergeMsMax: 0, mergeWriteMsMax: 0, openMs: 0 };

  get tableCapacity(): number {
    return this.table.capacity;
  }

  setSync(durability: Durability): void {
    const wanted = durability === 'disk' && this.opts.syncAtCommit !== false ? 'FULL' : 'NORMAL';
    if (wanted !== this.synchronous) {
      this.db.exec(`PRAGMA synchronous=${wanted}`);
      this.synchronous = wanted;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Appends

  /** A transaction in progress: its new events and ids. */
  private txn: { events: NewEvent[]; ids: Map<string, Map<string, number>>; savedLastSeq: number; blocked: number } | undefined;

  begin(durability: Durability): void {
    this.setSync(durability);
    this.db.exec('BEGIN IMMEDIATE');
    this.txn = { events: [], ids: new Map(), savedLastSeq: this.lastSeq, blocked: 0 };
  }

  /** Assigns seqs (or finds duplicates) for a part of the open transaction. */
  add(batch: PackedBatch, committedMs: number): AppendOutcome[] {
    const txn = this.txn!;
    const out: AppendOutcome[] = [];
    const { strs, bytes, ends, times, hist, histStart, histEnd } = batch;
    for (let i = 0; i < batch.n; i++) {
      const accountId = strs[4 * i]!;
      const eventId = strs[4 * i + 2]!;
      let accountIds = txn.ids.get(accountId);
      if (!accountIds) txn.ids.set(accountId, (accountIds = new Map()));
      const inTxn = accountIds.get(eventId);
      if (inTxn !== undefined) {
        out.push({ seq: inTxn, duplicate: true });
        continue;
      }
      const idk = hashIdKey(accountId, eventId, this.opts.hashBits);
      const existing = this.table.mayHave(idk) ? this.confirm(idk, accountId, eventId) : undefined;
      if (existing !== undefined) {
        out.push({ seq: existing, duplicate: true });
        continue;
      }
      const seq = ++this.lastSeq;
      accountIds.set(eventId, seq);
      const inHistory = histStart[i]! >= 0;
      txn.events.push({
        seq, accountId, region: strs[4 * i + 1]!, eventId, eventTimeSec: times[i]!, inHistory,
        raw: bytes.subarray(i === 0 ? 0 : ends[i - 1]!, ends[i]!), summary: strs[4 * i + 3] ?? undefined,
        hist, hFrom: inHistory ? histStart[i]! : 0, hTo: inHistory ? histEnd[i]! : 0, idk, committedMs,
      });
      out.push({ seq, duplicate: false });
    }
    return out;
  }

  /** The seq of the stored event (account, eventId) with id hash k, or undefined (a false hit, or its block was pruned). */
  private confirm(k: number, account: string, eventId: string): number | undefined {
    const seqs = this.pendingIds.seqsOf(k);
    for (const { id } of this.st.bucketList!.all() as { id: number }[]) {
      for (const r of this.st.bucketIdsOf!.all(id, k) as { seq: number }[]) seqs.push(r.seq);
    }
    for (const seq of seqs) {
      const e = this.eventAt(seq);
      if (e && e.accountId === account && e.eventId === eventId) return seq;
    }
    return undefined;
  }

  private eventAt(seq: number): BlockEvent | undefined {
    const row = this.st.blockOf!.get(seq) as { first_seq: number; last_seq: number; data: Uint8Array } | undefined;
    if (!row || row.last_seq < seq) return undefined;
    return decodeBlock(row.data).events.find((e) => e.seq === seq);
  }

  /** Writes the transaction's blocks and pending row and commits; on failure rolls everything back. */
  commit(): void {
    const txn = this.txn!;
    const events = txn.events;
    let pendingRow: Pending | undefined;
    if (events.length > 0) {
      this.writeBlocks(events, txn.blocked, true);
      pendingRow = this.buildPending(events);
      this.st.insertPending!.run(pendingRow.firstSeq, pendingRow.lastSeq, pendingRow.n, encodePending(pendingRow, this.encoder));
      this.st.setMeta!.run('last_seq', this.lastSeq);
      this.st.setMeta!.run('count', this.count + events.length);
      if (this.opts.commitStallMs) {
        process.stderr.write('events.db: commit stalled\n');
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, this.opts.commitStallMs);
      }
    }
    this.db.exec('COMMIT');
    this.count += events.length;
    this.txn = undefined;
    if (pendingRow) this.notePending(pendingRow);
  }

  private notePending(p: Pending): void {
    this.pending.push(p);
    this.pendingEvents += p.n;
    if (this.table.size + p.n > this.table.capacity * 0.75) {
      for (let i = 0; i < p.ids.length; i += 3) this.pendingIds.add(p.ids[i]!, p.ids[i + 2]!);
      this.table = this.buildTable(p.n);
      return;
    }
    for (let i = 0; i < p.ids.length; i += 3) {
      this.pendingIds.add(p.ids[i]!, p.ids[i + 2]!);
      this.table.add(p.ids[i]!);
    }
  }

  rollback(): void {
    if (this.txn) this.lastSeq = this.txn.savedLastSeq;
    this.txn = undefined;
    // SQLite rolls back by itself after some failures (SQLITE_FULL, SQLITE_IOERR, ...).
    if (this.db.isOpen && this.db.isTransaction) {
      try {
        this.db.exec('ROLLBACK');
      } catch {
        // The connection is unusable for now; the original error is the one to report.
      }
    }
  }

  /**
   * Writes the open transaction's whole blocks so far (a block the events still to come could
   * fill is left for commit): run while an append waits for its follow's events, so that wait
   * overlaps compression and inserts instead of idling with the transaction open.
   */
  writeReadyBlocks(): void {
    const txn = this.txn;
    if (txn) txn.blocked = this.writeBlocks(txn.events, txn.blocked, false);
  }

  /**
   * Blocks of up to blockEvents consecutive events with one committed_ms each, from events[from];
   * unless `all`, the last block is left unwritten when it is not full. Returns where it stopped.
   */
  private writeBlocks(events: readonly NewEvent[], from: number, all: boolean): number {
    let start = from;
    while (start < events.length) {
      let end = start + 1;
      while (end < events.length && end - start < this.opts.blockEvents && events[end]!.committedMs === events[start]!.committedMs) end++;
      if (!all && end === events.length && end - start < this.opts.blockEvents) break;
      const run = events.slice(start, end);
      this.st.insertBlock!.run(run[0]!.seq, run[run.length - 1]!.seq, run.length, run[0]!.committedMs, encodeBlock(run, this.encoder));
      start = end;
    }
    return start;
  }

  private buildPending(events: readonly NewEvent[]): Pending {
    const keys = this.historyKeys;
    keys.startCommit();
    const postings = this.postingsScratch;
    postings.reset();
    const ids = new Float64Array(events.length * 3);
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      ids[3 * i] = e.idk;
      ids[3 * i + 1] = e.eventTimeSec;
      ids[3 * i + 2] = e.seq;
      if (e.hFrom === e.hTo) continue;
      const hist = e.hist;
      const scope = keys.scope(e.accountId, e.region);
      for (let h = e.hFrom; h < e.hTo; h += 2) postings.push3(keys.indexOf(scope, e.accountId, e.region, hist[h]!, hist[h + 1]!), e.eventTimeSec, e.seq);
    }
    // Sorted by key, then newest first (ids by hash, then newest first), so the reader slices a
    // key's entries out of the row without sorting (on the writer thread, off the main one).
    const commitKeys = keys.commitKeys();
    const sortedPostings = sortPostings(postings.view(), commitKeys.length);
    return { firstSeq: events[0]!.seq, lastSeq: events[events.length - 1]!.seq, n: events.length, keys: commitKeys, postings: sortedPostings, ids: sortTriples(ids) };
  }

  probe(nowMs: number): void {
    this.setSync('disk');
    this.db.exec('BEGIN IMMEDIATE');
    try {
      this.st.setMeta!.run('write_probe_ms', nowMs);
      this.db.exec('COMMIT');
    } catch (err) {
      this.rollback();
      throw err;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Import (migration from layout 1)

  /** Appends events with their own seqs and commit times, as one transaction. */
  importEvents(events: readonly ImportEvent[], opts: ImportOptions = {}): void {
    if (events.length === 0 && opts.lastSeq === undefined && opts.historyCutoffSec === undefined) return;
    let prev = this.lastSeq;
    for (const e of events) {
      if (!Number.isSafeInteger(e.seq) || e.seq <= prev) throw new RangeError(`importEvents: seq ${e.seq} is not above ${prev} (seqs must grow strictly and start above lastSeq)`);
      prev = e.seq;
    }
    if (opts.lastSeq !== undefined && (!Number.isSafeInteger(opts.lastSeq) || opts.lastSeq < prev)) throw new RangeError(`importEvents: lastSeq ${opts.lastSeq} is below ${prev}`);
    this.begin('disk');
    try {
      const txn = this.txn!;
      for (const e of events) {
        const hist = e.history ? e.history.flat() : NO_HISTORY;
        txn.events.push({
          seq: e.seq, accountId: e.accountId, region: e.region, eventId: e.eventId, eventTimeSec: e.eventTimeSec, inHistory: e.history !== undefined,
          json: e.json, summary: e.summary, hist, hFrom: 0, hTo: hist.length, idk: hashIdKey(e.accountId, e.eventId, this.opts.hashBits), committedMs: e.committedMs,
        });
      }
      this.lastSeq = Math.max(prev, opts.lastSeq ?? prev);
      // Migration extras (ImportOptions), in the same transaction.
      if (opts.lastSeq !== undefined) this.st.setMeta!.run('last_seq', this.lastSeq);
      if (opts.historyCutoffSec !== undefined && opts.historyCutoffSec > (this.metaValue('history_cutoff_sec') ?? -Infinity)) this.st.setMeta!.run('history_cutoff_sec', opts.historyCutoffSec);
      this.commit();
    } catch (err) {
      this.rollback();
      throw err;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Merge L0 -> L1

  get mergeDue(): boolean {
    return this.pendingEvents >= this.opts.bucketEvents;
  }

  /** Raised whenever a prune rewrites or removes pending rows: a merge prepared before is dropped. */
  private pendingEpoch = 0;

  /**
   * The CPU part of a merge of every pending row into one bucket (group postings by key, sort
   * them newest first, encode the chunks, sort the ids), in slices with `pause()` between them so
   * appends go on meanwhile (it only reads the pending rows it took, which appends never change).
   */
  async prepareMerge(pause: () => Promise<void>): Promise<PreparedMerge | undefined> {
    if (this.pending.length === 0) return undefined;
    const start = performance.now();
    let busy = 0;
    let sliceStart = performance.now();
    const maybePause = async () => {
      if (performance.now() - sliceStart < 5) return;
      busy += performance.now() - sliceStart;
      await pause();
      sliceStart = performance.now();
    };
    // One bucket's worth of rows at most (the oldest), so a merge that fell behind a burst of
    // appends never grows with the backlog: what is left is merged by the next one.
    const rows: Pending[] = [];
    let taken = 0;
    for (const p of this.pending) {
      if (rows.length > 0 && taken >= this.opts.bucketEvents) break;
      rows.push(p);
      taken += p.n;
    }
    const epoch = this.pendingEpoch;
    const groups = new Map<string, { k: number; t: number[]; seq: number[] }>();
    let minT = Infinity;
    let maxT = -Infinity;
    let histMin = Infinity;
    let nIds = 0;
    // Newest row first: each row's postings are sorted by key then newest first, so with ingest
    // roughly in time order every key's list comes out nearly sorted (cheap to sort below).
    for (const p of [...rows].reverse()) {
      let g: { k: number; t: number[]; seq: number[] } | undefined;
      let current = -1;
      for (let i = 0; i < p.postings.length; i += 3) {
        if (p.postings[i] !== current) {
          current = p.postings[i]!;
          const key = p.keys[current]!;
          g = groups.get(key.text);
          if (!g) groups.set(key.text, (g = { k: key.k, t: [], seq: [] }));
        }
        g!.t.push(p.postings[i + 1]!);
        g!.seq.push(p.postings[i + 2]!);
        if (p.postings[i + 1]! < histMin) histMin = p.postings[i + 1]!;
      }
      for (let i = 0; i < p.ids.length; i += 3) {
        const t = p.ids[i + 1]!;
        if (t < minT) minT = t;
        if (t > maxT) maxT = t;
      }
      nIds += p.ids.length / 3;
      await maybePause();
    }
    const ids = new Float64Array(nIds * 3);
    let o = 0;
    for (const p of rows) {
      ids.set(p.ids, o);
      o += p.ids.length;
    }
    const idOrder = indices(nIds).sort((a, b) => cmp(ids[3 * a]!, ids[3 * b]!) || cmp(ids[3 * a + 2]!, ids[3 * b + 2]!));
    await maybePause();
    const sortedKeys = [...groups.entries()].sort(([ta, a], [tb, b]) => cmp(a.k, b.k) || (ta < tb ? -1 : ta > tb ? 1 : 0));
    const postings: PreparedMerge['postings'] = [];
    let prevK = NaN;
    let group = 0;
    for (const [text, g] of sortedKeys) {
      group = g.k === prevK ? group + 1 : 0;
      prevK = g.k;
      let { t, seq } = g;
      // Rows were taken newest first and each is newest first per key: usually already in order.
      let sorted = true;
      for (let i = 1; i < t.length && sorted; i++) if (t[i]! > t[i - 1]! || (t[i] === t[i - 1] && seq[i]! > seq[i - 1]!)) sorted = false;
      if (!sorted) {
        const idx = indices(t.length).sort((a, b) => cmp(g.t[b]!, g.t[a]!) || cmp(g.seq[b]!, g.seq[a]!));
        t = idx.map((i) => g.t[i]!);
        seq = idx.map((i) => g.seq[i]!);
      }
      for (let c = 0; c * CHUNK < t.length; c++) {
        const from = c * CHUNK;
        const to = Math.min(t.length, from + CHUNK);
        postings.push([g.k, group * GROUP_STRIDE + c, text, to - from, t[from]!, t[to - 1]!, encodeChunk(t, seq, from, to)]);
      }
      await maybePause();
    }
    const idBlob = new Float64Array(nIds);
    const idTriples = new Float64Array(nIds * 3);
    for (let i = 0; i < nIds; i++) {
      idBlob[i] = ids[3 * i]!;
      const from = 3 * idOrder[i]!;
      idTriples[3 * i] = ids[from]!;
      idTriples[3 * i + 1] = ids[from + 2]!;
      idTriples[3 * i + 2] = ids[from + 1]!;
    }
    busy += performance.now() - sliceStart;
    return {
      rows, epoch, start, busy, minT, maxT, histMin: Number.isFinite(histMin) ? histMin : null, postings, ids: idTriples, idBlob,
    };
  }

  /**
   * The write part of a merge, in one transaction: the bucket, its postings and ids, and the
   * removal of the merged pending rows (readers see the rows or the bucket, never both nor
   * neither). Dropped when a prune changed the pending rows since it was prepared (the next
   * append finds the merge due again). Returns whether it was written.
   */
  commitMerge(m: PreparedMerge): boolean {
    const n = m.rows.length;
    if (m.epoch !== this.pendingEpoch || this.pending[0] !== m.rows[0] || this.pending[n - 1] !== m.rows[n - 1]) return false;
    const writeStart = performance.now();
    const bucketId = ((this.db.prepare('SELECT max(id) AS m FROM buckets').get() as { m: number | null }).m ?? 0) + 1;
    const events = m.rows.reduce((s, p) => s + p.n, 0);
    const idFilter = encodeIdFilter(m.idBlob);
    this.db.exec('BEGIN IMMEDIATE');
    try {
      this.st.insertBucket!.run(bucketId, m.rows[0]!.firstSeq, m.rows[n - 1]!.lastSeq, m.minT, m.maxT, events, m.histMin, encodeIds(m.idBlob), idFilter);
      for (const [k, chunk, text, count, maxT, minT, data] of m.postings) this.st.insertPosting!.run(bucketId, k, chunk, text, count, maxT, minT, data);
      this.insertIds(bucketId, m.ids);
      this.st.deletePendingUpTo!.run(m.rows[n - 1]!.firstSeq);
      this.db.exec('COMMIT');
    } catch (err) {
      this.rollback();
      throw err;
    }
    this.pending = this.pending.slice(n);
    this.reindexPending();
    const writeMs = performance.now() - writeStart;
    this.stats.merges++;
    this.stats.mergeMsTotal += m.busy + writeMs;
    this.stats.mergeMsMax = Math.max(this.stats.mergeMsMax, m.busy + writeMs);
    this.stats.mergeWriteMsMax = Math.max(this.stats.mergeWriteMsMax, writeMs);
    return true;
  }

  /**
   * A merge's `ids` rows, IDS_PER_INSERT to a statement (one row per event: 65,536 calls of a
   * one-row INSERT cost ~0.9 µs a row here, ~0.55 µs in statements of 64 rows).
   */
  private insertIds(bucketId: number, ids: Float64Array): void {
    const args = new Array<number>(4 * IDS_PER_INSERT);
    let i = 0;
    for (; i + 3 * IDS_PER_INSERT <= ids.length; i += 3 * IDS_PER_INSERT) {
      for (let j = 0; j < IDS_PER_INSERT; j++) {
        args[4 * j] = bucketId;
        args[4 * j + 1] = ids[i + 3 * j]!;
        args[4 * j + 2] = ids[i + 3 * j + 1]!;
        args[4 * j + 3] = ids[i + 3 * j + 2]!;
      }
      this.st.insertIds!.run(...args);
    }
    for (; i < ids.length; i += 3) this.st.insertId!.run(bucketId, ids[i]!, ids[i + 1]!, ids[i + 2]!);
  }

  // -------------------------------------------------------------------------------------------
  // Prune, in steps (each one short transaction)

  /** Raises the history cut-off in meta (never lowers it). */
  pruneCutoff(cutoffSec: number): void {
    const current = this.metaValue('history_cutoff_sec');
    if (current !== undefined && current >= cutoffSec) return;
    this.inTxn(() => this.st.setMeta!.run('history_cutoff_sec', cutoffSec));
  }

  private inTxn<T>(work: () => T): T {
    this.setSync('process');
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const out = work();
      this.db.exec('COMMIT');
      return out;
    } catch (err) {
      this.rollback();
      throw err;
    }
  }

  /**
   * Removes history postings with t < cutoffSec: first from every pending row, then from one
   * bucket (at most PRUNE_ROWS posting rows a step). Returns the postings removed and whether
   * nothing is left to remove.
   */
  pruneHistoryStep(cutoffSec: number): { removed: number; done: boolean } {
    const stale = this.pending.filter((p) => {
      for (let i = 0; i < p.postings.length; i += 3) if (p.postings[i + 1]! < cutoffSec) return true;
      return false;
    });
    if (stale.length > 0) {
      const rewritten = stale.map((p) => {
        const kept: number[] = [];
        for (let i = 0; i < p.postings.length; i += 3) if (p.postings[i + 1]! >= cutoffSec) kept.push(p.postings[i]!, p.postings[i + 1]!, p.postings[i + 2]!);
        return { ...p, postings: Float64Array.from(kept) };
      });
      const removed = this.inTxn(() => {
        const update = this.db.prepare('UPDATE pending SET data = ? WHERE first_seq = ?');
        let n = 0;
        rewritten.forEach((p, i) => {
          update.run(encodePending(p, this.encoder), p.firstSeq);
          n += (stale[i]!.postings.length - p.postings.length) / 3;
        });
        this.st.setMeta!.run('pending_version', (this.metaValue('pending_version') ?? 0) + 1);
        return n;
      });
      const byFirst = new Map(rewritten.map((p) => [p.firstSeq, p]));
      this.pending = this.pending.map((p) => byFirst.get(p.firstSeq) ?? p);
      this.pendingEpoch++;
      return { removed, done: false };
    }
    const bucket = this.db.prepare('SELECT id FROM buckets WHERE hist_min_t < ? ORDER BY id LIMIT 1').get(cutoffSec) as { id: number } | undefined;
    if (!bucket) return { removed: 0, done: true };
    const removed = this.inTxn(() => {
      const rows = this.db.prepare('SELECT k, chunk, n, max_t, data FROM postings WHERE bucket = ? AND min_t < ? LIMIT ?')
        .all(bucket.id, cutoffSec, PRUNE_ROWS) as { k: number; chunk: number; n: number; max_t: number; data: Uint8Array }[];
      const del = this.db.prepare('DELETE FROM postings WHERE bucket = ? AND k = ? AND chunk = ?');
      const upd = this.db.prepare('UPDATE postings SET n = ?, min_t = ?, data = ? WHERE bucket = ? AND k = ? AND chunk = ?');
      let n = 0;
      for (const r of rows) {
        if (r.max_t < cutoffSec) {
          del.run(bucket.id, r.k, r.chunk);
          n += r.n;
          continue;
        }
        const { t, seq } = decodeChunk(r.data);
        let keep = t.length;
        while (keep > 0 && t[keep - 1]! < cutoffSec) keep--;
        upd.run(keep, t[keep - 1]!, encodeChunk([...t.subarray(0, keep)], [...seq.subarray(0, keep)]), bucket.id, r.k, r.chunk);
        n += t.length - keep;
      }
      if (rows.length < PRUNE_ROWS) {
        const left = this.db.prepare('SELECT min(min_t) AS m FROM postings WHERE bucket = ?').get(bucket.id) as { m: number | null };
        this.db.prepare('UPDATE buckets SET hist_min_t = ? WHERE id = ?').run(left.m, bucket.id);
      }
      return n;
    });
    return { removed, done: false };
  }

  /** The first seq of the log that an ingestion cut-off keeps (lastSeq + 1 when it keeps nothing). */
  logBoundary(cutoffIngestMs: number): number {
    const row = this.db.prepare('SELECT first_seq FROM blocks WHERE committed_ms >= ? ORDER BY first_seq LIMIT 1').get(cutoffIngestMs) as { first_seq: number } | undefined;
    return row?.first_seq ?? this.lastSeq + 1;
  }

  /**
   * Removes up to PRUNE_BLOCKS blocks below `boundary`; when none is left, the buckets and pending
   * rows wholly below it (their postings can only point at removed events).
   */
  pruneLogStep(boundary: number): { events: number; done: boolean } {
    const out = this.inTxn(() => {
      const blocks = this.db.prepare('SELECT first_seq, n FROM blocks WHERE first_seq < ? ORDER BY first_seq LIMIT ?').all(boundary, PRUNE_BLOCKS) as { first_seq: number; n: number }[];
      if (blocks.length > 0) {
        const last = blocks[blocks.length - 1]!.first_seq;
        this.db.prepare('DELETE FROM blocks WHERE first_seq <= ?').run(last);
        const events = blocks.reduce((s, b) => s + b.n, 0);
        this.st.setMeta!.run('count', this.count - events);
        return { events, done: false };
      }
      const gone = this.db.prepare('SELECT id FROM buckets WHERE last_seq < ? ORDER BY id').all(boundary) as { id: number }[];
      for (const { id } of gone) {
        this.db.prepare('DELETE FROM postings WHERE bucket = ?').run(id);
        this.db.prepare('DELETE FROM ids WHERE bucket = ?').run(id);
        this.db.prepare('DELETE FROM buckets WHERE id = ?').run(id);
      }
      this.db.prepare('DELETE FROM pending WHERE last_seq < ?').run(boundary);
      return { events: 0, done: true };
    });
    if (out.events > 0) this.count -= out.events;
    if (out.done && this.pending.some((p) => p.lastSeq < boundary)) {
      this.pending = this.pending.filter((p) => p.lastSeq >= boundary);
      this.pendingEpoch++;
      this.reindexPending();
    }
    return out;
  }

  close(): void {
    if (!this.db.isOpen) return;
    // Should this connection be the last one, closing checkpoints the WAL into the database and
    // removes it: with FULL that checkpoint syncs the WAL and the database first.
    try {
      this.db.exec('PRAGMA synchronous=FULL');
    } catch {
      // Closing anyway; SQLite recovers the WAL at the next open.
    }
    this.db.close();
  }
}
