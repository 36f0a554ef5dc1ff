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
 * MUST: never throw into the worker. The files and the cursor are committed before this runs, so a
 *   failure here can neither lose nor repeat a log file; it is reported in the trail's
 *   DeliveryState (LatestNotification*, LatestCloudWatchLogsDelivery*) and the batch's
 *   notification / log events are dropped, not retried later (AWS does not redeliver them either).
 * MUST: at most once per committed batch; a crash between the cursor commit and this step loses
 *   that batch's notifications and log events (the files are safe).
 */
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { DELIVERY_STATE_KIND, parseLogFileKey, type Clock, type DeliveryIntent, type DeliveryState, type TrailDoc } from '../core/index.ts';
import type { ControlStore, LogEvent, LogGroupSink, TopicPublisher, WebhookPoster } from '../stores/index.ts';

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

export class AfterDelivery {
  private readonly deps: AfterDeliveryDeps;

  constructor(deps: AfterDeliveryDeps) {
    this.deps = deps;
  }

  private webhooksFor(trailArn: string): WebhookTarget[] {
    return (this.deps.webhooks?.targets ?? []).filter((w) => !w.trailArns || w.trailArns.includes(trailArn));
  }

  /**
   * Notifies and streams one committed batch, then records the outcome in the trail's
   * DeliveryState. Never rejects.
   */
  async delivered(t: TrailDoc, intent: DeliveryIntent, files: readonly DeliveredFile[]): Promise<void> {
    try {
      if (files.length === 0) return;
      const hooks = this.webhooksFor(t.TrailARN);
      const notifies = t.SnsTopicARN !== undefined || hooks.length > 0;
      const streams = t.CloudWatchLogsLogGroupArn !== undefined;
      if (!notifies && !streams) return;
      const attemptMs = this.deps.clock.nowMs();
      const [notified, logsError] = await Promise.all([
        notifies ? this.notify(t, intent.bucket, files.map((f) => f.key), hooks) : Promise.resolve({ sent: true, errors: [] }),
        streams ? this.stream(t, t.CloudWatchLogsLogGroupArn!, intent, files) : Promise.resolve(undefined),
      ]);
      const state = await this.deps.control.get<DeliveryState>(DELIVERY_STATE_KIND, t.TrailARN);
      if (!state) return; // the trail was deleted meanwhile
      const next: DeliveryState = { ...state };
      const doneMs = this.deps.clock.nowMs();
      if (notifies) {
        next.latestNotificationAttemptTimeMs = attemptMs;
        if (notified.sent) next.latestNotificationTimeMs = doneMs;
        if (notified.errors.length === 0) delete next.latestNotificationError;
        else next.latestNotificationError = notified.errors.join('; ');
      }
      if (streams) {
        if (logsError === undefined) {
          next.latestCloudWatchLogsDeliveryTimeMs = doneMs;
          delete next.latestCloudWatchLogsDeliveryError;
        } else {
          next.latestCloudWatchLogsDeliveryError = logsError;
        }
      }
      await this.deps.control.put(DELIVERY_STATE_KIND, t.TrailARN, next);
    } catch (e) {
      this.deps.logError(`after-delivery for ${t.TrailARN} failed`, e);
    }
  }

  /**
   * Publishes to the topic and POSTs to the webhooks. `sent`: the SNS notification went out (for a
   * trail without a topic: every webhook took it); `errors`: every target's error code, [] when all
   * succeeded.
   */
  private async notify(t: TrailDoc, bucket: string, keys: string[], hooks: WebhookTarget[]): Promise<{ sent: boolean; errors: string[] }> {
    const messages = notificationMessages(bucket, keys);
    const sns = async (): Promise<string | undefined> => {
      const topic = t.SnsTopicARN;
      if (topic === undefined) return undefined;
      const publisher = this.deps.topics;
      if (!publisher) return 'SnsNotConfigured';
      try {
        for (const m of messages) await publisher.publish(topic, NOTIFICATION_SUBJECT, m);
        return undefined;
      } catch (e) {
        this.deps.logError(`SNS notification for ${t.TrailARN} failed`, e);
        return codeOf(e);
      }
    };
    const post = async (w: WebhookTarget): Promise<string | undefined> => {
      try {
        for (const m of messages) await this.deps.webhooks!.poster.post(w.url, m, { headers: { ...w.headers, 'x-opentrail-trail-arn': t.TrailARN }, timeoutMs: w.timeoutMs });
        return undefined;
      } catch (e) {
        this.deps.logError(`webhook notification for ${t.TrailARN} failed (${codeOf(e)})`);
        return codeOf(e);
      }
    };
    const [snsError, ...hookErrors] = await Promise.all([sns(), ...hooks.map(post)]);
    const errors = [snsError, ...hookErrors].filter((r): r is string => r !== undefined);
    const sent = t.SnsTopicARN !== undefined ? snsError === undefined : hookErrors.every((e) => e === undefined);
    return { sent, errors: [...new Set(errors)] };
  }

  /** Puts every record of the batch into the log group; resolves with the first error code, undefined on success. */
  private async stream(t: TrailDoc, groupArn: string, intent: DeliveryIntent, files: readonly DeliveredFile[]): Promise<string | undefined> {
    const sink = this.deps.logs;
    if (!sink) return 'CloudWatchLogsNotConfigured';
    try {
      const byStream = new Map<string, LogEvent[]>();
      for (const f of files) {
        const parts = parseLogFileKey(f.key);
        if (!parts) throw new Error(`not a log file key: ${f.key}`);
        const name = logStreamName(parts.accountId, parts.region, parts.organizationId);
        let list = byStream.get(name);
        if (!list) byStream.set(name, (list = []));
        const text = (await gunzipAsync(f.body)).toString('utf8');
        for (const message of splitLogFileRecords(text)) list.push({ timestamp: eventTimeMs(message, intent.deliveredMs), message });
      }
      let firstError: string | undefined;
      let skipped = 0;
      let rejected = 0;
      for (const [name, events] of byStream) {
        const plan = planLogEventBatches(events);
        skipped += plan.skipped;
        try {
          for (const batch of plan.batches) rejected += (await sink.putLogEvents(groupArn, name, batch)).rejected;
        } catch (e) {
          this.deps.logError(`CloudWatch Logs delivery for ${t.TrailARN} failed`, e);
          firstError ??= codeOf(e);
        }
      }
      if (skipped > 0 || rejected > 0) {
        this.deps.logError(`CloudWatch Logs delivery for ${t.TrailARN}: ${skipped} record(s) over 256 KB left out, ${rejected} refused by the service as too old or too new`);
      }
      return firstError;
    } catch (e) {
      this.deps.logError(`CloudWatch Logs delivery for ${t.TrailARN} failed`, e);
      return 'InternalFailure';
    }
  }
}
