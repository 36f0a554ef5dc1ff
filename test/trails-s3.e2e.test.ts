/**
 * Trails against real S3 and SNS neighbours: the server's `objectStore` is S3 and its `sns` endpoint
 * SNS, both on a moto server this file starts on a free loopback port. CreateTrail / UpdateTrail must
 * find the bucket, read its policy (when it has one) the way CloudTrail needs it (AWS's documented
 * bucket policy, with a key prefix, for an organization trail), and check the SNS topic and its
 * policy.
 *
 * moto runs with MOTO_ACCOUNT_ID = the trail owner's account, so a topic *name* given to CreateTrail
 * resolves to the topic created here.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, PutBucketPolicyCommand, type S3Client } from '@aws-sdk/client-s3';
import { CreateTopicCommand, GetTopicAttributesCommand, SetTopicAttributesCommand, type SNSClient } from '@aws-sdk/client-sns';
import {
  CreateTrailCommand, DeleteTrailCommand, GetTrailCommand, UpdateTrailCommand, type CloudTrailClient, type CreateTrailCommandInput,
} from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, ACCOUNT_B, cloudTrailClient, startServer, type StartedServer, type TestConfig } from './helpers/server.ts';
import { fails } from './helpers/aws-errors.ts';
import { motoNeighbourConfig, motoS3, motoSns, startMoto, type StartedMoto } from './helpers/moto.ts';

const REGION = 'us-east-1';
const ACCT = ACCOUNT_A.id;
const ALICE = ACCOUNT_A.identities[1]!;
const ORG_ID = 'o-exampleorg42';

let moto: StartedMoto;
let server: StartedServer;
let s3: S3Client;
let sns: SNSClient;
let ct: CloudTrailClient;

before(async () => {
  moto = await startMoto({ accountId: ACCT });
  s3 = motoS3(moto);
  sns = motoSns(moto);
  const config: TestConfig & Record<string, unknown> = {
    regions: [REGION, 'us-west-2'],
    accounts: [ACCOUNT_A, ACCOUNT_B],
    organization: { id: ORG_ID, managementAccountId: ACCT, memberAccountIds: [ACCOUNT_B.id] },
    ...motoNeighbourConfig(moto),
  };
  server = await startServer(config);
  ct = cloudTrailClient(server.url, ALICE, REGION);
});

after(async () => {
  ct?.destroy();
  s3?.destroy();
  sns?.destroy();
  await server?.stop();
  await moto?.stop();
});


function create(input: Partial<CreateTrailCommandInput> & { Name: string; S3BucketName: string }) {
  return ct.send(new CreateTrailCommand(input));
}

async function bucket(name: string, policy?: object): Promise<string> {
  await s3.send(new CreateBucketCommand({ Bucket: name }));
  if (policy) await s3.send(new PutBucketPolicyCommand({ Bucket: name, Policy: JSON.stringify(policy) }));
  return name;
}

const trailArn = (name: string) => `arn:aws:cloudtrail:${REGION}:${ACCT}:trail/${name}`;

/** The statement that lets CloudTrail check the bucket ACL, as AWS documents it. */
function aclCheck(b: string, trail: string) {
  return {
    Sid: 'AWSCloudTrailAclCheck20150319',
    Effect: 'Allow',
    Principal: { Service: 'cloudtrail.amazonaws.com' },
    Action: 's3:GetBucketAcl',
    Resource: `arn:aws:s3:::${b}`,
    Condition: { StringEquals: { 'aws:SourceArn': trailArn(trail) } },
  };
}

/** The statement that lets CloudTrail write `[prefix/]AWSLogs/<owner>/*`, as AWS documents it. */
function write(b: string, trail: string, owner: string, prefix?: string, sid = 'AWSCloudTrailWrite20150319') {
  return {
    Sid: sid,
    Effect: 'Allow',
    Principal: { Service: 'cloudtrail.amazonaws.com' },
    Action: 's3:PutObject',
    Resource: `arn:aws:s3:::${b}/${prefix ? `${prefix}/` : ''}AWSLogs/${owner}/*`,
    Condition: { StringEquals: { 's3:x-amz-acl': 'bucket-owner-full-control', 'aws:SourceArn': trailArn(trail) } },
  };
}

/** AWS's documented CloudTrail bucket policy (User Guide, "Amazon S3 bucket policy for CloudTrail"). */
function documentedPolicy(b: string, trail: string, prefix?: string) {
  return { Version: '2012-10-17', Statement: [aclCheck(b, trail), write(b, trail, ACCT, prefix)] };
}

/** The documented policy of an organization trail: the account's own path and the organization's. */
function organizationPolicy(b: string, trail: string) {
  return {
    Version: '2012-10-17',
    Statement: [aclCheck(b, trail), write(b, trail, ACCT), write(b, trail, ORG_ID, undefined, 'AWSCloudTrailOrganizationWrite20150319')],
  };
}

