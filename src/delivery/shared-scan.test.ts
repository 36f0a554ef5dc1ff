/**
 * The delivery worker's shared scan over real stores (SQLite event log and control store,
 * filesystem bucket): several trails with different scopes, at different places in the log, each
 * get exactly their events once, every range of the log is read once for all of them while they
 * are close, a trail far behind catches up on its own, a crash in the middle of a pass loses and
 * repeats nothing, and a batch's age counts from before its first event's commit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DELIVERED_FILE_KIND, DELIVERY_STATE_KIND, normalizeRecord, randomIds, trailKey, TRAIL_KIND, type CloudTrailRecord, type DeliveryState, type TrailDoc } from '../core/index.ts';
import { toAppendInput } from '../ingest/index.ts';
import { SqliteControlStore, SqliteEventStore } from '../stores/sqlite/index.ts';
import { FsObjectStore } from '../stores/fs/index.ts';
import { ObjectStoreError, type EventStore, type ObjectStore, type PutOptions } from '../stores/index.ts';
import { DeliveryWorker, type DeliveryOptions } from './worker.ts';
import { LogFilePool } from './log-file-pool.ts';

const A = '111111111111';
const B = '222222222222';
const REGIONS = ['us-east-1', 'eu-west-1'];

interface Setup {
  dir: string;
  events: SqliteEventStore;
  control: SqliteControlStore;
  fs: FsObjectStore;
  /** Rows returned by readAfter and readAfterShared, all calls together. */
  rowsRead: () => number;
  counted: EventStore;
}

function setup(buckets: string[]): Setup {
  const dir = mkdtempSync(join(tmpdir(), 'ot-shared-scan-'));
  for (const b of buckets) mkdirSync(join(dir, 'buckets', b), { recursive: true });
  const events = new SqliteEventStore({ path: join(dir, 'events.db') });
  const control = new SqliteControlStore(join(dir, 'control.db'));
  const fs = new FsObjectStore(join(dir, 'buckets'));
  let rows = 0;
  const counted: EventStore = Object.create(events) as EventStore;
  counted.readAfter = async (after, limit, account, maxBytes) => {
    const got = await events.readAfter(after, limit, account, maxBytes);
    rows += got.length;
    return got;
  };
  counted.readAfterShared = async (after, limit) => {
    const got = await events.readAfterShared(after, limit);
    rows += got.n;
    return got;
  };
  return { dir, events, control, fs, counted, rowsRead: () => rows };
}

/** n events alternating over (account, region) pairs; returns their records. */
async function addEvents(events: SqliteEventStore, n: number, where: [account: string, region: string][]): Promise<CloudTrailRecord[]> {
  const out: CloudTrailRecord[] = [];
  const inputs = Array.from({ length: n }, (_, i) => {
    const [account, region] = where[i % where.length]!;
    const r = normalizeRecord(
      { eventSource: 'ec2.amazonaws.com', eventName: i % 3 ? 'RunInstances' : 'DescribeInstances', awsRegion: region, recipientAccountId: account, requestParameters: { pad: 'x'.repeat(200) } },
      { defaultAccountId: account, defaultRegion: region, nowMs: Date.now(), ids: randomIds },
    );
    assert.ok(r.ok);
    out.push(r.value.record);
    return toAppendInput(r.value);
  });
  await events.append(inputs);
  return out;
}

async function addTrail(control: SqliteControlStore, t: Partial<TrailDoc> & { Name: string; accountId: string; HomeRegion: string; deliverAfterSeq: number }): Promise<TrailDoc> {
  const doc: TrailDoc = {
    TrailARN: `arn:aws:cloudtrail:${t.HomeRegion}:${t.accountId}:trail/${t.Name}`, S3BucketName: `bucket-${t.Name}`,
    IncludeGlobalServiceEvents: true, IsMultiRegionTrail: false, LogFileValidationEnabled: false, IsOrganizationTrail: false, tags: [],
    isLogging: true, createdMs: Date.now(), startLoggingTimeMs: Date.now(), ...t,
  };
  await control.put(TRAIL_KIND, trailKey(doc.accountId, doc.HomeRegion, doc.Name), doc);
  return doc;
}

