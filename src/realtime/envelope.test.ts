/**
 * The EventBridge envelope against real ones (test/fixtures/corpus/cloud-custodian-eventbridge-
 * envelopes.jsonl, from cloud-custodian's tests: origin in test/fixtures/corpus/README.md), and
 * which events CloudTrail sends (docs/compatibility.md "EventBridge").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { CloudTrailRecord } from '../core/index.ts';
import { detailTypeOf, envelopeText, forwardsToEventBridge, putEventsEntry, sourceOf } from './envelope.ts';

type Json = Record<string, any>;
const envelopes = readFileSync(new URL('../../test/fixtures/corpus/cloud-custodian-eventbridge-envelopes.jsonl', import.meta.url), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Json);
const AWS_ORDER = ['version', 'id', 'detail-type', 'source', 'account', 'time', 'region', 'resources', 'detail'];

test('our envelope matches the real ones field for field (member order as AWS writes it)', () => {
  assert.equal(envelopes.length, 11);
  let compared = 0;
  for (const env of envelopes) {
    const d = env.detail as Json;
    // The first fixture's detail was pasted from another event by its authors (aws.rds around a cloudsearch record).
    if (env.source !== `aws.${String(d.eventSource).replace('.amazonaws.com', '')}`) continue;
    // Records of before 2017 had no recipientAccountId: the envelope's account is the account's.
    const r = { ...d, recipientAccountId: d.recipientAccountId ?? env.account } as CloudTrailRecord;
    const json = JSON.stringify(d);
    const ours = JSON.parse(envelopeText(r, json)) as Json;
    assert.deepEqual(Object.keys(ours), AWS_ORDER);
    for (const k of ['version', 'detail-type', 'source', 'account', 'time', 'region', 'resources']) if (k in env) assert.deepEqual(ours[k], env[k], `${d.eventID} ${k}`);
    assert.deepEqual(ours.detail, d);
    assert.match(ours.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(JSON.parse(envelopeText(r, json)).id, ours.id, 'the same event has the same id');
    if (Object.keys(env).filter((k) => k !== 'debug').join() === AWS_ORDER.join()) assert.deepEqual(Object.keys(ours), Object.keys(env).filter((k) => k !== 'debug'));
    const entry = putEventsEntry(r, json, 'default');
    assert.deepEqual({ Source: entry.Source, DetailType: entry.DetailType, Resources: entry.Resources, Time: entry.Time.toISOString().replace('.000Z', 'Z') }, { Source: env.source, DetailType: env['detail-type'], Resources: env.resources, Time: env.time });
    assert.equal(entry.Detail, json);
    compared++;
  }
  assert.equal(compared, 10);
});

const base = { eventVersion: '1.09', eventTime: '2026-01-01T00:00:00Z', awsRegion: 'us-east-1', eventID: 'e', recipientAccountId: '111111111111' };
const rec = (x: Json) => ({ ...base, ...x }) as CloudTrailRecord;
const all = { readOnlyManagementEvents: true, dataEventLogged: () => false };

test('which events go, and with which detail-type and source', () => {
  const write = rec({ eventType: 'AwsApiCall', eventSource: 'ec2.amazonaws.com', readOnly: false, eventCategory: 'Management', managementEvent: true });
  const read = rec({ eventType: 'AwsApiCall', eventSource: 'ec2.amazonaws.com', readOnly: true, eventCategory: 'Management', managementEvent: true });
  const data = rec({ eventType: 'AwsApiCall', eventSource: 's3.amazonaws.com', readOnly: false, eventCategory: 'Data', managementEvent: false });
  const signIn = rec({ eventType: 'AwsConsoleSignIn', eventSource: 'signin.amazonaws.com', eventCategory: 'Management' });
  const service = rec({ eventType: 'AwsServiceEvent', eventSource: 'kms.amazonaws.com', eventCategory: 'Management' });
  const insight = rec({ eventType: 'AwsCloudTrailInsight', eventSource: 'ec2.amazonaws.com', eventCategory: 'Insight' });
  const network = rec({ eventType: 'AwsVpceEvent', eventSource: 'kms.amazonaws.com', eventCategory: 'NetworkActivity' });
  const integration = rec({ eventType: 'ActivityAuditLog', eventSource: 'x', eventCategory: 'ActivityAuditLog' });
  assert.equal(forwardsToEventBridge(write, all), true);
  assert.equal(forwardsToEventBridge(read, all), true);
  assert.equal(forwardsToEventBridge(read, { ...all, readOnlyManagementEvents: false }), false);
  assert.equal(forwardsToEventBridge(data, all), false, 'a data event no trail logs');
  assert.equal(forwardsToEventBridge(data, { ...all, dataEventLogged: () => true }), true, 'a data event a logging trail logs');
  assert.equal(forwardsToEventBridge(signIn, all), true);
  assert.equal(forwardsToEventBridge(service, all), true);
  assert.equal(forwardsToEventBridge(insight, all), true);
  assert.equal(forwardsToEventBridge(network, all), false);
  assert.equal(forwardsToEventBridge(integration, all), false);
  assert.equal(detailTypeOf(write), 'AWS API Call via CloudTrail');
  assert.equal(detailTypeOf(signIn), 'AWS Console Sign In via CloudTrail');
  assert.equal(detailTypeOf(service), 'AWS Service Event via CloudTrail');
  assert.equal(detailTypeOf(insight), 'AWS Insight via CloudTrail');
  assert.equal(sourceOf(signIn), 'aws.signin');
  assert.equal(sourceOf(data), 'aws.s3');
  assert.equal(sourceOf(insight), 'aws.cloudtrail');
});
