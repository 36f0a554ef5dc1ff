import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  compileSelectors, DEFAULT_EVENT_SELECTORS, eventCategoryOf, eventMatchesTrail, selectsEveryManagementEvent, validateAdvancedEventSelectors, validateEventSelectors,
  type AdvancedEventSelector, type AdvancedFieldSelector, type EventSelector, type SelectorValidation,
} from './index.ts';
import type { CloudTrailRecord, RecordResource } from '../record.ts';

// ---------------------------------------------------------------------------------------------
// Records

let n = 0;
function rec(fields: Partial<CloudTrailRecord>): CloudTrailRecord {
  n++;
  return {
    eventVersion: '1.11', eventTime: '2026-01-01T00:00:00Z', awsRegion: 'us-east-1', eventID: `e-${n}`,
    recipientAccountId: '111122223333', eventType: 'AwsApiCall', ...fields,
  };
}
const mgmt = (readOnly: boolean, eventSource = 'ec2.amazonaws.com', eventName = readOnly ? 'DescribeInstances' : 'RunInstances'): CloudTrailRecord =>
  rec({ eventCategory: 'Management', managementEvent: true, readOnly, eventSource, eventName });
const data = (resources: RecordResource[], readOnly: boolean, eventSource = 's3.amazonaws.com', eventName = readOnly ? 'GetObject' : 'PutObject'): CloudTrailRecord =>
  rec({ eventCategory: 'Data', managementEvent: false, readOnly, eventSource, eventName, resources });
const s3obj = (bucket: string, key: string): RecordResource[] => [
  { type: 'AWS::S3::Object', ARN: `arn:aws:s3:::${bucket}/${key}` },
  { accountId: '111122223333', type: 'AWS::S3::Bucket', ARN: `arn:aws:s3:::${bucket}` },
];
const LAMBDA_FN = 'arn:aws:lambda:us-west-2:111111111111:function:helloworld';
const TABLE = 'arn:aws:dynamodb:us-east-1:111122223333:table/Orders';
const insight = rec({ eventType: 'AwsCloudTrailInsight', eventCategory: 'Insight' });
const network = rec({ eventType: 'AwsVpceEvent', eventCategory: 'NetworkActivity', eventSource: 'ec2.amazonaws.com', eventName: 'DescribeInstances', vpcEndpointId: 'vpce-1', errorCode: 'VpceAccessDenied' });

// ---------------------------------------------------------------------------------------------
// Selectors as the validators answer them (what a trail stores and matching compiles)

function valid<T>(r: SelectorValidation<T>): T {
  if (!r.ok) assert.fail(`expected valid, got: ${r.message}`);
  return r.value;
}
const okBasic = (input: unknown): EventSelector[] => valid(validateEventSelectors(input));
const okAdvanced = (input: unknown, target: 'trail' | 'eventDataStore' = 'trail'): AdvancedEventSelector[] => valid(validateAdvancedEventSelectors(input, target));
const cat = (c: string): AdvancedFieldSelector => ({ Field: 'eventCategory', Equals: [c] });
const sel = (...fs: AdvancedFieldSelector[]): AdvancedEventSelector => ({ FieldSelectors: fs });

// ---------------------------------------------------------------------------------------------
// Evaluation

describe('eventCategoryOf', () => {
  test('takes the record\'s category, else infers it as normalize does', () => {
    assert.equal(eventCategoryOf(rec({ eventCategory: 'Data' })), 'Data');
    assert.equal(eventCategoryOf(rec({})), 'Management');
    assert.equal(eventCategoryOf(rec({ managementEvent: false })), 'Data');
    assert.equal(eventCategoryOf(rec({ eventType: 'AwsCloudTrailInsight' })), 'Insight');
    assert.equal(eventCategoryOf(rec({ eventType: 'AwsVpceEvent' })), 'NetworkActivity');
  });
});

/** Runs a truth table through both entry points, which must agree. */
function check(selectors: Parameters<typeof compileSelectors>[0], table: [string, CloudTrailRecord, boolean][]): void {
  const p = compileSelectors(selectors);
  for (const [name, r, expected] of table) {
    assert.equal(p(r), expected, `compileSelectors: ${name}`);
    assert.equal(eventMatchesTrail(r, selectors), expected, `eventMatchesTrail: ${name}`);
  }
}

