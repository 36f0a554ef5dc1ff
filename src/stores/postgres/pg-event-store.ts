/**
 * EventStore on PostgreSQL: the event log and Event history shared by every node of a deployment
 * (issue 12; docs/storage.md, "PostgreSQL event store"). Schema and partitions: pg-event-schema.ts.
 *
 * - Appends run in parallel (parallelAppends at once per store, any number of nodes): an append's
 *   seqs are allocated from the sequence event_seq together with its transaction id, under
 *   event_seq_lock held only for that allocation (in BEGIN's round trip), so seq order is xid
 *   order among appends; each log row keeps the xid. Appends then commit in any order, and
 *   readers (readAfter, committedMsAfter, prune's boundary) take only rows whose xid is below the
 *   oldest transaction still running (their statement's snapshot): those are a prefix of the log
 *   in seq order, so a reader following by seq never passes a seq that an open append holds
 *   (docs/storage.md, "Appends in parallel").
 * - A group commit is one transaction: the allocation, ONE statement (per 1,000 events) inserting the
 *   batch into event_ids (ON CONFLICT DO NOTHING, in key order: duplicates per account), event_log and
 *   event_history (one multi-row insert per table, from array parameters of the events' fields,
 *   three array parameters of their Event history entries, and the records and summaries, compressed before the transaction began (pg-record-codec.ts), as one bytea each),
 *   then `follow`'s events the same way (their seqs allocated with the batch's), the count (a row
 *   of event_counts), COMMIT; acknowledged after COMMIT. `disk` commits with synchronous_commit on,
 *   `process` with it off (survives our kill -9 at once, power loss from the next synchronous
 *   commit on: it flushes the WAL up to itself).
 * - Reads run on other connections of the pool, each one statement (one snapshot).
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { DAY_MS } from '../../core/index.ts';
import { StoreUnavailableError } from '../errors.ts';
import { openPool, query, storeFailure, untimed, withTransaction, type Pool, type PoolClient, type PoolOptions } from './db.ts';
import { migrate } from './migrations.ts';
import { decodeText, encodeRecord, encodeRecordBytes } from './pg-record-codec.ts';
import {
  MIN_T, ensurePartitions, eventMigrations, listPartitions, partitionStart, type PartitionInfo, type PartitionedTable,
} from './pg-event-schema.ts';
import type {
  AppendFollow, AppendInput, AppendOutcome, Durability, EventStore, HistoryQuery, HistoryRow, StoredEvent,
} from '../event-store.ts';

export interface PgEventStoreOptions extends PgEventStoreLimits {
  /** A database URL (the store opens and, at close, ends its own pool) ... */
  url?: string;
  /** ... or a pool of the caller's (left open at close). */
  pool?: Pool;
  poolOptions?: PoolOptions;
  /** The clock of ingestion times (pruning of the log); tests inject one. */
  nowMs?: () => number;
  /** Width of the log's partitions, by ingestion time, for a new database (default one day). */
  logPartitionMs?: number;
  /** Width of Event history's partitions, by eventTime, for a new database (default one day). */
  historyPartitionSec?: number;
  /**
   * Event history is written only for eventTimes within this many seconds of now, before or after
   * (the server passes eventHistory.retentionDays): an entry outside it is one LookupEvents never
   * returns (src/ingest/bulk.ts eventHistoryNote), and writing it would make a partition per
   * distinct day a caller names. Default: no bound.
   */
  historyWindowSec?: number;
  /** Rows a prune deletes per transaction in a boundary partition (default 5000). */
  pruneChunk?: number;
  /** How long a prune waits for the lock that drops a partition before it leaves it for later (default 5000 ms). */
  dropLockTimeoutMs?: number;
}

/**
 * How a key (event id, Event history value) is stored: as is when it is short and has no NUL
 * (PostgreSQL's text cannot hold NUL; a B-tree entry must stay under ~2.7 KB), else a SHA-256 of
 * it behind \u0001, the same on append and on lookup; lone surrogates become U+FFFD.
 */
export function keyText(s: string): string {
  // A lone surrogate has no UTF-8 form: node-pg would send U+FFFD, and PostgreSQL's JSON refuses it.
  const w = s.isWellFormed() ? s : s.toWellFormed();
  if (w.length <= 170 && !w.includes('\u0000')) return w;
  if (Buffer.byteLength(w) <= 512 && !w.includes('\u0000')) return w;
  return `\u0001sha256:${createHash('sha256').update(w).digest('hex')}`;
}

const num = (v: unknown): number => Number(v);

/**
 * A PostgreSQL array literal of `xs` (text[]): every element quoted, `"` and `\` escaped. Elements
 * are keyText's output or attribute names: well-formed, never NUL.
 */
export function textArray(xs: readonly string[]): string {
  let out = '{';
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]!;
    out += `${i ? ',' : ''}"${x.includes('"') || x.includes('\\') ? x.replace(/["\\]/g, '\\$&') : x}"`;
  }
  return `${out}}`;
}

/** A PostgreSQL array literal of whole numbers (int4[], int8[]: nothing to quote). */
const intArray = (xs: readonly number[]): string => `{${xs.join(',')}}`;

/**
 * An event's record as stored (pg-record-codec.ts) and the record's UTF-8 length. Records and
 * summaries travel as one bytea each (binary parameters, no escaping) that the statement cuts at
 * the offsets given in its array parameters.
 */
interface Encoded {
  record: Buffer;
  recordBytes: number;
}

function encodeEvent(e: AppendInput): Encoded {
  // The record's UTF-8 made at admit, when there is one (no string decoded from it, none encoded again).
  if (e.utf8 !== undefined) return { record: encodeRecordBytes(e.utf8), recordBytes: e.utf8.length };
  const { stored, utf8Bytes } = encodeRecord(e.json);
  return { record: stored, recordBytes: utf8Bytes };
}

/**
 * The UTF-8 of summaries laid end to end in one buffer (an empty summary is none), each written
 * in place: no Buffer per summary, no concatenation.
 */
