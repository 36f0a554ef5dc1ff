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
  assert.deepEqual(cfg.cloudWatchLogs, { endpoint: 'http://127.0.0.1:5000', region: 'eu-west-1', accessKeyId: 'k', secretAccessKey: 's' });
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
