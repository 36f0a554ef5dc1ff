/**
 * Delivery to a filesystem bucket: every event a logging trail's scope and selectors admit lands
 * exactly once in a gzip JSON log file under CloudTrail's key layout; kill -9 during delivery
 * neither loses nor duplicates.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CreateTrailCommand, GetTrailStatusCommand, PutEventSelectorsCommand, StartLoggingCommand } from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, ACCOUNT_B, cloudTrailClient, startServer, tempDir, type StartedServer, type TestConfig } from './helpers/server.ts';
import { signedFetch } from './helpers/signed-fetch.ts';
import { filesBelow } from './helpers/delivery.ts';

const alice = ACCOUNT_A.identities[1]!; // trustedProducer in 111111111111
const A = '111111111111';
const B = '222222222222';
const REGIONS = ['us-east-1', 'eu-west-1'];
const KEY = /^(?:(.+)\/)?AWSLogs\/(\d{12})\/CloudTrail\/([a-z0-9-]+)\/(\d{4})\/(\d{2})\/(\d{2})\/\2_CloudTrail_\3_(\d{8})T\d{4}Z_[A-Za-z0-9]{16}\.json\.gz$/;

interface Rec { eventID: string; eventName: string; eventSource: string; awsRegion: string; recipientAccountId: string; readOnly?: boolean; eventCategory: string; resources?: { ARN: string; type: string }[] }

function config(): TestConfig {
  return { regions: REGIONS, accounts: [ACCOUNT_A, ACCOUNT_B], delivery: { maxAgeMs: 300, pollMs: 50 } };
}

/** Records of every kind: both accounts, both regions, reads and writes, S3 data events. */
function traffic(n: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const data = i % 5 === 0;
    out.push({
      eventID: randomUUID(),
      eventSource: data ? 's3.amazonaws.com' : i % 3 === 0 ? 'iam.amazonaws.com' : 'ec2.amazonaws.com',
      eventName: data ? 'GetObject' : i % 2 === 0 ? 'DescribeInstances' : 'RunInstances',
      awsRegion: REGIONS[i % 2],
      recipientAccountId: i % 7 === 0 ? B : A,
      ...(data ? { eventCategory: 'Data', managementEvent: false, readOnly: true, resources: [{ ARN: `arn:aws:s3:::${i % 4 === 0 ? 'logs-bucket' : 'other'}/k${i}`, type: 'AWS::S3::Object' }] } : {}),
    });
  }
  return out;
}

async function ingest(server: StartedServer, records: Record<string, unknown>[]): Promise<void> {
  const res = await signedFetch(`${server.url}/ingest`, alice, { body: JSON.stringify({ Records: records }), headers: { 'content-type': 'application/json' } });
  const out = (await res.json()) as { accepted: number; rejected: number };
  assert.equal(out.rejected, 0);
}

/** Every log file under the bucket: its key and records. */
function readBucket(root: string): { key: string; records: Rec[] }[] {
  return filesBelow(root).filter((p) => p.endsWith('.json.gz'))
    .map((p) => ({ key: relative(root, p), records: (JSON.parse(gunzipSync(readFileSync(p)).toString('utf8')) as { Records: Rec[] }).Records }));
}

