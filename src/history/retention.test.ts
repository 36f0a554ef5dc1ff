/**
 * The retention job with several nodes (two jobs, each with its own lease keeper, over one event
 * store and one control.db): only the node holding `job/retention` prunes; when it stops, the
 * other takes the job over.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DAY_MS, normalizeRecord, randomIds } from '../core/index.ts';
import { toAppendInput } from '../ingest/index.ts';
import { SqliteEventStore, SqliteLeaseStore } from '../stores/sqlite/index.ts';
import { LeaseKeeper } from '../stores/lease-keeper.ts';
import { startRetentionJob } from './retention.ts';

const A = '111111111111';
const dir = mkdtempSync(join(tmpdir(), 'opentrail-retention-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('one node of a deployment prunes: the one holding job/retention; the other takes over when it stops', async () => {
  const nowMs = Date.now() - 100 * DAY_MS;
  const events = new SqliteEventStore({ path: join(dir, 'events.db'), nowMs: () => nowMs });
  const append = async (n: number) => {
    const inputs = Array.from({ length: n }, () => {
      const r = normalizeRecord({ eventSource: 'ec2.amazonaws.com', eventName: 'RunInstances', awsRegion: 'us-east-1', recipientAccountId: A, eventTime: new Date(nowMs).toISOString() }, { defaultAccountId: A, defaultRegion: 'us-east-1', nowMs, ids: randomIds });
      assert.ok(r.ok);
      return toAppendInput(r.value);
    });
    await events.append(inputs);
  };
  const stores = [new SqliteLeaseStore(join(dir, 'control.db')), new SqliteLeaseStore(join(dir, 'control.db'))];
  const keepers = stores.map((s, i) => new LeaseKeeper(s, { holder: `node-${i}`, ttlMs: 60_000, logError: () => undefined }));
  const clock = { nowMs: () => Date.now() };
  const jobs = keepers.map((k) => startRetentionJob(events, clock, 90, 3_600_000, (e) => assert.fail(String(e)), k));
  try {
    await append(5);
    const first = await jobs[0]!.runOnce();
    assert.equal(first.events, 5, 'the first node to run holds the job and prunes');
    await append(3);
    assert.deepEqual(await jobs[1]!.runOnce(), { historyRows: 0, events: 0 }, 'the other node does not run it');
    assert.equal(await events.count(), 3);
    await jobs[0]!.stop();
    await keepers[0]!.stop(); // gives the lease back
    assert.equal((await jobs[1]!.runOnce()).events, 3, 'taken over');
    assert.equal(await events.count(), 0);
  } finally {
    for (const j of jobs) await j.stop();
    for (const k of keepers) k.abandon();
    for (const s of stores) await s.close();
    await events.close();
  }
});