/** Every log file of a bucket: key to gunzipped eventIDs. */
function bucketFiles(root: string): Map<string, { body: Buffer; ids: string[] }> {
  const out = new Map<string, { body: Buffer; ids: string[] }>();
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.endsWith('.json.gz')) {
        const body = readFileSync(p);
        out.set(relative(root, p), { body, ids: (JSON.parse(gunzipSync(body).toString()) as { Records: { eventID: string }[] }).Records.map((r) => r.eventID) });
      }
    }
  };
  walk(root);
  return out;
}

const delivered = (dir: string, bucket: string) => [...bucketFiles(join(dir, 'buckets', bucket)).values()].flatMap((f) => f.ids);

const opts = (o: Partial<DeliveryOptions> = {}): DeliveryOptions => ({ maxAgeMs: 0, maxBytes: 1 << 24, pollMs: 60_000, readBatch: 7, regions: REGIONS, ...o });

function worker(s: Pick<Setup, 'control'> & { events: EventStore; objects: ObjectStore; logFiles?: LogFilePool }, o?: Partial<DeliveryOptions>, nowMs: () => number = () => Date.now()) {
  return new DeliveryWorker({ events: s.events, control: s.control, objects: s.objects, logFiles: s.logFiles, clock: { nowMs }, logError: (m, e) => { if (process.env.DEBUG_DELIVERY) console.error(m, e); } }, opts(o));
}

async function cursorsAtEnd(control: SqliteControlStore, events: SqliteEventStore, trails: TrailDoc[]): Promise<boolean> {
  const last = await events.lastSeq();
  for (const t of trails) {
    const s = await control.get<DeliveryState>(DELIVERY_STATE_KIND, t.TrailARN);
    if (!s || s.intent || s.cursor < last) return false;
  }
  return true;
}

const ids = (rs: CloudTrailRecord[], pred: (r: CloudTrailRecord) => boolean) => rs.filter(pred).map((r) => r.eventID).sort();

test('three trails of different scopes, one of them behind: each gets exactly its events once, from one read of the log', async () => {
  const s = setup(['bucket-home', 'bucket-multi', 'bucket-late']);
  const where: [string, string][] = [[A, 'us-east-1'], [A, 'eu-west-1'], [B, 'us-east-1']];
  const early = await addEvents(s.events, 20, where);
  // "late" was logging from the start and is behind (say its bucket failed for a while); the two
  // others started after the first 20 events.
  const late = await addTrail(s.control, { Name: 'late', accountId: A, HomeRegion: 'eu-west-1', deliverAfterSeq: 0 });
  const after = await s.events.lastSeq();
  const home = await addTrail(s.control, { Name: 'home', accountId: A, HomeRegion: 'us-east-1', deliverAfterSeq: after });
  const multi = await addTrail(s.control, { Name: 'multi', accountId: A, HomeRegion: 'us-east-1', IsMultiRegionTrail: true, deliverAfterSeq: after });
  const rest = await addEvents(s.events, 40, where);
  const total = early.length + rest.length;

  const w = worker({ control: s.control, events: s.counted, objects: s.fs });
  await w.tick(true);
  assert.ok(await cursorsAtEnd(s.control, s.events, [home, multi, late]), 'every cursor at the end of the log');

  assert.deepEqual(delivered(s.dir, 'bucket-home').sort(), ids(rest, (r) => r.recipientAccountId === A && r.awsRegion === 'us-east-1'));
  assert.deepEqual(delivered(s.dir, 'bucket-multi').sort(), ids(rest, (r) => r.recipientAccountId === A));
  assert.deepEqual(delivered(s.dir, 'bucket-late').sort(), ids([...early, ...rest], (r) => r.recipientAccountId === A && r.awsRegion === 'eu-west-1'));
  // The trail behind (20 events, within reach) pulled the others along: the log was read once.
  assert.equal(s.rowsRead(), total, `rows read for ${total} events and 3 trails`);

  // Nothing new: another pass writes nothing and reads nothing.
  const before = s.rowsRead();
  await w.tick(true);
  assert.equal(s.rowsRead(), before);
  assert.equal(bucketFiles(join(s.dir, 'buckets', 'bucket-multi')).size, 2);
  await s.events.close();
  await s.control.close();
});

