/**
 * Issue 10, item 7: input is validated where it enters, against a real server.
 * (a) S3KeyPrefix values that could never be delivered are refused at CreateTrail/UpdateTrail with
 *     InvalidS3PrefixException; a trail stored before with such a prefix delivers nothing outside
 *     its bucket, says why in GetTrailStatus, and resumes once UpdateTrail fixes the prefix.
 * (c) /ingest refuses, per record, events for regions the server does not serve.
 * (d) another account's channel answers exactly as a channel that does not exist.
 * (The filesystem bucket boundary, (b), has unit tests beside src/stores/fs.)
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import {
  AddTagsCommand, CreateChannelCommand, CreateTrailCommand, DeleteChannelCommand, GetChannelCommand, GetTrailCommand,
  GetTrailStatusCommand, ListTagsCommand, LookupEventsCommand, StartLoggingCommand, UpdateChannelCommand, UpdateTrailCommand, type CloudTrailClient,
} from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, ACCOUNT_B, cloudTrailClient, startServer, tempDir, type StartedServer, type TestConfig } from '../helpers/server.ts';
import { channelStore } from '../helpers/lake.ts';
import { signedFetch } from '../helpers/signed-fetch.ts';
import { fails } from '../helpers/aws-errors.ts';
import { eventLog, filesBelow, sleep, waitFor, type Json } from '../helpers/delivery.ts';
import { whileProbing } from './liveness.ts';

const ROOT_A = ACCOUNT_A.identities[0]!;
const ALICE = ACCOUNT_A.identities[1]!;
const CAROL = ACCOUNT_B.identities[0]!;
const REGIONS = ['us-east-1', 'eu-west-1'];
const BUCKET = 'trail-bucket';

/** Every file below a directory, relative to it. */
function filesUnder(dir: string): string[] {
  return filesBelow(dir).map((p) => relative(dir, p)).sort();
}

