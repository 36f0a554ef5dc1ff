/**
 * After-delivery side effects: the notification body, splitting a log file back into its records,
 * PutLogEvents batching within the API's limits, and how outcomes land in DeliveryState (fakes for
 * SNS, webhooks and CloudWatch Logs; the real ones run in test/delivery-notify.e2e.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync, gzipSync } from 'node:zlib';
import { DELIVERY_STATE_KIND, logFileKey, NOTIFICATION_STATUS_KIND, type DeliveryIntent, type DeliveryState, type NotificationStatus, type TrailDoc } from '../core/index.ts';
import { DeliveryTargetError, type ControlStore, type LogEvent, type LogGroupSink, type TopicPublisher, type WebhookPoster, type WebhookRequest } from '../stores/index.ts';
import { logFileBody } from './log-file.ts';
import {
  AfterDelivery, LOG_EVENT_OVERHEAD_BYTES, logStreamName, MAX_BATCH_BYTES, MAX_BATCH_EVENTS, MAX_LOG_EVENT_BYTES, notificationMessages,
  NOTIFICATION_SUBJECT, planLogEventBatches, splitLogFileRecords,
} from './after-delivery.ts';

const A = '111111111111';
const B = '222222222222';

test('the notification body is AWS\'s: {"s3Bucket": ..., "s3ObjectKey": [keys]}, one message per batch', () => {
  const keys = ['AWSLogs/111111111111/CloudTrail/us-east-1/2026/01/02/111111111111_CloudTrail_us-east-1_20260102T0304Z_abcdefghijklmnop.json.gz', 'p/AWSLogs/x.json.gz'];
  const msgs = notificationMessages('my-bucket', keys);
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0], `{"s3Bucket":"my-bucket","s3ObjectKey":["${keys[0]}","${keys[1]}"]}`);
  assert.deepEqual(JSON.parse(msgs[0]!), { s3Bucket: 'my-bucket', s3ObjectKey: keys });
  assert.deepEqual(notificationMessages('b', []), []);
});

test('keys that would pass the size limit are spread over several messages, in order, each within the limit', () => {
  const keys = Array.from({ length: 500 }, (_, i) => `AWSLogs/${A}/CloudTrail/us-east-1/2026/01/02/${A}_CloudTrail_us-east-1_20260102T0304Z_${String(i).padStart(16, 'x')}.json.gz`);
  const msgs = notificationMessages('bucket', keys, 10_000);
  assert.ok(msgs.length > 1);
  for (const m of msgs) assert.ok(Buffer.byteLength(m) <= 10_000, `${Buffer.byteLength(m)} bytes`);
  assert.deepEqual(msgs.flatMap((m) => (JSON.parse(m) as { s3ObjectKey: string[] }).s3ObjectKey), keys);
  assert.ok(msgs.every((m) => (JSON.parse(m) as { s3Bucket: string }).s3Bucket === 'bucket'));
});

test('a log file splits back into its records, each byte for byte as stored', async () => {
  const records = [
    '{"eventID":"1","requestParameters":{"a":[1,2,{"b":"c,d]}"}]},"x":"\\"quoted\\", [brackets] {braces}"}',
    '{"eventID":"2","s":"é ünïcödé \\\\ backslash\\\\","n":null,"arr":[]}',
    '{"eventID":"3"}',
  ];
  const text = await logFileBody(records);
  assert.deepEqual(splitLogFileRecords(gunzipSync(text).toString('utf8')), records);
  assert.deepEqual(splitLogFileRecords('{"Records":[]}'), []);
  assert.deepEqual(splitLogFileRecords('{"Records":[ {"a":1} , {"b":2} ]}'), ['{"a":1}', '{"b":2}']);
  assert.throws(() => splitLogFileRecords('{"Records":[{"a":1}'));
});

test('log stream names: <account>_CloudTrail_<region>, with the organization id first for organization trails', () => {
  assert.equal(logStreamName(A, 'eu-west-1'), '111111111111_CloudTrail_eu-west-1');
  assert.equal(logStreamName(A, 'us-east-1', 'o-exampleorg42'), 'o-exampleorg42_111111111111_CloudTrail_us-east-1');
});

const ev = (timestamp: number, message = 'm'): LogEvent => ({ timestamp, message });

test('PutLogEvents batches are sorted by timestamp (stable) and hold at most 10,000 events', () => {
  const events = Array.from({ length: 25_000 }, (_, i) => ev(1_000_000 - (i % 7), `e${i}`));
  const plan = planLogEventBatches(events);
  assert.equal(plan.skipped, 0);
  assert.deepEqual(plan.batches.map((b) => b.length), [MAX_BATCH_EVENTS, MAX_BATCH_EVENTS, 5000]);
  const flat = plan.batches.flat();
  assert.equal(flat.length, events.length);
  for (let i = 1; i < flat.length; i++) assert.ok(flat[i - 1]!.timestamp <= flat[i]!.timestamp);
  // Stable: equal timestamps keep their input order.
  const same = flat.filter((e) => e.timestamp === 1_000_000).map((e) => Number(e.message.slice(1)));
  assert.deepEqual(same, [...same].sort((a, b) => a - b));
});

test('PutLogEvents batches stay within 1,048,576 bytes counting 26 bytes per event', () => {
  const msg = 'x'.repeat(100_000); // 100,026 bytes each: 10 fit in one batch, the 11th does not
  const plan = planLogEventBatches(Array.from({ length: 25 }, (_, i) => ev(i, msg)));
  assert.deepEqual(plan.batches.map((b) => b.length), [10, 10, 5]);
  for (const b of plan.batches) {
    const bytes = b.reduce((s, e) => s + Buffer.byteLength(e.message) + LOG_EVENT_OVERHEAD_BYTES, 0);
    assert.ok(bytes <= MAX_BATCH_BYTES);
  }
  // UTF-8 bytes, not characters, count.
  const wide = 'é'.repeat(60_000); // 120,000 bytes
  assert.deepEqual(planLogEventBatches(Array.from({ length: 9 }, (_, i) => ev(i, wide))).batches.map((b) => b.length), [8, 1]);
});

test('events over 256 KB (with their 26 bytes) are left out; exactly 256 KB is sent', () => {
  const fits = 'a'.repeat(MAX_LOG_EVENT_BYTES - LOG_EVENT_OVERHEAD_BYTES);
  const over = `${fits}a`;
  const plan = planLogEventBatches([ev(1, fits), ev(2, over), ev(3, 'small')]);
  assert.equal(plan.skipped, 1);
  assert.deepEqual(plan.batches.flat().map((e) => e.message.length), [fits.length, 5]);
});

test('a batch spans at most 24 hours', () => {
  const h = 3600_000;
  const plan = planLogEventBatches([ev(0), ev(10 * h), ev(24 * h), ev(24 * h + 1), ev(30 * h), ev(49 * h)]);
  assert.deepEqual(plan.batches.map((b) => b.map((e) => e.timestamp / h)), [[0, 10, 24], [24 + 1 / h, 30], [49]]);
  assert.deepEqual(planLogEventBatches([]).batches, []);
});

// --- AfterDelivery with fake targets -----------------------------------------------------------

class MemoryControl implements ControlStore {
  readonly docs = new Map<string, unknown>();
  async get<T>(kind: string, key: string): Promise<T | undefined> {
    return structuredClone(this.docs.get(`${kind}/${key}`)) as T | undefined;
  }
  async put(kind: string, key: string, doc: unknown): Promise<void> {
    this.docs.set(`${kind}/${key}`, structuredClone(doc));
  }
  async delete(kind: string, key: string): Promise<boolean> {
    return this.docs.delete(`${kind}/${key}`);
  }
  async putMany(docs: { kind: string; key: string; doc: unknown }[]): Promise<void> {
    for (const d of docs) this.docs.set(`${d.kind}/${d.key}`, structuredClone(d.doc));
  }
  async list<T>(): Promise<{ key: string; doc: T }[]> {
    return [];
  }
  async close(): Promise<void> {}
}

const TRAIL_ARN = `arn:aws:cloudtrail:us-east-1:${A}:trail/t1`;
const TOPIC = `arn:aws:sns:us-east-1:${A}:topic-one`;
const GROUP = `arn:aws:logs:us-east-1:${A}:log-group:CloudTrail/logs:*`;

function trail(extra: Partial<TrailDoc> = {}): TrailDoc {
  return {
    Name: 't1', accountId: A, HomeRegion: 'us-east-1', TrailARN: TRAIL_ARN, S3BucketName: 'bucket', IncludeGlobalServiceEvents: true,
    IsMultiRegionTrail: true, LogFileValidationEnabled: false, IsOrganizationTrail: false, tags: [], isLogging: true, createdMs: 0, ...extra,
  };
}

const intent: DeliveryIntent = {
  fromSeq: 0, toSeq: 10, deliveredMs: Date.parse('2026-03-04T05:06:07Z'), bucket: 'bucket', regions: ['us-east-1', 'eu-west-1'], accountIds: [A], includeGlobalServiceEvents: true,
};

function record(id: string, account: string, region: string, time: string): string {
  return JSON.stringify({ eventVersion: '1.11', eventTime: time, eventID: id, awsRegion: region, recipientAccountId: account });
}

function file(account: string, region: string, records: string[], organizationId?: string) {
  return {
    key: logFileKey({ accountId: account, region, deliveredMs: intent.deliveredMs, batchIdentity: `${account}/${region}`, organizationId }),
    body: gzipSync(Buffer.from(`{"Records":[${records.join(',')}]}`)),
  };
}

function harness(opts: { topicFails?: string; hookStatus?: number; logsFail?: string; noTopics?: boolean } = {}) {
  const control = new MemoryControl();
  const published: { topic: string; subject: string | undefined; message: string }[] = [];
  const posted: { url: string; body: string; req: WebhookRequest }[] = [];
  const putCalls: { group: string; stream: string; events: LogEvent[] }[] = [];
  const errors: string[] = [];
  const topics: TopicPublisher = {
    async publish(topic, subject, message) {
      if (opts.topicFails) throw new DeliveryTargetError(opts.topicFails, 'refused');
      published.push({ topic, subject, message });
    },
  };
  const poster: WebhookPoster = {
    async post(url, body, req) {
      if (opts.hookStatus && opts.hookStatus !== 200) throw new DeliveryTargetError(`WebhookHttp${opts.hookStatus}`, 'refused');
      posted.push({ url, body, req });
    },
  };
  const logs: LogGroupSink = {
    async putLogEvents(group, stream, events) {
      if (opts.logsFail) throw new DeliveryTargetError(opts.logsFail, 'refused');
      putCalls.push({ group, stream, events: [...events] });
      return { rejected: 0 };
    },
  };
  let now = 1_000;
  const after = new AfterDelivery({
    control, clock: { nowMs: () => (now += 10) }, logError: (m) => errors.push(m),
    topics: opts.noTopics ? undefined : topics, logs,
    webhooks: {
      poster,
      targets: [
        { url: 'http://hooks.example/all', timeoutMs: 1000, headers: { authorization: 'Bearer x' } },
        { url: 'http://hooks.example/other-trail', timeoutMs: 1000, trailArns: [`arn:aws:cloudtrail:us-east-1:${A}:trail/other`] },
      ],
    },
  });
  return { control, after, published, posted, putCalls, errors };
}

test('a batch notifies its topic and webhooks once and records the time; the state keeps the worker\'s fields', async () => {
  const h = harness();
  await h.control.put(DELIVERY_STATE_KIND, TRAIL_ARN, { trailCreatedMs: 0, cursor: 10, latestDeliveryTimeMs: 5, latestNotificationError: 'OldError' } satisfies DeliveryState);
  const files = [file(A, 'us-east-1', [record('1', A, 'us-east-1', '2026-03-04T05:00:00Z')]), file(A, 'eu-west-1', [record('2', A, 'eu-west-1', '2026-03-04T05:00:01Z')])];
  await h.after.delivered(trail({ SnsTopicARN: TOPIC }), intent, files);
  await h.after.idle();
  assert.equal(h.published.length, 1);
  assert.equal(h.published[0]!.topic, TOPIC);
  assert.equal(h.published[0]!.subject, NOTIFICATION_SUBJECT);
  assert.deepEqual(JSON.parse(h.published[0]!.message), { s3Bucket: 'bucket', s3ObjectKey: files.map((f) => f.key) });
  assert.deepEqual(h.posted.map((p) => p.url), ['http://hooks.example/all'], 'only webhooks covering the trail');
  assert.equal(h.posted[0]!.body, h.published[0]!.message);
  assert.equal(h.posted[0]!.req.headers?.authorization, 'Bearer x');
  assert.equal(h.posted[0]!.req.headers?.['x-opentrail-trail-arn'], TRAIL_ARN);
  const d = (await h.control.get<DeliveryState>(DELIVERY_STATE_KIND, TRAIL_ARN))!;
  assert.deepEqual(d, { trailCreatedMs: 0, cursor: 10, latestDeliveryTimeMs: 5, latestNotificationError: 'OldError' }, 'the worker\'s document is never written');
  const s = (await h.control.get<NotificationStatus>(NOTIFICATION_STATUS_KIND, TRAIL_ARN))!;
  assert.equal(s.trailCreatedMs, 0);
  assert.equal(s.latestNotificationError, undefined);
  assert.ok(s.latestNotificationAttemptTimeMs! > 1000 && s.latestNotificationTimeMs! >= s.latestNotificationAttemptTimeMs!);
  assert.equal(s.latestCloudWatchLogsDeliveryTimeMs, undefined, 'no log group, no CloudWatch Logs fields');
  assert.deepEqual(h.putCalls, []);
});

test('failed notifications are reported, joined, and change neither cursor nor delivery fields; success clears the error', async () => {
  const h = harness({ topicFails: 'NotFound', hookStatus: 500 });
  // An older data dir: the last success is in DeliveryState and carries over.
  await h.control.put(DELIVERY_STATE_KIND, TRAIL_ARN, { trailCreatedMs: 0, cursor: 10, latestDeliveryTimeMs: 5, latestNotificationTimeMs: 7 } satisfies DeliveryState);
  await h.after.delivered(trail({ SnsTopicARN: TOPIC }), intent, [file(A, 'us-east-1', [record('1', A, 'us-east-1', '2026-03-04T05:00:00Z')])]);
  await h.after.idle();
  const s = (await h.control.get<NotificationStatus>(NOTIFICATION_STATUS_KIND, TRAIL_ARN))!;
  assert.equal(s.latestNotificationError, 'NotFound; WebhookHttp500');
  assert.equal(s.latestNotificationTimeMs, 7, 'the last success stays');
  assert.ok(s.latestNotificationAttemptTimeMs! > 7);
  const d = (await h.control.get<DeliveryState>(DELIVERY_STATE_KIND, TRAIL_ARN))!;
  assert.deepEqual({ cursor: d.cursor, latestDeliveryTimeMs: d.latestDeliveryTimeMs }, { cursor: 10, latestDeliveryTimeMs: 5 });
  assert.ok(h.errors.length >= 2);
  assert.ok(h.errors.every((e) => !e.includes('hooks.example')), 'webhook URLs (they may hold secrets) are not logged');

  const ok = harness();
  await ok.control.put(DELIVERY_STATE_KIND, TRAIL_ARN, d);
  await ok.control.put(NOTIFICATION_STATUS_KIND, TRAIL_ARN, s);
  await ok.after.delivered(trail({ SnsTopicARN: TOPIC }), intent, [file(A, 'us-east-1', [record('1', A, 'us-east-1', '2026-03-04T05:00:00Z')])]);
  await ok.after.idle();
  assert.equal((await ok.control.get<NotificationStatus>(NOTIFICATION_STATUS_KIND, TRAIL_ARN))!.latestNotificationError, undefined);
});

test('a trail with a topic but no SNS endpoint configured reports SnsNotConfigured', async () => {
  const h = harness({ noTopics: true });
  await h.control.put(DELIVERY_STATE_KIND, TRAIL_ARN, { trailCreatedMs: 0, cursor: 10 } satisfies DeliveryState);
  await h.after.delivered(trail({ SnsTopicARN: TOPIC }), intent, [file(A, 'us-east-1', [record('1', A, 'us-east-1', '2026-03-04T05:00:00Z')])]);
  await h.after.idle();
  assert.equal((await h.control.get<NotificationStatus>(NOTIFICATION_STATUS_KIND, TRAIL_ARN))!.latestNotificationError, 'SnsNotConfigured');
  assert.equal(h.posted.length, 1, 'webhooks still get it');
});

test('every record goes to its stream in time order, verbatim; failures are reported in the CloudWatch Logs fields', async () => {
  const h = harness();
  await h.control.put(DELIVERY_STATE_KIND, TRAIL_ARN, { trailCreatedMs: 0, cursor: 10 } satisfies DeliveryState);
  const east = [record('b', A, 'us-east-1', '2026-03-04T05:00:02Z'), record('a', A, 'us-east-1', '2026-03-04T05:00:01Z')];
  const west = [record('c', A, 'eu-west-1', '2026-03-04T05:00:00Z')];
  const org = [record('d', B, 'us-east-1', '2026-03-04T05:00:03Z')];
  await h.after.delivered(trail({ CloudWatchLogsLogGroupArn: GROUP }), intent, [file(A, 'us-east-1', east), file(A, 'eu-west-1', west), file(B, 'us-east-1', org, 'o-exampleorg42')]);
  await h.after.idle();
  const byStream = Object.fromEntries(h.putCalls.map((c) => [c.stream, c.events]));
  assert.deepEqual(Object.keys(byStream).sort(), ['111111111111_CloudTrail_eu-west-1', '111111111111_CloudTrail_us-east-1', 'o-exampleorg42_222222222222_CloudTrail_us-east-1']);
  assert.ok(h.putCalls.every((c) => c.group === GROUP));
  assert.deepEqual(byStream['111111111111_CloudTrail_us-east-1'], [
    { timestamp: Date.parse('2026-03-04T05:00:01Z'), message: east[1] },
    { timestamp: Date.parse('2026-03-04T05:00:02Z'), message: east[0] },
  ]);
  const s = (await h.control.get<NotificationStatus>(NOTIFICATION_STATUS_KIND, TRAIL_ARN))!;
  assert.ok(s.latestCloudWatchLogsDeliveryTimeMs !== undefined);
  assert.equal(s.latestCloudWatchLogsDeliveryError, undefined);
  assert.equal(h.posted.length, 1, 'without a topic the catch-all webhook is still notified');
  assert.ok(s.latestNotificationTimeMs !== undefined);

  const bad = harness({ logsFail: 'ResourceNotFoundException' });
  await bad.control.put(DELIVERY_STATE_KIND, TRAIL_ARN, { trailCreatedMs: 0, cursor: 10 } satisfies DeliveryState);
  await bad.after.delivered(trail({ CloudWatchLogsLogGroupArn: GROUP }), intent, [file(A, 'us-east-1', east)]);
  await bad.after.idle();
  assert.equal((await bad.control.get<NotificationStatus>(NOTIFICATION_STATUS_KIND, TRAIL_ARN))!.latestCloudWatchLogsDeliveryError, 'ResourceNotFoundException');
});

test('nothing happens for an empty batch, and nothing ever throws', async () => {
  const h = harness();
  await h.after.delivered(trail({ SnsTopicARN: TOPIC }), intent, []);
  assert.equal(h.published.length + h.posted.length, 0);
  const broken = new AfterDelivery({
    control: { ...new MemoryControl(), get: () => Promise.reject(new Error('disk on fire')) } as unknown as ControlStore,
    clock: { nowMs: () => 1 }, logError: () => {}, logs: undefined,
  });
  await broken.delivered(trail({ CloudWatchLogsLogGroupArn: GROUP }), intent, [file(A, 'us-east-1', [record('1', A, 'us-east-1', 'x')])]);
  await broken.idle();
});

// --- Queues: one slow target never holds up another (issue 10, item 5) ---------------------------

const TRAIL_2 = `arn:aws:cloudtrail:us-east-1:${A}:trail/t2`;
const GROUP_2 = `arn:aws:logs:us-east-1:${A}:log-group:CloudTrail/other:*`;

/** Batch n: one file with its own key, so notifications tell batches apart. */
function batch(n: number, account = A, region = 'us-east-1') {
  return [{
    key: logFileKey({ accountId: account, region, deliveredMs: intent.deliveredMs, batchIdentity: `batch-${n}` }),
    body: gzipSync(Buffer.from(`{"Records":[${record(`e${n}`, account, region, '2026-03-04T05:00:00Z')}]}`)),
  }];
}
const keyOf = (message: string) => (JSON.parse(message) as { s3ObjectKey: string[] }).s3ObjectKey[0]!;

