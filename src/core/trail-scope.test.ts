import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileTrailScope } from './trail-scope.ts';
import type { CloudTrailRecord } from './record.ts';

const rec = (over: Partial<CloudTrailRecord>): CloudTrailRecord => ({
  eventVersion: '1.11', eventTime: '2026-01-01T00:00:00Z', eventSource: 'ec2.amazonaws.com', eventName: 'RunInstances',
  awsRegion: 'us-east-1', eventID: 'e', recipientAccountId: '111111111111', eventCategory: 'Management', managementEvent: true, readOnly: false,
  ...over,
});

test('a trail delivers its regions and accounts only', () => {
  const admits = compileTrailScope({ regions: ['us-east-1'], accountIds: ['111111111111'], includeGlobalServiceEvents: true, selectors: {} });
  assert.equal(admits(rec({})), true);
  assert.equal(admits(rec({ awsRegion: 'eu-west-1' })), false);
  assert.equal(admits(rec({ recipientAccountId: '222222222222' })), false);
});

test('global service events follow IncludeGlobalServiceEvents', () => {
  const base = { regions: ['us-east-1'], accountIds: ['111111111111'], selectors: {} };
  const iam = rec({ eventSource: 'iam.amazonaws.com', eventName: 'CreateUser' });
  assert.equal(compileTrailScope({ ...base, includeGlobalServiceEvents: true })(iam), true);
  assert.equal(compileTrailScope({ ...base, includeGlobalServiceEvents: false })(iam), false);
});

test('selectors apply; Insights and Lake records never go to trails', () => {
  const reads = compileTrailScope({
    regions: ['us-east-1'], accountIds: ['111111111111'], includeGlobalServiceEvents: true,
    selectors: { eventSelectors: [{ ReadWriteType: 'ReadOnly', IncludeManagementEvents: true, DataResources: [], ExcludeManagementEventSources: [] }] },
  });
  assert.equal(reads(rec({ readOnly: true, eventName: 'DescribeInstances' })), true);
  assert.equal(reads(rec({ readOnly: false })), false);
  const all = compileTrailScope({ regions: ['us-east-1'], accountIds: ['111111111111'], includeGlobalServiceEvents: true, selectors: {} });
  assert.equal(all(rec({ eventCategory: 'Insight', eventType: 'AwsCloudTrailInsight' })), false);
  assert.equal(all(rec({ eventCategory: 'ActivityAuditLog' })), false);
  assert.equal(all(rec({ eventCategory: 'Data', managementEvent: false })), false, 'the default selectors log no data events');
});
