/**
 * CloudTrail Lake event data stores end to end: the control plane with the AWS CLI and the SDK
 * (defaults, statuses, errors, another account's store), and ingestion: events sent to POST /ingest
 * and PutAuditEvents appear in each store's Parquet files as its selectors admit them (read back with
 * DuckDB and compared with the records sent), stop/start ingestion, and kill -9 during ingestion.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  CreateChannelCommand, CreateEventDataStoreCommand, DeleteEventDataStoreCommand, DeleteResourcePolicyCommand, GetEventConfigurationCommand,
  GetEventDataStoreCommand, GetResourcePolicyCommand, ListEventDataStoresCommand, ListTagsCommand, PutEventConfigurationCommand, PutResourcePolicyCommand,
  RestoreEventDataStoreCommand, StartEventDataStoreIngestionCommand, StopEventDataStoreIngestionCommand, UpdateEventDataStoreCommand, type CloudTrailClient,
} from '@aws-sdk/client-cloudtrail';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { ACCOUNT_A, ACCOUNT_B, cliEnv, cloudTrailClient, startServer, tempDir, type StartedServer } from './helpers/server.ts';
import { runAws } from './helpers/cli.ts';
import { signedFetch } from './helpers/signed-fetch.ts';
import { startPostgres } from './helpers/postgres.ts';

const ROOT_A = ACCOUNT_A.identities[0]!;
const ALICE = ACCOUNT_A.identities[1]!;
const CAROL = ACCOUNT_B.identities[0]!;
const A = ACCOUNT_A.id;
const LAKE = { maxAgeMs: 100, pollMs: 50 };
/** Servers get longer than the default to start: on a busy CI machine 20 s is not always enough. */
const START_MS = 60_000;

let server: StartedServer;
let ct: CloudTrailClient;
let duck: DuckDBConnection;

before(async () => {
  server = await startServer({ accounts: [ACCOUNT_A, ACCOUNT_B], regions: ['us-east-1', 'eu-west-1'], lake: LAKE }, { startTimeoutMs: START_MS });
  ct = cloudTrailClient(server.url, ROOT_A);
  duck = await (await DuckDBInstance.create(':memory:')).connect();
});

after(async () => {
  duck?.closeSync();
  await server?.stop();
});

async function fails(p: Promise<unknown>, name: string, status?: number, message?: RegExp): Promise<void> {
  await assert.rejects(p, (e: Error & { $metadata?: { httpStatusCode?: number } }) => {
    assert.equal(e.name, name, e.message);
    if (status !== undefined) assert.equal(e.$metadata?.httpStatusCode, status);
    if (message) assert.match(e.message, message);
    return true;
  });
}

const idOf = (arn: string) => arn.split('/').pop()!;

/** Rows of a store's Parquet files (none yet: no rows). */
async function rows(dataDir: string, arn: string, select = 'eventID', where = 'true'): Promise<Record<string, unknown>[]> {
  const dir = join(dataDir, 'lake', A, idOf(arn));
  if (!existsSync(dir)) return [];
  const r = await duck.runAndReadAll(`SELECT ${select} FROM read_parquet('${dir}/eventDate=*/*.parquet', hive_partitioning = false) WHERE ${where}`).catch((e: Error) => {
    if (/No files found/.test(e.message)) return undefined;
    throw e;
  });
  return (r?.getRowObjectsJson() ?? []) as Record<string, unknown>[];
}