describe('basic selectors: evaluation', () => {
  test('absent selectors are the default: every management event, nothing else', () => {
    check({}, [
      ['read management', mgmt(true), true],
      ['write management', mgmt(false), true],
      ['KMS management', mgmt(true, 'kms.amazonaws.com', 'Decrypt'), true],
      ['S3 data', data(s3obj('b', 'k'), true), false],
      ['insight', insight, false],
      ['network', network, false],
    ]);
  });

  test('ReadWriteType and IncludeManagementEvents', () => {
    const ro = okBasic([{ ReadWriteType: 'ReadOnly' }]);
    check({ eventSelectors: ro }, [['read', mgmt(true), true], ['write', mgmt(false), false]]);
    const wo = okBasic([{ ReadWriteType: 'WriteOnly' }]);
    check({ eventSelectors: wo }, [['read', mgmt(true), false], ['write', mgmt(false), true]]);
    const both = okBasic([{ ReadWriteType: 'ReadOnly' }, { ReadWriteType: 'WriteOnly' }]);
    check({ eventSelectors: both }, [['read', mgmt(true), true], ['write', mgmt(false), true]]);
    const off = okBasic([{ IncludeManagementEvents: false, DataResources: [{ Type: 'AWS::S3::Object', Values: [] }] }]);
    check({ eventSelectors: off }, [['read', mgmt(true), false], ['write', mgmt(false), false], ['S3', data(s3obj('b', 'k'), true), false]]);
  });

  test('a record without readOnly counts as a write', () => {
    const r = rec({ eventCategory: 'Management', eventSource: 'signin.amazonaws.com', eventName: 'ConsoleLogin' });
    check({ eventSelectors: okBasic([{ ReadWriteType: 'WriteOnly' }]) }, [['no readOnly', r, true]]);
    check({ eventSelectors: okBasic([{ ReadWriteType: 'ReadOnly' }]) }, [['no readOnly', r, false]]);
  });

  test('ExcludeManagementEventSources', () => {
    const s = okBasic([{ ExcludeManagementEventSources: ['kms.amazonaws.com'] }]);
    check({ eventSelectors: s }, [
      ['KMS', mgmt(true, 'kms.amazonaws.com', 'Decrypt'), false],
      ['RDS Data API', mgmt(false, 'rdsdata.amazonaws.com', 'ExecuteStatement'), true],
      ['EC2', mgmt(false), true],
    ]);
    const twoSelectors = okBasic([{ ExcludeManagementEventSources: ['kms.amazonaws.com'] }, { ReadWriteType: 'WriteOnly' }]);
    check({ eventSelectors: twoSelectors }, [
      ['KMS read, excluded by the one, wrong type for the other', mgmt(true, 'kms.amazonaws.com', 'Decrypt'), false],
      ['KMS write, matched by the second', mgmt(false, 'kms.amazonaws.com', 'CreateKey'), true],
    ]);
  });

  test('S3 values: all, a bucket, a prefix', () => {
    const all = okBasic([{ IncludeManagementEvents: false, DataResources: [{ Type: 'AWS::S3::Object', Values: ['arn:aws:s3'] }] }]);
    check({ eventSelectors: all }, [
      ['any object', data(s3obj('anybucket', 'k'), false), true],
      ['another account\'s bucket', data(s3obj('other-acct', 'x/y'), true), true],
      ['a Lambda invoke', data([{ type: 'AWS::Lambda::Function', ARN: LAMBDA_FN }], false, 'lambda.amazonaws.com', 'Invoke'), false],
      ['a management event', mgmt(false), false],
    ]);
    const oldAll = okBasic([{ IncludeManagementEvents: false, DataResources: [{ Type: 'AWS::S3::Object', Values: ['arn:aws:s3:::'] }] }]);
    check({ eventSelectors: oldAll }, [['any object', data(s3obj('anybucket', 'k'), false), true]]);
    const bucket = okBasic([{ DataResources: [{ Type: 'AWS::S3::Object', Values: ['arn:aws:s3:::bucket-1/'] }] }]);
    check({ eventSelectors: bucket }, [
      ['an object in the bucket', data(s3obj('bucket-1', 'a/b.png'), false), true],
      ['an object in bucket-10', data(s3obj('bucket-10', 'a'), false), false],
      ['an object in bucket-2', data(s3obj('bucket-2', 'a'), false), false],
      ['a DeleteObjects on the bucket (ARNPrefix)', data([{ type: 'AWS::S3::Object', ARNPrefix: 'arn:aws:s3:::bucket-1/' }, { type: 'AWS::S3::Bucket', ARN: 'arn:aws:s3:::bucket-1' }], false, 's3.amazonaws.com', 'DeleteObjects'), true],
      ['management events still', mgmt(true), true],
    ]);
    const prefix = okBasic([{ ReadWriteType: 'WriteOnly', IncludeManagementEvents: false, DataResources: [{ Type: 'AWS::S3::Object', Values: ['arn:aws:s3:::bucket-1/images/'] }] }]);
    check({ eventSelectors: prefix }, [
      ['a write under the prefix', data(s3obj('bucket-1', 'images/cat.png'), false), true],
      ['a read under the prefix', data(s3obj('bucket-1', 'images/cat.png'), true), false],
      ['a write elsewhere in the bucket', data(s3obj('bucket-1', 'docs/a.txt'), false), false],
    ]);
  });

  test('Lambda and DynamoDB values: all or exact', () => {
    const exact = okBasic([{ IncludeManagementEvents: false, DataResources: [
      { Type: 'AWS::Lambda::Function', Values: [LAMBDA_FN] }, { Type: 'AWS::DynamoDB::Table', Values: [TABLE] },
    ] }]);
    const invoke = (arn: string): CloudTrailRecord => data([{ type: 'AWS::Lambda::Function', ARN: arn }], false, 'lambda.amazonaws.com', 'Invoke');
    const getItem = (arn: string): CloudTrailRecord => data([{ type: 'AWS::DynamoDB::Table', ARN: arn }], true, 'dynamodb.amazonaws.com', 'GetItem');
    check({ eventSelectors: exact }, [
      ['the function', invoke(LAMBDA_FN), true],
      ['helloworld2 (no prefix matching)', invoke(`${LAMBDA_FN}2`), false],
      ['the table', getItem(TABLE), true],
      ['another table', getItem(`${TABLE}2`), false],
      ['an S3 object', data(s3obj('b', 'k'), true), false],
    ]);
    const all = okBasic([{ IncludeManagementEvents: false, DataResources: [
      { Type: 'AWS::Lambda::Function', Values: ['arn:aws:lambda'] }, { Type: 'AWS::DynamoDB::Table', Values: ['arn:aws:dynamodb'] },
    ] }]);
    check({ eventSelectors: all }, [
      ['any function', invoke('arn:aws:lambda:eu-west-1:999999999999:function:x'), true],
      ['any table', getItem('arn:aws:dynamodb:eu-west-1:999999999999:table/T'), true],
      ['an S3 object', data(s3obj('b', 'k'), true), false],
    ]);
  });

  test('insights and network activity never match basic selectors', () => {
    const everything = okBasic([{ DataResources: [{ Type: 'AWS::S3::Object', Values: ['arn:aws:s3'] }] }]);
    check({ eventSelectors: everything }, [['insight', insight, false], ['network', network, false]]);
  });

  test('an empty basic list logs nothing', () => {
    check({ eventSelectors: [] }, [['management', mgmt(true), false]]);
  });
});

