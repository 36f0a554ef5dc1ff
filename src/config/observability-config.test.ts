/** Config `logLevel` and `metrics` (docs/operations.md): defaults, accepted values, and errors that name the key. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, defaultConfig, resolveConfig } from './config.ts';

const STARTED = '2026-01-01T00:00:00Z';

test('logLevel and metrics: defaults and accepted values', () => {
  const d = defaultConfig();
  assert.equal(d.logLevel, 'info');
  assert.deepEqual(d.metrics, { enabled: true, apiPortCallers: 'loopback' });
  const c = resolveConfig({ logLevel: 'warn', metrics: { port: 9464 } }, defaultConfig(), STARTED);
  assert.equal(c.logLevel, 'warn');
  assert.deepEqual(c.metrics, { enabled: true, apiPortCallers: 'loopback', port: 9464 });
  assert.deepEqual(resolveConfig({ metrics: { enabled: false } }, defaultConfig(), STARTED).metrics, { enabled: false, apiPortCallers: 'loopback' });
});

test('logLevel and metrics: bad values are errors naming the key', () => {
  const bad: [unknown, RegExp][] = [
    [{ logLevel: 'verbose' }, /logLevel/],
    [{ logLevel: 3 }, /logLevel/],
    [{ metrics: true }, /metrics/],
    [{ metrics: { enabled: 'yes' } }, /metrics\.enabled/],
    [{ metrics: { port: 70000 } }, /metrics\.port/],
    [{ metrics: { port: '9464' } }, /metrics\.port/],
  ];
  for (const [doc, msg] of bad) assert.throws(() => resolveConfig(doc, defaultConfig(), STARTED), (e: Error) => e instanceof ConfigError && msg.test(e.message), JSON.stringify(doc));
});
