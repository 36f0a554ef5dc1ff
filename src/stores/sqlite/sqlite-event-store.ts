/**
 * EventStore on SQLite (node:sqlite), the embedded default.
 *
 * Durability: WAL; append() runs the whole batch in one transaction and returns after COMMIT, so
 * one fsync covers every event of a group commit. A `disk` append commits with synchronous=FULL
 * (the WAL is fsynced); a `process` append with synchronous=NORMAL (the WAL reaches the OS, which
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
}

export class SqliteEventStore implements EventStore {
  private readonly db: DatabaseSync;
  private readonly keyIds = new Map<string, number>();
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
  private readonly probeWrite: StatementSync;

  constructor(opts: SqliteEventStoreOptions) {
    if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
    this.nowMs = opts.nowMs ?? Date.now;
    this.db = new DatabaseSync(opts.path);
    this.db.exec(`PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-${(opts.cacheMiB ?? 16) * 1024}; PRAGMA mmap_size=${(opts.mmapMiB ?? 4096) * 1024 * 1024}; PRAGMA temp_store=MEMORY; PRAGMA busy_timeout=5000;`);
    this.db.exec(SCHEMA);
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
    this.lookupById = this.db.prepare(
      'SELECT event_time AS t, seq, record AS json FROM events WHERE account = ? AND event_id = ? AND region = ? AND in_history = 1 AND event_time BETWEEN ? AND ? AND (event_time, seq) < (?, ?)',
    );
    this.probeWrite = this.db.prepare("INSERT INTO meta(name, value) VALUES ('write_probe_ms', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value");
    this.lookupByKey = this.db.prepare(
      `SELECT h.t AS t, h.seq AS seq, e.record AS json FROM history h JOIN events e ON e.seq = h.seq
       WHERE h.k = ? AND h.t BETWEEN ? AND ? AND (h.t, h.seq) < (?, ?)
       ORDER BY h.t DESC, h.seq DESC LIMIT ?`,
    );
  }

  private keyId(account: string, region: string, attr: string, value: string, create: boolean): number | undefined {
    const cacheKey = `${account}\u0000${region}\u0000${attr}\u0000${value}`;
    const hit = this.keyIds.get(cacheKey);
    if (hit !== undefined) return hit;
    const row = this.findKey.get(account, region, attr, value) as { id: number } | undefined;
    let id = row?.id;
    if (id === undefined) {
      if (!create) return undefined;
      id = Number(this.insertKey.run(account, region, attr, value).lastInsertRowid);
    }
    if (this.keyIds.size > 200_000) this.keyIds.clear();
    this.keyIds.set(cacheKey, id);
    return id;
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
   * Runs `work` in one write transaction and commits it. On any failure the transaction is rolled
   * back (when SQLite has not already done so), so the connection is never left inside a failed
   * transaction, nothing of `work` stays, and the next call starts clean; failures that pass by
   * themselves are reported as StoreUnavailableError with SQLite's error as the cause.
   */
  private inTransaction<T>(operation: string, work: () => T): T {
    try {
      this.db.exec('BEGIN IMMEDIATE');
      const out = work();
      this.db.exec('COMMIT');
      return out;
    } catch (err) {
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
    this.guard('append', () => this.durability(durability));
    try {
      return this.inTransaction('append', () => {
        const state = { firstSeq: -1, history: [] as number[][] };
        const out = this.insertAll(batch, state);
        if (follow) out.push(...this.insertAll(follow(out), state));
        if (state.history.length > 0) this.insertHistory.run(JSON.stringify(state.history));
        if (state.firstSeq >= 0) this.insertBatch.run(state.firstSeq, this.nowMs());
        return out;
      });
    } catch (err) {
      // Key ids created inside the rolled-back transaction are gone too.
      this.keyIds.clear();
      throw err;
    }
  }

  private insertAll(batch: readonly AppendInput[], state: { firstSeq: number; history: number[][] }): AppendOutcome[] {
    const out: AppendOutcome[] = [];
    for (const e of batch) {
      const r = this.insertEvent.run(e.accountId, e.region, e.eventId, e.eventTimeSec, e.history ? 1 : 0, e.json);
      if (r.changes === 0) {
        const existing = this.findSeq.get(e.accountId, e.eventId) as { seq: number };
        out.push({ seq: existing.seq, duplicate: true });
        continue;
      }
      const seq = Number(r.lastInsertRowid);
      if (state.firstSeq < 0) state.firstSeq = seq;
      out.push({ seq, duplicate: false });
      if (e.history) {
        for (const [attr, value] of e.history) {
          state.history.push([this.keyId(e.accountId, e.region, attr, value, true)!, e.eventTimeSec, seq]);
        }
      }
    }
    return out;
  }

  async probe(): Promise<void> {
    this.guard('probe', () => this.durability('disk'));
    this.inTransaction('probe', () => this.probeWrite.run(this.nowMs()));
  }

  async lookup(q: HistoryQuery): Promise<HistoryRow[]> {
    return this.guard('lookup', () => this.lookupNow(q));
  }

  private lookupNow(q: HistoryQuery): HistoryRow[] {
    const before = q.before ?? { t: Number.MAX_SAFE_INTEGER, seq: Number.MAX_SAFE_INTEGER };
    if (q.attribute?.[0] === 'EventId') {
      const row = this.lookupById.get(q.accountId, q.attribute[1], q.region, Math.max(q.startSec, this.historyCutoffSec), q.endSec, before.t, before.seq) as HistoryRow | undefined;
      return row ? [row] : [];
    }
    const [attr, value] = q.attribute;
    const k = this.keyId(q.accountId, q.region, attr, value, false);
    if (k === undefined) return [];
    return this.lookupByKey.all(k, q.startSec, q.endSec, before.t, before.seq, q.limit) as unknown as HistoryRow[];
  }

  async readAfter(afterSeq: number, limit: number, accountId?: string, maxBytes?: number): Promise<StoredEvent[]> {
    const sql = `SELECT seq, account AS accountId, region, event_time AS eventTimeSec, record AS json FROM events
      WHERE seq > ? ${accountId ? 'AND account = ?' : ''} ORDER BY seq LIMIT ?`;
    const args: (string | number)[] = accountId ? [afterSeq, accountId, limit] : [afterSeq, limit];
    if (maxBytes === undefined) return this.db.prepare(sql).all(...args) as unknown as StoredEvent[];
    // Row by row, so that no more than the cap (plus one record) is ever read into memory.
    const out: StoredEvent[] = [];
    let bytes = 0;
    for (const row of this.db.prepare(sql).iterate(...args) as Iterable<StoredEvent>) {
      bytes += Buffer.byteLength(row.json);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(row);
    }
    return out;
  }

  async prune(cutoffSec: number, cutoffIngestMs: number): Promise<{ historyRows: number; events: number }> {
    return this.guard('prune', () => this.pruneNow(cutoffSec, cutoffIngestMs));
  }

  private pruneNow(cutoffSec: number, cutoffIngestMs: number): { historyRows: number; events: number } {
    let historyRows = 0;
    if (cutoffSec > this.historyCutoffSec) {
      this.db.prepare("INSERT INTO meta(name, value) VALUES ('history_cutoff_sec', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value").run(cutoffSec);
      this.historyCutoffSec = cutoffSec;
    }
    const keys = this.db.prepare('SELECT id FROM history_keys').all() as { id: number }[];
    const del = this.db.prepare('DELETE FROM history WHERE k = ? AND t < ?');
    for (const { id } of keys) historyRows += Number(del.run(id, cutoffSec).changes);
    const boundary = this.db.prepare('SELECT min(first_seq) AS s FROM batches WHERE committed_ms >= ?').get(cutoffIngestMs) as { s: number | null };
    const maxSeq = (this.db.prepare('SELECT max(seq) AS s FROM events').get() as { s: number | null }).s ?? 0;
    const below = boundary.s ?? maxSeq + 1;
    const events = this.inTransaction('prune', () => {
      const n = Number(this.db.prepare('DELETE FROM events WHERE seq < ?').run(below).changes);
      this.db.prepare('DELETE FROM batches WHERE first_seq < ?').run(below);
      return n;
    });
    return { historyRows, events };
  }

  async lastSeq(): Promise<number> {
    // sqlite_sequence keeps the high-water mark even when pruning emptied the table.
    const row = this.guard('lastSeq', () => this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'").get()) as { seq: number } | undefined;
    return row?.seq ?? 0;
  }

  async count(): Promise<number> {
    return (this.guard('count', () => this.db.prepare('SELECT count(*) AS n FROM events').get()) as { n: number }).n;
  }

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }
}

export type { LookupAttribute };
