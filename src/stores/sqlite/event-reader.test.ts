/**
 * The reader of events.db layout 2 with id filters and raw frames (2026-12-04): a file written
 * before them is read and upgraded in place; EventId lookups consult the filters and fall back to
 * the bucket's ids when a bucket has none; events a lookup returned are found again without SQL, and
 * never once their blocks were pruned.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zstdCompressSync } from 'node:zlib';
import { SqliteEventStore } from './sqlite-event-store.ts';
import { unpack } from './event-format.ts';
import type { AppendInput } from '../event-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'opentrail-id-filter-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

const T0 = 1_767_225_600;
const A = '111111111111';
const ev = (eventId: string, i: number): AppendInput => ({
  accountId: A, region: 'us-east-1', eventId, eventTimeSec: T0 + i,
  json: JSON.stringify({ eventID: eventId, n: i }), history: [['*', 'management'], ['EventName', `name-${i % 3}`]],
});
const byId = (eventId: string) => ({ accountId: A, region: 'us-east-1', attribute: ['EventId', eventId] as const, startSec: 0, endSec: 4e9, limit: 10 });
const byName = (name: string) => ({ accountId: A, region: 'us-east-1', attribute: ['EventName', name] as const, startSec: 0, endSec: 4e9, limit: 1000 });
const idsOf = (rows: { json: string }[]) => rows.map((r) => (JSON.parse(r.json) as { eventID: string }).eventID);

function sql<T>(path: string, work: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(path);
  try {
    return work(db);
  } finally {
    db.close();
  }
}

/** A store with 3 buckets of 12 events and pending rows (commits of 4, then single events). */
async function filled(path: string): Promise<string[]> {
  const store = new SqliteEventStore({ path, bucketEvents: 10, blockEvents: 4 });
  const ids: string[] = [];
  try {
    for (let b = 0; b < 9; b++) {
      const batch = Array.from({ length: 4 }, (_, i) => ev(`e-${b * 4 + i}`, b * 4 + i));
      await store.append(batch);
      ids.push(...batch.map((e) => e.eventId));
      for (let i = 0; i < 500 && (await store.writerStats()).merges < Math.floor((b + 1) / 3); i++) await new Promise((r) => setTimeout(r, 10));
    }
    for (let i = 36; i < 40; i++) {
      await store.append([ev(`e-${i}`, i)], 'process');
      ids.push(`e-${i}`);
    }
  } finally {
    await store.close();
  }
  return ids;
}

test('a layout-2 file written before id filters and raw frames is read as it is, and gets its filters at the next open', async () => {
  const path = join(dir, `old-${++n}.db`);
  const ids = await filled(path);
  // What the writer before 2026-12-04 left: no idf column, every block and pending row zstd-compressed.
  sql(path, (db) => {
    assert.ok((db.prepare('SELECT count(*) AS c FROM buckets').get() as { c: number }).c >= 2);
    assert.ok((db.prepare("SELECT count(*) AS c FROM blocks WHERE substr(data, 5, 1) = x'a0'").get() as { c: number }).c > 0, 'single-event commits were stored as raw frames');
    db.exec('BEGIN');
    for (const table of ['blocks', 'pending']) {
      const update = db.prepare(`UPDATE ${table} SET data = ? WHERE first_seq = ?`);
      for (const r of db.prepare(`SELECT first_seq, data FROM ${table}`).all() as { first_seq: number; data: Uint8Array }[]) update.run(zstdCompressSync(unpack(r.data)), r.first_seq);
    }
    db.exec('COMMIT');
    db.exec('ALTER TABLE buckets DROP COLUMN idf');
    assert.equal((db.prepare("SELECT count(*) AS c FROM blocks WHERE substr(data, 5, 1) = x'a0'").get() as { c: number }).c, 0);
  });

  const store = new SqliteEventStore({ path, bucketEvents: 10, blockEvents: 4 });
  try {
    for (const id of ids) assert.deepEqual(idsOf(await store.lookup(byId(id))), [id], `EventId ${id}`);
    assert.deepEqual(idsOf(await store.lookup(byName('name-1'))), ids.filter((_, i) => i % 3 === 1).reverse());
    assert.deepEqual((await store.append([ev('e-5', 5), ev('e-38', 38), ev('new', 99)])).map((o) => o.duplicate), [true, true, false]);
    assert.equal(await store.count(), ids.length + 1);
  } finally {
    await store.close();
  }
  sql(path, (db) => {
    const rows = db.prepare('SELECT idf IS NOT NULL AS has FROM buckets').all() as { has: number }[];
    assert.ok(rows.length >= 2 && rows.every((r) => r.has === 1), 'every bucket got its filter at open');
  });
});

