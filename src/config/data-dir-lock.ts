/**
 * One server per data dir. The lock is an OS file lock held for the process's life: a SQLite
 * write lock (`BEGIN IMMEDIATE`, never committed) on `<dataDir>/opentrail.lock`, taken through
 * node:sqlite, the database library the server already uses. The kernel drops it when the process
 * ends in any way (exit, crash, kill -9), so a dead server's lock is never in the way and there is
 * no staleness to guess; the lock holds between processes and between two servers in one process.
 * `opentrail.lock.json` beside it says who holds it (pid, start time, URL), for the refusal message
 * only: it is written after the lock is taken and never trusted to decide anything.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { ConfigError } from './config.ts';

export interface LockHolder {
  pid: number;
  startedAt: string;
  url?: string;
  /** Where GET /metrics is served, when metrics are on (`opentrail status` reads it). */
  metricsUrl?: string;
}

/** Opens the lock file and takes its write lock (never committed, so nothing is written). */
function tryLock(dataDir: string, file: string): DatabaseSync {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(file, { timeout: 0 });
  } catch (e) {
    throw new ConfigError(`cannot open the lock file ${file}: ${(e as Error).message}`);
  }
  try {
    // The journal in memory: a rollback journal on disk would appear beside the lock file
    // (opentrail.lock-journal) for the server's life, though nothing is ever written.
    db.exec('PRAGMA journal_mode=MEMORY; BEGIN IMMEDIATE');
    return db;
  } catch (e) {
    db.close();
    if ((e as { errcode?: number }).errcode !== 5) throw new ConfigError(`cannot lock ${file}: ${(e as Error).message}`);
    let who = 'another OpenTrail server';
    try {
      const h = JSON.parse(readFileSync(`${file}.json`, 'utf8')) as LockHolder;
      who += ` (pid ${h.pid}${h.url ? `, listening on ${h.url}` : ''}, since ${h.startedAt})`;
    } catch { /* the holder has not written it yet */ }
    throw new ConfigError(`data dir ${dataDir} is in use by ${who}; stop it first, or give this one another --data-dir`);
  }
}

export class DataDirLock {
  private db: DatabaseSync | undefined;
  private readonly infoFile: string;
  private holder: LockHolder;

  private constructor(db: DatabaseSync, infoFile: string, holder: LockHolder) {
    this.db = db;
    this.infoFile = infoFile;
    this.holder = holder;
  }

  /** Takes the data dir's lock, creating the dir if needed; a ConfigError naming the holder if another server has it. */
  static acquire(dataDir: string, nowMs = Date.now()): DataDirLock {
    mkdirSync(dataDir, { recursive: true });
    const file = join(dataDir, 'opentrail.lock');
    const lock = new DataDirLock(tryLock(dataDir, file), `${file}.json`, { pid: process.pid, startedAt: new Date(nowMs).toISOString() });
    lock.write();
    return lock;
  }

  /**
   * Refuses (ConfigError naming the holder) when another server holds the data dir, writing
   * nothing: a data dir without a lock file has no server. Checked before the ports, so that a
   * second server started on the same dir and port is told about the server, not the port.
   */
  static assertFree(dataDir: string): void {
    const file = join(dataDir, 'opentrail.lock');
    if (existsSync(file)) tryLock(dataDir, file).close();
  }

  /** Adds the URL the server listens on to what a refused second server is told (and `opentrail status` reads). */
  setUrl(url: string, metricsUrl?: string): void {
    this.holder = { ...this.holder, url, ...(metricsUrl ? { metricsUrl } : {}) };
    this.write();
  }

  release(): void {
    if (!this.db) return;
    this.db.close();
    this.db = undefined;
  }

  private write(): void {
    writeFileSync(this.infoFile, `${JSON.stringify(this.holder)}\n`);
  }
}