async function waitFor(cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('trails deliver exactly what their scope and selectors admit, once, under the CloudTrail layout', async () => {
  const dataDir = tempDir();
  mkdirSync(join(dataDir, 'buckets', 'all-bucket'), { recursive: true });
  mkdirSync(join(dataDir, 'buckets', 'reads-bucket'), { recursive: true });
  mkdirSync(join(dataDir, 'buckets', 'data-bucket'), { recursive: true });
  const server = await startServer(config(), { dataDir });
  try {
    const ct = cloudTrailClient(server.url, alice, 'us-east-1');
    await ct.send(new CreateTrailCommand({ Name: 'all-regions', S3BucketName: 'all-bucket', S3KeyPrefix: 'p/q', IsMultiRegionTrail: true }));
    await ct.send(new CreateTrailCommand({ Name: 'reads-here', S3BucketName: 'reads-bucket', IncludeGlobalServiceEvents: false }));
    await ct.send(new PutEventSelectorsCommand({ TrailName: 'reads-here', EventSelectors: [{ ReadWriteType: 'ReadOnly', IncludeManagementEvents: true }] }));
    await ct.send(new CreateTrailCommand({ Name: 'data-only', S3BucketName: 'data-bucket' }));
    await ct.send(new PutEventSelectorsCommand({ TrailName: 'data-only', AdvancedEventSelectors: [{ FieldSelectors: [
      { Field: 'eventCategory', Equals: ['Data'] }, { Field: 'resources.type', Equals: ['AWS::S3::Object'] },
      { Field: 'resources.ARN', StartsWith: ['arn:aws:s3:::logs-bucket/'] }] }] }));
    const before = readBucket(join(dataDir, 'buckets'));
    assert.deepEqual(before, [], 'CreateTrail does not start logging');
    for (const name of ['all-regions', 'reads-here', 'data-only']) await ct.send(new StartLoggingCommand({ Name: name }));

    const sent = traffic(400);
    await ingest(server, sent.slice(0, 250));
    await ingest(server, sent.slice(250));
    const sentIds = new Set(sent.map((r) => r.eventID as string));
    const expected = {
      all: sent.filter((r) => r.recipientAccountId === A && r.eventCategory === undefined),
      reads: sent.filter((r) => r.recipientAccountId === A && r.awsRegion === 'us-east-1' && r.eventCategory === undefined && r.eventName === 'DescribeInstances' && r.eventSource !== 'iam.amazonaws.com'),
      data: sent.filter((r) => r.recipientAccountId === A && r.awsRegion === 'us-east-1' && r.eventCategory === 'Data' && String((r.resources as Rec['resources'])![0]!.ARN).startsWith('arn:aws:s3:::logs-bucket/')),
    };
    const delivered = (bucket: string) => readBucket(join(dataDir, 'buckets', bucket)).flatMap((f) => f.records).filter((r) => sentIds.has(r.eventID));
    await waitFor(() => delivered('all-bucket').length >= expected.all.length && delivered('reads-bucket').length >= expected.reads.length && delivered('data-bucket').length >= expected.data.length);
    await new Promise((r) => setTimeout(r, 800)); // anything extra would have arrived by now

    for (const [bucket, want] of [['all-bucket', expected.all], ['reads-bucket', expected.reads], ['data-bucket', expected.data]] as const) {
      const got = delivered(bucket).map((r) => r.eventID);
      assert.equal(new Set(got).size, got.length, `${bucket}: an event was delivered twice`);
      assert.deepEqual(new Set(got), new Set(want.map((r) => r.eventID as string)), `${bucket}: delivered set differs`);
    }
    assert.ok(expected.data.length > 0 && expected.reads.length > 0);

    // Keys: the layout, the prefix, one account and one region per file, folder date = name date.
    for (const bucket of ['all-bucket', 'reads-bucket', 'data-bucket']) {
      for (const f of readBucket(join(dataDir, 'buckets', bucket))) {
        const m = KEY.exec(f.key);
        assert.ok(m, `${bucket}: ${f.key} is not a CloudTrail log file key`);
        assert.equal(m[1], bucket === 'all-bucket' ? 'p/q' : undefined);
        assert.equal(`${m[4]}${m[5]}${m[6]}`, m[7]);
        assert.ok(f.records.every((r) => r.recipientAccountId === m[2] && r.awsRegion === m[3]), `${f.key} mixes accounts or regions`);
      }
    }
    const status = await ct.send(new GetTrailStatusCommand({ Name: 'all-regions' }));
    assert.equal(status.IsLogging, true);
    assert.ok(status.LatestDeliveryTime instanceof Date);
    assert.equal(status.LatestDeliveryError, undefined);
  } finally {
    await server.stop();
  }
});

test('kill -9 during delivery neither loses nor duplicates an event', async () => {
  const dataDir = tempDir();
  mkdirSync(join(dataDir, 'buckets', 'crash-bucket'), { recursive: true });
  let server = await startServer(config(), { dataDir });
  const ct = () => cloudTrailClient(server.url, alice, 'us-east-1');
  await ct().send(new CreateTrailCommand({ Name: 'crashy', S3BucketName: 'crash-bucket', IsMultiRegionTrail: true }));
  await ct().send(new StartLoggingCommand({ Name: 'crashy' }));
  const sent: string[] = [];
  for (let round = 0; round < 6; round++) {
    const batch = traffic(300).filter((r) => r.recipientAccountId === A && r.eventCategory === undefined);
    await ingest(server, batch);
    sent.push(...batch.map((r) => r.eventID as string));
    // Kill at a different moment of the delivery cycle each round.
    await new Promise((r) => setTimeout(r, 150 + round * 70));
    await server.kill();
    server = await startServer(config(), { dataDir });
  }
  try {
    const sentIds = new Set(sent);
    const delivered = () => readBucket(join(dataDir, 'buckets', 'crash-bucket')).flatMap((f) => f.records).map((r) => r.eventID).filter((id) => sentIds.has(id));
    await waitFor(() => new Set(delivered()).size >= sentIds.size, 20_000);
    await new Promise((r) => setTimeout(r, 800));
    const got = delivered();
    assert.equal(new Set(got).size, got.length, `duplicates: ${got.length - new Set(got).size}`);
    assert.equal(got.length, sentIds.size);
  } finally {
    await server.stop();
  }
});
