/**
 * Lake ingestion over real stores (SQLite event log and control store, DuckDB, a temp Lake root):
 * a crash between the files and the cursor leads to the same files again, never a second copy; a
 * store admits by its Regions, selectors and stopped windows; retention drops whole days and, after
 * 7 days of PENDING_DELETION, the store; the catalog resolves only the caller's stores.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import {
  DAY_MS, EVENT_DATA_STORE_KIND, eventDataStoreKey, LAKE_INGEST_STATE_KIND, normalizeRecord, randomIds, type EventDataStoreDoc, type LakeIngestState,
} from '../../core/index.ts';
import { toAppendInput } from '../../ingest/index.ts';
import { SqliteControlStore, SqliteEventStore } from '../../stores/sqlite/index.ts';
import type { ControlStore } from '../../stores/index.ts';
import { storeGlob } from '../layout.ts';
import { ControlStoreLakeCatalog } from '../catalog-store.ts';
import { LakeIngestWorker } from './worker.ts';
import { expiredPartitions, runLakeRetention } from './retention.ts';
import { lazyDuckDB } from './duck.ts';

const A = '111111111111';
const B = '222222222222';
const clock = { nowMs: () => Date.now() };

const opened: { close(): Promise<void> }[] = [];
after(async () => {
  for (const s of opened) await s.close();
});

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'ot-lake-'));
  const events = new SqliteEventStore({ path: join(dir, 'events.db') });
  const control = new SqliteControlStore(join(dir, 'control.db'));
  opened.push(events, control);
  return { dir, root: join(dir, 'lake'), events, control };
}

async function addEvents(events: SqliteEventStore, n: number, over: Record<string, unknown> = {}): Promise<string[]> {
  const inputs = Array.from({ length: n }, (_, i) => {
    const r = normalizeRecord({ eventSource: 'ec2.amazonaws.com', eventName: i % 2 ? 'RunInstances' : 'DescribeInstances', awsRegion: 'us-east-1', recipientAccountId: A, ...over }, { defaultAccountId: A, defaultRegion: 'us-east-1', nowMs: Date.now(), ids: randomIds });
    assert.ok(r.ok);
    return toAppendInput(r.value);
  });
  await events.append(inputs);
  return inputs.map((i) => i.eventId);
}

function storeDoc(id: string, over: Partial<EventDataStoreDoc> = {}): EventDataStoreDoc {
  return {
    EventDataStoreArn: `arn:aws:cloudtrail:us-east-1:${A}:eventdatastore/${id}`, Name: id, Status: 'ENABLED',
    AdvancedEventSelectors: [{ FieldSelectors: [{ Field: 'eventCategory', Equals: ['Management'] }] }],
    MultiRegionEnabled: false, OrganizationEnabled: false, RetentionPeriod: 366, TerminationProtectionEnabled: false, BillingMode: 'EXTENDABLE_RETENTION_PRICING',
    TagsList: [], accountId: A, region: 'us-east-1', storeId: id, createdMs: 1, updatedMs: 1, isIngesting: true, ingestAfterSeq: 0, ...over,
  };
}

function worker(root: string, events: SqliteEventStore, control: ControlStore) {
  const duck = lazyDuckDB();
  const w = new LakeIngestWorker({ events, control, clock, duck: duck.connection, logError: () => undefined }, { root, maxAgeMs: 60_000, maxBytes: 1 << 20, pollMs: 1000, readBatch: 100, regions: ['us-east-1', 'eu-west-1'] });
  return { w, close: () => duck.close() };
}

async function storedIds(root: string, id: string): Promise<string[]> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    const r = await conn.runAndReadAll(`SELECT eventID FROM read_parquet('${join(root, storeGlob(A, id))}', hive_partitioning = false) ORDER BY eventID`);
    return r.getRowObjectsJson().map((x) => x.eventID as string);
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

/** The store's Parquet files (not the eventID index beside each: src/lake/storage/eventid-index.ts). */
const parquetFiles = (root: string, id: string): string[] =>
  readdirSync(join(root, A, id)).filter((d) => d.startsWith('eventDate=')).flatMap((d) => readdirSync(join(root, A, id, d)).filter((f) => f.endsWith('.parquet')).map((f) => `${d}/${f}`)).sort();

