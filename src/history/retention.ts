/**
 * The pruning job: Event history keeps `retentionDays` of events (by eventTime), and the event
 * log keeps events for as long after their ingestion. Runs on an interval; never overlaps itself
 * (src/core/periodic-job.ts). With several nodes on one database it runs on one of them: the node
 * holding the lease `job/retention` (kept while it runs; another node takes it over when that node
 * stops or dies). Pruning is idempotent, so no write of it needs fencing.
 */
import { DAY_MS, PeriodicJob, type Clock } from '../core/index.ts';
import type { EventStore } from '../stores/index.ts';
import type { LeaseKeeper } from '../stores/lease-keeper.ts';

/** The lease of the retention job: one node of a deployment prunes. */
export const RETENTION_LEASE = 'job/retention';

export interface RetentionJob {
  /** Prunes now (when this node holds the job's lease); what it pruned. */
  runOnce(): Promise<{ historyRows: number; events: number }>;
  /** No more runs; resolves once a run in progress ended. */
  stop(): Promise<void>;
}

export function startRetentionJob(store: EventStore, clock: Clock, retentionDays: number, intervalMs: number, onError: (e: unknown) => void, leases?: LeaseKeeper): RetentionJob {
  const job = new PeriodicJob(async () => {
    if (leases && !(await leases.claim(RETENTION_LEASE))) return { historyRows: 0, events: 0 };
    const cutoffMs = clock.nowMs() - retentionDays * DAY_MS;
    return store.prune(Math.floor(cutoffMs / 1000), cutoffMs);
  }, { everyMs: intervalMs, onError });
  job.start();
  return { runOnce: () => job.run(), stop: () => job.stop() };
}
