/**
 * `opentrail migrate --data-dir DIR`: converts DIR/events.db from event store layout 1 to layout 2
 * (docs/storage.md "Migrating from layout 1").
 *
 * The layout-1 file is read under an exclusive lock (so no server runs on it meanwhile) and written
 * into DIR/events.migrating.db through the layout-2 store itself (importEvents, with each event's
 * seq and commit time, its history attributes and summary recomputed as ingest computes them, the
 * history cut-off and the seq high-water mark). Then the old file gets a second name,
 * events.layout1.db (a hard link), and the new one is renamed over events.db: at every moment
 * events.db is either the whole layout-1 file or the whole layout-2 file, so a migration cut short
 * anywhere leaves layout 1, and the next run removes the leftovers and starts again.
 */
import { closeSync, existsSync, fsyncSync, linkSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DatabaseSync } from 'node:sqlite';
import { ConfigError, DataDirLock, defaultConfig } from '../config/index.ts';
import { toAppendInput } from '../ingest/index.ts';
import { SqliteEventStore, type ImportEvent } from '../stores/sqlite/index.ts';
import type { CloudTrailRecord } from '../core/index.ts';
import { Progress } from './progress.ts';

export const MIGRATE_USAGE = `usage: opentrail migrate [--data-dir DIR]

Converts DIR/events.db from event store layout 1 to layout 2, keeping the old file as
DIR/events.layout1.db. Stop the server first. Safe to interrupt and to run again.

  --data-dir  the server's data directory (env OPENTRAIL_DATA_DIR; default .opentrail)`;

/** Events per importEvents call (one durable transaction each). */
const BATCH = 2000;

/** A refusal: one line on stderr, exit code 2. */
class Refusal extends Error {}

/** A migration that failed (exit code 1), saying which layout events.db is left in. */
class MigrationFailure extends Error {
  readonly layout: 1 | 2;
  constructor(message: string, layout: 1 | 2, options: { cause: unknown }) {
    super(message, options);
    this.layout = layout;
  }
}

interface Layout1Row {
  seq: number;
  account: string;
  region: string;
  event_id: string;
  event_time: number;
  in_history: number;
  record: string;
}

