/**
 * Lake retention: each event data store keeps `RetentionPeriod` days of events by eventTime, dropped
 * a whole `eventDate=` partition at a time (a day goes once all of it is older than the period); a
 * store PENDING_DELETION for 7 days goes with its files, its ingestion state and its resource
 * policy. One node runs it (lease `job/lake-retention`); every step is idempotent.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DAY_MS, EVENT_DATA_STORE_KIND, eventDataStoreKey, LAKE_INGEST_STATE_KIND, PENDING_DELETION_DAYS, PeriodicJob, RESOURCE_POLICY_KIND,
  type Clock, type EventDataStoreDoc,
} from '../../core/index.ts';
import type { ControlStore } from '../../stores/index.ts';
import type { LeaseKeeper } from '../../stores/lease-keeper.ts';
import { storeDir } from '../layout.ts';

export const LAKE_RETENTION_LEASE = 'job/lake-retention';

export interface LakeRetentionResult {
  partitions: number;
  stores: number;
}

/** The partitions (`eventDate=YYYY-MM-DD` folder names) of a store that retention drops at `nowMs`. */
export function expiredPartitions(names: readonly string[], retentionDays: number, nowMs: number): string[] {
  const cutoff = new Date(nowMs - retentionDays * DAY_MS).toISOString().slice(0, 10);
  return names.filter((n) => /^eventDate=\d{4}-\d{2}-\d{2}$/.test(n) && n.slice('eventDate='.length) < cutoff);
}

export async function runLakeRetention(control: ControlStore, root: string, nowMs: number): Promise<LakeRetentionResult> {
  const out: LakeRetentionResult = { partitions: 0, stores: 0 };
  for (const { doc: s } of await control.list<EventDataStoreDoc>(EVENT_DATA_STORE_KIND, '')) {
    const dir = join(root, storeDir(s.accountId, s.storeId));
    if (s.Status === 'PENDING_DELETION' && s.pendingSinceMs !== undefined && nowMs - s.pendingSinceMs >= PENDING_DELETION_DAYS * DAY_MS) {
      // Files first: a crash between leaves a store document whose deletion is done again.
      await rm(dir, { recursive: true, force: true });
      const key = eventDataStoreKey(s.accountId, s.storeId);
      await control.putMany([], {
        deletes: [
          { kind: EVENT_DATA_STORE_KIND, key }, { kind: LAKE_INGEST_STATE_KIND, key },
          { kind: RESOURCE_POLICY_KIND, key: `${s.accountId}/${s.EventDataStoreArn}` },
        ],
      });
      out.stores++;
      continue;
    }
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const p of expiredPartitions(names, s.RetentionPeriod, nowMs)) {
      await rm(join(dir, p), { recursive: true, force: true });
      out.partitions++;
    }
  }
  return out;
}

export interface LakeRetentionJob {
  runOnce(): Promise<LakeRetentionResult>;
  stop(): Promise<void>;
}

export function startLakeRetentionJob(control: ControlStore, root: string, clock: Clock, intervalMs: number, onError: (e: unknown) => void, leases?: LeaseKeeper): LakeRetentionJob {
  const job = new PeriodicJob(async () => {
    if (leases && !(await leases.claim(LAKE_RETENTION_LEASE))) return { partitions: 0, stores: 0 };
    return runLakeRetention(control, root, clock.nowMs());
  }, { everyMs: intervalMs, onError });
  job.start();
  return { runOnce: () => job.run(), stop: () => job.stop() };
}