/** Waits until the store holds the wanted event ids (ingestion is asynchronous), then answers its rows of them. */
async function waitFor(dataDir: string, arn: string, ids: readonly string[], timeoutMs = 60_000): Promise<Set<string>> {
  const want = new Set(ids);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const have = new Set((await rows(dataDir, arn)).map((r) => r.eventID as string).filter((id) => want.has(id)));
    if (have.size === want.size || Date.now() > deadline) return have;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

function managementRecord(eventID: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    eventVersion: '1.11', eventTime: now(), eventSource: 'iam.amazonaws.com', eventName: 'CreateUser', awsRegion: 'us-east-1', recipientAccountId: A, eventID,
    userIdentity: {
      type: 'AssumedRole', principalId: 'AROAEXAMPLE:s', arn: `arn:aws:sts::${A}:assumed-role/Admin/s`, accountId: A,
      sessionContext: { sessionIssuer: { type: 'Role', principalId: 'AROAEXAMPLE', arn: `arn:aws:iam::${A}:role/Admin`, accountId: A, userName: 'Admin' } },
    },
    requestParameters: { userName: `u-${eventID.slice(0, 8)}`, tags: [{ key: 'k', value: 'v' }] },
    resources: [{ ARN: `arn:aws:iam::${A}:user/u`, accountId: A, type: 'AWS::IAM::User' }],
    tlsDetails: { tlsVersion: 'TLSv1.3', cipherSuite: 'TLS_AES_128_GCM_SHA256', clientProvidedHostHeader: 'iam.amazonaws.com' },
    readOnly: false, managementEvent: true, eventCategory: 'Management', eventType: 'AwsApiCall',
    ...extra,
  };
}

function dataRecord(eventID: string, bucket: string): Record<string, unknown> {
  return {
    eventVersion: '1.11', eventTime: now(), eventSource: 's3.amazonaws.com', eventName: 'GetObject', awsRegion: 'us-east-1', recipientAccountId: A, eventID,
    userIdentity: { type: 'IAMUser', principalId: 'AIDAEXAMPLE', arn: `arn:aws:iam::${A}:user/alice`, accountId: A, userName: 'alice' },
    requestParameters: { bucketName: bucket, key: 'k.txt' },
    resources: [{ type: 'AWS::S3::Object', ARN: `arn:aws:s3:::${bucket}/k.txt` }, { accountId: A, type: 'AWS::S3::Bucket', ARN: `arn:aws:s3:::${bucket}` }],
    readOnly: true, managementEvent: false, eventCategory: 'Data', eventType: 'AwsApiCall',
  };
}

async function ingest(url: string, records: Record<string, unknown>[]): Promise<void> {
  const res = await signedFetch(`${url}/ingest`, ALICE, { body: JSON.stringify({ Records: records }), headers: { 'content-type': 'application/json' } });
  assert.equal(res.status, 200, await res.text());
}

