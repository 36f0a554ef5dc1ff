/**
 * Lake compaction over real parts (SQLite control and lease stores, DuckDB, a temp Lake root, files
 * written by the writer ingestion uses): what the live file list holds at every step of a
 * compaction (each event exactly once), which files are merged (sizes, settled or not, writers'
 * pending batches), deletion after the grace, retention, and two nodes sharing one lease table.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { EVENT_DATA_STORE_KIND, eventDataStoreKey, LAKE_INGEST_STATE_KIND, type EventDataStoreDoc, type LakeIngestState } from '../../core/index.ts';
import { SqliteControlStore, SqliteLeaseStore } from '../../stores/sqlite/index.ts';
import type { ControlStore } from '../../stores/index.ts';
import { LeaseKeeper } from '../../stores/lease-keeper.ts';
import { LAKE_ROW_GROUP_SIZE, storeDir } from '../layout.ts';
import { writeLakeFiles } from '../storage/writer.ts';
import { liveDataFiles, readManifest } from '../storage/live-files.ts';
import { runLakeRetention } from '../ingest/retention.ts';
import { IMPORT_KIND } from '../import/engine.ts';
import { LakeCompactor, planPartition, type CompactionStep, type LakeCompactionOptions } from './compactor.ts';

const A = '111111111111';
const DAY = '2026-11-01';

const closers: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c();
});

let shared: DuckDBConnection | undefined;
async function duck(): Promise<DuckDBConnection> {
  if (!shared) {
    const db = await DuckDBInstance.create(':memory:', { threads: '1' });
    const c = await db.connect();
    closers.push(() => {
      c.closeSync();
      db.closeSync();
    });
    shared = c;
  }
  return shared;
}

function storeDoc(id: string, over: Partial<EventDataStoreDoc> = {}): EventDataStoreDoc {
  return {
    EventDataStoreArn: `arn:aws:cloudtrail:us-east-1:${A}:eventdatastore/${id}`, Name: id, Status: 'ENABLED',
    AdvancedEventSelectors: [], MultiRegionEnabled: false, OrganizationEnabled: false, RetentionPeriod: 3653, TerminationProtectionEnabled: false,
    BillingMode: 'EXTENDABLE_RETENTION_PRICING', TagsList: [], accountId: A, region: 'us-east-1', storeId: id, createdMs: 1, updatedMs: 1, isIngesting: true, ingestAfterSeq: 0, ...over,
  };
}

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'ot-compact-'));
  const control = new SqliteControlStore(join(dir, 'control.db'));
  closers.push(() => control.close());
  return { dir, root: join(dir, 'lake'), control };
}

/** Writes `files` files of `per` events each into store `id` on DAY, as ingestion would (names `ingest-<i>-...`); answers the event ids. */
async function fill(root: string, id: string, files: number, per: number, name = (i: number) => `ingest-${i}-${i + 1}`, day = DAY): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < files; i++) {
    const lines = Array.from({ length: per }, (_, j) => {
      const eventID = randomUUID();
      ids.push(eventID);
      return JSON.stringify({ eventVersion: '1.11', eventID, eventTime: `${day}T00:${String(i % 60).padStart(2, '0')}:${String(j % 60).padStart(2, '0')}Z`, eventName: j % 2 ? 'RunInstances' : 'DescribeInstances', eventSource: 'ec2.amazonaws.com', awsRegion: 'us-east-1', recipientAccountId: A });
    });
    const src = join(root, `..`, `src-${id}-${i}.jsonl`);
    writeFileSync(src, lines.join('\n') + '\n');
    await writeLakeFiles(await duck(), { root, accountId: A, storeId: id, name: name(i), source: `read_json_objects('${src}', format='newline_delimited')` });
  }
  return ids;
}

const partDir = (root: string, id: string, day = DAY) => join(root, storeDir(A, id), `eventDate=${day}`);