test('EventId lookups consult each bucket\'s filter, and probe the bucket\'s ids when it has none', async () => {
  const path = join(dir, `filters-${++n}.db`);
  const ids = await filled(path);
  const inBuckets = sql(path, (db) => (db.prepare('SELECT count(*) AS c FROM ids').get() as { c: number }).c);
  assert.ok(inBuckets >= 24);
  const bucketed = ids.slice(0, inBuckets);

  let store = new SqliteEventStore({ path, bucketEvents: 10, blockEvents: 4 });
  try {
    await store.writerStats(); // the writer has opened (and filled any missing filter)
    store.db.exec('UPDATE buckets SET idf = NULL');
    for (const id of ids) assert.deepEqual(idsOf(await store.lookup(byId(id))), [id], `EventId ${id} without filters`);
  } finally {
    await store.close();
  }

  // A filter that answers "absent" for everything (all bits clear) hides its bucket's events from
  // EventId lookups: the filter is what decides whether the bucket is opened.
  sql(path, (db) => {
    const header = Buffer.alloc(8);
    header[0] = 1;
    header[1] = 7;
    header.writeUInt32LE(1, 4);
    db.prepare('UPDATE buckets SET idf = ?').run(Buffer.concat([header, Buffer.alloc(64)]));
  });
  store = new SqliteEventStore({ path, bucketEvents: 10, blockEvents: 4 });
  try {
    for (const id of bucketed) assert.deepEqual(idsOf(await store.lookup(byId(id))), [], `EventId ${id} behind an empty filter`);
    for (const id of ids.slice(inBuckets)) assert.deepEqual(idsOf(await store.lookup(byId(id))), [id], `pending EventId ${id}`);
    assert.equal((await store.lookup(byName('name-0'))).length, 14, 'other lookups do not use the id filters');
  } finally {
    await store.close();
  }
});

test('an event a lookup cached is not found once prune removed its block (the whole log, then part of it)', async () => {
  const store = new SqliteEventStore({ path: join(dir, `prune-${++n}.db`), bucketEvents: 10, blockEvents: 4 });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  try {
    await store.append(Array.from({ length: 6 }, (_, i) => ev(`old-${i}`, i)));
    assert.equal((await store.lookup(byName('name-0'))).length, 2, 'the blocks are now cached');
    assert.deepEqual(idsOf(await store.lookup(byId('old-1'))), ['old-1']);
    await sleep(30);
    assert.equal((await store.prune(0, Date.now())).events, 6);
    assert.deepEqual(await store.lookup(byName('name-0')), [], 'no block left');
    assert.deepEqual(await store.lookup(byId('old-1')), []);
    // One transaction, two commit times: its pending row outlives the older blocks a prune removes,
    // so the lookup still meets their seqs and must find them gone.
    const last = await store.lastSeq();
    await store.importEvents([ev('mid-0', 9), ev('mid-1', 10), ev('mid-2', 11), ev('new-0', 18), ev('new-1', 19), ev('new-2', 20)]
      .map((e, i) => ({ ...e, seq: last + 1 + i, committedMs: i < 3 ? 1_000 : 4e12 })));
    const cutoff = 2e12;
    assert.deepEqual(idsOf(await store.lookup(byName('name-2'))), ['new-2', 'mid-2']);
    assert.equal((await store.prune(0, cutoff)).events, 3);
    assert.deepEqual(idsOf(await store.lookup(byName('name-2'))), ['new-2'], 'the older cached block is gone, the newer one served');
    assert.deepEqual(idsOf(await store.lookup(byId('mid-2'))), []);
    assert.deepEqual(idsOf(await store.lookup(byId('new-2'))), ['new-2']);
  } finally {
    await store.close();
  }
});

test('the L0 index kept across merges answers as one built afresh: merged rows leave it, the rest stay, out-of-order times included', async () => {
  const path = join(dir, `l0-merge-${n++}.db`);
  const store = new SqliteEventStore({ path, bucketEvents: 12, blockEvents: 4 });
  const reader = (store as unknown as { reader: { l0: { rows: number } } }).reader;
  try {
    let merges = 0;
    let kept = 0;
    for (let c = 0; c < 24; c++) {
      // Commits of 1 to 5 events; every third one goes back in time (an older eventTime committed later).
      const size = 1 + (c % 5);
      const batch = Array.from({ length: size }, (_, i) => ev(`m-${c}-${i}`, c % 3 === 2 ? c * 10 - 200 + i : c * 10 + i));
      // With a second small append in flight beside it, the merge that the first one makes due
      // (prepared after it replies) usually finds a newer row it does not take: the rows it leaves
      // are what the kept index must still answer for. (One append at a time, the merge takes
      // every pending row and the index is rightly built again, empty.)
      await Promise.all([store.append(batch, c % 2 ? 'process' : 'disk'), store.append([ev(`m-${c}-extra`, c * 10 + 9)], 'process')]);
      const before = reader.l0;
      const got = await store.lookup(byName('name-1'));
      const all = await store.lookup({ ...byName('x'), attribute: ['*', 'management'] });
      // A second handle on the same file builds its index from the rows.
      const fresh = new SqliteEventStore({ path, bucketEvents: 12, blockEvents: 4 });
      try {
        assert.deepEqual(idsOf(got), idsOf(await fresh.lookup(byName('name-1'))), `after commit ${c}`);
        assert.deepEqual(idsOf(all), idsOf(await fresh.lookup({ ...byName('x'), attribute: ['*', 'management'] })), `after commit ${c}`);
      } finally {
        await fresh.close();
      }
      const m = (await store.writerStats()).merges;
      if (m > merges && reader.l0 === before) kept++;
      merges = m;
    }
    assert.ok(merges >= 3, `${merges} merges`);
    // The index survived merges (entries dropped in place) rather than being rebuilt each time.
    assert.ok(kept >= 1, `index kept across ${kept} of ${merges} merges`);
  } finally {
    await store.close();
  }
});