function removeDb(path: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(path + suffix, { force: true });
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function tablesOf(db: DatabaseSync): string[] {
  return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
}

/** For the crash-safety test: exits abruptly at the named point (`batches:N` or `linked`). */
function testExit(point: string): void {
  if (process.env.OPENTRAIL_MIGRATE_TEST_EXIT === point) process.exit(86);
}

export interface MigrateResult {
  /** 'migrated', or 'current' when events.db already is layout 2. */
  outcome: 'migrated' | 'current';
  events: number;
  lastSeq: number;
}

/** How far a migration is: events copied of the events to copy. */
export interface MigrateProgress {
  done: number;
  total: number;
}

/**
 * Migrates `dataDir`; throws Refusal for anything it will not do. `progress` is called once the
 * events are counted and after each batch copied.
 */
export async function migrateDataDir(dataDir: string, progress: (p: MigrateProgress) => void = () => undefined): Promise<MigrateResult> {
  const dir = resolve(dataDir);
  const path = join(dir, 'events.db');
  const temp = join(dir, 'events.migrating.db');
  const kept = join(dir, 'events.layout1.db');
  if (!existsSync(path)) throw new Refusal(`${path} does not exist: nothing to migrate (is --data-dir the server's data directory?)`);
  const db = new DatabaseSync(path);
  let lock: DataDirLock | undefined;
  let closed = false;
  let linked = false;
  let renamed = false;
  try {
    const tables = tablesOf(db);
    if (!tables.includes('events')) {
      const version = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
      if (tables.includes('blocks') && version === 2) return { outcome: 'current', events: 0, lastSeq: 0 };
      throw new Refusal(`${path} is not a layout-1 event store (tables: ${tables.join(', ') || 'none'}; layout ${version})`);
    }
    // The data dir's lock (src/config/data-dir-lock.ts): no server of this version, and no second
    // migration, starts on the directory meanwhile.
    try {
      lock = DataDirLock.acquire(dir);
    } catch (err) {
      if (err instanceof ConfigError) throw new Refusal(err.message);
      throw err;
    }
    // What an earlier run left behind: a partly written layout-2 file.
    removeDb(temp);
    if (existsSync(kept)) {
      // A link an interrupted run made to this very file is a leftover; any other file is the user's.
      const a = statSync(kept);
      const b = statSync(path);
      if (a.ino !== b.ino || a.dev !== b.dev) throw new Refusal(`${kept} exists and is not events.db: move it away first`);
      rmSync(kept);
    }
    // A server of the layout-1 version takes no data dir lock. Exclusive locking mode: BEGIN
    // EXCLUSIVE fails while any other process has the file open (such a server), and the lock is
    // then held until close, so none starts while we read.
    db.exec('PRAGMA busy_timeout=1000; PRAGMA locking_mode=EXCLUSIVE');
    try {
      db.exec('BEGIN EXCLUSIVE');
      db.exec('COMMIT');
    } catch (err) {
      if ((err as { errcode?: number }).errcode !== undefined && ((err as { errcode: number }).errcode & 0xff) === 5) {
        throw new Refusal(`${path} is in use (is an OpenTrail server running on ${dir}? stop it first)`);
      }
      throw err;
    }
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');

    const total = (db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
    const highWater = (db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'").get() as { seq: number } | undefined)?.seq ?? 0;
    const cutoff = tables.includes('meta')
      ? (db.prepare("SELECT value FROM meta WHERE name = 'history_cutoff_sec'").get() as { value: number } | undefined)?.value
      : undefined;
    const page = db.prepare('SELECT seq, account, region, event_id, event_time, in_history, record FROM events WHERE seq > ? ORDER BY seq LIMIT ?');
    const batchAtOrBelow = db.prepare('SELECT first_seq, committed_ms FROM batches WHERE first_seq <= ? ORDER BY first_seq DESC LIMIT 1');
    const batchesIn = db.prepare('SELECT first_seq, committed_ms FROM batches WHERE first_seq > ? AND first_seq <= ? ORDER BY first_seq');
    const firstBatch = db.prepare('SELECT committed_ms FROM batches ORDER BY first_seq LIMIT 1').get() as { committed_ms: number } | undefined;

    const store = new SqliteEventStore({ path: temp });
    let done = 0;
    let lastSeq = 0;
    let batches = 0;
    progress({ done: 0, total });
    try {
      for (;;) {
        const rows = page.all(lastSeq, BATCH) as unknown as Layout1Row[];
        if (rows.length === 0) break;
        const first = rows[0]!.seq;
        const last = rows[rows.length - 1]!.seq;
        // An event's group commit is the batch row with the greatest first_seq <= its seq; an event
        // below every batch row (none is written so) takes the oldest commit time known.
        let current = (batchAtOrBelow.get(first) as { first_seq: number; committed_ms: number } | undefined)?.committed_ms ?? firstBatch?.committed_ms ?? Date.now();
        const later = batchesIn.all(first, last) as { first_seq: number; committed_ms: number }[];
        let next = 0;
        const events: ImportEvent[] = rows.map((r) => {
          while (next < later.length && later[next]!.first_seq <= r.seq) current = later[next++]!.committed_ms;
          // Recomputed from the stored (already normalised) record exactly as ingest does.
          const input = toAppendInput({ record: JSON.parse(r.record) as CloudTrailRecord, json: r.record, eventTimeSec: r.event_time });
          const inHistory = r.in_history === 1;
          const e: ImportEvent = {
            seq: r.seq, accountId: r.account, region: r.region, eventId: r.event_id, eventTimeSec: r.event_time, json: r.record,
            history: inHistory ? (input.history ?? []) : undefined, committedMs: current,
          };
          if (inHistory && input.summary !== undefined) e.summary = input.summary;
          return e;
        });
        await store.importEvents(events);
        done += rows.length;
        lastSeq = last;
        testExit(`batches:${++batches}`);
        progress({ done, total });
      }
      // The cut-off, and the high-water mark even when the log's tail was pruned (seqs are never reused).
      await store.importEvents([], { historyCutoffSec: cutoff, lastSeq: Math.max(highWater, lastSeq) });
      const check = { count: await store.count(), lastSeq: await store.lastSeq() };
      if (check.count !== total || check.lastSeq !== Math.max(highWater, lastSeq)) {
        throw new Error(`migrate: the new file holds ${check.count} events up to seq ${check.lastSeq}; expected ${total} up to ${Math.max(highWater, lastSeq)}`);
      }
    } finally {
      await store.close();
    }
    // The new file alone holds everything (the last connection's close checkpointed its WAL).
    if (existsSync(`${temp}-wal`)) {
      const t = new DatabaseSync(temp);
      t.exec('PRAGMA wal_checkpoint(TRUNCATE)');
      t.close();
    }
    rmSync(`${temp}-wal`, { force: true });
    rmSync(`${temp}-shm`, { force: true });
    fsyncPath(temp);

    // Closing the exclusive connection checkpoints and removes the old WAL; nothing may remain of it,
    // or the new events.db would read the old file's frames.
    db.close();
    closed = true;
    if (existsSync(`${path}-wal`) && statSync(`${path}-wal`).size > 0) throw new Error(`migrate: ${path}-wal is still there after the checkpoint; nothing was changed`);
    rmSync(`${path}-wal`, { force: true });
    rmSync(`${path}-shm`, { force: true });
    linkSync(path, kept);
    linked = true;
    fsyncPath(dir);
    testExit('linked');
    renameSync(temp, path);
    renamed = true;
    fsyncPath(dir);
    return { outcome: 'migrated', events: done, lastSeq: Math.max(highWater, lastSeq) };
  } catch (err) {
    // Failed before the rename (disk full, a record that does not parse, ...): events.db is still
    // the layout-1 file; what this run wrote goes (the next run would remove it anyway).
    if (err instanceof Refusal) throw err;
    if (!renamed) {
      try {
        removeDb(temp);
        if (linked) rmSync(kept, { force: true });
      } catch {
        // The next run removes it.
      }
    }
    throw new MigrationFailure((err as { errstr?: string }).errstr ?? (err as Error).message, renamed ? 2 : 1, { cause: err });
  } finally {
    if (!closed) db.close();
    lock?.release();
  }
}

export async function migrateCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    console.log(MIGRATE_USAGE);
    return 0;
  }
  const dataDir = values['data-dir'] ?? process.env.OPENTRAIL_DATA_DIR ?? defaultConfig().dataDir;
  const started = performance.now();
  try {
    // A bar on a terminal; elsewhere a line every 2 s (docs/storage.md "Migrating from layout 1").
    const bar = new Progress({ label: 'migrate', unit: 'events', stream: process.stderr, term: process.env.TERM, quietMs: 2000, everyMs: 2000 });
    let r: MigrateResult;
    try {
      r = await migrateDataDir(dataDir, (p) => bar.update({
        done: p.done, total: p.total,
        detail: `${Math.round(p.done / Math.max(0.001, (performance.now() - started) / 1000)).toLocaleString('en-US')} events/s`,
      }));
    } finally {
      bar.stop();
    }
    if (r.outcome === 'current') {
      console.log(`opentrail migrate: ${join(dataDir, 'events.db')} is already layout 2; nothing to do`);
      return 0;
    }
    const secs = (performance.now() - started) / 1000;
    console.log(`opentrail migrate: ${join(dataDir, 'events.db')} is now layout 2: ${r.events} events (seq high-water ${r.lastSeq}) in ${secs.toFixed(1)} s; the layout-1 file is kept as ${join(dataDir, 'events.layout1.db')} (delete it once the server runs well)`);
    return 0;
  } catch (err) {
    if (err instanceof Refusal) {
      console.error(`opentrail migrate: ${err.message}`);
      return 2;
    }
    if (err instanceof MigrationFailure) {
      const state = err.layout === 1 ? 'is unchanged (layout 1); fix the cause and run again' : 'is layout 2 (the failure came after the rename)';
      console.error(`opentrail migrate: failed: ${err.message}; ${join(dataDir, 'events.db')} ${state}`);
      return 1;
    }
    throw err;
  }
}