describe('event data stores: the control plane', () => {
  test('AWS CLI: create with AWS\'s defaults, get, list, update, delete (PENDING_DELETION) and restore', async () => {
    const env = cliEnv(ROOT_A);
    const aws = async (...args: string[]) => {
      const r = await runAws(['--endpoint-url', server.url, 'cloudtrail', ...args, '--output', 'json'], env);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout || '{}') as Record<string, unknown>;
    };
    const created = await aws('create-event-data-store', '--name', 'cli-store', '--tags-list', 'Key=team,Value=sec', '--kms-key-id', 'alias/lake');
    assert.equal(created.Status, 'CREATED');
    assert.match(created.EventDataStoreArn as string, new RegExp(`^arn:aws:cloudtrail:us-east-1:${A}:eventdatastore/[0-9a-f-]{36}$`));
    assert.deepEqual(
      [created.RetentionPeriod, created.BillingMode, created.MultiRegionEnabled, created.OrganizationEnabled, created.TerminationProtectionEnabled, created.KmsKeyId],
      [366, 'EXTENDABLE_RETENTION_PRICING', true, false, true, `arn:aws:kms:us-east-1:${A}:alias/lake`],
    );
    assert.deepEqual(created.AdvancedEventSelectors, [{ Name: 'Default management events', FieldSelectors: [{ Field: 'eventCategory', Equals: ['Management'] }] }]);
    assert.deepEqual(created.TagsList, [{ Key: 'team', Value: 'sec' }]);
    const arn = created.EventDataStoreArn as string;
    const got = (await ct.send(new GetEventDataStoreCommand({ EventDataStore: idOf(arn) }))) as unknown as Record<string, unknown>;
    assert.equal(got.Status, 'ENABLED');
    assert.equal(got.EventDataStoreArn, arn);
    const createdMs = (got.CreatedTimestamp as Date).getTime();
    assert.ok(Math.abs(createdMs - Date.now()) < 120_000, String(got.CreatedTimestamp));
    // (The CLI is slow to start: the rest of the round trip by the SDK, deletion and restore by both.)
    assert.ok((await ct.send(new ListEventDataStoresCommand({}))).EventDataStores!.some((s) => s.EventDataStoreArn === arn));
    const updated = await ct.send(new UpdateEventDataStoreCommand({ EventDataStore: arn, RetentionPeriod: 30, TerminationProtectionEnabled: false }));
    assert.deepEqual([updated.RetentionPeriod, updated.TerminationProtectionEnabled], [30, false]);
    const [, r] = await Promise.all([
      aws('delete-event-data-store', '--event-data-store', arn),
      runAws(['--endpoint-url', server.url, 'cloudtrail', 'get-event-data-store', '--event-data-store', '00000000-0000-0000-0000-000000000000'], env),
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /EventDataStoreNotFoundException/);
    assert.equal((await ct.send(new GetEventDataStoreCommand({ EventDataStore: arn }))).Status, 'PENDING_DELETION');
    const restored = await aws('restore-event-data-store', '--event-data-store', arn);
    assert.equal(restored.Status, 'ENABLED');
  });

  test('SDK: errors as AWS names them', async () => {
    const s = await ct.send(new CreateEventDataStoreCommand({ Name: 'protected', BillingMode: 'FIXED_RETENTION_PRICING' }));
    assert.equal(s.RetentionPeriod, 2557);
    const arn = s.EventDataStoreArn!;
    await fails(ct.send(new DeleteEventDataStoreCommand({ EventDataStore: arn })), 'EventDataStoreTerminationProtectedException', 400);
    await fails(ct.send(new CreateEventDataStoreCommand({ Name: 'protected' })), 'EventDataStoreAlreadyExistsException', 400);
    await fails(ct.send(new CreateEventDataStoreCommand({ Name: 'short', RetentionPeriod: 5 })), 'InvalidParameterException', 400);
    await fails(ct.send(new CreateEventDataStoreCommand({ Name: 'fixed-long', BillingMode: 'FIXED_RETENTION_PRICING', RetentionPeriod: 3000 })), 'InvalidParameterException', 400, /7 to 2557/);
    await fails(ct.send(new UpdateEventDataStoreCommand({ EventDataStore: arn, RetentionPeriod: 3000 })), 'InvalidParameterException', 400);
    await fails(ct.send(new UpdateEventDataStoreCommand({ EventDataStore: arn })), 'InvalidParameterException', 400);
    await fails(ct.send(new CreateEventDataStoreCommand({ Name: 'bad-sel', AdvancedEventSelectors: [{ FieldSelectors: [{ Field: 'eventName', Equals: ['x'] }] }] })), 'InvalidEventSelectorsException', 400);
    await fails(ct.send(new CreateEventDataStoreCommand({ Name: 'org', OrganizationEnabled: true })), 'OrganizationsNotInUseException', 404);
    await fails(ct.send(new GetEventDataStoreCommand({ EventDataStore: randomUUID() })), 'EventDataStoreNotFoundException', 404);
    await fails(ct.send(new GetEventDataStoreCommand({ EventDataStore: 'not:an-id' })), 'EventDataStoreARNInvalidException', 400);
    await fails(ct.send(new StartEventDataStoreIngestionCommand({ EventDataStore: arn })), 'InvalidEventDataStoreStatusException', 400);
    // Another account's store is not there for it, by ARN or id, nor in its list.
    const b = cloudTrailClient(server.url, CAROL);
    await fails(b.send(new GetEventDataStoreCommand({ EventDataStore: arn })), 'EventDataStoreNotFoundException', 404);
    await fails(b.send(new GetEventDataStoreCommand({ EventDataStore: idOf(arn) })), 'EventDataStoreNotFoundException', 404);
    await fails(b.send(new UpdateEventDataStoreCommand({ EventDataStore: arn, Name: 'mine-now' })), 'EventDataStoreNotFoundException', 404);
    assert.deepEqual((await b.send(new ListEventDataStoresCommand({}))).EventDataStores, []);
    // Another Region's: not there either.
    await fails(cloudTrailClient(server.url, ROOT_A, 'eu-west-1').send(new GetEventDataStoreCommand({ EventDataStore: arn })), 'EventDataStoreNotFoundException', 404);
    // A store pending deletion refuses changes.
    await ct.send(new UpdateEventDataStoreCommand({ EventDataStore: arn, TerminationProtectionEnabled: false }));
    await ct.send(new DeleteEventDataStoreCommand({ EventDataStore: arn }));
    await fails(ct.send(new UpdateEventDataStoreCommand({ EventDataStore: arn, Name: 'x-y-z' })), 'InactiveEventDataStoreException', 400);
    await fails(ct.send(new RestoreEventDataStoreCommand({ EventDataStore: (await ct.send(new CreateEventDataStoreCommand({ Name: 'live' }))).EventDataStoreArn })), 'InvalidEventDataStoreStatusException', 400);
  });

  test('ListEventDataStores pages; tags, resource policies and event configuration of a store', async () => {
    const all = new Set<string>();
    let NextToken: string | undefined;
    let pages = 0;
    do {
      const page = await ct.send(new ListEventDataStoresCommand({ MaxResults: 1, NextToken }));
      assert.ok(page.EventDataStores!.length <= 1);
      for (const s of page.EventDataStores!) all.add(s.EventDataStoreArn!);
      NextToken = page.NextToken;
      pages++;
    } while (NextToken);
    const whole = (await ct.send(new ListEventDataStoresCommand({}))).EventDataStores!.map((s) => s.EventDataStoreArn!);
    assert.deepEqual([...all].sort(), [...whole].sort());
    assert.equal(pages, whole.length);
    await fails(ct.send(new ListEventDataStoresCommand({ NextToken: 'not-a-token' })), 'InvalidNextTokenException', 400);

    const arn = (await ct.send(new CreateEventDataStoreCommand({ Name: 'configured', TagsList: [{ Key: 'a', Value: '1' }] }))).EventDataStoreArn!;
    assert.deepEqual((await ct.send(new ListTagsCommand({ ResourceIdList: [arn] }))).ResourceTagList, [{ ResourceId: arn, TagsList: [{ Key: 'a', Value: '1' }] }]);
    const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT_B.id}:root` }, Action: ['cloudtrail:StartQuery', 'cloudtrail:GetQueryResults'], Resource: arn }] });
    await fails(ct.send(new GetResourcePolicyCommand({ ResourceArn: arn })), 'ResourcePolicyNotFoundException', 404);
    await fails(ct.send(new PutResourcePolicyCommand({ ResourceArn: arn, ResourcePolicy: '{"Statement":[{"Effect":"Maybe"}]}' })), 'ResourcePolicyNotValidException', 400);
    const put = await ct.send(new PutResourcePolicyCommand({ ResourceArn: arn, ResourcePolicy: policy }));
    assert.deepEqual([put.ResourceArn, put.ResourcePolicy], [arn, policy]);
    assert.equal((await ct.send(new GetResourcePolicyCommand({ ResourceArn: arn }))).ResourcePolicy, policy);
    await fails(cloudTrailClient(server.url, CAROL).send(new GetResourcePolicyCommand({ ResourceArn: arn })), 'ResourceNotFoundException', 400);
    await fails(ct.send(new PutResourcePolicyCommand({ ResourceArn: `arn:aws:cloudtrail:us-east-1:${A}:trail/t`, ResourcePolicy: policy })), 'ResourceTypeNotSupportedException', 400);
    await ct.send(new DeleteResourcePolicyCommand({ ResourceArn: arn }));
    await fails(ct.send(new DeleteResourcePolicyCommand({ ResourceArn: arn })), 'ResourcePolicyNotFoundException', 404);

    const dflt = await ct.send(new GetEventConfigurationCommand({ EventDataStore: arn }));
    assert.deepEqual([dflt.EventDataStoreArn, dflt.MaxEventSize, dflt.ContextKeySelectors], [arn, 'Standard', []]);
    await fails(ct.send(new PutEventConfigurationCommand({ EventDataStore: arn, MaxEventSize: 'Standard', ContextKeySelectors: [{ Type: 'TagContext', Equals: ['team'] }] })), 'InvalidParameterException', 400, /Large/);
    const conf = await ct.send(new PutEventConfigurationCommand({ EventDataStore: arn, MaxEventSize: 'Large', ContextKeySelectors: [{ Type: 'TagContext', Equals: ['team'] }] }));
    assert.deepEqual(conf.ContextKeySelectors, [{ Type: 'TagContext', Equals: ['team'] }]);
    assert.equal((await ct.send(new GetEventConfigurationCommand({ EventDataStore: idOf(arn) }))).MaxEventSize, 'Large');
  });
});

describe('event data stores: ingestion', () => {
  test('events from /ingest land in the Parquet files of the stores whose selectors admit them, nested fields intact; channel events in the channel\'s store', async () => {
    const mgmt = (await ct.send(new CreateEventDataStoreCommand({ Name: 'mgmt', TerminationProtectionEnabled: false }))).EventDataStoreArn!;
    const data = (await ct.send(new CreateEventDataStoreCommand({
      Name: 's3-data', AdvancedEventSelectors: [{ Name: 'bucket one', FieldSelectors: [
        { Field: 'eventCategory', Equals: ['Data'] }, { Field: 'resources.type', Equals: ['AWS::S3::Object'] }, { Field: 'resources.ARN', StartsWith: ['arn:aws:s3:::bucket-one/'] },
      ] }],
    }))).EventDataStoreArn!;
    const audit = (await ct.send(new CreateEventDataStoreCommand({ Name: 'audit', AdvancedEventSelectors: [{ FieldSelectors: [{ Field: 'eventCategory', Equals: ['ActivityAuditLog'] }] }] }))).EventDataStoreArn!;
    // A channel to a store of CloudTrail events is refused; to the audit store it is accepted.
    await fails(ct.send(new CreateChannelCommand({ Name: 'to-mgmt', Source: 'Custom', Destinations: [{ Type: 'EVENT_DATA_STORE', Location: mgmt }] })), 'InvalidEventDataStoreCategoryException', 400);
    await fails(ct.send(new CreateChannelCommand({ Name: 'to-none', Source: 'Custom', Destinations: [{ Type: 'EVENT_DATA_STORE', Location: randomUUID() }] })), 'EventDataStoreNotFoundException', 404);
    const channel = (await ct.send(new CreateChannelCommand({ Name: 'to-audit', Source: 'Custom', Destinations: [{ Type: 'EVENT_DATA_STORE', Location: idOf(audit) }] }))).ChannelArn!;
    await fails(ct.send(new UpdateEventDataStoreCommand({ EventDataStore: audit, TerminationProtectionEnabled: false })).then(() => ct.send(new DeleteEventDataStoreCommand({ EventDataStore: audit }))), 'ChannelExistsForEDSException');

    const mgmtRecords = Array.from({ length: 120 }, () => managementRecord(randomUUID()));
    const inBucket = Array.from({ length: 30 }, () => dataRecord(randomUUID(), 'bucket-one'));
    const otherBucket = Array.from({ length: 20 }, () => dataRecord(randomUUID(), 'bucket-two'));
    const otherRegion = Array.from({ length: 5 }, () => managementRecord(randomUUID(), { awsRegion: 'eu-west-1' }));
    await ingest(server.url, [...mgmtRecords.slice(0, 60), ...inBucket, ...otherBucket, ...otherRegion]);
    await ingest(server.url, mgmtRecords.slice(60));
    const uid = randomUUID();
    const body = JSON.stringify({ auditEvents: [{ id: 'e1', eventData: JSON.stringify({ version: '1', eventSource: 'app', eventName: 'Login', UID: uid, eventTime: now(), recipientAccountId: A, userIdentity: { type: 'User', principalId: 'p1' } }) }] });
    const res = await signedFetch(`${server.url}/PutAuditEvents?channelArn=${encodeURIComponent(channel)}`, ROOT_A, { body, service: 'cloudtrail-data', headers: { 'content-type': 'application/json' } });
    const answer = await res.text();
    assert.equal(res.status, 200, answer);
    const auditId = (JSON.parse(answer) as { successful: { eventID: string }[] }).successful[0]!.eventID;

    const mgmtIds = [...mgmtRecords, ...otherRegion].map((r) => r.eventID as string);
    assert.equal((await waitFor(server.dataDir, mgmt, mgmtIds)).size, mgmtIds.length, 'every management event of a multi-Region store');
    assert.equal((await waitFor(server.dataDir, data, inBucket.map((r) => r.eventID as string))).size, inBucket.length);
    assert.equal((await waitFor(server.dataDir, audit, [auditId])).size, 1);
    // Nothing else: no data event in the management store, no other bucket, no management event in the data store.
    const ours = (arn: string) => rows(server.dataDir, arn, 'eventID, eventSource, eventCategory');
    const mgmtRows = await ours(mgmt);
    assert.equal(mgmtRows.filter((r) => r.eventCategory !== 'Management').length, 0);
    assert.equal(new Set(mgmtRows.map((r) => r.eventID)).size, mgmtRows.length, 'no event twice');
    assert.deepEqual((await ours(data)).map((r) => r.eventID).sort(), inBucket.map((r) => r.eventID).sort());
    assert.deepEqual((await ours(audit)).map((r) => r.eventID), [auditId]);
    // Nested fields as sent.
    const sample = mgmtRecords[7]!;
    const [row] = await rows(server.dataDir, mgmt,
      `userIdentity.arn AS arn, userIdentity.sessionContext.sessionIssuer.userName AS issuer, resources[1].ARN AS res, requestParameters['userName'] AS userName,
       requestParameters['tags'] AS tags, tlsDetails.tlsVersion AS tls, readOnly, eventJson`, `eventID = '${sample.eventID as string}'`);
    const ui = sample.userIdentity as { arn: string };
    const { eventJson, ...columns } = row!;
    assert.deepEqual(columns, {
      arn: ui.arn, issuer: 'Admin', res: `arn:aws:iam::${A}:user/u`, userName: (sample.requestParameters as { userName: string }).userName,
      tags: '[{"key":"k","value":"v"}]', tls: 'TLSv1.3', readOnly: false,
    });
    const stored = JSON.parse(eventJson as string) as Record<string, unknown>;
    assert.deepEqual([stored.eventID, stored.userIdentity, stored.tlsDetails], [sample.eventID, sample.userIdentity, sample.tlsDetails]);
  });

  test('StopEventDataStoreIngestion: events that arrive while stopped are not ingested; after Start they are again', async () => {
    const arn = (await ct.send(new CreateEventDataStoreCommand({ Name: 'stop-start' }))).EventDataStoreArn!;
    const before = Array.from({ length: 10 }, () => managementRecord(randomUUID()));
    await ingest(server.url, before);
    await ct.send(new StopEventDataStoreIngestionCommand({ EventDataStore: arn }));
    assert.equal((await ct.send(new GetEventDataStoreCommand({ EventDataStore: arn }))).Status, 'STOPPED_INGESTION');
    await fails(ct.send(new StopEventDataStoreIngestionCommand({ EventDataStore: arn })), 'InvalidEventDataStoreStatusException', 400);
    const during = Array.from({ length: 10 }, () => managementRecord(randomUUID()));
    await ingest(server.url, during);
    await ct.send(new StartEventDataStoreIngestionCommand({ EventDataStore: arn }));
    assert.equal((await ct.send(new GetEventDataStoreCommand({ EventDataStore: arn }))).Status, 'ENABLED');
    const afterStart = Array.from({ length: 10 }, () => managementRecord(randomUUID()));
    await ingest(server.url, afterStart);
    assert.equal((await waitFor(server.dataDir, arn, [...before, ...afterStart].map((r) => r.eventID as string))).size, 20);
    const have = new Set((await rows(server.dataDir, arn)).map((r) => r.eventID));
    assert.deepEqual(during.filter((r) => have.has(r.eventID)), [], 'nothing of the stopped window');
  });
});

test('kill -9 during ingestion into a store: after the restart every event is in the store once', async () => {
  const dataDir = tempDir();
  const config = { accounts: [ACCOUNT_A], lake: { maxAgeMs: 50, pollMs: 20, maxBytes: 256 * 1024 } };
  const first = await startServer(config, { dataDir, startTimeoutMs: START_MS });
  const c = cloudTrailClient(first.url, ROOT_A);
  const arn = (await c.send(new CreateEventDataStoreCommand({ Name: 'crash', AdvancedEventSelectors: [{ FieldSelectors: [{ Field: 'eventCategory', Equals: ['Management'] }, { Field: 'eventSource', Equals: ['iam.amazonaws.com'] }] }] }))).EventDataStoreArn!;
  const sent: string[] = [];
  let stop = false;
  const load = (async () => {
    while (!stop) {
      const batch = Array.from({ length: 200 }, () => managementRecord(randomUUID()));
      try {
        await ingest(first.url, batch);
      } catch {
        return;
      }
      sent.push(...batch.map((r) => r.eventID as string));
    }
  })();
  // Kill while ingestion is writing: some files are in place, the rest of the log is not yet ingested.
  while ((await rows(dataDir, arn)).length < 600) await new Promise((r) => setTimeout(r, 150));
  await first.kill();
  stop = true;
  await load;
  assert.ok(sent.length >= 600);
  const second = await startServer(config, { dataDir, startTimeoutMs: START_MS });
  try {
    const got = await waitFor(dataDir, arn, sent, 30_000);
    assert.equal(got.size, sent.length, `${sent.length - got.size} acknowledged events missing from the store`);
    const all = (await rows(dataDir, arn)).map((r) => r.eventID as string);
    assert.equal(new Set(all).size, all.length, 'an event is in the store twice');
  } finally {
    await second.stop();
  }
});

test('on PostgreSQL: event data stores are control documents there too, and ingestion writes their files', async () => {
  const pgs = await startPostgres();
  const dataDir = tempDir();
  const node = await startServer({ accounts: [ACCOUNT_A, ACCOUNT_B], lake: LAKE }, { dataDir, startTimeoutMs: START_MS, env: { OPENTRAIL_DATABASE_URL: await pgs.createDatabase('lake') } });
  try {
    const c = cloudTrailClient(node.url, ROOT_A);
    const arn = (await c.send(new CreateEventDataStoreCommand({ Name: 'on-pg', TerminationProtectionEnabled: false }))).EventDataStoreArn!;
    assert.equal((await c.send(new GetEventDataStoreCommand({ EventDataStore: idOf(arn) }))).Status, 'ENABLED');
    await fails(cloudTrailClient(node.url, CAROL).send(new GetEventDataStoreCommand({ EventDataStore: arn })), 'EventDataStoreNotFoundException', 404);
    const records = Array.from({ length: 20 }, () => managementRecord(randomUUID()));
    await ingest(node.url, records);
    assert.equal((await waitFor(dataDir, arn, records.map((r) => r.eventID as string))).size, records.length);
    await c.send(new DeleteEventDataStoreCommand({ EventDataStore: arn }));
    assert.equal((await c.send(new ListEventDataStoresCommand({}))).EventDataStores![0]!.Status, 'PENDING_DELETION');
  } finally {
    await node.stop();
    await pgs.destroy();
  }
});
