import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ALL_INSIGHT, ALL_MANAGEMENT, INSIGHT_LOOKUP_KEYS, LOOKUP_ATTRIBUTE_KEYS, historyAttributes, historyCategory, resourceName,
  scopedAttributeKey,
} from './history-attributes.ts';
import { normalizeRecord } from './normalize.ts';
import type { CloudTrailRecord } from './record.ts';

function rec(fields: Partial<CloudTrailRecord>): CloudTrailRecord {
  return {
    eventVersion: '1.11', eventTime: '2026-01-01T00:00:00Z', awsRegion: 'us-east-1', eventID: 'e1', recipientAccountId: '111111111111',
    eventType: 'AwsApiCall', eventCategory: 'Management', managementEvent: true, ...fields,
  };
}

const sortPairs = (pairs: [string, string][]) => [...pairs].sort((a, b) => (a[0] + '\u0000' + a[1] < b[0] + '\u0000' + b[1] ? -1 : 1));

describe('historyCategory', () => {
  test('management events are Event history management entries', () => {
    assert.equal(historyCategory(rec({})), 'management');
  });
  test('data events, and management-category records flagged managementEvent=false, are not kept', () => {
    assert.equal(historyCategory(rec({ eventCategory: 'Data', managementEvent: false })), undefined);
    assert.equal(historyCategory(rec({ eventCategory: 'Management', managementEvent: false })), undefined);
  });
  test('Insights events are insight entries, by eventType or by category', () => {
    assert.equal(historyCategory(rec({ eventType: 'AwsCloudTrailInsight', eventCategory: undefined })), 'insight');
    assert.equal(historyCategory(rec({ eventType: 'AwsApiCall', eventCategory: 'Insight' })), 'insight');
  });
  test('Lake integration and network activity events are not in Event history', () => {
    assert.equal(historyCategory(rec({ eventCategory: 'ActivityAuditLog', eventType: 'ActivityLog' })), undefined);
    assert.equal(historyCategory(rec({ eventCategory: 'NetworkActivity', managementEvent: false })), undefined);
  });
});

describe('historyAttributes: management events', () => {
  test('every LookupEvents attribute of a full record, plus the catch-all', () => {
    const r = rec({
      eventName: 'PutBucketPolicy', eventSource: 's3.amazonaws.com', readOnly: false,
      userIdentity: { type: 'IAMUser', userName: 'alice', accessKeyId: 'AKIAEXAMPLE' },
      resources: [
        { ARN: 'arn:aws:s3:::bucket', type: 'AWS::S3::Bucket' },
        { ARNPrefix: 'arn:aws:s3:::bucket/logs/', type: 'AWS::S3::Object' },
      ],
    });
    assert.deepEqual(sortPairs(historyAttributes(r)!), sortPairs([
      ['*', 'management'],
      ['EventName', 'PutBucketPolicy'],
      ['EventSource', 's3.amazonaws.com'],
      ['ReadOnly', 'false'],
      ['Username', 'alice'],
      ['AccessKeyId', 'AKIAEXAMPLE'],
      ['ResourceType', 'AWS::S3::Bucket'],
      ['ResourceName', 'arn:aws:s3:::bucket'],
      ['ResourceType', 'AWS::S3::Object'],
      ['ResourceName', 'arn:aws:s3:::bucket/logs/'],
    ]));
  });

  test('the catch-all pair comes first', () => {
    assert.deepEqual(historyAttributes(rec({ eventName: 'X' }))![0], [...ALL_MANAGEMENT]);
  });

  test('EventId is never listed (stores use their event-id index)', () => {
    const keys = historyAttributes(rec({ eventName: 'X', eventID: 'abc' }))!.map(([k]) => k);
    assert.equal(keys.includes('EventId'), false);
  });

  test('repeated resources are indexed once', () => {
    const r = rec({ resources: [{ ARN: 'a', type: 'T' }, { ARN: 'a', type: 'T' }, { ARN: 'b', type: 'T' }] });
    const attrs = historyAttributes(r)!;
    assert.deepEqual(attrs.filter(([k]) => k === 'ResourceType'), [['ResourceType', 'T']]);
    assert.deepEqual(attrs.filter(([k]) => k === 'ResourceName'), [['ResourceName', 'a'], ['ResourceName', 'b']]);
  });

  test('empty values and values over 2000 characters are not indexed', () => {
    const attrs = historyAttributes(rec({ eventName: '', eventSource: 'x'.repeat(2001), userIdentity: { accessKeyId: 'k'.repeat(2000) } }))!;
    assert.deepEqual(attrs, [['*', 'management'], ['AccessKeyId', 'k'.repeat(2000)]]);
  });

  test('missing readOnly indexes no ReadOnly attribute; a Root caller is found as "root"', () => {
    const attrs = historyAttributes(rec({ eventName: 'ConsoleLogin', userIdentity: { type: 'Root', arn: 'arn:aws:iam::111111111111:root' } }))!;
    assert.equal(attrs.some(([k]) => k === 'ReadOnly'), false);
    assert.ok(attrs.some(([k, v]) => k === 'Username' && v === 'root'));
  });

  test('records outside Event history have no attributes', () => {
    assert.equal(historyAttributes(rec({ eventCategory: 'Data', managementEvent: false, eventName: 'GetObject' })), undefined);
  });

  test('resourceName prefers the ARN over the ARN prefix', () => {
    assert.equal(resourceName({ ARN: 'a', ARNPrefix: 'p' }), 'a');
    assert.equal(resourceName({ ARNPrefix: 'p' }), 'p');
    assert.equal(resourceName({ type: 't' }), undefined);
  });
});

