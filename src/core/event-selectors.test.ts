import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  compileSelectors, DEFAULT_EVENT_SELECTORS, defaultEventSelectors, eventCategoryOf, eventMatchesTrail,
  validateAdvancedEventSelectors, validateEventSelectors,
  type AdvancedEventSelector, type AdvancedFieldSelector, type EventSelector,
} from './event-selectors.ts';
import type { CloudTrailRecord, RecordResource } from './record.ts';

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
// Basic selectors: validation

const okBasic = (input: unknown): EventSelector[] => {
  const r = validateEventSelectors(input);
  if (!r.ok) assert.fail(`expected valid, got: ${r.message}`);
  return r.value;
};

describe('DEFAULT_EVENT_SELECTORS', () => {
  test('is what GetEventSelectors answers for a new trail, and is frozen', () => {
    assert.deepEqual(DEFAULT_EVENT_SELECTORS, [{ ReadWriteType: 'All', IncludeManagementEvents: true, DataResources: [], ExcludeManagementEventSources: [] }]);
    assert.ok(Object.isFrozen(DEFAULT_EVENT_SELECTORS) && Object.isFrozen(DEFAULT_EVENT_SELECTORS[0]));
    assert.throws(() => (DEFAULT_EVENT_SELECTORS as unknown[]).push({}));
  });
  test('defaultEventSelectors is an equal, mutable copy', () => {
    const d = defaultEventSelectors();
    assert.deepEqual(d, DEFAULT_EVENT_SELECTORS);
    d[0]!.DataResources!.push({ Type: 'AWS::S3::Object', Values: ['arn:aws:s3'] });
    assert.deepEqual(DEFAULT_EVENT_SELECTORS[0]!.DataResources, []);
  });
});

describe('validateEventSelectors: normalisation', () => {
  test('an empty selector becomes the default selector', () => {
    assert.deepEqual(okBasic([{}]), DEFAULT_EVENT_SELECTORS);
  });
  test('null members count as absent; unknown members are dropped; order is kept', () => {
    assert.deepEqual(okBasic([
      { ReadWriteType: null, IncludeManagementEvents: null, DataResources: null, ExcludeManagementEventSources: null, Extra: 1 },
      { ReadWriteType: 'WriteOnly', ExcludeManagementEventSources: ['rdsdata.amazonaws.com', 'kms.amazonaws.com'] },
      { IncludeManagementEvents: false, DataResources: [{ Type: 'AWS::S3::Object', Values: null }] },
    ]), [
      { ReadWriteType: 'All', IncludeManagementEvents: true, DataResources: [], ExcludeManagementEventSources: [] },
      { ReadWriteType: 'WriteOnly', IncludeManagementEvents: true, DataResources: [], ExcludeManagementEventSources: ['rdsdata.amazonaws.com', 'kms.amazonaws.com'] },
      { ReadWriteType: 'All', IncludeManagementEvents: false, DataResources: [{ Type: 'AWS::S3::Object', Values: [] }], ExcludeManagementEventSources: [] },
    ]);
  });
  test('the output does not share lists with the input', () => {
    const values = ['arn:aws:s3:::bkt1/'];
    const input = [{ DataResources: [{ Type: 'AWS::S3::Object', Values: values }] }];
    const out = okBasic(input);
    values.push('arn:aws:s3:::bkt2/');
    assert.deepEqual(out[0]!.DataResources![0]!.Values, ['arn:aws:s3:::bkt1/']);
  });
});

describe('validateEventSelectors: accepted values', () => {
  const accepted: [string, string[]][] = [
    ['AWS::S3::Object', ['arn:aws:s3']],
    ['AWS::S3::Object', ['arn:aws:s3:::']],
    ['AWS::S3::Object', ['arn:aws:s3:::amzn-s3-demo-bucket1/']],
    ['AWS::S3::Object', ['arn:aws:s3:::amzn-s3-demo-bucket1/example-images']],
    ['AWS::S3::Object', ['arn:aws:s3:::bucket.with.dots/a/b/c.txt', 'arn:aws-cn:s3:::cn-bucket/']],
    ['AWS::Lambda::Function', ['arn:aws:lambda']],
    ['AWS::Lambda::Function', [LAMBDA_FN, `${LAMBDA_FN}:prod`]],
    ['AWS::DynamoDB::Table', ['arn:aws:dynamodb']],
    ['AWS::DynamoDB::Table', [TABLE]],
  ];
  for (const [type, values] of accepted) {
    test(`${type} ${values.join(' ')}`, () => {
      assert.deepEqual(okBasic([{ DataResources: [{ Type: type, Values: values }] }])[0]!.DataResources, [{ Type: type, Values: values }]);
    });
  }
  test('management events off with data resource types of no values (the Stratus Red Team form)', () => {
    okBasic([{ ReadWriteType: 'ReadOnly', IncludeManagementEvents: false, DataResources: [
      { Type: 'AWS::S3::Object', Values: [] }, { Type: 'AWS::Lambda::Function', Values: [] },
    ] }]);
  });
  test('five selectors are allowed', () => {
    assert.equal(okBasic([{}, {}, {}, {}, {}]).length, 5);
  });
});

