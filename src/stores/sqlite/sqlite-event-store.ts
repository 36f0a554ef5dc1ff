/**
 * EventStore on SQLite (node:sqlite), the embedded default.
 *
 * Durability: WAL; append() runs the whole batch in one transaction and returns after COMMIT, so
 * one fsync covers every event of a group commit.
 *
 * Slices (docs/storage.md "Writes in slices"): a transaction is spread over several turns of the
 * event loop: rows are inserted for at most `sliceMs` (or `sliceRows` rows), then the store yields
 * (setImmediate) and continues, so a 5000-event group commit never holds the loop for more than a
 * few ms at a time; COMMIT (its WAL writes, fsync and any checkpoint) is the one step that is
 * not sliced. Because other work
 * runs between slices: every write (append, probe, each step of prune) runs one at a time through
 * an internal queue on the write connection, so nothing joins an open transaction; reads (lookup,
 * readAfter, count, lastSeq) use a second connection, which WAL gives a committed snapshot per
 * statement, so they never see rows of an open transaction (and never wait for one). A `:memory:`
 * database cannot be shared by two connections: there, reads queue behind writes instead.
 *
 * A `disk` append commits with synchronous=FULL (the WAL is fsynced); a `process` append with synchronous=NORMAL (the WAL reaches the OS, which
 * survives kill -9), and the next FULL commit's fsync covers its frames too, the WAL being one file.
 *
 * Layout (docs/storage.md): `events` is the log (seq = rowid); `history` is the Event history
 * index, one small row (key id, eventTime, seq) per lookup attribute, clustered by key then time,
 * so a lookup is one range scan; `history_keys` maps (account, region, attribute, value) to key ids;
 * `batches` remembers when each group commit happened, for pruning by ingestion age; `meta` holds
 * the history cut-off, the eventTime below which Event history holds nothing (EventId included).
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { storeFailure } from './errors.ts';
import { StoreUnavailableError } from '../errors.ts';
import type {
  AppendFollow, AppendInput, AppendOutcome, Durability, EventStore, HistoryQuery, HistoryRow, LookupAttribute, StoredEvent,
} from '../event-store.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  account TEXT NOT NULL,
  region TEXT NOT NULL,
  event_id TEXT NOT NULL,
  event_time INTEGER NOT NULL,
  in_history INTEGER NOT NULL,
  record TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_by_id ON events(account, event_id);
CREATE TABLE IF NOT EXISTS history_keys (
  id INTEGER PRIMARY KEY,
  account TEXT NOT NULL,
  region TEXT NOT NULL,
  attr TEXT NOT NULL,
  value TEXT NOT NULL,
  UNIQUE (account, region, attr, value)
);
CREATE TABLE IF NOT EXISTS history (
  k INTEGER NOT NULL,
  t INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (k, t, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
  first_seq INTEGER PRIMARY KEY,
  committed_ms INTEGER NOT NULL
);
`;

export interface SqliteEventStoreOptions {
  /** Path of the database file, or ':memory:'. */
  path: string;
  nowMs?: () => number;
  /**
   * Page cache in MiB. Kept small: SQLite walks the whole cache at every COMMIT, and reads are
   * served from the memory map instead.
   */
  cacheMiB?: number;
  /** Memory-mapped read window in MiB. */
  mmapMiB?: number;
  /** Longest run of inserts or deletes before a write yields to the event loop, ms (default 5). */
  sliceMs?: number;
  /** Most rows written before a write yields, whatever the clock says (default 1000). */
  sliceRows?: number;
}

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Rows deleted per statement while pruning (then the slice clock is looked at). */
const PRUNE_CHUNK = 200;

