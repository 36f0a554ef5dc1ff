/**
 * BENCH_ONLY=insights: ingest with CloudTrail Insights on versus off, in the same run, alternated
 * (off, on, off, on, ...: BENCH_INSIGHTS_ROUNDS pairs), each run on an empty data dir with one
 * logging trail (so delivery costs the same in both); "on" adds both Insights selectors, so the
 * analysis counts every write and error of the ingested traffic while it is being ingested.
 * After each "on" run: how long the analysis took to reach the end of the log.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { normalizeRecord, randomIds, trailKey, TRAIL_KIND, type TrailDoc } from '../src/core/index.ts';
import { Ingester, toAppendInput } from '../src/ingest/index.ts';
import { InsightsAnalysis } from '../src/insights/index.ts';
import { SqliteControlStore, SqliteEventStore } from '../src/stores/sqlite/index.ts';
import { CreateTrailCommand, PutInsightSelectorsCommand, StartLoggingCommand } from '@aws-sdk/client-cloudtrail';
import { cloudTrailClient } from '../test/helpers/server.ts';
import { runIngest, type IngestBodies, type IngestResult } from './ingest.ts';
import { BENCH_IDENTITY, log, round } from './lib.ts';
import { ACCOUNT_ID, record, REGION } from './gen.ts';

export interface InsightsBenchOptions {
  events: number;
  batch: number;
  connections: number;
  rounds: number;
  bodies?: IngestBodies;
}

export async function runInsightsBench(opts: InsightsBenchOptions): Promise<Record<string, unknown>> {
  const runs: { insights: boolean; eventsPerSecond: number; serverCores: number; p99Ms: number }[] = [];
  for (let round_ = 0; round_ < opts.rounds; round_++) {
    for (const insights of [false, true]) {
      log(`insights: round ${round_ + 1}, Insights ${insights ? 'on' : 'off'}`);
      const r: IngestResult = await runIngest({
        events: opts.events, batch: opts.batch, connections: opts.connections, bodies: opts.bodies,
        setup: async (url, dataDir) => {
          mkdirSync(join(dataDir, 'buckets', 'bench-trail'), { recursive: true });
          const ct = cloudTrailClient(url, BENCH_IDENTITY, REGION);
          await ct.send(new CreateTrailCommand({ Name: 'bench', S3BucketName: 'bench-trail' }));
          await ct.send(new StartLoggingCommand({ Name: 'bench' }));
          if (insights) await ct.send(new PutInsightSelectorsCommand({ TrailName: 'bench', InsightSelectors: [{ InsightType: 'ApiCallRateInsight' }, { InsightType: 'ApiErrorRateInsight' }] }));
          ct.destroy();
        },
      });
      runs.push({ insights, eventsPerSecond: r.eventsPerSecond, serverCores: r.server.cpuCoresUsed, p99Ms: r.requestLatencyMs.p99 });
    }
  }
  const analysis = await analysisCpu(opts.events);
  const mean = (on: boolean) => runs.filter((r) => r.insights === on).reduce((a, r) => a + r.eventsPerSecond, 0) / opts.rounds;
  const off = mean(false);
  const on = mean(true);
  const serverCpuUsPerEvent = runs.filter((r) => !r.insights).map((r) => (r.serverCores / r.eventsPerSecond) * 1e6);
  const ingestUs = serverCpuUsPerEvent.reduce((a, b) => a + b, 0) / serverCpuUsPerEvent.length;
  return {
    analysis, ingestServerCpuUsPerEvent: round(ingestUs, 1), analysisOverIngestCpu: round(analysis.cpuUsPerEvent / ingestUs, 3),
    events: opts.events, rounds: opts.rounds, runs, meanEventsPerSecondOff: Math.round(off), meanEventsPerSecondOn: Math.round(on), onOverOff: round(on / off, 3) };
}

/**
 * The analysis alone, in this process, over `events` generated records (the ingest runs' kind,
 * spread over the last 24 hours) already in a SQLite event log: CPU and wall time to count them
 * all (from the first pass to the cursor at the end), per event. Robust to a busy disk, unlike
 * the ingest rates above.
 */
export async function analysisCpu(events: number): Promise<{ events: number; cpuUsPerEvent: number; wallMs: number; passes: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'ot-bench-insights-'));
  const store = new SqliteEventStore({ path: join(dir, 'events.db') });
  const control = new SqliteControlStore(join(dir, 'control.db'));
  try {
    const nowMs = Date.now();
    const params = { seed: 4242, count: events, endMs: nowMs - 60_000, spanMs: 24 * 3600 * 1000 };
    const ctx = { defaultAccountId: ACCOUNT_ID, defaultRegion: REGION, nowMs, ids: randomIds };
    const t: TrailDoc = {
      Name: 'bench', accountId: ACCOUNT_ID, HomeRegion: REGION, TrailARN: `arn:aws:cloudtrail:${REGION}:${ACCOUNT_ID}:trail/bench`, S3BucketName: 'b',
      IncludeGlobalServiceEvents: true, IsMultiRegionTrail: false, LogFileValidationEnabled: false, IsOrganizationTrail: false, tags: [],
      isLogging: true, createdMs: nowMs, startLoggingTimeMs: nowMs, insightSelectors: [{ InsightType: 'ApiCallRateInsight', EventCategories: ['Management'] }, { InsightType: 'ApiErrorRateInsight', EventCategories: ['Management'] }],
    };
    await control.put(TRAIL_KIND, trailKey(ACCOUNT_ID, REGION, 'bench'), t);
    const clock = { ms: nowMs, nowMs() { return this.ms; } };
    const analysis = new InsightsAnalysis(
      { events: store, control, ingester: new Ingester(store, { maxBatchEvents: 5000, log: () => undefined }), clock, ids: randomIds, logError: (m, e) => log(`insights analysis: ${m} ${String(e)}`) },
      { intervalMs: 60_000, baselineWindowMs: 7 * 24 * 3600_000, minimumBaselineMs: 36 * 3600_000, regions: [REGION], pollMs: 60_000, readBatch: 2000, maxEventsPerPass: 50_000 },
    );
    await analysis.tick(); // turned on: starts at the end of the (empty) log
    for (let start = 0; start < events; start += 5000) {
      const batch = [];
      for (let i = start; i < Math.min(events, start + 5000); i++) {
        const n = normalizeRecord(record(params, i), ctx);
        if (n.ok) batch.push(toAppendInput(n.value));
      }
      await store.append(batch);
    }
    const last = await store.lastSeq();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let passes = 0;
    for (;;) {
      clock.ms += 60_000; // a commit each pass (once per interval)
      await analysis.tick();
      passes++;
      const st = await control.get<{ cursor: number }>('insights-state', 'analysis');
      if ((st?.cursor ?? 0) >= last || passes > 1000) break;
    }
    const cpu = process.cpuUsage(cpu0);
    const wallMs = performance.now() - t0;
    const cpuUsPerEvent = round((cpu.user + cpu.system) / events, 2);
    log(`insights: the analysis counted ${events} events in ${passes} passes, ${round(wallMs)} ms, ${cpuUsPerEvent} us CPU per event`);
    return { events, cpuUsPerEvent, wallMs: round(wallMs), passes };
  } finally {
    await store.close();
    await control.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
