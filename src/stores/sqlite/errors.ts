/**
 * Which SQLite failures pass by themselves, and how the SQLite drivers report them.
 *
 * node:sqlite throws `ERR_SQLITE_ERROR` errors carrying SQLite's extended result code (`errcode`)
 * and its text (`errstr`). The primary code (the low byte) says what happened; the ones listed
 * here are conditions of the machine, not of the statement (disk full, I/O error, the file or its
 * WAL could not be opened or written, the lock was held longer than busy_timeout), so the same
 * write can succeed later without anyone changing the data or the program.
 */
import type { DatabaseSync } from 'node:sqlite';
import { StoreUnavailableError } from '../errors.ts';

/** SQLite primary result codes of failures that pass by themselves (sqlite3.h). */
const TRANSIENT: Record<number, string> = {
  3: 'SQLITE_PERM',
  5: 'SQLITE_BUSY',
  6: 'SQLITE_LOCKED',
  7: 'SQLITE_NOMEM',
  8: 'SQLITE_READONLY',
  10: 'SQLITE_IOERR',
  13: 'SQLITE_FULL',
  14: 'SQLITE_CANTOPEN',
  15: 'SQLITE_PROTOCOL',
};

/** System error codes (from fs calls around the database) that pass by themselves. */
const TRANSIENT_SYSTEM = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EACCES', 'EPERM', 'EMFILE', 'ENFILE', 'EBUSY', 'EAGAIN']);

/** The SQLite result code name of a failure that passes by itself, or undefined. */
export function transientSqliteCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; errcode?: unknown };
  if (e.code === 'ERR_SQLITE_ERROR' && typeof e.errcode === 'number') return TRANSIENT[e.errcode & 0xff];
  if (typeof e.code === 'string' && TRANSIENT_SYSTEM.has(e.code)) return e.code;
  return undefined;
}

/**
 * `err` as the stores report it: a StoreUnavailableError naming the database, the operation and
 * the SQLite code, with the original error as its cause, when it passes by itself; else `err`.
 */
export function storeFailure(err: unknown, database: string, operation: string): unknown {
  if (err instanceof StoreUnavailableError) return err;
  const code = transientSqliteCode(err);
  if (!code) return err;
  const text = (err as { errstr?: unknown; message?: unknown }).errstr ?? (err as Error).message;
  return new StoreUnavailableError(`${database}: ${operation} failed: ${code} (${String(text)})`, { cause: err });
}

/**
 * Runs `work` on `db`; when it throws, rolls back the transaction it left open (if any) and
 * rethrows the failure as `storeFailure` reports it.
 */
export function guarded<T>(db: DatabaseSync, database: string, operation: string, work: () => T): T {
  try {
    return work();
  } catch (err) {
    if (db.isOpen && db.isTransaction) {
      try {
        db.exec('ROLLBACK');
      } catch {
        // The original error is the one to report.
      }
    }
    throw storeFailure(err, database, operation);
  }
}
