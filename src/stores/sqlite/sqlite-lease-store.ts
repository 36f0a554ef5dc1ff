/**
 * LeaseStore on SQLite: a `leases` table in control.db, so that the control store's fenced writes
 * check it in their own transaction (lease-store.ts). One server owns a data dir (its OS lock), so
 * on SQLite a single node always wins; the contract is the same as PostgreSQL's. Time is SQLite's
 * `unixepoch('subsec')`, the machine's clock, which is the only node's.
 */
import { DatabaseSync } from 'node:sqlite';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Fence, LeaseInfo, LeaseStore } from '../lease-store.ts';
import { guarded } from './errors.ts';

const NOW_MS = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";

/** The lease table, made by whichever of the lease store and the control store opens control.db first. */
export function ensureLeaseTable(db: DatabaseSync): void {
  db.exec('CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, token INTEGER NOT NULL, expires_ms INTEGER NOT NULL) WITHOUT ROWID');
}

/** Whether the fence's lease is held (same holder and token, unexpired): run inside the write's transaction. */
export function fenceHolds(db: DatabaseSync, fence: Fence): boolean {
  return db.prepare(`SELECT 1 AS ok FROM leases WHERE name = ? AND holder = ? AND token = ? AND expires_ms > ${NOW_MS}`).get(fence.name, fence.holder, fence.token) !== undefined;
}

export class SqliteLeaseStore implements LeaseStore {
  private readonly db: DatabaseSync;

  /** `path` is the control store's database (control.db), opened on a connection of its own. */
  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new DatabaseSync(path);
    this.db.exec('PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;');
    ensureLeaseTable(this.db);
  }

  private guard<T>(operation: string, work: () => T): T {
    return guarded(this.db, 'control.db', operation, work);
  }

  async acquire(holder: string, names: readonly string[], ttlMs: number): Promise<Fence[]> {
    if (names.length === 0) return [];
    return this.guard('lease acquire', () => {
      const take = this.db.prepare(
        `INSERT INTO leases(name, holder, token, expires_ms) VALUES (?, ?, 1, ${NOW_MS} + ?)
         ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, token = token + 1, expires_ms = excluded.expires_ms
         WHERE expires_ms <= ${NOW_MS} OR holder = excluded.holder
         RETURNING token`,
      );
      const out: Fence[] = [];
      this.db.exec('BEGIN IMMEDIATE');
      for (const name of names) {
        const row = take.get(name, holder, Math.ceil(ttlMs)) as { token: number | bigint } | undefined;
        if (row) out.push({ name, holder, token: Number(row.token) });
      }
      this.db.exec('COMMIT');
      return out;
    });
  }

  async renew(leases: readonly Fence[], ttlMs: number): Promise<Fence[]> {
    if (leases.length === 0) return [];
    return this.guard('lease renew', () => {
      const extend = this.db.prepare(`UPDATE leases SET expires_ms = ${NOW_MS} + ? WHERE name = ? AND holder = ? AND token = ? AND expires_ms > ${NOW_MS}`);
      const out: Fence[] = [];
      this.db.exec('BEGIN IMMEDIATE');
      for (const l of leases) if (Number(extend.run(Math.ceil(ttlMs), l.name, l.holder, l.token).changes) > 0) out.push({ name: l.name, holder: l.holder, token: l.token });
      this.db.exec('COMMIT');
      return out;
    });
  }

  async release(leases: readonly Fence[]): Promise<void> {
    if (leases.length === 0) return;
    this.guard('lease release', () => {
      // The row stays (with its token), so the next holder's token is higher than every earlier one.
      const end = this.db.prepare('UPDATE leases SET expires_ms = 0 WHERE name = ? AND holder = ? AND token = ?');
      this.db.exec('BEGIN IMMEDIATE');
      for (const l of leases) end.run(l.name, l.holder, l.token);
      this.db.exec('COMMIT');
    });
  }

  async list(prefix: string): Promise<LeaseInfo[]> {
    const rows = this.guard('lease list', () => this.db.prepare(
      `SELECT name, holder, token, expires_ms > ${NOW_MS} AS live FROM leases WHERE substr(name, 1, ?) = ? ORDER BY name`,
    ).all([...prefix].length, prefix)) as { name: string; holder: string; token: number | bigint; live: number | bigint }[];
    return rows.map((r) => ({ name: r.name, holder: r.holder, token: Number(r.token), live: Number(r.live) === 1 }));
  }

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }
}
