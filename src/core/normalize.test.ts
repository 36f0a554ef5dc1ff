import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import fc from 'fast-check';
import { normalizeRecord, EVENT_CATEGORIES, type NormalizeContext, type NormalizeResult } from './normalize.ts';
import { CURRENT_EVENT_VERSION, MAX_RECORD_BYTES } from './record.ts';
import { formatEventTime } from './time.ts';

/** CloudTrail's field order, written out independently of normalize.ts (from AWS's record-contents docs). */
const CLOUDTRAIL_ORDER = [
  'eventVersion', 'userIdentity', 'eventTime', 'eventSource', 'eventName', 'awsRegion', 'sourceIPAddress',
  'userAgent', 'errorCode', 'errorMessage', 'requestParameters', 'responseElements', 'additionalEventData',
  'requestID', 'eventID', 'readOnly', 'resources', 'eventType', 'apiVersion', 'managementEvent',
  'recipientAccountId', 'sharedEventID', 'vpcEndpointId', 'vpcEndpointAccountId', 'serviceEventDetails',
  'eventCategory', 'addendum', 'sessionCredentialFromConsole', 'edgeDeviceDetails', 'tlsDetails',
  'insightDetails', 'eventContext',
];

const NOW_MS = Date.UTC(2026, 0, 2, 3, 4, 5, 678);

function ctx(overrides: Partial<NormalizeContext> = {}): NormalizeContext & { issued: string[] } {
  const issued: string[] = [];
  let n = 0;
  return {
    defaultAccountId: '111111111111',
    defaultRegion: 'us-east-1',
    nowMs: NOW_MS,
    ids: { uuid: () => { const id = `generated-${++n}`; issued.push(id); return id; } },
    issued,
    ...overrides,
  };
}

function ok(r: NormalizeResult) {
  if (!r.ok) assert.fail(`expected the record to pass, got ${r.errorCode}: ${r.errorMessage}`);
  return r.value;
}

function failed(r: NormalizeResult): { errorCode: string; errorMessage: string } {
  if (r.ok) assert.fail(`expected a rejection, got ${r.value.json.slice(0, 200)}`);
  return r;
}

const minimal = () => ({ eventSource: 'ec2.amazonaws.com', eventName: 'RunInstances' });

