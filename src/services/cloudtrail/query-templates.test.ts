import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceError } from '../../aws/errors.ts';
import { parseDeliveryUri, resultsFolder, signFileSigningString } from './query-delivery.ts';
import { statementOf, substituteParameters } from './query-templates.ts';

const refused = (fn: () => unknown, name: string, message: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof ServiceError && e.name === name && message.test(e.message));

test('each ? is replaced in order by one parameter, as written; a ? inside a parameter is not replaced again', () => {
  assert.equal(substituteParameters(`SELECT * FROM ? WHERE eventTime > '?' AND x = '?'`, ['eds', '2024-01-01 00:00:00', 'a?b']), `SELECT * FROM eds WHERE eventTime > '2024-01-01 00:00:00' AND x = 'a?b'`);
  assert.equal(substituteParameters('SELECT 1', []), 'SELECT 1');
  refused(() => substituteParameters('SELECT ? , ?', ['x']), 'InvalidParameterException', /2 parameters \(\?\) but QueryParameters has 1 value\b/);
  refused(() => substituteParameters('SELECT ?', []), 'InvalidParameterException', /1 parameter \(\?\) but QueryParameters has 0 values/);
  refused(() => substituteParameters('?'.repeat(11), Array(11).fill('x')), 'InvalidParameterException', /at most 10/);
  refused(() => substituteParameters('?', ['']), 'InvalidParameterException', /QueryParameters\[0\] must be 1 to 1024/);
  refused(() => substituteParameters('?', ['x'.repeat(1025)]), 'InvalidParameterException', /1 to 1024/);
});

test('statementOf: statement or alias, never both or neither; unknown and malformed aliases', () => {
  const t = { a: 'SELECT ? FROM x' };
  assert.equal(statementOf({ QueryStatement: 'SELECT 1' }, t), 'SELECT 1');
  assert.equal(statementOf({ QueryAlias: 'a', QueryParameters: ['1'] }, t), 'SELECT 1 FROM x');
  refused(() => statementOf({ QueryStatement: 'SELECT 1', QueryAlias: 'a' }, t), 'InvalidParameterException', /not both/);
  refused(() => statementOf({}, t), 'InvalidParameterException', /Specify QueryStatement/);
  refused(() => statementOf({ QueryStatement: 'SELECT 1', QueryParameters: ['1'] }, t), 'InvalidParameterException', /go with QueryAlias/);
  refused(() => statementOf({ QueryAlias: 'b' }, t), 'InvalidParameterException', /alias b was not found/);
  refused(() => statementOf({ QueryAlias: 'toString' }, t), 'InvalidParameterException', /not found/);
  refused(() => statementOf({ QueryAlias: '1a' }, t), 'InvalidParameterException', /not valid/);
});

test('DeliveryS3Uri: bucket and prefix, AWS key layout, bad forms refused', () => {
  assert.deepEqual(parseDeliveryUri('s3://my-bucket'), { bucket: 'my-bucket', prefix: '' });
  assert.deepEqual(parseDeliveryUri('s3://my-bucket/'), { bucket: 'my-bucket', prefix: '' });
  assert.deepEqual(parseDeliveryUri('s3://my.bucket/a/b/'), { bucket: 'my.bucket', prefix: 'a/b' });
  refused(() => parseDeliveryUri('s3://My-Bucket'), 'InvalidParameterException', /not valid/);
  refused(() => parseDeliveryUri('s3://ab'), 'InvalidParameterException', /not valid/);
  refused(() => parseDeliveryUri(`s3://b${'c'.repeat(1030)}`), 'InvalidParameterException', /not valid/);
  refused(() => parseDeliveryUri('s3://bucket/a//b'), 'InvalidS3PrefixException', /empty/);
  refused(() => parseDeliveryUri('s3://bucket/../b'), 'InvalidS3PrefixException', /\.\./);
  const end = Date.UTC(2026, 0, 2, 23, 59, 59);
  assert.equal(resultsFolder({ bucket: 'b', prefix: 'p/q' }, '111122223333', 'qid', end), 'p/q/AWSLogs/111122223333/CloudTrail-Lake/Query/2026/01/02/qid/');
  assert.equal(resultsFolder({ bucket: 'b', prefix: '' }, '111122223333', 'qid', end), 'AWSLogs/111122223333/CloudTrail-Lake/Query/2026/01/02/qid/');
  assert.equal(signFileSigningString([{ fileHashValue: 'aa' }, { fileHashValue: 'bb' }]), 'aa bb');
});
