/**
 * The server's Prometheus metrics (prom-client): one registry per server, the metric definitions,
 * and the hooks the layers below report to (each a plain callback they define themselves:
 * `IngestObserver`, the edge's `request`, the gateway's `observe`, after-delivery's `onOutcome`).
 * Counters move once per call, commit or batch, never per event; what reads a store (event log
 * size, consumer lags, disk) is computed when /metrics is scraped. Every metric, its labels and
 * the alert rules: docs/operations.md.
 *
 * Label values are bounded: operations come from the known list (the edge maps anything else to
 * one value), statuses are HTTP codes, error codes and gateway services are capped per metric
 * (`other` past the cap), and trail ARNs are those of existing trails (the lag gauges are rebuilt
 * at each scrape, so a deleted trail's series goes).
 */
import { statfs, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import {
  withDeadline, DELIVERY_STATE_KIND, DIGEST_STATUS_KIND, EVENT_DATA_STORE_KIND, eventDataStoreKey, ingestRange, LAKE_INGEST_STATE_KIND, TRAIL_KIND,
  type DeliveryState, type DigestStatus, type EventDataStoreDoc, type LakeIngestState, type TrailDoc,
} from '../core/index.ts';
import { ObjectStoreError, type ControlStore, type EventStore, type ObjectStore } from '../stores/index.ts';
import type { IngestObserver, IngestPath } from '../ingest/index.ts';
import { deliveryRange, DIGEST_CHAIN_KIND, nextDigestDueMs, type TargetKind } from '../delivery/index.ts';

/** Distinct values a label of error codes or services takes at most; past it, `other`. */
const MAX_LABEL_VALUES = 64;

/** A label value from an open set, capped at MAX_LABEL_VALUES distinct values. */
class BoundedLabel {
  private readonly seen = new Set<string>();
  value(v: string): string {
    if (this.seen.has(v)) return v;
    if (this.seen.size >= MAX_LABEL_VALUES) return 'other';
    this.seen.add(v);
    return v;
  }
}

/** One position of a consumer of the event log (a trail's delivery, its digests, later Lake, Insights, EventBridge). */
export interface ConsumerLag {
  /** What it is, e.g. the trail ARN. */
  resource: string;
  /** Events of the log after its position (undefined: not counted in events). */
  events?: number;
  /** How long the oldest event (or period) it has still to handle has waited, seconds. */
  seconds: number;
  /** Its latest failure, while it fails: the error code and when (epoch ms). */
  failure?: { code: string; atMs: number };
}

/** A family of consumers, asked for their lags at each scrape. */
export type ConsumerSource = () => Promise<ConsumerLag[]>;

export interface MetricsSources {
  events: EventStore;
  /** The data dir, for its file system's free space and events.db's size. */
  dataDir: string;
  /** Whether the event store takes writes (the ingester's failing state). */
  writable(): boolean;
  clock: { nowMs(): number };
  /** How long a scrape waits for one source's read (default SCRAPE_READ_TIMEOUT_MS). */
  readTimeoutMs?: number;
}

/** How long a scrape waits for one source's store reads before it leaves that source's gauges out. */
export const SCRAPE_READ_TIMEOUT_MS = 2000;

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const COMMIT_SIZE_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000];

export class ServerMetrics implements IngestObserver {
  readonly registry = new Registry();
  private readonly requests: Counter<'operation' | 'status'>;
  private readonly latency: Histogram<'operation'>;
  private readonly ingested: Counter<'path' | 'result'>;
  private readonly commitSize: Histogram;
  private readonly commitTime: Histogram;
  private readonly commitFailures: Counter;
  private readonly objectWrites: Counter<'job'>;
  private readonly objectFailures: Counter<'job' | 'code'>;
  private readonly notified: Counter<'target'>;
  private readonly notifyFailures: Counter<'target' | 'code'>;
  private readonly gatewayCalls: Counter<'service' | 'outcome'>;
  private readonly backgroundErrors: Counter<'component'>;
  private readonly eventBridgeEntries: Counter<'outcome'>;
  private readonly ruleTargetCalls: Counter<'target' | 'outcome'>;
  private sourceErrors!: Counter<'source'>;
  private sourceUp!: Gauge<'source'>;
  private readonly consumers = new Map<string, ConsumerSource>();
  /**
   * The labelled series the per-request and per-append hooks move, looked up once: prom-client
   * hashes a label object on every call otherwise (operations and statuses are a bounded set).
   */
  private readonly requestChildren = new Map<string, { count: Counter.Internal; latency: Histogram.Internal<'operation'> }>();
  private readonly ingestedChildren = new Map<string, Record<'accepted' | 'duplicate' | 'rejected', Counter.Internal>>();
  private readonly codes = new BoundedLabel();
  private readonly services = new BoundedLabel();

