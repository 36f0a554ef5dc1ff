/**
 * Who may call, end to end: SigV4 failures answered as AWS answers them (SDK, CLI and raw signed
 * requests), the X-Amz-Target forms, unknown and unsupported operations; the bulk ingest endpoint
 * (log-file, NDJSON and gzip bodies, per-record results, RecordTooLarge, AccessDenied, curl);
 * and the first start without a config (bootstrap account and credentials file).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { runAws, type CliResult } from './helpers/cli.ts';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import {
  CloudTrailClient, ListDashboardsCommand, ListChannelsCommand, LookupEventsCommand,
} from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, ACCOUNT_B, cliEnv, cloudTrailClient, startServer, tempDir, type StartedServer, type TestIdentity } from './helpers/server.ts';
import { signedFetch } from './helpers/signed-fetch.ts';
import { waitFor } from './helpers/delivery.ts';

type Json = Record<string, any>;

const ROOT_A = ACCOUNT_A.identities[0]!;
const ALICE = ACCOUNT_A.identities[1]!; // trustedProducer
const BOB = ACCOUNT_A.identities[2]!;
const CAROL = ACCOUNT_B.identities[0]!; // not a producer
const UNKNOWN: TestIdentity = { type: 'IAMUser', userName: 'nobody', accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey: 'whatever' };
const WRONG_SECRET: TestIdentity = { ...ROOT_A, secretAccessKey: 'not-the-secret' };
const TEST_START_MS = Date.now();

const LONG_TARGET = 'com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.';
const SHORT_TARGET = 'CloudTrail_20131101.';
const JSON_11 = 'application/x-amz-json-1.1';



/** The modelled error name the CLI printed, or undefined when it succeeded. */
function cliErrorCode(r: CliResult): string | undefined {
  if (r.code === 0) return undefined;
  return /An error occurred \((\w+)\)/.exec(r.stderr)?.[1] ?? `no AWS error in: ${r.stderr}`;
}

/** Sends through the SDK and returns the error (fails when the call succeeds). */
async function sdkError(p: Promise<unknown>): Promise<Error & { $metadata: { httpStatusCode?: number; attempts?: number; requestId?: string } }> {
  return p.then(() => assert.fail('the call should have failed'), (e) => e);
}

/** SigV4 headers for a request, so tests can alter the request after signing. */
async function signHeaders(url: string, id: TestIdentity, o: { body: string; headers: Record<string, string>; service?: string; region?: string; applyChecksum?: boolean }): Promise<Record<string, string>> {
  const u = new URL(url);
  const signer = new SignatureV4({
    credentials: { accessKeyId: id.accessKeyId, secretAccessKey: id.secretAccessKey, sessionToken: id.sessionToken },
    region: o.region ?? 'us-east-1', service: o.service ?? 'cloudtrail', sha256: Sha256, applyChecksum: o.applyChecksum ?? false,
  });
  const signed = await signer.sign({ method: 'POST', protocol: u.protocol, hostname: u.hostname, port: Number(u.port), path: u.pathname, query: {}, headers: { host: u.host, ...o.headers }, body: o.body });
  return signed.headers as Record<string, string>;
}

async function expectAwsError(res: Response, name: string, status: number): Promise<Json> {
  const text = await res.text();
  assert.equal(res.status, status, `${name}: ${text}`);
  assert.equal(res.headers.get('x-amzn-errortype'), name);
  const body = JSON.parse(text) as Json;
  assert.equal(body.__type, name);
  assert.equal(typeof body.message, 'string');
  assert.ok(body.message.length > 0);
  return body;
}

async function readLog(url: string, id: TestIdentity): Promise<Json[]> {
  const out: Json[] = [];
  let after = 0;
  for (;;) {
    const res = await signedFetch(`${url}/events?after=${after}&limit=1000`, id);
    assert.equal(res.status, 200);
    const page = (await res.json()) as { events: { seq: number; record: Json }[]; next: number };
    if (page.events.length === 0) return out;
    out.push(...page.events.map((e) => e.record));
    after = page.next;
  }
}

