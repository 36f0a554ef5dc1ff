/**
 * The event log and the Event history index, as the domain needs them.
 *
 * Contract (every driver; checked by event-store.suite.ts):
 * - append MUST NOT resolve before every appended event is durable: with durability `disk` (the
 *   default) it survives power loss; with `process` it survives a crash of the process (kill -9)
 *   and becomes power-safe no later than the next `disk` append resolves.
 * - append is atomic: when it rejects, nothing of the batch is stored. A failure that passes by
 *   itself (disk full, I/O error, lock timeout, file that cannot be opened) rejects with
 *   StoreUnavailableError (the driver's error as its cause), and a later append can succeed.
 * - Within one account an eventID is stored once: a second append of it is reported as a
 *   duplicate and changes nothing.
 * - seq numbers grow with append order and are never reused; readAfter returns events by seq, and
 *   never one whose seq is above that of an event still to be stored (an append in flight). A store
 *   with parallelAppends > 1 may run appends concurrently: those in flight together are ordered
 *   either way.
 * - lookup returns Event history entries of one account and region, newest eventTime first
 *   (ties: higher seq first), within [startSec, endSec], strictly after the `before` position.
 * - No call holds the event loop for long: a large append (thousands of events) lets the loop
 *   turn while it runs. Operations may therefore overlap, and still: a read sees all of an append
 *   or none of it (never a part, never one whose transaction will fail; on SQLite a commit is
 *   readable a few ms before its fdatasync, and a failed fdatasync answers its appends 503 with
 *   their events stored: docs/storage.md "Durability"); appends and probes apply one after
 *   another in call order (up to parallelAppends of them at once); a prune may interleave with appends but never removes part of one.
 */

/** One Event history attribute an event can be found by (LookupEvents AttributeKey and value). */
export type LookupAttribute = readonly [key: string, value: string];

export interface AppendInput {
  accountId: string;
  region: string;
  eventId: string;
  eventTimeSec: number;
  /** The record as stored and delivered (compact JSON). */
  json: string;
  /**
   * `json` as UTF-8, when the producer already has it (the bulk endpoint encodes each record once,
   * into its request's buffer: src/ingest/bulk.ts); exactly `Buffer.from(json)`. A store that
   * writes bytes copies these instead of encoding `json` again.
   */
  utf8?: Uint8Array;
  /**
   * The Event history attributes the event is found by (the caller includes a catch-all pair for
   * "every entry"); undefined when the event is not in Event history (data events, ...).
   */
  history?: LookupAttribute[];
  /**
   * The Event history entry's fields other than CloudTrailEvent (LookupEvents' EventId, EventName,
   * ReadOnly, AccessKeyId, EventTime, EventSource, Username, Resources), as JSON object text built
   * by the caller; opaque to the store, which returns it with the row so that a lookup answers
   * without parsing the record. Optional: a row without it is answered by parsing `json`.
   */
  summary?: string;
}

export interface AppendOutcome {
  seq: number;
  duplicate: boolean;
}

export interface StoredEvent {
  seq: number;
  accountId: string;
  region: string;
  eventTimeSec: number;
  json: string;
  /**
   * readAfter (optional): the row's Event history summary (AppendInput.summary, as appended) when
   * the store has it at hand; undefined for an event not in Event history, or when the store does
   * not return it. Delivery tells a management event from it (summaryCategory) without parsing
   * the record, for a trail that takes every management event.
   */
  summary?: string;
}

/**
 * Rows of the log as readAfterShared hands them over: columns (one entry per row, in seq order)
 * and the records' UTF-8 bytes (as stored, exactly the bytes of StoredEvent.json) in one shared
 * buffer, so that a consumer on the main thread gets them without a string per record and can pass
 * them on to other threads without copying (delivery's log-file pool).
 */
export interface SharedEventRows {
  /** How many rows. */
  n: number;
  seq: Float64Array;
  eventTimeSec: Float64Array;
  /** Row i's record is bytes [off[i], off[i] + len[i]) of `bytes`. */
  bytes: SharedArrayBuffer;
  off: Float64Array;
  len: Float64Array;
  /** Row i's accountId is names[account[i]], its region names[region[i]]. */
  names: string[];
  account: Uint32Array;
  region: Uint32Array;
  /**
   * What the row's Event history summary says (StoredEvent.summary, summaryCategory): 1 a
   * management event, 2 an Insights event, 0 no summary (not in Event history, e.g. data events).
   */
  category: Uint8Array;
}