  private readonly sources: MetricsSources;

  constructor(sources: MetricsSources) {
    this.sources = sources;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({ name: 'opentrail_http_requests_total', help: 'API requests answered, by operation and HTTP status.', labelNames: ['operation', 'status'], registers });
    this.latency = new Histogram({ name: 'opentrail_http_request_duration_seconds', help: 'Time from a request\'s routing to its answer, by operation.', labelNames: ['operation'], buckets: LATENCY_BUCKETS, registers });
    this.ingested = new Counter({ name: 'opentrail_events_ingested_total', help: 'Entries that reached the ingest front door, by capture path and result (accepted, duplicate, rejected), counted once their transaction committed.', labelNames: ['path', 'result'], registers });
    this.commitSize = new Histogram({ name: 'opentrail_group_commit_events', help: 'Events per group commit (one event store transaction).', buckets: COMMIT_SIZE_BUCKETS, registers });
    this.commitTime = new Histogram({ name: 'opentrail_group_commit_duration_seconds', help: 'Time the event store took to make a group commit durable.', buckets: LATENCY_BUCKETS, registers });
    this.commitFailures = new Counter({ name: 'opentrail_group_commit_failures_total', help: 'Group commits the event store refused (nothing of them stored).', registers });
    this.objectWrites = new Counter({ name: 'opentrail_bucket_objects_written_total', help: 'Objects written into trail buckets, by job (log_files, digests).', labelNames: ['job'], registers });
    this.objectFailures = new Counter({ name: 'opentrail_bucket_write_failures_total', help: 'Bucket writes that failed, by job and error code (the batch or digest is retried).', labelNames: ['job', 'code'], registers });
    this.notified = new Counter({ name: 'opentrail_notifications_total', help: 'Batches sent to an after-delivery target (sns, webhook, logs = CloudWatch Logs).', labelNames: ['target'], registers });
    this.notifyFailures = new Counter({ name: 'opentrail_notification_failures_total', help: 'Batches an after-delivery target did not take, by target and error code.', labelNames: ['target', 'code'], registers });
    this.gatewayCalls = new Counter({ name: 'opentrail_gateway_calls_total', help: 'Calls through the recording gateway, by service (signing name) and outcome (HTTP status or aborted).', labelNames: ['service', 'outcome'], registers });
    this.backgroundErrors = new Counter({ name: 'opentrail_background_errors_total', help: 'Failures logged by background work and unexpected request errors, by component.', labelNames: ['component'], registers });
    this.eventBridgeEntries = new Counter({ name: 'opentrail_eventbridge_entries_total', help: 'PutEvents entries of the EventBridge forwarder, by outcome: sent (accepted by the bus), failed (refused with a retryable code or the call failed; sent again), refused (refused with a non-retryable code; not sent again), too_large (over 256 KB, never sent).', labelNames: ['outcome'], registers });
    this.ruleTargetCalls = new Counter({ name: 'opentrail_rule_target_calls_total', help: 'Envelopes built-in rules handed to a target, by target kind (webhook, sqs, sns) and outcome (sent, or the error code).', labelNames: ['target', 'outcome'], registers });
    this.defineScrapeGauges();
  }

  /** The EventBridge forwarder's entries (src/realtime/eventbridge-forwarder.ts). */
  eventBridge(outcome: 'sent' | 'failed' | 'refused' | 'too_large', count: number): void {
    if (count > 0) this.eventBridgeEntries.inc({ outcome }, count);
  }

