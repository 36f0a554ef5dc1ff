/** The JSON-lines logger: level names, ISO times, causes, and secrets redacted wherever they sit in a line's objects. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { componentErrorLog, createLogger, factsLogger, REPEAT_QUIET_MS } from './log.ts';
import { StoreUnavailableError } from '../stores/index.ts';

function capture(level = 'info') {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger(level, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { log, lines };
}

test('an error line names its component and its cause chain, and is counted', () => {
  const { log, lines } = capture();
  const counted: string[] = [];
  const cause = Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' });
  componentErrorLog(log, 'delivery', (c) => counted.push(c))('delivery pass failed', new Error('append failed', { cause }));
  componentErrorLog(log, 'digest')('no cause');
  assert.deepEqual(counted, ['delivery']);
  const [first, second] = lines;
  assert.equal(first!.level, 'error');
  assert.match(String(first!.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(first!.component, 'delivery');
  assert.equal(first!.msg, 'delivery pass failed');
  assert.match(JSON.stringify(first!.err), /append failed.*caused by: Error: disk I\/O error/s);
  assert.deepEqual([second!.component, second!.msg, second!.err], ['digest', 'no cause', undefined]);
});

test('a store failure repeated word for word is logged once per quiet period, and counted every time', () => {
  const { log, lines } = capture();
  const counted: string[] = [];
  let now = 1_000_000;
  const logError = componentErrorLog(log, 'lake-ingest', (c) => counted.push(c), () => now);
  const full = new StoreUnavailableError('control.db: lease acquire failed: SQLITE_FULL (database or disk is full)');
  for (let pass = 0; pass < 5; pass++, now += 1000) logError('lake ingestion pass failed', full);
  logError('lake ingestion pass failed', new StoreUnavailableError('events.db: readAfter failed: SQLITE_IOERR'));
  now += REPEAT_QUIET_MS;
  logError('lake ingestion pass failed', full);
  assert.equal(counted.length, 7);
  assert.deepEqual(lines.map((l) => l.msg), [
    'lake ingestion pass failed: control.db: lease acquire failed: SQLITE_FULL (database or disk is full)',
    'lake ingestion pass failed: events.db: readAfter failed: SQLITE_IOERR',
    'lake ingestion pass failed: control.db: lease acquire failed: SQLITE_FULL (database or disk is full)',
  ]);
});

test('secret keys, session tokens, signatures and Authorization are redacted at any depth up to two', () => {
  const { log, lines } = capture();
  // Values no other field of a line can hold (a short 'T1' matched the line's own ISO time from 10:00 to 19:59).
  log.info({ secretAccessKey: 'SECRET-ONE', upstream: { secretAccessKey: 'SECRET-TWO', sessionToken: 'SESSION-TOKEN' }, a: { b: { authorization: 'AWS4-HMAC-SHA256 Signature=abc' } }, 'X-Amz-Signature': 'abc' }, 'x');
  const text = JSON.stringify(lines);
  for (const secret of ['SECRET-ONE', 'SECRET-TWO', 'SESSION-TOKEN', 'Signature=abc', '"abc"']) assert.ok(!text.includes(secret), secret);
  assert.match(text, /\[redacted\]/);
});

test('logLevel: lines below it are not written', () => {
  const { log, lines } = capture('warn');
  log.info('dropped');
  log.warn('kept');
  assert.deepEqual(lines.map((l) => l.msg), ['kept']);
});

test('factsLogger: the line keeps its bindings, level and format, skips redaction, and leaves the parent redacting', () => {
  const { log, lines } = capture('warn');
  const facts = factsLogger(log, { component: 'gateway' });
  facts.info({ operation: 'dropped' }, 'below the level');
  facts.warn({ service: 'xray', ms: 0.5, account: '111111111111' }, 'gateway call');
  log.warn({ authorization: 'AWS4-HMAC-SHA256 Signature=abc' }, 'parent');
  assert.deepEqual(lines.map((l) => [l.level, l.component, l.service, l.ms, l.account, l.msg]), [['warn', 'gateway', 'xray', 0.5, '111111111111', 'gateway call'], ['warn', undefined, undefined, undefined, undefined, 'parent']]);
  assert.equal(lines[1]!.authorization, '[redacted]');
});