class SummaryBytes {
  private buf: Buffer;
  /** Bytes written. */
  length = 0;
  constructor(events: number) {
    this.buf = Buffer.allocUnsafe(Math.max(4096, events * 512));
  }
  /** Appends `text`'s UTF-8; its length in bytes. */
  add(text: string): number {
    // At most 3 bytes of UTF-8 per UTF-16 unit.
    if (this.length + text.length * 3 > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + text.length * 3));
      this.buf.copy(grown, 0, 0, this.length);
      this.buf = grown;
    }
    const n = this.buf.write(text, this.length, 'utf8');
    this.length += n;
    return n;
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}


/** A stored record: compressed (v2 rows) or text (rows written by v1). */
function readStored(z: Buffer | null, text: string | null): string | null {
  return z !== null ? decodeText(z) : text;
}

/** Events per insert statement. */
const INSERT_SLICE = 1000;

/** Rows of event_counts appends spread their counts over. */
export const COUNT_SLOTS = 16;

/**
 * Calls `each` with the Event history keys of an event's entries, each (attribute, value) pair
 * once (values as keyText gives them): the rows an event has in event_history. Shared with the
 * bulk loader (bench/pg-bulk-load.ts), which must write the same rows.
 */
export function forEachHistoryPair(history: readonly (readonly [string, string])[], each: (attr: string, value: string) => void): void {
  // An event has ~7-10 entries: the repeats are found by comparing with the pairs kept so far
  // (no Set and no joined key per pair, garbage on the path every event takes); past SMALL_HISTORY
  // entries, a Set.
  if (history.length > SMALL_HISTORY) {
    const pairs = new Set<string>();
    for (const [attr, value] of history) {
      const v = keyText(value);
      const pk = `${attr}\u0000${v}`;
      if (pairs.has(pk)) continue;
      pairs.add(pk);
      each(attr, v);
    }
    return;
  }
  let kept = 0;
  outer: for (const [attr, value] of history) {
    const v = keyText(value);
    for (let i = 0; i < kept; i++) if (keptAttrs[i] === attr && keptValues[i] === v) continue outer;
    keptAttrs[kept] = attr;
    keptValues[kept++] = v;
    each(attr, v);
  }
}

/** Entries of an event up to which forEachHistoryPair finds repeats by comparison. */
const SMALL_HISTORY = 24;
/** forEachHistoryPair's pairs kept so far (reused: it runs to its end before it is called again). */
const keptAttrs: string[] = new Array<string>(SMALL_HISTORY).fill('');
const keptValues: string[] = new Array<string>(SMALL_HISTORY).fill('');

/**
 * The statements sent with an append's BEGIN: `n` seqs allocated from event_seq together with the
 * transaction's id (pg_current_xact_id() assigns it here, its first write), both under
 * event_seq_lock, taken inside a savepoint and released by rolling back to it (PostgreSQL releases
 * a lock taken after a savepoint when the savepoint is rolled back to; nextval and setval are not
 * undone). So among appends, seq order is xid order. LOCK TABLE assigns no xid: an append that
 * waits for the lock has none yet. Also the Event history cut-off (no lock).
 */
function allocation(n: number): string {
  return `SAVEPOINT opentrail_seq; LOCK TABLE event_seq_lock IN EXCLUSIVE MODE;
    SELECT pg_current_xact_id()::text AS xid, setval('event_seq', nextval('event_seq') + ${Math.trunc(n) - 1}) AS last,
      (SELECT history_cutoff_sec FROM event_state WHERE id = 1) AS history_cutoff_sec;
    ROLLBACK TO SAVEPOINT opentrail_seq`;
}

/** One named (prepared once per connection) statement on the pool, failures of the database as StoreUnavailableError. */
async function named<R extends pg.QueryResultRow>(pool: Pool, name: string, text: string, values: unknown[], operation: string): Promise<pg.QueryResult<R>> {
  try {
    return await pool.query<R>({ name, text, values });
  } catch (err) {
    throw storeFailure(err, operation);
  }
}

interface LookupRow {
  t: string;
  seq: string;
  record: string | null;
  summary: string | null;
  zrecord: Buffer | null;
}

interface AppendContext {
  nextSeq: number;
  /** The last seq allocated to this append (its range ends there). */
  lastSeq: number;
  ingestMs: number;
  historyCutoff: number;
  inserted: number;
  /** account\0key -> seq of the events of this append so far (duplicates within it). */
  seen: Map<string, number>;
  /** Partitions created inside this transaction (known once it committed). */
  created: { table: PartitionedTable; start: number }[];
}

/**
 * The upper end of an Event history scan as one (t, seq) position, rows strictly below it: the
 * lower of the cursor's position and just past the range's end (t <= endSec is (t, seq) <
 * (endSec + 1, any seq below every seq)). Seqs are 1 and up.
 */
export function historyUpperBound(endSec: number, beforeT: number, beforeSeq: number): [t: number, seq: number] {
  return beforeT <= endSec ? [beforeT, beforeSeq] : [endSec + 1, 0];
}

/** The Event history cut-off, read by the lookup statements themselves (one snapshot with their rows). */
const HISTORY_CUTOFF = '(SELECT history_cutoff_sec FROM event_state WHERE id = 1)';

/**
 * One page of an attribute's lookup (PgEventStore.lookupPage): $1-$4 the key, $5-$6 the range,
 * ($7, $8) the scan's upper end (historyUpperBound), $9 the limit. Exported for the test that
 * reads its plan.
 */
export const LOOKUP_PAGE_SQL = `
        SELECT h.t, h.seq, l.record, l.summary, l.zrecord, l.seq IS NOT NULL AS found
        FROM (
          SELECT account_id, t, seq, ingest_ms FROM event_history
          WHERE account_id = $1 AND region = $2 AND attr = $3 AND value = $4
            AND t >= GREATEST($5::int8, ${HISTORY_CUTOFF}) AND t <= $6 AND (t, seq) < ($7::int8, $8::int8)
          ORDER BY t DESC, seq DESC
          LIMIT $9
        ) h
        LEFT JOIN LATERAL (
          SELECT seq, record, summary, zrecord FROM event_log l
          WHERE l.account_id = h.account_id AND l.seq = h.seq AND l.ingest_ms = h.ingest_ms
        ) l ON true
        ORDER BY h.t DESC, h.seq DESC`;

/** See PgEventStore.admission. */
export const PG_BULK_ADMISSION = 4;

/** See PgEventStore.parallelAppends. */
export const PG_PARALLEL_APPENDS = 2;

