/**
 * The pruning job: Event history keeps `retentionDays` of events (by eventTime), and the event
 * log keeps events for as long after their ingestion. Runs on an interval; never overlaps itself.
 */
import { DAY_MS, type Clock } from '../core/index.ts';
import type { EventStore } from '../stores/index.ts';

export interface RetentionJob {
  runOnce(): Promise<{ historyRows: number; events: number }>;
  stop(): void;
}

export function startRetentionJob(store: EventStore, clock: Clock, retentionDays: number, intervalMs: number, onError: (e: unknown) => void): RetentionJob {
  let running: Promise<{ historyRows: number; events: number }> | undefined;
  const runOnce = () => {
    running ??= (async () => {
      try {
        const cutoffMs = clock.nowMs() - retentionDays * DAY_MS;
        return await store.prune(Math.floor(cutoffMs / 1000), cutoffMs);
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  const timer = setInterval(() => {
    runOnce().catch(onError);
  }, intervalMs);
  timer.unref();
  return { runOnce, stop: () => clearInterval(timer) };
}
