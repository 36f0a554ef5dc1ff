/**
 * Lake compaction: the small Parquet files that ingestion (a file per batch, up to one a minute) and
 * imports write into a store's day partitions are merged, in the background, into large ones, so
 * that a query pays the per-file cost (footer, sidecar, open) of a few files a day, not 1,440.
 *
 * One compaction takes some live files of one partition (its inputs) and:
 *   1. writes one output with DuckDB into the store's `.compact-<token>/` folder (row groups of
 *      LAKE_ROW_GROUP_SIZE, the writer's encoding, the inputs' rows in their order), checks it has
 *      exactly the inputs' rows, and writes its eventID sidecar and its manifest (the inputs'
 *      names), each fsynced;
 *   2. renames the manifest, then the sidecar, into the partition; then, while this node still
 *      holds the store's lease, the output (the swap: src/lake/storage/live-files.ts); fsyncs the
 *      partition;
 *   3. once every query that may have listed the inputs has ended (`deleteAfterMs` after the swap:
 *      lakeQueries.timeoutMs + lake.compaction.graceMs), deletes the inputs and their sidecars and
 *      marks the manifest, and as long again after, deletes the manifest.
 * A crash at any point leaves either the inputs live (before the swap: the output's folder and an
 * orphan manifest are removed later) or the output live (after it: the inputs are ruled out by the
 * manifest until they are deleted), never both or neither.
 *
 * Which files: a file smaller than `targetBytes` that is live, is not a compaction output that
 * still has its manifest, and is not part of a batch its writer may write again (ingestion's
 * pending intent, an import's pending batch: a rewrite of the same name after its file was
 * compacted would add its events twice). A partition that had no new file for `settleMs` has all
 * its small files merged (groups of about `targetBytes`); a partition still being written merges
 * only groups of at least `minFiles` files (or `targetBytes`), so a day's file per minute is not
 * rewritten at every pass.
 *
 * Several nodes: a store is compacted by the node holding its lease (`lake-compact/<store ARN>`,
 * shared out as ingestion's are); the swap and the deletions happen only while this node still
 * holds it. Retention drops whole partitions as before; expired partitions and stores pending
 * deletion are not compacted.
 */
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { DuckDBConnection } from '@duckdb/node-api';
import {
  EVENT_DATA_STORE_KIND, eventDataStoreKey, LAKE_INGEST_STATE_KIND, PeriodicJob,
  type Clock, type EventDataStoreDoc, type LakeIngestState,
} from '../../core/index.ts';
import type { ControlStore, Fence } from '../../stores/index.ts';
import type { LeaseKeeper } from '../../stores/lease-keeper.ts';
import { expiredPartitions } from '../ingest/retention.ts';
import { IMPORT_KIND, type ImportDoc } from '../import/engine.ts';
import { LAKE_ROW_GROUP_SIZE, storeDir } from '../layout.ts';
import { eventIdIndexPath, EVENT_ID_INDEX_SUFFIX, writeEventIdIndex } from '../storage/eventid-index.ts';
import { COMPACTED_PREFIX, liveDataFiles, readManifest, REPLACES_SUFFIX, replacesPath, type ReplacesManifest } from '../storage/live-files.ts';
import { fsyncPath, PARQUET_OPTIONS } from '../storage/writer.ts';

/** The lease group of compaction: lease `lake-compact/<store ARN>`. */
export const LAKE_COMPACT_LEASES = 'lake-compact';

/** Points between the steps of a compaction (test hook: `OPENTRAIL_TEST_COMPACTION_STALL`). */
export type CompactionStep = 'written' | 'published' | 'swapped' | 'deleting';

export interface LakeCompactionOptions {
  /** Absolute folder of the Lake root. */
  root: string;
  /** Files smaller than this are merged, into outputs of about this size. */
  targetBytes: number;
  /** In a partition still being written, a group is merged once it has this many files. */
  minFiles: number;
  /** A partition with no new file for this long has all its small files merged. */
  settleMs: number;
  /** Inputs are deleted this long after the swap (and their manifest as long after that). */
  deleteAfterMs: number;
}

export interface LakeCompactionDeps {
  control: ControlStore;
  clock: Clock;
  /** The DuckDB connection compaction writes with (its own). */
  duck: () => Promise<DuckDBConnection>;
  logError(msg: string, err?: unknown): void;
  leases?: LeaseKeeper;
  /** Awaited between steps (tests stall here to kill the server mid-compaction). */
  step?: (step: CompactionStep) => Promise<void>;
}

export interface CompactionResult {
  /** Outputs swapped in. */
  compactions: number;
  inputFiles: number;
  rows: number;
  bytesIn: number;
  bytesOut: number;
  /** Replaced files deleted (after the grace). */
  deletedFiles: number;
}

