/**
 * Several nodes sharing delivery and digests by leases (docs/design/delivery.md, "Several nodes"):
 * two "nodes" in one process, each with its own lease store (its own PostgreSQL pool, or its own
 * SQLite connection), its own DeliveryWorker and DigestJob, over ONE event store, ONE control store
 * and one filesystem bucket. Checked:
 * - the trails are split between the nodes, and each trail is written by one node only;
 * - a node stopped abruptly in the middle of a batch (its intent recorded, its log file not yet
 *   written; no release, no flush: a kill) is taken over by the other, which writes that batch
 *   under the same keys;
 * - the dead node waking up later (a paused process) writes only the same bytes again and moves
 *   no cursor, writes no digest (fencing);
 * - afterwards every event is in each trail's files exactly once, and validate-logs' engine
 *   accepts every trail's digest chain and finds no log file outside it.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { setTimeout as sleep } from 'node:timers/promises';
import { DELIVERY_STATE_KIND, normalizeRecord, randomIds, systemClock, trailKey, TRAIL_KIND, type DeliveryState, type TrailDoc } from '../core/index.ts';
import { toAppendInput } from '../ingest/index.ts';
import { SqliteControlStore, SqliteEventStore, SqliteLeaseStore } from '../stores/sqlite/index.ts';
import { FsObjectStore } from '../stores/fs/index.ts';
import { FsBucketReader } from '../stores/fs/fs-bucket-reader.ts';
import { openPool, PgLeaseStore } from '../stores/postgres/index.ts';
import { PgControlStore } from '../stores/postgres/pg-control-store.ts';
import { LeaseKeeper } from '../stores/lease-keeper.ts';
import type { ControlStore, LeaseStore, ObjectStore, PutOptions } from '../stores/index.ts';
import { ephemeralKek, SigningKeyStore } from '../integrity/index.ts';
import { validateLogs, type ValidationEvent } from '../integrity/validate.ts';
import { startPostgres, type StartedPostgres } from '../../test/helpers/postgres.ts';
import { filesBelow } from '../../test/helpers/delivery.ts';
import { DeliveryWorker } from './worker.ts';
import { DigestJob } from './digest-job.ts';

const A = '111111111111';
const REGION = 'us-east-1';
const BUCKET = 'shared-bucket';
const TTL_MS = 1500;
const DIGEST_PERIOD_MS = 2000;
const TRAILS = ['t1', 't2', 't3', 't4'];

/** A node's view of the shared bucket: records who wrote what, and can pause the node in the middle of a write (a process stopped, then resumed). */
class NodeBucket implements ObjectStore {
  readonly kind = 'filesystem';
  private readonly inner: ObjectStore;
  private readonly node: string;
  private readonly writes: { node: string; key: string; body: Buffer }[];
  /** Set: the node's next log-file write stops before reaching the store, until `resume`. */
  pauseNextLogFile = false;
  private paused: { key: string; go: () => void } | undefined;
  private onPaused: ((key: string) => void) | undefined;

  constructor(inner: ObjectStore, node: string, writes: { node: string; key: string; body: Buffer }[]) {
    this.inner = inner;
    this.node = node;
    this.writes = writes;
  }

  bucketExists(bucket: string): Promise<boolean> {
    return this.inner.bucketExists(bucket);
  }

  bucketPolicy(bucket: string): Promise<string | undefined> {
    return this.inner.bucketPolicy(bucket);
  }

  /** Resolves with the key of the log file the node stopped at. */
  whenPaused(): Promise<string> {
    return new Promise((resolve) => (this.onPaused = resolve));
  }

  resume(): void {
    this.paused?.go();
  }

  async putObject(bucket: string, key: string, body: Buffer, opts?: PutOptions): Promise<void> {
    if (this.pauseNextLogFile && key.includes('/CloudTrail/')) {
      this.pauseNextLogFile = false;
      await new Promise<void>((go) => {
        this.paused = { key, go };
        this.onPaused?.(key);
      });
    }
    await this.inner.putObject(bucket, key, body, opts);
    this.writes.push({ node: this.node, key, body });
  }
}