describe('advanced selectors: evaluation', () => {
  const adv = (...selectors: AdvancedEventSelector[]) => ({ advancedEventSelectors: okAdvanced(selectors) });

  test('category alone', () => {
    check(adv(sel(cat('Management'))), [
      ['management', mgmt(true), true], ['data', data(s3obj('b', 'k'), true), false], ['network', network, false], ['insight', insight, false],
    ]);
    check(adv(sel(cat('NetworkActivity'), { Field: 'eventSource', Equals: ['ec2.amazonaws.com'] })), [
      ['EC2 network', network, true], ['EC2 management', mgmt(true), false],
    ]);
  });

  test('selectors OR, conditions AND, values of one operator OR', () => {
    const s = adv(
      sel(cat('Management'), { Field: 'readOnly', Equals: ['false'] }),
      sel(cat('Data'), { Field: 'resources.type', Equals: ['AWS::S3::Object'] }, { Field: 'eventName', Equals: ['PutObject', 'DeleteObject'] }),
    );
    check(s, [
      ['management write', mgmt(false), true],
      ['management read', mgmt(true), false],
      ['PutObject', data(s3obj('b', 'k'), false, 's3.amazonaws.com', 'PutObject'), true],
      ['DeleteObject', data(s3obj('b', 'k'), false, 's3.amazonaws.com', 'DeleteObject'), true],
      ['GetObject', data(s3obj('b', 'k'), true, 's3.amazonaws.com', 'GetObject'), false],
      ['Lambda PutObject-named event', data([{ type: 'AWS::Lambda::Function', ARN: LAMBDA_FN }], false, 'lambda.amazonaws.com', 'PutObject'), false],
    ]);
  });

  test('negative operators need every value to miss', () => {
    const s = adv(sel(cat('Management'), { Field: 'eventSource', NotEquals: ['kms.amazonaws.com', 'rdsdata.amazonaws.com'] }));
    check(s, [
      ['KMS', mgmt(true, 'kms.amazonaws.com', 'Decrypt'), false],
      ['RDS Data', mgmt(false, 'rdsdata.amazonaws.com', 'ExecuteStatement'), false],
      ['EC2', mgmt(false), true],
    ]);
    const names = adv(sel(cat('Data'), { Field: 'resources.type', Equals: ['AWS::S3::Object'] }, { Field: 'eventName', NotStartsWith: ['Get', 'Head'], NotEndsWith: ['Acl'] }));
    check(names, [
      ['GetObject', data(s3obj('b', 'k'), true, 's3.amazonaws.com', 'GetObject'), false],
      ['HeadObject', data(s3obj('b', 'k'), true, 's3.amazonaws.com', 'HeadObject'), false],
      ['PutObjectAcl', data(s3obj('b', 'k'), false, 's3.amazonaws.com', 'PutObjectAcl'), false],
      ['PutObject', data(s3obj('b', 'k'), false, 's3.amazonaws.com', 'PutObject'), true],
    ]);
  });

  test('StartsWith and EndsWith on one field both hold', () => {
    const s = adv(sel(cat('Data'), { Field: 'resources.type', Equals: ['AWS::S3::Object'] }, { Field: 'resources.ARN', StartsWith: ['arn:aws:s3:::logs/'], EndsWith: ['.gz', '.zip'] }));
    check(s, [
      ['logs/a.gz', data(s3obj('logs', 'a.gz'), false), true],
      ['logs/a.zip', data(s3obj('logs', 'a.zip'), false), true],
      ['logs/a.txt', data(s3obj('logs', 'a.txt'), false), false],
      ['other/a.gz', data(s3obj('other', 'a.gz'), false), false],
    ]);
  });

  test('resources.ARN looks at the resources of the selected type only; negatives at all of them', () => {
    const s = adv(sel(cat('Data'), { Field: 'resources.type', Equals: ['AWS::S3::Object'] }, { Field: 'resources.ARN', NotStartsWith: ['arn:aws:s3:::bucket1/'] }));
    check(s, [
      // The bucket resource arn:aws:s3:::bucket1 does not start with "bucket1/", but it is not an AWS::S3::Object.
      ['an object in bucket1', data(s3obj('bucket1', 'k'), false), false],
      ['an object in bucket2', data(s3obj('bucket2', 'k'), false), true],
      ['a record without the selected type', data([{ type: 'AWS::S3::Bucket', ARN: 'arn:aws:s3:::bucket2' }], true, 's3.amazonaws.com', 'ListObjects'), false],
    ]);
    const exact = adv(sel(cat('Data'), { Field: 'resources.type', Equals: ['AWS::DynamoDB::Table'] }, { Field: 'resources.ARN', Equals: [TABLE] }));
    check(exact, [
      ['the table', data([{ type: 'AWS::DynamoDB::Table', ARN: TABLE }], true, 'dynamodb.amazonaws.com', 'GetItem'), true],
      ['another table', data([{ type: 'AWS::DynamoDB::Table', ARN: `${TABLE}2` }], true, 'dynamodb.amazonaws.com', 'GetItem'), false],
      ['the table ARN on another type', data([{ type: 'AWS::DynamoDB::Stream', ARN: TABLE }], true, 'dynamodb.amazonaws.com', 'GetRecords'), false],
    ]);
  });

  test('userIdentity.arn, sessionCredentialFromConsole, errorCode, vpcEndpointId', () => {
    const human = (arn: string | undefined, console?: string): CloudTrailRecord => {
      const r = data(s3obj('b', 'k'), true);
      if (arn !== undefined) r.userIdentity = { type: 'AssumedRole', arn };
      if (console !== undefined) r.sessionCredentialFromConsole = console;
      return r;
    };
    check(adv(sel(cat('Data'), { Field: 'resources.type', Equals: ['AWS::S3::Object'] }, { Field: 'userIdentity.arn', EndsWith: ['/HumanRole'] })), [
      ['human', human('arn:aws:sts::111122223333:assumed-role/x/HumanRole'), true],
      ['robot', human('arn:aws:sts::111122223333:assumed-role/x/Robot'), false],
      ['no identity (positive operator fails)', human(undefined), false],
    ]);
    check(adv(sel(cat('Data'), { Field: 'resources.type', Equals: ['AWS::S3::Object'] }, { Field: 'userIdentity.arn', NotEndsWith: ['/Robot'] })), [
      ['no identity (negative operator holds)', human(undefined), true],
      ['robot', human('arn:aws:sts::111122223333:assumed-role/x/Robot'), false],
    ]);
    check(adv(sel(cat('Data'), { Field: 'resources.type', Equals: ['AWS::S3::Object'] }, { Field: 'sessionCredentialFromConsole', Equals: ['false'] })), [
      ['absent means false', human('arn:x'), true],
      ['console', human('arn:x', 'true'), false],
    ]);
    check(adv(sel(cat('NetworkActivity'), { Field: 'eventSource', Equals: ['ec2.amazonaws.com'] }, { Field: 'errorCode', Equals: ['VpceAccessDenied'] }, { Field: 'vpcEndpointId', NotEquals: ['vpce-2'] })), [
      ['denied at vpce-1', network, true],
      ['allowed', { ...network, errorCode: undefined }, false],
      ['denied at vpce-2', { ...network, vpcEndpointId: 'vpce-2' }, false],
    ]);
  });

  test('advanced selectors win over basic ones; an empty advanced list alone logs nothing', () => {
    check({ eventSelectors: DEFAULT_EVENT_SELECTORS, advancedEventSelectors: okAdvanced([sel(cat('Data'), { Field: 'resources.type', Equals: ['AWS::S3::Object'] })]) }, [
      ['management', mgmt(true), false], ['S3', data(s3obj('b', 'k'), true), true],
    ]);
    check({ eventSelectors: okBasic([{ ReadWriteType: 'ReadOnly' }]), advancedEventSelectors: [] }, [['read', mgmt(true), true], ['write', mgmt(false), false]]);
    check({ advancedEventSelectors: [] }, [['management', mgmt(true), false]]);
  });

  test('eventMatchesTrail compiles once per list, and a new list is compiled anew', () => {
    const a = okBasic([{ ReadWriteType: 'ReadOnly' }]);
    const b = okBasic([{ ReadWriteType: 'WriteOnly' }]);
    for (let i = 0; i < 3; i++) {
      assert.equal(eventMatchesTrail(mgmt(true), { eventSelectors: a }), true);
      assert.equal(eventMatchesTrail(mgmt(true), { eventSelectors: b }), false);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Property: a basic selector set and its advanced translation select the same events

const ALL_VALUES = new Set(['arn:aws:s3', 'arn:aws:s3:::', 'arn:aws:lambda', 'arn:aws:dynamodb']);

/** The advanced selectors AWS documents as equivalent to a basic selector set. */
function basicToAdvanced(selectors: EventSelector[]): AdvancedEventSelector[] {
  const out: AdvancedEventSelector[] = [];
  for (const s of selectors) {
    const rw: AdvancedFieldSelector[] = s.ReadWriteType === 'ReadOnly' ? [{ Field: 'readOnly', Equals: ['true'] }]
      : s.ReadWriteType === 'WriteOnly' ? [{ Field: 'readOnly', Equals: ['false'] }] : [];
    if (s.IncludeManagementEvents) {
      const exclude = s.ExcludeManagementEventSources ?? [];
      out.push(sel(cat('Management'), ...rw, ...(exclude.length > 0 ? [{ Field: 'eventSource', NotEquals: [...exclude] }] : [])));
    }
    for (const dr of s.DataResources ?? []) {
      const values = dr.Values ?? [];
      if (values.length === 0) continue;
      const base = [cat('Data'), { Field: 'resources.type', Equals: [dr.Type!] }, ...rw];
      if (values.some((v) => ALL_VALUES.has(v))) out.push(sel(...base));
      else if (dr.Type === 'AWS::S3::Object') out.push(sel(...base, { Field: 'resources.ARN', StartsWith: [...values] }));
      else out.push(sel(...base, { Field: 'resources.ARN', Equals: [...values] }));
    }
  }
  return out;
}

describe('property: basic selectors and their advanced form agree', () => {
  const buckets = ['bkt1', 'bkt10', 'bkt2'];
  const keys = ['', 'img/', 'img/a.png', 'doc/x'];
  const s3Value = fc.oneof(
    fc.constantFrom('arn:aws:s3', 'arn:aws:s3:::'),
    fc.tuple(fc.constantFrom(...buckets), fc.constantFrom(...keys)).map(([b, k]) => `arn:aws:s3:::${b}/${k}`),
  );
  const fns = ['arn:aws:lambda:us-east-1:111122223333:function:f1', 'arn:aws:lambda:us-east-1:111122223333:function:f10'];
  const tables = ['arn:aws:dynamodb:us-east-1:111122223333:table/tbl1', 'arn:aws:dynamodb:us-east-1:111122223333:table/tbl2'];
  const dataResource = fc.oneof(
    fc.array(s3Value, { maxLength: 3 }).map((Values) => ({ Type: 'AWS::S3::Object', Values })),
    fc.array(fc.constantFrom('arn:aws:lambda', ...fns), { maxLength: 2 }).map((Values) => ({ Type: 'AWS::Lambda::Function', Values })),
    fc.array(fc.constantFrom('arn:aws:dynamodb', ...tables), { maxLength: 2 }).map((Values) => ({ Type: 'AWS::DynamoDB::Table', Values })),
  );
  const selector = fc.record({
    ReadWriteType: fc.constantFrom('ReadOnly', 'WriteOnly', 'All'),
    IncludeManagementEvents: fc.boolean(),
    DataResources: fc.array(dataResource, { maxLength: 3 }),
    ExcludeManagementEventSources: fc.subarray(['kms.amazonaws.com', 'rdsdata.amazonaws.com']),
  }).filter((s) => s.IncludeManagementEvents || s.DataResources.length > 0);
  const selectors = fc.array(selector, { minLength: 1, maxLength: 5 });

  const resource = fc.oneof(
    fc.tuple(fc.constantFrom(...buckets), fc.constantFrom(...keys, 'img/b.jpg', 'other')).chain(([b, k]) => fc.constantFrom<RecordResource[]>(
      [{ type: 'AWS::S3::Object', ARN: `arn:aws:s3:::${b}/${k}` }, { type: 'AWS::S3::Bucket', ARN: `arn:aws:s3:::${b}` }],
      [{ type: 'AWS::S3::Object', ARNPrefix: `arn:aws:s3:::${b}/${k}` }],
      [{ type: 'AWS::S3::Bucket', ARN: `arn:aws:s3:::${b}` }],
    )),
    fc.constantFrom(...fns, `${fns[0]}0`).map((ARN): RecordResource[] => [{ type: 'AWS::Lambda::Function', ARN }]),
    fc.constantFrom(...tables).map((ARN): RecordResource[] => [{ type: 'AWS::DynamoDB::Table', ARN }]),
    fc.constant<RecordResource[]>([]),
  );
  const record = fc.record({
    category: fc.constantFrom('Management', 'Data', 'Insight', 'NetworkActivity'),
    readOnly: fc.option(fc.boolean(), { nil: undefined }),
    eventSource: fc.constantFrom('kms.amazonaws.com', 'rdsdata.amazonaws.com', 'ec2.amazonaws.com', 's3.amazonaws.com'),
    resources: resource,
  }).map(({ category, readOnly, eventSource, resources }) => rec({
    eventCategory: category, readOnly, eventSource, eventName: 'Op', resources, managementEvent: category === 'Management',
  }));

  test('on generated selector sets and records', () => {
    fc.assert(fc.property(selectors, fc.array(record, { minLength: 1, maxLength: 20 }), (raw, records) => {
      const basic = validateEventSelectors(raw);
      assert.ok(basic.ok, basic.ok ? '' : basic.message);
      const advancedRaw = basicToAdvanced(basic.value);
      const basicP = compileSelectors({ eventSelectors: basic.value });
      const advancedP = compileSelectors({ advancedEventSelectors: advancedRaw });
      if (advancedRaw.length > 0) {
        const advanced = validateAdvancedEventSelectors(advancedRaw);
        assert.ok(advanced.ok, advanced.ok ? '' : advanced.message);
        assert.deepEqual(advanced.value, advancedRaw);
      }
      for (const r of records) {
        if (advancedRaw.length === 0) assert.equal(basicP(r), false);
        else assert.equal(basicP(r), advancedP(r), JSON.stringify({ basic: basic.value, record: r }));
      }
    }), { numRuns: 300 });
  });

  test('selectsEveryManagementEvent: when it says so, every management event is selected (delivery then judges them unparsed)', () => {
    const checked = { every: 0, not: 0 };
    fc.assert(fc.property(selectors, fc.array(record, { minLength: 1, maxLength: 20 }), (raw, records) => {
      const basic = validateEventSelectors(raw);
      assert.ok(basic.ok);
      for (const sel of [{ eventSelectors: basic.value }, { advancedEventSelectors: basicToAdvanced(basic.value) }]) {
        if (sel.advancedEventSelectors?.length === 0) continue;
        if (!selectsEveryManagementEvent(sel)) {
          checked.not++;
          continue;
        }
        checked.every++;
        const p = compileSelectors(sel);
        for (const r of records) if (r.eventCategory === 'Management') assert.ok(p(r), JSON.stringify({ sel, record: r }));
      }
    }), { numRuns: 300 });
    assert.ok(checked.every > 0 && checked.not > 0, JSON.stringify(checked));
    assert.equal(selectsEveryManagementEvent({}), true, 'the default selectors');
    assert.equal(selectsEveryManagementEvent({ eventSelectors: [{ ReadWriteType: 'ReadOnly' }, { ReadWriteType: 'WriteOnly' }] }), false, 'read and write apart: judged by parsing (a sound answer, not an exact one)');
    assert.equal(selectsEveryManagementEvent({ eventSelectors: [{ IncludeManagementEvents: false, DataResources: [{ Type: 'AWS::S3::Object', Values: ['arn:aws:s3'] }] }] }), false);
    assert.equal(selectsEveryManagementEvent({ advancedEventSelectors: [{ FieldSelectors: [{ Field: 'eventCategory', Equals: ['Management'] }] }] }), true);
    assert.equal(selectsEveryManagementEvent({ advancedEventSelectors: [{ FieldSelectors: [{ Field: 'eventCategory', Equals: ['Management'] }, { Field: 'readOnly', Equals: ['true'] }] }] }), false);
    assert.equal(selectsEveryManagementEvent({ advancedEventSelectors: [{ FieldSelectors: [{ Field: 'eventCategory', Equals: ['Management'], NotEquals: ['Management'] }] }] }), false);
  });
});

describe('evaluation speed', () => {
  test('a compiled predicate answers 200k records quickly', () => {
    const p = compileSelectors({ advancedEventSelectors: okAdvanced([
      sel(cat('Management'), { Field: 'eventSource', NotEquals: ['kms.amazonaws.com'] }),
      sel(cat('Data'), { Field: 'resources.type', Equals: ['AWS::S3::Object'] }, { Field: 'resources.ARN', StartsWith: ['arn:aws:s3:::b1/', 'arn:aws:s3:::b2/'] }),
    ]) });
    const records = [mgmt(true), mgmt(true, 'kms.amazonaws.com', 'Decrypt'), data(s3obj('b1', 'k'), true), data(s3obj('b3', 'k'), true)];
    const t0 = performance.now();
    let hits = 0;
    for (let i = 0; i < 200_000; i++) if (p(records[i & 3]!)) hits++;
    const ms = performance.now() - t0;
    assert.equal(hits, 100_000);
    assert.ok(ms < 2000, `took ${ms} ms`);
  });
});