const emptyResult = (): CompactionResult => ({ compactions: 0, inputFiles: 0, rows: 0, bytesIn: 0, bytesOut: 0, deletedFiles: 0 });

/** Most inputs of one output (bounds one COPY's file list). */
const MAX_INPUTS = 4096;
const PARTITION = /^eventDate=\d{4}-\d{2}-\d{2}$/;
const TMP_PREFIX = '.compact-';
const sqlString = (s: string): string => `'${s.replaceAll("'", "''")}'`;

export interface CandidateFile {
  name: string;
  bytes: number;
  mtimeMs: number;
}

/**
 * The groups of files to merge in one partition (each becomes one output): `candidates` are its
 * mergeable files; `newestMs` is the newest data file's time of the partition.
 */
export function planPartition(candidates: readonly CandidateFile[], newestMs: number, nowMs: number, o: Pick<LakeCompactionOptions, 'targetBytes' | 'minFiles' | 'settleMs'>): string[][] {
  const settled = nowMs - newestMs >= o.settleMs;
  const pool = candidates.filter((f) => f.bytes < o.targetBytes && (settled || !f.name.startsWith(COMPACTED_PREFIX)))
    .sort((a, b) => a.mtimeMs - b.mtimeMs || (a.name < b.name ? -1 : 1));
  const groups: string[][] = [];
  let group: CandidateFile[] = [];
  let bytes = 0;
  const close = (full: boolean) => {
    if (group.length >= 2 && (settled || full || group.length >= o.minFiles)) groups.push(group.map((f) => f.name));
    group = [];
    bytes = 0;
  };
  for (const f of pool) {
    group.push(f);
    bytes += f.bytes;
    if (bytes >= o.targetBytes || group.length >= MAX_INPUTS) close(true);
    else if (!settled && group.length >= o.minFiles) close(false);
  }
  close(false);
  return groups;
}

/** Whether `name` is a data file of the batch `batch` (the writer names them `<batch>-<n>.parquet`). */
const ofBatch = (name: string, batch: string): boolean => name.startsWith(`${batch}-`) && /^\d+\.parquet$/.test(name.slice(batch.length + 1));

export class LakeCompactor {
  private readonly deps: LakeCompactionDeps;
  private readonly opts: LakeCompactionOptions;
  private stopping = false;
  private conn?: DuckDBConnection;

  constructor(deps: LakeCompactionDeps, opts: LakeCompactionOptions) {
    this.deps = deps;
    this.opts = opts;
  }

  /** Ends the pass in progress at its next step (a COPY under way is interrupted; nothing half-done is published). */
  stop(): void {
    this.stopping = true;
    this.conn?.interrupt();
  }

  /** One pass over every store this node compacts. */
  async runOnce(): Promise<CompactionResult> {
    const out = emptyResult();
    let stores = (await this.deps.control.list<EventDataStoreDoc>(EVENT_DATA_STORE_KIND, '')).map((r) => r.doc).filter((s) => s.Status !== 'PENDING_DELETION');
    const held = await this.deps.leases?.share(LAKE_COMPACT_LEASES, stores.map((s) => s.EventDataStoreArn));
    if (held) stores = stores.filter((s) => held.has(s.EventDataStoreArn));
    for (const s of stores) {
      if (this.stopping) break;
      try {
        await this.compactStore(s, held?.get(s.EventDataStoreArn), out);
      } catch (e) {
        if (this.stopping) break;
        this.deps.logError(`lake compaction of ${s.EventDataStoreArn} failed`, e);
      }
    }
    return out;
  }

  /** This node may still change the store's files (its lease, when there are several nodes). */
  private holds(fence: Fence | undefined): boolean {
    if (this.stopping) return false;
    if (!this.deps.leases || !fence) return !this.deps.leases;
    return this.deps.leases.fence(fence.name)?.token === fence.token;
  }

