/**
 * The SDK neighbours after delivery calls give up on an endpoint that accepts the connection and
 * never answers: each attempt at requestTimeoutMs (the SDK only warns unless throwOnRequestTimeout
 * is set, and then waits for ever), at most maxAttempts, and at once when the caller's signal
 * aborts. Real clients against a real local socket; nothing mocked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { DeliveryTargetError } from '../delivery-targets.ts';
import { CloudWatchLogsSink } from './cloudwatch-logs-sink.ts';
import { SnsTopicPublisher } from './sns-topic-publisher.ts';
import { SnsTopicDirectory } from './sns-topic-directory.ts';
import { EventBridgePublisher } from './eventbridge-publisher.ts';
import { SqsSender } from './sqs-sender.ts';
import { NeighbourUnavailableError } from '../object-store.ts';

async function blackHole() {
  const sockets = new Set<Socket>();
  let requests = 0;
  const srv = createServer((s) => {
    sockets.add(s);
    s.once('data', () => requests++);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    requests: () => requests,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => srv.close(r));
    },
  };
}

const code = (c: string) => (e: unknown) => e instanceof DeliveryTargetError && e.code === c;
const creds = { region: 'us-east-1', accessKeyId: 'testing', secretAccessKey: 'testing' };
const TOPIC = 'arn:aws:sns:us-east-1:111111111111:t';
const GROUP = 'arn:aws:logs:us-east-1:111111111111:log-group:g:*';

test('SNS Publish to a silent endpoint fails with SnsTimeout after maxAttempts attempts', { timeout: 30_000 }, async () => {
  const hole = await blackHole();
  // The whole call is bounded by requestTimeoutMs x maxAttempts: at 200 ms a loaded CI machine
  // reached that bound before the client had written its first request (0 attempts seen).
  const sns = new SnsTopicPublisher({ endpoint: hole.endpoint, ...creds }, { requestTimeoutMs: 1000, maxAttempts: 2 });
  try {
    await assert.rejects(sns.publish(TOPIC, 's', 'm'), code('SnsTimeout'));
    assert.ok(hole.requests() >= 1 && hole.requests() <= 2, `${hole.requests()} attempt(s)`);
    const ctrl = new AbortController();
    const p = sns.publish(TOPIC, 's', 'm', { signal: ctrl.signal });
    ctrl.abort();
    await assert.rejects(p, code('SnsTimeout'));
  } finally {
    sns.destroy();
    await hole.close();
  }
});

test('CloudWatch Logs to a silent endpoint fails with CloudWatchLogsTimeout', { timeout: 30_000 }, async () => {
  const hole = await blackHole();
  const logs = new CloudWatchLogsSink({ endpoint: hole.endpoint, ...creds }, { requestTimeoutMs: 200, maxAttempts: 1 });
  try {
    await assert.rejects(logs.putLogEvents(GROUP, 's', [{ timestamp: 1, message: 'm' }]), code('CloudWatchLogsTimeout'));
    const ctrl = new AbortController();
    const p = logs.putLogEvents(GROUP, 's', [{ timestamp: 1, message: 'm' }], { signal: ctrl.signal });
    setTimeout(() => ctrl.abort(), 20);
    await assert.rejects(p, code('CloudWatchLogsTimeout'));
  } finally {
    logs.destroy();
    await hole.close();
  }
});

test('the topic check of CreateTrail gives up on a silent SNS endpoint (unavailable) instead of waiting for ever', { timeout: 30_000 }, async () => {
  const hole = await blackHole();
  const dir = new SnsTopicDirectory({ endpoint: hole.endpoint, ...creds }, { requestTimeoutMs: 200, maxAttempts: 1 });
  try {
    await assert.rejects(dir.topicPolicy(TOPIC), (e: unknown) => e instanceof NeighbourUnavailableError);
  } finally {
    dir.destroy();
    await hole.close();
  }
});

test('EventBridge PutEvents and SQS SendMessage to a silent endpoint fail with EventBridgeTimeout / SqsTimeout', { timeout: 30_000 }, async () => {
  const hole = await blackHole();
  const eb = new EventBridgePublisher({ endpoint: hole.endpoint, ...creds }, { requestTimeoutMs: 200, maxAttempts: 1 });
  const sqs = new SqsSender({ endpoint: hole.endpoint, ...creds }, { requestTimeoutMs: 200, maxAttempts: 1 });
  try {
    const entry = { Source: 'aws.ec2', DetailType: 'AWS API Call via CloudTrail', Detail: '{}', Resources: [], Time: new Date(), EventBusName: 'default' };
    await assert.rejects(eb.putEvents('us-east-1', [entry]), code('EventBridgeTimeout'));
    await assert.rejects(sqs.send(`${hole.endpoint}/111111111111/q`, 'm'), code('SqsTimeout'));
    const ctrl = new AbortController();
    const p = sqs.send(`${hole.endpoint}/111111111111/q`, 'm', { signal: ctrl.signal });
    ctrl.abort();
    await assert.rejects(p, code('SqsTimeout'));
  } finally {
    eb.destroy();
    sqs.destroy();
    await hole.close();
  }
});