/** The store's events as a query sees them: the live files of every partition, read with DuckDB. */
async function liveEvents(root: string, id: string): Promise<string[]> {
  const dir = join(root, storeDir(A, id));
  const files: string[] = [];
  for (const p of (await readdir(dir)).filter((x) => x.startsWith('eventDate='))) {
    for (const f of await liveDataFiles(join(dir, p), await readdir(join(dir, p)))) files.push(join(dir, p, f));
  }
  if (files.length === 0) return [];
  const r = await (await duck()).runAndReadAll(`SELECT eventID FROM read_parquet([${files.map((f) => `'${f}'`).join(', ')}], hive_partitioning = false, union_by_name = true)`);
  return r.getRows().map(([x]) => String(x));
}

const dataFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.parquet')).sort();

function compactor(root: string, control: ControlStore, now: { ms: number }, opts: Partial<LakeCompactionOptions> = {}, step?: (s: CompactionStep) => Promise<void>, leases?: LeaseKeeper) {
  return new LakeCompactor(
    { control, clock: { nowMs: () => now.ms }, duck, logError: (m, e) => assert.fail(`${m}: ${String(e)}`), ...(leases ? { leases } : {}), ...(step ? { step } : {}) },
    { root, targetBytes: 64 * 1024 * 1024, minFiles: 4, settleMs: 60_000, deleteAfterMs: 10_000, ...opts },
  );
}

const sameSet = (got: string[], want: string[], msg: string) => {
  assert.equal(got.length, want.length, `${msg}: ${got.length} rows for ${want.length} events`);
  assert.deepEqual([...got].sort(), [...want].sort(), msg);
};

test('every step of a compaction: the live files hold each event exactly once; inputs go after the grace, the manifest after another', async () => {
  const { root, control } = setup();
  await control.put(EVENT_DATA_STORE_KIND, eventDataStoreKey(A, 's1'), storeDoc('s1'));
  const ids = await fill(root, 's1', 8, 20);
  const now = { ms: Date.now() + 120_000 };
  const seen: string[] = [];
  const c = compactor(root, control, now, {}, async (s) => {
    seen.push(s);
    sameSet(await liveEvents(root, 's1'), ids, `at step ${s}`);
  });
  const r = await c.runOnce();
  assert.deepEqual(seen, ['written', 'published', 'swapped']);
  assert.equal(r.compactions, 1);
  assert.equal(r.inputFiles, 8);
  assert.equal(r.rows, 160);
  const dir = partDir(root, 's1');
  const outputs = dataFiles(dir).filter((f) => f.startsWith('compact-'));
  assert.equal(outputs.length, 1);
  assert.equal(dataFiles(dir).length, 9, 'the inputs stay until the grace is over');
  assert.deepEqual(await liveDataFiles(dir, readdirSync(dir)), outputs);
  assert.ok(existsSync(join(dir, `${outputs[0]}.eventids`)), 'the output has its eventID sidecar');
  // Row groups of LAKE_ROW_GROUP_SIZE and the store's columns.
  const meta = await (await duck()).runAndReadAll(`SELECT max(row_group_num_rows) FROM parquet_metadata('${join(dir, outputs[0]!)}')`);
  assert.ok(Number(meta.getRows()[0]![0]) <= LAKE_ROW_GROUP_SIZE);
  // Before the grace nothing is deleted; after it, the inputs (each step still exactly once) ...
  now.ms += 5_000;
  assert.equal((await c.runOnce()).deletedFiles, 0);
  now.ms += 6_000;
  const r2 = await c.runOnce();
  assert.equal(r2.deletedFiles, 8);
  assert.ok(seen.filter((s) => s === 'deleting').length >= 8);
  assert.deepEqual(dataFiles(dir), outputs);
  assert.equal(readdirSync(dir).filter((f) => f.startsWith('ingest-')).length, 0, 'inputs and their sidecars are gone');
  assert.equal(typeof (await readManifest(join(dir, outputs[0]!)))?.inputsDeletedAtMs, 'number', 'the manifest stays, marked');
  // ... and the manifest a grace later; the output is then an ordinary file.
  now.ms += 11_000;
  await c.runOnce();
  assert.equal(await readManifest(join(dir, outputs[0]!)), undefined);
  sameSet(await liveEvents(root, 's1'), ids, 'at the end');
});