describe('normalizeRecord: defaults', () => {
  test('a minimal API call gets every field CloudTrail always writes', () => {
    const c = ctx();
    const v = ok(normalizeRecord(minimal(), c));
    const r = v.record;
    assert.equal(r.eventVersion, CURRENT_EVENT_VERSION);
    assert.equal(r.eventTime, '2026-01-02T03:04:05Z', 'ingestion time, whole seconds, UTC, Z form');
    assert.equal(v.eventTimeSec, Math.floor(NOW_MS / 1000));
    assert.equal(r.awsRegion, 'us-east-1');
    assert.equal(r.recipientAccountId, '111111111111');
    assert.equal(r.eventType, 'AwsApiCall');
    assert.equal(r.eventCategory, 'Management');
    assert.equal(r.managementEvent, true);
    assert.equal(r.readOnly, false, 'RunInstances writes');
    // eventID and requestID both come from the injected id source, and are distinct.
    assert.equal(c.issued.length, 2);
    assert.ok(c.issued.includes(r.eventID));
    assert.ok(c.issued.includes(r.requestID!));
    assert.notEqual(r.eventID, r.requestID);
  });

  test('readOnly is derived from the event name when absent', () => {
    for (const [eventName, expected] of [
      ['DescribeInstances', true], ['GetObject', true], ['ListBuckets', true], ['LookupEvents', true],
      ['CreateTrail', false], ['PutObject', false], ['DeleteBucket', false],
      ['Getaway', false], // "Get" followed by a lower-case letter is not the Get verb
    ] as const) {
      const r = ok(normalizeRecord({ eventSource: 's.amazonaws.com', eventName }, ctx())).record;
      assert.equal(r.readOnly, expected, eventName);
    }
  });

  test('readOnly follows what CloudTrail writes for calls whose verb misleads (STS, KMS)', () => {
    // AWS writes readOnly: true for AssumeRole and for KMS cryptographic operations such as Decrypt,
    // and false for sts:GetFederationToken, whatever their verbs suggest.
    for (const [eventSource, eventName, expected] of [
      ['sts.amazonaws.com', 'AssumeRole', true], ['kms.amazonaws.com', 'Decrypt', true], ['kms.amazonaws.com', 'GenerateDataKey', true],
      ['sts.amazonaws.com', 'GetFederationToken', false], ['kms.amazonaws.com', 'CreateKey', false],
      ['ec2.amazonaws.com', 'Decrypt', false], // the exception belongs to KMS, not to the name
    ] as const) {
      assert.equal(ok(normalizeRecord({ eventSource, eventName }, ctx())).record.readOnly, expected, `${eventSource} ${eventName}`);
    }
  });

  test('supplied values win over every default', () => {
    const input = {
      eventVersion: '1.08', eventTime: '2020-05-06T07:08:09Z', eventSource: 's3.amazonaws.com', eventName: 'GetObject',
      awsRegion: 'eu-west-1', requestID: 'req-1', eventID: 'evt-1', readOnly: false, eventType: 'AwsApiCall',
      managementEvent: true, recipientAccountId: '222222222222', eventCategory: 'Management',
    };
    const c = ctx();
    const r = ok(normalizeRecord(input, c)).record;
    for (const [k, v] of Object.entries(input)) assert.deepEqual(r[k], v, k);
    assert.equal(c.issued.length, 0, 'no ids are generated when the record has them');
  });

  test('managementEvent false makes a data event; eventCategory Data makes managementEvent false', () => {
    const a = ok(normalizeRecord({ ...minimal(), managementEvent: false }, ctx())).record;
    assert.equal(a.eventCategory, 'Data');
    assert.equal(a.managementEvent, false);
    const b = ok(normalizeRecord({ ...minimal(), eventCategory: 'Data' }, ctx())).record;
    assert.equal(b.managementEvent, false);
  });

  test('Insights records need no API-call fields and get none', () => {
    const c = ctx();
    const r = ok(normalizeRecord({ eventType: 'AwsCloudTrailInsight', insightDetails: { eventName: 'X' } }, c)).record;
    assert.equal(r.eventCategory, 'Insight');
    assert.equal('requestID' in r, false);
    assert.equal('readOnly' in r, false);
    assert.equal('managementEvent' in r, false);
    assert.deepEqual(c.issued, [r.eventID]);
  });

  test('Lake integration (ActivityAuditLog) records need no API-call fields and get none', () => {
    const r = ok(normalizeRecord({ eventCategory: 'ActivityAuditLog', eventType: 'ActivityLog', eventData: { a: 1 } }, ctx())).record;
    assert.equal(r.eventCategory, 'ActivityAuditLog');
    assert.equal('requestID' in r, false);
    assert.equal('readOnly' in r, false);
    assert.equal('managementEvent' in r, false);
    assert.deepEqual(r.eventData, { a: 1 });
  });

  test('null optional fields are accepted and kept as null (CloudTrail writes responseElements: null)', () => {
    const r = ok(normalizeRecord({ ...minimal(), responseElements: null, errorCode: null, userIdentity: null }, ctx())).record;
    assert.equal(r.responseElements, null);
    assert.equal(r.errorCode, null);
  });
});

