import { test } from 'node:test';
import assert from 'node:assert/strict';
import { missingBucketStatement, policyAllows, wildcardMatch } from './access-policy.ts';

/** The bucket policy the CloudTrail User Guide documents for a trail (conditions included). */
function documentedPolicy(bucket: string, writeResource: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Sid: 'AWSCloudTrailAclCheck20150319', Effect: 'Allow', Principal: { Service: 'cloudtrail.amazonaws.com' }, Action: 's3:GetBucketAcl', Resource: `arn:aws:s3:::${bucket}`, Condition: { StringEquals: { 'aws:SourceArn': 'arn:aws:cloudtrail:us-east-1:111111111111:trail/t' } } },
      { Sid: 'AWSCloudTrailWrite20150319', Effect: 'Allow', Principal: { Service: 'cloudtrail.amazonaws.com' }, Action: 's3:PutObject', Resource: writeResource, Condition: { StringEquals: { 's3:x-amz-acl': 'bucket-owner-full-control' } } },
    ],
  });
}

test('wildcards match as IAM matches them', () => {
  assert.ok(wildcardMatch('arn:aws:s3:::b/AWSLogs/1/*', 'arn:aws:s3:::b/AWSLogs/1/x'));
  assert.ok(!wildcardMatch('arn:aws:s3:::b/AWSLogs/1/*', 'arn:aws:s3:::b/AWSLogs/2/x'));
  assert.ok(wildcardMatch('s3:Put*', 'S3:PUTOBJECT', true));
  assert.ok(wildcardMatch('arn:aws:s3:::b?c', 'arn:aws:s3:::bxc'));
  assert.ok(!wildcardMatch('arn:aws:s3:::b.c', 'arn:aws:s3:::bxc'), 'a dot is literal');
});

test("the documented policy passes, with and without a key prefix", () => {
  assert.equal(missingBucketStatement(documentedPolicy('b', 'arn:aws:s3:::b/AWSLogs/111111111111/*'), 'b', ['AWSLogs/111111111111/']), undefined);
  assert.equal(missingBucketStatement(documentedPolicy('b', 'arn:aws:s3:::b/logs/AWSLogs/111111111111/*'), 'b', ['logs/AWSLogs/111111111111/']), undefined);
});

test('a write statement for another prefix or account is named as missing', () => {
  const policy = documentedPolicy('b', 'arn:aws:s3:::b/AWSLogs/222222222222/*');
  assert.match(missingBucketStatement(policy, 'b', ['AWSLogs/111111111111/'])!, /AWSCloudTrailWrite: allow cloudtrail\.amazonaws\.com s3:PutObject on arn:aws:s3:::b\/AWSLogs\/111111111111\/\*/);
  assert.match(missingBucketStatement(policy, 'b', ['logs/AWSLogs/222222222222/'])!, /AWSCloudTrailWrite/);
});

test('an organization trail also needs the organization path', () => {
  const policy = documentedPolicy('b', 'arn:aws:s3:::b/AWSLogs/111111111111/*');
  assert.match(missingBucketStatement(policy, 'b', ['AWSLogs/111111111111/', 'AWSLogs/o-aa11bb22cc/'])!, /AWSLogs\/o-aa11bb22cc\//);
});

test('a missing ACL check, another principal, or an explicit Deny fails', () => {
  const onlyWrite = JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: { Service: 'cloudtrail.amazonaws.com' }, Action: 's3:PutObject', Resource: 'arn:aws:s3:::b/*' }] });
  assert.match(missingBucketStatement(onlyWrite, 'b', ['AWSLogs/1/'])!, /AWSCloudTrailAclCheck/);
  const otherPrincipal = JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: { Service: 'config.amazonaws.com' }, Action: '*', Resource: '*' }] });
  assert.ok(!policyAllows(otherPrincipal, 'cloudtrail.amazonaws.com', 's3:GetBucketAcl', 'arn:aws:s3:::b'));
  const denied = JSON.stringify({ Statement: [
    { Effect: 'Allow', Principal: { Service: ['cloudtrail.amazonaws.com'] }, Action: ['s3:*'], Resource: ['arn:aws:s3:::b', 'arn:aws:s3:::b/*'] },
    { Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: 'arn:aws:s3:::b/AWSLogs/*' },
  ] });
  assert.ok(policyAllows(denied, 'cloudtrail.amazonaws.com', 's3:GetBucketAcl', 'arn:aws:s3:::b'));
  assert.ok(!policyAllows(denied, 'cloudtrail.amazonaws.com', 's3:PutObject', 'arn:aws:s3:::b/AWSLogs/1/x'));
});

test('an unreadable policy allows nothing', () => {
  assert.ok(!policyAllows('{not json', 'cloudtrail.amazonaws.com', 's3:GetBucketAcl', 'arn:aws:s3:::b'));
});

test("a trail homed in another partition checks the bucket's ARNs of that partition", () => {
  const cn = documentedPolicy('b', 'arn:aws-cn:s3:::b/AWSLogs/111111111111/*').replace('"arn:aws:s3:::b"', '"arn:aws-cn:s3:::b"');
  assert.equal(missingBucketStatement(cn, 'b', ['AWSLogs/111111111111/'], 'aws-cn'), undefined);
  assert.match(missingBucketStatement(cn, 'b', ['AWSLogs/111111111111/'])!, /AWSCloudTrailAclCheck: allow cloudtrail\.amazonaws\.com s3:GetBucketAcl on arn:aws:s3:::b$/);
  const aws = documentedPolicy('b', 'arn:aws:s3:::b/AWSLogs/111111111111/*');
  assert.match(missingBucketStatement(aws, 'b', ['AWSLogs/111111111111/'], 'aws-cn')!, /on arn:aws-cn:s3:::b$/);
  const cnWriteOnly = documentedPolicy('b', 'arn:aws:s3:::b/AWSLogs/111111111111/*').replace('"arn:aws:s3:::b"', '"arn:aws-cn:s3:::b"');
  assert.match(missingBucketStatement(cnWriteOnly, 'b', ['AWSLogs/111111111111/'], 'aws-cn')!, /AWSCloudTrailWrite: allow cloudtrail\.amazonaws\.com s3:PutObject on arn:aws-cn:s3:::b\/AWSLogs\/111111111111\/\*/);
});