  /** One built-in rule target call's outcome (undefined: sent). */
  ruleTarget(target: string, code: string | undefined): void {
    this.ruleTargetCalls.inc({ target, outcome: code === undefined ? 'sent' : this.codes.value(code) });
  }

  /** A gauge read at each scrape (e.g. open live tails), without any store read. */
  addGauge(name: string, help: string, read: () => number): void {
    new Gauge({ name, help, registers: [this.registry], collect() {
      this.set(read());
    } });
  }

  /** Adds a family of consumers to the lag gauges (`consumer` label), e.g. `delivery`, `digest`, `lake`. */
  addConsumer(consumer: string, source: ConsumerSource): void {
    this.consumers.set(consumer, source);
  }

  /** The text format Prometheus scrapes. */
  async scrape(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }

  // --- Hooks of the layers below ---------------------------------------------------------------

  /** One answered API request. */
  request(operation: string, status: number, seconds: number): void {
    const key = `${operation} ${status}`;
    let child = this.requestChildren.get(key);
    if (!child) this.requestChildren.set(key, (child = { count: this.requests.labels({ operation, status: String(status) }), latency: this.latency.labels({ operation }) }));
    child.count.inc();
    child.latency.observe(seconds);
  }

  appended(path: IngestPath, accepted: number, duplicates: number, rejected: number): void {
    let child = this.ingestedChildren.get(path);
    if (!child) {
      const of = (result: string) => this.ingested.labels({ path, result });
      this.ingestedChildren.set(path, (child = { accepted: of('accepted'), duplicate: of('duplicate'), rejected: of('rejected') }));
    }
    if (accepted > 0) child.accepted.inc(accepted);
    if (duplicates > 0) child.duplicate.inc(duplicates);
    if (rejected > 0) child.rejected.inc(rejected);
  }

  committed(events: number, seconds: number, ok: boolean): void {
    if (!ok) {
      this.commitFailures.inc();
      return;
    }
    this.commitSize.observe(events);
    this.commitTime.observe(seconds);
  }

  /** After-delivery's outcome for one batch and target. */
  notification(target: TargetKind, code: string | undefined): void {
    if (code === undefined) this.notified.inc({ target });
    else this.notifyFailures.inc({ target, code: this.codes.value(code) });
  }

  /** A call through the recording gateway. */
  gatewayCall(service: string, outcome: string): void {
    this.gatewayCalls.inc({ service: this.services.value(service), outcome });
  }

  /** A failure logged by a component (delivery, digest, retention, after-delivery, gateway, api). */
  backgroundError(component: string): void {
    this.backgroundErrors.inc({ component });
  }

  /** The object store as a job writes through it, its writes and failures counted (job: log_files, digests). */
  countWrites(objects: ObjectStore, job: 'log_files' | 'digests'): ObjectStore {
    const putObject: ObjectStore['putObject'] = async (bucket, key, body, opts) => {
      try {
        await objects.putObject(bucket, key, body, opts);
      } catch (e) {
        this.objectFailures.inc({ job, code: this.codes.value(e instanceof ObjectStoreError ? e.code : 'InternalError') });
        throw e;
      }
      this.objectWrites.inc({ job });
    };
    return {
      kind: objects.kind,
      bucketExists: (bucket) => objects.bucketExists(bucket),
      bucketPolicy: (bucket) => objects.bucketPolicy(bucket),
      ...(objects.missingBucketHint ? { missingBucketHint: (bucket: string) => objects.missingBucketHint!(bucket) } : {}),
      putObject,
    };
  }

  // --- Computed at scrape ----------------------------------------------------------------------

  /**
   * One source of scrape gauges: its read is shared by the gauges of one scrape and bounded by the
   * read timeout; a read that fails or is late leaves its gauges out (counted by source) and never
   * fails the scrape, so /metrics answers during the very outage its alerts are for. A late read
   * is not started again while it still runs: the next scrape waits on the same one.
   */
  private source<T>(name: string, read: () => Promise<T>): () => Promise<T | undefined> {
    let running: Promise<T> | undefined;
    const limitMs = this.sources.readTimeoutMs ?? SCRAPE_READ_TIMEOUT_MS;
    return shared(async () => {
      running ??= read().finally(() => {
        running = undefined;
      });
      try {
        const value = await withDeadline(running, limitMs);
        this.sourceUp.set({ source: name }, 1);
        return value;
      } catch {
        this.sourceErrors.inc({ source: name });
        this.sourceUp.set({ source: name }, 0);
        return undefined;
      }
    });
  }