test('a trail far behind catches up on its own reads while the others go on; batches closed on size keep draining in the same pass', async () => {
  const s = setup(['bucket-home', 'bucket-behind']);
  const where: [string, string][] = [[A, 'us-east-1']];
  const old = await addEvents(s.events, 150, where); // 150 rows: more than 8 reads of 7 behind
  const behind = await addTrail(s.control, { Name: 'behind', accountId: A, HomeRegion: 'us-east-1', deliverAfterSeq: 0 });
  const home = await addTrail(s.control, { Name: 'home', accountId: A, HomeRegion: 'us-east-1', deliverAfterSeq: await s.events.lastSeq() });
  const fresh = await addEvents(s.events, 30, where);
  // Files of about 10 records: each trail closes several batches on size within one pass.
  const order: string[] = [];
  const recording: ObjectStore = {
    kind: 'filesystem', bucketExists: (b) => s.fs.bucketExists(b), bucketPolicy: () => s.fs.bucketPolicy(),
    putObject: async (b: string, k: string, body: Buffer, o?: PutOptions) => {
      await s.fs.putObject(b, k, body, o);
      order.push(b);
    },
  };
  const w = worker({ control: s.control, events: s.counted, objects: recording }, { maxBytes: 10 * (old[0]!.eventID.length + 400) });
  await w.tick(false);
  assert.ok(await cursorsAtEnd(s.control, s.events, [home, behind]), 'both drained in one pass');
  assert.deepEqual(delivered(s.dir, 'bucket-home').sort(), ids(fresh, () => true));
  assert.deepEqual(delivered(s.dir, 'bucket-behind').sort(), ids([...old, ...fresh], () => true));
  assert.ok(bucketFiles(join(s.dir, 'buckets', 'bucket-behind')).size >= 10, 'closed on size, more than once');
  // The trail at the head did not wait for the one behind to reach it: its files were written
  // while the one behind was still on the old events, its events read on their own (twice at most).
  const homeLast = order.lastIndexOf('bucket-home');
  assert.ok(order.slice(homeLast).filter((b) => b === 'bucket-behind').length >= 5, `write order ${order.join(' ')}`);
  assert.ok(s.rowsRead() <= old.length + 2 * fresh.length, `rows read ${s.rowsRead()}`);
  await s.events.close();
  await s.control.close();
});

