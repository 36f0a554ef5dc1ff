/**
 * The event store's syncer thread: makes the WAL durable after COMMIT, off the writer thread, so
 * the writer inserts and commits the next group while the last one's fdatasync runs
 * (docs/storage.md "Durability").
 *
 * The writer commits every transaction with synchronous=NORMAL (in WAL mode: no sync at COMMIT;
 * the WAL frames are written to the file before COMMIT returns). After a transaction that must be
 * durable (`disk`) it raises `WANT` in shared memory to a new ticket and wakes this thread, which
 * takes the highest ticket asked for, calls fdatasync on its own descriptor of the WAL file (the
 * same inode as SQLite's: it flushes every frame written before the call, whichever descriptor
 * wrote it) and then tells the calling thread "synced up to ticket w". The calling thread
 * resolves an append only when its ticket is covered. One fdatasync covers every commit before
 * it, so under load one sync serves several groups.
 *
 * Checkpoints do not run ahead of it: the checkpointer's connection syncs the WAL itself before it
 * copies frames into the database (synchronous=FULL there), and the WAL only starts over once
 * every frame is in the database and that file is synced.
 *
 * This thread blocks in Atomics.wait between syncs; it is stopped through `STOP`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { closeSync, fdatasyncSync, fstatSync, fsyncSync, openSync, realpathSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { STOP, SYNCED, WANT, type SyncerMessage, type SyncerOptions } from './wal-sync.ts';

const opts = workerData as SyncerOptions;
const port = parentPort!;
const cells = new BigInt64Array(opts.shared);
/**
 * The WAL's path, found at the first sync (the writer has opened the database by then): SQLite keeps
 * the WAL beside the database file's real path, so a symlinked events.db has its WAL beside the
 * link's target, not beside the link.
 */
let walPath = '';

let fd = -1;
let ino = -1;

/** Our descriptor of the WAL file, (re)opened when the file at its path is not the one we hold. */
function walFd(): number {
  walPath ||= `${realpathSync(opts.path)}-wal`;
  const now = statSync(walPath);
  if (fd >= 0 && now.ino === ino && fstatSync(fd).nlink > 0) return fd;
  if (fd >= 0) closeSync(fd);
  fd = openSync(walPath, 'r+');
  ino = fstatSync(fd).ino;
  // A WAL file created since the directory was last synced: make its name durable too (SQLite
  // does this once per file it creates when it syncs; it no longer syncs this one).
  const dir = openSync(dirname(walPath), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
  return fd;
}

let synced = 0n;
/**
 * Set by the first failed fdatasync, for good: Linux may report a failed writeback once and then
 * let the next fdatasync succeed with those pages lost, and the WAL's checksum chain ends where a
 * frame is missing, so no later commit can be promised durable. Every later ticket fails with it
 * (the store answers 503) until the server restarts and SQLite recovers the WAL.
 */
let failure: { message: string; code?: string } | undefined;
for (;;) {
  Atomics.wait(cells, WANT, synced);
  if (Atomics.load(cells, STOP) !== 0n) break;
  const want = Atomics.load(cells, WANT);
  if (want === synced) continue;
  if (opts.stallMs) {
    // To the process's stderr directly: this thread never returns to its event loop, which a
    // worker's process.stderr needs to pass its writes on.
    writeSync(2, 'events.db: fsync stalled\n');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, opts.stallMs);
  }
  if (failure) {
    synced = want;
    Atomics.store(cells, SYNCED, want);
    Atomics.notify(cells, SYNCED);
    port.postMessage({ failed: Number(want), ...failure } satisfies SyncerMessage);
    continue;
  }
  const start = performance.now();
  try {
    fdatasyncSync(walFd());
    synced = want;
    Atomics.store(cells, SYNCED, want);
    Atomics.notify(cells, SYNCED);
    const report: SyncerMessage = { synced: Number(want), ms: performance.now() - start };
    if (opts.traceStages) report.at = performance.timeOrigin + start;
    port.postMessage(report);
  } catch (err) {
    synced = want;
    Atomics.store(cells, SYNCED, want);
    Atomics.notify(cells, SYNCED);
    const e = err as NodeJS.ErrnoException;
    failure = { message: `events.db: fdatasync of the WAL failed, no commit can be promised durable until a restart: ${e.message}`, ...(e.code ? { code: e.code } : {}) };
    port.postMessage({ failed: Number(want), ...failure } satisfies SyncerMessage);
  }
}
if (fd >= 0) closeSync(fd);
port.close();