/**
 * Seqs allocated beyond the batch for what `follow` returns (the ingester's self-audit records:
 * one per submit of the group). An append whose follow returns more starts again with the exact
 * count (follow is called again). Unused seqs are gaps, which the contract allows.
 */
const FOLLOW_RESERVE = 8;

/** `follow` returned more events than seqs were allocated for them: the append starts again with `need`. */
class ReserveExceeded extends Error {
  readonly need: number;
  constructor(need: number) {
    super(`follow returned ${need} events`);
    this.need = need;
  }
}

/**
 * The filter of a log row whose seq is settled: its append's transaction (xid) is older than every
 * transaction still running, so no append still running holds a lower seq (rows of v2, xid NULL,
 * were appended one at a time). Evaluated with the statement's own snapshot (docs/storage.md,
 * "Appends in parallel").
 */
const SETTLED = '(xid IS NULL OR xid < pg_snapshot_xmin(pg_current_snapshot()))';

/** Whether `err` (or its cause) is PostgreSQL's deadlock error. */
const isDeadlock = (err: unknown): boolean => {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  return e?.code === '40P01' || e?.cause?.code === '40P01';
};

export interface PgEventStoreLimits {
  /** Appends of this store in flight at once, each on a connection of its own (default PG_PARALLEL_APPENDS). */
  parallelAppends?: number;
}

export class PgEventStore implements EventStore {
  /**
   * Bulk requests admitted at once on PostgreSQL (EventStore.admission): an append pays a fixed
   * cost per group (BEGIN + the state row's lock, UPDATE + COMMIT, the WAL flush), so with two
   * admitted every group held one request (one committed while one parsed). With four, up to
   * three requests wait behind the append in flight and commit as one group while the fourth
   * parses (docs/performance.md "Issue 12, part 7").
   */
  readonly admission = PG_BULK_ADMISSION;
  /**
   * Appends that may run at once (EventStore.parallelAppends), each in a transaction of its own:
   * seqs are allocated under a lock held only for the allocation, and readers stop below any
   * append still running (docs/storage.md, "Appends in parallel").
   */
  readonly parallelAppends: number;
  private readonly pool: Pool;
  private readonly ownsPool: boolean;
  private readonly nowMs: () => number;
  private readonly logWidth: number;
  private readonly historyWidth: number;
  private readonly historyWindowSec: number;
  private readonly pruneChunk: number;
  private readonly dropLockTimeoutMs: number;
  /** Partition starts known to exist, per table. */
  private readonly known: Record<PartitionedTable, Set<number>> = { event_log: new Set(), event_history: new Set() };
  /** Appends and probes running, and those waiting for a turn (call order). */
  private running = 0;
  private readonly turns: (() => void)[] = [];
  private readonly inFlight = new Set<Promise<unknown>>();
  /** The partition creation in flight (appendOnce). */
  private creating: Promise<unknown> = Promise.resolve();
  private closed = false;
  /**
   * Events encoded ahead of their append (prepare), or by it. A prepared batch waits behind the
   * append in flight: encoding it meanwhile takes the node's CPU work off the path every append
   * of this node goes through one at a time (encode, then the transaction).
   */
  private readonly encodings = new WeakMap<AppendInput, Encoded>();
  /** Batches given to prepare, not yet encoded, and where in the first one the encoding is. */
  private readonly toPrepare: (readonly AppendInput[])[] = [];
  private prepareAt = 0;
  private preparing = false;

  private constructor(pool: Pool, ownsPool: boolean, state: { logWidth: number; historyWidth: number }, opts: PgEventStoreOptions) {
    this.pool = pool;
    this.ownsPool = ownsPool;
    this.nowMs = opts.nowMs ?? Date.now;
    this.logWidth = state.logWidth;
    this.historyWidth = state.historyWidth;
    this.historyWindowSec = opts.historyWindowSec ?? Number.POSITIVE_INFINITY;
    this.pruneChunk = opts.pruneChunk ?? 5000;
    this.dropLockTimeoutMs = opts.dropLockTimeoutMs ?? 5000;
    this.parallelAppends = Math.max(1, Math.floor(opts.parallelAppends ?? PG_PARALLEL_APPENDS));
  }

  /** Opens the store: migrates the `events` schema (creating it in an empty database), reads the partitions. */
  static async open(opts: PgEventStoreOptions): Promise<PgEventStore> {
    if (!opts.pool && !opts.url) throw new TypeError('PgEventStore.open needs a url or a pool');
    const pool = opts.pool ?? openPool(opts.url!, opts.poolOptions);
    try {
      await migrate(pool, 'events', eventMigrations({ logPartitionMs: opts.logPartitionMs ?? DAY_MS, historyPartitionSec: opts.historyPartitionSec ?? DAY_MS / 1000 }));
      const r = await query<{ log_partition_ms: string; history_partition_sec: string }>(pool, 'SELECT log_partition_ms, history_partition_sec FROM event_state WHERE id = 1', [], 'open the event store');
      const row = r.rows[0];
      if (!row) throw new Error('PostgreSQL event store: the row of event_state is missing');
      const store = new PgEventStore(pool, !opts.pool, { logWidth: num(row.log_partition_ms), historyWidth: num(row.history_partition_sec) }, opts);
      await store.refreshPartitions();
      return store;
    } catch (err) {
      if (!opts.pool) await pool.end().catch(() => undefined);
      throw err;
    }
  }

  private async refreshPartitions(): Promise<void> {
    await withTransaction(this.pool, async (c) => {
      for (const table of ['event_log', 'event_history'] as const) {
        this.known[table] = new Set((await listPartitions(c, table)).map((p) => p.from));
      }
    }, { operation: 'read the event partitions' });
  }

  private widthOf(table: PartitionedTable): number {
    return table === 'event_log' ? this.logWidth : this.historyWidth;
  }

  /** Whether an event's Event history entries are written (its eventTime within the window around now). */
  private inHistoryWindow(e: AppendInput, nowSec: number): boolean {
    return e.history !== undefined && e.history.length > 0 && Math.abs(e.eventTimeSec - nowSec) <= this.historyWindowSec;
  }

