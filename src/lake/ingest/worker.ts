/**
 * Lake ingestion: every event data store that ingests is a consumer of the event log with its own
 * cursor (as a trail's delivery is, src/delivery/worker.ts), admitting events by the store's advanced
 * event selectors, Regions and accounts, and channel events (PutAuditEvents) when their channel names
 * the store as a destination. Admitted events are written as Parquet files through `writeLakeFiles`
 * (src/lake/storage/writer.ts): one batch, one file per UTC event day.
 *
 * MUST: a store's cursor moves only after every file of the batch is in place.
 * MUST: a batch written again (retry, crash between the files and the cursor) has the same file
 * names and the same events: its intent (range, name, scope snapshot) is recorded before the files,
 * and a restart rebuilds the batch from the log by it; `writeLakeFiles` replaces files by name.
 * MUST (several nodes): a store is ingested only under its lease (`lake-ingest/<store ARN>`), every
 * control-store write of its ingestion fenced by it.
 *
 * Batches close when their events reach `maxBytes` (uncompressed JSON) or the first has waited
 * `maxAgeMs`, so a busy store writes few large files and a quiet one a file per `maxAgeMs` at most.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import {
  CHANNEL_KIND, compileSelectors, eventCategoryOf, EVENT_DATA_STORE_KIND, eventDataStoreKey, ingestRange, isLoggedSeq, LAKE_INGEST_STATE_KIND, PeriodicJob,
  type ChannelDestinations, type IngestScope, type LakeIngestIntent as IngestIntent, type Clock, type CloudTrailRecord, type EventDataStoreDoc, type LakeIngestState, type OrganizationConfig,
} from '../../core/index.ts';
import { LeaseLostError, type ControlStore, type EventStore, type Fence } from '../../stores/index.ts';
import type { LeaseKeeper } from '../../stores/lease-keeper.ts';
import { writeLakeFiles } from '../storage/writer.ts';

export interface LakeIngestOptions {
  /** Absolute folder of the Lake root. */
  root: string;
  maxAgeMs: number;
  maxBytes: number;
  pollMs: number;
  /** Events read from the log per query. */
  readBatch: number;
  /** Regions served: a multi-Region store covers them all. */
  regions: string[];
  organization?: OrganizationConfig;
}

export interface LakeIngestDeps {
  events: EventStore;
  control: ControlStore;
  clock: Clock;
  /** The DuckDB connection the files are written with (its own, not the queries'). */
  duck: () => Promise<DuckDBConnection>;
  logError(msg: string, err?: unknown): void;
  leases?: LeaseKeeper;
}

/** The lease group of Lake ingestion: lease `lake-ingest/<store ARN>`. */
export const LAKE_INGEST_LEASES = 'lake-ingest';

interface OpenBatch {
  fromSeq: number;
  scannedTo: number;
  bytes: number;
  lines: string[];
  scopeKey: string;
  firstMs?: number;
}

const MIN_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 60_000;

/** The predicate of a scope: routing columns first (no parse), then the record. */
export function compileIngestScope(scope: IngestScope): (row: { seq: number; accountId: string; region: string; json: string }) => boolean {
  const regions = new Set(scope.regions);
  const accounts = new Set(scope.accountIds);
  const channels = new Set(scope.channelArns);
  const admits = compileSelectors({ advancedEventSelectors: scope.selectors });
  return (row) => {
    if (!regions.has(row.region) || !accounts.has(row.accountId) || !isLoggedSeq(scope.skippedSeqs, row.seq)) return false;
    const r = JSON.parse(row.json) as CloudTrailRecord & { metadata?: { channelARN?: unknown } };
    // Channel events go only to their channel's destinations, as AWS routes them.
    if (eventCategoryOf(r) === 'ActivityAuditLog' && !(typeof r.metadata?.channelARN === 'string' && channels.has(r.metadata.channelARN))) return false;
    return admits(r);
  };
}

/** The ARN an EVENT_DATA_STORE destination names (an ARN, or an id in the channel's account and Region). */
function destinationArn(c: ChannelDestinations, location: string): string {
  if (location.startsWith('arn:')) return location;
  const partition = c.ChannelArn.split(':')[1];
  return `arn:${partition}:cloudtrail:${c.region}:${c.accountId}:eventdatastore/${location}`;
}

const sqlString = (s: string): string => `'${s.replaceAll("'", "''")}'`;

export class LakeIngestWorker {
  private readonly deps: LakeIngestDeps;
  private readonly opts: LakeIngestOptions;
  private readonly open = new Map<string, OpenBatch>();
  private readonly backoff = new Map<string, { untilMs: number; delayMs: number }>();
  private readonly job: PeriodicJob;
  private readonly maxPassMs: number | undefined;

