/**
 * ARNs OpenTrail builds take the partition of their Region (src/core/arn.ts): a trail, its topic
 * and KMS key ARNs, and a channel homed in cn-north-1 or us-gov-west-1 are `arn:aws-cn:...` and
 * `arn:aws-us-gov:...`, not `arn:aws:...`; and they resolve by those ARNs. Against the real server
 * with @aws-sdk/client-cloudtrail.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CreateChannelCommand, CreateTrailCommand, GetChannelCommand, GetTrailCommand } from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, cloudTrailClient, startServer, tempDir, type StartedServer } from './helpers/server.ts';

const ALICE = ACCOUNT_A.identities[1]!;
let server: StartedServer;

before(async () => {
  const dataDir = tempDir();
  server = await startServer({ regions: ['us-east-1', 'cn-north-1', 'us-gov-west-1'], accounts: [ACCOUNT_A] }, { dataDir });
  mkdirSync(join(dataDir, 'buckets', 'partition-bucket'), { recursive: true });
});

after(async () => {
  await server?.stop();
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

    const ch = await ct.send(new CreateChannelCommand({ Name: `c-${region}`, Source: 'Custom', Destinations: [{ Type: 'EVENT_DATA_STORE', Location: `arn:${partition}:cloudtrail:${region}:${ACCOUNT_A.id}:eventdatastore/eds-1` }] }));
    assert.match(ch.ChannelArn!, new RegExp(`^arn:${partition}:cloudtrail:${region}:${ACCOUNT_A.id}:channel/`));
    assert.equal((await ct.send(new GetChannelCommand({ Channel: ch.ChannelArn }))).Name, `c-${region}`);
    ct.destroy();
  });
}
