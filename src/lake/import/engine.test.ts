import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { SqliteControlStore } from '../../stores/sqlite/sqlite-control-store.ts';
import type { ControlStore } from '../../stores/control-store.ts';
import { storeGlob } from '../layout.ts';
import type { LakeStoreRef } from '../catalog.ts';
import { TestLakeCatalog } from '../../../test/helpers/lake.ts';
import { LOG_ACCOUNT, logKey, trailRecord, writeLogFile } from '../../../test/helpers/trail-logs.ts';
import { ImportEngine, type ImportDoc, type ImportEngineOptions } from './engine.ts';
import { LocalLogSource } from './source.ts';

const db = await DuckDBInstance.create(':memory:');

interface Fixture {
  dir: string;
  bucket: string;
  catalog: TestLakeCatalog;
  store: LakeStoreRef;
  /** eventID -> the record, of every event the files hold (corrupt ones aside). */
  records: Map<string, Record<string, unknown>>;
}

/** A bucket of `days` days of `filesPerDay` log files of `perFile` events, plus a digest file. */
function fixture(days: number, filesPerDay: number, perFile: number): Fixture {
  const dir = mkdtempSync(join(tmpdir(), 'lake-import-'));
  const bucket = join(dir, 'bucket');
  const catalog = new TestLakeCatalog(join(dir, 'lake'));
  const records = new Map<string, Record<string, unknown>>();
  let n = 0;
  for (let d = 1; d <= days; d++) {
    for (let f = 0; f < filesPerDay; f++) {
      const hour = String(f % 24).padStart(2, '0');
      const recs = [];
      for (let i = 0; i < perFile; i++) {
        const id = `e-${++n}`;
        const r = trailRecord(id, `2026-11-0${d}T${hour}:0${i % 10}:00Z`);
        records.set(id, r);
        recs.push(r);
      }
      writeLogFile(bucket, logKey(`2026-11-0${d}T${hour}:10:00Z`, f), recs);
    }
  }
  // Not a log file: skipped.
  writeLogFile(bucket, `AWSLogs/${LOG_ACCOUNT}/CloudTrail-Digest/us-east-1/2026/11/01/x_CloudTrail-Digest_us-east-1_t_us-east-1_20261101T000000Z.json.gz`, [trailRecord('digest', '2026-11-01T00:00:00Z')]);
  return { dir, bucket, catalog, store: catalog.add(LOG_ACCOUNT), records };
}

function engine(f: Fixture, control: ControlStore, opts: ImportEngineOptions = {}): ImportEngine {
  let seq = 0;
  return new ImportEngine({
    control,
    catalog: f.catalog,
    openSource: (uri) => new LocalLogSource(f.bucket, '', `${uri}/`),
    connect: () => db.connect(),
    clock: { nowMs: () => Date.parse('2026-12-01T00:00:00Z') },
    ids: { uuid: () => `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}` },
    logError: () => undefined,
  }, opts);
}

const source = { S3: { S3LocationUri: 'file:///bucket', S3BucketRegion: 'us-east-1', S3BucketAccessRoleArn: 'arn:aws:iam::111122223333:role/import' } };

async function until(e: ImportEngine, id: string, done: (d: ImportDoc) => boolean): Promise<ImportDoc> {
  for (let i = 0; i < 2000; i++) {
    const d = await e.get(id);
    if (d && done(d)) return d;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`import ${id} did not finish`);
}

/** eventID -> how many times the store holds it, and the stored eventJson of each. */
async function stored(f: Fixture): Promise<{ counts: Map<string, number>; json: Map<string, string> }> {
  const conn = await db.connect();
  const r = await conn.runAndReadAll(`SELECT eventID, eventJson, userIdentity.userName AS u FROM read_parquet('${join(f.catalog.root, storeGlob(f.store.accountId, f.store.storeId))}', hive_partitioning = false)`);
  const counts = new Map<string, number>();
  const json = new Map<string, string>();
  for (const row of r.getRowObjectsJson()) {
    const id = String(row.eventID);
    counts.set(id, (counts.get(id) ?? 0) + 1);
    json.set(id, String(row.eventJson));
    assert.equal(row.u, 'alice');
  }
  return { counts, json };
}