describe('normalizeRecord: eventTime', () => {
  test('CloudTrail-form times are kept verbatim', () => {
    const v = ok(normalizeRecord({ ...minimal(), eventTime: '2021-12-31T23:59:59Z' }, ctx()));
    assert.equal(v.record.eventTime, '2021-12-31T23:59:59Z');
    assert.equal(v.eventTimeSec, Date.UTC(2021, 11, 31, 23, 59, 59) / 1000);
  });

  test('other ISO-8601 forms are converted to UTC whole seconds', () => {
    const cases: [string, string][] = [
      ['2021-06-01T10:00:00.999Z', '2021-06-01T10:00:00Z'],
      ['2021-06-01T12:30:00+02:00', '2021-06-01T10:30:00Z'],
      ['2021-06-01T05:30:00-0500', '2021-06-01T10:30:00Z'],
      ['2021-06-01 10:00:00', '2021-06-01T10:00:00Z'],
      ['2021-06-01T10:00', '2021-06-01T10:00:00Z'],
    ];
    for (const [input, expected] of cases) {
      const v = ok(normalizeRecord({ ...minimal(), eventTime: input }, ctx()));
      assert.equal(v.record.eventTime, expected, input);
      assert.equal(v.eventTimeSec, Date.parse(expected) / 1000, input);
    }
  });

  test('text that is not an ISO-8601 time is rejected', () => {
    for (const t of ['yesterday', '2021-06-01', '1622541600', '2021-13-01T00:00:00Z', '2021-06-01T10:00:00ZZ', '']) {
      const f = failed(normalizeRecord({ ...minimal(), eventTime: t }, ctx()));
      assert.equal(f.errorCode, 'InvalidRecord', t);
      assert.match(f.errorMessage, /eventTime/, t);
    }
  });

  // A day past the end of its month is not a time: V8's Date.parse rolls it over into the next
  // month, so the stored record would say "Feb 30" while it is indexed as March 1st, and any
  // strict consumer (Athena, Python's datetime, Java's Instant.parse) rejects the delivered record.
  test('impossible calendar dates are rejected, not rolled over', () => {
    for (const t of ['2024-02-30T00:00:00Z', '2023-02-29T12:00:00Z', '2024-04-31T00:00:00Z', '2024-06-31T08:00:00.000Z']) {
      const r = normalizeRecord({ ...minimal(), eventTime: t }, ctx());
      assert.equal(r.ok, false, `${t} was accepted${r.ok ? ` as eventTime ${r.value.record.eventTime}, indexed at ${new Date(r.value.eventTimeSec * 1000).toISOString()}` : ''}`);
    }
  });

  test('property: eventTimeSec and the written eventTime always describe the same instant', () => {
    fc.assert(fc.property(
      fc.date({ min: new Date('1971-01-01T00:00:00Z'), max: new Date('2199-12-31T23:59:59Z'), noInvalidDate: true }),
      fc.constantFrom('iso', 'seconds', 'offset'),
      (d, form) => {
        const ms = d.getTime();
        let text = d.toISOString();
        if (form === 'seconds') text = formatEventTime(ms);
        if (form === 'offset') {
          // Same instant written at +05:30.
          const shifted = new Date(ms + 5.5 * 3600_000).toISOString().replace('Z', '+05:30');
          text = shifted;
        }
        const v = ok(normalizeRecord({ ...minimal(), eventTime: text }, ctx()));
        assert.equal(v.eventTimeSec, Math.floor(ms / 1000));
        assert.equal(Date.parse(v.record.eventTime) / 1000, v.eventTimeSec);
        assert.match(v.record.eventTime, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
      },
    ), { numRuns: 300 });
  });
});

describe('normalizeRecord: field order', () => {
  test('known fields stand in CloudTrail order, unknown fields follow in arrival order', () => {
    const input: Record<string, unknown> = {
      zUnknown: 1,
      recipientAccountId: '111111111111',
      eventContext: { a: 1 },
      eventName: 'GetThing',
      aUnknown: 2,
      userIdentity: { type: 'Root' },
      eventSource: 'x.amazonaws.com',
      eventVersion: '1.09',
      mUnknown: 3,
    };
    const r = ok(normalizeRecord(input, ctx())).record;
    const keys = Object.keys(r);
    const firstUnknown = keys.indexOf('zUnknown');
    assert.deepEqual(keys.slice(firstUnknown), ['zUnknown', 'aUnknown', 'mUnknown']);
    const known = keys.slice(0, firstUnknown);
    const positions = known.map((k) => CLOUDTRAIL_ORDER.indexOf(k));
    assert.ok(positions.every((p) => p >= 0), `unexpected known key in ${known}`);
    assert.deepEqual(positions, [...positions].sort((a, b) => a - b), `known keys out of order: ${known}`);
    assert.deepEqual(known, [
      'eventVersion', 'userIdentity', 'eventTime', 'eventSource', 'eventName', 'awsRegion', 'requestID', 'eventID',
      'readOnly', 'eventType', 'managementEvent', 'recipientAccountId', 'eventCategory', 'eventContext',
    ]);
  });

  test('json is the compact serialisation of record', () => {
    const v = ok(normalizeRecord({ ...minimal(), requestParameters: { a: [1, { b: 'ü' }] } }, ctx()));
    assert.equal(v.json, JSON.stringify(v.record));
    assert.equal(v.json.includes('\n'), false);
    assert.deepEqual(JSON.parse(v.json), v.record);
  });
});

describe('normalizeRecord: validation', () => {
  test('a record must be a JSON object', () => {
    for (const input of [null, undefined, 'x', 42, true, [], [{ eventName: 'a' }]]) {
      const f = failed(normalizeRecord(input, ctx()));
      assert.equal(f.errorCode, 'InvalidRecord');
      assert.match(f.errorMessage, /JSON object/);
    }
  });

  const wrongTypes: [string, unknown, RegExp][] = [
    ['eventVersion', 1.08, /eventVersion must be a string/],
    ['eventTime', 1622541600, /eventTime must be a string/],
    ['eventSource', ['s3'], /eventSource must be a string/],
    ['eventName', { n: 1 }, /eventName must be a string/],
    ['awsRegion', true, /awsRegion must be a string/],
    ['eventID', 7, /eventID must be a string/],
    ['recipientAccountId', 111111111111, /recipientAccountId must be a string/],
    ['userIdentity', 'root', /userIdentity must be a JSON object/],
    ['userIdentity', [], /userIdentity must be a JSON object/],
    ['additionalEventData', 5, /additionalEventData must be a JSON object/],
    ['tlsDetails', ['TLSv1.2'], /tlsDetails must be a JSON object/],
    ['readOnly', 'yes', /readOnly must be a boolean/],
    ['readOnly', 1, /readOnly must be a boolean/],
    ['sessionCredentialFromConsole', 1, /sessionCredentialFromConsole must be a string/],
    ['additionalEventData', ['a'], /additionalEventData must be a JSON object/],
    ['serviceEventDetails', 7, /serviceEventDetails must be a JSON object/],
    ['managementEvent', 1, /managementEvent must be a boolean/],
    ['resources', { ARN: 'x' }, /resources must be an array/],
    ['resources', ['arn:aws:s3:::b'], /resources must be an array of JSON objects/],
    ['resources', [{ ARN: 'a' }, null], /resources must be an array of JSON objects/],
  ];
  for (const [field, value, message] of wrongTypes) {
    test(`${field} = ${JSON.stringify(value)} is rejected with a reason naming the field`, () => {
      const f = failed(normalizeRecord({ ...minimal(), [field]: value }, ctx()));
      assert.equal(f.errorCode, 'InvalidRecord');
      assert.match(f.errorMessage, message);
    });
  }

  test('API calls need eventSource and eventName', () => {
    for (const input of [{ eventName: 'A' }, { eventSource: 's' }, { eventSource: '', eventName: 'A' }, { eventSource: 's', eventName: '' }]) {
      const f = failed(normalizeRecord(input, ctx()));
      assert.match(f.errorMessage, /missing required field event(Source|Name)/);
    }
  });

  test('eventVersion must look like major.minor', () => {
    for (const v of ['1', '1.', 'v1.08', '1.08.1', '1234.1', '']) failed(normalizeRecord({ ...minimal(), eventVersion: v }, ctx()));
    for (const v of ['1.0', '1.11', '2.345']) ok(normalizeRecord({ ...minimal(), eventVersion: v }, ctx()));
  });

  test('awsRegion must be a region name', () => {
    for (const r of ['US-EAST-1', 'us east 1', '-us-east-1', 'us-east-1-', 'a', 'x'.repeat(65), '']) {
      assert.match(failed(normalizeRecord({ ...minimal(), awsRegion: r }, ctx())).errorMessage, /awsRegion/, r);
    }
    for (const r of ['us-east-1', 'eu-central-2', 'apiso-northsouth-3r', 'x'.repeat(64)]) ok(normalizeRecord({ ...minimal(), awsRegion: r }, ctx()));
  });

  test('the default region is validated too', () => {
    failed(normalizeRecord(minimal(), ctx({ defaultRegion: 'Not A Region' })));
  });

  test('recipientAccountId must be 12 digits (InvalidRecipient)', () => {
    for (const a of ['11111111111', '1111111111111', '11111111111a', ' 111111111111', '']) {
      assert.equal(failed(normalizeRecord({ ...minimal(), recipientAccountId: a }, ctx())).errorCode, 'InvalidRecipient', a);
    }
  });

  test('eventID must be 1 to 128 characters', () => {
    failed(normalizeRecord({ ...minimal(), eventID: '' }, ctx()));
    failed(normalizeRecord({ ...minimal(), eventID: 'e'.repeat(129) }, ctx()));
    assert.equal(ok(normalizeRecord({ ...minimal(), eventID: 'e'.repeat(128) }, ctx())).record.eventID, 'e'.repeat(128));
  });

  test('eventCategory must be one CloudTrail uses', () => {
    for (const c of ['management', 'Mgmt', 'Insights', '']) {
      assert.match(failed(normalizeRecord({ ...minimal(), eventCategory: c }, ctx())).errorMessage, /eventCategory/, c);
    }
    for (const c of EVENT_CATEGORIES) {
      if (c === 'Insight' || c === 'ActivityAuditLog') continue;
      assert.equal(ok(normalizeRecord({ ...minimal(), eventCategory: c }, ctx())).record.eventCategory, c);
    }
  });

  test('long offending values are clipped in the message', () => {
    const f = failed(normalizeRecord({ ...minimal(), awsRegion: 'X'.repeat(10_000) }, ctx()));
    assert.ok(f.errorMessage.length < 200, `message is ${f.errorMessage.length} chars`);
  });

  test('a field named __proto__ is kept as a field and never becomes the record\'s prototype', () => {
    const input = JSON.parse('{"eventSource":"a.amazonaws.com","eventName":"B","__proto__":{"userIdentity":{"userName":"admin"},"isAdmin":true}}');
    const v = ok(normalizeRecord(input, ctx()));
    assert.equal(Object.getPrototypeOf(v.record), Object.prototype);
    assert.equal(v.record.userIdentity, undefined, 'no inherited userIdentity to be indexed');
    assert.equal((v.record as Record<string, unknown>).isAdmin, undefined);
    assert.deepEqual(JSON.parse(v.json).__proto__, { userIdentity: { userName: 'admin' }, isAdmin: true });
    assert.ok(Object.hasOwn(JSON.parse(v.json), '__proto__'));
  });

  test('the input is never modified, pass or fail', () => {
    const inputs: unknown[] = [
      { ...minimal(), requestParameters: { z: 1 }, extra: [1, 2] },
      { ...minimal(), awsRegion: 'BAD' },
      { eventType: 'AwsCloudTrailInsight' },
    ];
    for (const input of inputs) {
      const before = structuredClone(input);
      normalizeRecord(input, ctx());
      assert.deepEqual(input, before);
    }
  });
});

describe('normalizeRecord: type quirks of real producers are normalised, not rejected', () => {
  test('sessionCredentialFromConsole as a boolean becomes the string CloudTrail writes', () => {
    assert.equal(ok(normalizeRecord({ ...minimal(), sessionCredentialFromConsole: true }, ctx())).record.sessionCredentialFromConsole, 'true');
    assert.equal(ok(normalizeRecord({ ...minimal(), sessionCredentialFromConsole: false }, ctx())).record.sessionCredentialFromConsole, 'false');
    assert.equal(ok(normalizeRecord({ ...minimal(), sessionCredentialFromConsole: 'true' }, ctx())).record.sessionCredentialFromConsole, 'true');
  });

  test('readOnly and managementEvent as "true"/"false" text (any case) become booleans; other text is refused', () => {
    for (const [text, value] of [['true', true], ['false', false], ['True', true], ['FALSE', false]] as const) {
      const r = ok(normalizeRecord({ ...minimal(), readOnly: text, managementEvent: text }, ctx())).record;
      assert.equal(r.readOnly, value, text);
      assert.equal(r.managementEvent, value, text);
      assert.equal(r.eventCategory, value ? 'Management' : 'Data', 'the category follows the normalised managementEvent');
    }
    for (const text of ['yes', '1', ' true', 'truee', '']) {
      assert.match(failed(normalizeRecord({ ...minimal(), managementEvent: text }, ctx())).errorMessage, /managementEvent must be a boolean/, text);
    }
  });

  test('a string holding a JSON object becomes the object; other strings are kept as they came', () => {
    for (const f of ['requestParameters', 'responseElements', 'additionalEventData', 'serviceEventDetails']) {
      const obj = { bucketName: 'b', nested: { n: 1, list: [1, 'x'] } };
      assert.deepEqual(ok(normalizeRecord({ ...minimal(), [f]: JSON.stringify(obj) }, ctx())).record[f], obj, f);
      assert.deepEqual(ok(normalizeRecord({ ...minimal(), [f]: ` \n${JSON.stringify(obj)}` }, ctx())).record[f], obj, `${f} after whitespace`);
      for (const kept of ['not json', '[1,2]', '"a string"', '{"broken":', '42', 'null', '']) {
        assert.equal(ok(normalizeRecord({ ...minimal(), [f]: kept }, ctx())).record[f], kept, `${f} = ${kept}`);
      }
    }
  });

  test('userIdentity.sessionContext.attributes.creationDate in another whole-second ISO form is written in CloudTrail form', () => {
    const ui = (creationDate: string) => ({ type: 'AssumedRole', sessionContext: { attributes: { creationDate, mfaAuthenticated: 'false' }, sessionIssuer: { type: 'Role' } } });
    for (const [input, expected] of [
      ['2024-07-30 21:31:15', '2024-07-30T21:31:15Z'], ['2024-07-30T21:31:15.000Z', '2024-07-30T21:31:15Z'],
      ['2024-07-30T23:31:15+02:00', '2024-07-30T21:31:15Z'], ['2024-07-30T21:31:15Z', '2024-07-30T21:31:15Z'],
      // Kept: a fraction would be lost, and text that is no time has nothing to normalise.
      ['2024-07-30 21:31:15.250', '2024-07-30 21:31:15.250'], ['redacted', 'redacted'],
    ] as const) {
      const r = ok(normalizeRecord({ ...minimal(), userIdentity: ui(input) }, ctx())).record;
      assert.equal(r.userIdentity?.sessionContext?.attributes?.creationDate, expected, input);
      assert.equal(r.userIdentity?.sessionContext?.attributes?.mfaAuthenticated, 'false', 'the other attributes stay');
      assert.deepEqual(r.userIdentity?.sessionContext?.sessionIssuer, { type: 'Role' });
    }
  });

  test('eventTime in YYYY-MM-DD HH:MM:SS form (with or without a fraction) is UTC', () => {
    assert.equal(ok(normalizeRecord({ ...minimal(), eventTime: '2022-09-27 17:09:18' }, ctx())).record.eventTime, '2022-09-27T17:09:18Z');
    assert.equal(ok(normalizeRecord({ ...minimal(), eventTime: '2025-02-19 16:32:39.000000000' }, ctx())).record.eventTime, '2025-02-19T16:32:39Z');
  });

  test('quirks are normalised without touching the input, and normalising again changes nothing', () => {
    const input = {
      ...minimal(), sessionCredentialFromConsole: true, readOnly: 'False', requestParameters: '{"a":1}',
      userIdentity: { type: 'AssumedRole', sessionContext: { attributes: { creationDate: '2024-01-01 00:00:00' } } },
    };
    const before = structuredClone(input);
    const first = ok(normalizeRecord(input, ctx()));
    assert.deepEqual(input, before);
    assert.equal(ok(normalizeRecord(JSON.parse(first.json), ctx())).json, first.json);
  });
});

describe('normalizeRecord: served regions', () => {
  const served = new Set(['us-east-1', 'eu-west-1']);
  test('a record for a region the server does not serve is refused with InvalidRegion, naming both', () => {
    const f = failed(normalizeRecord({ ...minimal(), awsRegion: 'ap-south-1' }, ctx({ servedRegions: served })));
    assert.equal(f.errorCode, 'InvalidRegion');
    assert.match(f.errorMessage, /ap-south-1/);
    assert.match(f.errorMessage, /us-east-1, eu-west-1/);
    assert.equal(failed(normalizeRecord({ eventType: 'AwsCloudTrailInsight', awsRegion: 'ap-south-1' }, ctx({ servedRegions: served }))).errorCode, 'InvalidRegion');
  });
  test('served regions pass, and without a set every region name does', () => {
    assert.equal(ok(normalizeRecord({ ...minimal(), awsRegion: 'eu-west-1' }, ctx({ servedRegions: served }))).record.awsRegion, 'eu-west-1');
    assert.equal(ok(normalizeRecord(minimal(), ctx({ servedRegions: served }))).record.awsRegion, 'us-east-1');
    ok(normalizeRecord({ ...minimal(), awsRegion: 'ap-south-1' }, ctx()));
  });
});

describe('normalizeRecord: the 256 KB cap (UTF-8 bytes of the JSON)', () => {
  function sized(padding: string) {
    return { ...minimal(), eventID: 'e', requestID: 'r', eventTime: '2020-01-01T00:00:00Z', pad: padding };
  }
  const base = Buffer.byteLength(ok(normalizeRecord(sized(''), ctx())).json);

  test('exactly MAX_RECORD_BYTES passes, one byte more fails', () => {
    const at = ok(normalizeRecord(sized('x'.repeat(MAX_RECORD_BYTES - base)), ctx()));
    assert.equal(Buffer.byteLength(at.json), MAX_RECORD_BYTES);
    const over = failed(normalizeRecord(sized('x'.repeat(MAX_RECORD_BYTES - base + 1)), ctx()));
    assert.equal(over.errorCode, 'RecordTooLarge');
    assert.match(over.errorMessage, new RegExp(`${MAX_RECORD_BYTES + 1} bytes`));
  });

  test('bytes count, not characters: 3-byte characters reach the cap at a third of the length', () => {
    const n = Math.floor((MAX_RECORD_BYTES - base) / 3) + 1; // one euro sign too many
    const json = JSON.stringify(sized('€'.repeat(n)));
    assert.ok(json.length < MAX_RECORD_BYTES, 'the string itself is well under the cap');
    assert.equal(failed(normalizeRecord(sized('€'.repeat(n)), ctx())).errorCode, 'RecordTooLarge');
    ok(normalizeRecord(sized('€'.repeat(n - 1)), ctx()));
  });

  test('4-byte characters (surrogate pairs) are counted as 4 bytes', () => {
    const n = Math.floor((MAX_RECORD_BYTES - base) / 4);
    assert.equal(Buffer.byteLength(ok(normalizeRecord(sized('😀'.repeat(n)), ctx())).json), base + 4 * n);
    failed(normalizeRecord(sized('😀'.repeat(n + 1)), ctx()));
  });
});

describe('normalizeRecord: robustness', () => {
  // The bulk endpoint feeds producer JSON straight in; a body of ~20 KB of brackets is enough.
  // The module promises "one clear reason" for a record that fails: it must not throw.
  test('pathologically deep JSON is rejected, not thrown', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 20_000; i++) deep = [deep];
    let result: NormalizeResult | undefined;
    assert.doesNotThrow(() => { result = normalizeRecord({ ...minimal(), requestParameters: { deep } }, ctx()); });
    assert.equal(result?.ok, false);
  });

  test('property: any JSON value is either accepted or rejected with a reason; never throws', () => {
    fc.assert(fc.property(
      fc.oneof(
        fc.jsonValue(),
        fc.dictionary(fc.constantFrom(...CLOUDTRAIL_ORDER, 'x', 'metadata'), fc.jsonValue()),
        fc.record({ eventSource: fc.string(), eventName: fc.string(), eventTime: fc.string(), awsRegion: fc.string(), eventID: fc.string() }, { requiredKeys: [] }),
      ),
      (input) => {
        const r = normalizeRecord(input, ctx());
        if (r.ok) {
          assert.equal(typeof r.value.json, 'string');
          assert.ok(Number.isSafeInteger(r.value.eventTimeSec));
        } else {
          assert.ok(r.errorCode.length > 0 && r.errorMessage.length > 0);
        }
      },
    ), { numRuns: 500 });
  });

  const validRecord = fc.record({
    eventSource: fc.stringMatching(/^[a-z0-9]{1,12}\.amazonaws\.com$/),
    eventName: fc.stringMatching(/^[A-Z][A-Za-z]{0,20}$/),
    eventTime: fc.option(fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString()), { nil: undefined }),
    awsRegion: fc.option(fc.constantFrom('us-east-1', 'eu-west-1', 'ap-southeast-2'), { nil: undefined }),
    readOnly: fc.option(fc.boolean(), { nil: undefined }),
    managementEvent: fc.option(fc.boolean(), { nil: undefined }),
    requestParameters: fc.option(fc.dictionary(fc.string(), fc.jsonValue()), { nil: undefined }),
    userIdentity: fc.option(fc.record({ type: fc.constantFrom('IAMUser', 'Root', 'AssumedRole'), userName: fc.string() }), { nil: undefined }),
    resources: fc.option(fc.array(fc.record({ ARN: fc.string(), type: fc.string() })), { nil: undefined }),
    unknownField: fc.option(fc.jsonValue(), { nil: undefined }),
  }, { requiredKeys: ['eventSource', 'eventName'] });

  test('property: supplied values come out unchanged, and normalising twice changes nothing', () => {
    fc.assert(fc.property(validRecord, (input) => {
      const first = ok(normalizeRecord(input, ctx()));
      for (const [k, v] of Object.entries(input)) {
        if (v === undefined || k === 'eventTime') continue;
        assert.deepEqual(first.record[k], v, k);
      }
      const second = ok(normalizeRecord(JSON.parse(first.json), ctx({ nowMs: NOW_MS + 86_400_000 })));
      assert.equal(second.json, first.json);
      assert.equal(second.eventTimeSec, first.eventTimeSec);
    }), { numRuns: 300 });
  });
});

