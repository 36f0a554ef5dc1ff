import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RepeatLimitedLog } from './repeat-log.ts';

test('an identical line is written once per window, then with the count of the ones held back', () => {
  let now = 0;
  const out: string[] = [];
  const log = new RepeatLimitedLog((l) => out.push(l), 60_000, () => now);
  for (let i = 0; i < 1000; i++) log.log('disk full');
  log.log('other cause');
  assert.deepEqual(out, ['disk full', 'other cause']);
  now = 61_000;
  log.log('disk full');
  assert.deepEqual(out.slice(2), ['disk full (and 999 more times in the last 61 s)']);
  log.log('disk full');
  assert.equal(out.length, 3);
});