test('a crash before the swap leaves the inputs live; the orphan manifest and folder are cleaned up and the next pass compacts again', async () => {
  const { root, control } = setup();
  await control.put(EVENT_DATA_STORE_KIND, eventDataStoreKey(A, 's2'), storeDoc('s2'));
  const ids = await fill(root, 's2', 5, 20);
  const now = { ms: Date.now() + 120_000 };
  const crash = new Error('crash');
  const c1 = compactor(root, control, now, {}, (s) => (s === 'published' ? Promise.reject(crash) : Promise.resolve()));
  await assert.rejects(c1['compactGroup'](join(root, storeDir(A, 's2')), `eventDate=${DAY}`, dataFiles(partDir(root, 's2')), undefined) as Promise<unknown>, /crash/);
  const dir = partDir(root, 's2');
  assert.equal(readdirSync(dir).filter((f) => f.endsWith('.replaces')).length, 1, 'an orphan manifest');
  sameSet(await liveEvents(root, 's2'), ids, 'after the crash');
  now.ms += 20_000;
  const r = await compactor(root, control, now).runOnce();
  assert.equal(r.compactions, 1);
  sameSet(await liveEvents(root, 's2'), ids, 'after the second compaction');
  const manifests = readdirSync(dir).filter((f) => f.endsWith('.replaces'));
  assert.equal(manifests.length, 1, 'the orphan is gone, the new output has its manifest');
  assert.ok(existsSync(join(dir, manifests[0]!.replace(/\.replaces$/, ''))));
});

test('which files: small ones; a partition still written only by minFiles; never a batch its writer may write again', async () => {
  const o = { targetBytes: 1000, minFiles: 3, settleMs: 100 };
  const f = (name: string, bytes: number, mtimeMs: number) => ({ name, bytes, mtimeMs });
  // Settled: every small file, in groups of about targetBytes; a lone file is left alone.
  assert.deepEqual(planPartition([f('a', 400, 1), f('b', 400, 2), f('c', 400, 3), f('d', 5000, 4), f('e', 100, 5)], 5, 1000, o), [['a', 'b', 'c']]);
  assert.deepEqual(planPartition([f('a', 400, 1)], 1, 1000, o), []);
  // Not settled: only groups of minFiles (or targetBytes), and never the compaction outputs.
  assert.deepEqual(planPartition([f('a', 10, 1), f('b', 10, 2), f('compact-x', 10, 3)], 990, 1000, o), []);
  assert.deepEqual(planPartition([f('a', 10, 1), f('b', 10, 2), f('c', 10, 3), f('d', 10, 4)], 990, 1000, o), [['a', 'b', 'c']]);

  const { root, control } = setup();
  const s = storeDoc('s3');
  await control.put(EVENT_DATA_STORE_KIND, eventDataStoreKey(A, 's3'), s);
  const ids = await fill(root, 's3', 4, 10);
  const imported = await fill(root, 's3', 2, 10, (i) => `import-imp1-${i}`);
  // Ingestion's pending intent (ingest-3-4) and an import's pending batch (import-imp1-1).
  await control.put(LAKE_INGEST_STATE_KIND, eventDataStoreKey(A, 's3'), { storeCreatedMs: 1, cursor: 3, intent: { fromSeq: 3, toSeq: 4, name: 'ingest-3-4', scope: { selectors: [], regions: [], accountIds: [], channelArns: [] } } } satisfies LakeIngestState);
  await control.put(IMPORT_KIND, 'imp1', { ImportId: 'imp1', Destinations: [s.EventDataStoreArn], pending: { name: 'import-imp1-1', keys: [] } });
  const now = { ms: Date.now() + 120_000 };
  const r = await compactor(root, control, now).runOnce();
  assert.equal(r.compactions, 1);
  assert.equal(r.inputFiles, 4);
  const dir = partDir(root, 's3');
  const out = dataFiles(dir).find((x) => x.startsWith('compact-'))!;
  assert.deepEqual((await readManifest(join(dir, out)))!.inputs.sort(), ['import-imp1-0-0.parquet', 'ingest-0-1-0.parquet', 'ingest-1-2-0.parquet', 'ingest-2-3-0.parquet']);
  sameSet(await liveEvents(root, 's3'), [...ids, ...imported], 'pending batches stay beside the output');
});