function assertExactlyOnce(got: Map<string, number>, want: Iterable<string>): void {
  const ids = [...want].sort();
  assert.deepEqual([...got.keys()].sort(), ids);
  for (const [id, n] of got) assert.equal(n, 1, `${id} stored ${n} times`);
}

test('an import copies every event of the trail log files into the store once; a corrupt file is a failure, a digest is skipped', async () => {
  const f = fixture(3, 5, 20);
  writeFileSync(join(f.bucket, logKey('2026-11-02T23:59:00Z', 99)), Buffer.from('not gzip at all'));
  const control = new SqliteControlStore(':memory:');
  const e = engine(f, control, { batchFiles: 4 });
  const doc = await e.create({ accountId: LOG_ACCOUNT, destinations: [f.store], source });
  assert.equal(doc?.ImportStatus, 'INITIALIZING');
  const done = await until(e, doc.ImportId, (d) => d.ImportStatus === 'COMPLETED');
  assert.deepEqual(done.stats, { PrefixesFound: 3, PrefixesCompleted: 3, FilesCompleted: 15, EventsCompleted: 300, FailedEntries: 1 });
  const failures = await e.failures(doc.ImportId);
  assert.equal(failures.length, 1);
  assert.equal(failures[0]!.doc.Location, `file:///bucket/${logKey('2026-11-02T23:59:00Z', 99)}`);
  assert.equal(failures[0]!.doc.Status, 'FAILED');
  assert.equal(failures[0]!.doc.ErrorType, 'InvalidLogFile');
  const { counts, json } = await stored(f);
  assertExactlyOnce(counts, f.records.keys());
  for (const [id, text] of json) assert.deepEqual(JSON.parse(text), f.records.get(id));
  await e.close();
  await control.close();
});

test('StartEventTime/EndEventTime: only the events in the range, the files by their day first', async () => {
  const f = fixture(4, 2, 10);
  const control = new SqliteControlStore(':memory:');
  const e = engine(f, control);
  const startMs = Date.parse('2026-11-02T01:00:00Z');
  const endMs = Date.parse('2026-11-03T00:00:05Z');
  const doc = await e.create({ accountId: LOG_ACCOUNT, destinations: [f.store], source, startMs, endMs });
  const done = await until(e, doc!.ImportId, (d) => d.ImportStatus === 'COMPLETED');
  const want = [...f.records].filter(([, r]) => Date.parse(r.eventTime as string) >= startMs && Date.parse(r.eventTime as string) <= endMs).map(([id]) => id);
  assert.ok(want.length > 0 && want.length < f.records.size);
  assertExactlyOnce((await stored(f)).counts, want);
  assert.equal(done.stats.EventsCompleted, want.length);
  // Day folders 11-01 .. 11-04 are all within a day of the range.
  assert.equal(done.stats.PrefixesFound, 4);
  await e.close();
  await control.close();
});

test('one import in progress per account; a StopImport stops at a batch boundary and a restart finishes without doubles', async () => {
  const f = fixture(2, 6, 5);
  const control = new SqliteControlStore(':memory:');
  let stopAt = 2;
  let batches = 0;
  let id = '';
  const e: ImportEngine = engine(f, control, {
    batchFiles: 2,
    onBatch: () => {
      if (++batches === stopAt) void e.stop(id);
    },
  });
  const doc = await e.create({ accountId: LOG_ACCOUNT, destinations: [f.store], source });
  id = doc!.ImportId;
  assert.equal(await e.create({ accountId: LOG_ACCOUNT, destinations: [f.store], source }), undefined);
  const stopped = await until(e, id, (d) => d.ImportStatus === 'STOPPED');
  assert.equal(stopped.stats.FilesCompleted, 4);
  assert.equal(await e.restart('00000000-0000-4000-8000-999999999999'), undefined);
  stopAt = -1;
  const again = await e.restart(id);
  assert.equal(typeof again === 'object' && again.ImportStatus, 'IN_PROGRESS');
  const done = await until(e, id, (d) => d.ImportStatus === 'COMPLETED');
  assert.equal(await e.restart(id), 'not-restartable');
  assert.deepEqual(done.stats, { PrefixesFound: 2, PrefixesCompleted: 2, FilesCompleted: 12, EventsCompleted: 60, FailedEntries: 0 });
  assertExactlyOnce((await stored(f)).counts, f.records.keys());
  await e.close();
  await control.close();
});

