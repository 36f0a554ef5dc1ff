/**
 * The Insights analysis over real stores (SQLite event log and control store, the real Ingester),
 * on a clock the test moves: steady counts start nothing, a burst gives one Start and one End; a
 * Start decided while the event store refuses writes is kept (pending) and stored by the next
 * analysis (a restart), once; a second analysis on the same state never emits a second Start.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { normalizeRecord, randomIds, trailKey, TRAIL_KIND, type CloudTrailRecord, type TrailDoc } from '../core/index.ts';
import { Ingester, toAppendInput } from '../ingest/index.ts';
import { SqliteControlStore, SqliteEventStore } from '../stores/sqlite/index.ts';
import { StoreUnavailableError, type AppendInput } from '../stores/index.ts';
import { InsightsAnalysis, type AnalysisState } from './analysis.ts';
import { ANALYSIS_KEY, INSIGHTS_STATE_KIND } from './series.ts';

const A = '111111111111';
const I = 1000;
const T0 = 1_800_000_000_000;

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'ot-insights-'));
  const events = new SqliteEventStore({ path: join(dir, 'events.db') });
  const control = new SqliteControlStore(join(dir, 'control.db'));
  const t: TrailDoc = {
    Name: 'audit', accountId: A, HomeRegion: 'us-east-1', TrailARN: `arn:aws:cloudtrail:us-east-1:${A}:trail/audit`, S3BucketName: 'b',
    IncludeGlobalServiceEvents: true, IsMultiRegionTrail: false, LogFileValidationEnabled: false, IsOrganizationTrail: false, tags: [],
    isLogging: true, createdMs: T0, startLoggingTimeMs: T0, insightSelectors: [{ InsightType: 'ApiCallRateInsight', EventCategories: ['Management'] }],
  };
  await control.put(TRAIL_KIND, trailKey(A, 'us-east-1', 'audit'), t);
  const clock = { ms: T0, nowMs() { return this.ms; } };
  let refuse = false;
  const ingester = new Ingester({
    ...events,
    append: (inputs: readonly AppendInput[]) => (refuse ? Promise.reject(new StoreUnavailableError('disk full (test)', new Error('full'))) : events.append(inputs)),
  } as unknown as SqliteEventStore, { maxBatchEvents: 1000, log: () => undefined });
  const analysis = () => new InsightsAnalysis(
    { events, control, ingester, clock, ids: randomIds, logError: () => undefined },
    { intervalMs: I, baselineWindowMs: 30_000, minimumBaselineMs: 3000, regions: ['us-east-1'], pollMs: 60_000, readBatch: 100, maxEventsPerPass: 10_000 },
  );
  const add = async (n: number, atMs: number) => {
    const inputs = Array.from({ length: n }, () => {
      const r = normalizeRecord({ eventSource: 'ec2.amazonaws.com', eventName: 'RunInstances', readOnly: false, eventTime: new Date(atMs).toISOString(), awsRegion: 'us-east-1', recipientAccountId: A, userIdentity: { arn: `arn:aws:iam::${A}:user/u` } }, { defaultAccountId: A, defaultRegion: 'us-east-1', nowMs: atMs, ids: randomIds });
      assert.ok(r.ok);
      return toAppendInput(r.value);
    });
    await events.append(inputs);
  };
  const insights = async (): Promise<CloudTrailRecord[]> => (await events.readAfter(0, 100_000)).map((r) => JSON.parse(r.json) as CloudTrailRecord).filter((r) => r.eventType === 'AwsCloudTrailInsight');
  return { events, control, clock, analysis, add, insights, refuse: (v: boolean) => (refuse = v) };
}

test('steady, burst, a Start kept while the store refuses it and stored once after a restart, then one End', async () => {
  const s = await setup();
  let a = s.analysis();
  await a.tick();
  // One second at a time: 2 calls in second k, the analysis run two seconds later (the interval closed).
  const second = async (k: number, n: number) => {
    await s.add(n, T0 + k * I + 100);
    s.clock.ms = T0 + (k + 2) * I + 50;
    await a.tick();
  };
  for (let k = 0; k < 10; k++) await second(k, 2);
  assert.deepEqual(await s.insights(), []);
  // The burst's Start is decided while the event store refuses writes: kept, not lost.
  s.refuse(true);
  await second(10, 20);
  const held = await s.control.get<AnalysisState>(INSIGHTS_STATE_KIND, ANALYSIS_KEY);
  assert.equal(held?.pending.length, 1);
  assert.equal(held?.failure?.code, 'StoreUnavailable');
  assert.deepEqual(await s.insights(), []);
  // A restarted analysis (a new instance over the same stores) stores it.
  s.refuse(false);
  a = s.analysis();
  await a.tick();
  const starts = await s.insights();
  assert.equal(starts.length, 1);
  assert.equal((starts[0]!.insightDetails as { state: string }).state, 'Start');
  // Another instance, the same state: nothing decided twice.
  await s.analysis().tick();
  assert.equal((await s.insights()).length, 1);
  await second(11, 20);
  await second(12, 2);
  const all = await s.insights();
  assert.deepEqual(all.map((r) => (r.insightDetails as { state: string }).state), ['Start', 'End']);
  assert.equal(all[0]!.sharedEventID, all[1]!.sharedEventID);
  const stats = (all[1]!.insightDetails as { insightContext: { statistics: Record<string, unknown> } }).insightContext.statistics;
  assert.deepEqual(stats.insight, { average: 20 });
  assert.equal(stats.insightDuration, 2);
  await s.events.close();
  await s.control.close();
});
