/**
 * The consumer-lag sources against real SQLite stores: a trail's delivery lag from its cursor and
 * the log's commit times, a validating trail's digest lag from its chains; and the lag gauges as
 * scraped (a deleted trail's series goes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DELIVERY_STATE_KIND, TRAIL_KIND, type DeliveryState, type TrailDoc } from '../core/index.ts';
import { SqliteControlStore, SqliteEventStore } from '../stores/sqlite/index.ts';
import { DIGEST_CHAIN_KIND } from '../delivery/index.ts';
import { deliveryLags, digestLags, ServerMetrics } from './metrics.ts';

const HOUR = 3_600_000;
const arn = (name: string) => `arn:aws:cloudtrail:us-east-1:111111111111:trail/${name}`;
const trail = (name: string, extra: Partial<TrailDoc> = {}): TrailDoc => ({
  Name: name, accountId: '111111111111', HomeRegion: 'us-east-1', TrailARN: arn(name), S3BucketName: 'b', IncludeGlobalServiceEvents: true,
  IsMultiRegionTrail: false, LogFileValidationEnabled: false, IsOrganizationTrail: false, tags: [], isLogging: true, createdMs: 1, ...extra,
});
const ev = (i: number) => ({ accountId: '111111111111', region: 'us-east-1', eventId: `e-${i}`, eventTimeSec: 1_700_000_000, json: `{"eventID":"e-${i}"}` });

async function withStores(fn: (events: SqliteEventStore, control: SqliteControlStore, clock: { ms: number }) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'opentrail-lag-'));
  const clock = { ms: 10 * HOUR };
  const events = new SqliteEventStore({ path: join(dir, 'events.db'), nowMs: () => clock.ms });
  const control = new SqliteControlStore(join(dir, 'control.db'));
  try {
    await fn(events, control, clock);
  } finally {
    await events.close();
    await control.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('delivery lag: events after the cursor, and how long the first of them has waited', async () => {
  await withStores(async (events, control, clock) => {
    await control.put(TRAIL_KIND, 'a', trail('caught-up'));
    await control.put(TRAIL_KIND, 'b', trail('behind'));
    await control.put(TRAIL_KIND, 'c', trail('stopped', { isLogging: false, deliverThroughSeq: 3 }));
    await control.put(TRAIL_KIND, 'd', trail('recreated', { createdMs: 2 }));
    const first = await events.append([ev(1), ev(2), ev(3)]);
    clock.ms += 60_000;
    await events.append([ev(4), ev(5)]);
    clock.ms += 30_000;
    const last = first[2]!.seq + 2;
    await control.put(DELIVERY_STATE_KIND, arn('caught-up'), { trailCreatedMs: 1, cursor: last } satisfies DeliveryState);
    await control.put(DELIVERY_STATE_KIND, arn('behind'), { trailCreatedMs: 1, cursor: first[2]!.seq, latestDeliveryError: 'NoSuchBucket', latestDeliveryAttemptTimeMs: clock.ms - 5000 } satisfies DeliveryState);
    await control.put(DELIVERY_STATE_KIND, arn('stopped'), { trailCreatedMs: 1, cursor: 1 } satisfies DeliveryState);
    // State of an earlier trail of the same name: not this one's (it starts at its deliverAfterSeq, 0).
    await control.put(DELIVERY_STATE_KIND, arn('recreated'), { trailCreatedMs: 1, cursor: last } satisfies DeliveryState);
    const lags = new Map((await deliveryLags(events, control, () => clock.ms)()).map((l) => [l.resource, l]));
    assert.deepEqual(lags.get(arn('caught-up')), { resource: arn('caught-up'), events: 0, seconds: 0, failure: undefined });
    assert.deepEqual(lags.get(arn('behind')), { resource: arn('behind'), events: 2, seconds: 30, failure: { code: 'NoSuchBucket', atMs: clock.ms - 5000 } });
    assert.deepEqual(lags.get(arn('stopped')), { resource: arn('stopped'), events: 2, seconds: 90, failure: undefined }, 'up to where logging stopped');
    assert.equal(lags.get(arn('recreated'))!.events, 5);
  });
});

test('digest lag: how overdue the next digest is, the worst chain of the trail', async () => {
  await withStores(async (_events, control, clock) => {
    clock.ms = 10 * HOUR + 20 * 60_000; // 20 min into a period
    await control.put(TRAIL_KIND, 'a', trail('fresh', { LogFileValidationEnabled: true, startLoggingTimeMs: 10 * HOUR + 60_000 }));
    await control.put(TRAIL_KIND, 'b', trail('on-time', { LogFileValidationEnabled: true }));
    await control.put(TRAIL_KIND, 'c', trail('late', { LogFileValidationEnabled: true }));
    await control.put(TRAIL_KIND, 'd', trail('plain'));
    await control.put(DIGEST_CHAIN_KIND, `${arn('on-time')}|111111111111|us-east-1`, { trailCreatedMs: 1, endMs: 10 * HOUR });
    await control.put(DIGEST_CHAIN_KIND, `${arn('late')}|111111111111|us-east-1`, { trailCreatedMs: 1, endMs: 10 * HOUR });
    await control.put(DIGEST_CHAIN_KIND, `${arn('late')}|111111111111|eu-west-1`, { trailCreatedMs: 1, endMs: 8 * HOUR });
    const lags = new Map((await digestLags(control, HOUR, () => clock.ms)()).map((l) => [l.resource, l.seconds]));
    assert.deepEqual([...lags.keys()].sort(), [arn('fresh'), arn('late'), arn('on-time')], 'validating trails only');
    assert.equal(lags.get(arn('fresh')), 0, 'its first digest is due at the end of this period');
    assert.equal(lags.get(arn('on-time')), 0);
    assert.equal(lags.get(arn('late')), 80 * 60, 'the eu-west-1 digest for 8:00-9:00 was due at 9:00');
  });
});

test('the lag gauges as scraped: one series per consumer and trail, gone with the trail', async () => {
  await withStores(async (events, control, clock) => {
    const metrics = new ServerMetrics({ events, dataDir: tmpdir(), writable: () => true, clock: { nowMs: () => clock.ms } });
    metrics.addConsumer('delivery', deliveryLags(events, control, () => clock.ms));
    await control.put(TRAIL_KIND, 'a', trail('one'));
    await events.append([ev(1)]);
    let text = (await metrics.scrape()).text;
    assert.match(text, new RegExp(`^opentrail_consumer_lag_events\\{consumer="delivery",resource="${arn('one').replace(/[/.]/g, '\\$&')}"\\} 1$`, 'm'));
    assert.match(text, /^opentrail_event_log_events 1$/m);
    await control.delete(TRAIL_KIND, 'a');
    text = (await metrics.scrape()).text;
    assert.doesNotMatch(text, /trail\/one/);
  });
});

test('a store that fails or does not answer leaves its gauges out; the scrape still answers, the writable gauge and counters in it', async () => {
  await withStores(async (events, control, clock) => {
    await control.put(TRAIL_KIND, 'a', trail('one'));
    // The event store never answers its reads (a database that hangs): a real store, its reads held.
    const hung = Object.assign(Object.create(events) as SqliteEventStore, { count: () => new Promise<number>(() => undefined), lastSeq: () => new Promise<number>(() => undefined) });
    // The read time limit bounds every source, the disk's stat and statfs too: at 100 ms those
    // missed it on a loaded CI machine, and the disk gauges were left out as if the disk had hung.
    const metrics = new ServerMetrics({ events: hung, dataDir: tmpdir(), writable: () => false, clock: { nowMs: () => clock.ms }, readTimeoutMs: 1000 });
    metrics.addConsumer('delivery', deliveryLags(hung, control, () => clock.ms));
    metrics.addConsumer('digest', digestLags(control, HOUR, () => clock.ms));
    metrics.committed(3, 0.01, false);
    const text = (await metrics.scrape()).text;
    assert.match(text, /^opentrail_event_store_writable 0$/m);
    assert.match(text, /^opentrail_group_commit_failures_total 1$/m);
    assert.doesNotMatch(text, /^opentrail_event_log_events /m, 'no value rather than a wrong one');
    assert.match(text, /^opentrail_metrics_source_errors_total\{source="event_log"\} 1$/m);
    assert.match(text, /^opentrail_metrics_source_errors_total\{source="delivery"\} 1$/m);
    assert.match(text, /^opentrail_metrics_source_up\{source="event_log"\} 0$/m);
    assert.match(text, /^opentrail_metrics_source_up\{source="digest"\} 1$/m, 'the control store answered');
    assert.match(text, /^opentrail_data_dir_free_bytes \d+$/m, 'the disk is read all the same');
    // A closed store (its reads reject at once) is left out the same way.
    await control.close();
    const again = (await metrics.scrape()).text;
    assert.match(again, /^opentrail_metrics_source_errors_total\{source="digest"\} 1$/m);
    assert.match(again, /^opentrail_event_store_writable 0$/m);
  });
});

/** The control store, its reads counted: how many queries a scrape makes of it. */
function counted(control: SqliteControlStore): { store: SqliteControlStore; calls: { list: number; get: number } } {
  const calls = { list: 0, get: 0 };
  const store = Object.assign(Object.create(control) as SqliteControlStore, {
    list: (kind: string, prefix: string) => {
      calls.list++;
      return control.list(kind, prefix);
    },
    get: (kind: string, key: string) => {
      calls.get++;
      return control.get(kind, key);
    },
  });
  return { store, calls };
}

