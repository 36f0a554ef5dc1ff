/**
 * The pruning job: Event history keeps `retentionDays` of events (by eventTime), and the event
 * log keeps events for as long after their ingestion. Runs on an interval; never overlaps itself
 * (src/core/periodic-job.ts).
 */
import { DAY_MS, PeriodicJob, type Clock } from '../core/index.ts';
import type { EventStore } from '../stores/index.ts';

export interface RetentionJob {
  runOnce(): Promise<{ historyRows: number; events: number }>;
  /** No more runs; resolves once a run in progress ended. */
  stop(): Promise<void>;
}

export function startRetentionJob(store: EventStore, clock: Clock, retentionDays: number, intervalMs: number, onError: (e: unknown) => void): RetentionJob {
  const job = new PeriodicJob(() => {
    const cutoffMs = clock.nowMs() - retentionDays * DAY_MS;
    return store.prune(Math.floor(cutoffMs / 1000), cutoffMs);
  }, { everyMs: intervalMs, onError });
  job.start();
  return { runOnce: () => job.run(), stop: () => job.stop() };
}
