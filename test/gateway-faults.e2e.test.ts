/**
 * The recording gateway under faults: a recorded call survives kill -9 of OpenTrail right after
 * the answer; a streamed body that does not match its signed hash never reaches the upstream; the
 * upstream going away is answered and recorded; a client that goes away in the middle of a large
 * answer still has its call recorded; malformed signed requests never crash the gateway.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import fc from 'fast-check';
import { CreateHttpNamespaceCommand, ServiceDiscoveryClient } from '@aws-sdk/client-servicediscovery';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, ACCOUNT_B, cloudTrailClient, startServer, tempDir, type StartedServer } from './helpers/server.ts';
import { freePort, motoS3, startMoto, type StartedMoto } from './helpers/moto.ts';
import { signedFetch, signRequest } from './helpers/signed-fetch.ts';
import { fails } from './helpers/aws-errors.ts';

const alice = ACCOUNT_A.identities[1]!;
const clientConfig = (url: string) => ({
  endpoint: url, region: 'us-east-1', maxAttempts: 1,
  credentials: { accessKeyId: alice.accessKeyId, secretAccessKey: alice.secretAccessKey },
});

async function eventsNamed(url: string, name: string): Promise<Record<string, any>[]> {
  const page = await cloudTrailClient(url, alice).send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: name }] }));
  return (page.Events ?? []).map((e) => JSON.parse(e.CloudTrailEvent!));
}

describe('recording gateway under faults', () => {
  let moto: StartedMoto;
  let server: StartedServer;
  const dataDir = tempDir();
  let deadPort: number;
  // KMS's upstream answers every call with 16 MiB of JSON, more than the sockets between it, the
  // gateway and a client that stops reading can hold.
  // What it received besides: method and content-length of each request.
  const bigReceived: string[] = [];
  const big = http.createServer((req, res) => {
    bigReceived.push(`${req.method} ${req.headers['content-length'] ?? '-'}`);
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' }).end(req.method === 'POST' ? `{"Keys":[],"pad":"${'k'.repeat(16 * 1024 * 1024)}"}` : '{}'));
  });
  const bigUrl = () => `http://127.0.0.1:${(big.address() as { port: number }).port}`;
  const config = () => ({
    accounts: [ACCOUNT_A, ACCOUNT_B],
    gateway: {
      port: 0, upstream: { endpoint: moto.url },
      services: { apigateway: { endpoint: `http://127.0.0.1:${deadPort}` }, kms: { endpoint: bigUrl() }, capturetest: { endpoint: bigUrl() } },
    },
  });

  before(async () => {
    [moto, deadPort] = await Promise.all([startMoto(), freePort(), new Promise<void>((r) => big.listen(0, '127.0.0.1', r))]);
    server = await startServer(config(), { dataDir });
  });
  after(async () => {
    await server?.stop();
    await moto?.stop();
    big.closeAllConnections();
    big.close();
  });

  test('a call answered through the gateway is still recorded after kill -9 right after the answer', async () => {
    const sd = new ServiceDiscoveryClient(clientConfig(server.gatewayUrl!));
    const answered: string[] = [];
    for (let i = 0; i < 20; i++) {
      await sd.send(new CreateHttpNamespaceCommand({ Name: `durable-${i}`, CreatorRequestId: `durable-${i}` }));
      answered.push(`durable-${i}`);
    }
    await server.kill();
    server = await startServer(config(), { dataDir });
    const recorded = new Set<string>();
    const ct = cloudTrailClient(server.url, alice);
    let token: string | undefined;
    do {
      const page = await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'CreateHttpNamespace' }], NextToken: token }));
      for (const e of page.Events ?? []) recorded.add(JSON.parse(e.CloudTrailEvent!).requestParameters.name);
      token = page.NextToken;
    } while (token);
    assert.deepEqual(answered.filter((n) => !recorded.has(n)), [], 'every answered call is recorded');
  });

  test('a streamed object body that does not match its signed hash is refused and never stored upstream', async () => {
    const s3 = new S3Client({ ...clientConfig(server.gatewayUrl!), forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: 'hash-bucket' }));
    const res = await signedFetch(`${server.gatewayUrl}/hash-bucket/tampered.txt`, alice, {
      method: 'PUT', service: 's3', body: Buffer.alloc(200_000, 1),
      headers: { 'x-amz-content-sha256': createHash('sha256').update('something else').digest('hex') },
    }).catch((e: Error) => e);
    if (!(res instanceof Error)) {
      assert.equal(res.status, 400);
      assert.match(await res.text(), /XAmzContentSHA256Mismatch/);
    }
    const listed = await motoS3(moto).send(new ListObjectsV2Command({ Bucket: 'hash-bucket' }));
    assert.equal(listed.KeyCount ?? 0, 0, 'the upstream never got the whole object');
    const [event] = (await eventsNamed(server.url, 'CreateBucket'));
    assert.equal(event?.requestParameters.bucketName, 'hash-bucket');
  });

  test('an upstream that does not answer gives ServiceUnavailableException (503), recorded as a failed call', async () => {
    const { APIGatewayClient, GetRestApisCommand } = await import('@aws-sdk/client-api-gateway');
    const ag = new APIGatewayClient(clientConfig(server.gatewayUrl!));
    await fails(ag.send(new GetRestApisCommand({})), 'ServiceUnavailableException', 503);
    const [event] = await eventsNamed(server.url, 'GetRestApis');
    assert.equal(event?.errorCode, 'ServiceUnavailableException');
    assert.match(event?.errorMessage, /ECONNREFUSED/);
  });

  test('a client that goes away in the middle of a large answer: the upstream\'s answer is still read to its end and the call recorded', async () => {
    const body = '{}';
    const { headers } = await signRequest(`${server.gatewayUrl}/`, alice, {
      body, service: 'kms', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.ListKeys' },
    });
    const req = http.request(`${server.gatewayUrl}/`, { method: 'POST', headers: { ...headers, 'content-length': String(body.length) } });
    req.end(body);
    // With the record before the answer, the answer's head arrives once its second chunk has:
    // then the client stops reading, the gateway's writes back up, and the client goes away.
    const [res] = (await once(req, 'response')) as [http.IncomingMessage];
    res.pause();
    await new Promise((r) => setTimeout(r, 300));
    req.destroy();
    let events: Record<string, any>[] = [];
    for (let i = 0; i < 50 && events.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 200));
      events = await eventsNamed(server.url, 'ListKeys');
    }
    assert.equal(events.length, 1, 'the call is recorded although its client went away');
    assert.equal(events[0]!.eventSource, 'kms.amazonaws.com');
  });

  test('a signed content-length: 0 on a DELETE or GET reaches the upstream as sent (a service without a model: passed through)', async () => {
    for (const method of ['DELETE', 'GET']) {
      const { headers } = await signRequest(`${server.gatewayUrl}/keys/k-1`, alice, { method, service: 'capturetest', headers: { 'content-length': '0' } });
      assert.match(headers.authorization!, /SignedHeaders=[^,]*content-length/);
      bigReceived.length = 0;
      // node:http sends the header as given (fetch would leave a zero length out, as undici does).
      const req = http.request(`${server.gatewayUrl}/keys/k-1`, { method, headers });
      req.end();
      const [res] = (await once(req, 'response')) as [http.IncomingMessage];
      let text = '';
      for await (const c of res) text += String(c);
      assert.equal(res.statusCode, 200, text);
      assert.deepEqual(bigReceived, [`${method} 0`]);
    }
  });

  test('malformed signed requests get AWS-shaped errors, never the gateway\'s own 500, and the gateway keeps serving', async () => {
    const services = ['xray', 'monitoring', 'servicediscovery', 's3', 'events', 'logs', 'nosuch'];
    const request = fc.record({
      service: fc.constantFrom(...services),
      method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'),
      path: fc.oneof(fc.constant('/'), fc.webPath(), fc.constantFrom('/service/GraniteServiceVersion20100801/operation/PutMetricAlarm', '/Groups', '/b/k?acl', '/%zz')),
      body: fc.oneof(fc.string(), fc.json(), fc.constant('Action=PutMetricAlarm&Dimensions.member.x.Name=1'), fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a).toString('latin1'))),
      headers: fc.dictionary(fc.constantFrom('x-amz-target', 'content-type', 'smithy-protocol', 'x-amz-copy-source'), fc.constantFrom('', 'a.b', 'AWSEvents.PutRule', 'rpc-v2-cbor', 'application/x-www-form-urlencoded', 'Logs_20140328.CreateLogGroup')),
    });
    await fc.assert(fc.asyncProperty(request, async (r) => {
      const url = `${server.gatewayUrl}${r.path.startsWith('/') ? r.path : `/${r.path}`}`;
      let res: Response;
      try {
        res = await signedFetch(url, alice, { method: r.method, service: r.service, headers: r.headers, body: r.method === 'GET' ? undefined : r.body });
      } catch {
        return; // the URL itself was not sendable
      }
      await res.arrayBuffer();
      assert.notEqual(res.headers.get('x-amzn-errortype'), 'InternalFailure', `${r.method} ${url} ${JSON.stringify(r)}\n${server.output().slice(-3000)}`);
      // Any other 5xx is the upstream's own answer to garbage (moto answers some with 500), passed through.
    }), { numRuns: 150 });
    const sd = new ServiceDiscoveryClient(clientConfig(server.gatewayUrl!));
    const ok = await sd.send(new CreateHttpNamespaceCommand({ Name: 'after-fuzz', CreatorRequestId: 'after-fuzz' }));
    assert.ok(ok.OperationId);
    assert.doesNotMatch(server.output(), /gateway: internal error/);
  });
});