describe('S3KeyPrefix, PutAuditEvents and channel isolation, /ingest regions', () => {
  let server: StartedServer;
  let a: CloudTrailClient;
  let carol: CloudTrailClient;

  before(async () => {
    server = await startServer({ regions: REGIONS, accounts: [ACCOUNT_A, ACCOUNT_B] });
    mkdirSync(join(server.dataDir, 'buckets', BUCKET), { recursive: true });
    a = cloudTrailClient(server.url, ROOT_A);
    carol = cloudTrailClient(server.url, CAROL);
  });
  after(async () => {
    a?.destroy();
    carol?.destroy();
    await server?.stop();
  });

  const HOSTILE_PREFIXES = [
    '..', '../escape', 'logs/../../escape', 'a/..', '.', './logs', 'logs/./x', '/logs', 'logs//x', 'logs/',
    'logs\u0000x', 'logs\nx', 'logs\u007fx', 'x'.repeat(201), 'bad\ud800',
  ];

  test('CreateTrail refuses undeliverable prefixes with InvalidS3PrefixException (400) and creates nothing', async () => {
    await whileProbing(server, async () => {
      for (const [i, prefix] of HOSTILE_PREFIXES.entries()) {
        await fails(a.send(new CreateTrailCommand({ Name: `bad-${i}`, S3BucketName: BUCKET, S3KeyPrefix: prefix })), 'InvalidS3PrefixException', 400, /S3 key prefix .* is not valid: /);
        await fails(a.send(new GetTrailCommand({ Name: `bad-${i}` })), 'TrailNotFoundException', 404);
      }
    });
    // The limits' edges are accepted: 200 characters, dots inside segment names.
    await a.send(new CreateTrailCommand({ Name: 'edge-200', S3BucketName: BUCKET, S3KeyPrefix: 'p'.repeat(200) }));
    await a.send(new CreateTrailCommand({ Name: 'edge-dots', S3BucketName: BUCKET, S3KeyPrefix: 'a.b/..c/d..' }));
  });

  test('UpdateTrail refuses them too and leaves the stored prefix as it was', async () => {
    await a.send(new CreateTrailCommand({ Name: 'update-me', S3BucketName: BUCKET, S3KeyPrefix: 'good/prefix' }));
    for (const prefix of HOSTILE_PREFIXES) {
      await fails(a.send(new UpdateTrailCommand({ Name: 'update-me', S3KeyPrefix: prefix })), 'InvalidS3PrefixException', 400);
      assert.equal((await a.send(new GetTrailCommand({ Name: 'update-me' }))).Trail?.S3KeyPrefix, 'good/prefix', JSON.stringify(prefix));
    }
  });

  test('/ingest refuses records for regions the server does not serve, per record, naming the region and the served ones', async () => {
    const records = [
      { eventSource: 'ec2.amazonaws.com', eventName: 'RunInstances', eventID: 'served-1', awsRegion: 'eu-west-1' },
      { eventSource: 'ec2.amazonaws.com', eventName: 'RunInstances', eventID: 'unserved-1', awsRegion: 'ap-southeast-2' },
      { eventType: 'AwsCloudTrailInsight', eventID: 'unserved-insight', awsRegion: 'sa-east-1', insightDetails: { eventName: 'X' } },
      { eventSource: 'ec2.amazonaws.com', eventName: 'RunInstances', eventID: 'served-default' },
    ];
    const { result } = await whileProbing(server, async () => {
      const res = await signedFetch(`${server.url}/ingest`, ALICE, { body: JSON.stringify({ Records: records }), headers: { 'content-type': 'application/json' } });
      assert.equal(res.status, 200);
      return (await res.json()) as { accepted: number; rejected: number; results: Json[] };
    });
    assert.deepEqual(result.results.map((r) => r.status), ['accepted', 'rejected', 'rejected', 'accepted']);
    for (const [i, region] of [[1, 'ap-southeast-2'], [2, 'sa-east-1']] as const) {
      const r = result.results[i]!;
      assert.equal(r.errorCode, 'InvalidRegion');
      assert.match(r.errorMessage, new RegExp(region));
      assert.match(r.errorMessage, /us-east-1, eu-west-1/);
    }
    const stored = new Set((await eventLog(server.url, ROOT_A)).map((e) => e.record.eventID));
    assert.ok(stored.has('served-1') && stored.has('served-default'));
    assert.ok(!stored.has('unserved-1') && !stored.has('unserved-insight'), 'nothing of an unserved region is stored');
  });

  test('a record field named __proto__ is stored as a field and cannot make Event history index what the record does not say', async () => {
    // JSON.parse makes "__proto__" an own field; assigned to an object it would become its prototype,
    // and Event history would index the prototype's userIdentity while the stored record has none.
    const body = '{"Records":[{"eventSource":"iam.amazonaws.com","eventName":"CreateUser","eventID":"proto-1","__proto__":{"userIdentity":{"type":"IAMUser","userName":"forged-admin"},"readOnly":true}}]}';
    const { result } = await whileProbing(server, async () => {
      const res = await signedFetch(`${server.url}/ingest`, ALICE, { body, headers: { 'content-type': 'application/json' } });
      assert.equal(res.status, 200);
      return (await res.json()) as { results: Json[] };
    });
    assert.equal(result.results[0]!.status, 'accepted');
    const stored = (await eventLog(server.url, ROOT_A)).find((e) => e.record.eventID === 'proto-1')!.record;
    assert.equal(stored.userIdentity, undefined);
    assert.equal(stored.readOnly, false, 'CreateUser writes');
    const byUser = await a.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'Username', AttributeValue: 'forged-admin' }] }));
    assert.deepEqual((byUser.Events ?? []).map((e) => e.EventId), [], 'Event history indexes only what the record says');
    assert.deepEqual(stored.__proto__, { userIdentity: { type: 'IAMUser', userName: 'forged-admin' }, readOnly: true }, 'the field is kept as sent');
    const byId = await a.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventId', AttributeValue: 'proto-1' }] }));
    assert.equal(byId.Events?.[0]?.ReadOnly, 'false');
    assert.equal(byId.Events?.[0]?.Username, undefined);
  });

  describe('channels of another account answer as channels that do not exist', () => {
    let channelArn: string;
    let missingArn: string;
    const normalise = (text: string) => text.split(channelArn).join('<ARN>').split(missingArn).join('<ARN>');

    before(async () => {
      channelArn = (await a.send(new CreateChannelCommand({ Name: 'secret-channel', Source: 'Custom', Destinations: [{ Type: 'EVENT_DATA_STORE', Location: await channelStore(a) }] }))).ChannelArn!;
      missingArn = channelArn.replace(/channel\/.*$/, 'channel/00000000-0000-4000-8000-000000000000');
    });

    async function putAuditEvents(id = CAROL, arn: string, region = 'us-east-1') {
      const data = { version: '1.0', eventSource: 'app', eventName: 'Do', UID: `uid-${Math.random()}`, eventTime: '2026-01-01T00:00:00Z', recipientAccountId: ACCOUNT_B.id, userIdentity: { type: 'User', principalId: 'p' } };
      const res = await signedFetch(`${server.url}/PutAuditEvents?channelArn=${encodeURIComponent(arn)}`, id, {
        body: JSON.stringify({ auditEvents: [{ id: 'e1', eventData: JSON.stringify(data) }] }), headers: { 'content-type': 'application/json' }, service: 'cloudtrail-data', region,
      });
      const body = await res.text();
      return { status: res.status, type: res.headers.get('x-amzn-errortype'), body: normalise(body) };
    }

    test('PutAuditEvents: the same exception, status and message for another account\'s channel and for none', async () => {
      const foreign = await putAuditEvents(CAROL, channelArn);
      const none = await putAuditEvents(CAROL, missingArn);
      assert.equal(foreign.type, 'ChannelNotFound', foreign.body);
      assert.deepEqual(foreign, none);
      // The owner signing for another region sees the same as well (the channel is not there).
      assert.deepEqual(await putAuditEvents(ROOT_A, channelArn, 'eu-west-1'), await putAuditEvents(ROOT_A, missingArn, 'eu-west-1'));
      assert.equal((await putAuditEvents(ROOT_A, channelArn, 'eu-west-1')).type, 'ChannelNotFound');
    });

    test('GetChannel, UpdateChannel, DeleteChannel, AddTags and ListTags: the same answer for another account\'s channel and for none', async () => {
      const calls: [string, (arn: string) => Promise<unknown>][] = [
        ['GetChannel', (arn) => carol.send(new GetChannelCommand({ Channel: arn }))],
        ['UpdateChannel', (arn) => carol.send(new UpdateChannelCommand({ Channel: arn, Name: 'renamed' }))],
        ['DeleteChannel', (arn) => carol.send(new DeleteChannelCommand({ Channel: arn }))],
        ['AddTags', (arn) => carol.send(new AddTagsCommand({ ResourceId: arn, TagsList: [{ Key: 'k', Value: 'v' }] }))],
        ['ListTags', (arn) => carol.send(new ListTagsCommand({ ResourceIdList: [arn] }))],
      ];
      for (const [name, call] of calls) {
        const answer = async (arn: string) => {
          const e = await call(arn).then(() => undefined, (err: Error & { $metadata?: { httpStatusCode?: number } }) => err);
          assert.ok(e, `${name} on ${arn} should fail`);
          return { name: e.name, status: e.$metadata?.httpStatusCode, message: normalise(e.message) };
        };
        const foreign = await answer(channelArn);
        assert.deepEqual(foreign, await answer(missingArn), name);
        assert.equal(foreign.name, 'ChannelNotFoundException', name);
      }
      // Nothing of the channel changed.
      const c = await a.send(new GetChannelCommand({ Channel: channelArn }));
      assert.equal(c.Name, 'secret-channel');
      assert.deepEqual((await a.send(new ListTagsCommand({ ResourceIdList: [channelArn] }))).ResourceTagList?.[0]?.TagsList ?? [], []);
    });
  });
});