  private defineScrapeGauges(): void {
    const registers = [this.registry];
    const s = this.sources;
    const log = this.source('event_log', async () => {
      const count = await s.events.count();
      const last = await s.events.lastSeq();
      const oldestMs = await s.events.committedMsAfter?.(0);
      return { count, last, oldestAge: oldestMs === undefined ? 0 : Math.max(0, (s.clock.nowMs() - oldestMs) / 1000) };
    });
    const disk = this.source('disk', async () => {
      const db = join(s.dataDir, 'events.db');
      const sizes = await Promise.all([db, `${db}-wal`].map((f) => stat(f).then((st) => st.size, () => 0)));
      const fs = await statfs(s.dataDir).catch(() => undefined);
      return { fileBytes: sizes[0]! + sizes[1]!, free: fs && fs.bavail * fs.bsize, size: fs && fs.blocks * fs.bsize };
    });
    const gauge = <T>(read: () => Promise<T | undefined>, name: string, help: string, value: (v: T) => number | undefined) => new Gauge({
      name, help, registers,
      async collect() {
        const got = await read();
        const v = got === undefined ? undefined : value(got);
        // No sample rather than a wrong one (reset() would publish 0: a full disk, an empty log).
        if (v === undefined) this.remove();
        else this.set(v);
      },
    });
    gauge(log, 'opentrail_event_log_events', 'Events stored in the event log.', (l) => l.count);
    gauge(log, 'opentrail_event_log_last_seq', 'The event log\'s highest sequence number (grows with every stored event).', (l) => l.last);
    gauge(log, 'opentrail_event_log_oldest_event_age_seconds', 'Time since the oldest stored event was committed (pruned after eventHistory.retentionDays).', (l) => l.oldestAge);
    gauge(disk, 'opentrail_event_store_file_bytes', 'Size of events.db and its WAL on disk (embedded store).', (d) => d.fileBytes);
    gauge(disk, 'opentrail_data_dir_free_bytes', 'Bytes free to unprivileged users on the data dir\'s file system.', (d) => d.free);
    gauge(disk, 'opentrail_data_dir_size_bytes', 'Size of the data dir\'s file system.', (d) => d.size);
    new Gauge({
      name: 'opentrail_event_store_writable', help: '1 while the event store takes writes, 0 while its commits fail (answers are 503).', registers,
      collect() {
        this.set(s.writable() ? 1 : 0);
      },
    });

    const codes = this.codes;
    // Each family of consumers is a source of its own; they are read one after the other, so a
    // scrape holds at most one store connection at a time for them.
    const perConsumer = new Map<string, () => Promise<ConsumerLag[] | undefined>>();
    const lags = shared(async () => {
      const out: { consumer: string; lag: ConsumerLag }[] = [];
      for (const [consumer, source] of this.consumers) {
        let read = perConsumer.get(consumer);
        if (!read) perConsumer.set(consumer, read = this.source(consumer, source));
        for (const lag of (await read()) ?? []) out.push({ consumer, lag });
      }
      return out;
    });
    // Collected once this scrape's reads settled, so that they count this scrape's failures.
    const settled = async () => {
      await Promise.all([log(), disk(), lags()]);
    };
    this.sourceUp = new Gauge({
      name: 'opentrail_metrics_source_up', help: '1 when this scrape read the source (event_log, disk, delivery, digest), 0 when its read failed or was late and its gauges are left out.', labelNames: ['source'], registers, collect: settled,
    });
    this.sourceErrors = new Counter({
      name: 'opentrail_metrics_source_errors_total', help: 'Scrapes that left a source\'s gauges out because its read failed or took longer than the time limit, by source (event_log, disk, delivery, digest).', labelNames: ['source'], registers, collect: settled,
    });
    const lagGauge = (name: string, help: string, labelNames: string[], each: (g: Gauge, consumer: string, c: ConsumerLag) => void) => new Gauge({
      name, help, labelNames, registers,
      async collect() {
        const all = await lags();
        this.reset();
        for (const { consumer, lag } of all) each(this, consumer, lag);
      },
    });
    lagGauge('opentrail_consumer_lag_events', 'Events of the log after a consumer\'s position (delivery: every event after the trail\'s cursor, its own or not).', ['consumer', 'resource'], (g, consumer, c) => {
      if (c.events !== undefined) g.set({ consumer, resource: c.resource }, c.events);
    });
    lagGauge('opentrail_consumer_lag_seconds', 'How long the oldest event (digests: period) a consumer has yet to handle has waited; 0 when caught up.', ['consumer', 'resource'], (g, consumer, c) => {
      g.set({ consumer, resource: c.resource }, c.seconds);
    });
    lagGauge('opentrail_consumer_last_failure_timestamp_seconds', 'While a consumer fails: when its latest attempt failed (digests: the scrape), with the error code; no series once it succeeds.', ['consumer', 'resource', 'code'], (g, consumer, c) => {
      if (c.failure) g.set({ consumer, resource: c.resource, code: codes.value(c.failure.code) }, c.failure.atMs / 1000);
    });
  }
}


