/**
 * What happens after a batch's log files are in the bucket and the trail's cursor moved
 * (docs/design/delivery.md, "After a file is written"):
 *
 * - SNS: the trail's topic gets AWS's notification, `{"s3Bucket": ..., "s3ObjectKey": [keys]}`, one
 *   message per batch (more only when the keys would pass SNS's 256 KB message limit).
 * - Webhooks: every configured URL that covers the trail gets the same body as a JSON POST.
 * - CloudWatch Logs: every record of the batch goes to the trail's log group, stream
 *   `<account>_CloudTrail_<region>` (`<o-id>_<account>_CloudTrail_<region>` for organization
 *   trails), in PutLogEvents batches within the API's limits; records over 256 KB are left out.
 *
 * MUST: never throw into the worker, and never make it wait for a target: `delivered()` hands the
 *   batch to one FIFO queue per target (topic, webhook, log group) and returns. Each queue has one
 *   worker (calls to a target never overlap and keep delivery order), a bound in batches and bytes
 *   (past it the oldest waiting batch is dropped, `<Kind>QueueFull`), and a deadline per call.
 * MUST: the files and the cursor are committed before this runs, so a failure here can neither lose
 *   nor repeat a log file; it is reported in the trail's NotificationStatus (LatestNotification*,
 *   LatestCloudWatchLogsDelivery*), never in DeliveryState, which only the worker writes, and the
 *   batch's notification / log events are dropped, not retried later (AWS does not redeliver them
 *   either).
 * MUST: at most once per committed batch; a crash between the cursor commit and the target's call
 *   (queues are in memory) loses that batch's notifications and log events (the files are safe).
 */
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import {
  DELIVERY_STATE_KIND, NOTIFICATION_STATUS_KIND, parseLogFileKey, type Clock, type DeliveryIntent, type DeliveryState, type NotificationStatus, type TrailDoc,
} from '../core/index.ts';
import { DeliveryTargetError, type ControlStore, type LogEvent, type LogGroupSink, type TopicPublisher, type WebhookPoster } from '../stores/index.ts';

const gunzipAsync = promisify(gunzip);

/** The subject of notifications. AWS's exact subject is not documented. */
export const NOTIFICATION_SUBJECT = '[AWS CloudTrail] New log file(s) delivered';
/** SNS refuses messages over 256 KB; keep a margin for the rest of the request. */
export const MAX_NOTIFICATION_BYTES = 256 * 1024 - 1024;

/** PutLogEvents limits (CloudWatch Logs API reference). */
export const LOG_EVENT_OVERHEAD_BYTES = 26;
export const MAX_LOG_EVENT_BYTES = 256 * 1024;
export const MAX_BATCH_BYTES = 1_048_576;
export const MAX_BATCH_EVENTS = 10_000;
export const MAX_BATCH_SPAN_MS = 24 * 60 * 60 * 1000;

export interface WebhookTarget {
  url: string;
  /** Trails this target hears about; absent: every trail. */
  trailArns?: string[];
  headers?: Record<string, string>;
  timeoutMs: number;
}

export interface AfterDeliveryDeps {
  control: ControlStore;
  clock: Clock;
  logError(msg: string, err?: unknown): void;
  /** Absent when no SNS endpoint is configured: trails with a topic then report an error. */
  topics?: TopicPublisher;
  /** Absent when no CloudWatch Logs endpoint is configured: trails with a log group then report an error. */
  logs?: LogGroupSink;
  webhooks?: { poster: WebhookPoster; targets: WebhookTarget[] };
  /** For metrics: each target call's outcome (error code; undefined: sent), once per batch and target. Must not throw. */
  onOutcome?(target: TargetKind, code: string | undefined): void;
}

export interface DeliveredFile {
  key: string;
  /** The gzip log file as written. */
  body: Buffer;
}

