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
