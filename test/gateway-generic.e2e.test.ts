/**
 * The recording gateway in front of a whole AWS-compatible endpoint (issue 19, item 3): boto3
 * (botocore, as the AWS CLI) calls SQS, IAM, STS, EC2 and KMS on moto through the gateway. None of
 * these services has hand-checked capture rules; each call is recorded by CloudTrail's generic rules
 * with the caller's identity, the right eventSource, eventName and readOnly, and nothing is refused.
 * A call the gateway cannot decode goes to moto all the same and is recorded as UnknownOperation.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { ACCOUNT_A, startServer, type StartedServer, type TestIdentity } from './helpers/server.ts';
import { MOTO_DEFAULT_ACCOUNT, startMoto, type StartedMoto } from './helpers/moto.ts';
import { eventLog, type Json } from './helpers/delivery.ts';
import { signedFetch } from './helpers/signed-fetch.ts';

const alice = ACCOUNT_A.identities[1]!;

/** Runs a boto3 script against the gateway as `id`; its last stdout line is JSON. */
function boto3(script: string, endpoint: string, id: TestIdentity): Promise<Json> {
  const prelude = [
    'import boto3, json, sys',
    'from botocore.config import Config',
    `def client(name): return boto3.client(name, endpoint_url=${JSON.stringify(endpoint)}, region_name="us-east-1", aws_access_key_id=${JSON.stringify(id.accessKeyId)}, aws_secret_access_key=${JSON.stringify(id.secretAccessKey)}, config=Config(retries={"max_attempts": 1}))`,
  ].join('\n');
  return new Promise((resolve, reject) => {
    execFile('python3', ['-c', `${prelude}\n${script}`], { timeout: 60_000, env: { ...process.env, AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' } }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`boto3 failed: ${err.message}\n${stderr}`));
      resolve(JSON.parse(stdout.trim().split('\n').pop()!));
    });
  });
}

describe('recording gateway: every AWS service, by the generic rules', () => {
  let moto: StartedMoto;
  let server: StartedServer;
  let gw: string;

  before(async () => {
    moto = await startMoto();
    server = await startServer({ accounts: [ACCOUNT_A], gateway: { port: 0, upstream: { endpoint: moto.url } } });
    gw = server.gatewayUrl!;
    assert.ok(gw, server.output());
  });

  after(async () => {
    await server?.stop();
    await moto?.stop();
  });

  const records = async (): Promise<Json[]> => (await eventLog(server.url, alice)).map((e) => e.record).filter((r) => r.eventSource !== 'cloudtrail.amazonaws.com');
  const one = (all: Json[], source: string, name: string): Json => {
    const found = all.filter((r) => r.eventSource === source && r.eventName === name);
    assert.equal(found.length, 1, `one ${source} ${name}; recorded: ${all.map((r) => `${r.eventSource} ${r.eventName}`).join(', ')}`);
    return found[0]!;
  };
  const byAlice = (r: Json) => {
    assert.equal(r.userIdentity.type, 'IAMUser');
    assert.equal(r.userIdentity.arn, 'arn:aws:iam::111111111111:user/alice');
    assert.equal(r.userIdentity.accessKeyId, alice.accessKeyId);
    assert.equal(r.recipientAccountId, ACCOUNT_A.id);
    assert.equal(r.awsRegion, 'us-east-1');
    assert.equal(r.eventType, 'AwsApiCall');
    assert.equal(r.managementEvent, true);
    assert.equal(r.errorCode, undefined, `${r.eventName} succeeded: ${r.errorCode} ${r.errorMessage}`);
    assert.match(r.userAgent, /Boto3|botocore/);
  };

  test('the gateway answers its own /health, unsigned', async () => {
    const res = await fetch(`${gw}/health`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
    const signed = await signedFetch(`${gw}/health`, alice, { method: 'GET', service: 'sqs' });
    assert.notEqual(signed.status, 200, 'a signed GET /health is a call for the upstream, not the health check');
    await signed.arrayBuffer();
  });

  test('boto3: SQS, IAM, STS, EC2 and KMS calls through the gateway all succeed and are recorded', async () => {
    const out = await boto3(`
sqs = client("sqs")
url = sqs.create_queue(QueueName="orders")["QueueUrl"]
sent = sqs.send_message(QueueUrl=url, MessageBody="hello")["MessageId"]
queues = sqs.list_queues()["QueueUrls"]
iam = client("iam")
iam.create_user(UserName="gw-bob", Path="/ops/")
users = [u["UserName"] for u in iam.list_users()["Users"]]
who = client("sts").get_caller_identity()["Arn"]
ec2 = client("ec2")
sg = ec2.create_security_group(GroupName="web", Description="web servers")["GroupId"]
ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["running", "stopped"]}], MaxResults=5)
kms = client("kms")
key = kms.create_key(Description="orders key")["KeyMetadata"]["Arn"]
blob = kms.encrypt(KeyId=key, Plaintext=b"card 4111")["CiphertextBlob"]
print(json.dumps({"url": url, "sent": sent, "queues": queues, "users": users, "who": who, "sg": sg, "key": key, "blob": len(blob)}))
`, gw, alice);
    // moto answered every call through the gateway.
    assert.ok(out.queues.includes(out.url));
    assert.ok(out.users.includes('gw-bob'));
    assert.match(out.who, /^arn:aws:(iam|sts)::/);
    assert.match(out.sg, /^sg-/);
    assert.match(out.key, new RegExp(`^arn:aws:kms:us-east-1:${MOTO_DEFAULT_ACCOUNT}:key/`));
    assert.ok(out.blob > 0);

    const all = await records();
    const expect: [string, string, boolean][] = [
      ['sqs', 'CreateQueue', false], ['sqs', 'SendMessage', false], ['sqs', 'ListQueues', true],
      ['iam', 'CreateUser', false], ['iam', 'ListUsers', true],
      ['sts', 'GetCallerIdentity', true],
      ['ec2', 'CreateSecurityGroup', false], ['ec2', 'DescribeInstances', true],
      ['kms', 'CreateKey', false], ['kms', 'Encrypt', true],
    ];
    for (const [service, name, readOnly] of expect) {
      const r = one(all, `${service}.amazonaws.com`, name);
      byAlice(r);
      assert.equal(r.readOnly, readOnly, `${service} ${name} readOnly`);
      assert.equal(r.eventCategory, 'Management');
      assert.ok(r.requestID, 'a request id');
    }
    assert.equal(all.filter((r) => r.eventName === 'UnknownOperation').length, 0, 'every boto3 call was decoded');

    // requestParameters: decoded from each protocol (awsJson, awsQuery, ec2Query), lowerCamelCase.
    assert.deepEqual(one(all, 'sqs.amazonaws.com', 'CreateQueue').requestParameters, { queueName: 'orders' });
    assert.deepEqual(one(all, 'sqs.amazonaws.com', 'SendMessage').requestParameters, { queueUrl: out.url, messageBody: 'hello' });
    assert.deepEqual(one(all, 'iam.amazonaws.com', 'CreateUser').requestParameters, { userName: 'gw-bob', path: '/ops/' });
    assert.equal(one(all, 'sts.amazonaws.com', 'GetCallerIdentity').requestParameters, null);
    assert.deepEqual(one(all, 'ec2.amazonaws.com', 'CreateSecurityGroup').requestParameters, { groupName: 'web', description: 'web servers' });
    assert.deepEqual(one(all, 'ec2.amazonaws.com', 'DescribeInstances').requestParameters, { filters: [{ name: 'instance-state-name', values: ['running', 'stopped'] }], maxResults: 5 });
    // A sensitive member is hidden; the key's ARN is the event's resource.
    const encrypt = one(all, 'kms.amazonaws.com', 'Encrypt');
    assert.deepEqual(encrypt.requestParameters, { keyId: out.key, plaintext: 'HIDDEN_DUE_TO_SECURITY_REASONS' });
    assert.ok(!JSON.stringify(encrypt).includes('4111'), 'the plaintext is nowhere in the record');
    assert.deepEqual(encrypt.resources, [{ ARN: out.key, accountId: MOTO_DEFAULT_ACCOUNT }]);
    assert.deepEqual(one(all, 'kms.amazonaws.com', 'CreateKey').requestParameters, { description: 'orders key' });
  });

  test('calls the gateway cannot decode reach the upstream and are recorded as UnknownOperation', async () => {
    const before = (await records()).length;
    // An operation no model has, a body that is not JSON, and a service no model signs as.
    const unknownOp = await signedFetch(`${gw}/`, alice, { service: 'sqs', body: '{}', headers: { 'x-amz-target': 'AmazonSQS.NoSuchThing', 'content-type': 'application/x-amz-json-1.0' } });
    const badBody = await signedFetch(`${gw}/`, alice, { service: 'kms', body: 'not json', headers: { 'x-amz-target': 'TrentService.ListKeys', 'content-type': 'application/x-amz-json-1.1' } });
    const noModel = await signedFetch(`${gw}/`, alice, { service: 'nosuchservice', body: 'Action=DoThing&Version=2020-01-01', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    for (const [res, what] of [[unknownOp, 'unknown operation'], [badBody, 'bad body'], [noModel, 'no model']] as const) {
      const text = await res.text();
      // The answer is moto's, not the gateway's (which would carry AmbiguousRequestException or
      // UnknownServiceException).
      assert.doesNotMatch(text, /AmbiguousRequestException|UnknownServiceException|OpenTrail gateway/, `${what}: ${res.status} ${text.slice(0, 300)}`);
    }
    const added = (await records()).slice(before);
    assert.deepEqual(added.map((r) => `${r.eventSource} ${r.eventName}`).sort(), [
      'kms.amazonaws.com UnknownOperation', 'nosuchservice.amazonaws.com UnknownOperation', 'sqs.amazonaws.com UnknownOperation',
    ]);
    const sqs = added.find((r) => r.eventSource === 'sqs.amazonaws.com')!;
    byAliceIgnoringError(sqs);
    assert.equal(sqs.readOnly, false, 'a call whose verb is unknown is not taken for a read');
    assert.equal(sqs.requestParameters, null);
    assert.equal(sqs.additionalEventData.requestedOperation, 'AmazonSQS.NoSuchThing');
    assert.match(sqs.additionalEventData.gatewayDecodeError, /UnknownOperationException/);
    assert.ok(sqs.errorCode, 'moto\'s error is recorded');
    const kms = added.find((r) => r.eventSource === 'kms.amazonaws.com')!;
    assert.equal(kms.additionalEventData.requestedOperation, 'TrentService.ListKeys');
    assert.match(kms.additionalEventData.gatewayDecodeError, /SerializationException/);
    const other = added.find((r) => r.eventSource === 'nosuchservice.amazonaws.com')!;
    assert.equal(other.additionalEventData.requestedOperation, 'DoThing');
    assert.match(other.additionalEventData.gatewayDecodeError, /no model .* signs as 'nosuchservice'/);
    byAliceIgnoringError(other);
  });

  function byAliceIgnoringError(r: Json): void {
    assert.equal(r.userIdentity.arn, 'arn:aws:iam::111111111111:user/alice');
    assert.equal(r.managementEvent, true);
    assert.equal(r.eventCategory, 'Management');
  }
});
