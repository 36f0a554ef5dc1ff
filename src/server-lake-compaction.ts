/**
 * Composition of Lake compaction (src/lake/compaction, docs/lake.md "Compaction"): its options from
 * the configuration, its own DuckDB (made on first use), the node's leases, and the test hook
 * `OPENTRAIL_TEST_COMPACTION_STALL`.
 */
import type { Clock } from './core/index.ts';
import type { OpenTrailConfig } from './config/index.ts';
import type { ControlStore } from './stores/index.ts';
import type { LeaseKeeper } from './stores/lease-keeper.ts';
import { LakeCompactor, stallHook, startLakeCompactionJob, type LakeCompactionJob } from './lake/compaction/compactor.ts';
import { lazyDuckDB } from './lake/ingest/duck.ts';

export function startLakeCompaction(
  config: OpenTrailConfig,
  deps: { root: string; control: ControlStore; clock: Clock; leases: LeaseKeeper; logError: (msg: string, err?: unknown) => void; env?: NodeJS.ProcessEnv },
): LakeCompactionJob | undefined {
  const c = config.lake.compaction;
  if (!c.enabled) return undefined;
  const duck = lazyDuckDB({ memory_limit: `${c.memoryLimitMiB}MiB`, threads: String(c.threads) });
  const step = stallHook((deps.env ?? process.env).OPENTRAIL_TEST_COMPACTION_STALL);
  const compactor = new LakeCompactor(
    { control: deps.control, clock: deps.clock, duck: duck.connection, logError: deps.logError, leases: deps.leases, ...(step ? { step } : {}) },
    {
      root: deps.root,
      targetBytes: c.targetMiB * 1024 * 1024,
      minFiles: c.minFiles,
      settleMs: c.settleMs,
      deleteAfterMs: config.lakeQueries.timeoutMs + c.graceMs,
    },
  );
  const job = startLakeCompactionJob(compactor, c.intervalMs, (e) => deps.logError('lake compaction failed', e));
  return {
    runOnce: () => job.runOnce(),
    stop: async () => {
      await job.stop();
      duck.close();
    },
  };
}
