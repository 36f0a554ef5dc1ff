/**
 * Issue 10, item 8: records written by real producers and older tools are kept, their type quirks
 * normalised, not rejected. The records are real (test/fixtures/real-records, with attribution);
 * they go through /ingest of a real server and are read back with GET /events and LookupEvents.
 *
 * Test-side rewrites, so that each record is stored once in the test's account: recipientAccountId
 * becomes account A and eventID is made unique (the source reuses eventIDs across its test cases).
 * The quirks the source has no record of (readOnly/managementEvent as "true"/"false" text, fields
 * holding JSON text, creationDate in `YYYY-MM-DD HH:MM:SS` form, sessionCredentialFromConsole false)
 * are derived here from real records, each named below.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, cloudTrailClient, startServer, type StartedServer } from '../helpers/server.ts';
import { eventLog, ingest, type Json } from '../helpers/delivery.ts';
import { whileProbing } from './liveness.ts';

const ROOT = ACCOUNT_A.identities[0]!;
const PRODUCER = ACCOUNT_A.identities[1]!; // trustedProducer
const FIXTURE = new URL('../fixtures/real-records/panther-analysis-quirks.jsonl', import.meta.url);
const REAL: Json[] = readFileSync(FIXTURE, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Json);

const ZULU = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const JSON_FIELDS = ['requestParameters', 'responseElements', 'additionalEventData', 'serviceEventDetails'] as const;

/** The real records, rewritten into account A with unique eventIDs. */
const real: Json[] = REAL.map((r, i) => ({ ...structuredClone(r), recipientAccountId: ACCOUNT_A.id, eventID: `real-${i}-${String(r.eventID ?? 'none')}` }));
/** The one real record that must still be refused: its resources is a list of Python-repr strings. */
const unindexable = real.findIndex((r) => Array.isArray(r.resources) && r.resources.some((x: unknown) => typeof x === 'string'));

/** Quirks derived from real records. */
const base = real.find((r) => r.userIdentity?.sessionContext?.attributes?.creationDate && r.requestParameters && r.responseElements && r.eventCategory === 'Management')!;
const derived: Json[] = [
  { ...structuredClone(base), eventID: 'derived-bool-text-true', readOnly: 'true', managementEvent: 'true' },
  { ...structuredClone(base), eventID: 'derived-bool-text-false', readOnly: 'false', managementEvent: 'True' },
  {
    ...structuredClone(base), eventID: 'derived-json-text',
    requestParameters: JSON.stringify(base.requestParameters), responseElements: JSON.stringify(base.responseElements),
    additionalEventData: JSON.stringify({ MFAUsed: 'No', LoginTo: 'https://console.aws.amazon.com' }),
    serviceEventDetails: JSON.stringify({ ConsoleLogin: 'Success' }),
  },
  { ...structuredClone(base), eventID: 'derived-json-text-not-object', additionalEventData: 'free text from an old tool', requestParameters: '[1,2]' },
  {
    ...structuredClone(base), eventID: 'derived-creation-date', sessionCredentialFromConsole: false, producerField: { kept: true },
    userIdentity: { ...base.userIdentity, sessionContext: { ...base.userIdentity.sessionContext, attributes: { ...base.userIdentity.sessionContext.attributes, creationDate: '2022-09-27 17:09:18' } } },
  },
];
const sent = [...real, ...derived];
const regions = [...new Set(sent.map((r) => String(r.awsRegion)))];

let server: StartedServer;
let results: Json[];
let stored: Map<string, Json>;

before(async () => {
  assert.ok(REAL.length > 100 && unindexable >= 0 && base, 'the fixture holds the quirks this test is about');
  server = await startServer({ regions, accounts: [ACCOUNT_A], eventHistory: { retentionDays: 36500 } });
  const { result } = await whileProbing(server, () => ingest(server.url, PRODUCER, sent, 'us-east-1'));
  results = result.results as Json[];
  stored = new Map((await eventLog(server.url, ROOT)).map((e) => [String(e.record.eventID), e.record]));
});
after(async () => server?.stop());

test('every real record is kept; only the one that cannot be indexed is refused, with a reason naming the field', () => {
  const refused: Json[] = results.map((r, i) => ({ ...r, i })).filter((r: Json) => r.status !== 'accepted');
  assert.deepEqual(refused.map((r) => [r.i, r.errorCode]), [[unindexable, 'InvalidRecord']], JSON.stringify(refused.slice(0, 5)));
  assert.match(String(refused[0]!.errorMessage), /resources/);
  for (const r of sent.filter((_, i) => i !== unindexable)) assert.ok(stored.has(r.eventID), `${r.eventID} is in the event log`);
});

