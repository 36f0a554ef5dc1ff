/**
 * The record arena's memory and a trail that delivers few of the records others deliver: its open
 * batch must not keep alive every shared chunk its few records landed in (a catch-up pass or a
 * batch open for maxAgeMs would otherwise hold every record any trail admitted meanwhile).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { normalizeRecord, randomIds, trailKey, TRAIL_KIND, type TrailDoc } from '../core/index.ts';
import { toAppendInput } from '../ingest/index.ts';
import { SqliteControlStore, SqliteEventStore } from '../stores/sqlite/index.ts';
import { FsObjectStore } from '../stores/fs/index.ts';
import { DeliveryWorker } from './worker.ts';
import { RecordArena, type RecordRef } from './log-file.ts';

const A = '111111111111';
const B = '222222222222';

function deliveredIds(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.endsWith('.json.gz')) out.push(...(JSON.parse(gunzipSync(readFileSync(p)).toString()) as { Records: { eventID: string }[] }).Records.map((r) => r.eventID));
    }
  };
  walk(root);
  return out.sort();
}

test('a sparse trail\'s open batch pins about its own bytes of shared memory, not every chunk of the pass; its file is the same', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ot-arena-'));
  for (const b of ['bucket-busy', 'bucket-sparse']) mkdirSync(join(dir, 'buckets', b), { recursive: true });
  const events = new SqliteEventStore({ path: join(dir, 'events.db') });
  const control = new SqliteControlStore(join(dir, 'control.db'));
  try {
    const trail = async (Name: string, accountId: string): Promise<TrailDoc> => {
      const doc: TrailDoc = {
        TrailARN: `arn:aws:cloudtrail:us-east-1:${accountId}:trail/${Name}`, S3BucketName: `bucket-${Name}`,
        IncludeGlobalServiceEvents: true, IsMultiRegionTrail: false, LogFileValidationEnabled: false, IsOrganizationTrail: false, tags: [],
        isLogging: true, createdMs: Date.now(), startLoggingTimeMs: Date.now(), accountId, HomeRegion: 'us-east-1', Name, deliverAfterSeq: 0,
      };
      await control.put(TRAIL_KIND, trailKey(accountId, 'us-east-1', Name), doc);
      return doc;
    };
    await trail('busy', A);
    const sparse = await trail('sparse', B);
    // One event in ten is account B's: every arena chunk holds some of them.
    const sparseIds: string[] = [];
    const inputs = Array.from({ length: 2000 }, (_, i) => {
      const account = i % 10 === 9 ? B : A;
      const r = normalizeRecord(
        { eventSource: 'ec2.amazonaws.com', eventName: 'RunInstances', awsRegion: 'us-east-1', recipientAccountId: account, requestParameters: { pad: 'x'.repeat(400) } },
        { defaultAccountId: account, defaultRegion: 'us-east-1', nowMs: Date.now(), ids: randomIds },
      );
      assert.ok(r.ok);
      if (account === B) sparseIds.push(r.value.record.eventID);
      return toAppendInput(r.value);
    });
    await events.append(inputs);

    const w = new DeliveryWorker(
      { events, control, objects: new FsObjectStore(join(dir, 'buckets')), clock: { nowMs: () => Date.now() }, logError: () => undefined },
      { maxAgeMs: 3_600_000, maxBytes: 1 << 24, pollMs: 60_000, readBatch: 100, regions: ['us-east-1'] },
    );
    // Small chunks, so that the pass writes many of them.
    const chunkBytes = 16 * 1024;
    (w as unknown as { arena: RecordArena }).arena = new RecordArena(chunkBytes);
    await w.tick(false);
    const ob = (w as unknown as { open: Map<string, { admitted: RecordRef[] }> }).open.get(sparse.TrailARN);
    assert.ok(ob, 'the sparse trail\'s batch is kept open (not due yet)');
    assert.equal(ob.admitted.length, sparseIds.length);
    let own = 0;
    const pinned = new Set<SharedArrayBuffer>();
    for (const r of ob.admitted) {
      own += r.len;
      pinned.add(r.sab);
    }
    let pinnedBytes = 0;
    for (const s of pinned) pinnedBytes += s.byteLength;
    assert.ok(pinnedBytes <= 3 * own + 4 * chunkBytes, `the sparse batch's ${own} bytes pin ${pinnedBytes} bytes of shared memory (${pinned.size} buffers)`);

    await w.tick(true);
    assert.deepEqual(deliveredIds(join(dir, 'buckets', 'bucket-sparse')), sparseIds.sort());
    assert.equal(deliveredIds(join(dir, 'buckets', 'bucket-busy')).length, 2000 - sparseIds.length);
  } finally {
    await events.close();
    await control.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
