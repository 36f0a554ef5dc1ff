import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  awsLogsPrefix, dayFolderPrefix, digestKey, logFileKey, logFileNamePattern, parseDigestKey, parseLogFileKey, regionFolderPrefix, trailDigestKeyPattern, uniqueString,
} from './bucket-keys.ts';

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

test('every kind of file lives under one account folder', () => {
  const where = { prefix: 'p/q', organizationId: 'o-aa11bb22cc', accountId: '111122223333', region: 'eu-west-1' };
  assert.equal(awsLogsPrefix(undefined, '111122223333'), 'AWSLogs/111122223333/');
  assert.equal(awsLogsPrefix('', 'o-aa11bb22cc'), 'AWSLogs/o-aa11bb22cc/');
  assert.equal(awsLogsPrefix('p/q'), 'p/q/AWSLogs/');
  assert.equal(regionFolderPrefix('CloudTrail-Insight', where), 'p/q/AWSLogs/o-aa11bb22cc/111122223333/CloudTrail-Insight/eu-west-1/');
  assert.equal(dayFolderPrefix('CloudTrail', where, at), 'p/q/AWSLogs/o-aa11bb22cc/111122223333/CloudTrail/eu-west-1/2026/01/02/');
  const log = logFileKey({ ...where, deliveredMs: at, batchIdentity: 'b' });
  const digest = digestKey({ ...where, trailName: 't.1', homeRegion: 'us-east-1', endMs: at });
  assert.ok(log.startsWith(dayFolderPrefix('CloudTrail', where, at)), log);
  assert.ok(digest.startsWith(dayFolderPrefix('CloudTrail-Digest', where, at)), digest);
  assert.equal(parseDigestKey(digest)?.trailName, 't.1');
  assert.equal(parseLogFileKey(digest), undefined);
  assert.equal(parseDigestKey(log), undefined);
});

test('Insights log files: named like log files under CloudTrail-Insight, told apart by kind', () => {
  const key = logFileKey({ accountId: '111122223333', region: 'us-east-2', deliveredMs: at, batchIdentity: 'i' }, 'CloudTrail-Insight');
  assert.match(key, /^AWSLogs\/111122223333\/CloudTrail-Insight\/us-east-2\/2026\/01\/02\/111122223333_CloudTrail-Insight_us-east-2_20260102T0304Z_[A-Za-z0-9]{16}\.json\.gz$/);
  assert.deepEqual(parseLogFileKey(key, 'CloudTrail-Insight'), { prefix: undefined, organizationId: undefined, accountId: '111122223333', region: 'us-east-2', unique: uniqueString('i') });
  assert.equal(parseLogFileKey(key), undefined);
  assert.equal(parseLogFileKey(logFileKey({ accountId: '111122223333', region: 'us-east-2', deliveredMs: at, batchIdentity: 'i' }), 'CloudTrail-Insight'), undefined);
});

test('the patterns validate-logs lists with: one trail\'s digests, one account and Region\'s log file names', () => {
  const where = { prefix: 'a.b', accountId: '111122223333', region: 'us-east-1' };
  const re = trailDigestKeyPattern({ ...where, trailName: 'my.trail', homeRegion: 'us-west-2' });
  const mine = digestKey({ ...where, trailName: 'my.trail', homeRegion: 'us-west-2', endMs: at });
  assert.ok(re.test(mine), mine);
  assert.ok(re.test(mine.replace('.json.gz', '_backfill.json.gz')));
  assert.ok(!re.test(digestKey({ ...where, trailName: 'myXtrail', homeRegion: 'us-west-2', endMs: at })), 'a dot in the trail name is no wildcard');
  assert.ok(!re.test(digestKey({ ...where, prefix: 'aXb', trailName: 'my.trail', homeRegion: 'us-west-2', endMs: at })), 'nor in the prefix');
  assert.ok(!re.test(digestKey({ ...where, trailName: 'my.trail', homeRegion: 'us-east-1', endMs: at })), 'another home Region');
  const name = logFileNamePattern('111122223333', 'us-east-1');
  const log = logFileKey({ ...where, deliveredMs: at, batchIdentity: 'x' });
  assert.deepEqual(name.exec(log.slice(dayFolderPrefix('CloudTrail', where, at).length))?.slice(1), ['2026', '01', '02', '03', '04']);
  assert.equal(name.exec(log), null, 'a name, not a key');
  assert.equal(logFileNamePattern('111122223333', 'us-east-2').exec(log.slice(log.lastIndexOf('/') + 1)), null);
});
