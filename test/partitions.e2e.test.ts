/**
 * ARNs OpenTrail builds take the partition of their Region (src/core/arn.ts): a trail, its topic
 * and KMS key ARNs, and a channel homed in cn-north-1 or us-gov-west-1 are `arn:aws-cn:...` and
 * `arn:aws-us-gov:...`, not `arn:aws:...`; and they resolve by those ARNs. The S3 resources the
 * recording gateway records for a call signed for cn-north-1 are `arn:aws-cn:s3:::...`. Against the
 * real server with @aws-sdk clients, moto as the gateway's upstream.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CreateChannelCommand, CreateTrailCommand, GetChannelCommand, GetTrailCommand } from '@aws-sdk/client-cloudtrail';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ACCOUNT_A, cloudTrailClient, startServer, tempDir, type StartedServer } from './helpers/server.ts';
import { channelStore } from './helpers/lake.ts';
import { startMoto, type StartedMoto } from './helpers/moto.ts';
import { eventLog } from './helpers/delivery.ts';

const ALICE = ACCOUNT_A.identities[1]!;
let server: StartedServer;
let moto: StartedMoto;

before(async () => {
  moto = await startMoto();
  const dataDir = tempDir();
  server = await startServer({
    regions: ['us-east-1', 'cn-north-1', 'us-gov-west-1'], accounts: [ACCOUNT_A],
    gateway: { port: 0, upstream: { endpoint: moto.url } },
  }, { dataDir });
  mkdirSync(join(dataDir, 'buckets', 'partition-bucket'), { recursive: true });
});

after(async () => {
  await server?.stop();
  await moto?.stop();
});

for (const [region, partition] of [['cn-north-1', 'aws-cn'], ['us-gov-west-1', 'aws-us-gov'], ['us-east-1', 'aws']] as const) {
  test(`a trail and a channel in ${region} have ${partition} ARNs and resolve by them`, async () => {
    const ct = cloudTrailClient(server.url, ALICE, region);
    const trail = await ct.send(new CreateTrailCommand({
      Name: `t-${region}`, S3BucketName: 'partition-bucket', SnsTopicName: 'topic-1', KmsKeyId: 'alias/trail-key',
    }));
    assert.equal(trail.TrailARN, `arn:${partition}:cloudtrail:${region}:${ACCOUNT_A.id}:trail/t-${region}`);
    assert.equal(trail.SnsTopicARN, `arn:${partition}:sns:${region}:${ACCOUNT_A.id}:topic-1`);
    assert.equal(trail.KmsKeyId, `arn:${partition}:kms:${region}:${ACCOUNT_A.id}:alias/trail-key`);
    assert.equal((await ct.send(new GetTrailCommand({ Name: trail.TrailARN }))).Trail?.Name, `t-${region}`);

    const eds = await channelStore(ct, `s-${region}`);
    assert.match(eds, new RegExp(`^arn:${partition}:cloudtrail:${region}:${ACCOUNT_A.id}:eventdatastore/`));
    const ch = await ct.send(new CreateChannelCommand({ Name: `c-${region}`, Source: 'Custom', Destinations: [{ Type: 'EVENT_DATA_STORE', Location: eds }] }));
    assert.match(ch.ChannelArn!, new RegExp(`^arn:${partition}:cloudtrail:${region}:${ACCOUNT_A.id}:channel/`));
    assert.equal((await ct.send(new GetChannelCommand({ Channel: ch.ChannelArn }))).Name, `c-${region}`);
    ct.destroy();
  });
}

test('S3 resources recorded by the gateway are in the partition of the Region the call was signed for', async () => {
  const s3 = (region: string) => new S3Client({
    endpoint: server.gatewayUrl!, region, forcePathStyle: true, maxAttempts: 1,
    credentials: { accessKeyId: ALICE.accessKeyId, secretAccessKey: ALICE.secretAccessKey },
  });
  const cn = s3('cn-north-1');
  const us = s3('us-east-1');
  await us.send(new CreateBucketCommand({ Bucket: 'partition-gw' }));
  await cn.send(new PutObjectCommand({ Bucket: 'partition-gw', Key: 'k/cn', Body: 'cn' }));
  await us.send(new PutObjectCommand({ Bucket: 'partition-gw', Key: 'k/us', Body: 'us' }));
  cn.destroy();
  us.destroy();
  const puts = (await eventLog(server.url, ALICE)).map((e) => e.record).filter((r) => r.eventName === 'PutObject');
  const byKey = new Map(puts.map((r) => [r.requestParameters.key, r.resources]));
  assert.deepEqual(byKey.get('k/cn'), [{ type: 'AWS::S3::Object', ARN: 'arn:aws-cn:s3:::partition-gw/k/cn' }, { type: 'AWS::S3::Bucket', ARN: 'arn:aws-cn:s3:::partition-gw' }]);
  assert.deepEqual(byKey.get('k/us'), [{ type: 'AWS::S3::Object', ARN: 'arn:aws:s3:::partition-gw/k/us' }, { type: 'AWS::S3::Bucket', ARN: 'arn:aws:s3:::partition-gw' }]);
});
