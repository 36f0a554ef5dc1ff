/**
 * LookupEvents' answer as text (issue 11 item 6), end to end against the real server: the
 * CloudTrailEvent of each entry is the stored record, byte for byte (compared with the account's
 * log at GET /events), also for records whose strings need escaping; Insights entries answer only
 * in their category, also by EventId; the raw answer is one JSON document with the AWS JSON 1.1
 * content type.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { LookupEventsCommand, type CloudTrailClient, type LookupEventsCommandInput } from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, cloudTrailClient, startServer, type StartedServer } from './helpers/server.ts';
import { signedFetch } from './helpers/signed-fetch.ts';

const ROOT = ACCOUNT_A.identities[0]!;
const PRODUCER = ACCOUNT_A.identities[1]!; // trustedProducer
const T0 = Date.UTC(2026, 5, 1, 10);
const at = (min: number) => new Date(T0 + min * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');

const MANAGEMENT = {
  eventVersion: '1.11', eventTime: at(0), eventSource: 'iam.amazonaws.com', eventName: 'CreateUser', awsRegion: 'us-east-1',
  sourceIPAddress: '192.0.2.1', userAgent: 'agent "quoted" \\ back\\slash',
  userIdentity: { type: 'IAMUser', principalId: 'AIDAEXAMPLE', arn: 'arn:aws:iam::111111111111:user/zoë', accountId: '111111111111', accessKeyId: 'AKIAEXAMPLEKEY', userName: 'zoë 🚀' },
  requestParameters: { userName: 'line\nbreak\u2028sep\u0001ctl', tags: [{ key: '</script>', value: '\u00e9\u4e2d' }] },
  responseElements: null, requestID: 'req-m', eventID: 'answer-management-1', readOnly: false,
  resources: [{ ARN: 'arn:aws:iam::111111111111:user/zoë', type: 'AWS::IAM::User' }, { ARNPrefix: 'arn:aws:s3:::b/' }],
  eventType: 'AwsApiCall', managementEvent: true, recipientAccountId: '111111111111', eventCategory: 'Management',
};
const INSIGHT_START = {
  eventVersion: '1.08', eventTime: at(1), awsRegion: 'us-east-1', eventID: 'answer-insight-start', eventType: 'AwsCloudTrailInsight',
  recipientAccountId: '111111111111', sharedEventID: 'shared-1', eventCategory: 'Insight',
  insightDetails: { state: 'Start', eventSource: 'ssm.amazonaws.com', eventName: 'UpdateInstanceAssociationStatus', insightType: 'ApiCallRateInsight' },
};
const INSIGHT_END = { ...INSIGHT_START, eventTime: at(2), eventID: 'answer-insight-end', insightDetails: { ...INSIGHT_START.insightDetails, state: 'End' } };

let server: StartedServer;
let client: CloudTrailClient;
/** The stored records by eventID, as the account's log serves them. */
const stored = new Map<string, string>();

const lookup = (input: LookupEventsCommandInput) => client.send(new LookupEventsCommand({ StartTime: new Date(T0 - 60_000), EndTime: new Date(T0 + 600_000), ...input }));
const byId = (id: string, category?: 'insight') => lookup({ LookupAttributes: [{ AttributeKey: 'EventId', AttributeValue: id }], EventCategory: category });