  private async compactStore(s: EventDataStoreDoc, fence: Fence | undefined, out: CompactionResult): Promise<void> {
    const dir = join(this.opts.root, storeDir(s.accountId, s.storeId));
    const entries = await readdir(dir).catch(() => [] as string[]);
    // A compaction's folder left by a crash (this node holds the store: no other is writing one).
    for (const e of entries.filter((n) => n.startsWith(TMP_PREFIX))) await rm(join(dir, e), { recursive: true, force: true });
    const expired = new Set(expiredPartitions(entries, s.RetentionPeriod, this.deps.clock.nowMs()));
    const parts = entries.filter((n) => PARTITION.test(n) && !expired.has(n)).sort();
    for (const p of parts) {
      if (!this.holds(fence)) return;
      out.deletedFiles += await this.cleanUp(join(dir, p), fence);
    }
    // Listings first, then the writers' pending batches: a file listed here whose batch is not
    // pending below was written by a batch that is done (its writer will not write it again).
    const listed = new Map<string, string[]>();
    for (const p of parts) listed.set(p, await readdir(join(dir, p)).catch(() => [] as string[]));
    const pending = await this.pendingBatches(s);
    for (const [p, names] of listed) {
      if (!this.holds(fence)) return;
      const partDir = join(dir, p);
      const live = await liveDataFiles(partDir, names);
      const withManifest = new Set(names.filter((n) => n.endsWith(REPLACES_SUFFIX)).map((n) => n.slice(0, -REPLACES_SUFFIX.length)));
      const files: CandidateFile[] = [];
      let newestMs = 0;
      for (const name of live) {
        const st = await stat(join(partDir, name)).catch(() => undefined);
        if (!st) continue;
        newestMs = Math.max(newestMs, st.mtimeMs);
        if (withManifest.has(name) || [...pending].some((b) => ofBatch(name, b))) continue;
        files.push({ name, bytes: st.size, mtimeMs: st.mtimeMs });
      }
      for (const group of planPartition(files, newestMs, this.deps.clock.nowMs(), this.opts)) {
        if (!this.holds(fence)) return;
        const bytesIn = group.reduce((n, g) => n + files.find((f) => f.name === g)!.bytes, 0);
        const r = await this.compactGroup(dir, p, group, fence);
        if (!r) return;
        out.compactions++;
        out.inputFiles += group.length;
        out.rows += r.rows;
        out.bytesIn += bytesIn;
        out.bytesOut += r.bytes;
      }
    }
  }

  /** The batch names the store's writers may write again: ingestion's pending intent, imports' pending batches. */
  private async pendingBatches(s: EventDataStoreDoc): Promise<Set<string>> {
    const out = new Set<string>();
    const state = await this.deps.control.get<LakeIngestState>(LAKE_INGEST_STATE_KIND, eventDataStoreKey(s.accountId, s.storeId));
    if (state?.intent) out.add(state.intent.name);
    for (const { doc } of await this.deps.control.list<ImportDoc>(IMPORT_KIND, '')) {
      if (doc.pending && doc.Destinations.includes(s.EventDataStoreArn)) out.add(doc.pending.name);
    }
    return out;
  }