/** A promise with its resolve at hand. */
function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

interface Call { target: string; body: string; signal?: AbortSignal; release(): void }

/**
 * Targets that answer only when the test releases them (or at once, for `quick` ones), recording
 * every call with its signal. Nothing here honours the signal unless `honour` is set.
 */
function rig(opts: { quick?: string[]; honour?: boolean; after?: Partial<ConstructorParameters<typeof AfterDelivery>[1]>; hooks?: { url: string; trailArns?: string[]; timeoutMs?: number }[] } = {}) {
  const control = new MemoryControl();
  const calls: Call[] = [];
  const active = new Map<string, number>();
  let maxActivePerTarget = 0;
  const errors: string[] = [];
  const answer = async (target: string, body: string, signal?: AbortSignal): Promise<void> => {
    const d = deferred();
    calls.push({ target, body, signal, release: d.resolve });
    active.set(target, (active.get(target) ?? 0) + 1);
    maxActivePerTarget = Math.max(maxActivePerTarget, active.get(target)!);
    try {
      if (opts.quick?.includes(target)) return;
      const aborted = new Promise<never>((_, reject) => {
        if (opts.honour) signal?.addEventListener('abort', () => reject(new DeliveryTargetError('Aborted', 'aborted')), { once: true });
      });
      await Promise.race([d.promise, aborted]);
    } finally {
      active.set(target, active.get(target)! - 1);
    }
  };
  const after = new AfterDelivery({
    control, clock: { nowMs: () => Date.now() }, logError: (m) => errors.push(m),
    topics: { publish: (topic, _s, message, o) => answer(topic, message, o?.signal) },
    logs: {
      putLogEvents: async (group, stream, events, o) => {
        await answer(`${group}|${stream}`, events.map((e) => e.message).join('\n'), o?.signal);
        return { rejected: 0 };
      },
    },
    webhooks: {
      poster: { post: (url, body, req) => answer(url, body, req.signal) },
      targets: (opts.hooks ?? []).map((h) => ({ timeoutMs: 60_000, ...h })),
    },
  }, opts.after);
  const callsTo = (target: string) => calls.filter((c) => c.target === target);
  const status = async (arn = TRAIL_ARN) => control.get<NotificationStatus>(NOTIFICATION_STATUS_KIND, arn);
  const until = async (what: string, cond: () => boolean) => {
    for (let i = 0; !cond(); i++) {
      if (i > 2000) assert.fail(`never happened: ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  return { control, after, calls, callsTo, status, until, errors, maxActive: () => maxActivePerTarget };
}

async function logging(r: { control: MemoryControl }, ...arns: string[]) {
  for (const arn of arns) await r.control.put(DELIVERY_STATE_KIND, arn, { trailCreatedMs: 0, cursor: 10 } satisfies DeliveryState);
}

const TOPIC_2 = `arn:aws:sns:us-east-1:${A}:topic-two`;
const t2 = (extra: Partial<TrailDoc> = {}) => trail({ Name: 't2', TrailARN: TRAIL_2, ...extra });

test('delivered() only queues: it returns while targets still work, and a hung target holds up no other target', async () => {
  const r = rig({ quick: [TOPIC_2], hooks: [{ url: 'http://hung.example/', trailArns: [TRAIL_ARN] }] });
  await logging(r, TRAIL_ARN, TRAIL_2);
  await r.after.delivered(trail({ SnsTopicARN: TOPIC }), intent, batch(1)); // SNS topic and the webhook, both hang
  await r.until('both of t1\'s targets called', () => r.calls.length === 2);
  for (let n = 2; n <= 4; n++) await r.after.delivered(t2({ SnsTopicARN: TOPIC_2 }), intent, batch(n));
  await r.until('t2\'s topic got every batch', () => r.callsTo(TOPIC_2).length === 3);
  assert.deepEqual(r.callsTo(TOPIC_2).map((c) => keyOf(c.body)), [2, 3, 4].map((n) => batch(n)[0]!.key), 'in order');
  await r.until('t2\'s outcome recorded', () => r.control.docs.has(`${NOTIFICATION_STATUS_KIND}/${TRAIL_2}`));
  assert.equal((await r.status(TRAIL_2))!.latestNotificationError, undefined);
  assert.equal(await r.status(TRAIL_ARN), undefined, 't1\'s batch is still out: nothing recorded yet');
  // The topic answers; t1's batch settles only when its webhook does too.
  r.callsTo(TOPIC)[0]!.release();
  await new Promise((res) => setTimeout(res, 20));
  assert.equal(await r.status(TRAIL_ARN), undefined);
  r.callsTo('http://hung.example/')[0]!.release();
  await r.after.idle();
  const s = (await r.status(TRAIL_ARN))!;
  assert.equal(s.latestNotificationError, undefined);
  assert.ok(s.latestNotificationTimeMs !== undefined);
});

test('calls to one target never overlap and keep the delivery order; another log group goes on meanwhile', async () => {
  const r = rig({ quick: [`${GROUP_2}|${A}_CloudTrail_us-east-1`] });
  await logging(r, TRAIL_ARN, TRAIL_2);
  for (let n = 1; n <= 4; n++) await r.after.delivered(trail({ CloudWatchLogsLogGroupArn: GROUP }), intent, batch(n));
  for (let n = 5; n <= 7; n++) await r.after.delivered(t2({ CloudWatchLogsLogGroupArn: GROUP_2 }), intent, batch(n));
  const slow = `${GROUP}|${A}_CloudTrail_us-east-1`;
  await r.until('the other group got its batches', () => r.callsTo(`${GROUP_2}|${A}_CloudTrail_us-east-1`).length === 3);
  assert.equal(r.callsTo(slow).length, 1, 'the slow group has one call in flight and the rest waiting');
  for (let i = 0; i < 4; i++) {
    await r.until(`call ${i + 1} to the slow group`, () => r.callsTo(slow).length === i + 1);
    r.callsTo(slow)[i]!.release();
  }
  await r.after.idle();
  assert.equal(r.maxActive(), 1, 'never two calls at once to one target');
  assert.deepEqual(r.callsTo(slow).map((c) => (JSON.parse(c.body) as { eventID: string }).eventID), ['e1', 'e2', 'e3', 'e4']);
  assert.ok((await r.status(TRAIL_ARN))!.latestCloudWatchLogsDeliveryTimeMs !== undefined);
});

test('a full queue drops its oldest waiting batch, reports <Kind>QueueFull, and keeps the newest', async () => {
  const hook = 'http://slow.example/';
  const r = rig({ hooks: [{ url: hook }], after: { queueLength: 2 } });
  await logging(r, TRAIL_ARN);
  for (let n = 1; n <= 5; n++) await r.after.delivered(trail(), intent, batch(n)); // 1 in flight; 2, 3 wait; 4 and 5 push them out
  await r.until('the drops are recorded', () => r.control.docs.has(`${NOTIFICATION_STATUS_KIND}/${TRAIL_ARN}`));
  await new Promise((res) => setTimeout(res, 20));
  assert.equal((await r.status())!.latestNotificationError, 'WebhookQueueFull');
  assert.ok(r.errors.some((e) => /webhook #0: queue full/.test(e)), 'logged, naming the webhook by index');
  assert.ok(r.errors.every((e) => !e.includes('slow.example')), 'never by URL');
  for (let i = 0; i < 3; i++) {
    await r.until(`call ${i + 1}`, () => r.callsTo(hook).length === i + 1);
    r.callsTo(hook)[i]!.release();
  }
  await r.after.idle();
  assert.deepEqual(r.callsTo(hook).map((c) => keyOf(c.body)), [1, 4, 5].map((n) => batch(n)[0]!.key), 'the in-flight one, then the two newest, in order');
  assert.equal((await r.status())!.latestNotificationError, undefined, 'the newest got through and cleared the error');

  // Bytes bound the queue too: each waiting notification is ~200 bytes here.
  const b = rig({ hooks: [{ url: hook }], after: { queueLength: 100, queueBytes: 300 } });
  await logging(b, TRAIL_ARN);
  for (let n = 1; n <= 4; n++) await b.after.delivered(trail(), intent, batch(n));
  await b.until('first call', () => b.calls.length === 1);
  b.calls[0]!.release();
  await b.until('second call', () => b.calls.length === 2);
  b.calls[1]!.release();
  await b.after.idle();
  assert.deepEqual(b.calls.map((c) => keyOf(c.body)), [1, 4].map((n) => batch(n)[0]!.key));
});

test('a call that never answers is cut at its deadline, even by a driver that ignores its signal; the next batch then runs', async () => {
  const hook = 'http://deaf.example/';
  const r = rig({ hooks: [{ url: hook, timeoutMs: 100 }], after: { snsCallTimeoutMs: 100, logsCallTimeoutMs: 100 } });
  await logging(r, TRAIL_ARN);
  const t = trail({ SnsTopicARN: TOPIC, CloudWatchLogsLogGroupArn: GROUP });
  // Two streams in one batch: after the first times out, the second is not tried (it would wait as long again).
  await r.after.delivered(t, intent, [...batch(1), ...batch(2, A, 'eu-west-1')]);
  await r.after.delivered(t, intent, batch(3));
  await r.after.idle();
  const s = (await r.status())!;
  assert.equal(s.latestNotificationError, 'SnsTimeout; WebhookTimeout');
  assert.equal(s.latestCloudWatchLogsDeliveryError, 'CloudWatchLogsTimeout');
  assert.equal(r.callsTo(TOPIC).length, 2, 'the second batch was tried after the first timed out');
  assert.equal(r.callsTo(hook).length, 2);
  assert.equal(r.calls.filter((c) => c.target.startsWith(GROUP)).length, 2, 'one stream per batch: the timed-out batch stopped');
  assert.ok(r.calls.every((c) => c.signal?.aborted), 'every call\'s signal was aborted at its deadline');
});

test('close() drains the queues, cuts a hung target at the deadline (DroppedAtShutdown), and takes no batch afterwards', async () => {
  const hook = 'http://hung.example/';
  const r = rig({ quick: [TOPIC], honour: true, hooks: [{ url: hook }] });
  await logging(r, TRAIL_ARN, TRAIL_2);
  for (let n = 1; n <= 3; n++) await r.after.delivered(trail({ SnsTopicARN: TOPIC }), intent, batch(n)); // topic quick, webhook hangs
  for (let n = 4; n <= 5; n++) await r.after.delivered(t2({ CloudWatchLogsLogGroupArn: GROUP_2 }), intent, batch(n)); // released below
  await r.until('the log group call', () => r.calls.some((c) => c.target.startsWith(GROUP_2)));
  const closing = r.after.close(300);
  // A slow but answering target finishes within the drain.
  for (let i = 0; i < 2; i++) {
    await r.until(`log call ${i + 1}`, () => r.calls.filter((c) => c.target.startsWith(GROUP_2)).length === i + 1);
    r.calls.filter((c) => c.target.startsWith(GROUP_2))[i]!.release();
  }
  await closing;
  assert.equal(r.callsTo(TOPIC).length, 3, 'every queued SNS notification went out');
  assert.equal(r.callsTo(hook).length, 1, 'the hung webhook was called once; its waiting batches were dropped');
  assert.ok(r.callsTo(hook)[0]!.signal?.aborted, 'the call in flight was cut off');
  assert.equal((await r.status())!.latestNotificationError, 'DroppedAtShutdown');
  assert.ok((await r.status(TRAIL_2))!.latestCloudWatchLogsDeliveryTimeMs !== undefined);
  assert.equal((await r.status(TRAIL_2))!.latestCloudWatchLogsDeliveryError, undefined);
  assert.ok(r.errors.some((e) => /not sent within the 300 ms shutdown drain/.test(e)));
  const before = r.calls.length;
  await r.after.delivered(trail({ SnsTopicARN: TOPIC }), intent, batch(9));
  await r.after.idle();
  assert.equal(r.calls.length, before, 'nothing is taken after close');
});

test('an outcome is not recorded for a trail deleted, or deleted and created again, meanwhile', async () => {
  const r = rig({ quick: [TOPIC] });
  await r.after.delivered(trail({ SnsTopicARN: TOPIC }), intent, batch(1)); // no DeliveryState: deleted
  await r.control.put(DELIVERY_STATE_KIND, TRAIL_2, { trailCreatedMs: 99, cursor: 0 } satisfies DeliveryState);
  await r.after.delivered(t2({ SnsTopicARN: TOPIC, createdMs: 1 }), intent, batch(2)); // an older trail of the same ARN
  await r.after.idle();
  assert.equal(r.callsTo(TOPIC).length, 2);
  assert.equal(await r.status(TRAIL_ARN), undefined);
  assert.equal(await r.status(TRAIL_2), undefined);
});
