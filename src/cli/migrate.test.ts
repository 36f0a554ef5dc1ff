/**
 * `opentrail migrate` run as a process on a layout-1 events.db larger than one import batch, with
 * a pruned head and tail and a history cut-off: refused while another process has the file open;
 * cut short after some batches and between its two renames, it leaves layout 1 and the next run
 * finishes; the result keeps every seq, commit time, the cut-off and the high-water mark.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { DataDirLock } from '../config/index.ts';
import { SqliteEventStore } from '../stores/sqlite/index.ts';

const BIN = new URL('../../bin/opentrail.js', import.meta.url).pathname;
const FIXTURE_DB = new URL('../../test/fixtures/layout1-datadir/data/events.db', import.meta.url).pathname;

function migrate(dir: string, testExit?: string): { status: number | null; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (testExit) env.OPENTRAIL_MIGRATE_TEST_EXIT = testExit;
  else delete env.OPENTRAIL_MIGRATE_TEST_EXIT;
  const r = spawnSync(process.execPath, [BIN, 'migrate', '--data-dir', dir], { encoding: 'utf8', env, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function isLayout1(path: string): boolean {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'events'").get() !== undefined;
  } finally {
    db.close();
  }
}

interface Row { seq: number; account: string; event_id: string; event_time: number; in_history: number; committed: number }

/**
 * The fixture's layout-1 file, grown to ~5,200 events in 8 more group commits, then pruned as
 * layout 1 prunes (the oldest events and their batch rows), minus its 20 newest events (the
 * high-water mark stays above the last seq), with a history cut-off in the middle of the events.
 */
