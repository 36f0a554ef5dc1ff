/** The EventStore contract on SQLite layout 2, and the layout's own internals. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { runEventStoreContract } from '../event-store.suite.ts';
import { SqliteEventStore } from './sqlite-event-store.ts';
import { StoreUnavailableError } from '../errors.ts';
import type { AppendInput } from '../event-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'opentrail-sqlite-events-'));
after(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }));
let n = 0;

runEventStoreContract('SqliteEventStore (file)', async () => new SqliteEventStore({ path: join(dir, `store-${++n}.db`) }), {
  persistent: async () => {
    const path = join(dir, `persistent-${++n}`, 'events.db'); // a directory that does not exist yet
    return async () => new SqliteEventStore({ path });
  },
});

runEventStoreContract('SqliteEventStore (tiny buckets, blocks and 3-bit hashes)', async () => new SqliteEventStore({ path: join(dir, `tiny-${++n}.db`), bucketEvents: 3, blockEvents: 2, hashBits: 3 }), {
  persistent: async () => {
    const path = join(dir, `tiny-persistent-${++n}`, 'events.db');
    return async () => new SqliteEventStore({ path, bucketEvents: 3, blockEvents: 2, hashBits: 3 });
  },
  modelRuns: 60,
});

const T0 = 1_767_225_600;
const A = '111111111111';
const ev = (eventId: string, fields: Partial<AppendInput> = {}): AppendInput => ({
  accountId: A, region: 'us-east-1', eventId, eventTimeSec: T0,
  json: JSON.stringify({ eventID: eventId }), history: [['*', 'management'], ['EventName', `name-${eventId.split('-')[0]}`]], ...fields,
});
const q = (attribute: readonly [string, string], limit = 100_000) => ({ accountId: A, region: 'us-east-1', attribute, startSec: 0, endSec: 4e9, limit });
const idsOf = (rows: { json: string }[]) => rows.map((r) => (JSON.parse(r.json) as { eventID: string }).eventID);
/** A separate connection on the file, to look at the layout the store wrote. */
function peek<T>(path: string, sql: string): T[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

describe('SqliteEventStore layout 2: L0 pending rows and L1 buckets', () => {
  test('pending rows merge into a bucket once they hold bucketEvents events; lookups and duplicates span both levels and a reopen', async () => {
    const path = join(dir, `merge-${++n}.db`);
    let store = new SqliteEventStore({ path, bucketEvents: 10, blockEvents: 4 });
    try {
      for (let b = 0; b < 5; b++) await store.append(Array.from({ length: 4 }, (_, i) => ev(`a-${b * 4 + i}`, { eventTimeSec: T0 + b * 4 + i })));
      // The merge's CPU part runs between requests, its write is queued: wait for it.
      for (let i = 0; i < 500 && (await store.writerStats()).merges === 0; i++) await new Promise((r) => setTimeout(r, 10));
      const buckets = peek<{ n: number }>(path, 'SELECT n FROM buckets ORDER BY id');
      assert.deepEqual(buckets.map((b) => b.n), [12], 'three commits of 4 reached 10 and merged into one bucket');
      assert.equal(peek<{ n: number }>(path, 'SELECT sum(n) AS n FROM pending')[0]!.n, 8);
      assert.equal(peek<{ c: number }>(path, 'SELECT count(*) AS c FROM blocks')[0]!.c, 5, 'one block per commit of 4 (blockEvents 4)');
      const all = idsOf(await store.lookup(q(['EventName', 'name-a'])));
      assert.deepEqual(all, Array.from({ length: 20 }, (_, i) => `a-${19 - i}`), 'newest first across L0 and L1');
      const page = await store.lookup({ ...q(['*', 'management'], 5), before: { t: T0 + 14, seq: 0 } });
      assert.deepEqual(idsOf(page), ['a-13', 'a-12', 'a-11', 'a-10', 'a-9']);
      const dup = await store.append([ev('a-1'), ev('a-17'), ev('fresh')]);
      assert.deepEqual(dup.map((o) => o.duplicate), [true, true, false], 'a duplicate of an L1 and of an L0 event');
      await store.close();
      store = new SqliteEventStore({ path, bucketEvents: 10, blockEvents: 4 });
      const again = await store.append([ev('a-2'), ev('a-18'), ev('fresh'), ev('new')]);
      assert.deepEqual(again.map((o) => o.duplicate), [true, true, true, false], 'after reopen (the id table rebuilt from buckets and pending rows)');
      assert.deepEqual(idsOf(await store.lookup(q(['EventId', 'a-3']))), ['a-3']);
      assert.deepEqual(idsOf(await store.lookup(q(['EventId', 'a-19']))), ['a-19']);
    } finally {
      await store.close();
    }
  });

  test('the id table grows (rebuilt bigger) and still finds every duplicate', async () => {
    const store = new SqliteEventStore({ path: join(dir, `grow-${++n}.db`), bucketEvents: 20_000 });
    try {
      const before = (await store.writerStats()).tableCapacity;
      const total = Math.ceil(before * 0.75) + 1000;
      for (let i = 0; i < total; i += 5000) {
        await store.append(Array.from({ length: Math.min(5000, total - i) }, (_, j) => ({ ...ev(`g-${i + j}`), history: undefined, json: '{}' })), 'process');
      }
      const after = (await store.writerStats()).tableCapacity;
      assert.ok(after > before, `capacity ${before} -> ${after}`);
      const probe = Array.from({ length: 200 }, (_, i) => ev(`g-${Math.floor((i * total) / 200)}`));
      assert.ok((await store.append(probe)).every((o) => o.duplicate));
      assert.equal(await store.count(), total);
    } finally {
      await store.close();
    }
  });

  test('hash collisions (2-bit hashes) never lose an event nor answer another key', async () => {
    const path = join(dir, `collide-${++n}.db`);
    const open = () => new SqliteEventStore({ path, bucketEvents: 7, hashBits: 2 });
    let store = open();
    try {
      const names = ['Alpha', 'Beta', 'Gamma', 'Delta', 'Epsilon'];
      const batch = Array.from({ length: 30 }, (_, i) => ev(`c-${i}`, { eventTimeSec: T0 + i, history: [['*', 'management'], ['EventName', names[i % 5]!]] }));
      for (let i = 0; i < 30; i += 6) await store.append(batch.slice(i, i + 6));
      await store.close();
      store = open();
      for (const [i, name] of names.entries()) {
        assert.deepEqual(idsOf(await store.lookup(q(['EventName', name]))), batch.filter((_, j) => j % 5 === i).map((e) => e.eventId).reverse(), name);
      }
      assert.deepEqual(idsOf(await store.lookup(q(['EventId', 'c-4']))), ['c-4']);
      const out = await store.append([ev('c-3'), ev('c-new'), ev('c-29')]);
      assert.deepEqual(out.map((o) => o.duplicate), [true, false, true]);
      assert.equal(await store.count(), 31);
    } finally {
      await store.close();
    }
  });

  test('reads never see half of an append or of a merge: every answer is a whole number of appends', async () => {
    const store = new SqliteEventStore({ path: join(dir, `snap-${++n}.db`), bucketEvents: 25, blockEvents: 3 });
    try {
      let done = false;
      const writing = (async () => {
        for (let b = 0; b < 40; b++) await store.append(Array.from({ length: 10 }, (_, i) => ev(`s-${b * 10 + i}`, { eventTimeSec: T0 + b })));
        done = true;
      })();
      let reads = 0;
      let last = 0;
      while (!done) {
        const [rows, byName, count] = [await store.lookup(q(['*', 'management'])), await store.lookup(q(['EventName', 'name-s'])), await store.count()];
        assert.equal(rows.length % 10, 0, `a lookup saw ${rows.length} events`);
        assert.ok(rows.length >= last, 'a later lookup saw fewer events');
        assert.ok(byName.length >= rows.length && count >= byName.length);
        last = rows.length;
        reads++;
        await new Promise((r) => setImmediate(r));
      }
      await writing;
      assert.ok(reads > 5, `only ${reads} reads ran during the appends`);
      assert.equal((await store.lookup(q(['*', 'management']))).length, 400);
    } finally {
      await store.close();
    }
  });
});

describe('SqliteEventStore layout 2: threads, WAL, crash, layout check, import', () => {
  test('close() waits for an open append, which commits', async () => {
    const path = join(dir, `close-${++n}.db`);
    const store = new SqliteEventStore({ path });
    const appending = store.append(Array.from({ length: 5000 }, (_, i) => ev(`c-${i}`)));
    await new Promise((r) => setImmediate(r));
    await store.close();
    assert.equal((await appending).length, 5000);
    const again = new SqliteEventStore({ path });
    try {
      assert.equal(await again.count(), 5000);
    } finally {
      await again.close();
    }
  });

  test('a disk append is answered only after an fdatasync of the WAL that the syncer began after its COMMIT; the writer commits the next appends meanwhile', async () => {
    const path = join(dir, `sync-${++n}.db`);
    // Each fdatasync waits 40 ms first, so an answer that did not wait for its sync would come first.
    const store = new SqliteEventStore({ path, traceSync: true, syncStallMs: 40 });
    try {
      const done: string[] = [];
      const disk = [0, 1, 2, 3].map((b) => store.append(Array.from({ length: 50 }, (_, i) => ev(`s-${b}-${i}`))).then(() => done.push(`disk-${b}`)));
      const proc = store.append([ev('s-process')], 'process').then(() => done.push('process'));
      await Promise.all([...disk, proc]);
      const stats = store.syncStats();
      const trace = stats.trace!;
      // The writer's replies, the syncer's reports and the answers, in the order this thread saw them.
      const acks = trace.filter((t) => t.step === 'ack');
      assert.deepEqual(acks.map((t) => t.ticket), [1, 2, 3, 4], 'each disk append answered once, in commit order');
      let synced = 0;
      let committedAhead = 0;
      for (const t of trace) {
        if (t.step === 'synced') synced = Math.max(synced, t.upTo);
        else if (t.step === 'reply' && t.ticket > synced + 1) committedAhead++;
        else if (t.step === 'ack') assert.ok(t.ticket <= synced, `ticket ${t.ticket} answered when the syncer had synced up to ${synced}: ${JSON.stringify(trace)}`);
      }
      assert.ok(committedAhead > 0, `the writer committed while an earlier commit's sync was pending: ${JSON.stringify(trace)}`);
      assert.ok(stats.syncs >= 1 && stats.syncs <= 4, `${stats.syncs} syncs for 4 commits (one covers every commit before it)`);
      assert.equal(done.indexOf('process') < done.indexOf('disk-3'), true, `a process append does not wait for a sync: ${done.join(', ')}`);
      assert.equal(await store.count(), 201);
    } finally {
      await store.close();
    }
  });

  test('readAfterShared reads on the log-reader thread and, like readAfter, hands out only events an fdatasync covered', async () => {
    const path = join(dir, `readshared-${++n}.db`);
    const store = new SqliteEventStore({ path, traceSync: true, syncStallMs: 20 });
    const threads = () => readdirSync('/proc/self/task').map((t) => { try { return readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim(); } catch { return ''; } });
    try {
      await store.append([ev('s-1'), ev('s-2')], 'process');
      // The first reads run here while the thread starts; then they go to it.
      let rows = await store.readAfterShared(0, 10);
      for (let i = 0; i < 500 && store.logReadStats.onThread === 0; i++) {
        await new Promise((r) => setTimeout(r, 20));
        rows = await store.readAfterShared(0, 10);
      }
      assert.ok(store.logReadStats.onThread > 0, JSON.stringify(store.logReadStats));
      assert.deepEqual(Array.from({ length: rows.n }, (_, i) => (JSON.parse(Buffer.from(rows.bytes, rows.off[i], rows.len[i]).toString()) as { eventID: string }).eventID), ['s-1', 's-2']);
      assert.ok(threads().includes('events-logread'), `the read ran on its own thread: ${threads().join(', ')}`);
      const trace = store.syncStats().trace!;
      const asked = trace.find((t) => t.step === 'reply')!;
      assert.ok(asked && trace.some((t) => t.step === 'synced' && t.upTo >= asked.ticket), `the read waited for a sync covering its ticket: ${JSON.stringify(trace)}`);
      const syncs = store.syncStats().syncs;
      assert.equal((await store.readAfterShared(0, 10)).n, 2);
      assert.equal(store.syncStats().syncs, syncs, 'seen durable once: no sync asked again');
    } finally {
      await store.close();
    }
  });

  test('readAfter hands a consumer only events an fdatasync covered: a process append is read after a sync begun after the read', async () => {
    const path = join(dir, `readsync-${++n}.db`);
    const store = new SqliteEventStore({ path, traceSync: true, syncStallMs: 20 });
    try {
      await store.append([ev('r-1'), ev('r-2')], 'process');
      assert.equal(store.syncStats().syncs, 0, 'a process append asks for no sync');
      const rows = await store.readAfter(0, 10);
      assert.deepEqual(idsOf(rows), ['r-1', 'r-2']);
      const trace = store.syncStats().trace!;
      const asked = trace.find((t) => t.step === 'reply')!;
      assert.ok(asked && trace.some((t) => t.step === 'synced' && t.upTo >= asked.ticket), `the read waited for a sync covering its ticket: ${JSON.stringify(trace)}`);
      // Seen durable once: reading them again asks for nothing.
      const syncs = store.syncStats().syncs;
      await store.readAfter(0, 10);
      assert.equal(store.syncStats().syncs, syncs);
      // A later disk append's ticket is above the reader's, and still waits for its own sync.
      await store.append([ev('r-3')]);
      const acks = store.syncStats().trace!.filter((t) => t.step === 'ack').map((t) => t.ticket);
      assert.equal(acks.length, 2);
      assert.ok(acks[1]! > acks[0]!, `tickets from one counter: ${acks.join(', ')}`);
    } finally {
      await store.close();
    }
  });

  test('the checkpointer keeps the WAL bounded under sustained ingest (writer never checkpoints)', async () => {
    const path = join(dir, `wal-${++n}.db`);
    const store = new SqliteEventStore({ path, checkpointBytes: 256 * 1024, checkpointIntervalMs: 5 });
    try {
      let maxWal = 0;
      for (let b = 0; b < 40; b++) {
        // Counted before the append: the checkpoint this batch makes due may run before the append's
        // promise resolves here, and the checkpointer runs none while nothing new is written.
        const before = (await store.checkpointerStats()).checkpoints;
        // Incompressible records, so the file grows by what is written.
        await store.append(Array.from({ length: 500 }, (_, i) => ({ ...ev(`w-${b}-${i}`), json: JSON.stringify({ eventID: `w-${b}-${i}`, pad: randomBytes(600).toString('base64') }) })), 'process');
        maxWal = Math.max(maxWal, statSync(`${path}-wal`).size);
        // Give the checkpointer its turn before the next batch (a CPU-starved thread under a loaded
        // test run is not what this test is about): it must have checkpointed since this append.
        const deadline = Date.now() + 10_000;
        while ((await store.checkpointerStats()).checkpoints === before) {
          assert.ok(Date.now() < deadline, `the checkpointer ran no checkpoint in 10 s after batch ${b}`);
          await new Promise((r) => setTimeout(r, 5));
        }
      }
      const written = statSync(path).size;
      assert.ok(written > 4 * 1024 * 1024, `the database holds ${written} bytes: the checkpointer copied the WAL into it`);
      assert.ok(maxWal < written / 2, `WAL reached ${maxWal} bytes for a ${written}-byte database`);
    } finally {
      await store.close();
    }
  });

  test('the checkpointer checkpoints what was written since the last checkpoint, not again while the WAL file stays large', async () => {
    const path = join(dir, `wal-${++n}.db`);
    const store = new SqliteEventStore({ path, checkpointBytes: 128 * 1024, checkpointIntervalMs: 5 });
    try {
      await store.append(Array.from({ length: 500 }, (_, i) => ({ ...ev(`c-${i}`), json: JSON.stringify({ eventID: `c-${i}`, pad: randomBytes(600).toString('base64') }) })), 'process');
      const deadline = Date.now() + 10_000;
      while ((await store.checkpointerStats()).checkpoints === 0) {
        assert.ok(Date.now() < deadline, 'the checkpointer ran no checkpoint in 10 s');
        await new Promise((r) => setTimeout(r, 5));
      }
      // Nothing written since: the WAL file keeps its size (journal_size_limit), but a checkpoint
      // has nothing to copy and must not run (each is two fsyncs on the disk the commits sync to).
      const { checkpoints, walBytes } = await store.checkpointerStats();
      assert.ok(walBytes >= 128 * 1024, `the WAL file kept its size (${walBytes} bytes)`);
      await new Promise((r) => setTimeout(r, 150));
      const later = (await store.checkpointerStats()).checkpoints;
      assert.ok(later - checkpoints <= 1, `${later - checkpoints} checkpoints in 150 ms with nothing written`);
      // Written again past the threshold: checkpointed again.
      await store.append(Array.from({ length: 500 }, (_, i) => ({ ...ev(`d-${i}`), json: JSON.stringify({ eventID: `d-${i}`, pad: randomBytes(600).toString('base64') }) })), 'process');
      while ((await store.checkpointerStats()).checkpoints === later) {
        assert.ok(Date.now() < deadline + 10_000, 'no checkpoint after the second write');
        await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      await store.close();
    }
  });

  test('the process keeps SQLite\'s POSIX locks on the wal-index when the checkpointer thread ends (its descriptor of -shm is the store\'s, closed after the last connection)', async () => {
    const path = join(dir, `shm-${++n}.db`);
    const store = new SqliteEventStore({ path });
    try {
      await store.append([ev('shm-1')], 'disk');
      const ino = statSync(`${path}-shm`).ino;
      // /proc/locks: "1: POSIX  ADVISORY  READ 4242 fd:01:123456 128 128", a line per lock held.
      const held = () => readFileSync('/proc/locks', 'utf8').split('\n').filter((l) => l.includes(` ${process.pid} `) && l.includes(`:${ino} `)).length;
      const before = held();
      assert.ok(before > 0, 'SQLite holds a lock on the -shm file');
      // A checkpointer that ends (a crash, or close() ending it before the other connections):
      // closing a descriptor of the file would drop every lock of the process on it.
      await (store as unknown as { checkpointer: { terminate(): Promise<number> } }).checkpointer.terminate();
      assert.equal(held(), before, 'the locks are still held');
      assert.deepEqual(idsOf(await store.lookup(q(['EventId', 'shm-1']))), ['shm-1']);
    } finally {
      await store.close();
    }
  });

  test('a writer thread that dies rejects the pending and every later write with StoreUnavailableError, never hangs', async () => {
    const store = new SqliteEventStore({ path: join(dir, `crash-${++n}.db`) });
    try {
      await store.append([ev('before')]);
      store.crashWriterForTest();
      const pending = store.append([ev('during')]).then(() => undefined, (e: unknown) => e);
      const err = await pending;
      assert.ok(err instanceof StoreUnavailableError, `rejected with ${String(err)}`);
      assert.match(err.message, /writer thread stopped/);
      await assert.rejects(store.append([ev('after')]), StoreUnavailableError);
      await assert.rejects(store.probe(), StoreUnavailableError);
      assert.equal(await store.count(), 1, 'reads still answer from the committed file');
    } finally {
      await store.close();
    }
  });

  test('a layout-1 file is refused untouched, naming the file and the migrate command', async () => {
    const sub = join(dir, `layout1-${++n}`);
    const path = join(sub, 'events.db');
    mkdirSync(sub);
    const old = new DatabaseSync(path);
    old.exec('CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT, region TEXT, event_id TEXT, event_time INTEGER, in_history INTEGER, record TEXT); INSERT INTO events(account, region, event_id, event_time, in_history, record) VALUES (\'1\', \'r\', \'e\', 1, 1, \'{}\')');
    old.close();
    const bytes = readFileSync(path);
    assert.throws(() => new SqliteEventStore({ path }), (err: Error) => {
      assert.ok(err.message.includes(path), err.message);
      assert.ok(err.message.includes(`opentrail migrate --data-dir ${sub}`), err.message);
      return true;
    });
    assert.deepEqual(readFileSync(path), bytes, 'the layout-1 file was changed');
  });

  test('importEvents keeps the given seqs (gaps allowed) and commit times; they are found, deduplicated and pruned like appended ones', async () => {
    const path = join(dir, `import-${++n}.db`);
    const store = new SqliteEventStore({ path, bucketEvents: 4 });
    try {
      const old = Date.now() - 3_600_000;
      await store.importEvents([
        { ...ev('i-1', { eventTimeSec: T0 + 1 }), seq: 10, committedMs: old },
        { ...ev('i-2', { eventTimeSec: T0 + 2, summary: '{"EventName":"x"}' }), seq: 11, committedMs: old },
        { ...ev('i-3', { eventTimeSec: T0 + 3, history: undefined }), seq: 40, committedMs: old + 1 },
      ]);
      await store.importEvents([{ ...ev('i-4', { eventTimeSec: T0 + 4 }), seq: 41, committedMs: Date.now() }]);
      await assert.rejects(store.importEvents([{ ...ev('i-5'), seq: 41, committedMs: 0 }]), /seq 41 is not above 41/);
      assert.equal(await store.lastSeq(), 41);
      assert.deepEqual((await store.readAfter(0, 10)).map((r) => r.seq), [10, 11, 40, 41]);
      const rows = await store.lookup(q(['EventName', 'name-i']));
      assert.deepEqual(rows.map((r) => [r.seq, r.summary]), [[41, undefined], [11, '{"EventName":"x"}'], [10, undefined]]);
      const [next] = await store.append([ev('i-2'), ev('i-6')]);
      assert.equal(next!.duplicate, true);
      assert.equal((await store.readAfter(41, 10))[0]!.seq, 42);
      const pruned = await store.prune(0, old + 10);
      assert.equal(pruned.events, 3);
      assert.deepEqual((await store.readAfter(0, 10)).map((r) => r.seq), [41, 42]);
    } finally {
      await store.close();
    }
  });

  test('a long prune runs in steps between which appends commit', async () => {
    const store = new SqliteEventStore({ path: join(dir, `prune-${++n}.db`), bucketEvents: 500, blockEvents: 8 });
    try {
      for (let i = 0; i < 3000; i += 1000) await store.append(Array.from({ length: 1000 }, (_, j) => ev(`old-${i + j}`)));
      await new Promise((r) => setTimeout(r, 5));
      const cutoff = Date.now();
      await new Promise((r) => setTimeout(r, 5));
      let prunedDone = false;
      const pruning = store.prune(T0 + 1, cutoff).then((r) => {
        prunedDone = true;
        return r;
      });
      await new Promise((r) => setImmediate(r));
      // 'process': answered at its commit, so what is timed is the commit between the prune's steps,
      // not also the fdatasync after it (which the syncer may take longer over than the prune's rest).
      const [mid] = await store.append([{ ...ev('mid'), eventTimeSec: T0 + 100 }], 'process');
      assert.equal(prunedDone, false, 'the append waited for the whole prune');
      const res = await pruning;
      assert.equal(res.historyRows, 6000, 'the old events\' history rows, not the new one\'s');
      assert.equal(res.events, 3000);
      assert.deepEqual((await store.readAfter(0, 10)).map((r) => r.seq), [mid!.seq]);
      assert.deepEqual(idsOf(await store.lookup(q(['*', 'management']))), ['mid']);
    } finally {
      await store.close();
    }
  });
});

/** Real SQLite failures: the writer's connection capped at its size (max_page_count) fails with SQLITE_FULL as on a full disk. */
describe('SqliteEventStore layout 2: failures that pass by themselves', () => {
  const big = (eventId: string): AppendInput => ({ ...ev(eventId), json: JSON.stringify({ eventID: eventId, pad: randomBytes(40_000).toString('base64') }) });

  test('SQLITE_FULL rejects with StoreUnavailableError across the thread (the SQLite error as cause), rolls back the batch and its follow, and the next append succeeds', async () => {
    const store = new SqliteEventStore({ path: join(dir, `full-${++n}.db`) });
    try {
      await store.append([ev('seed')]);
      const pages = (store.db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count;
      store.db.exec(`PRAGMA max_page_count = ${pages}`);
      const err = await store.append([ev('a'), big('b')], 'disk', () => [ev('audit')]).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof StoreUnavailableError, `rejected with ${String(err)}`);
      assert.match(err.message, /^events\.db: append failed: SQLITE_FULL/);
      assert.equal(((err.cause as { errcode: number }).errcode & 0xff), 13);
      assert.equal(store.db.isTransaction, false);
      assert.equal(await store.count(), 1);
      store.db.exec('PRAGMA max_page_count = 1073741823');
      const out = await store.append([ev('a'), big('c')], 'disk', (o) => [ev(`audit-${o.length}`)]);
      assert.deepEqual(out.map((o) => o.duplicate), [false, false, false], 'ids of the failed append are not duplicates');
      assert.deepEqual(idsOf(await store.lookup(q(['EventId', 'a']))), ['a']);
      assert.equal(await store.count(), 4);
    } finally {
      await store.close();
    }
  });

  test('a mistake in a statement crosses the thread as itself, not as unavailable', () => {
    const store = new SqliteEventStore({ path: join(dir, `mistake-${++n}.db`) });
    try {
      assert.throws(() => store.db.exec('SELECT * FROM no_such_table'), (e: Error) => !(e instanceof StoreUnavailableError) && /no such table/.test(e.message));
    } finally {
      void store.close();
    }
  });
});