describe('S3 bucket checks (objectStore: s3 on moto)', () => {
  test('a bucket that does not exist: S3BucketDoesNotExistException (404)', async () => {
    const e = await fails(create({ Name: 'missing-bucket', S3BucketName: 'no-such-bucket-here' }), 'S3BucketDoesNotExistException', 404);
    assert.match(e.message, /no-such-bucket-here|S3 bucket does not exist/);
  });

  test('a bucket without a policy is accepted', async () => {
    const b = await bucket('no-policy-bucket');
    const out = await create({ Name: 'no-policy', S3BucketName: b });
    assert.equal(out.S3BucketName, b);
    assert.equal(out.TrailARN, trailArn('no-policy'));
    await ct.send(new DeleteTrailCommand({ Name: 'no-policy' }));
  });

  test('a bucket with AWS\'s documented CloudTrail policy is accepted', async () => {
    const b = await bucket('documented-bucket', documentedPolicy('documented-bucket', 'documented'));
    const out = await create({ Name: 'documented', S3BucketName: b });
    assert.equal(out.S3BucketName, b);
    assert.equal((await ct.send(new GetTrailCommand({ Name: 'documented' }))).Trail!.S3BucketName, b);
    await ct.send(new DeleteTrailCommand({ Name: 'documented' }));
  });

  test('with a key prefix: accepted when the policy covers <prefix>/AWSLogs/<account>/, refused when it does not', async () => {
    const b = await bucket('prefixed-bucket', documentedPolicy('prefixed-bucket', 'prefixed', 'audit/trail'));
    const out = await create({ Name: 'prefixed', S3BucketName: b, S3KeyPrefix: 'audit/trail' });
    assert.equal(out.S3KeyPrefix, 'audit/trail');
    // Without the prefix the trail would write to AWSLogs/<account>/, which the policy does not allow.
    const e = await fails(create({ Name: 'unprefixed', S3BucketName: b }), 'InsufficientS3BucketPolicyException', 403);
    assert.match(e.message, /AWSCloudTrailWrite/);
    assert.match(e.message, new RegExp(`AWSLogs/${ACCT}/`));
    // Changing the prefix of the accepted trail is checked too, and refused changes change nothing.
    await fails(ct.send(new UpdateTrailCommand({ Name: 'prefixed', S3KeyPrefix: 'elsewhere' })), 'InsufficientS3BucketPolicyException', 403);
    await fails(ct.send(new UpdateTrailCommand({ Name: 'prefixed', S3KeyPrefix: '' })), 'InsufficientS3BucketPolicyException', 403);
    assert.equal((await ct.send(new GetTrailCommand({ Name: 'prefixed' }))).Trail!.S3KeyPrefix, 'audit/trail');
    await ct.send(new DeleteTrailCommand({ Name: 'prefixed' }));
  });

  test('an organization trail needs AWSLogs/<organization id>/ as well', async () => {
    const ok = await bucket('org-bucket', organizationPolicy('org-bucket', 'org-trail'));
    const out = await create({ Name: 'org-trail', S3BucketName: ok, IsOrganizationTrail: true, IsMultiRegionTrail: true });
    assert.equal(out.IsOrganizationTrail, true);
    // The account's statements alone are enough for an ordinary trail, not for an organization trail.
    const accountOnly = await bucket('account-only-bucket', documentedPolicy('account-only-bucket', 'org-trail-2'));
    const e = await fails(create({ Name: 'org-trail-2', S3BucketName: accountOnly, IsOrganizationTrail: true }), 'InsufficientS3BucketPolicyException', 403);
    assert.match(e.message, new RegExp(`AWSLogs/${ORG_ID}/`), 'the missing statement names the organization path');
    await create({ Name: 'org-trail-2', S3BucketName: accountOnly });
    await fails(ct.send(new UpdateTrailCommand({ Name: 'org-trail-2', IsOrganizationTrail: true })), 'InsufficientS3BucketPolicyException', 403);
    assert.equal((await ct.send(new GetTrailCommand({ Name: 'org-trail-2' }))).Trail!.IsOrganizationTrail, false);
    await ct.send(new DeleteTrailCommand({ Name: 'org-trail-2' }));
    await ct.send(new DeleteTrailCommand({ Name: 'org-trail' }));
  });

  test('a policy without the write statement: InsufficientS3BucketPolicyException (403) naming it', async () => {
    const b = await bucket('acl-only-bucket', { Version: '2012-10-17', Statement: [aclCheck('acl-only-bucket', 'acl-only')] });
    const e = await fails(create({ Name: 'acl-only', S3BucketName: b }), 'InsufficientS3BucketPolicyException', 403);
    assert.match(e.message, /acl-only-bucket/);
    assert.match(e.message, /AWSCloudTrailWrite/);
    assert.match(e.message, /s3:PutObject/);
    assert.match(e.message, new RegExp(`arn:aws:s3:::acl-only-bucket/AWSLogs/${ACCT}/`));
    await fails(ct.send(new GetTrailCommand({ Name: 'acl-only' })), 'TrailNotFoundException', 404);
  });

  test('a policy without the ACL check, for another account, or denying CloudTrail is insufficient too', async () => {
    const noAcl = await bucket('write-only-bucket', { Version: '2012-10-17', Statement: [write('write-only-bucket', 'x', ACCT)] });
    const e = await fails(create({ Name: 'write-only', S3BucketName: noAcl }), 'InsufficientS3BucketPolicyException', 403);
    assert.match(e.message, /AWSCloudTrailAclCheck/);
    assert.match(e.message, /s3:GetBucketAcl/);
    const other = await bucket('other-account-bucket', { Version: '2012-10-17', Statement: [aclCheck('other-account-bucket', 'x'), write('other-account-bucket', 'x', '999999999999')] });
    await fails(create({ Name: 'other-account', S3BucketName: other }), 'InsufficientS3BucketPolicyException', 403, /AWSCloudTrailWrite/);
    const documented = documentedPolicy('denied-bucket', 'denied');
    await bucket('denied-bucket', {
      ...documented,
      Statement: [...documented.Statement, { Sid: 'DenyCloudTrail', Effect: 'Deny', Principal: { Service: 'cloudtrail.amazonaws.com' }, Action: 's3:*', Resource: 'arn:aws:s3:::denied-bucket/*' }],
    });
    await fails(create({ Name: 'denied', S3BucketName: 'denied-bucket' }), 'InsufficientS3BucketPolicyException', 403);
    // Wildcards in the documented places are fine.
    const wide = await bucket('wildcard-bucket', {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { Service: ['cloudtrail.amazonaws.com'] }, Action: ['s3:GetBucketAcl', 's3:PutObject'], Resource: ['arn:aws:s3:::wildcard-bucket', 'arn:aws:s3:::wildcard-bucket/*'] }],
    });
    await create({ Name: 'wildcard', S3BucketName: wide });
    await ct.send(new DeleteTrailCommand({ Name: 'wildcard' }));
  });

  test('UpdateTrail to a bucket whose policy is insufficient is refused and changes nothing', async () => {
    const good = await bucket('update-good-bucket', documentedPolicy('update-good-bucket', 'updated'));
    const bad = await bucket('update-bad-bucket', { Version: '2012-10-17', Statement: [aclCheck('update-bad-bucket', 'updated')] });
    await create({ Name: 'updated', S3BucketName: good });
    await fails(ct.send(new UpdateTrailCommand({ Name: 'updated', S3BucketName: bad })), 'InsufficientS3BucketPolicyException', 403);
    await fails(ct.send(new UpdateTrailCommand({ Name: 'updated', S3BucketName: 'not-created-bucket' })), 'S3BucketDoesNotExistException', 404);
    assert.equal((await ct.send(new GetTrailCommand({ Name: 'updated' }))).Trail!.S3BucketName, good);
    await ct.send(new DeleteTrailCommand({ Name: 'updated' }));
  });
});

