/** Config of the after-delivery targets: `cloudWatchLogs` (a neighbour like `sns`) and `webhooks`. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, defaultConfig, resolveConfig } from './config.ts';

const STARTED = '2026-11-21T10:00:00Z';
const ARN = 'arn:aws:cloudtrail:us-east-1:111111111111:trail/main';

test('cloudWatchLogs and webhooks are read with their defaults', () => {
  const cfg = resolveConfig({
    cloudWatchLogs: { endpoint: 'http://127.0.0.1:5000', region: 'eu-west-1', accessKeyId: 'k', secretAccessKey: 's' },
    webhooks: [
      { url: 'https://hooks.example/ct' },
      { url: 'http://10.0.0.1:8080/x', trailArns: [ARN, ARN], headers: { Authorization: 'Bearer t' }, timeoutMs: 1500 },
    ],
  }, defaultConfig(), STARTED);
  assert.deepEqual(cfg.cloudWatchLogs, { endpoint: 'http://127.0.0.1:5000', region: 'eu-west-1', accessKeyId: 'k', secretAccessKey: 's', requestTimeoutMs: 10_000, maxAttempts: 3 });
  assert.deepEqual(cfg.webhooks, [
    { url: 'https://hooks.example/ct', timeoutMs: 5000 },
    { url: 'http://10.0.0.1:8080/x', trailArns: [ARN], headers: { Authorization: 'Bearer t' }, timeoutMs: 1500 },
  ]);
  assert.equal(defaultConfig().webhooks, undefined);
  assert.equal(defaultConfig().cloudWatchLogs, undefined);
});

test('bad webhooks are refused naming the key', () => {
  const bad: [unknown, RegExp][] = [
    [{ url: 'ftp://x/y' }, /webhooks\[0\]\.url must be an http or https URL/],
    [{ url: 'not a url' }, /webhooks\[0\]\.url/],
    [{}, /webhooks\[0\]\.url is required/],
    [{ url: 'http://x', trailArns: ['main'] }, /webhooks\[0\]\.trailArns/],
    [{ url: 'http://x', trailArns: [] }, /webhooks\[0\]\.trailArns/],
    [{ url: 'http://x', headers: { 'bad header': 'v' } }, /webhooks\[0\]\.headers/],
    [{ url: 'http://x', timeoutMs: 5 }, /webhooks\[0\]\.timeoutMs must be a number >= 100/],
  ];
  for (const [w, msg] of bad) assert.throws(() => resolveConfig({ webhooks: [w] }, defaultConfig(), STARTED), (e: Error) => e instanceof ConfigError && msg.test(e.message), JSON.stringify(w));
  assert.throws(() => resolveConfig({ webhooks: { url: 'http://x' } }, defaultConfig(), STARTED), /config.webhooks must be a list/);
  assert.throws(() => resolveConfig({ cloudWatchLogs: 'http://x' }, defaultConfig(), STARTED), /config.cloudWatchLogs must be an object/);
});

test('after-delivery limits: per-target queues, shutdown drain, and the SDK neighbours\' time limits', () => {
  const d = defaultConfig().delivery;
  assert.deepEqual({ l: d.targetQueueLength, b: d.targetQueueBytes, t: d.drainTimeoutMs }, { l: 100, b: 64 * 1024 * 1024, t: 10_000 });
  const cfg = resolveConfig({
    delivery: { targetQueueLength: 5, targetQueueBytes: 4096, drainTimeoutMs: 0 },
    sns: { endpoint: 'http://127.0.0.1:5000' },
    cloudWatchLogs: { endpoint: 'http://127.0.0.1:5000', requestTimeoutMs: 2500, maxAttempts: 1 },
  }, defaultConfig(), STARTED);
  assert.deepEqual({ l: cfg.delivery.targetQueueLength, b: cfg.delivery.targetQueueBytes, t: cfg.delivery.drainTimeoutMs }, { l: 5, b: 4096, t: 0 });
  assert.equal(cfg.delivery.maxAgeMs, 30_000, 'the other delivery keys keep their defaults');
  assert.deepEqual({ t: cfg.sns!.requestTimeoutMs, a: cfg.sns!.maxAttempts }, { t: 5000, a: 3 });
  assert.deepEqual({ t: cfg.cloudWatchLogs!.requestTimeoutMs, a: cfg.cloudWatchLogs!.maxAttempts }, { t: 2500, a: 1 });
  const bad: [unknown, RegExp][] = [
    [{ delivery: { targetQueueLength: 0 } }, /config\.delivery\.targetQueueLength must be a number >= 1/],
    [{ delivery: { targetQueueBytes: 10 } }, /config\.delivery\.targetQueueBytes must be a number >= 1024/],
    [{ delivery: { drainTimeoutMs: -1 } }, /config\.delivery\.drainTimeoutMs must be a number >= 0/],
    [{ sns: { requestTimeoutMs: 0 } }, /config\.sns\.requestTimeoutMs must be a number >= 100/],
    [{ cloudWatchLogs: { maxAttempts: 0 } }, /config\.cloudWatchLogs\.maxAttempts must be a number >= 1/],
    [{ cloudWatchLogs: { maxAttempts: 1.5 } }, /config\.cloudWatchLogs\.maxAttempts must be a whole number from 1 to 10/],
    [{ sns: { maxAttempts: 50 } }, /config\.sns\.maxAttempts must be a whole number from 1 to 10/],
  ];
  for (const [doc, msg] of bad) assert.throws(() => resolveConfig(doc, defaultConfig(), STARTED), (e: Error) => e instanceof ConfigError && msg.test(e.message), JSON.stringify(doc));
});
