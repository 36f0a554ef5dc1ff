import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_EVENT_SELECTORS, defaultEventSelectors, validateAdvancedEventSelectors, validateEventSelectors,
  type AdvancedEventSelector, type AdvancedFieldSelector, type EventSelector,
} from './index.ts';

const LAMBDA_FN = 'arn:aws:lambda:us-west-2:111111111111:function:helloworld';
const TABLE = 'arn:aws:dynamodb:us-east-1:111122223333:table/Orders';

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