  /** Partition starts `events` need (and the next log and history partitions: created ahead) that are not known to exist. */
  private missing(events: readonly AppendInput[], ingestMs: number): { table: PartitionedTable; starts: number[] }[] {
    const need: Record<PartitionedTable, Set<number>> = { event_log: new Set(), event_history: new Set() };
    const logStart = partitionStart(ingestMs, this.logWidth);
    need.event_log.add(logStart).add(logStart + this.logWidth);
    const nowSec = Math.floor(ingestMs / 1000);
    const histNow = partitionStart(nowSec, this.historyWidth);
    need.event_history.add(histNow).add(histNow + this.historyWidth);
    // Events of a batch mostly share a partition: a start is added only when it differs from the last one added.
    let last = histNow;
    for (const e of events) {
      if (!this.inHistoryWindow(e, nowSec)) continue;
      const start = partitionStart(e.eventTimeSec, this.historyWidth);
      if (start !== last) need.event_history.add(last = start);
    }
    const out: { table: PartitionedTable; starts: number[] }[] = [];
    for (const table of ['event_log', 'event_history'] as const) {
      const starts = [...need[table]].filter((s) => !this.known[table].has(s)).sort((a, b) => a - b);
      if (starts.length) out.push({ table, starts });
    }
    return out;
  }

  private async createPartitions(c: PoolClient, missing: { table: PartitionedTable; starts: number[] }[], created: { table: PartitionedTable; start: number }[]): Promise<void> {
    for (const { table, starts } of missing) {
      for (const start of await ensurePartitions(c, table, starts, this.widthOf(table))) created.push({ table, start });
    }
  }

