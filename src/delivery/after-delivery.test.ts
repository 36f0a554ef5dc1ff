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
  const published: { topic: string; subject: string; message: string }[] = [];
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