/** fn's promise, shared by every call made until it settles: one read for the gauges of one scrape. */
function shared<T>(fn: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => (pending ??= fn().finally(() => {
    pending = undefined;
  }));
}

/** fn over items, at most `limit` calls at a time, results in the items' order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Event store reads one lag source makes at a time (commit times of lagging trails' positions). */
const LAG_READS_AT_ONCE = 2;

/**
 * Every trail's delivery: the events after its cursor up to the end of the log (or, for a trail
 * that stopped logging, up to where it stopped), and how long the first of them has waited. One
 * list of the trails and one of the delivery states per scrape, whatever the number of trails;
 * positions as the delivery worker computes them (src/delivery/lag.ts, deliveryRange).
 */
export function deliveryLags(events: EventStore, control: ControlStore, nowMs: () => number): ConsumerSource {
  return async () => {
    const last = await events.lastSeq();
    const trails = (await control.list<TrailDoc>(TRAIL_KIND, '')).map((r) => r.doc);
    if (trails.length === 0) return [];
    const states = new Map((await control.list<DeliveryState>(DELIVERY_STATE_KIND, '')).map((r) => [r.key, r.doc]));
    // Trails at the same position share one read of its commit time.
    const since = new Map<number, Promise<number | undefined>>();
    const sinceOf = (at: number) => {
      let p = since.get(at);
      if (!p) since.set(at, p = Promise.resolve(events.committedMsAfter?.(at)));
      return p;
    };
    return mapLimit(trails, LAG_READS_AT_ONCE, async (t): Promise<ConsumerLag> => {
      const stored = states.get(t.TrailARN);
      const state = stored?.trailCreatedMs === t.createdMs ? stored : undefined;
      const { start, limit } = deliveryRange(t, state?.cursor ?? 0);
      const lag = Math.max(0, Math.min(last, limit) - start);
      const committed = lag > 0 ? await sinceOf(start) : undefined;
      const failure = state?.latestDeliveryError !== undefined ? { code: state.latestDeliveryError, atMs: state.latestDeliveryAttemptTimeMs ?? 0 } : undefined;
      return { resource: t.TrailARN, events: lag, seconds: committed === undefined ? 0 : Math.max(0, (nowMs() - committed) / 1000), failure };
    });
  };
}

/**
 * Every event data store's ingestion as a consumer of the log (src/lake/ingest): events after its
 * cursor within what it ingests, and how long the oldest of them has waited; ranges as ingestion's
 * own (`ingestRange`).
 */