test('retention drops a compacted partition whole; an expired partition or a store pending deletion is not compacted', async () => {
  const { root, control } = setup();
  const now = { ms: Date.parse('2026-11-20T00:00:00Z') };
  await control.put(EVENT_DATA_STORE_KIND, eventDataStoreKey(A, 's4'), storeDoc('s4', { RetentionPeriod: 7 }));
  await control.put(EVENT_DATA_STORE_KIND, eventDataStoreKey(A, 's5'), storeDoc('s5', { Status: 'PENDING_DELETION', pendingSinceMs: now.ms }));
  await fill(root, 's4', 3, 5, undefined, '2026-11-01');
  const recent = await fill(root, 's4', 3, 5, (i) => `ingest-${10 + i}-${11 + i}`, '2026-11-18');
  await fill(root, 's5', 3, 5);
  const r = await compactor(root, control, now, { minFiles: 3 }).runOnce();
  assert.equal(r.compactions, 1, 'only the partition retention keeps');
  assert.equal(dataFiles(partDir(root, 's4', '2026-11-01')).length, 3);
  assert.ok(dataFiles(partDir(root, 's4', '2026-11-18')).some((f) => f.startsWith('compact-')));
  assert.equal(dataFiles(partDir(root, 's5')).length, 3);
  await runLakeRetention(control, root, now.ms);
  assert.equal(existsSync(partDir(root, 's4', '2026-11-01')), false);
  sameSet(await liveEvents(root, 's4'), recent, 'the kept day');
  now.ms += 10 * 86_400_000;
  await runLakeRetention(control, root, now.ms);
  assert.equal(existsSync(partDir(root, 's4', '2026-11-18')), false, 'the compacted day goes whole, output, manifest and sidecars');
});

test('two nodes on one lease table: each store is compacted by one node only, every event once', async () => {
  const { dir, root, control } = setup();
  const leaseStore = new SqliteLeaseStore(join(dir, 'control.db'));
  closers.push(() => leaseStore.close());
  const want = new Map<string, string[]>();
  for (const id of ['n1', 'n2', 'n3', 'n4']) {
    await control.put(EVENT_DATA_STORE_KIND, eventDataStoreKey(A, id), storeDoc(id));
    want.set(id, await fill(root, id, 4, 10));
  }
  const now = { ms: Date.now() + 120_000 };
  const keepers = ['node-a', 'node-b'].map((holder) => new LeaseKeeper(leaseStore, { holder, ttlMs: 30_000, logError: () => undefined }));
  // Both nodes have their heartbeats before either shares the stores out.
  for (const k of keepers) await k.share('warmup', []);
  // Two rounds of passes at once (a lease both asked for in the same instant goes to one, the other's share waits a pass).
  const nodes = keepers.map((k) => compactor(root, control, now, {}, undefined, k));
  const results = [{ compactions: 0 }, { compactions: 0 }];
  for (let round = 0; round < 2; round++) {
    const r = await Promise.all(nodes.map((n) => n.runOnce()));
    r.forEach((x, i) => (results[i]!.compactions += x.compactions));
  }
  for (const k of keepers) await k.stop();
  assert.equal(results[0]!.compactions + results[1]!.compactions, 4, 'each store once');
  assert.ok(results.every((x) => x.compactions > 0), `both nodes took a share (${results.map((x) => x.compactions).join(', ')})`);
  const holders = new Map<string, string>();
  for (const [id, ids] of want) {
    const d = partDir(root, id);
    const outs = dataFiles(d).filter((f) => f.startsWith('compact-'));
    assert.equal(outs.length, 1, `store ${id}: one output`);
    holders.set(id, (await readManifest(join(d, outs[0]!)))!.holder!);
    sameSet(await liveEvents(root, id), ids, `store ${id}`);
  }
  assert.deepEqual(new Set(holders.values()), new Set(['node-a', 'node-b']));
});