/** The notification body(ies) for a batch: one unless the keys would pass `maxBytes`. */
export function notificationMessages(bucket: string, keys: readonly string[], maxBytes = MAX_NOTIFICATION_BYTES): string[] {
  const head = `{"s3Bucket":${JSON.stringify(bucket)},"s3ObjectKey":[`;
  const tail = ']}';
  const out: string[] = [];
  let parts: string[] = [];
  let size = Buffer.byteLength(head) + tail.length;
  for (const k of keys) {
    const p = JSON.stringify(k);
    const add = Buffer.byteLength(p) + (parts.length > 0 ? 1 : 0);
    if (parts.length > 0 && size + add > maxBytes) {
      out.push(head + parts.join(',') + tail);
      parts = [];
      size = Buffer.byteLength(head) + tail.length;
    }
    size += Buffer.byteLength(p) + (parts.length > 0 ? 1 : 0);
    parts.push(p);
  }
  if (parts.length > 0) out.push(head + parts.join(',') + tail);
  return out;
}

/**
 * The elements of the top-level `Records` array of a log file, each as its exact text.
 * The log file is `{"Records":[<record>,<record>,...]}` (log-file.ts).
 */
export function splitLogFileRecords(text: string): string[] {
  const open = text.indexOf('[');
  if (open < 0) throw new Error('not a CloudTrail log file: no Records array');
  const out: string[] = [];
  let depth = 0;
  let inString = false;
  let start = -1;
  for (let i = open + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
      continue;
    }
    if (c === 0x22) {
      inString = true;
      if (depth === 0 && start < 0) start = i;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (depth === 0 && start < 0) start = i;
      depth++;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      if (depth === 0) {
        // the end of the Records array
        if (start >= 0) out.push(text.slice(start, i).trim());
        return out;
      }
      depth--;
    } else if (c === 0x2c /* , */ && depth === 0) {
      if (start >= 0) out.push(text.slice(start, i).trim());
      start = -1;
    } else if (depth === 0 && start < 0 && c > 0x20) {
      start = i; // a bare literal (not a record, but kept as the file holds it)
    }
  }
  throw new Error('not a CloudTrail log file: the Records array does not end');
}

/** The log stream CloudTrail writes a trail's events of one account and region to. */
export function logStreamName(accountId: string, region: string, organizationId?: string): string {
  return `${organizationId ? `${organizationId}_` : ''}${accountId}_CloudTrail_${region}`;
}

export interface LogEventPlan {
  batches: LogEvent[][];
  /** Events left out for being over MAX_LOG_EVENT_BYTES. */
  skipped: number;
}

/**
 * PutLogEvents batches for one stream: sorted by timestamp (stable), at most MAX_BATCH_EVENTS
 * events and MAX_BATCH_BYTES (UTF-8 message bytes + 26 per event) each, spanning at most 24 hours;
 * events over 256 KB (with the 26 bytes) are left out, as CloudTrail does.
 */
export function planLogEventBatches(events: readonly LogEvent[]): LogEventPlan {
  const sized: { e: LogEvent; bytes: number }[] = [];
  let skipped = 0;
  for (const e of events) {
    const bytes = Buffer.byteLength(e.message, 'utf8') + LOG_EVENT_OVERHEAD_BYTES;
    if (bytes > MAX_LOG_EVENT_BYTES) skipped++;
    else sized.push({ e, bytes });
  }
  sized.sort((a, b) => a.e.timestamp - b.e.timestamp);
  const batches: LogEvent[][] = [];
  let cur: LogEvent[] = [];
  let curBytes = 0;
  for (const { e, bytes } of sized) {
    if (cur.length > 0 && (cur.length >= MAX_BATCH_EVENTS || curBytes + bytes > MAX_BATCH_BYTES || e.timestamp - cur[0]!.timestamp > MAX_BATCH_SPAN_MS)) {
      batches.push(cur);
      cur = [];
      curBytes = 0;
    }
    cur.push(e);
    curBytes += bytes;
  }
  if (cur.length > 0) batches.push(cur);
  return { batches, skipped };
}

function codeOf(e: unknown): string {
  const c = (e as { code?: unknown }).code;
  return typeof c === 'string' && c ? c : 'InternalFailure';
}