export class SqliteEventStore implements EventStore {
  /** The write connection: every write, one at a time (see `serial`). */
  private readonly db: DatabaseSync;
  /** The read connection (the write connection itself for `:memory:`, reads then queue as writes). */
  private readonly reader: DatabaseSync;
  /** Key ids known to be committed; lookups use only these. */
  private readonly keyIds = new Map<string, number>();
  /** Key ids created by the open transaction: moved to keyIds after COMMIT, dropped on failure. */
  private readonly newKeyIds = new Map<string, number>();
  /** The tail of the write queue; never rejects. */
  private writes: Promise<unknown> = Promise.resolve();
  /** Set by close(): a prune in progress stops before its next step. */
  private closing = false;
  private readonly sliceMs: number;
  private readonly sliceRows: number;
  /** Event history holds no entry with an eventTime below this (epoch seconds). */
  private historyCutoffSec: number;
  private readonly nowMs: () => number;
  private readonly insertEvent: StatementSync;
  private readonly insertHistory: StatementSync;
  private readonly findKey: StatementSync;
  private readonly insertKey: StatementSync;
  private readonly insertBatch: StatementSync;
  private readonly findSeq: StatementSync;
  private readonly lookupById: StatementSync;
  private readonly lookupByKey: StatementSync;
  private readonly readKey: StatementSync;
  private readonly probeWrite: StatementSync;

  constructor(opts: SqliteEventStoreOptions) {
    if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
    this.nowMs = opts.nowMs ?? Date.now;
    this.sliceMs = opts.sliceMs ?? 5;
    this.sliceRows = opts.sliceRows ?? 1000;
    const common = `PRAGMA cache_size=-${(opts.cacheMiB ?? 16) * 1024}; PRAGMA mmap_size=${(opts.mmapMiB ?? 4096) * 1024 * 1024}; PRAGMA temp_store=MEMORY; PRAGMA busy_timeout=5000;`;
    this.db = new DatabaseSync(opts.path);
    this.db.exec(`PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; ${common}`);
    this.db.exec(SCHEMA);
    if (opts.path === ':memory:') {
      this.reader = this.db;
    } else {
      this.reader = new DatabaseSync(opts.path);
      this.reader.exec(`${common} PRAGMA query_only=1;`);
    }
    this.insertEvent = this.db.prepare(
      'INSERT INTO events(account, region, event_id, event_time, in_history, record) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(account, event_id) DO NOTHING',
    );
    this.insertHistory = this.db.prepare(
      'INSERT OR IGNORE INTO history(k, t, seq) SELECT value->>0, value->>1, value->>2 FROM json_each(?)',
    );
    this.findKey = this.db.prepare('SELECT id FROM history_keys WHERE account = ? AND region = ? AND attr = ? AND value = ?');
    this.insertKey = this.db.prepare('INSERT INTO history_keys(account, region, attr, value) VALUES (?, ?, ?, ?)');
    this.insertBatch = this.db.prepare('INSERT OR REPLACE INTO batches(first_seq, committed_ms) VALUES (?, ?)');
    const cutoff = this.db.prepare("SELECT value FROM meta WHERE name = 'history_cutoff_sec'").get() as { value: number } | undefined;
    this.historyCutoffSec = cutoff?.value ?? Number.MIN_SAFE_INTEGER;
    this.findSeq = this.db.prepare('SELECT seq FROM events WHERE account = ? AND event_id = ?');
    this.readKey = this.reader.prepare('SELECT id FROM history_keys WHERE account = ? AND region = ? AND attr = ? AND value = ?');
    this.lookupById = this.reader.prepare(
      'SELECT event_time AS t, seq, record AS json FROM events WHERE account = ? AND event_id = ? AND region = ? AND in_history = 1 AND event_time BETWEEN ? AND ? AND (event_time, seq) < (?, ?)',
    );
    this.probeWrite = this.db.prepare("INSERT INTO meta(name, value) VALUES ('write_probe_ms', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value");
    this.lookupByKey = this.reader.prepare(
      `SELECT h.t AS t, h.seq AS seq, e.record AS json FROM history h JOIN events e ON e.seq = h.seq
       WHERE h.k = ? AND h.t BETWEEN ? AND ? AND (h.t, h.seq) < (?, ?)
       ORDER BY h.t DESC, h.seq DESC LIMIT ?`,
    );
  }

  /** The key id to write under (inside the open transaction), created when new. */
  private writeKeyId(account: string, region: string, attr: string, value: string): number {
    const cacheKey = `${account}\u0000${region}\u0000${attr}\u0000${value}`;
    const hit = this.keyIds.get(cacheKey) ?? this.newKeyIds.get(cacheKey);
    if (hit !== undefined) return hit;
    const row = this.findKey.get(account, region, attr, value) as { id: number } | undefined;
    const id = row?.id ?? Number(this.insertKey.run(account, region, attr, value).lastInsertRowid);
    // Found or created, it is known committed only once this transaction commits.
    this.newKeyIds.set(cacheKey, id);
    return id;
  }

