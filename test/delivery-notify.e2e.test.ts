/**
 * After-delivery side effects against real neighbours: S3 (the bucket), SNS, SQS and CloudWatch
 * Logs on one moto server, plus a local HTTP server as the webhook target.
 *
 * - An SQS queue subscribed to the trail's topic receives exactly one SNS notification per batch,
 *   `{"s3Bucket": ..., "s3ObjectKey": [...]}`, naming every delivered file once and only files that
 *   are in the bucket; the webhook receives the same bodies.
 * - The trail's log group holds every delivered record, verbatim, in streams
 *   `<account>_CloudTrail_<region>`, with eventTime as the timestamp.
 * - A deleted topic, a webhook answering 500 and a missing log group show up in GetTrailStatus while
 *   the log files still arrive, exactly once; a failed notification is not sent again later.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { CreateTopicCommand, DeleteTopicCommand, SetTopicAttributesCommand, SubscribeCommand, type SNSClient } from '@aws-sdk/client-sns';
import { CreateQueueCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { CloudWatchLogsClient, CreateLogGroupCommand, DescribeLogStreamsCommand, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { CreateTrailCommand, GetTrailStatusCommand, StartLoggingCommand, type CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, ACCOUNT_B, cloudTrailClient, startServer, type StartedServer, type TestConfig } from './helpers/server.ts';
import { MOTO_CREDENTIALS, MOTO_REGION, motoNeighbourConfig, motoS3, motoSns, startMoto, type StartedMoto } from './helpers/moto.ts';
import { signedFetch } from './helpers/signed-fetch.ts';

const A = ACCOUNT_A.id;
const B = ACCOUNT_B.id;
const alice = ACCOUNT_A.identities[1]!; // trustedProducer
const REGIONS = ['us-east-1', 'eu-west-1'];
const trailArn = (name: string) => `arn:aws:cloudtrail:us-east-1:${A}:trail/${name}`;
const ROLE = `arn:aws:iam::${A}:role/CloudTrail_CloudWatchLogs_Role`;
const GROUP = 'CloudTrail/opentrail';
const groupArn = (name: string) => `arn:aws:logs:us-east-1:${A}:log-group:${name}:*`;

interface Rec { eventID: string; eventTime: string; awsRegion: string; recipientAccountId: string; [k: string]: unknown }
interface Hook { path: string; headers: Record<string, string | string[] | undefined>; body: string }

let moto: StartedMoto;
let server: StartedServer;
let hookServer: Server;
const hooks: Hook[] = [];
let s3: S3Client;
let sns: SNSClient;
let sqs: SQSClient;
let logs: CloudWatchLogsClient;
let ct: CloudTrailClient;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}\n${server?.output().slice(-3000)}`);
    await sleep(100);
  }
}

before(async () => {
  moto = await startMoto({ accountId: A });
  const creds = { ...MOTO_CREDENTIALS };
  s3 = motoS3(moto);
  sns = motoSns(moto);
  sqs = new SQSClient({ endpoint: moto.url, region: MOTO_REGION, credentials: creds, maxAttempts: 1 });
  logs = new CloudWatchLogsClient({ endpoint: moto.url, region: MOTO_REGION, credentials: creds, maxAttempts: 1 });
  hookServer = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => {
      hooks.push({ path: req.url ?? '', headers: req.headers, body });
      res.statusCode = req.url === '/fail' ? 500 : 204;
      res.end();
    });
  });
  await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', r));
  const hookUrl = `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}`;
  const config: TestConfig & Record<string, unknown> = {
    regions: REGIONS,
    accounts: [ACCOUNT_A, ACCOUNT_B],
    delivery: { maxAgeMs: 300, pollMs: 50 },
    ...motoNeighbourConfig(moto),
    cloudWatchLogs: { endpoint: moto.url, region: MOTO_REGION, ...MOTO_CREDENTIALS },
    webhooks: [
      { url: `${hookUrl}/ok`, trailArns: [trailArn('notified')], headers: { authorization: 'Bearer hook-secret' } },
      { url: `${hookUrl}/fail`, trailArns: [trailArn('broken')], timeoutMs: 2000 },
    ],
  };
  server = await startServer(config);
  ct = cloudTrailClient(server.url, alice, 'us-east-1');
});

after(async () => {
  ct?.destroy();
  s3?.destroy();
  sns?.destroy();
  sqs?.destroy();
  logs?.destroy();
  await server?.stop();
  await moto?.stop();
  await new Promise((r) => hookServer?.close(r));
});

/** A topic CloudTrail may publish to (AWS's documented statement), with an SQS queue subscribed. */
async function topicWithQueue(name: string): Promise<{ topicArn: string; queueUrl: string }> {
  const topicArn = (await sns.send(new CreateTopicCommand({ Name: name }))).TopicArn!;
  await sns.send(new SetTopicAttributesCommand({
    TopicArn: topicArn, AttributeName: 'Policy',
    AttributeValue: JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'AWSCloudTrailSNSPolicy20131101', Effect: 'Allow', Principal: { Service: 'cloudtrail.amazonaws.com' }, Action: 'SNS:Publish', Resource: topicArn }] }),
  }));
  const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `${name}-queue-${Date.now()}` }))).QueueUrl!;
  const queueArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
  await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: queueArn }));
  return { topicArn, queueUrl };
}

