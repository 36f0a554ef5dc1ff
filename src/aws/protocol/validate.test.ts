import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceError } from '../errors.ts';
import { CLOUDTRAIL_DATA_MODEL, CLOUDTRAIL_MODEL, cloudTrailDataInput, cloudTrailInput, modelRegExp, restJsonInput, validate, validationMessage } from './index.ts';

function refused(f: () => unknown): ServiceError {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof ServiceError, String(e));
    return e;
  }
  assert.fail('expected a ServiceError');
}

test('a valid input passes, its null members left out and unknown members kept', () => {
  const input = cloudTrailInput('CreateChannel', { Name: 'abc', Source: 'Custom', Destinations: [{ Type: 'AWS_SERVICE', Location: 'config' }], Tags: null, Extra: 1 });
  assert.deepEqual(input, { Name: 'abc', Source: 'Custom', Destinations: [{ Type: 'AWS_SERVICE', Location: 'config' }], Extra: 1 });
});

test('each kind of violation, with its AWS wording and path', () => {
  const v = (shape: string, value: unknown) => validate(CLOUDTRAIL_MODEL, shape, value).violations.map((x) => [x.kind, x.path, x.wirePath, x.constraint]);
  assert.deepEqual(v('CreateChannelRequest', { Source: 'Custom', Destinations: [] }), [
    ['required', 'Name', 'name', 'Member must not be null'],
    ['length', 'Destinations', 'destinations', 'Member must have length greater than or equal to 1'],
  ]);
  assert.deepEqual(v('CreateChannelRequest', { Name: 'a/b', Source: 'Custom', Destinations: [{ Type: 'NOPE', Location: 'x'.repeat(1025) }] }), [
    ['pattern', 'Name', 'name', 'Member must satisfy regular expression pattern: ^[a-zA-Z0-9._\\-]+$'],
    ['enum', 'Destinations[].Type', 'destinations.1.member.type', 'Member must satisfy enum value set: [EVENT_DATA_STORE, AWS_SERVICE]'],
    ['length', 'Destinations[].Location', 'destinations.1.member.location', 'Member must have length less than or equal to 1024'],
  ]);
  assert.deepEqual(v('LookupEventsRequest', { MaxResults: 51, StartTime: 'yesterday' }), [
    ['type', 'StartTime', 'startTime', 'a timestamp (epoch seconds)'],
    ['range', 'MaxResults', 'maxResults', 'Member must have value less than or equal to 50'],
  ]);
  assert.deepEqual(v('LookupEventsRequest', { MaxResults: 1.5 }), [['type', 'MaxResults', 'maxResults', 'an integer']]);
  // Lengths count code points: one emoji is one character.
  assert.deepEqual(v('CreateChannelRequest', { Name: 'ab\u{1F600}', Source: 'Custom', Destinations: [{ Type: 'AWS_SERVICE', Location: 'abc' }] })[0]?.[0], 'pattern');
  assert.deepEqual(v('TagsList', [{ Key: '\u{1F600}'.repeat(128) }]), []);
  assert.equal(validationMessage(validate(CLOUDTRAIL_MODEL, 'LookupEventsRequest', { MaxResults: 0 }).violations), "1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1");
});