describe('historyAttributes: Insights events', () => {
  test('indexed under insight-scoped keys, from insightDetails, with the insight catch-all', () => {
    const r = rec({
      eventType: 'AwsCloudTrailInsight', eventCategory: 'Insight', eventName: 'ignored', readOnly: true,
      userIdentity: { type: 'Root' }, insightDetails: { eventName: 'PutObject', eventSource: 's3.amazonaws.com' },
    });
    assert.deepEqual(historyAttributes(r), [
      [...ALL_INSIGHT],
      [scopedAttributeKey('insight', 'EventName'), 'PutObject'],
      [scopedAttributeKey('insight', 'EventSource'), 's3.amazonaws.com'],
    ]);
  });

  test('insight keys never collide with management keys', () => {
    for (const key of INSIGHT_LOOKUP_KEYS) {
      assert.notEqual(scopedAttributeKey('insight', key), scopedAttributeKey('management', key));
      assert.equal(scopedAttributeKey('management', key), key);
    }
  });
});

describe('historyAttributes: properties', () => {
  const identity = fc.record({
    type: fc.constantFrom('Root', 'IAMUser', 'AssumedRole', 'AWSService', 'FederatedUser'),
    userName: fc.option(fc.string({ maxLength: 30 }), { nil: undefined }),
    arn: fc.option(fc.string({ maxLength: 60 }), { nil: undefined }),
    accessKeyId: fc.option(fc.string({ maxLength: 30 }), { nil: undefined }),
    invokedBy: fc.option(fc.string({ maxLength: 30 }), { nil: undefined }),
  }, { requiredKeys: ['type'] });
  const resource = fc.record({ ARN: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }), ARNPrefix: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }), type: fc.option(fc.constantFrom('A', 'B', ''), { nil: undefined }) });
  const anyRecord = fc.record({
    eventName: fc.option(fc.string({ maxLength: 30 }), { nil: undefined }),
    eventSource: fc.option(fc.string({ maxLength: 30 }), { nil: undefined }),
    readOnly: fc.option(fc.boolean(), { nil: undefined }),
    userIdentity: fc.option(identity, { nil: undefined }),
    resources: fc.option(fc.array(resource, { maxLength: 6 }), { nil: undefined }),
    eventCategory: fc.constantFrom('Management', 'Data', 'Insight', 'ActivityAuditLog'),
    managementEvent: fc.option(fc.boolean(), { nil: undefined }),
    eventType: fc.constantFrom('AwsApiCall', 'AwsServiceEvent', 'AwsCloudTrailInsight'),
    insightDetails: fc.option(fc.record({ eventName: fc.string({ maxLength: 10 }), eventSource: fc.string({ maxLength: 10 }) }), { nil: undefined }),
  });

  test('pairs are unique, keys are lookup keys of the right scope, values are 1-2000 chars', () => {
    fc.assert(fc.property(anyRecord, (fields) => {
      const r = rec(fields as Partial<CloudTrailRecord>);
      const attrs = historyAttributes(r);
      const category = historyCategory(r);
      if (category === undefined) return assert.equal(attrs, undefined);
      assert.ok(attrs);
      assert.deepEqual(attrs[0], category === 'insight' ? [...ALL_INSIGHT] : [...ALL_MANAGEMENT]);
      const allowed = new Set<string>(
        category === 'insight' ? INSIGHT_LOOKUP_KEYS.map((k) => scopedAttributeKey('insight', k)) : LOOKUP_ATTRIBUTE_KEYS,
      );
      allowed.delete(scopedAttributeKey(category, 'EventId'));
      const seen = new Set<string>();
      for (const [k, v] of attrs.slice(1)) {
        assert.ok(allowed.has(k), `key ${k} in ${category}`);
        assert.ok(v.length >= 1 && v.length <= 2000);
        const tag = JSON.stringify([k, v]);
        assert.ok(!seen.has(tag), `duplicate ${tag}`);
        seen.add(tag);
      }
      if (category === 'management' && typeof r.eventName === 'string' && r.eventName.length > 0) {
        assert.ok(seen.has(JSON.stringify(['EventName', r.eventName])), 'the event name is always findable');
      }
    }), { numRuns: 500 });
  });

  test('a normalised record without an explicit category is a management entry found by its name and source', () => {
    fc.assert(fc.property(fc.stringMatching(/^[A-Z][a-zA-Z]{0,30}$/), fc.stringMatching(/^[a-z]{1,10}\.amazonaws\.com$/), (eventName, eventSource) => {
      const n = normalizeRecord({ eventName, eventSource }, { defaultAccountId: '111111111111', defaultRegion: 'us-east-1', nowMs: 0, ids: { uuid: () => 'u' } });
      assert.ok(n.ok);
      const attrs = historyAttributes(n.value.record)!;
      assert.ok(attrs.some(([k, v]) => k === 'EventName' && v === eventName));
      assert.ok(attrs.some(([k, v]) => k === 'EventSource' && v === eventSource));
      assert.ok(attrs.some(([k, v]) => k === 'ReadOnly' && (v === 'true' || v === 'false')));
    }));
  });
});