/** Every SNS envelope waiting in the queue (received and deleted). */
async function drain(queueUrl: string): Promise<Record<string, string>[]> {
  const out: Record<string, string>[] = [];
  for (;;) {
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    const msgs = got.Messages ?? [];
    if (msgs.length === 0) return out;
    for (const m of msgs) out.push(JSON.parse(m.Body!) as Record<string, string>);
    await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: msgs.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
  }
}

/** Every log file in the bucket: key -> records. */
async function bucketFiles(bucket: string): Promise<Map<string, Rec[]>> {
  const out = new Map<string, Rec[]>();
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      if (!o.Key!.endsWith('.json.gz')) continue;
      const body = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }))).Body!.transformToByteArray());
      out.set(o.Key!, (JSON.parse(gunzipSync(body).toString('utf8')) as { Records: Rec[] }).Records);
    }
    token = page.NextContinuationToken;
  } while (token);
  return out;
}

async function streamEvents(group: string, stream: string): Promise<{ timestamp: number; message: string }[]> {
  const out: { timestamp: number; message: string }[] = [];
  let token: string | undefined;
  for (;;) {
    const page = await logs.send(new GetLogEventsCommand({ logGroupName: group, logStreamName: stream, startFromHead: true, nextToken: token }));
    for (const e of page.events ?? []) out.push({ timestamp: e.timestamp!, message: e.message! });
    if (!page.nextForwardToken || page.nextForwardToken === token || (page.events ?? []).length === 0) return out;
    token = page.nextForwardToken;
  }
}