test('which exception: a wrong type is SerializationException, an override names CloudTrail\'s own, else InvalidParameterException or ValidationException as the operation models', () => {
  const e1 = refused(() => cloudTrailInput('GetTrail', { Name: 5 }));
  assert.equal(e1.code, 'SerializationException');
  assert.match(e1.message, /'name'.*must be a string, not a number/);
  assert.equal(refused(() => cloudTrailInput('GetTrail', {})).code, 'InvalidTrailNameException');
  assert.equal(refused(() => cloudTrailInput('LookupEvents', { MaxResults: 51 })).code, 'InvalidMaxResultsException');
  assert.equal(refused(() => cloudTrailInput('LookupEvents', { LookupAttributes: [{ AttributeKey: 'Bogus', AttributeValue: 'x' }] })).code, 'InvalidLookupAttributesException');
  assert.equal(refused(() => cloudTrailInput('GetChannel', { Channel: 'a b' })).code, 'ChannelARNInvalidException');
  // No override: the operation's InvalidParameterException (the model lists it for CreateEventDataStore) ...
  const e2 = refused(() => cloudTrailInput('CreateEventDataStore', { Name: 'x' }));
  assert.equal(e2.code, 'InvalidParameterException');
  assert.match(e2.message, /^1 validation error detected: Value 'x' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 3$/);
  // ... or ValidationException when it lists none.
  assert.equal(CLOUDTRAIL_MODEL.operations.GetDashboard?.errors.includes('InvalidParameterException'), false);
  assert.equal(refused(() => cloudTrailInput('GetDashboard', {})).code, 'ValidationException');
  // Statuses come from the model's httpError traits.
  assert.equal(CLOUDTRAIL_MODEL.errorStatus.TrailNotFoundException, 404);
  assert.equal(CLOUDTRAIL_MODEL.errorStatus.MaximumNumberOfTrailsExceededException, 403);
});

test('cloudtrail-data: query and body members bound by the model, every violation ValidationException', () => {
  const q = new URLSearchParams({ channelArn: 'arn:aws:cloudtrail:us-east-1:111111111111:channel/x', externalId: 'e', ignored: '1' });
  const input = restJsonInput(CLOUDTRAIL_DATA_MODEL, 'PutAuditEvents', q, { auditEvents: [{ id: 'a', eventData: '{}' }], channelArn: 'from-body' });
  assert.deepEqual(input, { auditEvents: [{ id: 'a', eventData: '{}' }], channelArn: 'arn:aws:cloudtrail:us-east-1:111111111111:channel/x', externalId: 'e' });
  const e = refused(() => cloudTrailDataInput('PutAuditEvents', input));
  assert.equal(e.code, 'ValidationException');
  assert.match(e.message, /at 'externalId' failed to satisfy constraint: Member must have length greater than or equal to 2/);
  // A bare channel id passes (an OpenTrail extension: the channel lookup decides); an empty channelArn does not.
  assert.equal(cloudTrailDataInput('PutAuditEvents', { channelArn: 'channel-id', auditEvents: [{ id: 'a', eventData: '{}' }] }).channelArn, 'channel-id');
  assert.equal(refused(() => cloudTrailDataInput('PutAuditEvents', { auditEvents: [{ id: 'a', eventData: '{}' }] })).code, 'ValidationException');
  assert.equal(refused(() => cloudTrailDataInput('PutAuditEvents', { channelArn: 'arn:x', auditEvents: [{ id: 'a', eventData: {} }] })).code, 'SerializationException');
});

test('every pattern of the generated models compiles (a Java inline flag read as the RegExp flag)', () => {
  for (const model of [CLOUDTRAIL_MODEL, CLOUDTRAIL_DATA_MODEL]) {
    for (const [name, s] of Object.entries(model.shapes)) if (s.type === 'string' && s.pattern !== undefined) assert.doesNotThrow(() => modelRegExp(s.pattern!), name);
  }
  assert.ok(modelRegExp('(?s).*').test('a\nb'));
  assert.equal(modelRegExp('(?s).*').flags, 'su');
  // Not anchored: '[\\w|\\d|\\.|_]+' (SelectorField) matches any text with a word character in it.
  assert.ok(modelRegExp('[\\w|\\d|\\.|_]+').test('a b'));
});

test('a member named __proto__ stays a member: it cannot give the checked input members the model did not check', () => {
  const input = cloudTrailInput('CreateTrail', JSON.parse('{"Name":"abc","S3BucketName":"b","__proto__":{"KmsKeyId":"unchecked"}}')) as unknown as Record<string, unknown>;
  assert.equal(input.KmsKeyId, undefined);
  assert.equal(Object.getPrototypeOf(input), Object.prototype);
  assert.deepEqual(Object.keys(input), ['__proto__', 'Name', 'S3BucketName']);
});