  constructor(deps: LakeIngestDeps, opts: LakeIngestOptions) {
    this.deps = deps;
    this.opts = opts;
    this.maxPassMs = deps.leases ? deps.leases.ttlMs / 3 : undefined;
    this.job = new PeriodicJob(() => this.loggedPass(false), {
      everyMs: opts.pollMs,
      onError: (e) => this.deps.logError('lake ingestion pass failed', e),
      rerun: true,
    });
  }

  start(): void {
    this.job.start({ runNow: true });
  }

  /** Stops polling and writes every open batch now. */
  async stop(): Promise<void> {
    await this.job.stop();
    await this.tick(true);
  }

  /** One pass over every ingesting store; `force` closes every open batch. */
  tick(force: boolean): Promise<void> {
    return this.job.run(() => this.loggedPass(force));
  }

  private loggedPass(force: boolean): Promise<void> {
    return this.pass(force).catch((e) => this.deps.logError('lake ingestion pass failed', e));
  }

  private async pass(force: boolean): Promise<void> {
    // The log's end before the stores are read: a pass scans no further. A StopEventDataStoreIngestion
    // saved after the list below is not seen by this pass, but its ingestThroughSeq was read after
    // this end, so nothing appended after the stop is scanned as if the store still ingested.
    const head = await this.deps.events.lastSeq();
    let stores = (await this.deps.control.list<EventDataStoreDoc>(EVENT_DATA_STORE_KIND, '')).map((r) => r.doc);
    const held = await this.deps.leases?.share(LAKE_INGEST_LEASES, stores.map((s) => s.EventDataStoreArn));
    if (held) stores = stores.filter((s) => held.has(s.EventDataStoreArn));
    const keys = new Set(stores.map((s) => eventDataStoreKey(s.accountId, s.storeId)));
    for (const k of this.open.keys()) if (!keys.has(k)) this.open.delete(k);
    if (stores.length === 0) return;
    const channels = (await this.deps.control.list<ChannelDestinations>(CHANNEL_KIND, '')).map((r) => r.doc);
    const stopAt = this.maxPassMs === undefined || force ? Number.POSITIVE_INFINITY : performance.now() + this.maxPassMs;
    for (const s of stores) {
      try {
        await this.ingest(s, channels, force, stopAt, head, held?.get(s.EventDataStoreArn));
      } catch (e) {
        this.failed(s, e);
      }
    }
  }

  private failed(s: EventDataStoreDoc, e: unknown): void {
    this.open.delete(eventDataStoreKey(s.accountId, s.storeId));
    if (e instanceof LeaseLostError) {
      this.deps.leases?.lost(e.fence.name);
      this.deps.logError(`lake ingestion of ${s.EventDataStoreArn} stopped: this node lost its lease (another node ingests it)`);
      return;
    }
    const now = this.deps.clock.nowMs();
    const delayMs = Math.min(MAX_BACKOFF_MS, (this.backoff.get(s.EventDataStoreArn)?.delayMs ?? MIN_BACKOFF_MS / 2) * 2);
    this.backoff.set(s.EventDataStoreArn, { untilMs: now + delayMs, delayMs });
    this.deps.logError(`lake ingestion of ${s.EventDataStoreArn} failed`, e);
  }

  scopeOf(s: EventDataStoreDoc, channels: readonly ChannelDestinations[]): IngestScope {
    const org = this.opts.organization;
    const channelArns = channels
      .filter((c) => c.accountId === s.accountId && c.Destinations.some((d) => d.Type === 'EVENT_DATA_STORE' && destinationArn(c, d.Location) === s.EventDataStoreArn))
      .map((c) => c.ChannelArn);
    return {
      selectors: s.AdvancedEventSelectors,
      regions: s.MultiRegionEnabled ? this.opts.regions : [s.region],
      accountIds: s.OrganizationEnabled && org ? org.memberAccountIds : [s.accountId],
      channelArns,
      ...(s.skippedSeqs ? { skippedSeqs: s.skippedSeqs } : {}),
    };
  }