function eventTimeMs(json: string, fallbackMs: number): number {
  try {
    const t = (JSON.parse(json) as { eventTime?: unknown }).eventTime;
    const ms = typeof t === 'string' ? Date.parse(t) : Number.NaN;
    return Number.isFinite(ms) ? ms : fallbackMs;
  } catch {
    return fallbackMs;
  }
}

// --- Per-target queues -------------------------------------------------------------------------

/** Limits of after-delivery (config `delivery.targetQueueLength`, `delivery.targetQueueBytes`, and the SDK neighbours' limits). */
export interface AfterDeliveryOptions {
  /** Per target: batches waiting behind the one in flight; past it the oldest waiting one is dropped. */
  queueLength: number;
  /** Per target: bytes waiting (notification messages; gzip log files for CloudWatch Logs); past it the oldest are dropped. */
  queueBytes: number;
  /** Deadline of one SNS Publish, every attempt included. */
  snsCallTimeoutMs: number;
  /** Deadline of one PutLogEvents call, stream creation and every attempt included. */
  logsCallTimeoutMs: number;
}

export const AFTER_DELIVERY_DEFAULTS: AfterDeliveryOptions = {
  queueLength: 100,
  queueBytes: 64 * 1024 * 1024,
  snsCallTimeoutMs: 15_000,
  logsCallTimeoutMs: 30_000,
};

export type TargetKind = 'sns' | 'webhook' | 'logs';

/** The error codes after-delivery itself reports (besides the targets' own). */
export const TARGET_CODES: Record<TargetKind, { timeout: string; queueFull: string }> = {
  sns: { timeout: 'SnsTimeout', queueFull: 'SnsQueueFull' },
  webhook: { timeout: 'WebhookTimeout', queueFull: 'WebhookQueueFull' },
  logs: { timeout: 'CloudWatchLogsTimeout', queueFull: 'CloudWatchLogsQueueFull' },
};
/** A batch still waiting (or in flight) for a target when shutdown's drain deadline passed. */
export const DROPPED_AT_SHUTDOWN = 'DroppedAtShutdown';

/** Runs one call to the target with the call deadline; `signal` aborts at the deadline or at shutdown. */
type Caller = <T>(fn: (signal: AbortSignal) => Promise<T>) => Promise<T>;

export interface Job {
  /** What the job holds in memory while it waits. */
  bytes: number;
  /** The job's calls, each through `call`; resolves with the error code (undefined: success), or throws. */
  run(call: Caller): Promise<string | undefined>;
  /** The outcome, exactly once: from run, or a drop (queue full, shutdown). Must not throw. */
  settle(code: string | undefined, err?: unknown): void;
}

/**
 * One target's FIFO queue and its single worker: calls to one target never overlap and keep the
 * order batches were delivered in (CloudWatch Logs streams need it; notifications get it free).
 * Bounded by count and bytes; when full, the oldest waiting job is dropped (settled `<Kind>QueueFull`).
 */
export class TargetQueue {
  private readonly waiting: Job[] = [];
  private waitingBytes = 0;
  private busy = false;
  private idleWaiters: (() => void)[] = [];
  private readonly stopping = new AbortController();
  dropped = 0;

  /** The error codes this queue reports for a call past its deadline and a job dropped when full. */
  readonly codes: { timeout: string; queueFull: string };
  /** Names the target in logs: never a webhook URL (URLs often carry tokens). */
  readonly label: string;
  private readonly callTimeoutMs: number;
  private readonly opts: Pick<AfterDeliveryOptions, 'queueLength' | 'queueBytes'>;
  private readonly logError: (msg: string, err?: unknown) => void;
  private readonly onIdle: () => void;

  constructor(codes: { timeout: string; queueFull: string }, label: string, callTimeoutMs: number, opts: Pick<AfterDeliveryOptions, 'queueLength' | 'queueBytes'>, logError: (msg: string, err?: unknown) => void, onIdle: () => void) {
    this.codes = codes;
    this.label = label;
    this.callTimeoutMs = callTimeoutMs;
    this.opts = opts;
    this.logError = logError;
    this.onIdle = onIdle;
  }