function traffic(n: number): Rec[] {
  return Array.from({ length: n }, (_, i) => ({
    eventID: randomUUID(),
    eventTime: new Date(Date.now() - (n - i) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    eventSource: i % 3 === 0 ? 'iam.amazonaws.com' : 'ec2.amazonaws.com',
    eventName: i % 2 ? 'RunInstances' : 'DescribeInstances',
    awsRegion: REGIONS[i % 2]!,
    recipientAccountId: i % 9 === 0 ? B : A,
  }));
}

async function ingest(records: object[]): Promise<void> {
  const res = await signedFetch(`${server.url}/ingest`, alice, { body: JSON.stringify({ Records: records }), headers: { 'content-type': 'application/json' } });
  const out = (await res.json()) as { accepted: number; rejected: number };
  assert.equal(out.rejected, 0, JSON.stringify(out));
}

const mine = (sent: Rec[]) => sent.filter((r) => r.recipientAccountId === A);

test('notifications, webhooks and CloudWatch Logs follow every delivered batch; failures are reported while files still arrive', async () => {
  await s3.send(new CreateBucketCommand({ Bucket: 'notified-bucket' }));
  await s3.send(new CreateBucketCommand({ Bucket: 'broken-bucket' }));
  const good = await topicWithQueue('delivery-topic');
  const doomed = await topicWithQueue('doomed-topic');
  await logs.send(new CreateLogGroupCommand({ logGroupName: GROUP }));
  await ct.send(new CreateTrailCommand({
    Name: 'notified', S3BucketName: 'notified-bucket', S3KeyPrefix: 'ct', IsMultiRegionTrail: true, SnsTopicName: 'delivery-topic',
    CloudWatchLogsLogGroupArn: groupArn(GROUP), CloudWatchLogsRoleArn: ROLE,
  }));
  await ct.send(new CreateTrailCommand({
    Name: 'broken', S3BucketName: 'broken-bucket', IsMultiRegionTrail: true, SnsTopicName: 'doomed-topic',
    CloudWatchLogsLogGroupArn: groupArn('no-such-group'), CloudWatchLogsRoleArn: ROLE,
  }));
  await sns.send(new DeleteTopicCommand({ TopicArn: doomed.topicArn })); // accepted at CreateTrail, gone now
  for (const name of ['notified', 'broken']) await ct.send(new StartLoggingCommand({ Name: name }));

  const sent = traffic(180);
  await ingest(sent.slice(0, 90));
  await sleep(600); // a second batch
  await ingest(sent.slice(90));
  const want = new Set(mine(sent).map((r) => r.eventID));

  // Files: both trails deliver every one of their events exactly once.
  const delivered = async (bucket: string) => [...(await bucketFiles(bucket)).values()].flat().filter((r) => want.has(r.eventID));
  for (const bucket of ['notified-bucket', 'broken-bucket']) {
    await waitFor(`${bucket} to hold every event`, async () => ((await delivered(bucket)).length >= want.size ? true : undefined));
  }
  await sleep(800); // anything extra would have arrived by now
  const files = await bucketFiles('notified-bucket');
  for (const bucket of ['notified-bucket', 'broken-bucket']) {
    const ids = (await delivered(bucket)).map((r) => r.eventID);
    assert.equal(ids.length, want.size, `${bucket}: every event once`);
    assert.deepEqual(new Set(ids), want);
  }
  assert.ok(files.size >= 3, `several files (two regions, two batches): ${files.size}`);

  // SNS -> SQS: one envelope per batch; together they name every file once and nothing else.
  const acc: Record<string, string>[] = [];
  const envelopes = await waitFor('notifications for every file', async () => {
    const got = await drain(good.queueUrl);
    acc.push(...got);
    const named = acc.flatMap((e) => (JSON.parse(e.Message!) as { s3ObjectKey: string[] }).s3ObjectKey);
    return named.length >= files.size ? acc : undefined;
  });
  await sleep(300);
  envelopes.push(...(await drain(good.queueUrl)));
  const named: string[] = [];
  for (const env of envelopes) {
    assert.equal(env.Type, 'Notification');
    assert.equal(env.TopicArn, good.topicArn);
    assert.equal(env.Subject, '[AWS CloudTrail] New log file(s) delivered');
    const msg = JSON.parse(env.Message!) as { s3Bucket: string; s3ObjectKey: string[] };
    assert.deepEqual(Object.keys(msg), ['s3Bucket', 's3ObjectKey']);
    assert.equal(msg.s3Bucket, 'notified-bucket');
    assert.ok(msg.s3ObjectKey.length >= 1);
    named.push(...msg.s3ObjectKey);
  }
  assert.equal(new Set(named).size, named.length, 'no file is notified twice');
  assert.deepEqual(new Set(named), new Set(files.keys()), 'every file in the bucket is notified, and only those');
  for (const key of named) await s3.send(new HeadObjectCommand({ Bucket: 'notified-bucket', Key: key }));
  assert.ok(envelopes.length < files.size, `one message per batch, not per file (${envelopes.length} messages, ${files.size} files)`);

  // The webhook got the same bodies, as JSON, with its configured header.
  const okHooks = hooks.filter((h) => h.path === '/ok');
  assert.deepEqual(okHooks.map((h) => h.body).sort(), envelopes.map((e) => e.Message!).sort());
  for (const h of okHooks) {
    assert.equal(h.headers['content-type'], 'application/json');
    assert.equal(h.headers.authorization, 'Bearer hook-secret');
    assert.equal(h.headers['x-opentrail-trail-arn'], trailArn('notified'));
  }

  // CloudWatch Logs: every delivered record of the trail, verbatim, in <account>_CloudTrail_<region>.
  const streams = (await logs.send(new DescribeLogStreamsCommand({ logGroupName: GROUP }))).logStreams!.map((s) => s.logStreamName).sort();
  assert.deepEqual(streams, [`${A}_CloudTrail_eu-west-1`, `${A}_CloudTrail_us-east-1`]);
  const fileRecords = new Map([...files.values()].flat().map((r) => [r.eventID, r]));
  const seen = new Set<string>();
  for (const region of REGIONS) {
    const events = await streamEvents(GROUP, `${A}_CloudTrail_${region}`);
    for (let i = 1; i < events.length; i++) assert.ok(events[i - 1]!.timestamp <= events[i]!.timestamp, 'in eventTime order');
    for (const e of events) {
      const r = JSON.parse(e.message) as Rec;
      assert.equal(r.awsRegion, region);
      assert.equal(r.recipientAccountId, A);
      assert.deepEqual(r, fileRecords.get(r.eventID), 'the record as in the log file');
      assert.equal(e.timestamp, Date.parse(r.eventTime));
      assert.ok(!seen.has(r.eventID), 'each record once');
      seen.add(r.eventID);
    }
  }
  assert.deepEqual(seen, new Set(fileRecords.keys()));

  const ok = await ct.send(new GetTrailStatusCommand({ Name: 'notified' }));
  assert.ok(ok.LatestNotificationTime instanceof Date);
  assert.equal(ok.LatestNotificationError, undefined);
  assert.ok(ok.LatestCloudWatchLogsDeliveryTime instanceof Date);
  assert.equal(ok.LatestCloudWatchLogsDeliveryError, undefined);
  assert.ok(ok.LatestDeliveryTime instanceof Date);

  // The broken trail: files arrived (above), the failures are reported, delivery itself is fine.
  const bad = await waitFor('the broken trail\'s errors', async () => {
    const s = await ct.send(new GetTrailStatusCommand({ Name: 'broken' }));
    return s.LatestNotificationError && s.LatestCloudWatchLogsDeliveryError ? s : undefined;
  });
  assert.equal(bad.LatestNotificationError, 'NotFound; WebhookHttp500');
  assert.equal(bad.LatestCloudWatchLogsDeliveryError, 'ResourceNotFoundException');
  assert.equal(bad.LatestNotificationTime, undefined, 'never notified');
  assert.notEqual(bad.LatestNotificationAttemptTime, '');
  assert.equal(bad.LatestDeliveryError, undefined);
  assert.ok(bad.LatestDeliveryTime instanceof Date);
  assert.ok(hooks.some((h) => h.path === '/fail'), 'the failing webhook was tried');

  // The topic comes back: the next batch is notified and clears the error; the failed batches are not sent again.
  const oldKeys = new Set((await bucketFiles('broken-bucket')).keys());
  const back = await topicWithQueue('doomed-topic');
  assert.equal(back.topicArn, doomed.topicArn);
  const more = traffic(20).map((r) => ({ ...r, recipientAccountId: A }));
  await ingest(more);
  // Every file holding the new events is notified. A file delivered after oldKeys was read but
  // before the topic was back (the self-audit records of the GetTrailStatus calls above) had its
  // notification fail, and is dropped as the failed batches are: it is in the bucket, not notified
  // (on a loaded machine it was; comparing all new files with the notified ones failed then).
  const later: Record<string, string>[] = [];
  const keysOf = (envs: Record<string, string>[]) => envs.flatMap((e) => (JSON.parse(e.Message!) as { s3ObjectKey: string[] }).s3ObjectKey);
  const newFilesOf = async () => [...(await bucketFiles('broken-bucket'))].filter(([k]) => !oldKeys.has(k));
  const moreIds = new Set(more.map((r) => r.eventID));
  const withMore = (files: [string, Rec[]][]) => files.filter(([, recs]) => recs.some((r) => moreIds.has(r.eventID))).map(([k]) => k);
  await waitFor('a notification for every file of the new events', async () => {
    later.push(...(await drain(back.queueUrl)));
    const files = await newFilesOf();
    const stored = new Set(files.flatMap(([, recs]) => recs.map((r) => r.eventID)));
    const notified = new Set(keysOf(later));
    return more.every((r) => stored.has(r.eventID)) && withMore(files).every((k) => notified.has(k)) ? true : undefined;
  });
  await sleep(500);
  later.push(...(await drain(back.queueUrl)));
  const laterKeys = keysOf(later);
  assert.ok(laterKeys.every((k) => !oldKeys.has(k)), 'failed notifications are dropped, not redelivered');
  assert.equal(new Set(laterKeys).size, laterKeys.length, 'no file is notified twice');
  const newKeys = new Set((await newFilesOf()).map(([k]) => k));
  assert.ok(laterKeys.every((k) => newKeys.has(k)), 'only files in the bucket are notified');
  const healed = await waitFor('the SNS part of the error to clear', async () => {
    const s = await ct.send(new GetTrailStatusCommand({ Name: 'broken' }));
    return s.LatestNotificationError === 'WebhookHttp500' ? s : undefined;
  });
  assert.ok(healed.LatestNotificationTime instanceof Date, 'the SNS notification went out; the webhook error stays reported');
});