  /** The committed key id to look up under, or undefined (on the read connection). */
  private readKeyId(account: string, region: string, attr: string, value: string): number | undefined {
    const cacheKey = `${account}\u0000${region}\u0000${attr}\u0000${value}`;
    const hit = this.keyIds.get(cacheKey);
    if (hit !== undefined) return hit;
    const id = (this.readKey.get(account, region, attr, value) as { id: number } | undefined)?.id;
    if (id !== undefined) this.remember(cacheKey, id);
    return id;
  }

  private remember(cacheKey: string, id: number): void {
    if (this.keyIds.size > 200_000) this.keyIds.clear();
    this.keyIds.set(cacheKey, id);
  }

  private synchronous: 'FULL' | 'NORMAL' = 'FULL';

  /** Sets the commit durability; the pragma must run outside a transaction. */
  private durability(durability: Durability): void {
    const wanted = durability === 'disk' ? 'FULL' : 'NORMAL';
    if (wanted !== this.synchronous) {
      this.db.exec(`PRAGMA synchronous=${wanted}`);
      this.synchronous = wanted;
    }
  }

  /**
   * Runs `work` as the only write of the store: after every write queued before it has settled,
   * before any queued after it starts. Nothing else uses the write connection meanwhile, so an
   * open transaction is never joined by another operation, even while it yields.
   */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.writes.then(work);
    this.writes = run.then(() => undefined, () => undefined);
    return run;
  }

  /**
   * Runs `work` in one write transaction and commits it; `work` may yield between slices (the
   * caller holds the write queue). On any failure the transaction is rolled back (when SQLite has
   * not already done so), so the connection is never left inside a failed transaction, nothing of
   * `work` stays, key ids it created are forgotten, and the next call starts clean; failures that
   * pass by themselves are reported as StoreUnavailableError with SQLite's error as the cause.
   */
  private async inTransaction<T>(operation: string, work: () => T | Promise<T>): Promise<T> {
    try {
      this.db.exec('BEGIN IMMEDIATE');
      const out = await work();
      this.db.exec('COMMIT');
      for (const [key, id] of this.newKeyIds) this.remember(key, id);
      this.newKeyIds.clear();
      return out;
    } catch (err) {
      this.newKeyIds.clear();
      // SQLite rolls back by itself after some failures (SQLITE_FULL, SQLITE_IOERR, ...); a
      // ROLLBACK then would throw "no transaction is active" and hide the real cause.
      if (this.db.isOpen && this.db.isTransaction) {
        try {
          this.db.exec('ROLLBACK');
        } catch {
          // The connection is unusable for now; the original error is the one to report.
        }
      }
      throw storeFailure(err, 'events.db', operation);
    }
  }

  /**
   * Between two slices of an open transaction: yields to the event loop once the slice has run
   * long enough, then checks the transaction is still open (SQLite may have ended it).
   */
  private slice(): { due(rows?: number): boolean; next(): Promise<void> } {
    let start = performance.now();
    let rows = 0;
    return {
      due: (n = 1) => {
        rows += n;
        return rows >= this.sliceRows || performance.now() - start >= this.sliceMs;
      },
      next: async () => {
        await yieldToLoop();
        if (!this.db.isOpen || !this.db.isTransaction) throw new Error('events.db: the transaction ended between two slices');
        start = performance.now();
        rows = 0;
      },
    };
  }

  /** Runs a statement outside a transaction, reporting failures that pass by themselves as such. */
  private guard<T>(operation: string, work: () => T): T {
    try {
      return work();
    } catch (err) {
      throw storeFailure(err, 'events.db', operation);
    }
  }

  async append(batch: readonly AppendInput[], durability: Durability = 'disk', follow?: AppendFollow): Promise<AppendOutcome[]> {
    if (batch.length === 0 && !follow) return [];
    return this.serial(async () => {
      this.guard('append', () => this.durability(durability));
      return this.inTransaction('append', async () => {
        const state = { firstSeq: -1, history: [] as number[][], clock: this.slice() };
        const out = await this.insertAll(batch, state);
        if (follow) out.push(...await this.insertAll(follow(out), state));
        this.flushHistory(state);
        if (state.firstSeq >= 0) this.insertBatch.run(state.firstSeq, this.nowMs());
        return out;
      });
    });
  }

  private flushHistory(state: { history: number[][] }): void {
    if (state.history.length > 0) this.insertHistory.run(JSON.stringify(state.history));
    state.history = [];
  }

  private async insertAll(batch: readonly AppendInput[], state: { firstSeq: number; history: number[][]; clock: ReturnType<SqliteEventStore['slice']> }): Promise<AppendOutcome[]> {
    const out: AppendOutcome[] = [];
    for (const e of batch) {
      const r = this.insertEvent.run(e.accountId, e.region, e.eventId, e.eventTimeSec, e.history ? 1 : 0, e.json);
      if (r.changes === 0) {
        const existing = this.findSeq.get(e.accountId, e.eventId) as { seq: number };
        out.push({ seq: existing.seq, duplicate: true });
      } else {
        const seq = Number(r.lastInsertRowid);
        if (state.firstSeq < 0) state.firstSeq = seq;
        out.push({ seq, duplicate: false });
        if (e.history) {
          for (const [attr, value] of e.history) state.history.push([this.writeKeyId(e.accountId, e.region, attr, value), e.eventTimeSec, seq]);
        }
      }
      if (state.clock.due()) {
        // The slice's history rows go in before the yield, so no slice holds the loop long.
        this.flushHistory(state);
        await state.clock.next();
      }
    }
    return out;
  }

  async probe(): Promise<void> {
    return this.serial(async () => {
      this.guard('probe', () => this.durability('disk'));
      await this.inTransaction('probe', () => this.probeWrite.run(this.nowMs()));
    });
  }

  /** Runs a read on the read connection; for `:memory:` (one connection), after queued writes. */
  private read<T>(operation: string, work: (db: DatabaseSync) => T): Promise<T> {
    // A read that arrives while the store shuts down (a handler still running) is unavailable, not a bug.
    if (this.closing) return Promise.reject(new StoreUnavailableError(`events.db: ${operation} after close`));
    if (this.reader === this.db) return this.serial(async () => this.guard(operation, () => work(this.reader)));
    return Promise.resolve().then(() => this.guard(operation, () => work(this.reader)));
  }

  async lookup(q: HistoryQuery): Promise<HistoryRow[]> {
    return this.read('lookup', () => this.lookupNow(q));
  }

  private lookupNow(q: HistoryQuery): HistoryRow[] {
    const before = q.before ?? { t: Number.MAX_SAFE_INTEGER, seq: Number.MAX_SAFE_INTEGER };
    if (q.attribute?.[0] === 'EventId') {
      const row = this.lookupById.get(q.accountId, q.attribute[1], q.region, Math.max(q.startSec, this.historyCutoffSec), q.endSec, before.t, before.seq) as HistoryRow | undefined;
      return row ? [row] : [];
    }
    const [attr, value] = q.attribute;
    const k = this.readKeyId(q.accountId, q.region, attr, value);
    if (k === undefined) return [];
    return this.lookupByKey.all(k, q.startSec, q.endSec, before.t, before.seq, q.limit) as unknown as HistoryRow[];
  }

  async readAfter(afterSeq: number, limit: number, accountId?: string, maxBytes?: number): Promise<StoredEvent[]> {
    const sql = `SELECT seq, account AS accountId, region, event_time AS eventTimeSec, record AS json FROM events
      WHERE seq > ? ${accountId ? 'AND account = ?' : ''} ORDER BY seq LIMIT ?`;
    const args: (string | number)[] = accountId ? [afterSeq, accountId, limit] : [afterSeq, limit];
    return this.read('readAfter', (db) => {
      if (maxBytes === undefined) return db.prepare(sql).all(...args) as unknown as StoredEvent[];
      // Row by row, so that no more than the cap (plus one record) is ever read into memory.
      const out: StoredEvent[] = [];
      let bytes = 0;
      for (const row of db.prepare(sql).iterate(...args) as Iterable<StoredEvent>) {
        bytes += Buffer.byteLength(row.json);
        if (out.length > 0 && bytes > maxBytes) break;
        out.push(row);
      }
      return out;
    });
  }

  /**
   * Removes in steps, each one short transaction of the write queue (so appends interleave with a
   * long prune, and neither holds the loop for more than a slice): first the history cut-off (from
   * then on EventId lookups hide older events), then old history rows key by key, then old events
   * from the lowest seq up. Each step is complete on its own: a prune cut short (crash, failure)
   * leaves a consistent store and the next prune finishes the work. The steps commit with
   * synchronous=NORMAL: a step lost to a power cut is redone by the next prune.
   */
  async prune(cutoffSec: number, cutoffIngestMs: number): Promise<{ historyRows: number; events: number }> {
    const step = async <T>(work: (clock: ReturnType<SqliteEventStore['slice']>) => T): Promise<T> => {
      if (this.closing) throw new Error('events.db: closed while pruning (the next prune finishes the work)');
      const out = await this.serial(async () => {
        this.guard('prune', () => this.durability('process'));
        return this.inTransaction('prune', () => work(this.slice()));
      });
      // Between steps the loop turns, and writes queued meanwhile go before the next step.
      await yieldToLoop();
      return out;
    };
    if (cutoffSec > this.historyCutoffSec) {
      await step(() => this.db.prepare("INSERT INTO meta(name, value) VALUES ('history_cutoff_sec', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value").run(cutoffSec));
      this.historyCutoffSec = Math.max(this.historyCutoffSec, cutoffSec);
    }
    let historyRows = 0;
    const keys = this.db.prepare('SELECT id FROM history_keys WHERE id > ? ORDER BY id LIMIT 500');
    const delHistory = this.db.prepare('DELETE FROM history WHERE (k, t, seq) IN (SELECT k, t, seq FROM history WHERE k = ? AND t < ? ORDER BY t, seq LIMIT ?)');
    // A cursor over the key ids, and whether the key at the cursor may still hold old rows.
    let afterKey = 0;
    let pending: number[] = [];
    let done = false;
    while (!done) {
      historyRows += await step((clock) => {
        let n = 0;
        for (;;) {
          if (pending.length === 0) {
            pending = (keys.all(afterKey) as { id: number }[]).map((r) => r.id);
            if (pending.length === 0) {
              done = true;
              return n;
            }
          }
          const k = pending[0]!;
          const deleted = Number(delHistory.run(k, cutoffSec, PRUNE_CHUNK).changes);
          n += deleted;
          if (deleted < PRUNE_CHUNK) {
            pending.shift();
            afterKey = k;
          }
          if (clock.due(Math.max(deleted, 1))) return n;
        }
      });
    }
    const { below } = await step(() => {
      const boundary = this.db.prepare('SELECT min(first_seq) AS s FROM batches WHERE committed_ms >= ?').get(cutoffIngestMs) as { s: number | null };
      const maxSeq = (this.db.prepare('SELECT max(seq) AS s FROM events').get() as { s: number | null }).s ?? 0;
      return { below: boundary.s ?? maxSeq + 1 };
    });
    const delEvents = this.db.prepare('DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE seq < ? ORDER BY seq LIMIT ?)');
    let events = 0;
    done = false;
    while (!done) {
      events += await step((clock) => {
        let n = 0;
        for (;;) {
          const deleted = Number(delEvents.run(below, PRUNE_CHUNK).changes);
          n += deleted;
          if (deleted < PRUNE_CHUNK) {
            // The log below the boundary is empty: the batches that began there go too.
            this.db.prepare('DELETE FROM batches WHERE first_seq < ?').run(below);
            done = true;
            return n;
          }
          if (clock.due(deleted)) return n;
        }
      });
    }
    return { historyRows, events };
  }

  async lastSeq(): Promise<number> {
    // sqlite_sequence keeps the high-water mark even when pruning emptied the table.
    const row = await this.read('lastSeq', (db) => db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'").get()) as { seq: number } | undefined;
    return row?.seq ?? 0;
  }

  async count(): Promise<number> {
    return (await this.read('count', (db) => db.prepare('SELECT count(*) AS n FROM events').get()) as { n: number }).n;
  }

  /** Closes the store once every queued write has settled (an open transaction commits or rolls back first). */
  async close(): Promise<void> {
    this.closing = true;
    await this.serial(async () => {
      if (this.reader !== this.db && this.reader.isOpen) this.reader.close();
      if (this.db.isOpen) this.db.close();
    });
  }
}

export type { LookupAttribute };