  /** Runs `fn` when fewer than parallelAppends appends and probes run (turns in call order). */
  private inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const run = (async () => {
      if (this.running >= this.parallelAppends) await new Promise<void>((resolve) => this.turns.push(resolve));
      else this.running++;
      try {
        return await fn();
      } finally {
        // The turn passes to the next waiter (running stays counted), else it ends.
        const next = this.turns.shift();
        if (next) next();
        else this.running--;
      }
    })();
    const tracked = run.catch(() => undefined);
    this.inFlight.add(tracked);
    void tracked.then(() => this.inFlight.delete(tracked));
    return run;
  }

  prepare(batch: readonly AppendInput[]): void {
    if (this.closed || batch.length === 0) return;
    this.toPrepare.push(batch);
    if (this.preparing) return;
    this.preparing = true;
    setImmediate(() => this.prepareSlice());
  }

  /** Encodes up to INSERT_SLICE prepared events, then lets the event loop turn before the next slice. */
  private prepareSlice(): void {
    let n = 0;
    while (n < INSERT_SLICE && this.toPrepare.length > 0 && !this.closed) {
      const batch = this.toPrepare[0]!;
      for (; this.prepareAt < batch.length && n < INSERT_SLICE; this.prepareAt++) {
        const e = batch[this.prepareAt]!;
        if (this.encodings.has(e)) continue;
        this.encodings.set(e, encodeEvent(e));
        n++;
      }
      if (this.prepareAt >= batch.length) {
        this.toPrepare.shift();
        this.prepareAt = 0;
      }
    }
    if (this.toPrepare.length > 0 && !this.closed) setImmediate(() => this.prepareSlice());
    else this.preparing = false;
  }

  /** `events` encoded (those prepared already as they were), a slice at a time, the event loop turning between slices. */
  private async encodeAll(events: readonly AppendInput[]): Promise<Encoded[]> {
    const out: Encoded[] = [];
    for (let i = 0; i < events.length; i += INSERT_SLICE) {
      if (i > 0) await new Promise((resolve) => setImmediate(resolve));
      for (let j = i; j < Math.min(events.length, i + INSERT_SLICE); j++) {
        const e = events[j]!;
        let z = this.encodings.get(e);
        if (!z) {
          z = encodeEvent(e);
          // Marked, so that a prepare of the same batch still queued skips it.
          this.encodings.set(e, z);
        }
        out.push(z);
      }
    }
    return out;
  }

  append(batch: readonly AppendInput[], durability: Durability = 'disk', follow?: AppendFollow): Promise<AppendOutcome[]> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('PostgreSQL event store: closed'));
    if (batch.length === 0 && !follow) return Promise.resolve([]);
    return this.inTurn(async () => {
      let reserve = follow ? FOLLOW_RESERVE : 0;
      for (let attempt = 0; ; attempt++) {
        try {
          return await this.appendOnce(batch, durability, follow, reserve);
        } catch (err) {
          if (err instanceof ReserveExceeded && attempt < 3) {
            reserve = err.need;
            continue;
          }
          // Two appends in flight at once that carry the same event ids in different orders (across
          // their insert slices) can deadlock; PostgreSQL fails one, which starts again.
          if (isDeadlock(err) && attempt < 3) continue;
          // A partition another node dropped (a node whose clock lags by more than a partition) or
          // one we believed in wrongly: learn the partitions again and try once more.
          if ((err as { code?: unknown }).code !== '23514' || attempt > 0) throw err;
          await this.refreshPartitions();
        }
      }
    });
  }

  private async appendOnce(batch: readonly AppendInput[], durability: Durability, follow: AppendFollow | undefined, followReserve: number): Promise<AppendOutcome[]> {
    const ingestMs = Math.floor(this.nowMs());
    if (this.missing(batch, ingestMs).length) {
      // One creation at a time per store: an append beside it that needs partitions too waits
      // here (not on the database's advisory lock, whose wait the statement timeout bounds), then
      // creates only what is still missing.
      const create = async () => {
        const ahead = this.missing(batch, ingestMs);
        if (!ahead.length) return;
        const created: { table: PartitionedTable; start: number }[] = [];
        await withTransaction(this.pool, (c) => this.createPartitions(c, ahead, created), { operation: 'create event partitions' });
        for (const p of created) this.known[p.table].add(p.start);
      };
      const run = this.creating.then(create, create);
      this.creating = run.catch(() => undefined);
      await run;
    }
    // Compressed before the transaction, off the path of the database's work.
    const encoded = await this.encodeAll(batch);
    const reserve = batch.length + followReserve;
    const ctx: AppendContext = { nextSeq: 0, lastSeq: 0, ingestMs, historyCutoff: MIN_T, inserted: 0, seen: new Map(), created: [] };
    const outcomes = await withTransaction(this.pool, async (c, tx) => {
      const st = tx.first[0] as { last: string; history_cutoff_sec: string };
      ctx.lastSeq = num(st.last);
      ctx.nextSeq = ctx.lastSeq - reserve + 1;
      ctx.historyCutoff = num(st.history_cutoff_sec);
      const out = await this.insert(c, batch, encoded, ctx);
      if (follow) {
        const more = follow(out.slice());
        if (more.length > followReserve) throw new ReserveExceeded(more.length);
        const need = this.missing(more, ingestMs);
        if (need.length) await this.createPartitions(c, need, ctx.created);
        out.push(...await this.insert(c, more, more.map(encodeEvent), ctx));
      }
      // Sent with COMMIT (integers: no parameters needed). A slot of its own most of the time, so
      // that appends in flight together rarely wait for each other's row.
      if (ctx.inserted > 0) {
        tx.beforeCommit = `INSERT INTO event_counts (slot, events) VALUES (${Math.floor(Math.random() * COUNT_SLOTS)}, ${Math.trunc(ctx.inserted)})
          ON CONFLICT (slot) DO UPDATE SET events = event_counts.events + EXCLUDED.events`;
      }
      return out;
    }, { synchronousCommit: durability === 'disk', operation: 'append', withBegin: allocation(reserve) });
    for (const p of ctx.created) this.known[p.table].add(p.start);
    return outcomes;
  }

  /**
   * Inserts `events` (first occurrences get the next seqs), one statement per 1,000 events (so a
   * large append builds its parameters a slice at a time and lets the event loop turn between
   * them); their outcomes in order.
   */
  private async insert(c: PoolClient, events: readonly AppendInput[], encoded: readonly Encoded[], ctx: AppendContext): Promise<AppendOutcome[]> {
    const out: AppendOutcome[] = [];
    for (let i = 0; i < events.length; i += INSERT_SLICE) out.push(...await this.insertSlice(c, events.slice(i, i + INSERT_SLICE), encoded.slice(i, i + INSERT_SLICE), ctx));
    return out;
  }

  private async insertSlice(c: PoolClient, events: readonly AppendInput[], encoded: readonly Encoded[], ctx: AppendContext): Promise<AppendOutcome[]> {
    const out: AppendOutcome[] = [];
    /** Index in `out` of each event tried (first occurrence in this append). */
    const tried: number[] = [];
    const triedKeys: string[] = [];
    /**
     * The tried events' fields, one array per field (sent as array literals), with where their
     * record (ro, rn) and summary (so, sn; sn 0: none) are in the bytea parameters (1-based
     * offsets, lengths).
     */
    const ma: string[] = [], me: string[] = [], mr: string[] = [];
    const ms: number[] = [], mt: number[] = [], mb: number[] = [], mro: number[] = [], mrn: number[] = [], mso: number[] = [], msn: number[] = [];
    let mh = '';
    const sums = new SummaryBytes(events.length), recs: Buffer[] = [];
    let recOff = 1;
    /**
     * The Event history entries: seq, attribute, value (three parallel arrays, sent as array
     * literals); the attribute as its 1-based index in `attrs`, the slice's distinct attribute
     * names (a handful: no text and no escaping per entry).
     */
    const hs: number[] = [], hk: number[] = [], hv: string[] = [];
    const attrs: string[] = [];
    const attrIndex = new Map<string, number>();
    for (let n = 0; n < events.length; n++) {
      const e = events[n]!;
      const id = keyText(e.eventId);
      const k = `${e.accountId}\u0000${id}`;
      const prior = ctx.seen.get(k);
      if (prior !== undefined) {
        out.push({ seq: prior, duplicate: true });
        continue;
      }
      const seq = ctx.nextSeq++;
      if (seq > ctx.lastSeq) throw new Error('PostgreSQL event store: an append used more seqs than it allocated');
      ctx.seen.set(k, seq);
      tried.push(out.length);
      triedKeys.push(k);
      out.push({ seq, duplicate: false });
      const z = encoded[n]!;
      const so = sums.length + 1;
      ma.push(e.accountId);
      me.push(id);
      ms.push(seq);
      mr.push(e.region);
      mt.push(e.eventTimeSec);
      mh += e.history !== undefined ? (mh ? ',t' : 't') : (mh ? ',f' : 'f');
      mb.push(z.recordBytes);
      mro.push(recOff);
      mrn.push(z.record.length);
      mso.push(so);
      msn.push(e.summary ? sums.add(e.summary) : 0);
      recs.push(z.record);
      recOff += z.record.length;
      // Entries older than the Event history cut-off are not written (a prune already passed them),
      // nor those outside the window around now (never returned; no partition made for them).
      if (e.history && e.eventTimeSec >= ctx.historyCutoff && this.inHistoryWindow(e, Math.floor(ctx.ingestMs / 1000))) {
        forEachHistoryPair(e.history, (attr, v) => {
          let k = attrIndex.get(attr);
          if (k === undefined) {
            k = attrs.push(attr);
            attrIndex.set(attr, k);
          }
          hs.push(seq);
          hk.push(k);
          hv.push(v);
        });
      }
    }
    if (tried.length === 0) return out;
    // Parameters: the events' fields as array literals of our own (node-pg's are slower; PostgreSQL
    // reads arrays for less CPU than json_to_recordset: docs/performance.md "Issue 12, part 12"
    // and "part 14"), records and summaries as one bytea each, the Event history entries as three
    // array literals (~7 entries an event: PostgreSQL reads them as arrays for a third of the CPU
    // json_to_recordset took, 7 against 20 us an event, inside the section every append goes
    // through one at a time); an entry's attribute as its index in an array of the slice's
    // attribute names (a few names, not ~7 quoted names an event).
    // Ids are inserted in key order: two appends in flight that carry the same ids wait for each
    // other in one order (no deadlock within a slice). The log rows keep the transaction's id
    // (readers' horizon). Returned: the events not inserted with the seq already stored, or NULL
    // when that row committed after this statement's snapshot (an append in flight beside it).
    const r = await c.query<{ tried: string; seq: string | null }>({ name: 'opentrail_ev_insert5', text: `
      WITH u AS (
        SELECT m.a AS account_id, m.e AS event_id, m.s AS seq, m.r AS region, m.t AS event_time, m.h AS in_history, m.b AS record_bytes,
          substring($3::bytea FROM m.ro FOR m.rn) AS zrecord,
          CASE WHEN m.sn > 0 THEN convert_from(substring($2::bytea FROM m.so FOR m.sn), 'UTF8') END AS summary
        FROM unnest($1::text[], $9::text[], $10::int8[], $11::text[], $12::int8[], $13::bool[], $14::int4[], $15::int4[], $16::int4[], $17::int4[], $18::int4[])
          AS m(a, e, s, r, t, h, b, ro, rn, so, sn)
      ), ids AS (
        INSERT INTO event_ids (account_id, event_id, seq, ingest_ms)
        SELECT account_id, event_id, seq, $4::int8 FROM u ORDER BY account_id, event_id
        ON CONFLICT DO NOTHING
        RETURNING seq
      ), log AS (
        INSERT INTO event_log (account_id, seq, ingest_ms, region, event_id, event_time, in_history, summary, zrecord, record_bytes, xid)
        SELECT account_id, seq, $4::int8, region, event_id, event_time, in_history, summary, zrecord, record_bytes, pg_current_xact_id() FROM u
        WHERE seq IN (SELECT seq FROM ids)
      ), hist AS (
        INSERT INTO event_history (account_id, region, attr, value, t, seq, ingest_ms)
        SELECT u.account_id, u.region, ($8::text[])[h.k], h.v, u.event_time, u.seq, $4::int8
        FROM unnest($5::int8[], $6::int4[], $7::text[]) AS h(s, k, v) JOIN u ON u.seq = h.s
        WHERE h.s IN (SELECT seq FROM ids)
      )
      SELECT u.seq AS tried, x.seq FROM u LEFT JOIN event_ids x ON x.account_id = u.account_id AND x.event_id = u.event_id
      WHERE u.seq NOT IN (SELECT seq FROM ids)`,
    values: [textArray(ma), sums.bytes(), Buffer.concat(recs), ctx.ingestMs, intArray(hs), intArray(hk), textArray(hv), textArray(attrs),
      textArray(me), intArray(ms), textArray(mr), intArray(mt), `{${mh}}`, intArray(mb), intArray(mro), intArray(mrn), intArray(mso), intArray(msn)] });
    // Rows returned: the events already stored (before this append), with the seq they hold.
    const stored = new Map<number, number>();
    const late: { tried: number; key: string }[] = [];
    let keyOfSeq: Map<number, string> | undefined;
    for (const row of r.rows) {
      if (row.seq !== null) stored.set(num(row.tried), num(row.seq));
      else {
        keyOfSeq ??= new Map(tried.map((i, j) => [out[i]!.seq, triedKeys[j]!]));
        late.push({ tried: num(row.tried), key: keyOfSeq.get(num(row.tried))! });
      }
    }
    if (late.length) {
      // Stored by an append that committed while this one waited for its id row: a new
      // statement (a new snapshot) reads their seqs.
      const accounts = late.map((l) => l.key.slice(0, l.key.indexOf('\u0000')));
      const ids = late.map((l) => l.key.slice(l.key.indexOf('\u0000') + 1));
      const again = await c.query<{ account_id: string; event_id: string; seq: string }>(
        'SELECT account_id, event_id, seq FROM event_ids WHERE (account_id, event_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))', [accounts, ids]);
      const byKey = new Map(again.rows.map((row) => [`${row.account_id}\u0000${row.event_id}`, num(row.seq)]));
      for (const l of late) {
        const seq = byKey.get(l.key);
        // Deleted again since (a prune): the client tries again.
        if (seq === undefined) throw new StoreUnavailableError('PostgreSQL event store: append raced with a prune of one of its event ids; try again');
        stored.set(l.tried, seq);
      }
    }
    tried.forEach((i, j) => {
      const existing = stored.get(out[i]!.seq);
      if (existing === undefined) {
        ctx.inserted++;
        return;
      }
      ctx.seen.set(triedKeys[j]!, existing);
      out[i] = { seq: existing, duplicate: true };
    });
    // Repeats within the append named the first occurrence's seq before it was known to be a duplicate.
    for (let i = 0; i < out.length; i++) {
      const o = out[i]!;
      if (o.duplicate && stored.has(o.seq)) out[i] = { seq: stored.get(o.seq)!, duplicate: true };
    }
    return out;
  }

  probe(): Promise<void> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('PostgreSQL event store: closed'));
    return this.inTurn(async () => {
      await withTransaction(this.pool, async (c) => {
        await c.query('UPDATE event_state SET probe_ms = $1 WHERE id = 1', [Math.floor(this.nowMs())]);
      }, { operation: 'probe' });
    });
  }

  async lookup(q: HistoryQuery): Promise<HistoryRow[]> {
    const [key, value] = q.attribute;
    const beforeT = q.before ? q.before.t : Number.MAX_SAFE_INTEGER;
    const beforeSeq = q.before ? q.before.seq : 0;
    // Named statements: each connection plans them a few times, then keeps PostgreSQL's generic
    // plan, whose partitions are pruned when it runs (planning a lookup over ~30-90 partitions
    // took longer than running it).
    const r = key === 'EventId'
      ? await named<LookupRow>(this.pool, 'opentrail_ev_lookup_id2', `
        SELECT l.event_time AS t, l.seq, l.record, l.summary, l.zrecord
        FROM event_ids i JOIN event_log l ON l.account_id = i.account_id AND l.seq = i.seq AND l.ingest_ms = i.ingest_ms
        WHERE i.account_id = $1 AND i.event_id = $2 AND l.region = $3 AND l.in_history
          AND l.event_time >= GREATEST($4::int8, ${HISTORY_CUTOFF}) AND l.event_time <= $5 AND (l.event_time, l.seq) < ($6::int8, $7::int8)
        LIMIT $8`, [q.accountId, keyText(value), q.region, q.startSec, q.endSec, beforeT, beforeSeq, q.limit], 'lookup')
      : await this.lookupPage(q, key, keyText(value), beforeT, beforeSeq);
    return r.rows.map((row) => {
      const out: HistoryRow = { t: num(row.t), seq: num(row.seq), json: readStored(row.zrecord, row.record)! };
      if (row.summary !== null) out.summary = row.summary;
      return out;
    });
  }

  /**
   * An attribute's page: the history rows in order, LIMIT applied to them, then one log probe each
   * (LATERAL). With the LIMIT outside a join, PostgreSQL's generic plan for a frequent value
   * joined every matching history row to the log and sorted them (0.1-1.4 s at 200k-1M events).
   * A history row whose record the log's retention already removed (a future-dated event) has no
   * probe result: the page goes on after it, so such rows never shorten a page.
   *
   * The scan's upper end is the row comparison (t, seq) < ($7, $8) alone, made the tighter of the
   * cursor and the range's end by historyUpperBound; `t <= $6` stays for partition pruning only.
   * PostgreSQL's B-tree starts a backward scan at the first upper bound of a column it is given,
   * and a row comparison comes first: with the cursor's (MAX_SAFE_INTEGER, 0) there, a first page
   * whose range ends in the past began at the newest entry of the value in the partition and
   * stepped back over every entry newer than the range's end (docs/performance.md, "Issue 12,
   * part 10").
   */
  private async lookupPage(q: HistoryQuery, key: string, value: string, beforeT: number, beforeSeq: number): Promise<{ rows: LookupRow[] }> {
    const rows: LookupRow[] = [];
    let [t, seq] = historyUpperBound(q.endSec, beforeT, beforeSeq);
    for (;;) {
      const want = q.limit - rows.length;
      const r = await named<LookupRow & { found: boolean }>(this.pool, 'opentrail_ev_lookup3', LOOKUP_PAGE_SQL, [q.accountId, q.region, key, value, q.startSec, q.endSec, t, seq, want], 'lookup');
      for (const row of r.rows) if (row.found) rows.push(row);
      const last = r.rows.at(-1);
      if (r.rows.length < want || rows.length >= q.limit || !last) return { rows };
      [t, seq] = [num(last.t), num(last.seq)];
    }
  }

  async readAfter(afterSeq: number, limit: number, accountId?: string, maxBytes?: number): Promise<StoredEvent[]> {
    if (limit <= 0) return [];
    const byAccount = accountId !== undefined ? 'AND account_id = $3' : '';
    const params: unknown[] = [afterSeq, limit];
    if (accountId !== undefined) params.push(accountId);
    const cols = 'seq, account_id, region, event_time, record, zrecord';
    // Only settled rows: an append still running may hold lower seqs (docs/storage.md, "Appends in parallel").
    let sql = `SELECT ${cols}, record_bytes FROM event_log WHERE seq > $1 ${byAccount} AND ${SETTLED} ORDER BY seq LIMIT $2`;
    if (maxBytes !== undefined) {
      params.push(maxBytes);
      // A v1 row's octet_length(record) reads its size from the TOAST header, without decompressing.
      sql = `SELECT ${cols} FROM (
          SELECT *, sum(coalesce(record_bytes, octet_length(record))) OVER w AS run, row_number() OVER w AS n FROM (${sql}) page WINDOW w AS (ORDER BY seq)
        ) sized WHERE n = 1 OR run <= $${params.length} ORDER BY seq`;
    }
    const name = `opentrail_ev_read3${accountId !== undefined ? '_account' : ''}${maxBytes !== undefined ? '_bytes' : ''}`;
    const r = await named<{ seq: string; account_id: string; region: string; event_time: string; record: string | null; zrecord: Buffer | null }>(this.pool, name, sql, params, 'readAfter');
    return r.rows.map((row) => ({ seq: num(row.seq), accountId: row.account_id, region: row.region, eventTimeSec: num(row.event_time), json: readStored(row.zrecord, row.record)! }));
  }

  /** The sequence's high-water mark: at or above every seq allocated (events of appends in flight included). */
  async lastSeq(): Promise<number> {
    const r = await query<{ last_value: string }>(this.pool, 'SELECT last_value FROM event_seq', [], 'lastSeq');
    return num(r.rows[0]!.last_value);
  }

  async count(): Promise<number> {
    const r = await query<{ events: string }>(this.pool,
      'SELECT (SELECT events FROM event_state WHERE id = 1) + (SELECT coalesce(sum(events), 0) FROM event_counts) AS events', [], 'count');
    return num(r.rows[0]!.events);
  }

  /** For metrics (consumer lag): the ingestion time of the first stored event after afterSeq. */
  async committedMsAfter(afterSeq: number): Promise<number | undefined> {
    const r = await query<{ ingest_ms: string }>(this.pool, `SELECT ingest_ms FROM event_log WHERE seq > $1 AND ${SETTLED} ORDER BY seq LIMIT 1`, [afterSeq], 'committedMsAfter');
    return r.rows[0] ? num(r.rows[0].ingest_ms) : undefined;
  }

  /**
   * 1. Under the state row's lock (after any append in flight): raise the Event history cut-off
   *    (lookups hide older entries at once, appends stop writing them) and fix the seq boundary B.
   * 2. Event history: partitions wholly older than cutSec are dropped; in the boundary partition
   *    rows older than it are deleted, a chunk per transaction.
   * 3. The log: partitions wholly ingested before cutoffIngestMs (and ended a partition width ago
   *    on our clock: no node still appends to them) are dropped with their event ids; in the
   *    others, events with seq <= B ingested before the cut-off are deleted with their ids, a chunk
   *    per transaction under the state row's lock (which also keeps the count exact).
   */
  async prune(cutoffSec: number, cutoffIngestMs: number): Promise<{ historyRows: number; events: number }> {
    const b = await withTransaction(this.pool, async (c) => {
      // B: the highest settled seq (every seq up to it is committed or never will be): appends
      // still running are never touched.
      const r = await c.query<{ b: string | null }>(`UPDATE event_state SET history_cutoff_sec = GREATEST(history_cutoff_sec, $1) WHERE id = 1
        RETURNING (SELECT seq FROM event_log WHERE ${SETTLED} ORDER BY seq DESC LIMIT 1) AS b`, [cutoffSec]);
      return num(r.rows[0]!.b ?? 0);
    }, { operation: 'prune' });
    const parts = await withTransaction(this.pool, async (c) => ({ log: await listPartitions(c, 'event_log'), history: await listPartitions(c, 'event_history') }), { operation: 'prune' });
    const historyRows = await this.prunePartitions('event_history', parts.history, cutoffSec, cutoffSec,
      (name) => `DELETE FROM ${name} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${name} WHERE t < $1 LIMIT $2))`, [cutoffSec]);
    const events = await this.prunePartitions('event_log', parts.log, cutoffIngestMs, Math.min(cutoffIngestMs, this.nowMs() - this.logWidth), (name) => `
        WITH d AS (
          DELETE FROM ${name} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${name} WHERE ingest_ms < $1 AND seq <= $3 LIMIT $2))
          RETURNING account_id, event_id, seq
        ), i AS (
          DELETE FROM event_ids x USING d WHERE x.account_id = d.account_id AND x.event_id = d.event_id AND x.seq = d.seq
        ), s AS (
          UPDATE event_state SET events = events - (SELECT count(*) FROM d) WHERE id = 1
        )
        SELECT count(*) AS n FROM d`, [cutoffIngestMs, b]);
    return { historyRows, events };
  }

  /**
   * The partitions of `table` below `cutoff`: those ending at or before `dropBefore` dropped
   * whole, the others (the boundary) deleted from in chunks by `deleteSql`; the rows removed.
   */
  private async prunePartitions(table: PartitionedTable, parts: PartitionInfo[], cutoff: number, dropBefore: number, deleteSql: (name: string) => string, params: unknown[]): Promise<number> {
    let removed = 0;
    for (const p of parts) {
      if (p.from >= cutoff) break;
      const dropped = p.to <= dropBefore ? await this.dropPartition(table, p) : undefined;
      removed += dropped ?? await this.deleteChunks(deleteSql(p.name), params, table === 'event_log');
    }
    return removed;
  }

  private async deleteChunks(sql: string, params: unknown[], lockState: boolean): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await withTransaction(this.pool, async (c) => {
        if (lockState) await c.query('SELECT 1 FROM event_state WHERE id = 1 FOR UPDATE');
        const r = await c.query<{ n?: string }>(sql, [params[0], this.pruneChunk, ...params.slice(1)]);
        return r.rows[0]?.n !== undefined ? num(r.rows[0].n) : r.rowCount ?? 0;
      }, { operation: 'prune' });
      total += n;
      if (n < this.pruneChunk) return total;
    }
  }

  /**
   * Drops a whole partition. For the log, its event ids are deleted first, a seq range of
   * pruneChunk events per transaction, each under the state row's lock: the order every append
   * takes its locks in (the state row, then the id rows its duplicate check meets). Deleting them
   * all before the state row (as this did before) deadlocked with an append that re-sent one of
   * the partition's ids: the append held the state row and waited for the deleted id row, the
   * drop held the id row and waited for the state row (test: "... re-sends one of its event ids").
   * Then one transaction under the state row's lock and a SHARE lock on the partition (since v3
   * the state row no longer keeps appends out; SHARE waits for an append still writing into the
   * partition and keeps new rows out, readers go on): the ids of rows added since by a node whose
   * clock lags, the rows counted, DROP (ACCESS EXCLUSIVE on the parent for a moment), the count
   * lowered. When appends or readers hold the partition or the parent longer than dropLockTimeoutMs the
   * partition is left (undefined) and its rows are deleted instead; when another prune dropped it
   * first, it counts 0. An id is free again from its chunk's COMMIT, its event gone at the DROP
   * moments later: a re-send in between is stored as new, as it would be after the DROP.
   */
  private async dropPartition(table: PartitionedTable, p: PartitionInfo): Promise<number | undefined> {
    const isLog = table === 'event_log';
    try {
      const releasedTo = isLog ? await this.releaseIds(p) : 0;
      const n = await withTransaction(this.pool, async (c) => {
        await c.query('SET LOCAL statement_timeout = 0');
        // statement_timeout is off for this transaction; so is the client's limit (db.ts untimed).
        await c.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(this.dropLockTimeoutMs))}`);
        if (isLog) {
          await c.query('SELECT 1 FROM event_state WHERE id = 1 FOR UPDATE');
          // Since v3 appends do not take the state row: an append still open that wrote rows into
          // this partition (a node whose clock lags) would commit them after the count and the ids
          // below, and the DROP would remove them uncounted with their ids kept. SHARE waits for
          // such appends to end and keeps new rows out (readers are not held back).
          await c.query(`LOCK TABLE ${p.name} IN SHARE MODE`);
          await c.query(untimed(`DELETE FROM event_ids x USING ${p.name} l WHERE l.seq > $1 AND x.account_id = l.account_id AND x.event_id = l.event_id AND x.seq = l.seq`), [releasedTo]);
        }
        const counted = num((await c.query<{ n: string }>(untimed(`SELECT count(*) AS n FROM ${p.name}`))).rows[0]!.n);
        await c.query(`DROP TABLE ${p.name}`);
        if (isLog) await c.query('UPDATE event_state SET events = events - $1 WHERE id = 1', [counted]);
        return counted;
      }, { operation: 'prune' });
      this.known[table].delete(p.from);
      return n;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === '55P03') return undefined;
      // Another prune (of another node) dropped it first.
      if (code === '42P01') {
        this.known[table].delete(p.from);
        return 0;
      }
      throw storeFailure(err, 'prune');
    }
  }

  /**
   * Deletes the event ids of the log partition `p`'s rows, pruneChunk seqs per transaction (the
   * partition's seq index), each under the state row's lock; the highest seq covered (rows with a
   * higher one were appended since).
   */
  private async releaseIds(p: PartitionInfo): Promise<number> {
    const r = await query<{ lo: string | null; hi: string | null }>(this.pool, `SELECT min(seq) AS lo, max(seq) AS hi FROM ${p.name}`, [], 'prune');
    const { lo, hi } = r.rows[0]!;
    if (lo === null || hi === null) return 0;
    const last = num(hi);
    for (let from = num(lo); from <= last; from += this.pruneChunk) {
      await withTransaction(this.pool, async (c) => {
        await c.query('SELECT 1 FROM event_state WHERE id = 1 FOR UPDATE');
        await c.query(`DELETE FROM event_ids x USING ${p.name} l WHERE l.seq >= $1 AND l.seq < $2 AND x.account_id = l.account_id AND x.event_id = l.event_id AND x.seq = l.seq`,
          [from, Math.min(from + this.pruneChunk, last + 1)]);
      }, { operation: 'prune' });
    }
    return last;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
    if (this.ownsPool) await this.pool.end();
  }
}