describe('normalizeRecord: the fixture corpus of real CloudTrail records', () => {
  const dir = new URL('../../test/fixtures/corpus/', import.meta.url);
  const files = readdirSync(dir).filter((f) => f.endsWith('.jsonl') && !/envelopes|lookupevents|digest/.test(f));
  const records = files.flatMap((f) => readFileSync(new URL(f, dir), 'utf8').split('\n').filter((l) => l.trim()).map((l) => ({ f, r: JSON.parse(l) as Record<string, unknown> })));

  test('every complete corpus record passes, keeps every value it had, and is idempotent; fragments are rejected for what they lack', () => {
    let passed = 0;
    for (const { f, r } of records) {
      const res = normalizeRecord(r, ctx());
      const where = `${f} ${String(r.eventID)}`;
      // Documentation fragments (e.g. a userIdentity excerpt) lack the API-call fields.
      if (typeof r.eventSource !== 'string' || typeof r.eventName !== 'string') {
        assert.equal(res.ok, false, where);
        assert.match(!res.ok ? res.errorMessage : '', /missing required field event(Source|Name)/, where);
        continue;
      }
      // Some test fixtures use made-up account ids such as "00000".
      if (typeof r.recipientAccountId === 'string' && !/^\d{12}$/.test(r.recipientAccountId)) {
        assert.equal(!res.ok && res.errorCode, 'InvalidRecipient', where);
        continue;
      }
      if (!res.ok) assert.fail(`${where} rejected: ${res.errorMessage}`);
      passed++;
      for (const [k, v] of Object.entries(r)) {
        if (k === 'eventTime') continue;
        assert.deepEqual(res.value.record[k], v, `${where} ${k}`);
      }
      // Records without an eventTime are stamped with the ingestion time.
      const sourceMs = typeof r.eventTime === 'string' ? Date.parse(r.eventTime) : NOW_MS;
      assert.equal(Date.parse(res.value.record.eventTime), Math.floor(sourceMs / 1000) * 1000, where);
      const again = normalizeRecord(JSON.parse(res.value.json), ctx());
      assert.equal(again.ok && again.value.json, res.value.json);
    }
    assert.ok(passed > 400, `only ${passed} corpus records passed`);
  });
});
