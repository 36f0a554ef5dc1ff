/**
 * The delivery worker: for every logging trail, reads the event log after the trail's cursor,
 * closes batches on age or size, and writes one CloudTrail log file per (account, region) into the
 * trail's bucket. Crash-safe by intent records (docs/design/delivery.md):
 *
 * MUST: a trail's cursor moves only after the store confirmed every file of the batch.
 * MUST: a batch written again (retry, crash between write and cursor) has the same keys and bytes.
 */
import {
  compileTrailScope, DELIVERED_FILE_KIND, DELIVERY_STATE_KIND, isLoggedSeq, type DeliveredFile, logFileKey, s3KeyPrefixProblem, TRAIL_KIND, type Clock, type CloudTrailRecord, type DeliveryIntent,
  type DeliveryState, type OrganizationConfig, type TrailDoc,
} from '../core/index.ts';
import { ObjectStoreError, type ControlStore, type EventStore, type ObjectStore } from '../stores/index.ts';
import { createHash } from 'node:crypto';
import { logFileBody, logFileJson } from './log-file.ts';

export interface DeliveryOptions {
  /** A batch closes when its first event has waited this long. */
  maxAgeMs: number;
  /** ... or when its records reach this many bytes (uncompressed). */
  maxBytes: number;
  pollMs: number;
  /** Events read from the log per query. */
  readBatch: number;
  /** Regions served: a multi-region trail covers them all. */
  regions: string[];
  organization?: OrganizationConfig;
}

export interface DeliveryDeps {
  events: EventStore;
  control: ControlStore;
  objects: ObjectStore;
  clock: Clock;
  logError(msg: string, err?: unknown): void;
  /**
   * SNS / webhook notifications and CloudWatch Logs for a committed batch (after-delivery.ts): hands
   * the batch to per-target queues and returns without waiting for any target; never rejects.
   */
  afterDelivery?: { delivered(t: TrailDoc, intent: DeliveryIntent, files: { key: string; body: Buffer }[]): Promise<void> };
}

interface OpenBatch {
  fromSeq: number;
  scannedTo: number;
  bytes: number;
  /** The admitted events in seq order, kept so closing the batch need not read them again. */
  admitted: Admitted[];
  /** The trail scope they were admitted under; a changed trail starts the batch over. */
  scopeKey: string;
  firstMatchMs?: number;
}

interface Admitted {
  accountId: string;
  region: string;
  eventTime: string;
  json: string;
}

/** A built log file: its key and gzip body, and what a digest says of it. */
export interface BuiltLogFile {
  key: string;
  body: Buffer;
  accountId: string;
  region: string;
  sha256: string;
  oldestEventTime: string;
  newestEventTime: string;
}

const MIN_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 60_000;

