/**
 * The recording gateway, end to end: real SDK clients and the AWS CLI call AWS-protocol services
 * through the gateway; moto server is the upstream (and, for the calls moto does not implement, a
 * small stand-in HTTP server answering as the service would). The recorded events are read back
 * with LookupEvents, from the event log and from a trail's log files, field by field against the
 * AWS documentation's examples (test/fixtures/gateway).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateHttpNamespaceCommand, CreatePublicDnsNamespaceCommand, CreateServiceCommand, DeleteServiceCommand, DiscoverInstancesCommand, RegisterInstanceCommand, ServiceDiscoveryClient, UpdateServiceCommand } from '@aws-sdk/client-servicediscovery';
import { CloudWatchClient, PutMetricAlarmCommand, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { APIGatewayClient, CreateRestApiCommand, GetResourceCommand, GetResourcesCommand } from '@aws-sdk/client-api-gateway';
import { GetEncryptionConfigCommand, PutEncryptionConfigCommand, PutTraceSegmentsCommand, XRayClient } from '@aws-sdk/client-xray';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateTrailCommand, LookupEventsCommand, StartLoggingCommand, type CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { verifySigV4 } from '../src/aws/sigv4.ts';
import { ACCOUNT_A, ACCOUNT_B, cliEnv, cloudTrailClient, startServer, tempDir, type StartedServer, type TestIdentity } from './helpers/server.ts';
import { startMoto, type StartedMoto } from './helpers/moto.ts';
import { runAws } from './helpers/cli.ts';
import { eventLog, readFsBucket, waitFor, type Json } from './helpers/delivery.ts';
import { fails } from './helpers/aws-errors.ts';
import { signedFetch } from './helpers/signed-fetch.ts';

const alice = ACCOUNT_A.identities[1]!;
const bob = ACCOUNT_A.identities[2]!;
const UPSTREAM_KEY = { accessKeyId: 'AKIAUPSTREAMAAAAAAAA', secretAccessKey: 'upstream-secret' };

const docExamples: Json[] = readFileSync(new URL('./fixtures/gateway/aws-doc-examples.jsonl', import.meta.url), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const docExample = (source: string, name: string): Json => {
  const r = docExamples.find((e) => e.eventSource === source && e.eventName === name);
  assert.ok(r, `fixture has ${source} ${name}`);
  return r;
};

interface Received { method: string; url: string; headers: http.IncomingHttpHeaders; body: Buffer }

/** Answers as X-Ray and DevOps Guru would for the calls moto does not implement; keeps what it got. */
async function startStandIn(): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks) });
      const json = (status: number, body: unknown, extra: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-requestid': `standin-${received.length}`, ...extra }).end(JSON.stringify(body));
      };
      if (req.url === '/EncryptionConfig') return json(200, { EncryptionConfig: { Status: 'ACTIVE', Type: 'NONE' } });
      if (req.url === '/PutEncryptionConfig') return json(200, { EncryptionConfig: { KeyId: 'arn:aws:kms:us-east-1:111111111111:key/k1', Status: 'UPDATING', Type: 'KMS' } });
      if (req.url === '/TraceSegments') return json(200, { UnprocessedTraceSegments: [] });
      if (req.url === '/resource-collections' && req.method === 'PUT') return json(200, {});
      json(404, { message: 'not here' }, { 'x-amzn-errortype': 'ResourceNotFoundException' });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, received, close: () => new Promise((r) => server.close(() => r())) };
}

const clientConfig = (url: string, id: TestIdentity, region = 'us-east-1') => ({
  endpoint: url,
  region,
  credentials: { accessKeyId: id.accessKeyId, secretAccessKey: id.secretAccessKey, sessionToken: id.sessionToken },
  maxAttempts: 1,
});

/** The account's recorded events of one service, newest first, from Event history. */
async function history(ct: CloudTrailClient, eventSource: string): Promise<Json[]> {
  const out: Json[] = [];
  let token: string | undefined;
  do {
    const page = await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventSource', AttributeValue: eventSource }], NextToken: token }));
    for (const e of page.Events ?? []) out.push(JSON.parse(e.CloudTrailEvent!));
    token = page.NextToken;
  } while (token);
  return out;
}