test('sessionCredentialFromConsole written as a boolean is stored as the string CloudTrail writes', () => {
  const booleans = real.filter((r) => typeof r.sessionCredentialFromConsole === 'boolean');
  assert.ok(booleans.length >= 20, `${booleans.length} real records carry the boolean`);
  for (const r of booleans) assert.equal(stored.get(r.eventID)!.sessionCredentialFromConsole, String(r.sessionCredentialFromConsole), r.eventID);
  assert.equal(stored.get('derived-creation-date')!.sessionCredentialFromConsole, 'false');
});

test('eventTime in YYYY-MM-DD HH:MM:SS form (with or without a fraction) is stored as UTC CloudTrail time', () => {
  const spaced = real.filter((r, i) => i !== unindexable && /^\d{4}-\d{2}-\d{2} /.test(String(r.eventTime)));
  assert.ok(spaced.length > 50);
  for (const r of spaced) {
    const s = stored.get(r.eventID)!;
    assert.match(s.eventTime, ZULU, r.eventID);
    assert.equal(s.eventTime, `${String(r.eventTime).slice(0, 10)}T${String(r.eventTime).slice(11, 19)}Z`, r.eventID);
  }
});

test('readOnly and managementEvent written as "true"/"false" text are stored as booleans', () => {
  const t = stored.get('derived-bool-text-true')!;
  const f = stored.get('derived-bool-text-false')!;
  assert.equal(t.readOnly, true);
  assert.equal(t.managementEvent, true);
  assert.equal(f.readOnly, false);
  assert.equal(f.managementEvent, true, '"True" is true');
});

test('fields written as JSON text are stored as the objects; other text is kept as it came', () => {
  const j = stored.get('derived-json-text')!;
  assert.deepEqual(j.requestParameters, base.requestParameters);
  assert.deepEqual(j.responseElements, base.responseElements);
  assert.deepEqual(j.additionalEventData, { MFAUsed: 'No', LoginTo: 'https://console.aws.amazon.com' });
  assert.deepEqual(j.serviceEventDetails, { ConsoleLogin: 'Success' });
  for (const f of JSON_FIELDS) assert.equal(typeof j[f], 'object', f);
  const k = stored.get('derived-json-text-not-object')!;
  assert.equal(k.additionalEventData, 'free text from an old tool');
  assert.equal(k.requestParameters, '[1,2]');
});

test('creationDate in YYYY-MM-DD HH:MM:SS form is stored in CloudTrail form; unknown fields are kept', () => {
  const c = stored.get('derived-creation-date')!;
  assert.equal(c.userIdentity.sessionContext.attributes.creationDate, '2022-09-27T17:09:18Z');
  assert.deepEqual(c.producerField, { kept: true });
  assert.deepEqual(c.userIdentity.sessionContext.sessionIssuer, base.userIdentity.sessionContext.sessionIssuer);
});

test('LookupEvents finds the normalised records and answers their normalised JSON', async () => {
  const pick = [
    ...real.filter((r) => typeof r.sessionCredentialFromConsole === 'boolean' && r.eventCategory === 'Management').slice(0, 3),
    ...derived.filter((r) => r.eventID === 'derived-bool-text-false' || r.eventID === 'derived-json-text'),
  ];
  const byRegion = new Map<string, ReturnType<typeof cloudTrailClient>>();
  for (const r of pick) {
    const region = String(r.awsRegion);
    if (!byRegion.has(region)) byRegion.set(region, cloudTrailClient(server.url, ROOT, region));
    const out = await byRegion.get(region)!.send(new LookupEventsCommand({
      LookupAttributes: [{ AttributeKey: 'EventId', AttributeValue: r.eventID }], StartTime: new Date('2000-01-01T00:00:00Z'),
    }));
    assert.equal(out.Events?.length, 1, r.eventID);
    const e = out.Events![0]!;
    const json = JSON.parse(e.CloudTrailEvent!) as Json;
    assert.deepEqual(json, stored.get(r.eventID), 'LookupEvents answers the stored record');
    assert.match(json.eventTime, ZULU);
    if (typeof r.sessionCredentialFromConsole === 'boolean') assert.equal(json.sessionCredentialFromConsole, 'true');
    if (r.eventID === 'derived-bool-text-false') assert.equal(e.ReadOnly, 'false');
    if (r.eventID === 'derived-json-text') assert.deepEqual(json.requestParameters, base.requestParameters);
  }
  for (const c of byRegion.values()) c.destroy();
});