  push(job: Job): void {
    if (this.stopping.signal.aborted) return settle(job, DROPPED_AT_SHUTDOWN);
    this.waiting.push(job);
    this.waitingBytes += job.bytes;
    // The newest always stays: the freshest notification is the most useful one when the target comes back.
    while (this.waiting.length > 1 && (this.waiting.length > this.opts.queueLength || this.waitingBytes > this.opts.queueBytes)) {
      const old = this.waiting.shift()!;
      this.waitingBytes -= old.bytes;
      this.dropped++;
      if (this.dropped === 1 || this.dropped % 100 === 0) {
        this.logError(`${this.label}: queue full (${this.opts.queueLength} batches / ${this.opts.queueBytes} bytes), dropped the oldest waiting batch (${this.dropped} so far)`);
      }
      settle(old, this.codes.queueFull);
    }
    if (!this.busy) void this.pump();
  }

  private async pump(): Promise<void> {
    this.busy = true;
    try {
      for (let job = this.waiting.shift(); job; job = this.waiting.shift()) {
        this.waitingBytes -= job.bytes;
        let code: string | undefined;
        let err: unknown;
        try {
          code = await job.run((fn) => this.call(fn));
        } catch (e) {
          code = codeOf(e);
          err = e;
        }
        settle(job, code, err);
      }
    } finally {
      this.busy = false;
      for (const w of this.idleWaiters.splice(0)) w();
      this.onIdle();
    }
  }

  private call<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.stopping.signal.aborted) return Promise.reject(new DeliveryTargetError(DROPPED_AT_SHUTDOWN, `${this.label}: not called, shutting down`));
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(new DeliveryTargetError(this.codes.timeout, `${this.label}: no answer within ${this.callTimeoutMs} ms`)), this.callTimeoutMs);
    const onStop = () => ctrl.abort(new DeliveryTargetError(DROPPED_AT_SHUTDOWN, `${this.label}: call cut off at shutdown`));
    this.stopping.signal.addEventListener('abort', onStop, { once: true });
    // The race makes the deadline hold even for a driver that ignores its signal (its call may then
    // go on in the background, but this target's queue moves on).
    return new Promise<T>((resolve, reject) => {
      ctrl.signal.addEventListener('abort', () => reject(ctrl.signal.reason), { once: true });
      let p: Promise<T>;
      try {
        p = fn(ctrl.signal);
      } catch (e) {
        p = Promise.reject(e);
      }
      p.then(resolve, (e: unknown) => reject(ctrl.signal.aborted ? ctrl.signal.reason : e));
    }).finally(() => {
      clearTimeout(timer);
      this.stopping.signal.removeEventListener('abort', onStop);
    });
  }

  get idle(): boolean {
    return !this.busy && this.waiting.length === 0;
  }

  whenIdle(): Promise<void> {
    return this.idle ? Promise.resolve() : new Promise((r) => this.idleWaiters.push(r));
  }

  /** Cuts off the call in flight and drops every waiting job; returns how many were not sent. */
  stop(): number {
    const n = this.waiting.length + (this.busy ? 1 : 0);
    this.stopping.abort();
    for (const job of this.waiting.splice(0)) settle(job, DROPPED_AT_SHUTDOWN);
    this.waitingBytes = 0;
    return n;
  }
}

function settle(job: Job, code: string | undefined, err?: unknown): void {
  try {
    job.settle(code, err);
  } catch {
    // settle must not throw; nothing to do if it does
  }
}

// --- After delivery ----------------------------------------------------------------------------

export class AfterDelivery {
  private readonly deps: AfterDeliveryDeps;
  private readonly opts: AfterDeliveryOptions;
  /** Live queues by `<kind>|<target>`; a queue removes itself when it runs dry. */
  private readonly queues = new Map<string, TargetQueue>();
  /** Each trail's status writes, chained so they never interleave; removed when done. */
  private readonly writes = new Map<string, Promise<void>>();
  private closed = false;

