import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchName, keyAccount, keyPrefix, logFileDay, wantsKey } from './keys.ts';

const key = (day: string, org = '') => `p/AWSLogs/${org}111122223333/CloudTrail/eu-west-1/${day.replaceAll('-', '/')}/111122223333_CloudTrail_eu-west-1_${day.replaceAll('-', '')}T0005Z_abc.json.gz`;

test('logFileDay: trail log files only (with or without an organization id), by their day folder', () => {
  assert.equal(logFileDay(key('2024-02-29')), Date.UTC(2024, 1, 29));
  assert.equal(logFileDay(key('2024-02-29', 'o-abcdefghij/')), Date.UTC(2024, 1, 29));
  assert.equal(logFileDay(key('2024-02-29').replace('/CloudTrail/', '/CloudTrail-Digest/')), undefined);
  assert.equal(logFileDay(key('2024-02-29').replace('.json.gz', '.json')), undefined);
  assert.equal(logFileDay('AWSLogs/111122223333/CloudTrail/us-east-1/2024/02/x.json.gz'), undefined);
});

const mine = new Set(['111122223333']);

test('wantsKey: day folders within the range widened by a day on each side', () => {
  const start = Date.parse('2024-03-10T12:00:00Z');
  const end = Date.parse('2024-03-12T01:00:00Z');
  assert.equal(wantsKey(key('2024-03-08'), start, end, mine), false);
  assert.equal(wantsKey(key('2024-03-09'), start, end, mine), true);
  assert.equal(wantsKey(key('2024-03-13'), start, end, mine), true);
  assert.equal(wantsKey(key('2024-03-14'), start, end, mine), false);
  assert.equal(wantsKey(key('1999-01-01'), undefined, undefined, mine), true);
  assert.equal(wantsKey('AWSLogs/readme.txt', undefined, undefined, mine), false);
});

test('keyPrefix and batchName: a folder; a name from the import and its keys only', () => {
  assert.equal(keyPrefix('a/b/c.json.gz'), 'a/b/');
  const id = '0b9d3a3e-6f0e-4a3c-9a55-2f1c8f1d7e11';
  assert.equal(batchName(id, ['a', 'b']), batchName(id, ['a', 'b']));
  assert.notEqual(batchName(id, ['a', 'b']), batchName(id, ['a', 'c']));
  assert.match(batchName(id, ['a']), /^[A-Za-z0-9._-]{1,200}$/);
});

test('wantsKey: only the log files of the given accounts (an organization trail\'s folders too)', () => {
  assert.equal(wantsKey(key('2024-03-09'), undefined, undefined, new Set(['444455556666'])), false);
  assert.equal(wantsKey(key('2024-03-09', 'o-abcdefghij/'), undefined, undefined, mine), true);
  assert.equal(wantsKey(key('2024-03-09', 'o-abcdefghij/'), undefined, undefined, new Set(['444455556666'])), false);
  assert.equal(keyAccount(key('2024-03-09', 'o-abcdefghij/')), '111122223333');
  assert.equal(keyAccount('AWSLogs/readme.txt'), undefined);
});