  /** Merges `inputs` of partition `part` into one output and swaps it in; undefined when this node lost the store meanwhile. */
  private async compactGroup(dir: string, part: string, inputs: readonly string[], fence: Fence | undefined): Promise<{ rows: number; bytes: number } | undefined> {
    const token = `${this.deps.clock.nowMs().toString(36)}-${randomBytes(6).toString('hex')}`;
    const name = `${COMPACTED_PREFIX}${token}.parquet`;
    const tmp = join(dir, `${TMP_PREFIX}${token}`);
    const partDir = join(dir, part);
    const tmpOut = join(tmp, name);
    await mkdir(tmp, { recursive: true });
    try {
      const conn = (this.conn = await this.deps.duck());
      const paths = `[${inputs.map((n) => sqlString(join(partDir, n))).join(', ')}]`;
      const expected = await conn.runAndReadAll(`SELECT sum(num_rows)::BIGINT FROM (SELECT any_value(num_rows) AS num_rows FROM parquet_file_metadata(${paths}) GROUP BY file_name)`);
      const want = Number(expected.getRows()[0]?.[0] ?? 0);
      const copied = await conn.run(
        `COPY (SELECT * FROM read_parquet(${paths}, hive_partitioning = false, union_by_name = true))\n` +
          `TO ${sqlString(tmpOut)} (FORMAT parquet, ${PARQUET_OPTIONS}, ROW_GROUP_SIZE ${LAKE_ROW_GROUP_SIZE})`,
      );
      const rows = Number(copied.rowsChanged);
      if (rows !== want) throw new Error(`compaction of ${partDir}: the output has ${rows} rows, its inputs ${want}`);
      await writeEventIdIndex(conn, tmpOut, eventIdIndexPath(tmpOut));
      await this.deps.step?.('written');
      const manifest: ReplacesManifest = { inputs: [...inputs], writtenAtMs: this.deps.clock.nowMs(), holder: fence?.holder ?? 'local' };
      await writeFile(replacesPath(tmpOut), JSON.stringify(manifest));
      for (const f of [replacesPath(tmpOut), eventIdIndexPath(tmpOut), tmpOut]) await fsyncPath(f);
      if (!this.holds(fence)) return undefined;
      // The manifest, then the sidecar, then (the swap) the output.
      await rename(replacesPath(tmpOut), replacesPath(join(partDir, name)));
      await rename(eventIdIndexPath(tmpOut), eventIdIndexPath(join(partDir, name)));
      await this.deps.step?.('published');
      if (!this.holds(fence)) return undefined;
      await rename(tmpOut, join(partDir, name));
      await fsyncPath(partDir);
      await this.deps.step?.('swapped');
      return { rows, bytes: (await stat(join(partDir, name))).size };
    } finally {
      this.conn = undefined;
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /**
   * The manifests of a partition past their time: a swapped output's inputs are deleted
   * `deleteAfterMs` after the swap, its manifest as long after that; a manifest whose output was
   * never swapped in (a crash before) goes with its sidecar. Answers the files deleted.
   */
  private async cleanUp(partDir: string, fence: Fence | undefined): Promise<number> {
    const names = await readdir(partDir).catch(() => [] as string[]);
    const present = new Set(names);
    const now = this.deps.clock.nowMs();
    let deleted = 0;
    for (const m of names.filter((n) => n.startsWith(COMPACTED_PREFIX) && n.endsWith(REPLACES_SUFFIX))) {
      const output = m.slice(0, -REPLACES_SUFFIX.length);
      const path = join(partDir, output);
      const manifest = await readManifest(path);
      if (!manifest || !this.holds(fence)) continue;
      if (!present.has(output)) {
        if (now - manifest.writtenAtMs < this.opts.deleteAfterMs) continue;
        await rm(eventIdIndexPath(path), { force: true });
        await rm(replacesPath(path), { force: true });
        await fsyncPath(partDir);
        continue;
      }
      if (manifest.inputsDeletedAtMs === undefined) {
        if (now - manifest.writtenAtMs < this.opts.deleteAfterMs) continue;
        for (const input of manifest.inputs) {
          if (!this.holds(fence)) return deleted;
          if (present.has(input)) deleted++;
          await rm(join(partDir, input), { force: true });
          await rm(join(partDir, input + EVENT_ID_INDEX_SUFFIX), { force: true });
          await rm(join(partDir, input + REPLACES_SUFFIX), { force: true });
          await this.deps.step?.('deleting');
        }
        await fsyncPath(partDir);
        // Marked, not yet removed: a reader whose listing still had an input must find it.
        const tmp = join(partDir, `.${m}.tmp`);
        await writeFile(tmp, JSON.stringify({ ...manifest, inputsDeletedAtMs: now } satisfies ReplacesManifest));
        await fsyncPath(tmp);
        await rename(tmp, replacesPath(path));
        await fsyncPath(partDir);
      } else if (now - manifest.inputsDeletedAtMs >= this.opts.deleteAfterMs) {
        await rm(replacesPath(path), { force: true });
        await fsyncPath(partDir);
      }
    }
    // A compaction sidecar whose output and manifest are both gone (a crash while removing an orphan).
    for (const n of names.filter((x) => x.startsWith(COMPACTED_PREFIX) && x.endsWith(EVENT_ID_INDEX_SUFFIX))) {
      const output = n.slice(0, -EVENT_ID_INDEX_SUFFIX.length);
      if (!present.has(output) && !present.has(output + REPLACES_SUFFIX)) await rm(join(partDir, n), { force: true });
    }
    return deleted;
  }
}

export interface LakeCompactionJob {
  runOnce(): Promise<CompactionResult>;
  stop(): Promise<void>;
}

/** The compactor on a timer (every `everyMs`); stop ends the pass in progress at its next step. */
export function startLakeCompactionJob(compactor: LakeCompactor, everyMs: number, onError: (e: unknown) => void, onResult?: (r: CompactionResult) => void): LakeCompactionJob {
  const job = new PeriodicJob(async () => {
    const r = await compactor.runOnce();
    onResult?.(r);
    return r;
  }, { everyMs, onError });
  job.start();
  return {
    runOnce: () => job.run(),
    stop: async () => {
      compactor.stop();
      await job.stop();
    },
  };
}

/**
 * The test hook `OPENTRAIL_TEST_COMPACTION_STALL=<step>:<ms>[,<step>:<ms>]`: waits that long at
 * each such step (a crash test kills the server there). Undefined when unset.
 */
export function stallHook(spec: string | undefined): ((step: CompactionStep) => Promise<void>) | undefined {
  if (!spec) return undefined;
  const waits = new Map(spec.split(',').map((p) => p.split(':') as [string, string]).map(([k, v]) => [k, Number(v)]));
  return async (step) => {
    const ms = waits.get(step);
    if (ms) await new Promise((r) => setTimeout(r, ms));
  };
}
