/**
 * The event store's checkpointer thread: its own connection, off the commit path (the writer runs
 * with wal_autocheckpoint=0). Every `intervalMs` it looks at the WAL's size: past `passiveBytes`
 * it runs a PASSIVE checkpoint (copies what no reader still needs, never waits); past
 * `truncateBytes` a TRUNCATE one that does not wait either (busy_timeout 0: when a reader or the
 * writer is in the way it tries again next time). After a complete checkpoint the writer starts the
 * WAL over at its next commit, and journal_size_limit caps what the file keeps.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { realpathSync, statSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';

export interface CheckpointerOptions {
  path: string;
  intervalMs: number;
  passiveBytes: number;
  truncateBytes: number;
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

let checkpoints = 0;
const spans: [number, number][] = [];
const timer = setInterval(() => {
  const size = walBytes();
  if (size < opts.passiveBytes) return;
  const began = performance.timeOrigin + performance.now();
  try {
    db.exec(`PRAGMA wal_checkpoint(${size >= opts.truncateBytes ? 'TRUNCATE' : 'PASSIVE'})`);
    checkpoints++;
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