  private async ingest(s: EventDataStoreDoc, channels: readonly ChannelDestinations[], force: boolean, stopAt: number, head: number, fence?: Fence): Promise<void> {
    const key = eventDataStoreKey(s.accountId, s.storeId);
    const wait = this.backoff.get(s.EventDataStoreArn);
    if (wait && this.deps.clock.nowMs() < wait.untilMs && !force) return;
    const stored = await this.deps.control.get<LakeIngestState>(LAKE_INGEST_STATE_KIND, key);
    // State left by a deleted store of the same key is not this store's.
    let state: LakeIngestState = stored?.storeCreatedMs === s.createdMs ? stored : { storeCreatedMs: s.createdMs, cursor: 0 };
    if (state.intent) state = await this.write(s, state, state.intent, fence);
    const range = ingestRange(s, state.cursor);
    const start = range.start;
    const limit = Math.min(range.limit, head);
    if (start >= limit) {
      this.open.delete(key);
      return;
    }
    const scope = this.scopeOf(s, channels);
    const scopeKey = JSON.stringify(scope);
    let ob = this.open.get(key);
    if (!ob || ob.fromSeq !== start || ob.scopeKey !== scopeKey) ob = newBatch(start, scopeKey);
    this.open.delete(key);
    const admits = compileIngestScope(scope);
    for (let done = false; !done && performance.now() < stopAt;) {
      const rows = await this.deps.events.readAfter(ob.scannedTo, this.opts.readBatch);
      for (const row of rows) {
        if (row.seq > limit) {
          done = true;
          break;
        }
        if (admits(row)) {
          ob.lines.push(row.json);
          ob.bytes += row.json.length + 1;
          ob.firstMs ??= this.deps.clock.nowMs();
        }
        ob.scannedTo = row.seq;
        if (ob.bytes >= this.opts.maxBytes) {
          state = await this.close(s, state, ob, scope, fence);
          ob = newBatch(ob.scannedTo, scopeKey);
        }
      }
      if (rows.length < this.opts.readBatch) done = true;
    }
    const now = this.deps.clock.nowMs();
    const due = ob.firstMs !== undefined && (force || !s.isIngesting || now - ob.firstMs >= this.opts.maxAgeMs);
    if (due) {
      await this.close(s, state, ob, scope, fence);
    } else if (ob.firstMs === undefined && ob.scannedTo > state.cursor) {
      // Nothing of this store's in what was read: the cursor moves without a file.
      await this.deps.control.put(LAKE_INGEST_STATE_KIND, key, { ...state, cursor: ob.scannedTo }, { fence });
    } else if (ob.firstMs !== undefined) {
      this.open.set(key, ob);
    }
  }

  /** Records the batch's intent, writes its files and moves the cursor. */
  private async close(s: EventDataStoreDoc, state: LakeIngestState, ob: OpenBatch, scope: IngestScope, fence?: Fence): Promise<LakeIngestState> {
    const intent: IngestIntent = { fromSeq: ob.fromSeq, toSeq: ob.scannedTo, name: `ingest-${ob.fromSeq}-${ob.scannedTo}`, scope };
    await this.deps.control.put(LAKE_INGEST_STATE_KIND, eventDataStoreKey(s.accountId, s.storeId), { ...state, intent }, { fence });
    return this.write(s, state, intent, fence, ob.lines);
  }

  /**
   * Writes the batch's files (from `lines`, or rebuilt from the log by the intent) and moves the
   * cursor in one fenced write; on failure the intent stays and the store backs off.
   */
  private async write(s: EventDataStoreDoc, state: LakeIngestState, intent: IngestIntent, fence: Fence | undefined, lines?: string[]): Promise<LakeIngestState> {
    const key = eventDataStoreKey(s.accountId, s.storeId);
    try {
      const records = lines ?? (await this.readIntent(intent));
      if (records.length > 0) {
        const staging = join(this.opts.root, '.staging');
        await mkdir(staging, { recursive: true });
        const file = join(staging, `${s.accountId}-${s.storeId}-${intent.name}.jsonl`);
        await writeFile(file, records.join('\n') + '\n');
        try {
          await writeLakeFiles(await this.deps.duck(), {
            root: this.opts.root, accountId: s.accountId, storeId: s.storeId, name: intent.name,
            source: `read_json_objects(${sqlString(file)}, format='newline_delimited', maximum_object_size=${64 * 1024 * 1024})`,
          });
        } finally {
          await rm(file, { force: true });
        }
      }
      const next: LakeIngestState = { storeCreatedMs: state.storeCreatedMs, cursor: intent.toSeq, latestIngestMs: this.deps.clock.nowMs() };
      await this.deps.control.put(LAKE_INGEST_STATE_KIND, key, next, { fence });
      this.backoff.delete(s.EventDataStoreArn);
      return next;
    } catch (e) {
      if (e instanceof LeaseLostError) throw e;
      await this.deps.control.put(LAKE_INGEST_STATE_KIND, key, { ...state, intent, latestError: e instanceof Error ? e.message.slice(0, 500) : String(e), latestErrorMs: this.deps.clock.nowMs() }, { fence }).catch(() => undefined);
      throw e;
    }
  }

  /** The intent's range of the log, as its scope snapshot admits it, in seq order. */
  private async readIntent(intent: IngestIntent): Promise<string[]> {
    const admits = compileIngestScope(intent.scope);
    const out: string[] = [];
    let after = intent.fromSeq;
    for (;;) {
      const rows = await this.deps.events.readAfter(after, this.opts.readBatch);
      for (const row of rows) {
        if (row.seq > intent.toSeq) return out;
        after = row.seq;
        if (admits(row)) out.push(row.json);
      }
      if (rows.length < this.opts.readBatch) return out;
    }
  }
}

function newBatch(at: number, scopeKey: string): OpenBatch {
  return { fromSeq: at, scannedTo: at, bytes: 0, lines: [], scopeKey };
}