/** A position in Event history order: events strictly older than it come next. */
export interface HistoryPosition {
  t: number;
  seq: number;
}

export interface HistoryQuery {
  accountId: string;
  region: string;
  /** The attribute to match; key `EventId` is answered from the event-id index. */
  attribute: LookupAttribute;
  startSec: number;
  endSec: number;
  before?: HistoryPosition;
  limit: number;
}

export interface HistoryRow {
  t: number;
  seq: number;
  json: string;
  /** The summary given at append, when the driver keeps it. */
  summary?: string;
}

/**
 * Events whose records depend on how the events before them were stored (the self-audit record of
 * a bulk call counts accepted events and duplicates): called inside the append's transaction with
 * the outcomes of the batch; what it returns is appended in the same transaction, after the batch.
 * When it throws, the append stores nothing and rejects with its error.
 */
export type AppendFollow = (outcomes: readonly AppendOutcome[]) => readonly AppendInput[];

/** How durable an append must be before it resolves; see the contract above. */
export type Durability = 'disk' | 'process';

export interface EventStore {
  /**
   * Appends the batch, then what `follow` returns, in one transaction: all of it is stored, or
   * (the promise rejects) none of it. Resolves with one outcome per event, batch then follow.
   */
  append(batch: readonly AppendInput[], durability?: Durability, follow?: AppendFollow): Promise<AppendOutcome[]>;
  /**
   * Optional: told of a batch that will be appended soon (it waits behind an append in flight), so
   * that the store can do the work that needs no transaction (PostgreSQL: compress the records)
   * meanwhile, in the background. A hint only: it changes nothing that is stored or answered.
   */
  prepare?(batch: readonly AppendInput[]): void;
  /**
   * Commits a small write nobody reads (at `disk` durability), to learn whether the store takes
   * writes again after failures; rejects as append would.
   */
  probe(): Promise<void>;
  lookup(q: HistoryQuery): Promise<HistoryRow[]>;
  /**
   * Events with seq > afterSeq, in seq order, at most `limit`; with `maxBytes`, also stops before
   * the record whose JSON (UTF-8) would take the total over maxBytes, but always returns the first
   * event when there is one, however large. The driver never holds more than that in memory.
   */
  readAfter(afterSeq: number, limit: number, accountId?: string, maxBytes?: number): Promise<StoredEvent[]>;
  /**
   * Optional: readAfter's rows (no account filter, no byte cap) as SharedEventRows, read off the
   * calling thread where the driver can (SQLite: its log-reader thread), under the same rule: never
   * a row above one still to be stored, and (like readAfter) only rows the driver hands out to
   * consumers (SQLite: covered by an fdatasync). Delivery uses it when present, readAfter otherwise.
   */
  readAfterShared?(afterSeq: number, limit: number): Promise<SharedEventRows>;
  /** Removes Event history entries older than cutoffSec and log entries ingested before cutoffIngestMs. */
  prune(cutoffSec: number, cutoffIngestMs: number): Promise<{ historyRows: number; events: number }>;
  /**
   * A seq at or above every stored event's (0 for a new log), never going back, not even when
   * pruning empties the log; events appended later get higher seqs. Seqs may skip numbers.
   */
  lastSeq(): Promise<number>;
  /** The count of stored events (for metrics and tests). */
  count(): Promise<number>;
  /**
   * For metrics (optional; src/observability): when the first stored event with seq > afterSeq
   * was committed (epoch ms), or undefined when no stored event follows afterSeq. A consumer at
   * position p has waited since committedMsAfter(p); committedMsAfter(0) is the oldest event's commit.
   */
  committedMsAfter?(afterSeq: number): Promise<number | undefined>;
  /**
   * Optional: how many bulk requests the ingest front door should parse and commit at once to keep
   * this store's group commit fed (src/ingest/admission.ts; default `BULK_ADMISSION`, 2). A store
   * whose append costs a fixed round-trip overhead per group (PostgreSQL) asks for more, so that
   * several requests wait and commit as one group while the next parse. Bounds parsed records in memory.
   */
  readonly admission?: number;
  /**
   * Optional: how many appends the ingester may have in flight at once (default 1: one after
   * another). A store that says more runs them concurrently, and then appends in flight together
   * may commit, and take their seqs, in either order; readAfter still never returns a seq while
   * a lower one may yet appear (PostgreSQL: docs/storage.md, "Appends in parallel").
   */
  readonly parallelAppends?: number;
  close(): Promise<void>;
}