describe('LookupEvents answer text (SDK and raw)', () => {
  before(async () => {
    server = await startServer({ accounts: [ACCOUNT_A], eventHistory: { retentionDays: 36500 } });
    client = cloudTrailClient(server.url, ROOT);
    const res = await signedFetch(`${server.url}/ingest`, PRODUCER, {
      body: [MANAGEMENT, INSIGHT_START, INSIGHT_END].map((r) => JSON.stringify(r)).join('\n') + '\n',
      headers: { 'content-type': 'application/x-ndjson' },
    });
    assert.equal(res.status, 200, await res.clone().text());
    const log = await signedFetch(`${server.url}/events?after=0&limit=100`, ROOT);
    assert.equal(log.status, 200);
    for (const e of ((await log.json()) as { events: { record: { eventID: string } }[] }).events) stored.set(e.record.eventID, JSON.stringify(e.record));
    assert.ok(stored.has(MANAGEMENT.eventID) && stored.has(INSIGHT_START.eventID) && stored.has(INSIGHT_END.eventID));
  });
  after(async () => {
    client?.destroy();
    await server?.stop();
  });

  test('a management entry: its fields, and CloudTrailEvent exactly the stored record (strings that need escaping included)', async () => {
    const out = await byId(MANAGEMENT.eventID);
    assert.equal(out.Events?.length, 1);
    const ev = out.Events![0]!;
    assert.equal(ev.CloudTrailEvent, stored.get(MANAGEMENT.eventID));
    assert.deepEqual(JSON.parse(ev.CloudTrailEvent!).requestParameters, MANAGEMENT.requestParameters);
    assert.equal(ev.EventName, 'CreateUser');
    assert.equal(ev.EventSource, 'iam.amazonaws.com');
    assert.equal(ev.ReadOnly, 'false');
    assert.equal(ev.AccessKeyId, 'AKIAEXAMPLEKEY');
    assert.equal(ev.Username, 'zoë 🚀');
    assert.equal(ev.EventTime?.getTime(), T0);
    assert.deepEqual(ev.Resources, [{ ResourceType: 'AWS::IAM::User', ResourceName: 'arn:aws:iam::111111111111:user/zoë' }, { ResourceName: 'arn:aws:s3:::b/' }]);
  });

  test('Insights entries answer only with EventCategory=insight, by EventId too, named from insightDetails', async () => {
    assert.deepEqual((await byId(INSIGHT_START.eventID)).Events, []);
    assert.deepEqual((await byId(MANAGEMENT.eventID, 'insight')).Events, []);
    const one = await byId(INSIGHT_START.eventID, 'insight');
    assert.equal(one.Events?.length, 1);
    assert.equal(one.Events![0]!.CloudTrailEvent, stored.get(INSIGHT_START.eventID));
    assert.equal(one.Events![0]!.EventName, 'UpdateInstanceAssociationStatus');
    assert.equal(one.Events![0]!.EventSource, 'ssm.amazonaws.com');
    const all = await lookup({ EventCategory: 'insight' });
    assert.deepEqual(all.Events?.map((e) => e.EventId), [INSIGHT_END.eventID, INSIGHT_START.eventID]);
    const management = await lookup({});
    assert.deepEqual(management.Events?.map((e) => e.EventId), [MANAGEMENT.eventID]);
  });

  test('the raw answer: one JSON document, AWS JSON 1.1, CloudTrailEvent the escaped stored record, NextToken on a short page', async () => {
    const res = await signedFetch(`${server.url}/`, ROOT, {
      service: 'cloudtrail',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'CloudTrail_20131101.LookupEvents' },
      body: JSON.stringify({ EventCategory: 'insight', MaxResults: 1, StartTime: (T0 - 60_000) / 1000, EndTime: (T0 + 600_000) / 1000 }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/x-amz-json-1.1');
    const text = await res.text();
    assert.ok(text.includes(`"CloudTrailEvent":${JSON.stringify(stored.get(INSIGHT_END.eventID))}`), text);
    const body = JSON.parse(text) as { Events: { EventId: string; EventCategory?: string }[]; NextToken?: string };
    assert.deepEqual(body.Events.map((e) => e.EventId), [INSIGHT_END.eventID]);
    assert.equal(body.Events[0]!.EventCategory, undefined, 'no member beyond the model');
    assert.equal(typeof body.NextToken, 'string');
    const next = await lookup({ EventCategory: 'insight', MaxResults: 1, NextToken: body.NextToken });
    assert.deepEqual(next.Events?.map((e) => e.EventId), [INSIGHT_START.eventID]);
    assert.equal(next.NextToken, undefined);
  });
});