  constructor(deps: AfterDeliveryDeps, opts: Partial<AfterDeliveryOptions> = {}) {
    this.deps = deps;
    this.opts = { ...AFTER_DELIVERY_DEFAULTS, ...opts };
  }

  private webhooksFor(trailArn: string): { w: WebhookTarget; index: number }[] {
    return (this.deps.webhooks?.targets ?? []).map((w, index) => ({ w, index })).filter(({ w }) => !w.trailArns || w.trailArns.includes(trailArn));
  }

  private queue(kind: TargetKind, id: string, label: string, callTimeoutMs: number): TargetQueue {
    const key = `${kind}|${id}`;
    let q = this.queues.get(key);
    if (!q) {
      const created: TargetQueue = new TargetQueue(TARGET_CODES[kind], label, callTimeoutMs, this.opts, this.deps.logError, () => {
        if (created.idle && this.queues.get(key) === created) this.queues.delete(key);
      });
      this.queues.set(key, (q = created));
    }
    return q;
  }

  /**
   * Hands one committed batch to its targets' queues and returns: it does not wait for any target.
   * Each target's outcome lands in the trail's NotificationStatus when it is known. Never rejects.
   */
  async delivered(t: TrailDoc, intent: DeliveryIntent, files: readonly DeliveredFile[]): Promise<void> {
    try {
      if (files.length === 0) return;
      const hooks = this.webhooksFor(t.TrailARN);
      const notifies = t.SnsTopicARN !== undefined || hooks.length > 0;
      const streams = t.CloudWatchLogsLogGroupArn !== undefined;
      if (!notifies && !streams) return;
      if (this.closed) {
        this.deps.logError(`after-delivery for ${t.TrailARN}: shutting down, batch ${intent.fromSeq}-${intent.toSeq} not notified`);
        return;
      }
      const attemptMs = this.deps.clock.nowMs();
      if (notifies) this.notify(t, intent.bucket, files.map((f) => f.key), hooks, attemptMs);
      if (streams) this.stream(t, t.CloudWatchLogsLogGroupArn!, intent, files);
    } catch (e) {
      this.deps.logError(`after-delivery for ${t.TrailARN} failed`, e);
    }
  }

  /**
   * Queues the notification for the topic and every webhook. When all of them settled:
   * `LatestNotificationTime` moves if the SNS notification went out (for a trail without a topic:
   * if every webhook took it); `LatestNotificationError` is every target's error code, or cleared.
   */
  private notify(t: TrailDoc, bucket: string, keys: string[], hooks: { w: WebhookTarget; index: number }[], attemptMs: number): void {
    const messages = notificationMessages(bucket, keys);
    const bytes = messages.reduce((n, m) => n + Buffer.byteLength(m), 0);
    const topic = t.SnsTopicARN;
    let snsError: string | undefined;
    const hookErrors: (string | undefined)[] = hooks.map(() => undefined);
    let pending = (topic !== undefined ? 1 : 0) + hooks.length;
    const done = () => {
      if (--pending > 0) return;
      const errors = [...new Set([snsError, ...hookErrors].filter((r): r is string => r !== undefined))];
      const sent = topic !== undefined ? snsError === undefined : hookErrors.every((e) => e === undefined);
      this.report(t, (s, nowMs) => {
        s.latestNotificationAttemptTimeMs = attemptMs;
        if (sent) s.latestNotificationTimeMs = nowMs;
        if (errors.length === 0) delete s.latestNotificationError;
        else s.latestNotificationError = errors.join('; ');
      });
    };
    if (topic !== undefined) {
      const publisher = this.deps.topics;
      if (!publisher) {
        snsError = 'SnsNotConfigured';
        this.deps.onOutcome?.('sns', snsError);
        done();
      } else {
        this.queue('sns', topic, `SNS topic ${topic}`, this.opts.snsCallTimeoutMs).push({
          bytes,
          run: async (call) => {
            for (const m of messages) await call((signal) => publisher.publish(topic, NOTIFICATION_SUBJECT, m, { signal }));
            return undefined;
          },
          settle: (code, err) => {
            if (code !== undefined) this.deps.logError(`SNS notification for ${t.TrailARN} failed (${code})`, err);
            snsError = code;
            this.deps.onOutcome?.('sns', code);
            done();
          },
        });
      }
    }
    hooks.forEach(({ w, index }, i) => {
      const poster = this.deps.webhooks!.poster;
      this.queue('webhook', String(index), `webhook #${index}`, w.timeoutMs).push({
        bytes,
        run: async (call) => {
          for (const m of messages) {
            await call((signal) => poster.post(w.url, m, { headers: { ...w.headers, 'x-opentrail-trail-arn': t.TrailARN }, timeoutMs: w.timeoutMs, signal }));
          }
          return undefined;
        },
        settle: (code) => {
          // The code only: the error's message may hold the URL.
          if (code !== undefined) this.deps.logError(`webhook #${index} notification for ${t.TrailARN} failed (${code})`);
          hookErrors[i] = code;
          this.deps.onOutcome?.('webhook', code);
          done();
        },
      });
    });
  }