describe('validateEventSelectors: refusals', () => {
  const many = (count: number, make: (i: number) => string): string[] => Array.from({ length: count }, (_, i) => make(i));
  const cases: [string, unknown, string][] = [
    ['not a list', { ReadWriteType: 'All' }, 'EventSelectors must be a list of event selectors.'],
    ['no selector', [], 'Specify a valid number of event selectors (1 to 5) for a trail.'],
    ['six selectors', [{}, {}, {}, {}, {}, {}], 'Specify a valid number of event selectors (1 to 5) for a trail.'],
    ['a selector that is not an object', ['All'], 'Each event selector must be a JSON object.'],
    ['ReadWriteType read-only', [{ ReadWriteType: 'read-only' }], 'Value read-only for ReadWriteType is invalid.'],
    ['ReadWriteType all (case)', [{ ReadWriteType: 'all' }], 'Value all for ReadWriteType is invalid.'],
    ['ReadWriteType a number', [{ ReadWriteType: 1 }], 'Value 1 for ReadWriteType is invalid.'],
    ['IncludeManagementEvents a string', [{ IncludeManagementEvents: 'true' }], 'IncludeManagementEvents must be true or false.'],
    ['DataResources not a list', [{ DataResources: {} }], 'DataResources must be a list of data resources.'],
    ['a data resource not an object', [{ DataResources: ['x'] }], 'Each data resource must be a JSON object.'],
    ['type AWS::S3::Bucket', [{ DataResources: [{ Type: 'AWS::S3::Bucket', Values: ['arn:aws:s3'] }] }],
      'Value AWS::S3::Bucket for DataResources.Type is invalid. Valid values are: AWS::DynamoDB::Table, AWS::Lambda::Function, AWS::S3::Object'],
    ['type of an advanced-only resource', [{ DataResources: [{ Type: 'AWS::S3Express::Object', Values: ['arn:aws:s3express'] }] }],
      'Value AWS::S3Express::Object for DataResources.Type is invalid. Valid values are: AWS::DynamoDB::Table, AWS::Lambda::Function, AWS::S3::Object'],
    ['no type', [{ DataResources: [{ Values: ['arn:aws:s3'] }] }],
      'Value null for DataResources.Type is invalid. Valid values are: AWS::DynamoDB::Table, AWS::Lambda::Function, AWS::S3::Object'],
    ['Values not a list of strings', [{ DataResources: [{ Type: 'AWS::S3::Object', Values: [1] }] }], 'DataResources.Values must be a list of strings.'],
    ['S3 wildcard bucket', [{ DataResources: [{ Type: 'AWS::S3::Object', Values: ['arn:aws:s3:::*'] }] }], 'Value arn:aws:s3:::* for DataResources.Values is invalid.'],
    ['S3 wildcard object', [{ DataResources: [{ Type: 'AWS::S3::Object', Values: ['arn:aws:s3:::*/*'] }] }], 'Value arn:aws:s3:::*/* for DataResources.Values is invalid.'],
    ['S3 empty bucket', [{ DataResources: [{ Type: 'AWS::S3::Object', Values: ['arn:aws:s3:::/'] }] }], 'Value arn:aws:s3:::/ for DataResources.Values is invalid.'],
    ['S3 bucket ARN without the slash', [{ DataResources: [{ Type: 'AWS::S3::Object', Values: ['arn:aws:s3:::my-bucket'] }] }], 'Value arn:aws:s3:::my-bucket for DataResources.Values is invalid.'],
    ['S3 bucket name, not an ARN', [{ DataResources: [{ Type: 'AWS::S3::Object', Values: ['my-bucket/'] }] }], 'Value my-bucket/ for DataResources.Values is invalid.'],
    ['S3 value under the Lambda type', [{ DataResources: [{ Type: 'AWS::Lambda::Function', Values: ['arn:aws:s3'] }] }], 'Value arn:aws:s3 for DataResources.Values is invalid.'],
    ['Lambda wildcard', [{ DataResources: [{ Type: 'AWS::Lambda::Function', Values: ['arn:aws:lambda:*'] }] }], 'Value arn:aws:lambda:* for DataResources.Values is invalid.'],
    ['Lambda ARN without function', [{ DataResources: [{ Type: 'AWS::Lambda::Function', Values: ['arn:aws:lambda:us-west-2:111111111111'] }] }],
      'Value arn:aws:lambda:us-west-2:111111111111 for DataResources.Values is invalid.'],
    ['DynamoDB wildcard', [{ DataResources: [{ Type: 'AWS::DynamoDB::Table', Values: ['arn:aws:dynamodb:*'] }] }], 'Value arn:aws:dynamodb:* for DataResources.Values is invalid.'],
    ['management off and no data resources', [{ IncludeManagementEvents: false }],
      'Invalid combination of parameters in EventSelectors. When includeManagementEvents is false, DataResources must not be empty.'],
    ['management off and an empty DataResources', [{ IncludeManagementEvents: false, DataResources: [] }],
      'Invalid combination of parameters in EventSelectors. When includeManagementEvents is false, DataResources must not be empty.'],
    ['excluding S3', [{ ExcludeManagementEventSources: ['s3.amazonaws.com'] }], 'Value s3.amazonaws.com for ExcludeManagementEventSources is invalid.'],
    ['ExcludeManagementEventSources not a list', [{ ExcludeManagementEventSources: 'kms.amazonaws.com' }], 'ExcludeManagementEventSources must be a list of strings.'],
    ['251 bucket values in one selector', [{ DataResources: [{ Type: 'AWS::S3::Object', Values: many(251, (i) => `arn:aws:s3:::bucket-${i}/`) }] }],
      'Specify a valid number of DataResources.Values (0 to 250) for all your selectors'],
    ['251 values over several selectors and types', [
      { DataResources: [{ Type: 'AWS::S3::Object', Values: many(100, (i) => `arn:aws:s3:::bucket-${i}/`) }] },
      { DataResources: [{ Type: 'AWS::Lambda::Function', Values: many(100, (i) => `${LAMBDA_FN}${i}`) }] },
      { DataResources: [{ Type: 'AWS::DynamoDB::Table', Values: many(51, (i) => `${TABLE}${i}`) }] },
    ], 'Specify a valid number of DataResources.Values (0 to 250) for all your selectors'],
  ];
  for (const [name, input, message] of cases) {
    test(name, () => assert.deepEqual(validateEventSelectors(input), { ok: false, message }));
  }

  test('250 specific values pass, and values meaning "all" do not count', () => {
    okBasic([{ DataResources: [{ Type: 'AWS::S3::Object', Values: many(250, (i) => `arn:aws:s3:::bucket-${i}/`) }] }]);
    okBasic([
      { DataResources: [{ Type: 'AWS::S3::Object', Values: [...many(250, (i) => `arn:aws:s3:::bucket-${i}/`), 'arn:aws:s3'] }] },
      { DataResources: [{ Type: 'AWS::Lambda::Function', Values: ['arn:aws:lambda'] }, { Type: 'AWS::DynamoDB::Table', Values: ['arn:aws:dynamodb'] }] },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Advanced selectors: validation

const okAdvanced = (input: unknown, target: 'trail' | 'eventDataStore' = 'trail'): AdvancedEventSelector[] => {
  const r = validateAdvancedEventSelectors(input, target);
  if (!r.ok) assert.fail(`expected valid, got: ${r.message}`);
  return r.value;
};
const cat = (c: string): AdvancedFieldSelector => ({ Field: 'eventCategory', Equals: [c] });
const sel = (...fs: AdvancedFieldSelector[]): AdvancedEventSelector => ({ FieldSelectors: fs });

describe('validateAdvancedEventSelectors: accepted', () => {
  const accepted: [string, AdvancedEventSelector[]][] = [
    ['all management events', [sel(cat('Management'))]],
    ['write management events without KMS and RDS Data API', [sel(cat('Management'), { Field: 'readOnly', Equals: ['false'] },
      { Field: 'eventSource', NotEquals: ['kms.amazonaws.com', 'rdsdata.amazonaws.com'] })]],
    ['S3 objects of one bucket but a prefix', [sel(cat('Data'), { Field: 'resources.type', Equals: ['AWS::S3::Object'] },
      { Field: 'resources.ARN', StartsWith: ['arn:aws:s3:::bucket1/'], NotStartsWith: ['arn:aws:s3:::bucket1/private/'] })]],
    ['data events by every data field', [sel(cat('Data'), { Field: 'resources.type', Equals: ['AWS::DynamoDB::Table'] },
      { Field: 'eventName', NotEquals: ['GetItem'] }, { Field: 'eventSource', Equals: ['dynamodb.amazonaws.com'] },
      { Field: 'eventType', Equals: ['AwsApiCall'] }, { Field: 'userIdentity.arn', EndsWith: ['HumanRole'] },
      { Field: 'sessionCredentialFromConsole', Equals: ['true'] }, { Field: 'readOnly', Equals: ['true'] },
      { Field: 'resources.ARN', Equals: [TABLE] })]],
    ['a resource type only advanced selectors know', [sel(cat('Data'), { Field: 'resources.type', Equals: ['AWS::S3Express::Object'] })]],
    ['network activity with every network field', [sel(cat('NetworkActivity'), { Field: 'eventSource', Equals: ['ec2.amazonaws.com'] },
      { Field: 'errorCode', Equals: ['VpceAccessDenied'] }, { Field: 'vpcEndpointId', NotEquals: ['vpce-1'] },
      { Field: 'eventName', StartsWith: ['Describe'] }, { Field: 'userIdentity.arn', StartsWith: ['arn:aws:iam::111122223333:'] })]],
    ['several selectors', [sel(cat('Management')), sel(cat('Data'), { Field: 'resources.type', Equals: ['AWS::Lambda::Function'] })]],
    ['fields with | and _ in the model pattern', [sel(cat('Management'))]],
  ];
  for (const [name, input] of accepted) {
    test(name, () => assert.deepEqual(okAdvanced(input), input));
  }

  test('order of selectors and field selectors is kept; operators come in model order; unknown members and nulls go', () => {
    const out = okAdvanced([
      { Name: 'second', FieldSelectors: [{ NotEndsWith: ['x'], Field: 'eventName', StartsWith: ['Put'], Equals: null }, { Equals: ['AWS::S3::Object'], Field: 'resources.type' }, cat('Data')], Extra: true },
      { FieldSelectors: [cat('Management')] },
    ]);
    assert.deepEqual(out, [
      { Name: 'second', FieldSelectors: [{ Field: 'eventName', StartsWith: ['Put'], NotEndsWith: ['x'] }, { Field: 'resources.type', Equals: ['AWS::S3::Object'] }, cat('Data')] },
      { FieldSelectors: [cat('Management')] },
    ]);
    assert.deepEqual(Object.keys(okAdvanced([sel(cat('Data'), { Field: 'resources.type', Equals: ['AWS::S3::Object'] }, { NotEquals: ['b'], Equals: ['a'], Field: 'eventName' } as AdvancedFieldSelector)])[0]!.FieldSelectors[2]!), ['Field', 'Equals', 'NotEquals']);
  });

  test('event data stores take their own categories and extra management fields', () => {
    okAdvanced([sel(cat('Insight'))], 'eventDataStore');
    okAdvanced([sel(cat('ActivityAuditLog'))], 'eventDataStore');
    okAdvanced([sel(cat('Management'), { Field: 'eventName', Equals: ['ConsoleLogin'] }, { Field: 'eventSource', StartsWith: ['signin'] },
      { Field: 'userIdentity.arn', NotStartsWith: ['arn:aws:sts::111122223333:assumed-role/Robot'] })], 'eventDataStore');
  });

  test('500 values in all pass (eventCategory and resources.type values count too)', () => {
    const values = Array.from({ length: 248 }, (_, i) => `Get${i}`);
    okAdvanced([
      sel(cat('Data'), { Field: 'resources.type', Equals: ['AWS::S3::Object'] }, { Field: 'eventName', Equals: values }),
      sel(cat('Data'), { Field: 'resources.type', Equals: ['AWS::S3::Object'] }, { Field: 'eventName', NotEquals: values }),
    ]);
  });
});

describe('validateAdvancedEventSelectors: refusals', () => {
  const s3type: AdvancedFieldSelector = { Field: 'resources.type', Equals: ['AWS::S3::Object'] };
  const cases: [string, unknown, string, ('trail' | 'eventDataStore')?][] = [
    ['not a list', {}, 'AdvancedEventSelectors must be a list of advanced event selectors.'],
    ['no selector', [], 'Specify at least one advanced event selector.'],
    ['a selector that is not an object', [1], 'Each advanced event selector must be a JSON object.'],
    ['no FieldSelectors', [{ Name: 'x' }], 'Each advanced event selector must have at least one field selector in FieldSelectors.'],
    ['empty FieldSelectors', [{ FieldSelectors: [] }], 'Each advanced event selector must have at least one field selector in FieldSelectors.'],
    ['Name not a string', [{ Name: 5, FieldSelectors: [cat('Management')] }], 'The Name of an advanced event selector must be a string.'],
    ['Name of 1001 characters', [{ Name: 'n'.repeat(1001), FieldSelectors: [cat('Management')] }], 'The Name of an advanced event selector must be at most 1000 characters.'],
    ['a field selector that is not an object', [sel('eventCategory' as unknown as AdvancedFieldSelector)], 'Each field selector must be a JSON object.'],
    ['no Field', [sel({ Equals: ['Management'] } as unknown as AdvancedFieldSelector)], 'Each field selector must have a Field.'],
    ['Field of 1001 characters', [sel(cat('Management'), { Field: 'a'.repeat(1001), Equals: ['x'] })], 'Field must be at most 1000 characters.'],
    ['Field outside the pattern', [sel(cat('Management'), { Field: 'event-name', Equals: ['x'] })], 'Field event-name is not valid: it must match [\\w|\\d|\\.|_]+.'],
    ['a field twice', [sel(cat('Data'), s3type, { Field: 'eventName', Equals: ['a'] }, { Field: 'eventName', NotEquals: ['b'] })],
      'The following field is used more than once in an advanced event selector: eventName.'],
    ['no operator', [sel(cat('Management'), { Field: 'readOnly' })], 'The field readOnly needs at least one operator (Equals, StartsWith, EndsWith, NotEquals, NotStartsWith, NotEndsWith).'],
    ['an empty operator list', [sel(cat('Management'), { Field: 'readOnly', Equals: [] })], 'Equals of the field readOnly must have at least one value.'],
    ['an operator that is not a list', [sel(cat('Management'), { Field: 'readOnly', Equals: 'true' as unknown as string[] })], 'Equals of the field readOnly must be a list of strings.'],
    ['an empty value', [sel(cat('Data'), s3type, { Field: 'eventName', Equals: [''] })], 'Values of the field eventName must be 1 to 2048 characters.'],
    ['a value of 2049 characters', [sel(cat('Data'), s3type, { Field: 'eventName', Equals: ['x'.repeat(2049)] })], 'Values of the field eventName must be 1 to 2048 characters.'],
    ['no eventCategory', [sel({ Field: 'readOnly', Equals: ['true'] })], 'The eventCategory field is required in each advanced event selector.'],
    ['eventCategory by NotEquals', [sel({ Field: 'eventCategory', NotEquals: ['Data'] })], 'The following operator is not allowed for the field eventCategory: NotEquals.'],
    ['two categories', [sel({ Field: 'eventCategory', Equals: ['Management', 'Data'] })], 'Specify exactly one eventCategory value in each advanced event selector.'],
    ['an unknown category', [sel(cat('Mgmt'))], 'The following value is not allowed for the field eventCategory: Mgmt.'],
    ['Insight on a trail', [sel(cat('Insight'))], 'The following value is not allowed for the field eventCategory: Insight.'],
    ['eventName on trail management events', [sel(cat('Management'), { Field: 'eventName', Equals: ['CreateBucket'] })],
      'The following field is not allowed when the eventCategory field value equals Management: eventName.'],
    ['resources.ARN on management events', [sel(cat('Management'), { Field: 'resources.ARN', StartsWith: ['arn:aws:s3:::b/'] })],
      'The following field is not allowed when the eventCategory field value equals Management: resources.ARN.'],
    ['an unknown field', [sel(cat('Data'), s3type, { Field: 'userAgent', Equals: ['x'] })],
      'The following field is not allowed when the eventCategory field value equals Data: userAgent.'],
    ['errorCode on data events', [sel(cat('Data'), s3type, { Field: 'errorCode', Equals: ['VpceAccessDenied'] })],
      'The following field is not allowed when the eventCategory field value equals Data: errorCode.'],
    ['resources.type on network events', [sel(cat('NetworkActivity'), { Field: 'eventSource', Equals: ['s3.amazonaws.com'] }, s3type)],
      'The following field is not allowed when the eventCategory field value equals NetworkActivity: resources.type.'],
    ['userIdentity.arn on event data store network events', [sel(cat('NetworkActivity'), { Field: 'eventSource', Equals: ['s3.amazonaws.com'] }, { Field: 'userIdentity.arn', Equals: ['x'] })],
      'The following field is not allowed when the eventCategory field value equals NetworkActivity: userIdentity.arn.', 'eventDataStore'],
    ['a field on Insight events', [sel(cat('Insight'), { Field: 'eventName', Equals: ['x'] })],
      'The following field is not allowed when the eventCategory field value equals Insight: eventName.', 'eventDataStore'],
    ['data events without resources.type', [sel(cat('Data'), { Field: 'eventName', Equals: ['PutObject'] })],
      'The following field is required when the eventCategory field value equals Data: resources.type.'],
    ['resources.type by StartsWith', [sel(cat('Data'), { Field: 'resources.type', StartsWith: ['AWS::S3'] })], 'The following operator is not allowed for the field resources.type: StartsWith.'],
    ['a malformed resource type', [sel(cat('Data'), { Field: 'resources.type', Equals: ['S3 objects'] })], 'The following value is not allowed for the field resources.type: S3 objects.'],
    ['readOnly by NotEquals', [sel(cat('Management'), { Field: 'readOnly', NotEquals: ['true'] })], 'The following operator is not allowed for the field readOnly: NotEquals.'],
    ['readOnly yes', [sel(cat('Management'), { Field: 'readOnly', Equals: ['yes'] })], 'The following value is not allowed for the field readOnly: yes.'],
    ['eventSource by Equals on trail management events', [sel(cat('Management'), { Field: 'eventSource', Equals: ['glue.amazonaws.com'] })],
      'The following operator is not allowed for the field eventSource when the eventCategory field value equals Management: Equals.'],
    ['excluding S3 management events', [sel(cat('Management'), { Field: 'eventSource', NotEquals: ['s3.amazonaws.com'] })],
      'The following value is not allowed for the field eventSource: s3.amazonaws.com.'],
    ['network events without eventSource', [sel(cat('NetworkActivity'), { Field: 'eventName', Equals: ['x'] })],
      'The following field is required when the eventCategory field value equals NetworkActivity: eventSource.'],
    ['network eventSource by NotEquals', [sel(cat('NetworkActivity'), { Field: 'eventSource', NotEquals: ['s3.amazonaws.com'] })],
      'The following operator is not allowed for the field eventSource when the eventCategory field value equals NetworkActivity: NotEquals.'],
    ['two network event sources', [sel(cat('NetworkActivity'), { Field: 'eventSource', Equals: ['s3.amazonaws.com', 'ec2.amazonaws.com'] })],
      'Specify exactly one eventSource value in an advanced event selector for NetworkActivity events.'],
    ['errorCode other than VpceAccessDenied', [sel(cat('NetworkActivity'), { Field: 'eventSource', Equals: ['s3.amazonaws.com'] }, { Field: 'errorCode', Equals: ['AccessDenied'] })],
      'The following value is not allowed for the field errorCode: AccessDenied.'],
    ['sessionCredentialFromConsole by StartsWith', [sel(cat('Data'), s3type, { Field: 'sessionCredentialFromConsole', StartsWith: ['t'] })],
      'The following operator is not allowed for the field sessionCredentialFromConsole: StartsWith.'],
    ['501 values', [
      sel(cat('Data'), s3type, { Field: 'eventName', Equals: Array.from({ length: 248 }, (_, i) => `Get${i}`) }),
      sel(cat('Data'), s3type, { Field: 'eventName', Equals: Array.from({ length: 249 }, (_, i) => `Get${i}`) }),
    ], 'Specify up to 500 values for all conditions in all advanced event selectors for a trail.'],
  ];
  for (const [name, input, message, target] of cases) {
    test(name, () => assert.deepEqual(validateAdvancedEventSelectors(input, target), { ok: false, message }));
  }
});

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