test('a crash in the middle of a shared pass: the restart rewrites the same keys and bytes, nothing lost or repeated; files built by the pool\'s threads and rebuilt in process alike', async (t) => {
  const s = setup(['bucket-one', 'bucket-two', 'bucket-three']);
  const where: [string, string][] = [[A, 'us-east-1'], [A, 'eu-west-1']];
  const start = await s.events.lastSeq();
  const one = await addTrail(s.control, { Name: 'one', accountId: A, HomeRegion: 'us-east-1', deliverAfterSeq: start });
  const two = await addTrail(s.control, { Name: 'two', accountId: A, HomeRegion: 'us-east-1', IsMultiRegionTrail: true, deliverAfterSeq: start });
  const three = await addTrail(s.control, { Name: 'three', accountId: A, HomeRegion: 'eu-west-1', deliverAfterSeq: start });
  const recs = await addEvents(s.events, 60, where);
  const maxBytes = 8 * 600;
  // The process "dies" at trail two's third file: its write rejects with a non-store error, which
  // leaves its intent pending as a crash would; the other trails go on in the same pass.
  let twoFiles = 0;
  const crashing: ObjectStore = {
    kind: 'filesystem', bucketExists: (b) => s.fs.bucketExists(b), bucketPolicy: () => s.fs.bucketPolicy(),
    putObject: async (b: string, k: string, body: Buffer, o?: PutOptions) => {
      await s.fs.putObject(b, k, body, o);
      if (b === 'bucket-two' && ++twoFiles === 3) throw new Error('process died here');
    },
  };
  // Before the crash every file is built by the pool's threads (from the records' shared bytes);
  // after it, in process (from the intent, reading the log again): the same bytes.
  const threads = new LogFilePool({ size: 2, inProcessBelow: 0 });
  t.after(() => threads.close());
  await worker({ control: s.control, events: s.events, objects: crashing, logFiles: threads }, { maxBytes }).tick(false);
  assert.ok(threads.stats.pooled >= 3 && threads.stats.inProcess === 0, JSON.stringify(threads.stats));
  const pending = await s.control.get<DeliveryState>(DELIVERY_STATE_KIND, two.TrailARN);
  assert.ok(pending?.intent, 'trail two has a pending intent');
  const afterCrash = bucketFiles(join(s.dir, 'buckets', 'bucket-two'));

  const here = new LogFilePool({ inProcessBelow: Number.POSITIVE_INFINITY });
  await worker({ control: s.control, events: s.events, objects: s.fs, logFiles: here }, { maxBytes }).tick(false);
  assert.ok(here.stats.inProcess >= 1 && here.stats.pooled === 0, JSON.stringify(here.stats));
  assert.ok(await cursorsAtEnd(s.control, s.events, [one, two, three]));
  const afterRestart = bucketFiles(join(s.dir, 'buckets', 'bucket-two'));
  for (const [k, v] of afterCrash) assert.ok(afterRestart.get(k)?.body.equals(v.body), `${k} rewritten with the same bytes`);
  assert.deepEqual(delivered(s.dir, 'bucket-one').sort(), ids(recs, (r) => r.awsRegion === 'us-east-1'));
  assert.deepEqual(delivered(s.dir, 'bucket-two').sort(), ids(recs, () => true));
  assert.deepEqual(delivered(s.dir, 'bucket-three').sort(), ids(recs, (r) => r.awsRegion === 'eu-west-1'));
  await s.events.close();
  await s.control.close();
});

test("a batch's age counts from before its first event's commit, not from the pass that found it", async () => {
  const s = setup(['bucket-one']);
  let now = 1_000_000;
  await addTrail(s.control, { Name: 'one', accountId: A, HomeRegion: 'us-east-1', deliverAfterSeq: await s.events.lastSeq() });
  const w = worker({ control: s.control, events: s.events, objects: s.fs }, { maxAgeMs: 1000 }, () => now);
  await w.tick(false); // finds the end of the (empty) log at t0
  const recs = await addEvents(s.events, 5, [[A, 'us-east-1']]);
  now += 900;
  await w.tick(false); // finds the events: committed after t0, 900 ms old at most
  assert.equal(delivered(s.dir, 'bucket-one').length, 0, 'not due yet');
  now += 100;
  await w.tick(false); // 1000 ms after t0: due (counted from when first seen, it would wait until t0 + 1900)
  assert.deepEqual(delivered(s.dir, 'bucket-one').sort(), ids(recs, () => true));
  await s.events.close();
  await s.control.close();
});