export class DeliveryWorker {
  private readonly deps: DeliveryDeps;
  private readonly opts: DeliveryOptions;
  private readonly open = new Map<string, OpenBatch>();
  private readonly backoff = new Map<string, { untilMs: number; delayMs: number }>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(deps: DeliveryDeps, opts: DeliveryOptions) {
    this.deps = deps;
    this.opts = opts;
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(false), this.opts.pollMs);
    this.timer.unref();
  }

  /** Stops polling and delivers every open batch now. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
    await this.tick(true);
  }

  /** One pass over every trail; passes never overlap. `force` closes every open batch. */
  tick(force: boolean): Promise<void> {
    if (this.running) return this.running;
    this.running = this.pass(force)
      .catch((e) => this.deps.logError('delivery pass failed', e))
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  private async pass(force: boolean): Promise<void> {
    const trails = (await this.deps.control.list<TrailDoc>(TRAIL_KIND, '')).map((r) => r.doc);
    for (const t of trails) {
      try {
        // A batch that closed on size leaves more behind: keep going, a backlog drains at full speed.
        while (await this.serve(t, force));
      } catch (e) {
        this.deps.logError(`delivery for ${t.TrailARN} failed`, e);
      }
    }
  }

  private scopeOf(t: TrailDoc) {
    const org = this.opts.organization;
    return {
      regions: t.IsMultiRegionTrail ? this.opts.regions : [t.HomeRegion],
      accountIds: t.IsOrganizationTrail && org ? org.memberAccountIds : [t.accountId],
      includeGlobalServiceEvents: t.IncludeGlobalServiceEvents,
      selectors: { eventSelectors: t.eventSelectors, advancedEventSelectors: t.advancedEventSelectors },
    };
  }

  /** Serves one trail once; true when a batch closed on size and the log may hold more. */
  private async serve(t: TrailDoc, force: boolean): Promise<boolean> {
    const now = this.deps.clock.nowMs();
    const wait = this.backoff.get(t.TrailARN);
    if (wait && now < wait.untilMs && !force) return false;
    const stored = await this.deps.control.get<DeliveryState>(DELIVERY_STATE_KIND, t.TrailARN);
    // State left by a deleted trail of the same ARN is not this trail's.
    const state: DeliveryState = stored?.trailCreatedMs === t.createdMs ? stored : { trailCreatedMs: t.createdMs, cursor: t.deliverAfterSeq ?? 0 };
    if (state.intent) {
      return (await this.write(t, state, state.intent)) && state.intent.toSeq < (await this.deps.events.lastSeq());
    }
    const start = Math.max(state.cursor, t.deliverAfterSeq ?? 0);
    const limit = t.isLogging ? Number.POSITIVE_INFINITY : (t.deliverThroughSeq ?? start);
    if (start >= limit) {
      this.open.delete(t.TrailARN);
      return false;
    }
    let ob = this.open.get(t.TrailARN);
    const scope = this.scopeOf(t);
    const scopeKey = JSON.stringify([scope, t.skippedSeqs ?? []]);
    if (!ob || ob.fromSeq !== start || ob.scopeKey !== scopeKey) ob = { fromSeq: start, scannedTo: start, bytes: 0, admitted: [], scopeKey };
    this.open.set(t.TrailARN, ob);
    const admits = compileTrailScope(scope);
    for (;;) {
      const rows = await this.deps.events.readAfter(ob.scannedTo, this.opts.readBatch);
      let reachedLimit = false;
      for (const row of rows) {
        if (row.seq > limit) {
          reachedLimit = true;
          break;
        }
        const r = isLoggedSeq(t.skippedSeqs, row.seq) ? (JSON.parse(row.json) as CloudTrailRecord) : undefined;
        if (r && admits(r)) {
          ob.bytes += row.json.length + 1;
          ob.firstMatchMs ??= now;
          ob.admitted.push({ accountId: r.recipientAccountId, region: r.awsRegion, eventTime: r.eventTime, json: row.json });
        }
        ob.scannedTo = row.seq;
        if (ob.bytes >= this.opts.maxBytes) break;
      }
      if (reachedLimit || rows.length < this.opts.readBatch || ob.bytes >= this.opts.maxBytes) break;
    }
    const drained = !t.isLogging;
    const due = ob.firstMatchMs !== undefined && (force || drained || now - ob.firstMatchMs >= this.opts.maxAgeMs || ob.bytes >= this.opts.maxBytes);
    if (due && t.S3KeyPrefix !== undefined && s3KeyPrefixProblem(t.S3KeyPrefix)) {
      // A prefix stored before S3KeyPrefix was validated names keys no store should take: no file,
      // the cursor stays, GetTrailStatus says why, and UpdateTrail with a valid prefix resumes it.
      this.open.delete(t.TrailARN);
      await this.deps.control.put(DELIVERY_STATE_KIND, t.TrailARN, { ...state, latestDeliveryAttemptTimeMs: now, latestDeliveryError: 'InvalidS3Prefix' });
      const delayMs = Math.min(MAX_BACKOFF_MS, (this.backoff.get(t.TrailARN)?.delayMs ?? MIN_BACKOFF_MS / 2) * 2);
      this.backoff.set(t.TrailARN, { untilMs: now + delayMs, delayMs });
      return false;
    }
    if (due) {
      const intent: DeliveryIntent = {
        fromSeq: ob.fromSeq, toSeq: ob.scannedTo, deliveredMs: now, bucket: t.S3BucketName, prefix: t.S3KeyPrefix,
        organizationId: t.IsOrganizationTrail ? this.opts.organization?.id : undefined, kmsKeyId: t.KmsKeyId,
        ...this.scopeOf(t), eventSelectors: t.eventSelectors, advancedEventSelectors: t.advancedEventSelectors, skippedSeqs: t.skippedSeqs,
      };
      delete (intent as { selectors?: unknown }).selectors;
      this.open.delete(t.TrailARN);
      await this.deps.control.put(DELIVERY_STATE_KIND, t.TrailARN, { ...state, intent });
      const full = ob.bytes >= this.opts.maxBytes;
      return (await this.write(t, state, intent, ob.admitted)) && full;
    } else if (ob.firstMatchMs === undefined && ob.scannedTo > state.cursor) {
      // Nothing of this trail's in what was read: the cursor may move without a file.
      await this.deps.control.put(DELIVERY_STATE_KIND, t.TrailARN, { ...state, cursor: ob.scannedTo });
      this.open.delete(t.TrailARN);
    }
    return false;
  }

  /** Builds the batch's files from the intent alone, writes them, then moves the cursor. */
  /** Writes the batch and moves the cursor; false when the store refused (the intent stays). */
  private async write(t: TrailDoc, state: DeliveryState, intent: DeliveryIntent, admitted?: Admitted[]): Promise<boolean> {
    const attemptMs = this.deps.clock.nowMs();
    let files: BuiltLogFile[];
    try {
      files = await this.build(t.TrailARN, intent, admitted);
      for (const f of files) {
        await this.deps.objects.putObject(intent.bucket, f.key, f.body, { contentType: 'application/json', kmsKeyId: intent.kmsKeyId });
      }
      if (t.LogFileValidationEnabled) {
        // What digests will list: only files the store confirmed (written again, identically, on a redo).
        const confirmedMs = this.deps.clock.nowMs();
        for (const f of files) {
          const doc: DeliveredFile = {
            bucket: intent.bucket, key: f.key, accountId: f.accountId, region: f.region, sha256: f.sha256,
            oldestEventTime: f.oldestEventTime, newestEventTime: f.newestEventTime, confirmedMs,
          };
          await this.deps.control.put(DELIVERED_FILE_KIND, `${t.TrailARN}|${f.key}`, doc);
        }
      }
      const next: DeliveryState = { ...state, cursor: intent.toSeq, latestDeliveryAttemptTimeMs: attemptMs };
      delete next.intent;
      if (files.length > 0) {
        next.latestDeliveryTimeMs = this.deps.clock.nowMs();
        delete next.latestDeliveryError;
      }
      await this.deps.control.put(DELIVERY_STATE_KIND, t.TrailARN, next);
      this.backoff.delete(t.TrailARN);
    } catch (e) {
      const code = e instanceof ObjectStoreError ? e.code : 'InternalError';
      await this.deps.control.put(DELIVERY_STATE_KIND, t.TrailARN, { ...state, intent, latestDeliveryAttemptTimeMs: attemptMs, latestDeliveryError: code });
      const prev = this.backoff.get(t.TrailARN)?.delayMs ?? MIN_BACKOFF_MS / 2;
      const delayMs = Math.min(MAX_BACKOFF_MS, prev * 2);
      this.backoff.set(t.TrailARN, { untilMs: attemptMs + delayMs * (0.75 + Math.random() * 0.5), delayMs });
      if (!(e instanceof ObjectStoreError)) throw e;
      return false;
    }
    // Outside the try: whatever notifying does, the files and the cursor are committed already.
    // It only queues the batch: a target that hangs never holds up this pass (other trails' files).
    if (files.length > 0) await this.deps.afterDelivery?.delivered(t, intent, files);
    return true;
  }

  /**
   * The batch's files. From the events admitted while reading when they are at hand; otherwise
   * (a pending intent after a restart) by reading the intent's range again with its snapshot: both
   * give the same records in the same order, hence the same keys and bytes.
   */
  private async build(trailArn: string, intent: DeliveryIntent, admitted?: Admitted[]): Promise<BuiltLogFile[]> {
    const groups = new Map<string, { accountId: string; region: string; records: string[]; oldest: string; newest: string }>();
    const add = (a: Admitted) => {
      const k = `${a.accountId}/${a.region}`;
      let g = groups.get(k);
      if (!g) groups.set(k, (g = { accountId: a.accountId, region: a.region, records: [], oldest: a.eventTime, newest: a.eventTime }));
      g.records.push(a.json);
      if (a.eventTime < g.oldest) g.oldest = a.eventTime;
      if (a.eventTime > g.newest) g.newest = a.eventTime;
    };
    if (admitted) admitted.forEach(add);
    else await this.readIntent(intent, add);
    return Promise.all([...groups.values()].map(async (g) => {
      const json = logFileJson(g.records);
      return {
      accountId: g.accountId, region: g.region, sha256: createHash('sha256').update(json).digest('hex'),
      oldestEventTime: g.oldest, newestEventTime: g.newest,
      key: logFileKey({
        prefix: intent.prefix, organizationId: intent.organizationId, accountId: g.accountId, region: g.region,
        deliveredMs: intent.deliveredMs, batchIdentity: `${trailArn}/${intent.fromSeq}-${intent.toSeq}/${g.accountId}/${g.region}`,
      }),
      body: await logFileBody(json),
      };
    }));
  }

  /** Reads the intent's range of the log and hands over the events its snapshot admits, in seq order. */
  private async readIntent(intent: DeliveryIntent, add: (a: Admitted) => void): Promise<void> {
    const admits = compileTrailScope({
      regions: intent.regions, accountIds: intent.accountIds, includeGlobalServiceEvents: intent.includeGlobalServiceEvents,
      selectors: { eventSelectors: intent.eventSelectors, advancedEventSelectors: intent.advancedEventSelectors },
    });
    let after = intent.fromSeq;
    for (;;) {
      const rows = await this.deps.events.readAfter(after, this.opts.readBatch);
      for (const row of rows) {
        if (row.seq > intent.toSeq) return;
        after = row.seq;
        if (!isLoggedSeq(intent.skippedSeqs, row.seq)) continue;
        const r = JSON.parse(row.json) as CloudTrailRecord;
        if (admits(r)) add({ accountId: r.recipientAccountId, region: r.awsRegion, eventTime: r.eventTime, json: row.json });
      }
      if (rows.length < this.opts.readBatch) return;
    }
  }
}
