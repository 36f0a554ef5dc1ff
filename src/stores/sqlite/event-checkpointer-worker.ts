/**
 * The event store's checkpointer thread: its own connection, off the commit path (the writer runs
 * with wal_autocheckpoint=0). Every `intervalMs` it looks at how much of the WAL is not yet in the
 * database (the frames past the last checkpoint: `mxFrame - nBackfill` of the wal-index header in
 * the `-shm` file, sqlite.org/walformat.html); past `passiveBytes` it runs a PASSIVE checkpoint
 * (copies what no reader still needs, never waits), or a TRUNCATE one when the WAL file is past
 * `truncateBytes` (which does not wait either: busy_timeout 0, when a reader or the writer is in
 * the way it tries again next time). After a complete checkpoint the writer starts the WAL over at
 * its next commit, and journal_size_limit caps what the file keeps.
 *
 * Not the WAL file's size: the file keeps its size when the WAL starts over (up to
 * journal_size_limit), and under a steady stream of commits a PASSIVE checkpoint is seldom complete
 * (a commit lands while it runs), so the WAL does not start over either; a file past
 * `passiveBytes` once made every tick a checkpoint, two fsyncs every 50 ms on the disk the syncer's
 * fdatasync waits for (docs/performance.md, "the gateway's p99").
 */
import { parentPort, workerData } from 'node:worker_threads';
import { readSync, realpathSync, statSync } from 'node:fs';
import { endianness } from 'node:os';
import { DatabaseSync } from 'node:sqlite';

export interface CheckpointerOptions {
  path: string;
  intervalMs: number;
  passiveBytes: number;
  truncateBytes: number;
  /**
   * A descriptor of the `-shm` file opened by the store on its own thread, or -1 (then the WAL
   * file's size decides, as before). Never closed here: on Linux, closing any descriptor of a file
   * drops every POSIX lock the process holds on it, SQLite's own on the wal-index among them
   * (sqlite.org/howtocorrupt.html, 2.2); the store closes it after its last connection.
   */
  shmFd: number;
  /** Measurements: keep when each checkpoint began and ended (ms since the epoch), sent with `stats`. */
  traceStages?: boolean;
}

const opts = workerData as CheckpointerOptions;
const db = new DatabaseSync(opts.path);
// synchronous=FULL (SQLite's default, said here because durability rests on it): a checkpoint
// fsyncs the WAL before it copies frames into the database, and the database before it lets the
// WAL start over, so a checkpoint never runs ahead of a commit the syncer thread has not synced yet
// (the writer commits without syncing: wal-syncer-worker.ts).
db.exec('PRAGMA busy_timeout=0; PRAGMA cache_size=-1024; PRAGMA mmap_size=0; PRAGMA synchronous=FULL;');

// Beside the database file's real path, as SQLite keeps it (events.db may be a symlink); the
// database is open, so the path resolves.
const walPath = `${realpathSync(opts.path)}-wal`;

function walBytes(): number {
  try {
    return statSync(walPath).size;
  } catch {
    return 0;
  }
}

/** The wal-index (shared memory) file, beside the WAL; its first header is at offset 0, the checkpoint info at 96. */
const shmFd = opts.shmFd;
const header = Buffer.alloc(100);
const little = endianness() === 'LE';

/**
 * Bytes of WAL frames not yet copied into the database: (mxFrame - nBackfill) frames of (page size
 * + 24) bytes, read from the wal-index header (native byte order). The file size when the header
 * cannot be read (the whole file counts then, as before).
 */
function pendingBytes(): number {
  if (shmFd < 0) return walBytes();
  try {
    if (readSync(shmFd, header, 0, 100, 0) < 100) return walBytes();
    const u32 = (at: number) => (little ? header.readUInt32LE(at) : header.readUInt32BE(at));
    const pageSize = little ? header.readUInt16LE(14) : header.readUInt16BE(14);
    const frames = u32(16) - u32(96);
    return Math.max(0, frames) * ((pageSize === 1 ? 65_536 : pageSize) + 24);
  } catch {
    return walBytes();
  }
}

/**
 * Follow-up checkpoints still allowed after one that left frames behind (a commit landed while it
 * ran, or a reader held them). Each follow-up copies only what came since, a few pages; the one
 * that completes lets the writer start the WAL over, so the WAL file is then overwritten in place
 * rather than extended, and the syncer's fdatasync has no file size to journal (measured: fdatasync
 * p50 0.34-0.39 ms when the WAL starts over, 0.43-0.69 when it only grows; docs/performance.md).
 */
const FOLLOW_UPS = 5;
let followUps = 0;
let checkpoints = 0;
const spans: [number, number][] = [];
const timer = setInterval(() => {
  const pending = pendingBytes();
  if (pending < opts.passiveBytes && (followUps === 0 || pending === 0)) return;
  const began = performance.timeOrigin + performance.now();
  try {
    const fresh = pending >= opts.passiveBytes;
    // db.exec, not a prepared statement's get(): a statement left unreset keeps this connection's
    // read lock, and while any connection reads the WAL the writer cannot start it over (measured).
    db.exec(`PRAGMA wal_checkpoint(${walBytes() >= opts.truncateBytes ? 'TRUNCATE' : 'PASSIVE'})`);
    checkpoints++;
    // Complete when no frame is left to copy (a commit that landed meanwhile counts as left).
    const complete = pendingBytes() === 0;
    followUps = complete ? 0 : fresh ? FOLLOW_UPS : Math.max(0, followUps - 1);
  } catch {
    // Busy or failing now (disk full, ...): the next tick tries again; the WAL keeps every frame.
  }
  if (opts.traceStages && spans.length < 100_000) spans.push([began, performance.timeOrigin + performance.now()]);
}, opts.intervalMs);

parentPort!.on('message', (m: { op: 'close' | 'stats' }) => {
  if (m.op === 'stats') {
    parentPort!.postMessage({ checkpoints, walBytes: walBytes(), ...(opts.traceStages ? { spans } : {}) });
    return;
  }
  clearInterval(timer);
  db.close();
  parentPort!.close();
});