test('a scrape reads each kind of control document once, whatever the number of trails', async () => {
  await withStores(async (events, control, clock) => {
    for (let i = 0; i < 30; i++) {
      await control.put(TRAIL_KIND, `t${i}`, trail(`t${i}`, { LogFileValidationEnabled: i % 2 === 0 }));
      await control.put(DELIVERY_STATE_KIND, arn(`t${i}`), { trailCreatedMs: 1, cursor: 0, ...(i === 3 ? { latestDeliveryError: 'AccessDenied', latestDeliveryAttemptTimeMs: 5 } : {}) } satisfies DeliveryState);
    }
    await events.append([ev(1)]);
    const { store, calls } = counted(control);
    const lags = await deliveryLags(events, store, () => clock.ms)();
    assert.equal(lags.length, 30);
    assert.deepEqual(lags.find((l) => l.resource === arn('t3'))!.failure, { code: 'AccessDenied', atMs: 5 });
    assert.deepEqual(calls, { list: 2, get: 0 }, 'trails and delivery states, one list each');
    calls.list = 0;
    const digests = await digestLags(store, HOUR, () => clock.ms)();
    assert.equal(digests.length, 15);
    assert.deepEqual(calls, { list: 3, get: 0 }, 'trails, chains and digest statuses, one list each');
  });
});

test('digest lag of a trail that turns validation on long after it started logging: the digest job\'s first period, not days', async () => {
  await withStores(async (_events, control, clock) => {
    clock.ms = 100 * HOUR + 20 * 60_000;
    await control.put(TRAIL_KIND, 'a', trail('old', { LogFileValidationEnabled: true, startLoggingTimeMs: 2 * HOUR }));
    const [lag] = await digestLags(control, HOUR, () => clock.ms)();
    // The job starts the chain one period before now (99:00-100:00), due at 100:00.
    assert.equal(lag!.seconds, 20 * 60);
  });
});