describe('a trail stored before S3KeyPrefix was validated', () => {
  test('delivers nothing outside its bucket, reports InvalidS3Prefix, and resumes once UpdateTrail fixes the prefix', async () => {
    const dataDir = tempDir();
    const config = { regions: REGIONS, accounts: [ACCOUNT_A], delivery: { maxAgeMs: 200, pollMs: 50 }, integrity: { digestPeriodMs: 2000 } } as TestConfig;
    let server = await startServer(config, { dataDir });
    const bucketsDir = join(dataDir, 'buckets');
    mkdirSync(join(bucketsDir, BUCKET), { recursive: true });
    let a = cloudTrailClient(server.url, ROOT_A);
    await a.send(new CreateTrailCommand({ Name: 'legacy', S3BucketName: BUCKET, S3KeyPrefix: 'legacy', EnableLogFileValidation: true }));
    await a.send(new StartLoggingCommand({ Name: 'legacy' }));
    a.destroy();
    await server.stop();

    // What an older version could have stored: a prefix that climbs out of the bucket.
    const db = new DatabaseSync(join(dataDir, 'control.db'));
    const changed = db.prepare("UPDATE documents SET doc = json_set(doc, '$.S3KeyPrefix', '../../escape') WHERE kind = 'trail'").run();
    db.close();
    assert.equal(changed.changes, 1);
    const before = filesUnder(dataDir).filter((f) => !f.startsWith(`buckets/${BUCKET}/`));
    const inBucket = filesUnder(join(bucketsDir, BUCKET));

    server = await startServer(config, { dataDir });
    a = cloudTrailClient(server.url, ROOT_A);
    try {
      const res = await signedFetch(`${server.url}/ingest`, ALICE, { body: JSON.stringify({ Records: [{ eventSource: 'ec2.amazonaws.com', eventName: 'RunInstances', eventID: 'legacy-1' }] }), headers: { 'content-type': 'application/json' } });
      assert.equal(res.status, 200);
      await waitFor(async () => (await a.send(new GetTrailStatusCommand({ Name: 'legacy' }))).LatestDeliveryError !== undefined, 20_000, 'a delivery error');
      assert.equal((await a.send(new GetTrailStatusCommand({ Name: 'legacy' }))).LatestDeliveryError, 'InvalidS3Prefix');
      // Digests (every 2 s here) are held back the same way.
      await waitFor(async () => (await a.send(new GetTrailStatusCommand({ Name: 'legacy' }))).LatestDigestDeliveryError !== undefined, 20_000, 'a digest delivery error');
      assert.equal((await a.send(new GetTrailStatusCommand({ Name: 'legacy' }))).LatestDigestDeliveryError, 'InvalidS3Prefix');
      await sleep(500);
      // Nothing was written outside the bucket (only the databases may have grown), nor inside it.
      const now = filesUnder(dataDir).filter((f) => !f.startsWith(`buckets/${BUCKET}/`));
      assert.deepEqual(now.filter((f) => !before.includes(f) && !/\.db(-wal|-shm)?$/.test(f)), []);
      assert.ok(!existsSync(join(dataDir, '..', 'escape')) && !existsSync(join(bucketsDir, '..', 'escape')), 'no escape directory');
      assert.deepEqual(filesUnder(join(bucketsDir, BUCKET)), inBucket, 'nothing new in the bucket either');

      // The operator fixes the prefix: the held events are delivered under it, inside the bucket.
      await a.send(new UpdateTrailCommand({ Name: 'legacy', S3KeyPrefix: 'fixed' }));
      await waitFor(() => filesUnder(join(bucketsDir, BUCKET)).some((f) => f.startsWith('fixed/AWSLogs/') && f.endsWith('.json.gz')), 30_000, 'delivery under the fixed prefix');
      await waitFor(async () => (await a.send(new GetTrailStatusCommand({ Name: 'legacy' }))).LatestDeliveryError === undefined, 10_000, 'the error cleared');
      await waitFor(() => filesUnder(join(bucketsDir, BUCKET)).some((f) => f.startsWith('fixed/AWSLogs/111111111111/CloudTrail-Digest/')), 30_000, 'digests under the fixed prefix');
    } finally {
      a.destroy();
      await server.stop();
    }
  });
});