const only = (events: Json[], name: string): Json[] => events.filter((e) => e.eventName === name);

describe('recording gateway', () => {
  let moto: StartedMoto;
  let standIn: Awaited<ReturnType<typeof startStandIn>>;
  let server: StartedServer;
  let gw: string;
  let ct: CloudTrailClient;
  let bucketDir: string;

  before(async () => {
    [moto, standIn] = await Promise.all([startMoto(), startStandIn()]);
    const dataDir = tempDir();
    bucketDir = join(dataDir, 'buckets');
    mkdirSync(join(bucketDir, 'trail-bucket'), { recursive: true });
    server = await startServer({
      accounts: [ACCOUNT_A, ACCOUNT_B],
      delivery: { maxAgeMs: 200, pollMs: 50 },
      gateway: {
        port: 0,
        upstream: { endpoint: moto.url },
        services: {
          xray: { endpoint: standIn.url },
          'devops-guru': { endpoint: standIn.url, ...UPSTREAM_KEY },
        },
      },
    }, { dataDir });
    gw = server.gatewayUrl!;
    assert.ok(gw, server.output());
    ct = cloudTrailClient(server.url, alice);
    await ct.send(new CreateTrailCommand({ Name: 'all', S3BucketName: 'trail-bucket' }));
    await ct.send(new StartLoggingCommand({ Name: 'all' }));
  });

  after(async () => {
    await server?.stop();
    await Promise.all([moto?.stop(), standIn?.close()]);
  });

  test('Cloud Map: namespaces, services and instances are recorded as the AWS examples show; DiscoverInstances is not', async () => {
    const sd = new ServiceDiscoveryClient(clientConfig(gw, alice));
    const pub = await sd.send(new CreatePublicDnsNamespaceCommand({ Name: 'example.com', CreatorRequestId: 'req-pub-1', Description: 'test' }));
    const httpNs = await sd.send(new CreateHttpNamespaceCommand({ Name: 'example-http', CreatorRequestId: 'req-http-1' }));
    assert.ok(pub.OperationId && httpNs.OperationId, 'moto answered through the gateway');
    const svc = await sd.send(new CreateServiceCommand({ Name: 'orders', NamespaceId: undefined, CreatorRequestId: 'req-svc-1' })).catch(() => undefined);
    const svcId = svc?.Service?.Id ?? 'srv-missing';
    await sd.send(new RegisterInstanceCommand({ ServiceId: svcId, InstanceId: 'i-1', Attributes: { AWS_INSTANCE_IPV4: '192.0.2.44', secret_token: 'kept' } })).catch(() => undefined);
    await sd.send(new DiscoverInstancesCommand({ NamespaceName: 'example-http', ServiceName: 'orders' })).catch(() => undefined);
    await sd.send(new DeleteServiceCommand({ Id: svcId })).catch(() => undefined);

    const events = await history(ct, 'servicediscovery.amazonaws.com');
    const [created] = only(events, 'CreatePublicDnsNamespace');
    const doc = docExample('servicediscovery.amazonaws.com', 'CreatePublicDnsNamespace');
    assert.ok(created);
    assert.deepEqual(Object.keys(created.requestParameters).sort(), Object.keys(doc.requestParameters).sort());
    assert.deepEqual(created.requestParameters, { name: 'example.com', creatorRequestId: 'req-pub-1', description: 'test' });
    assert.deepEqual(Object.keys(created.responseElements), Object.keys(doc.responseElements));
    assert.equal(created.responseElements.operationId, pub.OperationId);
    assert.equal(created.eventType, 'AwsApiCall');
    assert.equal(created.readOnly, false);
    assert.equal(created.managementEvent, true);
    assert.equal(created.eventCategory, 'Management');
    assert.equal(created.recipientAccountId, ACCOUNT_A.id);
    assert.equal(created.awsRegion, 'us-east-1');
    assert.equal(created.sourceIPAddress, '127.0.0.1');
    assert.match(created.userAgent, /aws-sdk-js\/.* api\/servicediscovery/);
    assert.deepEqual(created.userIdentity, { type: 'IAMUser', principalId: created.userIdentity.principalId, arn: 'arn:aws:iam::111111111111:user/alice', accountId: ACCOUNT_A.id, accessKeyId: alice.accessKeyId, userName: 'alice' });

    const [httpEvent] = only(events, 'CreateHttpNamespace');
    assert.deepEqual(httpEvent?.requestParameters, { name: 'example-http', creatorRequestId: 'req-http-1' });
    assert.equal(httpEvent?.responseElements.operationId, httpNs.OperationId);
    const [register] = only(events, 'RegisterInstance');
    assert.deepEqual(register?.requestParameters.attributes, { AWS_INSTANCE_IPV4: '192.0.2.44', secret_token: 'kept' }, 'map keys are kept as sent');
    assert.equal(register?.requestParameters.serviceId, svcId);
    assert.equal(only(events, 'DeleteService').length, 1);
    assert.equal(only(events, 'CreateService').length, 1);
    assert.equal(only(events, 'DiscoverInstances').length, 0, 'DiscoverInstances is never recorded');
    // The request id is the upstream's, so the event and the service's own logs meet.
    assert.ok(created.requestID && created.requestID !== created.eventID);
  });

  test('CloudWatch: PutMetricAlarm over awsJson1_0 (SDK) and rpcv2Cbor (AWS CLI) records the same members; PutMetricData is a data event', async () => {
    const cw = new CloudWatchClient(clientConfig(gw, bob));
    await cw.send(new PutMetricAlarmCommand({
      AlarmName: 'CloudTrail Test Alarm', MetricName: 'CloudTrail Test', Namespace: 'AWS/CloudWatch', Statistic: 'Sum',
      Period: 60, EvaluationPeriods: 3, Threshold: 50, ComparisonOperator: 'GreaterThanThreshold',
    }));
    const cli = await runAws(['cloudwatch', 'put-metric-alarm', '--endpoint-url', gw, '--alarm-name', 'cli-alarm', '--metric-name', 'CPU',
      '--namespace', 'AWS/EC2', '--statistic', 'Average', '--period', '60', '--evaluation-periods', '1', '--threshold', '50',
      '--comparison-operator', 'GreaterThanThreshold', '--dimensions', 'Name=InstanceId,Value=i-0123'], cliEnv(alice));
    assert.equal(cli.code, 0, cli.stderr);
    await cw.send(new PutMetricDataCommand({ Namespace: 'App', MetricData: [{ MetricName: 'Requests', Value: 1 }] }));

    const events = only(await history(ct, 'monitoring.amazonaws.com'), 'PutMetricAlarm');
    const doc = docExample('monitoring.amazonaws.com', 'PutMetricAlarm');
    const sdkEvent = events.find((e) => e.requestParameters.alarmName === 'CloudTrail Test Alarm');
    assert.ok(sdkEvent);
    assert.deepEqual(sdkEvent.requestParameters, doc.requestParameters, 'the same members as the AWS example, spelled the same');
    assert.equal(sdkEvent.responseElements, null);
    assert.equal(sdkEvent.userIdentity.type, 'AssumedRole');
    assert.equal(sdkEvent.userIdentity.arn, 'arn:aws:sts::111111111111:assumed-role/Admin/bob');
    const cliEvent = events.find((e) => e.requestParameters.alarmName === 'cli-alarm');
    assert.ok(cliEvent, 'the CBOR call is recorded');
    assert.deepEqual(cliEvent.requestParameters.dimensions, [{ name: 'InstanceId', value: 'i-0123' }]);
    assert.equal(cliEvent.requestParameters.threshold, 50);
    assert.match(cliEvent.userAgent, /^aws-cli\//);

    // PutMetricData: a data event, so not in Event history, but in the account's event log.
    assert.equal(only(await history(ct, 'monitoring.amazonaws.com'), 'PutMetricData').length, 0);
    const log = (await eventLog(server.url, alice)).map((e) => e.record);
    const data = log.find((r) => r.eventName === 'PutMetricData');
    assert.ok(data);
    assert.equal(data.eventCategory, 'Data');
    assert.equal(data.managementEvent, false);
    assert.deepEqual(data.resources, [{ type: 'AWS::CloudWatch::Metric' }]);
  });

  test('API Gateway: GetResource is a read with the model\'s member names and null responseElements', async () => {
    const ag = new APIGatewayClient(clientConfig(gw, alice));
    const api = await ag.send(new CreateRestApiCommand({ name: 'orders-api' }));
    const root = (await ag.send(new GetResourcesCommand({ restApiId: api.id! }))).items![0]!;
    await ag.send(new GetResourceCommand({ restApiId: api.id!, resourceId: root.id!, embed: ['methods'] }));
    const events = await history(ct, 'apigateway.amazonaws.com');
    const [get] = only(events, 'GetResource');
    assert.ok(get);
    assert.deepEqual(get.requestParameters, { restApiId: api.id, resourceId: root.id, embed: ['methods'] });
    assert.equal(get.responseElements, null);
    assert.equal(get.readOnly, true);
    const [created] = only(events, 'CreateRestApi');
    assert.equal(created?.responseElements.id, api.id, 'a write records the answer');
  });

  test('X-Ray: configuration calls are recorded, trace segments never', async () => {
    const xray = new XRayClient(clientConfig(gw, alice));
    const got = await xray.send(new GetEncryptionConfigCommand({}));
    assert.equal(got.EncryptionConfig?.Status, 'ACTIVE', 'the upstream answer comes back unchanged');
    await xray.send(new PutEncryptionConfigCommand({ Type: 'KMS', KeyId: 'alias/aws/xray' }));
    await xray.send(new PutTraceSegmentsCommand({ TraceSegmentDocuments: ['{"trace_id":"1-5f84c7a1-1"}'] }));
    assert.equal(standIn.received.filter((r) => r.url === '/TraceSegments').length, 1, 'the unrecorded call is still forwarded');

    const events = await history(ct, 'xray.amazonaws.com');
    const [get] = only(events, 'GetEncryptionConfig');
    assert.ok(get);
    assert.equal(get.requestParameters, null);
    assert.equal(get.responseElements, null);
    assert.equal(get.readOnly, true);
    assert.equal(get.requestID, standIn.received.findIndex((r) => r.url === '/EncryptionConfig') >= 0 ? `standin-${standIn.received.findIndex((r) => r.url === '/EncryptionConfig') + 1}` : undefined);
    const [put] = only(events, 'PutEncryptionConfig');
    assert.deepEqual(put?.requestParameters, { type: 'KMS', keyId: 'alias/aws/xray' });
    assert.deepEqual(put?.responseElements, { encryptionConfig: { keyId: 'arn:aws:kms:us-east-1:111111111111:key/k1', status: 'UPDATING', type: 'KMS' } });
    assert.equal(only(events, 'PutTraceSegments').length, 0);
    const log = (await eventLog(server.url, alice)).map((e) => e.record);
    assert.equal(log.filter((r) => r.eventName === 'PutTraceSegments').length, 0, 'not even as a data event');
  });

  test('DevOps Guru through the AWS CLI: recorded as the AWS example shows, re-signed with the upstream\'s own key', async () => {
    const before = standIn.received.length;
    const r = await runAws(['devops-guru', 'update-resource-collection', '--endpoint-url', gw, '--action', 'REMOVE',
      '--resource-collection', '{"CloudFormation":{"StackNames":["*"]}}'], cliEnv(ACCOUNT_B.identities[0]!));
    assert.equal(r.code, 0, r.stderr);
    const got = standIn.received.slice(before).find((x) => x.url === '/resource-collections');
    assert.ok(got);
    assert.match(String(got.headers.authorization), /Credential=AKIAUPSTREAMAAAAAAAA\//, 'signed with the upstream credentials, not the caller\'s');
    await verifySigV4(
      { method: got.method, path: got.url, rawQuery: '', headers: got.headers as Record<string, string>, body: got.body },
      { nowMs: Date.now(), services: ['devops-guru'], credentialsFor: (id) => (id === UPSTREAM_KEY.accessKeyId ? UPSTREAM_KEY : undefined) },
    );
    assert.deepEqual(JSON.parse(got.body.toString()), { Action: 'REMOVE', ResourceCollection: { CloudFormation: { StackNames: ['*'] } } }, 'the body is forwarded unchanged');

    const carolCt = cloudTrailClient(server.url, ACCOUNT_B.identities[0]!);
    const [event] = only(await history(carolCt, 'devops-guru.amazonaws.com'), 'UpdateResourceCollection');
    const doc = docExample('devops-guru.amazonaws.com', 'UpdateResourceCollection');
    assert.ok(event);
    assert.deepEqual(event.requestParameters, doc.requestParameters);
    assert.equal(event.responseElements, doc.responseElements);
    assert.equal(event.readOnly, doc.readOnly);
    assert.equal(event.managementEvent, true);
    assert.equal(event.recipientAccountId, ACCOUNT_B.id);
  });

  test('S3: bucket calls are management events, object calls data events with resources; object bodies stream through', async () => {
    const s3 = new S3Client({ ...clientConfig(gw, alice), forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: 'gw-bucket' }));
    const body = Buffer.alloc(300 * 1024, 7);
    await s3.send(new PutObjectCommand({ Bucket: 'gw-bucket', Key: 'dir/a b.bin', Body: body }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'gw-bucket', Key: 'dir/a b.bin' }));
    assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), body);

    const [create] = only(await history(ct, 's3.amazonaws.com'), 'CreateBucket');
    assert.equal(create?.requestParameters.bucketName, 'gw-bucket');
    assert.equal(create?.requestParameters.Host, new URL(gw).host);
    const log = (await eventLog(server.url, alice)).map((e) => e.record);
    const put = log.find((r) => r.eventName === 'PutObject');
    assert.ok(put, JSON.stringify(log.filter((r) => r.eventSource === 's3.amazonaws.com').map((r) => [r.eventName, r.errorCode])) + server.output().slice(-3000));
    assert.equal(put.eventCategory, 'Data');
    assert.equal(put.requestParameters.key, 'dir/a b.bin');
    assert.deepEqual(put.resources, [{ type: 'AWS::S3::Object', ARN: 'arn:aws:s3:::gw-bucket/dir/a b.bin' }, { type: 'AWS::S3::Bucket', ARN: 'arn:aws:s3:::gw-bucket' }]);
    assert.ok(put.additionalEventData.bytesTransferredIn >= body.length);
    const get = log.find((r) => r.eventName === 'GetObject');
    assert.equal(get?.readOnly, true);
    assert.ok(get?.additionalEventData.bytesTransferredOut >= body.length);
  });

  test('the trail\'s log files hold the recorded management calls and none of the excluded ones', async () => {
    await waitFor(() => readFsBucket(join(bucketDir, 'trail-bucket')).flatMap((f) => f.records).some((r) => r.eventName === 'PutEncryptionConfig'), 15_000, 'delivery');
    const names = new Set(readFsBucket(join(bucketDir, 'trail-bucket')).flatMap((f) => f.records).filter((r) => r.eventSource !== 'cloudtrail.amazonaws.com').map((r) => `${r.eventSource} ${r.eventName}`));
    for (const n of ['servicediscovery.amazonaws.com CreatePublicDnsNamespace', 'monitoring.amazonaws.com PutMetricAlarm', 'apigateway.amazonaws.com GetResource', 'xray.amazonaws.com GetEncryptionConfig']) {
      assert.ok(names.has(n), `${n} delivered; got ${[...names].join(', ')}`);
    }
    for (const n of ['servicediscovery.amazonaws.com DiscoverInstances', 'xray.amazonaws.com PutTraceSegments', 'monitoring.amazonaws.com PutMetricData', 's3.amazonaws.com PutObject']) {
      assert.ok(!names.has(n), `${n} not delivered by a trail with the default selectors`);
    }
  });

  test('bad input: unsigned and wrongly signed calls never reach the upstream; failures are recorded where AWS records them', async () => {
    const before = standIn.received.length;
    const unsigned = await fetch(`${gw}/EncryptionConfig`, { method: 'POST', body: '{}' });
    assert.equal(unsigned.status, 403);
    assert.equal(unsigned.headers.get('x-amzn-errortype'), 'MissingAuthenticationTokenException');
    const wrong = new XRayClient({ ...clientConfig(gw, alice), credentials: { accessKeyId: alice.accessKeyId, secretAccessKey: 'not-the-secret' } });
    await fails(wrong.send(new GetEncryptionConfigCommand({})), 'SignatureDoesNotMatch', 403);
    const unknown = new XRayClient({ ...clientConfig(gw, alice), credentials: { accessKeyId: 'AKIANOBODYAAAAAAAAAA', secretAccessKey: 'x' } });
    await fails(unknown.send(new GetEncryptionConfigCommand({})), 'UnrecognizedClientException', 403);
    const query = await runAws(['cloudwatch', 'describe-alarms', '--endpoint-url', gw], { ...cliEnv(alice), AWS_SECRET_ACCESS_KEY: 'wrong' });
    assert.notEqual(query.code, 0);
    assert.match(query.stderr, /SignatureDoesNotMatch/);
    const s3 = new S3Client({ ...clientConfig(gw, alice), forcePathStyle: true, credentials: { accessKeyId: 'AKIANOBODYAAAAAAAAAA', secretAccessKey: 'x' } });
    await fails(s3.send(new GetObjectCommand({ Bucket: 'gw-bucket', Key: 'x' })), 'InvalidAccessKeyId', 403);
    assert.equal(standIn.received.length, before, 'nothing reached the upstream');

    const failed = only(await history(ct, 'xray.amazonaws.com'), 'GetEncryptionConfig').filter((e) => e.errorCode);
    assert.equal(failed.length, 1, 'the known key\'s failed call is recorded; the unknown key\'s is not (no account to record it in)');
    assert.equal(failed[0]!.errorCode, 'SignatureDoesNotMatch');
    assert.equal(failed[0]!.userIdentity.accessKeyId, alice.accessKeyId);

    // An operation the model does not know goes to the upstream (moto answers) and is recorded as
    // UnknownOperation (test/gateway-generic.e2e.test.ts has the other undecodable calls).
    const bogus = await signedFetch(`${gw}/`, alice, { service: 'servicediscovery', body: '{}', headers: { 'x-amz-target': 'Route53AutoNaming_v20170314.NoSuchThing', 'content-type': 'application/x-amz-json-1.1' } });
    const bogusBody = await bogus.text();
    assert.doesNotMatch(bogusBody, /OpenTrail gateway|UnknownOperationException: Unknown operation NoSuchThing/, bogusBody.slice(0, 300));
    const [unknownOp] = only(await history(ct, 'servicediscovery.amazonaws.com'), 'UnknownOperation');
    assert.equal(unknownOp?.additionalEventData.requestedOperation, 'Route53AutoNaming_v20170314.NoSuchThing');
    assert.equal(unknownOp?.readOnly, false);
  });

  test('an upstream error answer is passed through unchanged and recorded with its code and message', async () => {
    const sd = new ServiceDiscoveryClient(clientConfig(gw, alice));
    const err = await fails(sd.send(new UpdateServiceCommand({ Id: 'srv-doesnotexist', Service: { Description: 'x' } })), 'ServiceNotFound', 400);
    const [event] = only(await history(ct, 'servicediscovery.amazonaws.com'), 'UpdateService').filter((e) => e.requestParameters.id === 'srv-doesnotexist');
    assert.ok(event);
    assert.equal(event.errorCode, 'ServiceNotFound');
    assert.equal(event.errorMessage, err.message);
    assert.equal(event.responseElements, null);
  });
});