function makeLayout1(path: string): { rows: Row[]; highWater: number; cutoff: number } {
  copyFileSync(FIXTURE_DB, path);
  const db = new DatabaseSync(path);
  try {
    const src = db.prepare('SELECT account, region, event_time, in_history, record FROM events ORDER BY seq').all() as { account: string; region: string; event_time: number; in_history: number; record: string }[];
    const insert = db.prepare('INSERT INTO events(account, region, event_id, event_time, in_history, record) VALUES (?, ?, ?, ?, ?, ?)');
    const batch = db.prepare('INSERT INTO batches(first_seq, committed_ms) VALUES (?, ?)');
    const lastCommit = (db.prepare('SELECT max(committed_ms) AS m FROM batches').get() as { m: number }).m;
    db.exec('BEGIN');
    for (let i = 0; i < 4800; i++) {
      const r = src[i % src.length]!;
      const record = JSON.parse(r.record) as { eventID: string };
      record.eventID = randomUUID();
      const seq = Number(insert.run(r.account, r.region, record.eventID, r.event_time + 1 + Math.floor(i / 100), r.in_history, JSON.stringify(record)).lastInsertRowid);
      if (i % 600 === 0) batch.run(seq, lastCommit + 1000 * (1 + i / 600));
    }
    db.exec('COMMIT');
    const firstKept = 31;
    db.prepare('DELETE FROM events WHERE seq < ?').run(firstKept);
    db.prepare('DELETE FROM batches WHERE first_seq < (SELECT max(first_seq) FROM batches WHERE first_seq <= ?)').run(firstKept);
    db.exec('DELETE FROM events WHERE seq > (SELECT max(seq) - 20 FROM events)');
    const times = (db.prepare('SELECT event_time FROM events ORDER BY event_time').all() as { event_time: number }[]).map((r) => r.event_time);
    const cutoff = times[Math.floor(times.length / 2)]!;
    db.prepare("INSERT INTO meta(name, value) VALUES ('history_cutoff_sec', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value").run(cutoff);
    const rows = db.prepare(`SELECT seq, account, event_id, event_time, in_history,
      (SELECT committed_ms FROM batches b WHERE b.first_seq <= e.seq ORDER BY b.first_seq DESC LIMIT 1) AS committed FROM events e ORDER BY seq`).all() as unknown as Row[];
    const highWater = (db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'").get() as { seq: number }).seq;
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    return { rows, highWater, cutoff };
  } finally {
    db.close();
  }
}

test('migrate: refused while the file is open elsewhere; cut short anywhere it leaves layout 1, and the next run completes it with every seq, commit time, the cut-off and the high-water mark', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'opentrail-migrate-unit-'));
  try {
    const path = join(dir, 'events.db');
    const { rows, highWater, cutoff } = makeLayout1(path);
    assert.ok(rows.length > 4000 && highWater > rows[rows.length - 1]!.seq);

    // Another process (a server) has the file open: refused, one line, exit 2.
    const holder = new DatabaseSync(path);
    holder.prepare('SELECT count(*) FROM events').get();
    const busy = migrate(dir);
    holder.close();
    assert.equal(busy.status, 2, busy.stderr);
    assert.match(busy.stderr, /^opentrail migrate: .*events\.db is in use \(is an OpenTrail server running on .*\? stop it first\)\n$/);
    assert.ok(isLayout1(path));

    // Cut short after two import batches: still layout 1, a partial new file beside it.
    const cut = migrate(dir, 'batches:2');
    assert.equal(cut.status, 86, cut.stderr);
    assert.ok(isLayout1(path));
    assert.ok(existsSync(join(dir, 'events.migrating.db')));
    // Cut short between the link and the rename: events.db is still the layout-1 file.
    const linked = migrate(dir, 'linked');
    assert.equal(linked.status, 86, linked.stderr);
    assert.ok(isLayout1(path));
    assert.equal(statSync(join(dir, 'events.layout1.db')).ino, statSync(path).ino);

    const done = migrate(dir);
    assert.equal(done.status, 0, done.stderr);
    assert.match(done.stdout, new RegExp(`is now layout 2: ${rows.length} events \\(seq high-water ${highWater}\\)`));
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('events.')).sort(), ['events.db', 'events.layout1.db']);
    assert.ok(!isLayout1(path));
    assert.ok(isLayout1(join(dir, 'events.layout1.db')));

    const store = new SqliteEventStore({ path });
    try {
      assert.equal(await store.lastSeq(), highWater);
      assert.equal(await store.count(), rows.length);
      const log = await store.readAfter(0, 100_000);
      assert.deepEqual(log.map((e) => [e.seq, e.accountId, e.eventTimeSec]), rows.map((r) => [r.seq, r.account, r.event_time]));
      // The cut-off: an event below it is not found by EventId, one at or above it is.
      const find = async (r: Row) => (await store.lookup({ accountId: r.account, region: JSON.parse(log.find((e) => e.seq === r.seq)!.json).awsRegion, attribute: ['EventId', r.event_id], startSec: 0, endSec: 2 ** 40, limit: 5 })).length;
      const inHistory = rows.filter((r) => r.in_history === 1);
      assert.equal(await find(inHistory.find((r) => r.event_time < cutoff)!), 0);
      assert.equal(await find(inHistory.find((r) => r.event_time >= cutoff)!), 1);
      // Commit times: pruning by ingestion age removes exactly the events committed before the bound.
      const bound = [...new Set(rows.map((r) => r.committed))].sort((a, b) => a - b)[3]!;
      const pruned = await store.prune(0, bound);
      assert.equal(pruned.events, rows.filter((r) => r.committed < bound).length);
      // New events continue above the high-water mark.
      const [out] = await store.append([{ accountId: rows[0]!.account, region: 'us-east-1', eventId: randomUUID(), eventTimeSec: cutoff + 10, json: '{}' }]);
      assert.deepEqual(out, { seq: highWater + 1, duplicate: false });
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('migrate: refusals and failures are one line, and leave events.db as it was', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opentrail-migrate-unit-'));
  try {
    const path = join(dir, 'events.db');
    const missing = migrate(dir);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /^opentrail migrate: .*events\.db does not exist: nothing to migrate .*\n$/);

    const other = new DatabaseSync(path);
    other.exec('CREATE TABLE t(x)');
    other.close();
    const foreign = migrate(dir);
    assert.equal(foreign.status, 2);
    assert.match(foreign.stderr, /^opentrail migrate: .*events\.db is not a layout-1 event store \(tables: t; layout 0\)\n$/);

    copyFileSync(FIXTURE_DB, path);
    copyFileSync(FIXTURE_DB, join(dir, 'events.layout1.db'));
    const kept = migrate(dir);
    assert.equal(kept.status, 2);
    assert.match(kept.stderr, /^opentrail migrate: .*events\.layout1\.db exists and is not events\.db: move it away first\n$/);
    rmSync(join(dir, 'events.layout1.db'));

    // A server of this version (or another migration) holds the data dir's lock.
    const lock = DataDirLock.acquire(dir);
    const locked = migrate(dir);
    lock.release();
    assert.equal(locked.status, 2);
    assert.match(locked.stderr, /^opentrail migrate: data dir .* is in use by another OpenTrail server \(pid \d+, since [^)]*\); stop it first.*\n$/);
    assert.ok(isLayout1(path));

    // A record that does not parse: exit 1, one line, nothing of the run left.
    const db = new DatabaseSync(path);
    db.exec("UPDATE events SET record = '{broken' WHERE seq = (SELECT max(seq) FROM events)");
    db.close();
    const failed = migrate(dir);
    assert.equal(failed.status, 1, failed.stderr);
    assert.match(failed.stderr, /^opentrail migrate: failed: .*JSON.*; .*events\.db is unchanged \(layout 1\); fix the cause and run again\n$/);
    assert.ok(isLayout1(path));
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('events.migrating') || f.startsWith('events.layout1')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
