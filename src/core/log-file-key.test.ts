import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logFileKey, parseLogFileKey, uniqueString } from './log-file-key.ts';

const at = Date.UTC(2026, 0, 2, 3, 4, 59, 999);

test('a log file key follows the CloudTrail layout', () => {
  const key = logFileKey({ accountId: '111122223333', region: 'us-east-2', deliveredMs: at, batchIdentity: 'trail/1-100' });
  assert.match(key, /^AWSLogs\/111122223333\/CloudTrail\/us-east-2\/2026\/01\/02\/111122223333_CloudTrail_us-east-2_20260102T0304Z_[A-Za-z0-9]{16}\.json\.gz$/);
});

test('prefix and organization id go before the account', () => {
  const key = logFileKey({ prefix: 'logs/ct', organizationId: 'o-aa11bb22cc', accountId: '111122223333', region: 'eu-west-1', deliveredMs: at, batchIdentity: 'x' });
  assert.ok(key.startsWith('logs/ct/AWSLogs/o-aa11bb22cc/111122223333/CloudTrail/eu-west-1/2026/01/02/'), key);
  assert.deepEqual(parseLogFileKey(key), { prefix: 'logs/ct', organizationId: 'o-aa11bb22cc', accountId: '111122223333', region: 'eu-west-1', unique: uniqueString('x') });
});

test('the unique string is a function of the batch identity', () => {
  assert.equal(uniqueString('trail/1-100'), uniqueString('trail/1-100'));
  assert.notEqual(uniqueString('trail/1-100'), uniqueString('trail/1-101'));
  const seen = new Set(Array.from({ length: 2000 }, (_, i) => uniqueString(`b${i}`)));
  assert.equal(seen.size, 2000);
});

test('keys that are not log files do not parse', () => {
  assert.equal(parseLogFileKey('AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/01/02/x.json.gz'), undefined);
  assert.equal(parseLogFileKey('AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/03/111122223333_CloudTrail_us-east-1_20260102T0304Z_AAAAAAAAAAAAAAAA.json.gz'), undefined, 'folder date must match the name');
});
