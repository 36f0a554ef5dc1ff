/**
 * Hostile: requests whose operation can be read two ways never reach the upstream and are never
 * recorded (issue 10, item 3). The upstream is moto server behind a small recording proxy that
 * counts what it receives; each hostile request is signed by a known identity (an attacker with
 * credentials who wants the upstream to run X while the gateway records Y, or nothing), answered
 * 400 in its protocol's error shape, and leaves the proxy's count, moto's state and the account's
 * event log unchanged. Liveness (/health) is probed throughout.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { SignatureV4 } from '@smithy/signature-v4';
import { cbor } from '@smithy/core/cbor';
import { CloudWatchClient, DescribeAlarmsCommand, PutMetricAlarmCommand } from '@aws-sdk/client-cloudwatch';
import { CreateBucketCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeSha256, signingQuery } from '../../src/aws/sigv4.ts';
import { ACCOUNT_A, startServer, type StartedServer, type TestIdentity } from '../helpers/server.ts';
import { MOTO_CREDENTIALS, MOTO_REGION, motoS3, startMoto, type StartedMoto } from '../helpers/moto.ts';
import { eventLog, type Json } from '../helpers/delivery.ts';
import { whileProbing } from './liveness.ts';

const alice = ACCOUNT_A.identities[1]!;
const CW_TARGET = 'GraniteServiceVersion20100801';

/** Forwards everything to moto and counts what it forwarded. */
async function startRecordingProxy(upstream: string): Promise<{ url: string; received: string[]; close(): Promise<void> }> {
  const target = new URL(upstream);
  const received: string[] = [];
  const server = http.createServer((req, res) => {
    received.push(`${req.method} ${req.url}`);
    const up = http.request({ hostname: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    received,
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

interface Raw {
  service: string;
  method?: string;
  /** The request target's path exactly as sent (may be absolute-form). */
  path?: string;
  query?: string;
  /** Signed headers (host is added unless given). */
  headers?: Record<string, string>;
  /** Sent but not signed; a name may repeat. */
  extra?: [string, string][];
  /** Each value sent as its own Host header; signed as SigV4 joins repeated headers. */
  hosts?: string[];
  body?: string | Buffer;
  id?: TestIdentity;
}

interface Answer { status: number; headers: http.IncomingHttpHeaders; body: Buffer }

/** A SigV4-signed request sent byte for byte as given (no URL normalisation by a client library). */
async function send(gw: string, o: Raw): Promise<Answer> {
  const u = new URL(gw);
  const id = o.id ?? alice;
  const body = o.body === undefined ? Buffer.alloc(0) : Buffer.from(o.body);
  const path = o.path ?? '/';
  const query = o.query ?? '';
  const hosts = o.hosts ?? [u.host];
  const signer = new SignatureV4({
    credentials: { accessKeyId: id.accessKeyId, secretAccessKey: id.secretAccessKey, sessionToken: id.sessionToken },
    region: 'us-east-1', service: o.service, sha256: NodeSha256, uriEscapePath: o.service !== 's3', applyChecksum: false,
  });
  const headers: Record<string, string> = { host: hosts.join(','), ...(o.headers ?? {}) };
  if (o.service === 's3') headers['x-amz-content-sha256'] = createHash('sha256').update(body).digest('hex');
  const signed = await signer.sign({ method: o.method ?? 'POST', protocol: 'http:', hostname: u.hostname, path, query: signingQuery(query), headers, body }, { signingDate: new Date() });
  const raw: string[] = [];
  for (const [k, v] of Object.entries(signed.headers)) if (k.toLowerCase() !== 'host') raw.push(k, String(v));
  for (const h of hosts) raw.push('Host', h);
  for (const [k, v] of o.extra ?? []) raw.push(k, v);
  if (body.length > 0) raw.push('Content-Length', String(body.length));
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname: u.hostname, port: u.port, method: o.method ?? 'POST', path: path + (query ? `?${query}` : ''), headers: raw, setHost: false, agent: false });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

type Shape = 'json' | 'cbor' | 'query' | 's3';

/** The error code of an answer in the protocol's own error shape. */
function errorCode(a: Answer, shape: Shape): string | undefined {
  const text = a.body.toString('utf8');
  if (shape === 'json') {
    const j = JSON.parse(text) as { __type?: string };
    assert.equal(a.headers['x-amzn-errortype'], j.__type, 'x-amzn-errortype names the error');
    return j.__type;
  }
  if (shape === 'cbor') return (cbor.deserialize(a.body) as { __type?: string }).__type;
  if (shape === 'query') return /^<ErrorResponse><Error><Type>Sender<\/Type><Code>([^<]+)<\/Code>/.exec(text)?.[1];
  return /<Error><Code>([^<]+)<\/Code>/.exec(text)?.[1];
}

const form = 'application/x-www-form-urlencoded; charset=utf-8';
const json10 = 'application/x-amz-json-1.0';

describe('hostile: the gateway refuses requests whose operation can be read two ways', () => {
  let moto: StartedMoto;
  let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
  let server: StartedServer;
  let resigning: StartedServer;
  let gw: string;
  let cwMoto: CloudWatchClient;

  const gatewayRecords = async (): Promise<Json[]> => (await eventLog(server.url, alice)).map((e) => e.record).filter((r) => r.eventSource !== 'cloudtrail.amazonaws.com');

  /** A short name for a hostile request (each is its own subtest, so each can fail alone). */
  const label = (o: Raw): string => {
    const hs = [...Object.entries(o.headers ?? {}), ...(o.extra ?? []), ...(o.hosts ?? []).map((h) => ['host', h] as [string, string])].map(([k, v]) => `${k}: ${v}`).join('; ');
    const body = o.body === undefined ? '' : typeof o.body === 'string' ? o.body : `<${o.body.length} bytes>`;
    return `${o.method ?? 'POST'} ${o.path ?? '/'}${o.query ? `?${o.query}` : ''} [${hs}] ${body}`.slice(0, 240);
  };

  /** Sends a hostile request; it must be refused in its protocol's shape, reach nothing, record nothing. */
  function refused(t: TestContext, o: Raw, shape: Shape, code = shape === 's3' ? 'InvalidRequest' : 'AmbiguousRequestException', status = 400): Promise<void> {
    return t.test(label(o), async () => {
      const forwarded = proxy.received.length;
      const recorded = (await gatewayRecords()).length;
      const { result: a } = await whileProbing(server, () => send(gw, o));
      assert.deepEqual(proxy.received.slice(forwarded), [], 'nothing reached the upstream');
      assert.equal(a.status, status, `refused with ${status}; got ${a.status} ${a.body.toString('utf8').slice(0, 300)}`);
      assert.equal(errorCode(a, shape), code, a.body.toString('utf8').slice(0, 300));
      assert.ok(a.headers['x-amzn-requestid'], 'a request id');
      assert.equal((await gatewayRecords()).length, recorded, 'nothing was recorded');
    });
  }

  before(async () => {
    moto = await startMoto();
    proxy = await startRecordingProxy(moto.url);
    server = await startServer({ accounts: [ACCOUNT_A], gateway: { port: 0, upstream: { endpoint: proxy.url }, hostnames: ['gw.opentrail.test'] } });
    gw = server.gatewayUrl!;
    assert.ok(gw, server.output());
    // A second gateway that re-signs S3 calls with its own key: the client's Host never reaches moto.
    resigning = await startServer({ accounts: [ACCOUNT_A], gateway: { port: 0, upstream: { endpoint: proxy.url }, services: { s3: { endpoint: proxy.url, accessKeyId: 'AKIAUPSTREAMAAAAAAAA', secretAccessKey: 'x' } }, hostnames: ['gw.opentrail.test'] } });
    cwMoto = new CloudWatchClient({ endpoint: moto.url, region: MOTO_REGION, credentials: { ...MOTO_CREDENTIALS }, maxAttempts: 1 });
    await cwMoto.send(new PutMetricAlarmCommand({ AlarmName: 'victim', MetricName: 'CPU', Namespace: 'AWS/EC2', Statistic: 'Average', Period: 60, EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: 'GreaterThanThreshold' }));
    const s3 = motoS3(moto);
    await s3.send(new CreateBucketCommand({ Bucket: 'victim' }));
    await s3.send(new PutObjectCommand({ Bucket: 'victim', Key: 'key', Body: 'precious' }));
  });

  after(async () => {
    await server?.stop();
    await resigning?.stop();
    await proxy?.close();
    await moto?.stop();
  });

  const victimAlarmExists = async () => ((await cwMoto.send(new DescribeAlarmsCommand({ AlarmNames: ['victim'] }))).MetricAlarms ?? []).length === 1;

  test('control: well-formed calls in each CloudWatch protocol and path-style S3 still pass and are recorded', async () => {
    const cw = new CloudWatchClient({ endpoint: gw, region: 'us-east-1', credentials: alice, maxAttempts: 1 });
    assert.equal((await cw.send(new DescribeAlarmsCommand({ AlarmNames: ['victim'] }))).MetricAlarms?.length, 1);
    const q = await send(gw, { service: 'monitoring', headers: { 'content-type': form }, body: 'Action=DescribeAlarms&Version=2010-08-01&AlarmNames.member.1=victim' });
    assert.equal(q.status, 200, q.body.toString());
    // A gzip body (the SDKs compress large PutMetricData) is decoded as the upstream decodes it.
    const data = await send(gw, { service: 'monitoring', headers: { 'content-type': json10, 'x-amz-target': `${CW_TARGET}.PutMetricData`, 'content-encoding': 'gzip' }, body: gzipSync(JSON.stringify({ Namespace: 'App', MetricData: [{ MetricName: 'Requests', Value: 1 }] })) });
    assert.ok(data.status !== 400, 'forwarded (moto 5.2 itself answers 500 to a gzip JSON body; AWS decodes it)');
    const s3 = new S3Client({ endpoint: gw, region: 'us-east-1', credentials: alice, forcePathStyle: true, maxAttempts: 1 });
    const got = await s3.send(new GetObjectCommand({ Bucket: 'victim', Key: 'key' }));
    assert.equal(await got.Body!.transformToString(), 'precious');
    const names = (await gatewayRecords()).map((r) => r.eventName);
    for (const n of ['DescribeAlarms', 'PutMetricData', 'GetObject']) assert.ok(names.includes(n), `${n} recorded; got ${names.join(', ')}`);
    const put = (await gatewayRecords()).find((r) => r.eventName === 'PutMetricData');
    assert.equal(put?.requestParameters.namespace, 'App', 'the gzip body\'s members are recorded');
  });

  test('gateway.hostnames: a declared dotted name addresses a re-signing gateway path style; a bucket under it does not', async () => {
    const url = resigning.gatewayUrl!;
    const port = new URL(url).port;
    const named = await send(url, { service: 's3', method: 'GET', path: '/victim/key', hosts: [`gw.opentrail.test:${port}`] });
    assert.equal(named.status, 200, named.body.toString());
    assert.equal(named.body.toString(), 'precious');
    const virtual = await send(url, { service: 's3', method: 'GET', path: '/key', hosts: [`victim.gw.opentrail.test:${port}`] });
    assert.equal(virtual.status, 400);
    assert.equal(errorCode(virtual, 's3'), 'InvalidRequest');
  });

  test('awsJson: an Action in the query, a form body, a form hidden in the JSON, an Action header: none runs DeleteAlarms under DescribeAlarms', async (t) => {
    const da = { 'x-amz-target': `${CW_TARGET}.DescribeAlarms`, 'content-type': json10 };
    await refused(t, { service: 'monitoring', query: 'Action=DeleteAlarms&AlarmNames.member.1=victim', headers: da, body: '{}' }, 'json');
    await refused(t, { service: 'monitoring', headers: { ...da, 'content-type': form }, body: 'Action=DeleteAlarms&AlarmNames.member.1=victim' }, 'json');
    await refused(t, { service: 'monitoring', headers: da, body: JSON.stringify({ AlarmNamePrefix: '&Action=DeleteAlarms&AlarmNames.member.1=victim&' }) }, 'json');
    await refused(t, { service: 'monitoring', headers: da, body: JSON.stringify({ AlarmNamePrefix: '&%41ction=DeleteAlarms&' }) }, 'json');
    await refused(t, { service: 'monitoring', headers: da, extra: [['Action', 'DeleteAlarms']] }, 'json');
    // A body of another protocol under the JSON target (no Action in it): the gateway cannot read it,
    // so it goes to the upstream, which decides, and is recorded as UnknownOperation, never under
    // an operation's name (test/gateway-generic.e2e.test.ts).
    await t.test('a form body under a JSON target is passed through as UnknownOperation', async () => {
      const before = (await gatewayRecords()).length;
      const a = await send(gw, { service: 'monitoring', headers: da, body: 'AlarmNames.member.1=victim' });
      assert.doesNotMatch(a.body.toString('utf8'), /AmbiguousRequestException/);
      const added = (await gatewayRecords()).slice(before);
      assert.deepEqual(added.map((r) => r.eventName), ['UnknownOperation']);
      assert.equal(added[0]!.additionalEventData.requestedOperation, `${CW_TARGET}.DescribeAlarms`);
    });
    await refused(t, { service: 'monitoring', headers: { ...da, 'content-type': 'application/cbor' }, body: Buffer.from(cbor.serialize({})) }, 'json');
    // The target's service prefix, the path and the method are part of the reading too.
    await refused(t, { service: 'monitoring', headers: { ...da, 'x-amz-target': 'SomethingElse.DeleteAlarms' }, body: '{}' }, 'json');
    await refused(t, { service: 'monitoring', path: `/service/${CW_TARGET}/operation/DeleteAlarms`, headers: da, body: '{}' }, 'json');
    assert.ok(await victimAlarmExists(), 'the alarm was not deleted');
  });

  test('rpcv2Cbor: smithy-protocol and the path must agree with each other, and with nothing else', async (t) => {
    const path = `/service/${CW_TARGET}/operation/DescribeAlarms`;
    const body = Buffer.from(cbor.serialize({}));
    await refused(t, { service: 'monitoring', path, headers: { 'smithy-protocol': 'rpc-v2-cbor', 'content-type': 'application/cbor', 'x-amz-target': `${CW_TARGET}.DeleteAlarms` }, body }, 'cbor');
    await refused(t, { service: 'monitoring', path, query: 'Action=DeleteAlarms&AlarmNames.member.1=victim', headers: { 'smithy-protocol': 'rpc-v2-cbor', 'content-type': 'application/cbor' }, body }, 'cbor');
    await refused(t, { service: 'monitoring', path, headers: { 'smithy-protocol': 'rpc-v2-cbor', 'content-type': form }, body: 'Action=DeleteAlarms&AlarmNames.member.1=victim' }, 'cbor');
    await refused(t, { service: 'monitoring', path: `/service/Other/operation/DeleteAlarms`, headers: { 'smithy-protocol': 'rpc-v2-cbor', 'content-type': 'application/cbor' }, body }, 'cbor');
    await refused(t, { service: 'monitoring', path: `/service/${CW_TARGET}/operation/DeleteAlarms`, headers: { 'content-type': 'application/cbor' }, body: Buffer.from(cbor.serialize({ AlarmNames: ['victim'] })) }, 'json');
    assert.ok(await victimAlarmExists(), 'the alarm was not deleted');
  });

  test('awsQuery: duplicate, misspelt or split Action and Version parameters, and duplicate members', async (t) => {
    const q = (body: string, extra: Partial<Raw> = {}) => refused(t, { service: 'monitoring', headers: { 'content-type': form }, body, ...extra }, 'query');
    await q('Action=DescribeAlarms&Version=2010-08-01&Action=DeleteAlarms&AlarmNames.member.1=victim');
    await q('Action=DescribeAlarms&Version=2010-08-01&action=DeleteAlarms&AlarmNames.member.1=victim');
    await q('action=DeleteAlarms&Version=2010-08-01&AlarmNames.member.1=victim');
    await q('Action=DescribeAlarms&Version=2010-08-01&%41ction=DeleteAlarms&AlarmNames.member.1=victim');
    await q('Action=DescribeAlarms&Version=2010-08-01', { query: 'Action=DeleteAlarms&AlarmNames.member.1=victim' });
    await q('Action=DescribeAlarms&Version=2010-08-01&AlarmNames.member.1=victim&AlarmNames.member.1=other');
    await q('Action=DescribeAlarms&Version=2099-01-01');
    await refused(t, { service: 'monitoring', method: 'PUT', headers: { 'content-type': 'application/json' }, query: 'Action=DescribeAlarms&Version=2010-08-01', body: '{"AlarmNames":["victim"]}' }, 'query');
    assert.ok(await victimAlarmExists(), 'the alarm was not deleted');
  });

  test('REST (API Gateway): operation selectors of other protocols, method overrides, and paths that route elsewhere once normalised', async (t) => {
    await refused(t, { service: 'apigateway', method: 'GET', path: '/restapis', headers: { 'x-amz-target': 'BackplaneControlService.DeleteRestApi' } }, 'json');
    await refused(t, { service: 'apigateway', method: 'GET', path: '/restapis', query: 'Action=DeleteRestApi' }, 'json');
    await refused(t, { service: 'apigateway', method: 'GET', path: '/restapis/abc', extra: [['X-HTTP-Method-Override', 'DELETE']] }, 'json');
    await refused(t, { service: 'apigateway', method: 'GET', path: '/restapis/abc', query: '_method=DELETE' }, 'json');
    // As sent: DeleteRestApi of 'abc/resources/r1'; decoded before routing: DeleteResource r1 of abc.
    await refused(t, { service: 'apigateway', method: 'DELETE', path: '/restapis/abc%2Fresources%2Fr1' }, 'json');
    await refused(t, { service: 'apigateway', method: 'DELETE', path: '/restapis/abc/stages/..' }, 'json'); // DeleteStage '..' or DeleteRestApi abc
  });

  test('S3: hosts that may name a bucket, duplicate Hosts, x-id naming another call, duplicate query parameters, dot segments, absolute-form targets, fragments, header look-alikes', async (t) => {
    const port = new URL(gw).port;
    // Path style reads DeleteBucket 'key'; virtual-hosted style reads DeleteObject 'key' of bucket 'victim'.
    await refused(t, { service: 's3', method: 'DELETE', path: '/key', hosts: [`victim.localhost:${port}`] }, 's3');
    await refused(t, { service: 's3', method: 'DELETE', path: '/key', hosts: ['victim.s3.amazonaws.com'] }, 's3');
    await refused(t, { service: 's3', method: 'DELETE', path: '/victim/key', hosts: [`localhost.:${port}`] }, 's3');
    await refused(t, { service: 's3', method: 'DELETE', path: '/key', hosts: [`victim.gw.opentrail.test:${port}`] }, 's3');
    // Even a declared name: passed through (no upstream credentials), moto would read bucket 'gw' from it.
    await refused(t, { service: 's3', method: 'GET', path: '/victim/key', hosts: [`gw.opentrail.test:${port}`] }, 's3');
    await refused(t, { service: 's3', method: 'DELETE', path: '/victim/key', hosts: [`gateway.internal:${port}`] }, 's3');
    await refused(t, { service: 's3', method: 'DELETE', path: '/victim/key', hosts: [`127.0.0.1:${port}`, `victim.localhost:${port}`] }, 's3');
    await refused(t, { service: 's3', method: 'PUT', path: '/victim/key', query: 'partNumber=1&uploadId=u&x-id=PutObject', body: 'x' }, 's3');
    await refused(t, { service: 's3', method: 'GET', path: '/victim', query: 'list-type=2&list-type=1' }, 's3');
    // As sent: DeleteObject 'key/..'; with dot segments resolved: DeleteBucket 'victim'.
    await refused(t, { service: 's3', method: 'DELETE', path: '/victim/key/..' }, 's3');
    await refused(t, { service: 's3', method: 'DELETE', path: '/victim/key/%2E%2E' }, 's3');
    // Absolute-form: the gateway would route '/http:/...' while the upstream serves DELETE /victim.
    await refused(t, { service: 's3', method: 'DELETE', path: `http://127.0.0.1:${port}/victim` }, 's3');
    await refused(t, { service: 's3', method: 'PUT', path: '/victim/key#', query: 'acl', body: '<AccessControlPolicy/>' }, 's3');
    await refused(t, { service: 's3', method: 'PUT', path: '/victim/copy', extra: [['x_amz_copy_source', 'victim/key']], body: 'x' }, 's3');
    const s3 = motoS3(moto);
    await s3.send(new HeadBucketCommand({ Bucket: 'victim' }));
    await s3.send(new HeadObjectCommand({ Bucket: 'victim', Key: 'key' }));
  });

  test('a gzip body whose content reads as a form with an Action is refused like the plain one', async (t) => {
    await refused(t, { service: 'monitoring', headers: { 'x-amz-target': `${CW_TARGET}.DescribeAlarms`, 'content-type': json10, 'content-encoding': 'gzip' }, body: gzipSync(JSON.stringify({ AlarmNamePrefix: '&Action=DeleteAlarms&AlarmNames.member.1=victim&' })) }, 'json');
    await refused(t, { service: 'monitoring', headers: { 'x-amz-target': `${CW_TARGET}.DescribeAlarms`, 'content-type': json10, 'content-encoding': 'br' }, body: '{}' }, 'json');
    assert.ok(await victimAlarmExists(), 'the alarm was not deleted');
  });
});