test('a started worker wakes when a batch is due, not only every pollMs', async () => {
  const s = setup(['bucket-one']);
  await addTrail(s.control, { Name: 'one', accountId: A, HomeRegion: 'us-east-1', deliverAfterSeq: await s.events.lastSeq() });
  // The worker's clock stands still until the tick below has finished, and runs from there: the
  // batch cannot come due during the tick however slow the machine (a tick slower than maxAgeMs
  // on a loaded CI machine delivered it then, and the test saw 3 files where it expected none).
  const clock = { frozen: true, at: Date.now(), resumedAt: 0 };
  const nowMs = () => (clock.frozen ? clock.at : clock.at + (Date.now() - clock.resumedAt));
  const w = worker({ control: s.control, events: s.events, objects: s.fs }, { maxAgeMs: 1500, pollMs: 600_000 }, nowMs);
  w.start();
  try {
    const recs = await addEvents(s.events, 3, [[A, 'us-east-1']]);
    await w.tick(false); // sees them; the next poll would be 10 minutes away
    Object.assign(clock, { frozen: false, resumedAt: Date.now() });
    assert.equal(delivered(s.dir, 'bucket-one').length, 0);
    const until = Date.now() + 10_000;
    while (delivered(s.dir, 'bucket-one').length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(delivered(s.dir, 'bucket-one').sort(), ids(recs, () => true));
  } finally {
    await w.stop();
    await s.events.close();
    await s.control.close();
  }
});

test('in one scan: a trail whose bucket refuses keeps its events while the others deliver, and a stopped trail delivers up to its stop only', async () => {
  const s = setup(['bucket-ok', 'bucket-refusing', 'bucket-stopped']);
  const where: [string, string][] = [[A, 'us-east-1']];
  const start = await s.events.lastSeq();
  const ok = await addTrail(s.control, { Name: 'ok', accountId: A, HomeRegion: 'us-east-1', deliverAfterSeq: start });
  const refusing = await addTrail(s.control, { Name: 'refusing', accountId: A, HomeRegion: 'us-east-1', deliverAfterSeq: start });
  const before = await addEvents(s.events, 25, where);
  const stopAt = await s.events.lastSeq();
  const stopped = await addTrail(s.control, { Name: 'stopped', accountId: A, HomeRegion: 'us-east-1', deliverAfterSeq: start, isLogging: false, deliverThroughSeq: stopAt });
  const afterStop = await addEvents(s.events, 25, where);
  let refuse = true;
  const objects: ObjectStore = {
    kind: 'filesystem', bucketExists: (b) => s.fs.bucketExists(b), bucketPolicy: () => s.fs.bucketPolicy(),
    putObject: async (b: string, k: string, body: Buffer, o?: PutOptions) => {
      if (refuse && b === 'bucket-refusing') throw new ObjectStoreError('AccessDenied', 'Access Denied');
      await s.fs.putObject(b, k, body, o);
    },
  };
  const w = worker({ control: s.control, events: s.events, objects }, { maxBytes: 6 * 700 });
  await w.tick(false);
  assert.deepEqual(delivered(s.dir, 'bucket-ok').sort(), ids([...before, ...afterStop], () => true));
  assert.deepEqual(delivered(s.dir, 'bucket-stopped').sort(), ids(before, () => true));
  assert.equal(delivered(s.dir, 'bucket-refusing').length, 0);
  const failed = await s.control.get<DeliveryState>(DELIVERY_STATE_KIND, refusing.TrailARN);
  assert.equal(failed?.latestDeliveryError, 'AccessDenied');
  assert.ok(failed?.intent);
  refuse = false;
  await w.tick(true);
  assert.deepEqual(delivered(s.dir, 'bucket-refusing').sort(), ids([...before, ...afterStop], () => true));
  assert.deepEqual(delivered(s.dir, 'bucket-ok').sort(), ids([...before, ...afterStop], () => true), 'nothing repeated');
  assert.ok(await cursorsAtEnd(s.control, s.events, [ok, refusing]));
  assert.equal((await s.control.get<DeliveryState>(DELIVERY_STATE_KIND, stopped.TrailARN))?.cursor, stopAt);
  await s.events.close();
  await s.control.close();
});

test('a started worker: a poll that comes during a long pass runs one more pass right after it', async () => {
  const s = setup(['bucket-one']);
  await addTrail(s.control, { Name: 'one', accountId: A, HomeRegion: 'us-east-1', deliverAfterSeq: await s.events.lastSeq() });
  let release: (() => void) | undefined;
  let slow = true;
  const objects: ObjectStore = {
    kind: 'filesystem', bucketExists: (b) => s.fs.bucketExists(b), bucketPolicy: () => s.fs.bucketPolicy(),
    putObject: async (b: string, k: string, body: Buffer, o?: PutOptions) => {
      if (slow) await new Promise<void>((r) => (release = r));
      await s.fs.putObject(b, k, body, o);
    },
  };
  // maxAgeMs 0: every batch is due when found; polls 10 minutes apart, so only the rule under test
  // can start the second pass (the due wake-up has no open batch to wait for).
  const w = worker({ control: s.control, events: s.events, objects }, { maxAgeMs: 0, pollMs: 600_000 });
  const first = await addEvents(s.events, 3, [[A, 'us-east-1']]);
  w.start();
  try {
    const until = Date.now() + 10_000;
    while (!release && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    assert.ok(release, 'the first pass is writing');
    // Events come while it writes, and a tick (a poll) arrives meanwhile.
    const second = await addEvents(s.events, 2, [[A, 'us-east-1']]);
    void w.tick(false);
    slow = false;
    release();
    while (delivered(s.dir, 'bucket-one').length < 5 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(delivered(s.dir, 'bucket-one').sort(), ids([...first, ...second], () => true));
  } finally {
    await w.stop();
    await s.events.close();
    await s.control.close();
  }
});

test('management events of Event history go unparsed to a trail that takes every management event (same files, same digest times); a narrower trail parses them; data events are judged as before', async () => {
  const s = setup(['bucket-all', 'bucket-writes']);
  const start = await s.events.lastSeq();
  const all = await addTrail(s.control, { Name: 'all', accountId: A, HomeRegion: 'us-east-1', LogFileValidationEnabled: true, deliverAfterSeq: start });
  const base = Date.parse('2026-12-05T10:00:00Z');
  const recs: CloudTrailRecord[] = [];
  const inputs = Array.from({ length: 30 }, (_, i) => {
    const data = i % 10 === 9;
    const r = normalizeRecord(
      {
        eventSource: data ? 's3.amazonaws.com' : 'ec2.amazonaws.com', eventName: data ? 'GetObject' : i % 2 ? 'RunInstances' : 'DescribeInstances',
        eventTime: new Date(base + ((i * 7919) % 30) * 1000 + (i % 3) * 250).toISOString(), ...(data ? { managementEvent: false, eventCategory: 'Data' } : {}),
        awsRegion: 'us-east-1', recipientAccountId: A, requestParameters: { note: 'é✓' },
      },
      { defaultAccountId: A, defaultRegion: 'us-east-1', nowMs: Date.now(), ids: randomIds },
    );
    assert.ok(r.ok);
    recs.push(r.value.record);
    return toAppendInput(r.value);
  });
  await s.events.append(inputs);
  const management = recs.filter((r) => r.eventCategory === 'Management');
  // Record texts JSON.parse is given while the worker runs.
  const parse = JSON.parse;
  let parsed = 0;
  JSON.parse = ((text: string, reviver?: never) => {
    if (typeof text === 'string' && text.startsWith('{"eventVersion"')) parsed++;
    return parse(text, reviver);
  }) as typeof JSON.parse;
  try {
    await worker({ control: s.control, events: s.events, objects: s.fs }).tick(true);
    assert.equal(parsed, recs.length - management.length, 'only the data events were parsed');
    assert.deepEqual(delivered(s.dir, 'bucket-all').sort(), ids(recs, (r) => r.eventCategory === 'Management'));
    const docs = (await s.control.list<{ oldestEventTime: string; newestEventTime: string }>(DELIVERED_FILE_KIND, '')).map((d) => d.doc);
    const times = management.map((r) => r.eventTime).sort();
    assert.deepEqual(docs.map((d) => [d.oldestEventTime, d.newestEventTime]), [[times[0], times.at(-1)]]);

    // A trail that takes write events only needs each record: parsed (once for both trails).
    const writes = await addTrail(s.control, { Name: 'writes', accountId: A, HomeRegion: 'us-east-1', eventSelectors: [{ ReadWriteType: 'WriteOnly' }], deliverAfterSeq: start });
    parsed = 0;
    await worker({ control: s.control, events: s.events, objects: s.fs }).tick(true);
    assert.equal(parsed, recs.length);
    assert.deepEqual(delivered(s.dir, 'bucket-writes').sort(), ids(recs, (r) => r.eventCategory === 'Management' && r.readOnly === false));
    assert.ok(await cursorsAtEnd(s.control, s.events, [all, writes]));
  } finally {
    JSON.parse = parse;
    await s.events.close();
    await s.control.close();
  }
});

test('trails that run ahead while the slowest one waits for its batch to be written wait for it, not read the log again for it (up to shareWaitMs in a pass)', async () => {
  // Three trails of one scope, 15 files of 10 records each; the first write to one bucket is slow
  // (until the first trail wrote 8 files, or `slowMs`), so that trail's next batch fills while it
  // is written and it waits, while the others could run more than 8 reads (56 rows) ahead.
  const run = async (shareWaitMs: number, slowMs: number) => {
    const s = setup(['bucket-a', 'bucket-b', 'bucket-slow']);
    const where: [string, string][] = [[A, 'us-east-1']];
    const trails = [];
    for (const name of ['a', 'b', 'slow']) trails.push(await addTrail(s.control, { Name: name, accountId: A, HomeRegion: 'us-east-1', deliverAfterSeq: 0 }));
    const all = await addEvents(s.events, 150, where);
    const writes = new Map<string, number>();
    const objects: ObjectStore = {
      kind: 'filesystem', bucketExists: (b) => s.fs.bucketExists(b), bucketPolicy: () => s.fs.bucketPolicy(),
      putObject: async (b: string, k: string, body: Buffer, o?: PutOptions) => {
        if (b === 'bucket-slow' && !writes.has(b)) {
          const until = performance.now() + slowMs;
          while ((writes.get('bucket-a') ?? 0) < 8 && performance.now() < until) await new Promise((r) => setTimeout(r, 5));
        }
        await s.fs.putObject(b, k, body, o);
        writes.set(b, (writes.get(b) ?? 0) + 1);
      },
    };
    const w = worker({ control: s.control, events: s.counted, objects }, { maxBytes: 10 * (all[0]!.eventID.length + 400), shareWaitMs });
    await w.tick(false);
    assert.ok(await cursorsAtEnd(s.control, s.events, trails), 'all drained in one pass');
    for (const b of ['bucket-a', 'bucket-b', 'bucket-slow']) assert.deepEqual(delivered(s.dir, b).sort(), ids(all, () => true), b);
    const rows = s.rowsRead();
    await s.events.close();
    await s.control.close();
    return rows;
  };
  // Waiting for the write (within shareWaitMs): every row read once for all three. (The first
  // trail stops within 56 rows of the slow one, so it never writes 8 files: the write takes slowMs.
  // Going on alone, it would have: 80 rows ahead.)
  assert.equal(await run(60_000, 1_500), 150);
  // A write slower than shareWaitMs holds nobody back: the others went on alone, and the slow
  // trail read its rows again (each trail still got every event exactly once).
  assert.ok((await run(20, 10_000)) > 150);
});
