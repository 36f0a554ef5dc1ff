/**
 * The event-pattern matcher against every example of AWS's EventBridge documentation we copied
 * (test/fixtures/eventbridge-pattern-examples.json names the pages), each with a counter-example,
 * and the syntax errors a rule's pattern is refused for at start.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { compileEventPattern, EventPatternError } from './event-pattern.ts';

const examples = JSON.parse(readFileSync(new URL('../../test/fixtures/eventbridge-pattern-examples.json', import.meta.url), 'utf8')) as {
  cases: { name: string; pattern: unknown; event: unknown; matches: boolean }[];
};

test('every documented pattern example matches (or not) as AWS says', () => {
  assert.ok(examples.cases.length > 50);
  for (const c of examples.cases) {
    assert.equal(compileEventPattern(c.pattern)(c.event), c.matches, `${c.name}: ${JSON.stringify(c.pattern)} vs ${JSON.stringify(c.event)}`);
  }
});

test('a CloudTrail envelope matched on detail-type, source and detail fields', () => {
  const env = {
    version: '0', 'detail-type': 'AWS API Call via CloudTrail', source: 'aws.s3', account: '111111111111', region: 'us-east-1', resources: [],
    detail: { eventName: 'CreateBucket', readOnly: false, sourceIPAddress: '192.0.2.7', userIdentity: { type: 'IAMUser', userName: 'alice' } },
  };
  const hit = compileEventPattern({ source: ['aws.s3'], 'detail-type': ['AWS API Call via CloudTrail'], detail: { eventName: [{ prefix: 'Create' }], userIdentity: { type: ['IAMUser'] } } });
  assert.equal(hit(env), true);
  assert.equal(compileEventPattern({ detail: { userIdentity: { type: ['Root'] } } })(env), false);
  assert.equal(compileEventPattern('{"detail":{"sourceIPAddress":[{"cidr":"192.0.2.0/24"}]}}')(env), true);
});

test('bad patterns are refused with the place and the reason', () => {
  const bad: [unknown, RegExp][] = [
    [[], /must be a JSON object/],
    ['{', /not JSON/],
    [{ a: 'x' }, /a: must be an object or a list/],
    [{ a: [] }, /empty list/],
    [{ a: [{ nope: 1 }] }, /unknown operator "nope"/],
    [{ a: [{ prefix: 1 }] }, /takes a string/],
    [{ a: [{ numeric: ['<'] }] }, /one or two comparisons/],
    [{ a: [{ numeric: ['~', 1] }] }, /unknown comparison/],
    [{ a: [{ numeric: ['<', 1, '>', 0] }] }, /a range is/],
    [{ a: [{ cidr: '10.0.0.0/33' }] }, /not an IPv4 or IPv6 CIDR/],
    [{ a: [{ 'anything-but': [1, 'x'] }] }, /only strings or only numbers/],
    [{ a: [{ 'anything-but': { contains: 'x' } }] }, /unknown operator/],
    [{ a: [{ exists: 'yes' }] }, /exists takes true or false/],
    [{ a: [{ wildcard: 'a\\b' }] }, /escapes only/],
    [{ $or: [{ a: ['x'] }] }, /\$or: must be a list of at least two/],
    [{ a: [{ prefix: 'x', suffix: 'y' }] }, /exactly one operator/],
  ];
  for (const [p, re] of bad) assert.throws(() => compileEventPattern(p), (e: unknown) => e instanceof EventPatternError && re.test(e.message), JSON.stringify(p));
});
