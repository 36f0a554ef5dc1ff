/**
 * ControlStore on SQLite: one table of JSON documents, WAL, synchronous=FULL. `secure_delete` is on,
 * so replaced and deleted documents are overwritten, not left in free pages. Each write is one
 * transaction, rolled back whole when it fails; failures that pass by themselves (disk full, I/O
 * error, ...) reject with StoreUnavailableError. A fenced write checks the lease (the `leases` table
 * of sqlite-lease-store.ts, in this same file) inside its transaction.
 */
import { DatabaseSync } from 'node:sqlite';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ControlStore, PutManyOptions } from '../control-store.ts';
import { LeaseLostError, type WriteOptions } from '../lease-store.ts';
import { guarded } from './errors.ts';
import { ensureLeaseTable, fenceHolds } from './sqlite-lease-store.ts';

export class SqliteControlStore implements ControlStore {
  private readonly db: DatabaseSync;

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new DatabaseSync(path);
    this.db.exec('PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000; PRAGMA secure_delete=ON;');
    this.db.exec('CREATE TABLE IF NOT EXISTS documents (kind TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (kind, key)) WITHOUT ROWID');
    ensureLeaseTable(this.db);
  }

  /** Runs `work` in one transaction, after checking the fence (if any) inside it. */
  private fenced<T>(fence: WriteOptions['fence'], work: () => T): T {
    if (!fence) return work();
    this.db.exec('BEGIN IMMEDIATE');
    if (!fenceHolds(this.db, fence)) {
      this.db.exec('ROLLBACK');
      throw new LeaseLostError(fence);
    }
    const out = work();
    this.db.exec('COMMIT');
    return out;
  }

  private guard<T>(operation: string, work: () => T): T {
    return guarded(this.db, 'control.db', operation, work);
  }

  async get<T>(kind: string, key: string): Promise<T | undefined> {
    const row = this.guard('get', () => this.db.prepare('SELECT doc FROM documents WHERE kind = ? AND key = ?').get(kind, key)) as { doc: string } | undefined;
    return row ? (JSON.parse(row.doc) as T) : undefined;
  }

  async put(kind: string, key: string, doc: unknown, opts: WriteOptions = {}): Promise<void> {
    const text = JSON.stringify(doc);
    this.guard('put', () => this.fenced(opts.fence, () => this.db.prepare('INSERT INTO documents(kind, key, doc) VALUES (?, ?, ?) ON CONFLICT(kind, key) DO UPDATE SET doc = excluded.doc').run(kind, key, text)));
  }

  async putMany(docs: { kind: string; key: string; doc: unknown }[], opts: PutManyOptions = {}): Promise<void> {
    const texts = docs.map((d) => [d.kind, d.key, JSON.stringify(d.doc)] as const);
    this.guard('putMany', () => {
      const put = this.db.prepare('INSERT INTO documents(kind, key, doc) VALUES (?, ?, ?) ON CONFLICT(kind, key) DO UPDATE SET doc = excluded.doc');
      const del = this.db.prepare('DELETE FROM documents WHERE kind = ? AND key = ?');
      // A failure rolls back (in guard, unless SQLite already did): all of them or none.
      this.db.exec('BEGIN IMMEDIATE');
      if (opts.fence && !fenceHolds(this.db, opts.fence)) throw new LeaseLostError(opts.fence);
      for (const d of opts.deletes ?? []) del.run(d.kind, d.key);
      for (const [kind, key, doc] of texts) put.run(kind, key, doc);
      this.db.exec('COMMIT');
    });
    if (opts.eraseReplaced && this.db.location() !== null) {
      // The old pages may sit in the WAL and in free pages written before secure_delete was on:
      // move the WAL into the database and empty it, rebuild the file, and empty the WAL again.
      this.guard('putMany (erase)', () => this.db.exec('PRAGMA wal_checkpoint(TRUNCATE); VACUUM; PRAGMA wal_checkpoint(TRUNCATE);'));
    }
  }

  async delete(kind: string, key: string, opts: WriteOptions = {}): Promise<boolean> {
    return Number(this.guard('delete', () => this.fenced(opts.fence, () => this.db.prepare('DELETE FROM documents WHERE kind = ? AND key = ?').run(kind, key))).changes) > 0;
  }

  /** SQLite's substr counts characters (code points), hence the code-point length of the prefix. */
  async list<T>(kind: string, keyPrefix: string): Promise<{ key: string; doc: T }[]> {
    const rows = this.guard('list', () => this.db.prepare("SELECT key, doc FROM documents WHERE kind = ? AND substr(key, 1, ?) = ? ORDER BY key").all(kind, [...keyPrefix].length, keyPrefix)) as { key: string; doc: string }[];
    return rows.map((r) => ({ key: r.key, doc: JSON.parse(r.doc) as T }));
  }

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }
}