  /** Queues the batch's records for the log group; the outcome lands in the CloudWatch Logs fields. */
  private stream(t: TrailDoc, groupArn: string, intent: DeliveryIntent, files: readonly DeliveredFile[]): void {
    const record = (code: string | undefined) => {
      this.deps.onOutcome?.('logs', code);
      this.report(t, (s, nowMs) => {
        if (code === undefined) {
          s.latestCloudWatchLogsDeliveryTimeMs = nowMs;
          delete s.latestCloudWatchLogsDeliveryError;
        } else {
          s.latestCloudWatchLogsDeliveryError = code;
        }
      });
    };
    const sink = this.deps.logs;
    if (!sink) return record('CloudWatchLogsNotConfigured');
    const groupId = groupArn.replace(/:\*$/, '');
    this.queue('logs', groupId, `CloudWatch Logs ${groupId}`, this.opts.logsCallTimeoutMs).push({
      bytes: files.reduce((n, f) => n + f.body.length, 0),
      run: (call) => this.putRecords(t, sink, groupArn, intent, files, call),
      settle: (code, err) => {
        if (code !== undefined && err !== undefined) this.deps.logError(`CloudWatch Logs delivery for ${t.TrailARN} failed (${code})`, err);
        record(code);
      },
    });
  }

  /** Puts every record of the batch into the log group; resolves with the first error code, undefined on success. */
  private async putRecords(t: TrailDoc, sink: LogGroupSink, groupArn: string, intent: DeliveryIntent, files: readonly DeliveredFile[], call: Caller): Promise<string | undefined> {
    const byStream = new Map<string, LogEvent[]>();
    try {
      for (const f of files) {
        const parts = parseLogFileKey(f.key);
        if (!parts) throw new Error(`not a log file key: ${f.key}`);
        const name = logStreamName(parts.accountId, parts.region, parts.organizationId);
        let list = byStream.get(name);
        if (!list) byStream.set(name, (list = []));
        const text = (await gunzipAsync(f.body)).toString('utf8');
        for (const message of splitLogFileRecords(text)) list.push({ timestamp: eventTimeMs(message, intent.deliveredMs), message });
      }
    } catch (e) {
      this.deps.logError(`CloudWatch Logs delivery for ${t.TrailARN} failed`, e);
      return 'InternalFailure';
    }
    let firstError: string | undefined;
    let skipped = 0;
    let rejected = 0;
    streams: for (const [name, events] of byStream) {
      const plan = planLogEventBatches(events);
      skipped += plan.skipped;
      try {
        for (const batch of plan.batches) rejected += (await call((signal) => sink.putLogEvents(groupArn, name, batch, { signal }))).rejected;
      } catch (e) {
        const code = codeOf(e);
        this.deps.logError(`CloudWatch Logs delivery for ${t.TrailARN} failed (${code})`, e);
        firstError ??= code;
        // A target that does not answer would make every further stream wait as long again.
        if (code === TARGET_CODES.logs.timeout || code === DROPPED_AT_SHUTDOWN) break streams;
      }
    }
    if (skipped > 0 || rejected > 0) {
      this.deps.logError(`CloudWatch Logs delivery for ${t.TrailARN}: ${skipped} record(s) over 256 KB left out, ${rejected} refused by the service as too old or too new`);
    }
    return firstError;
  }