interface Backend {
  name: string;
  /** One control store and two lease stores (two nodes) on one database. */
  open(): Promise<{ control: ControlStore; leases: [LeaseStore, LeaseStore]; close(): Promise<void> }>;
}

/** Every .json.gz object under the bucket root, by path relative to it. */
function files(root: string): Map<string, Buffer> {
  return new Map(filesBelow(root).filter((p) => p.endsWith('.json.gz')).map((p) => [relative(root, p), readFileSync(p)]));
}

/** What the nodes were doing, for a timeout's message. */
let describeState: () => Promise<string> = async () => '';

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; ${await describeState()}`);
    await sleep(50);
  }
}

function runScenario(backend: Backend): void {
  test(`${backend.name}: two nodes split the trails; a node killed mid-batch is taken over; every event once, digest chains valid`, async (ctx: TestContext) => {
    const dir = mkdtempSync(join(tmpdir(), 'ot-leases-'));
    const root = join(dir, 'buckets');
    mkdirSync(join(root, BUCKET), { recursive: true });
    const events = new SqliteEventStore({ path: join(dir, 'events.db') });
    const db = await backend.open();
    const { control } = db;
    const writes: { node: string; key: string; body: Buffer }[] = [];
    const kek = ephemeralKek(); // the deployment's key-encryption key, the same on every node
    const errors: string[] = [];
    const nodes = (['node-a', 'node-b'] as const).map((name, i) => {
      const keeper = new LeaseKeeper(db.leases[i]!, { holder: name, ttlMs: TTL_MS, logError: (m) => errors.push(`${name}: ${m}`) });
      const bucket = new NodeBucket(new FsObjectStore(root), name, writes);
      const logError = (m: string, e?: unknown) => errors.push(`${name}: ${m}${e === undefined ? '' : `: ${String(e)}`}`);
      const keys = new SigningKeyStore(control, { kek, leases: keeper });
      const worker = new DeliveryWorker({ events, control, objects: bucket, clock: systemClock, logError, leases: keeper }, { maxAgeMs: 150, maxBytes: 6000, pollMs: 100, readBatch: 40, regions: [REGION] });
      const digests = new DigestJob({ control, objects: bucket, keys, clock: systemClock, logError, leases: keeper }, { periodMs: DIGEST_PERIOD_MS, regions: [REGION] });
      return { name, keeper, bucket, keys, worker, digests };
    });
    const [a, b] = nodes as [typeof nodes[number], typeof nodes[number]];
    describeState = async () => JSON.stringify({
      errors, leases: await db.leases[1].list(''),
      states: await Promise.all(TRAILS.map((t) => control.get(DELIVERY_STATE_KIND, `arn:aws:cloudtrail:${REGION}:${A}:trail/${t}`))),
      lastWrites: writes.slice(-6).map((w) => [w.node, w.key]),
    });
    const startMs = Date.now();
    const trails: TrailDoc[] = [];
    for (const name of TRAILS) {
      const t: TrailDoc = {
        Name: name, accountId: A, HomeRegion: REGION, TrailARN: `arn:aws:cloudtrail:${REGION}:${A}:trail/${name}`, S3BucketName: BUCKET, S3KeyPrefix: name,
        IncludeGlobalServiceEvents: true, IsMultiRegionTrail: false, LogFileValidationEnabled: true, IsOrganizationTrail: false, tags: [],
        isLogging: true, createdMs: startMs, startLoggingTimeMs: startMs, deliverAfterSeq: await events.lastSeq(),
      };
      await control.put(TRAIL_KIND, trailKey(A, REGION, name), t);
      trails.push(t);
    }
    const ids: string[] = [];
    let ingesting = true;
    const ingest = (async () => {
      for (let round = 0; ingesting || round < 20; round++) {
        const inputs = Array.from({ length: 15 }, (_, i) => {
          const r = normalizeRecord({ eventSource: 'ec2.amazonaws.com', eventName: `Run${round}x${i}`, awsRegion: REGION, recipientAccountId: A }, { defaultAccountId: A, defaultRegion: REGION, nowMs: Date.now(), ids: randomIds });
          assert.ok(r.ok);
          return toAppendInput(r.value);
        });
        await events.append(inputs);
        ids.push(...inputs.map((x) => x.eventId));
        await sleep(40);
      }
    })();
    try {
      // Both nodes are up (their heartbeat leases) before either takes work.
      for (const n of nodes) await n.keeper.share('delivery', []);
      for (const n of nodes) {
        n.keeper.start();
        n.worker.start();
        n.digests.start();
      }
      // Phase 1: both nodes deliver, each trail by one node.
      const writer = (key: string) => TRAILS.find((t) => key.startsWith(`${BUCKET}/${t}/`) || key.startsWith(`${t}/`));
      await until('both nodes delivering', () => new Set(writes.filter((w) => w.key.includes('/CloudTrail/')).map((w) => w.node)).size === 2);
      await sleep(500);
      // Each lease group is split on its own (a trail's log files and its digests are two leases,
      // which two nodes may hold, as whichever node's pass came first took them), so one writer is
      // asked per trail and kind of file.
      const byLease = new Map<string, Set<string>>();
      for (const w of writes) {
        const lease = `${writer(w.key)!} ${w.key.includes('/CloudTrail-Digest/') ? 'digests' : 'log files'}`;
        if (!byLease.has(lease)) byLease.set(lease, new Set());
        byLease.get(lease)!.add(w.node);
      }
      for (const [lease, who] of byLease) assert.equal(who.size, 1, `${lease} written by one node before the kill, not ${[...who].join(', ')}; ${await describeState()}`);
      const aTrails = [...byLease].filter(([lease, who]) => lease.endsWith(' log files') && who.has('node-a')).map(([lease]) => lease.slice(0, -' log files'.length));
      assert.ok(aTrails.length > 0 && aTrails.length < TRAILS.length, `trails split between the nodes: node-a has ${aTrails.join(', ')}`);

      // Phase 2: node-a stops in the middle of a batch (intent recorded, file not written) and dies:
      // nothing released, nothing flushed, no renewal.
      const paused = a.bucket.whenPaused();
      a.bucket.pauseNextLogFile = true;
      const stuckKey = await paused;
      a.keeper.abandon();
      const killedAt = Date.now();
      const stuckTrail = writer(stuckKey)!;
      // node-b takes the trail over and writes the batch node-a was writing, under the same key.
      await until('node-b writing the batch node-a was writing', () => writes.some((w) => w.node === 'node-b' && w.key === stuckKey));
      const takeoverMs = Date.now() - killedAt;
      for (const t of aTrails) await until(`node-b delivering ${t}`, () => writes.some((w) => w.node === 'node-b' && writer(w.key) === t && w.key.includes('/CloudTrail/')));
      ctx.diagnostic(`takeover of ${stuckTrail} after ${takeoverMs} ms (lease ${TTL_MS} ms)`);

      // Phase 3: ingest ends; node-b delivers everything.
      ingesting = false;
      await ingest;
      const last = await events.lastSeq();
      await until('every trail delivered to the end of the log', async () => {
        for (const t of trails) {
          const s = await control.get<DeliveryState>(DELIVERY_STATE_KIND, t.TrailARN);
          if (!s || s.cursor < last || s.intent) return false;
        }
        return true;
      });
      const cursors = await Promise.all(trails.map((t) => control.get<DeliveryState>(DELIVERY_STATE_KIND, t.TrailARN)));

      // Phase 4: node-a wakes up (a paused process): its late write is the same bytes again, and its
      // cursor move is refused by the fence.
      const before = files(root).get(join(BUCKET, stuckKey));
      a.bucket.resume();
      await until('node-a told that it lost its lease', () => errors.some((e) => e.startsWith('node-a: delivery for') && e.includes('lost its lease')));
      await a.worker.stop();
      await a.digests.stop();
      assert.ok(before && before.equals(files(root).get(join(BUCKET, stuckKey))!), 'the late write is byte-identical');
      assert.deepEqual(await Promise.all(trails.map((t) => control.get<DeliveryState>(DELIVERY_STATE_KIND, t.TrailARN))), cursors, 'no cursor moved by the dead node');

      // Phase 5: digests up to a period after the last file; node-b writes them.
      await sleep(DIGEST_PERIOD_MS + 200);
      // A tick asked for while the timer's pass runs shares that pass, which may have begun before
      // the last files were confirmed (a pass can outlast the sleep on a loaded machine: 29 of 40
      // files were in the chain once); the second tick is a pass begun after the sleep.
      await b.digests.tick();
      await b.digests.tick();
      await b.worker.stop();
      await b.digests.stop();
      await b.keeper.stop();

      // Every event of each trail exactly once in its files.
      const all = files(root);
      for (const t of TRAILS) {
        const seen: string[] = [];
        for (const [key, body] of all) {
          if (!key.startsWith(join(BUCKET, t, 'AWSLogs', A, 'CloudTrail') + '/')) continue;
          for (const r of (JSON.parse(gunzipSync(body).toString('utf8')) as { Records: { eventID: string }[] }).Records) seen.push(r.eventID);
        }
        assert.equal(seen.length, ids.length, `${t}: ${seen.length} records for ${ids.length} events`);
        assert.deepEqual(new Set(seen), new Set(ids), `${t}: every event, once`);
      }
      // And every trail's digest chain validates, with every log file in it.
      const reader = new FsBucketReader(root);
      const keys = await b.keys.allKeys();
      for (const t of trails) {
        const problems: ValidationEvent[] = [];
        const summary = await validateLogs({
          trailArn: t.TrailARN, startMs, endMs: Date.now(), bucket: BUCKET, prefix: t.S3KeyPrefix, reader,
          keys: { listPublicKeys: async () => keys.map((k) => ({ fingerprint: k.fingerprint, value: k.publicKeyDer })) },
        }, (e) => {
          if ((e.kind === 'digest' || e.kind === 'log') && !e.valid) problems.push(e);
        });
        assert.deepEqual(problems, [], `${t.Name}: validate-logs problems`);
        assert.ok(summary.validDigests > 0 && summary.validLogs > 0, `${t.Name}: ${JSON.stringify(summary)}`);
        assert.equal(summary.validLogs, [...all.keys()].filter((k) => k.startsWith(join(BUCKET, t.Name, 'AWSLogs', A, 'CloudTrail') + '/')).length, `${t.Name}: every log file is in the chain`);
      }
      assert.deepEqual(errors.filter((e) => !e.includes('lost its lease')), [], 'no other failure on either node');
    } finally {
      ingesting = false;
      await ingest.catch(() => undefined);
      for (const n of nodes) {
        n.bucket.resume();
        await n.worker.stop().catch(() => undefined);
        await n.digests.stop().catch(() => undefined);
        n.keeper.abandon();
      }
      await db.close();
      await events.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

runScenario({
  name: 'SQLite (two connections to control.db)',
  open: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ot-leases-db-'));
    const path = join(dir, 'control.db');
    const control = new SqliteControlStore(path);
    const leases: [LeaseStore, LeaseStore] = [new SqliteLeaseStore(path), new SqliteLeaseStore(path)];
    return {
      control, leases,
      close: async () => {
        for (const l of leases) await l.close();
        await control.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});

describe('PostgreSQL', () => {
  let pg: StartedPostgres;
  before(async () => {
    pg = await startPostgres();
  });
  after(async () => {
    await pg?.destroy();
  });
  runScenario({
    name: 'PostgreSQL (one pool per node)',
    open: async () => {
      const url = await pg.createDatabase('leases');
      const controlPool = openPool(url);
      const control = await PgControlStore.open(controlPool);
      const leases: [LeaseStore, LeaseStore] = [await PgLeaseStore.open(openPool(url), { ownsPool: true }), await PgLeaseStore.open(openPool(url), { ownsPool: true })];
      return {
        control, leases,
        close: async () => {
          for (const l of leases) await l.close();
          await control.close();
          await controlPool.end().catch(() => undefined);
        },
      };
    },
  });
});