describe('SNS topic checks (sns on moto)', () => {
  let bucketName: string;
  const topicArn = (name: string) => `arn:aws:sns:${REGION}:${ACCT}:${name}`;

  async function topic(name: string, policy?: object): Promise<string> {
    const arn = (await sns.send(new CreateTopicCommand({ Name: name }))).TopicArn!;
    assert.equal(arn, topicArn(name), 'moto creates topics in the trail owner\'s account');
    if (policy) await sns.send(new SetTopicAttributesCommand({ TopicArn: arn, AttributeName: 'Policy', AttributeValue: JSON.stringify(policy) }));
    return arn;
  }

  /** AWS's documented topic policy statement for CloudTrail. */
  const cloudTrailPublish = (arn: string) => ({
    Version: '2012-10-17',
    Statement: [{
      Sid: 'AWSCloudTrailSNSPolicy20131101', Effect: 'Allow', Principal: { Service: 'cloudtrail.amazonaws.com' }, Action: 'SNS:Publish',
      Resource: arn, Condition: { StringEquals: { 'AWS:SourceArn': trailArn('with-topic') } },
    }],
  });

  before(async () => {
    bucketName = await bucket('topic-trails-bucket');
  });

  test('a topic whose policy lets cloudtrail.amazonaws.com publish is accepted, by name or ARN', async () => {
    const arn = await topic('trail-notifications');
    await sns.send(new SetTopicAttributesCommand({ TopicArn: arn, AttributeName: 'Policy', AttributeValue: JSON.stringify(cloudTrailPublish(arn)) }));
    const out = await create({ Name: 'with-topic', S3BucketName: bucketName, SnsTopicName: 'trail-notifications' });
    assert.equal(out.SnsTopicARN, arn);
    assert.equal(out.SnsTopicName, 'trail-notifications');
    const byArn = await create({ Name: 'with-topic-arn', S3BucketName: bucketName, SnsTopicName: arn });
    assert.equal(byArn.SnsTopicARN, arn);
    await ct.send(new DeleteTrailCommand({ Name: 'with-topic-arn' }));
  });

  test('a topic whose policy does not let CloudTrail publish: InsufficientSnsTopicPolicyException (403)', async () => {
    const arn = await topic('owner-only');
    await sns.send(new SetTopicAttributesCommand({
      TopicArn: arn, AttributeName: 'Policy',
      AttributeValue: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCT}:root` }, Action: 'SNS:Publish', Resource: arn }] }),
    }));
    await fails(create({ Name: 'owner-only-topic', S3BucketName: bucketName, SnsTopicName: 'owner-only' }), 'InsufficientSnsTopicPolicyException', 403);
    // A CloudTrail statement for another action is not enough either.
    const subscribeOnly = await topic('subscribe-only', {
      Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'cloudtrail.amazonaws.com' }, Action: 'SNS:Subscribe', Resource: topicArn('subscribe-only') }],
    });
    await fails(create({ Name: 'subscribe-only-topic', S3BucketName: bucketName, SnsTopicName: subscribeOnly }), 'InsufficientSnsTopicPolicyException', 403);
    // UpdateTrail checks the new topic as well, and a refused update changes nothing.
    await fails(ct.send(new UpdateTrailCommand({ Name: 'with-topic', SnsTopicName: 'owner-only' })), 'InsufficientSnsTopicPolicyException', 403);
    assert.equal((await ct.send(new GetTrailCommand({ Name: 'with-topic' }))).Trail!.SnsTopicName, 'trail-notifications');
  });

  test('a new topic with its default policy (no statement for CloudTrail): InsufficientSnsTopicPolicyException', async () => {
    // moto gives a new topic the same default policy as AWS: Principal {"AWS":"*"} limited by an
    // AWS:SourceOwner condition. It lets the account's principals publish, not the CloudTrail service.
    const arn = await topic('default-policy');
    const attrs = await sns.send(new GetTopicAttributesCommand({ TopicArn: arn }));
    assert.match(attrs.Attributes!.Policy!, /AWS:SourceOwner/);
    await fails(create({ Name: 'default-policy-topic', S3BucketName: bucketName, SnsTopicName: 'default-policy' }), 'InsufficientSnsTopicPolicyException', 403);
  });

  test('a topic that does not exist: InsufficientSnsTopicPolicyException, as AWS answers it', async () => {
    // AWS: "SNS Topic does not exist or the topic policy is incorrect!" (quoted in user reports and
    // copied by moto's CloudTrail); CreateTrail's model has InvalidSnsTopicNameException for bad names.
    await fails(
      create({ Name: 'missing-topic', S3BucketName: bucketName, SnsTopicName: 'no-such-topic' }),
      'InsufficientSnsTopicPolicyException', 403, /does not exist/,
    );
  });

  test('a malformed topic name: InvalidSnsTopicNameException', async () => {
    await fails(create({ Name: 'bad-topic', S3BucketName: bucketName, SnsTopicName: 'not a topic' }), 'InvalidSnsTopicNameException', 400);
  });
});

describe('neighbour outage', () => {
  test('when S3 cannot be reached the call fails as a retryable server error, never as a missing bucket', async () => {
    const b = await bucket('outage-bucket');
    await moto.stop();
    const err = await create({ Name: 'during-outage', S3BucketName: b }).then(() => undefined, (e: Error & { $metadata?: { httpStatusCode?: number }; $retryable?: unknown; $fault?: string }) => e);
    assert.ok(err, 'CreateTrail fails while S3 is down');
    assert.notEqual(err.name, 'S3BucketDoesNotExistException');
    assert.ok((err.$metadata?.httpStatusCode ?? 0) >= 500, `a 5xx (${err.name} ${err.$metadata?.httpStatusCode}: ${err.message})`);
    assert.equal(err.name, 'ServiceUnavailableException');
    // Nothing was created, and trails that need no neighbour still answer.
    await fails(ct.send(new GetTrailCommand({ Name: 'during-outage' })), 'TrailNotFoundException', 404);
    assert.equal((await ct.send(new GetTrailCommand({ Name: 'with-topic' }))).Trail!.SnsTopicName, 'trail-notifications');
  });
});