  /**
   * Applies one outcome to the trail's NotificationStatus: a read-modify-write of a document only
   * after-delivery writes, chained per trail so two outcomes never interleave. Nothing is written
   * for a trail deleted (or deleted and created again) meanwhile. Not fenced: it reports calls this
   * node made, still true after the lease moved (docs/design/delivery.md, "Outcomes").
   */
  private report(t: TrailDoc, apply: (s: NotificationStatus, nowMs: number) => void): void {
    const arn = t.TrailARN;
    const next = (this.writes.get(arn) ?? Promise.resolve()).then(async () => {
      const state = await this.deps.control.get<DeliveryState>(DELIVERY_STATE_KIND, arn);
      if (!state || state.trailCreatedMs !== t.createdMs) return;
      const cur = await this.deps.control.get<NotificationStatus>(NOTIFICATION_STATUS_KIND, arn);
      const s: NotificationStatus = cur?.trailCreatedMs === t.createdMs ? cur : legacyStatus(state, t.createdMs);
      apply(s, this.deps.clock.nowMs());
      await this.deps.control.put(NOTIFICATION_STATUS_KIND, arn, s);
    }).catch((e: unknown) => this.deps.logError(`after-delivery for ${arn}: recording the outcome failed`, e));
    this.writes.set(arn, next);
    void next.then(() => {
      if (this.writes.get(arn) === next) this.writes.delete(arn);
    });
  }

  /** Resolves once every queue is empty and every outcome is recorded (tests; close). */
  async idle(): Promise<void> {
    for (;;) {
      const qs = [...this.queues.values()];
      const ws = [...this.writes.values()];
      if (qs.length === 0 && ws.length === 0) return;
      await Promise.all([...qs.map((q) => q.whenIdle()), ...ws]);
    }
  }

  /**
   * Shutdown: takes no more batches, lets the queues drain for up to `drainMs`, then cuts off the
   * calls in flight and drops what still waits (reported `DroppedAtShutdown`), and waits for the
   * outcomes to be recorded. Run it after the delivery worker stopped and before the control store
   * closes.
   */
  async close(drainMs: number): Promise<void> {
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      this.idle().then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), drainMs))),
    ]);
    clearTimeout(timer);
    if (!drained) {
      let lost = 0;
      for (const q of this.queues.values()) lost += q.stop();
      this.deps.logError(`after-delivery: ${lost} batch notification(s) / log event batch(es) not sent within the ${drainMs} ms shutdown drain`);
      await this.idle();
    }
  }
}

/** A NotificationStatus seeded from the fields older versions kept in DeliveryState. */
function legacyStatus(state: DeliveryState, trailCreatedMs: number): NotificationStatus {
  const s: NotificationStatus = { trailCreatedMs };
  if (state.latestNotificationTimeMs !== undefined) s.latestNotificationTimeMs = state.latestNotificationTimeMs;
  if (state.latestNotificationAttemptTimeMs !== undefined) s.latestNotificationAttemptTimeMs = state.latestNotificationAttemptTimeMs;
  if (state.latestNotificationError !== undefined) s.latestNotificationError = state.latestNotificationError;
  if (state.latestCloudWatchLogsDeliveryTimeMs !== undefined) s.latestCloudWatchLogsDeliveryTimeMs = state.latestCloudWatchLogsDeliveryTimeMs;
  if (state.latestCloudWatchLogsDeliveryError !== undefined) s.latestCloudWatchLogsDeliveryError = state.latestCloudWatchLogsDeliveryError;
  return s;
}
