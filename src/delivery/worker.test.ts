/**
 * The delivery worker over real stores (SQLite event log and control store, filesystem bucket):
 * a crash between writing files and moving the cursor leads to the same keys and bytes, never a
 * second copy; a refused write keeps every event and reports the store's error code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DELIVERY_STATE_KIND, normalizeRecord, randomIds, trailKey, TRAIL_KIND, type DeliveryState, type TrailDoc } from '../core/index.ts';
import { toAppendInput } from '../ingest/index.ts';
import { SqliteControlStore, SqliteEventStore } from '../stores/sqlite/index.ts';
import { FsObjectStore } from '../stores/fs/index.ts';
import { ObjectStoreError, type ObjectStore, type PutOptions } from '../stores/index.ts';
import { DeliveryWorker } from './worker.ts';

const A = '111111111111';

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'ot-delivery-'));
  mkdirSync(join(dir, 'buckets', 'bucket-one'), { recursive: true });
  const events = new SqliteEventStore({ path: join(dir, 'events.db') });
  const control = new SqliteControlStore(join(dir, 'control.db'));
  const fs = new FsObjectStore(join(dir, 'buckets'));
  return { dir, events, control, fs };
}

async function addEvents(events: SqliteEventStore, n: number, region = 'us-east-1'): Promise<string[]> {
  const inputs = Array.from({ length: n }, (_, i) => {
    const r = normalizeRecord({ eventSource: 'ec2.amazonaws.com', eventName: i % 2 ? 'RunInstances' : 'DescribeInstances', awsRegion: region, recipientAccountId: A }, { defaultAccountId: A, defaultRegion: region, nowMs: Date.now(), ids: randomIds });
    assert.ok(r.ok);
    return toAppendInput(r.value);
  });
  await events.append(inputs);
  return inputs.map((i) => i.eventId);
}

async function loggingTrail(control: SqliteControlStore, events: SqliteEventStore): Promise<TrailDoc> {
  const t: TrailDoc = {
    Name: 'trail-one', accountId: A, HomeRegion: 'us-east-1', TrailARN: `arn:aws:cloudtrail:us-east-1:${A}:trail/trail-one`, S3BucketName: 'bucket-one',
    IncludeGlobalServiceEvents: true, IsMultiRegionTrail: true, LogFileValidationEnabled: false, IsOrganizationTrail: false, tags: [],
    isLogging: true, createdMs: Date.now(), startLoggingTimeMs: Date.now(), deliverAfterSeq: await events.lastSeq(),
  };
  await control.put(TRAIL_KIND, trailKey(A, 'us-east-1', 'trail-one'), t);
  return t;
}

function files(root: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.endsWith('.json.gz')) out.set(relative(root, p), readFileSync(p));
    }
  };
  walk(root);
  return out;
}

const worker = (deps: { events: SqliteEventStore; control: SqliteControlStore; objects: ObjectStore }) =>
  new DeliveryWorker({ ...deps, clock: { nowMs: () => Date.now() }, logError: (m: string, e?: unknown) => { if (process.env.DEBUG_DELIVERY) console.error(m, e); } }, { maxAgeMs: 0, maxBytes: 1 << 24, pollMs: 1000, readBatch: 7, regions: ['us-east-1', 'eu-west-1'] });

test('a crash after the files were written and before the cursor moved rewrites the same keys and bytes', async () => {
  const { dir, events, control, fs } = setup();
  const t = await loggingTrail(control, events);
  const ids = [...(await addEvents(events, 20)), ...(await addEvents(events, 11, 'eu-west-1'))];
  // The first worker writes every file, then "crashes" before committing the cursor.
  const crashing: ObjectStore = {
    kind: 'filesystem', bucketExists: (b) => fs.bucketExists(b), bucketPolicy: () => fs.bucketPolicy(),
    putObject: async (b: string, k: string, body: Buffer, o?: PutOptions) => {
      await fs.putObject(b, k, body, o);
      if (k.includes('eu-west-1')) throw new Error('process died here');
    },
  };
  await assert.rejects(worker({ events, control, objects: crashing }).tick(true).then(async () => {
    const s = await control.get<DeliveryState>(DELIVERY_STATE_KIND, t.TrailARN);
    if (s?.intent) throw new Error('intent pending');
  }), /intent pending/);
  const afterCrash = files(join(dir, 'buckets', 'bucket-one'));
  assert.equal(afterCrash.size, 2);

  // The restarted worker finds the intent and writes the same objects again.
  await worker({ events, control, objects: fs }).tick(false);
  const afterRestart = files(join(dir, 'buckets', 'bucket-one'));
  assert.deepEqual([...afterRestart.keys()].sort(), [...afterCrash.keys()].sort(), 'no new keys');
  for (const [k, v] of afterRestart) assert.ok(v.equals(afterCrash.get(k)!), `${k} changed bytes`);
  const state = await control.get<DeliveryState>(DELIVERY_STATE_KIND, t.TrailARN);
  assert.equal(state?.intent, undefined);
  assert.equal(state?.cursor, await events.lastSeq());
  const delivered = [...afterRestart.values()].flatMap((b) => (JSON.parse(gunzipSync(b).toString()) as { Records: { eventID: string }[] }).Records.map((r) => r.eventID));
  assert.deepEqual(delivered.sort(), [...ids].sort());

  // Nothing new: another pass writes nothing.
  await worker({ events, control, objects: fs }).tick(true);
  assert.equal(files(join(dir, 'buckets', 'bucket-one')).size, 2);
  await events.close();
  await control.close();
});

test('a refused write keeps the events, reports the code, and succeeds later', async () => {
  const { dir, events, control, fs } = setup();
  const t = await loggingTrail(control, events);
  const ids = await addEvents(events, 5);
  let refuse = true;
  const flaky: ObjectStore = {
    kind: 'filesystem', bucketExists: (b) => fs.bucketExists(b), bucketPolicy: () => fs.bucketPolicy(),
    putObject: async (b: string, k: string, body: Buffer, o?: PutOptions) => {
      if (refuse) throw new ObjectStoreError('AccessDenied', 'Access Denied');
      await fs.putObject(b, k, body, o);
    },
  };
  const w = worker({ events, control, objects: flaky });
  await w.tick(true);
  const failed = await control.get<DeliveryState>(DELIVERY_STATE_KIND, t.TrailARN);
  assert.equal(failed?.latestDeliveryError, 'AccessDenied');
  assert.ok(failed?.intent, 'the batch is kept');
  assert.equal(files(join(dir, 'buckets', 'bucket-one')).size, 0);
  refuse = false;
  await w.tick(true); // force ignores the backoff
  const ok = await control.get<DeliveryState>(DELIVERY_STATE_KIND, t.TrailARN);
  assert.equal(ok?.latestDeliveryError, undefined);
  assert.equal(ok?.intent, undefined);
  const delivered = [...files(join(dir, 'buckets', 'bucket-one')).values()].flatMap((b) => (JSON.parse(gunzipSync(b).toString()) as { Records: { eventID: string }[] }).Records.map((r) => r.eventID));
  assert.deepEqual(delivered.sort(), [...ids].sort());
  await events.close();
  await control.close();
});