test('a crash between the files and the cursor: the restart writes the same files again, every event once', async () => {
  const { root, events, control } = setup();
  await control.put(EVENT_DATA_STORE_KIND, eventDataStoreKey(A, 's1'), storeDoc('s1'));
  const ids = await addEvents(events, 250);
  // The cursor write after the files fails once: the process "dies" with its intent recorded.
  let failCursor = true;
  const crashing: ControlStore = Object.assign(Object.create(control) as ControlStore, {
    put: async (kind: string, key: string, doc: unknown, opts?: object) => {
      if (kind === LAKE_INGEST_STATE_KIND && failCursor && !(doc as LakeIngestState).intent) throw new Error('killed');
      return control.put(kind, key, doc, opts);
    },
  });
  const first = worker(root, events, crashing);
  await first.w.tick(true);
  first.close();
  const left = await control.get<LakeIngestState>(LAKE_INGEST_STATE_KIND, eventDataStoreKey(A, 's1'));
  assert.ok(left?.intent, 'the intent stays');
  assert.equal(left.cursor, 0);
  const filesBefore = parquetFiles(root, 's1');
  assert.ok(filesBefore.length > 0);
  failCursor = false;
  const second = worker(root, events, control);
  await second.w.tick(true);
  second.close();
  assert.deepEqual(parquetFiles(root, 's1'), filesBefore, 'the same names');
  assert.deepEqual(await storedIds(root, 's1'), [...ids].sort());
  const done = await control.get<LakeIngestState>(LAKE_INGEST_STATE_KIND, eventDataStoreKey(A, 's1'));
  assert.equal(done?.intent, undefined);
  assert.equal(done?.cursor, await events.lastSeq());
});

test('a store admits its Regions, its selectors and not its stopped window; a new batch goes to new files', async () => {
  const { root, events, control } = setup();
  const home = await addEvents(events, 5);
  await addEvents(events, 5, { awsRegion: 'eu-west-1' });
  await addEvents(events, 5, { eventSource: 's3.amazonaws.com', eventName: 'GetObject', managementEvent: false, eventCategory: 'Data', readOnly: true, resources: [{ type: 'AWS::S3::Object', ARN: 'arn:aws:s3:::b/k' }] });
  const skippedFrom = await events.lastSeq();
  await addEvents(events, 5);
  const skippedTo = await events.lastSeq();
  const later = await addEvents(events, 3);
  await control.put(EVENT_DATA_STORE_KIND, eventDataStoreKey(A, 's2'), storeDoc('s2', { skippedSeqs: [[skippedFrom, skippedTo]] }));
  const { w, close } = worker(root, events, control);
  await w.tick(true);
  assert.deepEqual(await storedIds(root, 's2'), [...home, ...later].sort());
  const more = await addEvents(events, 2);
  await w.tick(true);
  close();
  assert.deepEqual(await storedIds(root, 's2'), [...home, ...later, ...more].sort());
  assert.equal(new Set(parquetFiles(root, 's2').map((f) => f.split('/')[1]!.replace(/-\d+\.parquet$/, ''))).size, 2, 'two batches, two names');
});

test('a stop saved while a pass holds the store as ingesting: what is appended after the stop is not ingested, by that pass or the next', async () => {
  const { root, events, control } = setup();
  const before = await addEvents(events, 4);
  const key = eventDataStoreKey(A, 's5');
  await control.put(EVENT_DATA_STORE_KIND, key, storeDoc('s5'));
  // The pass reads the stores; StopEventDataStoreIngestion is saved right after that read and
  // events arrive while stopped, before the pass reads the log (the interleaving of a slow pass).
  let during: string[] = [];
  let raced = false;
  const racing: ControlStore = Object.create(control) as ControlStore;
  racing.list = async <T,>(kind: string, prefix: string) => {
    const listed = await control.list<T>(kind, prefix);
    if (kind === EVENT_DATA_STORE_KIND && !raced) {
      raced = true;
      await control.put(EVENT_DATA_STORE_KIND, key, storeDoc('s5', { Status: 'STOPPED_INGESTION', isIngesting: false, ingestThroughSeq: await events.lastSeq() }));
      during = await addEvents(events, 3);
    }
    return listed;
  };
  const { w, close } = worker(root, events, racing);
  await w.tick(false);
  await w.tick(true);
  close();
  assert.equal(raced, true);
  assert.deepEqual(await storedIds(root, 's5'), [...before].sort(), `none of the ${during.length} events appended after the stop`);
});