function record(n: number | string, extra: Json = {}): Json {
  return {
    eventVersion: '1.09',
    userIdentity: { type: 'IAMUser', principalId: 'AIDAEXAMPLEEXAMPLE01', arn: 'arn:aws:iam::111111111111:user/ops', accountId: '111111111111', accessKeyId: 'AKIAOPSEXAMPLE000001', userName: 'ops' },
    eventTime: new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().replace('.000Z', 'Z'),
    eventSource: 'ec2.amazonaws.com',
    eventName: 'RunInstances',
    awsRegion: 'us-east-1',
    sourceIPAddress: '198.51.100.1',
    userAgent: 'test',
    requestParameters: { n },
    responseElements: null,
    eventID: `auth-test-${n}-${TEST_START_MS}`,
    recipientAccountId: ACCOUNT_A.id,
    ...extra,
  };
}

describe('SigV4 and the CloudTrail endpoint', () => {
  let server: StartedServer;
  const clients: CloudTrailClient[] = [];
  const client = (id: TestIdentity, region = 'us-east-1', extra: Record<string, unknown> = {}) => {
    const c = cloudTrailClient(server.url, id, region, extra);
    clients.push(c);
    return c;
  };
  const cli = (args: string[], id: TestIdentity, region = 'us-east-1') => runAws([...args, '--endpoint-url', server.url, '--output', 'json'], cliEnv(id, region));

  before(async () => {
    server = await startServer({ accounts: [ACCOUNT_A, ACCOUNT_B], ingest: { maxBodyBytes: 1024 * 1024 } });
  });
  after(async () => {
    for (const c of clients) c.destroy();
    await server?.stop();
  });

  test('unknown access key: UnrecognizedClientException 403 (SDK and CLI)', async () => {
    const [err, viaCli] = await Promise.all([sdkError(client(UNKNOWN).send(new LookupEventsCommand({}))), cli(['cloudtrail', 'lookup-events'], UNKNOWN)]);
    assert.equal(err.name, 'UnrecognizedClientException');
    assert.equal(err.$metadata.httpStatusCode, 403);
    assert.equal(cliErrorCode(viaCli), 'UnrecognizedClientException');
  });

  test('wrong secret: SignatureDoesNotMatch 403 (SDK and CLI)', async () => {
    const [err, viaCli] = await Promise.all([sdkError(client(WRONG_SECRET).send(new LookupEventsCommand({}))), cli(['cloudtrail', 'lookup-events'], WRONG_SECRET)]);
    assert.equal(err.name, 'SignatureDoesNotMatch');
    assert.equal(err.$metadata.httpStatusCode, 403);
    assert.equal(cliErrorCode(viaCli), 'SignatureDoesNotMatch');
  });

  test('an assumed-role key without its session token, or with another one: UnrecognizedClientException 403', async () => {
    for (const sessionToken of [undefined, 'other-token']) {
      const err = await sdkError(client({ ...BOB, sessionToken }).send(new LookupEventsCommand({})));
      assert.equal(err.name, 'UnrecognizedClientException', `token ${sessionToken}`);
      assert.equal(err.$metadata.httpStatusCode, 403);
    }
    // With it, the same key works, from the SDK and the CLI.
    await client(BOB).send(new LookupEventsCommand({ MaxResults: 1 }));
    assert.equal(cliErrorCode(await cli(['cloudtrail', 'list-channels'], BOB)), undefined);
  });

  test('request altered after signing: SignatureDoesNotMatch 403', async () => {
    const body = '{"MaxResults":1}';
    const headers = { 'content-type': JSON_11, 'x-amz-target': `${SHORT_TARGET}LookupEvents` };
    const signed = await signHeaders(`${server.url}/`, ROOT_A, { body, headers });
    // As signed: fine.
    assert.equal((await fetch(`${server.url}/`, { method: 'POST', headers: signed, body })).status, 200);
    await expectAwsError(await fetch(`${server.url}/`, { method: 'POST', headers: signed, body: '{"MaxResults":2}' }), 'SignatureDoesNotMatch', 403);
    await expectAwsError(await fetch(`${server.url}/`, { method: 'POST', headers: { ...signed, 'x-amz-target': `${SHORT_TARGET}ListChannels` }, body }), 'SignatureDoesNotMatch', 403);
    const auth = signed.authorization!;
    await expectAwsError(await fetch(`${server.url}/`, { method: 'POST', headers: { ...signed, authorization: auth.replace(/Signature=([0-9a-f])/, (_m, c: string) => `Signature=${c === '0' ? '1' : '0'}`) }, body }), 'SignatureDoesNotMatch', 403);
    await expectAwsError(await fetch(`${server.url}/`, { method: 'POST', headers: { ...signed, authorization: 'AWS4-HMAC-SHA256 Credential=AKIAROOTAAAAAAAAAAAA' }, body }), 'IncompleteSignatureException', 400);
  });

  test('clock skew beyond 15 minutes: RequestExpired 400; the SDK recovers through the Date header', async () => {
    for (const offset of [-3600_000, 3600_000]) {
      const err = await sdkError(client(ROOT_A, 'us-east-1', { systemClockOffset: offset, maxAttempts: 1 }).send(new LookupEventsCommand({})));
      assert.equal(err.name, 'RequestExpired', `offset ${offset}: ${err.message}`);
      assert.equal(err.$metadata.httpStatusCode, 400);
      assert.equal(err.$metadata.attempts, 1);
    }
    // Within 15 minutes is fine.
    await client(ROOT_A, 'us-east-1', { systemClockOffset: -10 * 60_000 }).send(new LookupEventsCommand({ MaxResults: 1 }));

    // A client configured with a wrong offset (its machine clock is right): the failed call does
    // not count as a skew to retry, but the SDK adopts the server's Date header, so the next call
    // with the same client succeeds.
    const configured = client(ROOT_A, 'us-east-1', { systemClockOffset: -3600_000, maxAttempts: 3 });
    const first = await sdkError(configured.send(new LookupEventsCommand({ MaxResults: 1 })));
    assert.equal(first.name, 'RequestExpired');
    const offset = (configured.config as unknown as { systemClockOffset: number }).systemClockOffset;
    assert.ok(Math.abs(offset) < 60_000, `offset corrected from the Date header: ${offset}`);
    const second = await configured.send(new LookupEventsCommand({ MaxResults: 1 }));
    assert.equal(second.$metadata.httpStatusCode, 200);

    // A machine whose clock is an hour slow: maxAttempts 1 fails; with maxAttempts 3 the SDK
    // corrects the skew from the server's Date header and its retry succeeds.
    const realNow = Date.now;
    Date.now = () => realNow() - 3600_000;
    try {
      const once = await sdkError(client(ROOT_A, 'us-east-1', { maxAttempts: 1 }).send(new LookupEventsCommand({ MaxResults: 1 })));
      assert.equal(once.name, 'RequestExpired');
      const out = await client(ROOT_A, 'us-east-1', { maxAttempts: 3 }).send(new LookupEventsCommand({ MaxResults: 1 }));
      assert.equal(out.$metadata.httpStatusCode, 200);
      assert.equal(out.$metadata.attempts, 2, 'succeeded on the retry');
    } finally {
      Date.now = realNow;
    }

    // Raw signed requests to /ingest: 20 minutes old is expired, 10 is not.
    const body = JSON.stringify({ Records: [] });
    const old = await signedFetch(`${server.url}/ingest`, ALICE, { body, signingDateMs: Date.now() - 20 * 60_000 });
    await expectAwsError(old, 'RequestExpired', 400);
    const future = await signedFetch(`${server.url}/ingest`, ALICE, { body, signingDateMs: Date.now() + 20 * 60_000 });
    await expectAwsError(future, 'RequestExpired', 400);
    const recent = await signedFetch(`${server.url}/ingest`, ALICE, { body, signingDateMs: Date.now() - 10 * 60_000 });
    assert.equal(recent.status, 200);
  });

  test('missing Authorization: MissingAuthenticationTokenException 403', async () => {
    const res = await fetch(`${server.url}/`, { method: 'POST', headers: { 'content-type': JSON_11, 'x-amz-target': `${SHORT_TARGET}LookupEvents` }, body: '{}' });
    await expectAwsError(res, 'MissingAuthenticationTokenException', 403);
    await expectAwsError(await fetch(`${server.url}/ingest`, { method: 'POST', body: '[]' }), 'MissingAuthenticationTokenException', 403);
    await expectAwsError(await fetch(`${server.url}/events?after=0`), 'MissingAuthenticationTokenException', 403);
    await expectAwsError(await fetch(`${server.url}/PutAuditEvents?channelArn=x`, { method: 'POST', body: '{}' }), 'MissingAuthenticationTokenException', 403);
  });

  test('a credential scoped to another service: SignatureDoesNotMatch 403', async () => {
    const headers = { 'content-type': JSON_11, 'x-amz-target': `${SHORT_TARGET}LookupEvents` };
    for (const service of ['opentrail', 'cloudtrail-data', 's3']) {
      const res = await signedFetch(`${server.url}/`, ROOT_A, { body: '{}', headers, service });
      await expectAwsError(res, 'SignatureDoesNotMatch', 403);
    }
    await expectAwsError(await signedFetch(`${server.url}/ingest`, ALICE, { body: '[]', service: 'cloudtrail-data' }), 'SignatureDoesNotMatch', 403);
    await expectAwsError(await signedFetch(`${server.url}/PutAuditEvents?channelArn=x`, ROOT_A, { body: '{}', service: 'cloudtrail' }), 'SignatureDoesNotMatch', 403);
    // Both names are accepted for the bulk endpoint.
    for (const service of ['opentrail', 'cloudtrail']) {
      assert.equal((await signedFetch(`${server.url}/ingest`, ALICE, { body: '[]', service })).status, 200, service);
    }
  });

  test('a region the server does not serve: SignatureDoesNotMatch 403 (SDK, CLI, raw)', async () => {
    const err = await sdkError(client(ROOT_A, 'ap-south-1').send(new LookupEventsCommand({})));
    assert.equal(err.name, 'SignatureDoesNotMatch');
    assert.equal(err.$metadata.httpStatusCode, 403);
    assert.match(err.message, /ap-south-1/);
    assert.equal(cliErrorCode(await cli(['cloudtrail', 'lookup-events'], ROOT_A, 'ap-south-1')), 'SignatureDoesNotMatch');
    await expectAwsError(await signedFetch(`${server.url}/ingest`, ALICE, { body: '[]', region: 'ap-south-1' }), 'SignatureDoesNotMatch', 403);
    // Every served region works.
    for (const region of ['us-east-1', 'us-west-2', 'eu-west-1']) await client(ROOT_A, region).send(new LookupEventsCommand({ MaxResults: 1 }));
  });

  test('X-Amz-Target: the long and the short form both reach the operation', async () => {
    const since = new Date(Date.now() - 1000);
    const ids: string[] = [];
    for (const prefix of [LONG_TARGET, SHORT_TARGET]) {
      const res = await signedFetch(`${server.url}/`, ROOT_A, { body: '{"MaxResults":3}', headers: { 'content-type': JSON_11, 'x-amz-target': `${prefix}LookupEvents` }, service: 'cloudtrail', region: 'us-west-2' });
      assert.equal(res.status, 200, prefix);
      assert.match(res.headers.get('content-type') ?? '', /^application\/x-amz-json-1\.1/);
      const requestId = res.headers.get('x-amzn-requestid');
      assert.ok(requestId);
      ids.push(requestId);
      const body = (await res.json()) as Json;
      assert.ok(Array.isArray(body.Events), prefix);
      assert.ok(body.Events.length <= 3);
    }
    // Both calls were recorded as LookupEvents.
    // A read's record is committed just after its answer (selfAudit.readRecords after-answer).
    let recorded: string[] = [];
    await waitFor(async () => {
      const out = await client(ROOT_A, 'us-west-2').send(new LookupEventsCommand({ StartTime: since, LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'LookupEvents' }] }));
      recorded = out.Events!.map((e) => JSON.parse(e.CloudTrailEvent!).requestID);
      return ids.every((id) => recorded.includes(id));
    }, 5000, 'the calls\' records', 50);
    for (const id of ids) assert.ok(recorded.includes(id), `request ${id} recorded`);
  });

  test('unknown operation: UnknownOperationException 400', async () => {
    for (const target of [`${SHORT_TARGET}Frobnicate`, `${LONG_TARGET}Frobnicate`, 'Foo_20131101.LookupEvents', 'LookupEvents', `${SHORT_TARGET}lookupEvents`]) {
      const res = await signedFetch(`${server.url}/`, ROOT_A, { body: '{}', headers: { 'content-type': JSON_11, 'x-amz-target': target }, service: 'cloudtrail' });
      await expectAwsError(res, 'UnknownOperationException', 400);
    }
    await expectAwsError(await signedFetch(`${server.url}/`, ROOT_A, { body: '{}', headers: { 'content-type': JSON_11 }, service: 'cloudtrail' }), 'UnknownOperationException', 400);
    await expectAwsError(await signedFetch(`${server.url}/nowhere`, ROOT_A, { body: '{}' }), 'UnknownOperationException', 404);
  });

  test('an operation of the model not built yet: UnsupportedOperationException 400, and it is audited', async () => {
    const err = await sdkError(client(ROOT_A, 'eu-west-1').send(new ListDashboardsCommand({})));
    assert.equal(err.name, 'UnsupportedOperationException');
    assert.equal(err.$metadata.httpStatusCode, 400);
    assert.equal(cliErrorCode(await cli(['cloudtrail', 'list-dashboards'], ROOT_A, 'eu-west-1')), 'UnsupportedOperationException');
    // A read's record is committed just after its answer, with the other reads' of the next 20 ms
    // (selfAudit.readRecords after-answer): the CLI call's may take a moment to show.
    let recs: { requestID: string; userAgent: string; errorCode: string; readOnly: boolean; responseElements: unknown }[] = [];
    await waitFor(async () => {
      const out = await client(ROOT_A, 'eu-west-1').send(new LookupEventsCommand({ StartTime: new Date(TEST_START_MS), LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'ListDashboards' }] }));
      recs = out.Events!.map((e) => JSON.parse(e.CloudTrailEvent!) as (typeof recs)[number]);
      return recs.length >= 2;
    }, 5000, 'the two calls\' records', 50);
    assert.equal(recs.length, 2, 'the SDK call and the CLI call');
    for (const r of recs) {
      assert.equal(r.errorCode, 'UnsupportedOperationException');
      assert.equal(r.readOnly, true);
      assert.equal(r.responseElements, null);
    }
    assert.ok(recs.some((r) => r.requestID === err.$metadata.requestId));
    assert.ok(recs.some((r) => /aws-cli/.test(r.userAgent)));
  });

  describe('bulk ingest (/ingest)', () => {
    const ingest = async (id: TestIdentity, body: string | Buffer, headers: Record<string, string> = {}, region = 'us-east-1') => {
      const res = await signedFetch(`${server.url}/ingest`, id, { body, headers, region });
      const text = await res.text();
      assert.equal(res.status, 200, text);
      return JSON.parse(text) as { accepted: number; duplicates: number; rejected: number; results: Json[] };
    };
    const logIds = async (id: TestIdentity) => new Set((await readLog(server.url, id)).map((r) => r.eventID));

    test('a CloudTrail log-file body and a JSON array', async () => {
      const r1 = record('file-1');
      const r2 = record('file-2', { eventName: 'DescribeInstances', readOnly: undefined });
      const out = await ingest(ALICE, JSON.stringify({ Records: [r1, r2] }), { 'content-type': 'application/json' });
      assert.deepEqual(out, { accepted: 2, duplicates: 0, rejected: 0, notInEventHistory: 0, results: [{ status: 'accepted', eventID: r1.eventID }, { status: 'accepted', eventID: r2.eventID }] });
      const arr = await ingest(ALICE, JSON.stringify([record('array-1')]), { 'content-type': 'application/json' });
      assert.deepEqual(arr.results, [{ status: 'accepted', eventID: record('array-1').eventID }]);
      // Sent again: duplicates, and nothing stored twice.
      const again = await ingest(ALICE, JSON.stringify({ Records: [r1, r2] }));
      assert.deepEqual(again, { accepted: 0, duplicates: 2, rejected: 0, notInEventHistory: 0, results: [{ status: 'duplicate', eventID: r1.eventID }, { status: 'duplicate', eventID: r2.eventID }] });
      const log = await readLog(server.url, ALICE);
      assert.equal(log.filter((r) => r.eventID === r1.eventID).length, 1);
      const stored = log.find((r) => r.eventID === r2.eventID)!;
      assert.deepEqual(Object.keys(stored).slice(0, 6), ['eventVersion', 'userIdentity', 'eventTime', 'eventSource', 'eventName', 'awsRegion'], 'CloudTrail field order');
      assert.equal(stored.eventVersion, '1.09', 'eventVersion kept');
      assert.equal(stored.readOnly, true, 'DescribeInstances is a read');
      assert.equal(stored.eventCategory, 'Management');
      assert.equal(stored.managementEvent, true);
      assert.equal(typeof stored.requestID, 'string');
      // Management records are in Event history at once.
      const h = await client(ROOT_A).send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventId', AttributeValue: r2.eventID }] }));
      assert.equal(h.Events?.length, 1);
      assert.equal(h.Events![0]!.ReadOnly, 'true');
    });

    test('NDJSON with one broken line: that line is rejected, the others kept', async () => {
      const lines = [JSON.stringify(record('nd-1')), '{"eventVersion": "1.08", "eventSource":', JSON.stringify(record('nd-3')), JSON.stringify(record('nd-4'))];
      const out = await ingest(ALICE, lines.join('\n') + '\n', { 'content-type': 'application/x-ndjson' });
      assert.equal(out.results.length, 4);
      assert.deepEqual(out.results.map((r) => r.status), ['accepted', 'rejected', 'accepted', 'accepted']);
      assert.equal(out.results[1]!.errorCode, 'InvalidJson');
      assert.deepEqual([out.accepted, out.duplicates, out.rejected], [3, 0, 1]);
      const ids = await logIds(ALICE);
      for (const n of ['nd-1', 'nd-3', 'nd-4']) assert.ok(ids.has(record(n).eventID), n);
    });

    test('gzip bodies: with Content-Encoding and sniffed without it; bad gzip and unknown encodings refused', async () => {
      const a = gzipSync(JSON.stringify({ Records: [record('gz-header')] }));
      const b = gzipSync([record('gz-sniffed-1'), record('gz-sniffed-2')].map((r) => JSON.stringify(r)).join('\n'));
      assert.deepEqual((await ingest(ALICE, a, { 'content-encoding': 'gzip', 'content-type': 'application/json' })).results, [{ status: 'accepted', eventID: record('gz-header').eventID }]);
      const sniffed = await ingest(ALICE, b, { 'content-type': 'application/x-ndjson' });
      assert.deepEqual(sniffed.results.map((r) => r.status), ['accepted', 'accepted']);
      const ids = await logIds(ALICE);
      for (const n of ['gz-header', 'gz-sniffed-1', 'gz-sniffed-2']) assert.ok(ids.has(record(n).eventID), n);
      const broken = await signedFetch(`${server.url}/ingest`, ALICE, { body: Buffer.concat([a.subarray(0, 10), Buffer.from('garbage')]), headers: { 'content-encoding': 'gzip' } });
      await expectAwsError(broken, 'SerializationException', 400);
      const br = await signedFetch(`${server.url}/ingest`, ALICE, { body: '[]', headers: { 'content-encoding': 'br' } });
      await expectAwsError(br, 'SerializationException', 400);
      const notJson = await signedFetch(`${server.url}/ingest`, ALICE, { body: '{"Records": [', headers: { 'content-type': 'application/json' } });
      await expectAwsError(notJson, 'SerializationException', 400);
    });

    test('a 300 KB record is RecordTooLarge; the rest of the batch is kept', async () => {
      const big = record('big', { requestParameters: { blob: 'x'.repeat(300 * 1024) } });
      const out = await ingest(ALICE, JSON.stringify({ Records: [record('small-1'), big, record('small-2')] }));
      assert.deepEqual(out.results.map((r) => r.status), ['accepted', 'rejected', 'accepted']);
      assert.equal(out.results[1]!.errorCode, 'RecordTooLarge');
      assert.match(out.results[1]!.errorMessage, /262144|256/);
      const ids = await logIds(ALICE);
      assert.ok(ids.has(record('small-1').eventID) && ids.has(record('small-2').eventID));
      assert.ok(!ids.has(big.eventID));
      // A body over the configured limit (1 MiB here) is refused whole.
      const huge = await signedFetch(`${server.url}/ingest`, ALICE, { body: JSON.stringify({ Records: [record('huge', { requestParameters: { blob: 'y'.repeat(1100 * 1024) } })] }) });
      await expectAwsError(huge, 'RequestEntityTooLargeException', 413);
    });

    test('AccessDenied: a caller that is not a trusted producer writes only its own account', async () => {
      const own = record('carol-own', { recipientAccountId: ACCOUNT_B.id });
      const theirs = record('carol-into-a');
      const { recipientAccountId: _drop, awsRegion: _drop2, ...bare } = record('carol-bare');
      const out = await ingest(CAROL, JSON.stringify({ Records: [own, theirs, bare] }), {}, 'us-west-2');
      assert.deepEqual(out.results.map((r) => r.status), ['accepted', 'rejected', 'accepted']);
      assert.equal(out.results[1]!.errorCode, 'AccessDenied');
      assert.match(out.results[1]!.errorMessage, /222222222222|111111111111/);
      const carolLog = await readLog(server.url, CAROL);
      const bareStored = carolLog.find((r) => r.eventID === bare.eventID)!;
      assert.equal(bareStored.recipientAccountId, ACCOUNT_B.id, 'missing recipientAccountId: the caller\'s account');
      assert.equal(bareStored.awsRegion, 'us-west-2', 'missing awsRegion: the signing region');
      assert.ok(carolLog.some((r) => r.eventID === own.eventID));
      assert.ok(!(await logIds(ALICE)).has(theirs.eventID), 'nothing written into account A');
      // A trusted producer may write into another account.
      const alice = await ingest(ALICE, JSON.stringify([record('alice-into-b', { recipientAccountId: ACCOUNT_B.id })]));
      assert.deepEqual(alice.results.map((r) => r.status), ['accepted']);
      assert.ok((await logIds(CAROL)).has(record('alice-into-b').eventID));
    });

    test('each bulk call is audited as an IngestEvents data event, not in Event history', async () => {
      const res = await signedFetch(`${server.url}/ingest`, ALICE, { body: [record('audit-1'), record('audit-2')].map((r) => JSON.stringify(r)).join('\n') + '\nnot json\n' });
      assert.equal(res.status, 200);
      const requestId = res.headers.get('x-amzn-requestid');
      assert.ok(requestId);
      const out = (await res.json()) as Json;
      assert.deepEqual([out.accepted, out.rejected], [2, 1]);
      const log = await readLog(server.url, ALICE);
      const calls = log.filter((r) => r.requestID === requestId);
      assert.equal(calls.length, 1, 'the call is recorded once, under its request id');
      assert.equal(calls[0]!.eventName, 'IngestEvents');
      assert.deepEqual(calls[0]!.requestParameters, { recordCount: 3 });
      const c = calls[0]!;
      assert.equal(c.eventSource, 'cloudtrail.amazonaws.com');
      assert.equal(c.eventCategory, 'Data');
      assert.equal(c.managementEvent, false);
      assert.deepEqual(c.responseElements, { accepted: 2, duplicates: 0, rejected: 1 });
      assert.equal(c.userIdentity.userName, 'alice');
      assert.equal(c.userIdentity.accessKeyId, ALICE.accessKeyId);
      const h = await client(ROOT_A).send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'IngestEvents' }] }));
      assert.deepEqual(h.Events, []);
    });

    test('curl --aws-sigv4 can post NDJSON', async () => {
      const file = join(tempDir('opentrail-curl-'), 'batch.ndjson');
      writeFileSync(file, [record('curl-1'), record('curl-2')].map((r) => JSON.stringify(r)).join('\n') + '\n');
      const { code, stdout, stderr } = await new Promise<CliResult>((resolve) => {
        execFile('curl', ['-sS', '--fail-with-body', '--aws-sigv4', 'aws:amz:us-east-1:opentrail', '--user', `${ALICE.accessKeyId}:${ALICE.secretAccessKey}`,
          '--data-binary', `@${file}`, '-H', 'content-type: application/x-ndjson', `${server.url}/ingest`], { timeout: 30_000 }, (err, out, errOut) => {
          resolve({ code: err ? 1 : 0, stdout: out, stderr: errOut });
        });
      });
      assert.equal(code, 0, `curl failed: ${stderr} ${stdout}`);
      const out = JSON.parse(stdout) as Json;
      assert.deepEqual(out.results, [{ status: 'accepted', eventID: record('curl-1').eventID }, { status: 'accepted', eventID: record('curl-2').eventID }]);
      const ids = await logIds(ALICE);
      assert.ok(ids.has(record('curl-1').eventID) && ids.has(record('curl-2').eventID));
      // curl with a wrong secret is refused.
      const bad = await new Promise<string>((resolve) => {
        execFile('curl', ['-sS', '--aws-sigv4', 'aws:amz:us-east-1:opentrail', '--user', `${ALICE.accessKeyId}:wrong`, '--data-binary', `@${file}`, `${server.url}/ingest`], (_e, out) => resolve(out));
      });
      assert.equal(JSON.parse(bad).__type, 'SignatureDoesNotMatch');
    });
  });
});