test('a run that dies after writing a batch but before saving it resumes at the next start: every event exactly once', async () => {
  const f = fixture(2, 5, 8);
  const path = join(f.dir, 'control.db');
  const control = new SqliteControlStore(path);
  // The process "dies" at its 5th putMany (the save of the second batch): the batch written, its progress not saved; nothing after.
  let puts = 0;
  let dead = false;
  const dying: ControlStore = {
    get: (k, key) => control.get(k, key),
    list: (k, p) => control.list(k, p),
    put: (k, key, d) => (dead ? Promise.reject(new Error('dead')) : control.put(k, key, d)),
    delete: (k, key) => control.delete(k, key),
    putMany: (docs, o) => {
      if (dead || ++puts === 5) {
        dead = true;
        return Promise.reject(new Error('dead'));
      }
      return control.putMany(docs, o);
    },
    close: () => Promise.resolve(),
  };
  const first = engine(f, dying, { batchFiles: 3 });
  const doc = await first.create({ accountId: LOG_ACCOUNT, destinations: [f.store], source });
  for (let i = 0; i < 500 && !dead; i++) await new Promise((r) => setTimeout(r, 10));
  await first.close();
  const left = await control.get<ImportDoc>('lake-import', doc!.ImportId);
  assert.equal(left?.ImportStatus, 'IN_PROGRESS');
  assert.ok(left.pending, 'the batch in flight is recorded');
  const written = (await stored(f)).counts;
  assert.ok(written.size > left.stats.EventsCompleted, 'the dead run wrote more than it saved');
  const second = engine(f, control, { batchFiles: 3 });
  second.start();
  const done = await until(second, doc!.ImportId, (d) => d.ImportStatus === 'COMPLETED');
  assert.equal(done.stats.EventsCompleted, f.records.size);
  assertExactlyOnce((await stored(f)).counts, f.records.keys());
  await second.close();
  await control.close();
});

test("another account's trail log files and events are not imported: neither B's folder nor B's records in A's folder", async () => {
  const B = '444455556666';
  const f = fixture(1, 1, 3);
  // B's trail bucket content (in the same source), and a file in A's folder holding B's records.
  writeLogFile(f.bucket, logKey('2026-11-01T05:10:00Z', 7, B), [trailRecord('b-1', '2026-11-01T05:00:00Z', B), trailRecord('b-2', '2026-11-01T05:01:00Z', B)]);
  writeLogFile(f.bucket, logKey('2026-11-01T06:10:00Z', 8), [trailRecord('b-3', '2026-11-01T06:00:00Z', B), trailRecord('a-extra', '2026-11-01T06:01:00Z')]);
  writeFileSync(join(f.bucket, logKey('2026-11-01T07:10:00Z', 9, B)), Buffer.from('not gzip: would be a failure naming B\'s key'));
  f.records.set('a-extra', trailRecord('a-extra', '2026-11-01T06:01:00Z'));
  const control = new SqliteControlStore(':memory:');
  const e = engine(f, control);
  const doc = await e.create({ accountId: LOG_ACCOUNT, destinations: [f.store], source });
  const done = await until(e, doc!.ImportId, (d) => d.ImportStatus === 'COMPLETED');
  assert.equal(done.stats.FailedEntries, 0);
  assert.deepEqual(await e.failures(doc!.ImportId), []);
  const { counts } = await stored(f);
  assertExactlyOnce(counts, f.records.keys());
  await e.close();
  await control.close();
});