test('retention drops whole days older than the period, and a store 7 days after its deletion', async () => {
  assert.deepEqual(expiredPartitions(['eventDate=2026-01-01', 'eventDate=2026-01-02', 'eventDate=2026-01-03', 'x', '.tmp-a'], 7, Date.parse('2026-01-09T12:00:00Z')), ['eventDate=2026-01-01']);
  const { root, control } = setup();
  const now = Date.parse('2026-06-15T00:00:00Z');
  await control.put(EVENT_DATA_STORE_KIND, eventDataStoreKey(A, 'kept'), storeDoc('kept', { RetentionPeriod: 30 }));
  await control.put(EVENT_DATA_STORE_KIND, eventDataStoreKey(A, 'gone'), storeDoc('gone', { Status: 'PENDING_DELETION', pendingSinceMs: now - 7 * DAY_MS }));
  await control.put(EVENT_DATA_STORE_KIND, eventDataStoreKey(A, 'pending'), storeDoc('pending', { Status: 'PENDING_DELETION', pendingSinceMs: now - 6 * DAY_MS }));
  for (const [id, day] of [['kept', '2026-05-15'], ['kept', '2026-05-16'], ['gone', '2026-06-14'], ['pending', '2026-06-14']] as const) {
    mkdirSync(join(root, A, id, `eventDate=${day}`), { recursive: true });
    writeFileSync(join(root, A, id, `eventDate=${day}`, 'f.parquet'), 'x');
  }
  const r = await runLakeRetention(control, root, now);
  assert.deepEqual(r, { partitions: 1, stores: 1 });
  assert.deepEqual(readdirSync(join(root, A, 'kept')), ['eventDate=2026-05-16']);
  assert.equal(existsSync(join(root, A, 'gone')), false);
  assert.equal(await control.get(EVENT_DATA_STORE_KIND, eventDataStoreKey(A, 'gone')), undefined);
  assert.ok(existsSync(join(root, A, 'pending', 'eventDate=2026-06-14')));
});

test('the catalog resolves the caller\'s stores by id or ARN in the caller\'s Region, and nobody else\'s', async () => {
  const { root, control } = setup();
  const s = storeDoc('c1', { MultiRegionEnabled: true });
  await control.put(EVENT_DATA_STORE_KIND, eventDataStoreKey(A, 'c1'), s);
  const cat = new ControlStoreLakeCatalog(control, root);
  const want = { accountId: A, storeId: 'c1', arn: s.EventDataStoreArn, status: 'ENABLED' };
  assert.deepEqual(await cat.resolve(A, 'us-east-1', 'c1'), want);
  assert.deepEqual(await cat.resolve(A, 'us-east-1', s.EventDataStoreArn), want);
  assert.equal(await cat.resolve(B, 'us-east-1', 'c1'), undefined);
  assert.equal(await cat.resolve(B, 'us-east-1', s.EventDataStoreArn), undefined);
  assert.equal(await cat.resolve(A, 'us-east-1', s.EventDataStoreArn.replace('us-east-1', 'eu-west-1')), undefined);
  assert.equal(await cat.resolve(A, 'us-east-1', 'nope'), undefined);
  // Another Region's caller: not found, by id or by ARN (a multi-Region store lives in its home Region).
  assert.equal(s.MultiRegionEnabled, true);
  assert.equal(await cat.resolve(A, 'eu-west-1', 'c1'), undefined);
  assert.equal(await cat.resolve(A, 'eu-west-1', s.EventDataStoreArn), undefined);
  assert.equal(cat.root, root);
});