/** The startup banner is printed in several writes: wait for its last line. */
async function banner(s: StartedServer): Promise<string> {
  const deadline = Date.now() + 10_000;
  while (!/^\s*data: /m.test(s.output())) {
    assert.ok(Date.now() < deadline, `no complete banner:\n${s.output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return s.output();
}

describe('first start without a config', () => {
  const cleanEnv = (): Record<string, string> => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('AWS_')) env[k] = v;
    return { ...env, AWS_CONFIG_FILE: '/dev/null', AWS_PAGER: '', AWS_MAX_ATTEMPTS: '1' };
  };

  test('bootstrap account, credentials file usable by the AWS CLI, secret never printed, kept across restarts', async () => {
    const dataDir = tempDir();
    const first = await startServer(undefined, { noConfig: true, dataDir });
    let second: StartedServer | undefined;
    try {
      const out = await banner(first);
      const account = /account (\d{12}): Root \((AKIA[A-Z0-9]{16})\)/.exec(out);
      assert.ok(account, `the output names the account and its key:\n${out}`);
      const [, accountId, accessKeyId] = account as unknown as [string, string, string];
      assert.match(out, /regions: us-east-1, us-west-2, eu-west-1/);
      const cred = /credentials: (\S+) \(profile opentrail; created now\)/.exec(out);
      assert.ok(cred, `the output names the credentials file:\n${out}`);
      const credentialsFile = cred[1]!;
      assert.ok(credentialsFile.startsWith(dataDir), 'inside the data dir');
      assert.equal(statSync(credentialsFile).mode & 0o777, 0o600, 'readable by the owner only');
      const text = readFileSync(credentialsFile, 'utf8');
      assert.match(text, /^\[opentrail\]$/m);
      assert.equal(/^aws_access_key_id = (\S+)$/m.exec(text)?.[1], accessKeyId);
      const secret = /^aws_secret_access_key = (\S+)$/m.exec(text)?.[1];
      assert.ok(secret && secret.length >= 20);
      assert.ok(!out.includes(secret), 'the secret is not in the server output');

      // The line the server suggests works as printed.
      const tryLine = /try: (.*)$/m.exec(out)?.[1];
      assert.ok(tryLine, 'the output suggests a command');
      const words = tryLine.trim().split(/\s+/);
      const env = cleanEnv();
      while (/^[A-Z_]+=/.test(words[0]!)) {
        const [k, ...v] = words.shift()!.split('=');
        env[k!] = v.join('=');
      }
      assert.equal(env.AWS_SHARED_CREDENTIALS_FILE, credentialsFile);
      assert.equal(env.AWS_PROFILE, 'opentrail');
      assert.equal(words.shift(), 'aws');
      assert.ok(words.includes(first.url), 'the suggestion names the server URL');
      const r1 = await runAws([...words, '--output', 'json'], env);
      assert.equal(r1.code, 0, r1.stderr);
      assert.ok(Array.isArray(JSON.parse(r1.stdout).Events));
      // The CLI call was the bootstrap root, recorded in the bootstrap account.
      const r2 = await runAws([...words, '--output', 'json', '--lookup-attributes', 'AttributeKey=EventName,AttributeValue=LookupEvents'], env);
      assert.equal(r2.code, 0, r2.stderr);
      const events = JSON.parse(r2.stdout).Events as Json[];
      assert.equal(events.length, 1, 'the first CLI call');
      const rec = JSON.parse(events[0]!.CloudTrailEvent);
      assert.deepEqual(rec.userIdentity, { type: 'Root', principalId: accountId, arn: `arn:aws:iam::${accountId}:root`, accountId, accessKeyId });
      assert.equal(rec.recipientAccountId, accountId);
      assert.equal(events[0]!.Username, 'root');
      // The key is the one the SDK can use too; a wrong secret still fails.
      const sdk = cloudTrailClient(first.url, { type: 'Root', accessKeyId, secretAccessKey: secret }, 'us-east-1');
      await sdk.send(new ListChannelsCommand({}));
      sdk.destroy();

      assert.equal(await first.stop(), 0, 'clean shutdown');
      second = await startServer(undefined, { noConfig: true, dataDir });
      const out2 = await banner(second);
      assert.match(out2, new RegExp(`account ${accountId}: Root \\(${accessKeyId}\\)`), 'same account and key after a restart');
      assert.match(out2, /credentials: \S+ \(profile opentrail; created on first start\)/);
      assert.ok(!out2.includes(secret));
      assert.equal(readFileSync(credentialsFile, 'utf8'), text, 'the credentials file is unchanged');
      const again = await runAws([...words.map((w) => (w === first.url ? second!.url : w)), '--output', 'json', '--lookup-attributes', 'AttributeKey=EventName,AttributeValue=LookupEvents'], env);
      assert.equal(again.code, 0, again.stderr);
      const ids = (JSON.parse(again.stdout).Events as Json[]).map((e) => e.EventId);
      assert.ok(ids.includes(events[0]!.EventId), 'history survived the restart');
      assert.equal(ids.length, 2, 'the two CLI lookups before the restart');
    } finally {
      await first.stop();
      await second?.stop();
    }
  });
});
