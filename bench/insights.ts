/**
 * BENCH_ONLY=insights: ingest with CloudTrail Insights on versus off, in the same run, alternated
 * (off, on, off, on, ...: BENCH_INSIGHTS_ROUNDS pairs), each run on an empty data dir with one
 * logging trail (so delivery costs the same in both); "on" adds both Insights selectors, so the
 * analysis counts every write and error of the ingested traffic while it is being ingested.
 * After each "on" run: how long the analysis took to reach the end of the log.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CreateTrailCommand, PutInsightSelectorsCommand, StartLoggingCommand } from '@aws-sdk/client-cloudtrail';
import { cloudTrailClient } from '../test/helpers/server.ts';
import { runIngest, type IngestBodies, type IngestResult } from './ingest.ts';
import { BENCH_IDENTITY, log, round } from './lib.ts';
import { REGION } from './gen.ts';

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
  const mean = (on: boolean) => runs.filter((r) => r.insights === on).reduce((a, r) => a + r.eventsPerSecond, 0) / opts.rounds;
  const off = mean(false);
  const on = mean(true);
  return { events: opts.events, rounds: opts.rounds, runs, meanEventsPerSecondOff: Math.round(off), meanEventsPerSecondOn: Math.round(on), onOverOff: round(on / off, 3) };
}
