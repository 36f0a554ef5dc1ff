import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildArn, isPartition, parseArn, parseResourceArn, partitionForRegion } from './arn.ts';
import { AWS_REGIONS } from './regions.ts';
import { parseTrailArn, trailArn } from './trail-name.ts';

test('parseArn splits at the first five colons, in every partition', () => {
  assert.deepEqual(parseArn('arn:aws-cn:logs:cn-north-1:111122223333:log-group:a/b:*'), {
    partition: 'aws-cn', service: 'logs', region: 'cn-north-1', accountId: '111122223333', resource: 'log-group:a/b:*',
  });
  assert.deepEqual(parseArn('arn:aws-us-gov:s3:::bucket/key:with:colons'), { partition: 'aws-us-gov', service: 's3', region: '', accountId: '', resource: 'bucket/key:with:colons' });
  assert.deepEqual(parseArn('arn:aws-iso-b:iam::111122223333:role/r'), { partition: 'aws-iso-b', service: 'iam', region: '', accountId: '111122223333', resource: 'role/r' });
  for (const bad of ['', 'arn', 'arn:aws:sns:us-east-1:111122223333', 'arn::sns:us-east-1:1:x', 'arn:aws::us-east-1:1:x', 'arn:aws:sns:us-east-1:1:', 'urn:aws:sns:us-east-1:1:x', 'ARN:aws:sns:r:1:x']) {
    assert.equal(parseArn(bad), undefined, bad);
  }
});

test('what parseArn reads is what the AWS CLI reads with split(":")', () => {
  for (const s of ['arn:aws:cloudtrail:us-east-1:111122223333:trail/t', 'arn:x:y:cloudtrail:r:111122223333:trail/t:u', 'arn:aws:sns:eu-west-1:111122223333:topic']) {
    const a = parseArn(s)!;
    const f = s.split(':');
    assert.deepEqual([a.partition, a.service, a.region, a.accountId], f.slice(1, 5), s);
  }
});

test('every Region of regions.ts builds ARNs in its own partition', () => {
  for (const [partition, regions] of Object.entries(AWS_REGIONS)) {
    assert.ok(isPartition(partition), partition);
    for (const region of regions) {
      assert.equal(partitionForRegion(region), partition, region);
      const arn = buildArn({ service: 'sns', region, accountId: '111122223333', resource: 'topic' });
      assert.equal(arn, `arn:${partition}:sns:${region}:111122223333:topic`);
      assert.deepEqual(parseArn(arn), { partition, service: 'sns', region, accountId: '111122223333', resource: 'topic' });
    }
  }
});

test('Regions not listed yet get the partition of their name; names of the operator\'s own are aws', () => {
  assert.equal(partitionForRegion('cn-south-1'), 'aws-cn');
  assert.equal(partitionForRegion('us-gov-central-1'), 'aws-us-gov');
  assert.equal(partitionForRegion('us-isob-west-1'), 'aws-iso-b');
  assert.equal(partitionForRegion('us-iso-south-1'), 'aws-iso');
  assert.equal(partitionForRegion('eu-isoe-north-1'), 'aws-iso-e');
  assert.equal(partitionForRegion('us-isof-west-1'), 'aws-iso-f');
  assert.equal(partitionForRegion('eusc-fr-west-1'), 'aws-eusc');
  assert.equal(partitionForRegion('eu-south-3'), 'aws');
  assert.equal(partitionForRegion('lab-1'), 'aws');
  assert.equal(partitionForRegion(''), 'aws');
  assert.equal(buildArn({ partition: 'aws-cn', service: 's3', region: '', accountId: '', resource: 'b' }), 'arn:aws-cn:s3:::b');
});

test('trail ARNs are built in the home Region\'s partition (a cn or GovCloud trail is not arn:aws)', () => {
  assert.equal(trailArn('us-east-1', '111122223333', 't'), 'arn:aws:cloudtrail:us-east-1:111122223333:trail/t');
  assert.equal(trailArn('cn-north-1', '111122223333', 't'), 'arn:aws-cn:cloudtrail:cn-north-1:111122223333:trail/t');
  assert.equal(trailArn('us-gov-west-1', '111122223333', 't'), 'arn:aws-us-gov:cloudtrail:us-gov-west-1:111122223333:trail/t');
  assert.equal(trailArn('us-east-1', '111122223333', 't', 'aws-iso'), 'arn:aws-iso:cloudtrail:us-east-1:111122223333:trail/t');
  assert.deepEqual(parseTrailArn(trailArn('us-gov-west-1', '111122223333', 'my.trail')), { partition: 'aws-us-gov', region: 'us-gov-west-1', accountId: '111122223333', name: 'my.trail' });
});

test('parseResourceArn: service, type, a 12-digit account and a non-empty id, any partition', () => {
  assert.deepEqual(parseResourceArn('arn:aws-cn:cloudtrail:cn-north-1:111122223333:channel/abc-1', 'cloudtrail', 'channel'), { partition: 'aws-cn', region: 'cn-north-1', accountId: '111122223333', id: 'abc-1' });
  assert.deepEqual(parseResourceArn('arn:aws:cloudtrail:my-lab:111122223333:channel/x', 'cloudtrail', 'channel')?.region, 'my-lab');
  for (const bad of [
    'arn:aws:cloudtrail:us-east-1:111122223333:trail/x', 'arn:aws:sns:us-east-1:111122223333:channel/x', 'arn:aws:cloudtrail:us-east-1:11112222333:channel/x',
    'arn:aws:cloudtrail:us-east-1:111122223333:channel/', 'arn:aws:cloudtrail::111122223333:channel/x', 'arn:AWS:cloudtrail:us-east-1:111122223333:channel/x',
    'arn:amazon:cloudtrail:us-east-1:111122223333:channel/x', 'arn:aws:cloudtrail:US-EAST-1:111122223333:channel/x',
  ]) {
    assert.equal(parseResourceArn(bad, 'cloudtrail', 'channel'), undefined, bad);
  }
});
