import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isArnLike, parseTrailArn, trailArn, validateTrailName } from './trail-name.ts';

const CHARS = 'Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, periods (.), hyphens (-), and underscores (_).';
const ADJACENT = 'Trail name or ARN cannot have adjacent periods (.), hyphens (-), or underscores (_).';
const START = 'Trail name must starts with a letter or number.';
const END = 'Trail name must ends with a letter or number.';
const IP = 'Trail names must not be formatted as an IP address.';

describe('validateTrailName', () => {
  const valid = ['abc', 'my-trail', 'My_Trail.2024', 'a.b-c_d', 'A1B', '1.2.3', '1.2.3.4.5', '300.1.1.1x', 'x'.repeat(128), 'management-events'];
  for (const name of valid) {
    test(`accepts ${name.length > 20 ? `${name.slice(0, 10)}... (${name.length})` : name}`, () => {
      assert.equal(validateTrailName(name), undefined);
    });
  }

  const invalid: [string, string][] = [
    ['', 'Trail name cannot be blank!'],
    ['a', 'Trail name too short. Minimum allowed length: 3 characters. Specified name length: 1 characters.'],
    ['aa', 'Trail name too short. Minimum allowed length: 3 characters. Specified name length: 2 characters.'],
    ['a'.repeat(129), 'Trail name too long. Maximum allowed length: 128 characters. Specified name length: 129 characters.'],
    ['-abc', START],
    ['_abc', START],
    ['.abc', START],
    ['abc-', END],
    ['abc.', END],
    ['my trail', CHARS],
    ['my/trail', CHARS],
    ['trälle', CHARS],
    ['my-_namespace', ADJACENT],
    ['my--namespace', ADJACENT],
    ['a._b', ADJACENT],
    ['192.168.5.4', IP],
    ['1.2.3.4', IP],
    ['999.999.999.999', IP],
  ];
  for (const [name, message] of invalid) {
    test(`refuses ${JSON.stringify(name.length > 20 ? `${name.slice(0, 10)}...` : name)} with AWS's message`, () => {
      assert.equal(validateTrailName(name), message);
    });
  }

  test('property: every generated valid-shaped name is accepted', () => {
    const alnum = fc.constantFrom(...'abcXYZ019');
    const segment = fc.array(alnum, { minLength: 1, maxLength: 8 }).map((a) => a.join(''));
    const name = fc.tuple(segment, fc.array(fc.tuple(fc.constantFrom('.', '_', '-'), segment), { maxLength: 6 }))
      .map(([first, rest]) => first + rest.map(([sep, seg]) => sep + seg).join(''))
      .filter((n) => n.length >= 3 && n.length <= 128 && !/^\d{1,3}(\.\d{1,3}){3}$/.test(n));
    fc.assert(fc.property(name, (n) => validateTrailName(n) === undefined));
  });

  test('property: any name with a character outside [A-Za-z0-9._-] is refused', () => {
    fc.assert(fc.property(fc.string({ minLength: 3, maxLength: 40 }), (s) => {
      fc.pre(/[^A-Za-z0-9._-]/.test(s));
      assert.notEqual(validateTrailName(s), undefined);
    }));
  });
});

describe('trail ARNs', () => {
  test('trailArn builds the ARN, partition aws by default', () => {
    assert.equal(trailArn('us-east-2', '123456789012', 'MyTrail'), 'arn:aws:cloudtrail:us-east-2:123456789012:trail/MyTrail');
    assert.equal(trailArn('cn-north-1', '123456789012', 't1', 'aws-cn'), 'arn:aws-cn:cloudtrail:cn-north-1:123456789012:trail/t1');
  });

  test('parseTrailArn reads the parts', () => {
    assert.deepEqual(parseTrailArn('arn:aws:cloudtrail:us-east-2:123456789012:trail/MyTrail'), {
      partition: 'aws', region: 'us-east-2', accountId: '123456789012', name: 'MyTrail',
    });
    assert.deepEqual(parseTrailArn('arn:aws-us-gov:cloudtrail:us-gov-west-1:000000000000:trail/a.b_c-d'), {
      partition: 'aws-us-gov', region: 'us-gov-west-1', accountId: '000000000000', name: 'a.b_c-d',
    });
  });

  const malformed = [
    'MyTrail',
    'arn:aws:cloudtrail:us-east-2:123456789012:trail/',
    'arn:aws:cloudtrail:us-east-2:12345678901:trail/MyTrail',
    'arn:aws:cloudtrail:us-east-2:1234567890123:trail/MyTrail',
    'arn:aws:cloudtrail:us-east-2:12345678901a:trail/MyTrail',
    'arn:aws:cloudtrail::123456789012:trail/MyTrail',
    'arn:aws:cloudtrail:useast2:123456789012:trail/MyTrail',
    'arn:aws:s3:us-east-2:123456789012:trail/MyTrail',
    'arn:aws:cloudtrail:us-east-2:123456789012:eventdatastore/abc',
    'arn:aws:cloudtrail:us-east-2:123456789012:trail/My Trail',
    'arn:aws:cloudtrail:us-east-2:123456789012:trail/a/b',
    'arn:gcp:cloudtrail:us-east-2:123456789012:trail/MyTrail',
    'arn::cloudtrail:us-east-2:123456789012:trail/MyTrail',
  ];
  for (const s of malformed) {
    test(`parseTrailArn refuses ${s}`, () => assert.equal(parseTrailArn(s), undefined));
  }

  test('isArnLike is the arn: prefix', () => {
    assert.equal(isArnLike('arn:aws:cloudtrail:us-east-1:123456789012:trail/x'), true);
    assert.equal(isArnLike('arn:nonsense'), true);
    assert.equal(isArnLike('MyTrail'), false);
    assert.equal(isArnLike('ARN:aws'), false);
  });

  test('property: parseTrailArn inverts trailArn', () => {
    const region = fc.constantFrom('us-east-1', 'eu-central-1', 'ap-southeast-5', 'us-gov-west-1', 'cn-north-1', 'us-isob-east-1');
    const partition = fc.constantFrom('aws', 'aws-cn', 'aws-us-gov', 'aws-iso-b');
    const account = fc.stringMatching(/^\d{12}$/);
    const name = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{1,30}[A-Za-z0-9]$/);
    fc.assert(fc.property(region, account, name, partition, (r, a, n, p) => {
      assert.deepEqual(parseTrailArn(trailArn(r, a, n, p)), { partition: p, region: r, accountId: a, name: n });
    }));
  });
});