export function lakeIngestLags(events: EventStore, control: ControlStore, nowMs: () => number): ConsumerSource {
  return async () => {
    const stores = (await control.list<EventDataStoreDoc>(EVENT_DATA_STORE_KIND, '')).map((r) => r.doc);
    if (stores.length === 0) return [];
    const last = await events.lastSeq();
    const states = new Map((await control.list<LakeIngestState>(LAKE_INGEST_STATE_KIND, '')).map((r) => [r.key, r.doc]));
    return mapLimit(stores, LAG_READS_AT_ONCE, async (s): Promise<ConsumerLag> => {
      const stored = states.get(eventDataStoreKey(s.accountId, s.storeId));
      const state = stored?.storeCreatedMs === s.createdMs ? stored : undefined;
      const { start, limit } = ingestRange(s, state?.cursor ?? 0);
      const lag = Math.max(0, Math.min(last, limit) - start);
      const committed = lag > 0 ? await events.committedMsAfter?.(start) : undefined;
      const failure = state?.latestError !== undefined ? { code: 'IngestionFailed', atMs: state.latestErrorMs ?? 0 } : undefined;
      return { resource: s.EventDataStoreArn, events: lag, seconds: committed === undefined ? 0 : Math.max(0, (nowMs() - committed) / 1000), failure };
    });
  };
}

/**
 * Every validating trail's digests: how overdue the next digest is (its period ended, it is not
 * written), the worst of the trail's (account, region) chains: those it has, and its home chain.
 * One list per kind (trails, chains, digest statuses) per scrape; scheduling as the digest job's
 * (src/delivery/lag.ts, nextDigestDueMs).
 */
export function digestLags(control: ControlStore, periodMs: number, nowMs: () => number): ConsumerSource {
  return async () => {
    const now = nowMs();
    const trails = (await control.list<TrailDoc>(TRAIL_KIND, '')).map((r) => r.doc).filter((t) => t.LogFileValidationEnabled);
    if (trails.length === 0) return [];
    const chains = new Map<string, Map<string, { trailCreatedMs: number; endMs: number; ended?: boolean }>>();
    for (const { key, doc } of await control.list<{ trailCreatedMs: number; endMs: number; ended?: boolean }>(DIGEST_CHAIN_KIND, '')) {
      const arn = key.slice(0, key.indexOf('|'));
      let of = chains.get(arn);
      if (!of) chains.set(arn, of = new Map());
      of.set(key, doc);
    }
    const statuses = new Map((await control.list<DigestStatus>(DIGEST_STATUS_KIND, '')).map((r) => [r.key, r.doc]));
    return trails.map((t): ConsumerLag => {
      const own = chains.get(t.TrailARN) ?? new Map<string, { trailCreatedMs: number; endMs: number; ended?: boolean }>();
      const keys = new Set([`${t.TrailARN}|${t.accountId}|${t.HomeRegion}`, ...own.keys()]);
      let due = Number.POSITIVE_INFINITY;
      for (const key of keys) {
        const link = own.get(key);
        const next = nextDigestDueMs(t, link?.trailCreatedMs === t.createdMs ? link : undefined, now, periodMs);
        if (next !== undefined) due = Math.min(due, next);
      }
      const status = statuses.get(t.TrailARN);
      const failure = status?.latestDigestDeliveryError !== undefined ? { code: status.latestDigestDeliveryError, atMs: now } : undefined;
      return { resource: t.TrailARN, seconds: Number.isFinite(due) ? Math.max(0, (now - due) / 1000) : 0, failure };
    });
  };
}

/**
 * A consumer of the log with one cursor (the Insights analysis): events after its cursor and how
 * long the oldest of them has waited. `position` reads its cursor (undefined: it has none yet,
 * nothing reported) and its latest failure.
 */
export function cursorLag(resource: string, events: EventStore, position: () => Promise<{ cursor: number; failure?: { code: string; atMs: number } } | undefined>, nowMs: () => number): ConsumerSource {
  return async () => {
    const p = await position();
    if (!p) return [];
    const last = await events.lastSeq();
    const lag = Math.max(0, last - p.cursor);
    const committed = lag > 0 ? await events.committedMsAfter?.(p.cursor) : undefined;
    return [{ resource, events: lag, seconds: committed === undefined ? 0 : Math.max(0, (nowMs() - committed) / 1000), failure: p.failure }];
  };
}
