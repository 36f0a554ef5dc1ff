/**
 * The server's log is JSON lines: one per request (request id, account, operation, status,
 * duration) and one per background failure with its component and cause; `logLevel` decides what
 * is written. Secret keys, session tokens and SigV4 signatures never appear in it: real signed
 * requests (with a session token), failing ones (wrong secret, wrong token, a presigned-style
 * query) and a webhook with an Authorization header that fails are made, then the whole output is
 * searched for every secret, token and signature sent. Also: `metrics.port` and `metrics.enabled`.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CreateTrailCommand, LookupEventsCommand, StartLoggingCommand, type CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_B, cloudTrailClient, startServer, tempDir, type StartedServer, type TestAccount, type TestConfig } from './helpers/server.ts';
import { signRequest } from './helpers/signed-fetch.ts';
import { freePort } from './helpers/moto.ts';
import { ingest, sleep, traffic, waitFor } from './helpers/delivery.ts';
import { runOpentrail } from './helpers/cli.ts';

const SECRET_ROLE = 'sEcReT-role-never-logged-7f3a9c';
const TOKEN = 'ToKeN-never-logged-b81e55d0';
const SECRET_USER = 'sEcReT-user-never-logged-29d4';
const HOOK_AUTH = 'Bearer hook-secret-never-logged-5c1';

const ACCOUNT: TestAccount = {
  id: '333333333333',
  identities: [
    { type: 'AssumedRole', roleName: 'Ops', sessionName: 'eve', accessKeyId: 'ASIAEVELOGSAAAAAAAAA', secretAccessKey: SECRET_ROLE, sessionToken: TOKEN, sessionCreationDate: '2026-01-02T03:04:05Z' },
    { type: 'IAMUser', userName: 'frank', accessKeyId: 'AKIAFRANKLOGSAAAAAAA', secretAccessKey: SECRET_USER, trustedProducer: true },
  ],
};
const ROLE = ACCOUNT.identities[0]!;
const USER = ACCOUNT.identities[1]!;

const servers: StartedServer[] = [];
const clients: CloudTrailClient[] = [];
after(async () => {
  for (const c of clients) c.destroy();
  for (const s of servers) await s.stop();
});

/** A client that hands every signature it sends to `sigs`. */
function capturing(url: string, id: typeof ROLE, sigs: string[]): CloudTrailClient {
  const c = cloudTrailClient(url, id);
  c.middlewareStack.add((next) => async (args) => {
    const auth = String((args.request as { headers: Record<string, string> }).headers.authorization ?? '');
    const sig = /Signature=([0-9a-f]{64})/.exec(auth)?.[1];
    if (sig) sigs.push(sig);
    return next(args);
  }, { step: 'deserialize', name: 'captureSignature' });
  clients.push(c);
  return c;
}

type Line = Record<string, unknown>;

function jsonLines(output: string): Line[] {
  return output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
}

test('one JSON line per request and per background failure; no secret, token or signature anywhere in the output', async () => {
  const dataDir = tempDir();
  mkdirSync(join(dataDir, 'buckets', 'logs-bucket'), { recursive: true });
  const deadPort = await freePort();
  const server = await startServer({
    accounts: [ACCOUNT, ACCOUNT_B],
    delivery: { maxAgeMs: 200, pollMs: 50 },
    webhooks: [{ url: `http://127.0.0.1:${deadPort}/hook`, headers: { authorization: HOOK_AUTH }, timeoutMs: 500 }],
  } as TestConfig, { dataDir });
  servers.push(server);
  const sigs: string[] = [];

  // Signed and answered: the CloudTrail API with a session token, bulk ingest with an IAM user.
  const ct = capturing(server.url, ROLE, sigs);
  const answered = await ct.send(new LookupEventsCommand({}));
  await ct.send(new CreateTrailCommand({ Name: 'logged', S3BucketName: 'logs-bucket' }));
  await ct.send(new StartLoggingCommand({ Name: 'logged' }));
  const body = JSON.stringify({ Records: traffic(5, { accounts: [ACCOUNT.id], regions: ['us-east-1'] }) });
  const signed = await signRequest(`${server.url}/ingest`, USER, { body, headers: { 'content-type': 'application/json' } });
  sigs.push(/Signature=([0-9a-f]{64})/.exec(signed.headers.authorization!)![1]!);
  assert.equal((await fetch(`${server.url}/ingest`, { method: 'POST', headers: signed.headers, body })).status, 200);

  // Refused: a wrong secret, a wrong session token, a presigned-style query with a signature and token in it.
  const wrongSecret = capturing(server.url, { ...ROLE, secretAccessKey: `${SECRET_ROLE}-wrong` }, sigs);
  await assert.rejects(wrongSecret.send(new LookupEventsCommand({})), (e: Error) => e.name === 'SignatureDoesNotMatch' || e.name === 'InvalidSignatureException');
  const wrongToken = capturing(server.url, { ...ROLE, sessionToken: `${TOKEN}-other` }, sigs);
  await assert.rejects(wrongToken.send(new LookupEventsCommand({})));
  const querySig = 'ab'.repeat(32);
  sigs.push(querySig);
  const presigned = await fetch(`${server.url}/events?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${ROLE.accessKeyId}%2F20260101%2Fus-east-1%2Fopentrail%2Faws4_request&X-Amz-Signature=${querySig}&X-Amz-Security-Token=${TOKEN}`);
  assert.ok(presigned.status >= 400 && presigned.status < 500, `presigned-style query answered ${presigned.status}`);
  assert.ok(sigs.length >= 5, `signatures captured: ${sigs.length}`);

  // A delivered batch whose webhook cannot be reached: a background failure.
  await ingest(server.url, USER, traffic(10, { accounts: [ACCOUNT.id], regions: ['us-east-1'] }));
  await waitFor(() => jsonLines(server.output()).some((l) => l.component === 'after-delivery' && l.level === 'error'), 20_000, 'the webhook failure logged');
  // ... counted by target and code in the metrics.
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(metrics, /^opentrail_notification_failures_total\{target="webhook",code="\w+"\} [1-9]\d*$/m);
  assert.match(metrics, /^opentrail_background_errors_total\{component="after-delivery"\} [1-9]\d*$/m);
  await sleep(300);
  assert.equal(await server.stop(), 0);

  const out = server.output();
  for (const secret of [SECRET_ROLE, SECRET_USER, TOKEN, HOOK_AUTH, 'hook-secret-never-logged', ...sigs]) {
    assert.ok(!out.includes(secret), `the output holds ${secret.slice(0, 12)}...:\n${out.split('\n').filter((l) => l.includes(secret)).join('\n')}`);
  }

  const lines = jsonLines(out);
  for (const l of lines) assert.ok(typeof l.time === 'string' && typeof l.level === 'string' && typeof l.msg === 'string', JSON.stringify(l));
  const requests = lines.filter((l) => l.msg === 'request');
  const lookup = requests.find((l) => l.requestId === answered.$metadata.requestId);
  assert.ok(lookup, `a line for the answered LookupEvents ${answered.$metadata.requestId}`);
  assert.equal(lookup.account, ACCOUNT.id);
  assert.equal(lookup.operation, 'LookupEvents');
  assert.equal(lookup.status, 200);
  assert.equal(lookup.level, 'info');
  assert.ok(typeof lookup.ms === 'number' && lookup.ms >= 0);
  const refused = requests.filter((l) => l.operation === 'LookupEvents' && l.status === 403);
  assert.equal(refused.length, 2, 'both refused lookups');
  assert.ok(refused.every((l) => l.account === undefined && typeof l.errorCode === 'string' && typeof l.requestId === 'string'), JSON.stringify(refused));
  const events = requests.find((l) => l.operation === 'GetEvents');
  assert.ok(events && events.path === '/events', 'the path without its query');
  assert.ok(requests.some((l) => l.operation === 'IngestEvents' && l.status === 200 && l.account === ACCOUNT.id));
  const failure = lines.find((l) => l.component === 'after-delivery' && l.level === 'error');
  assert.match(String(failure!.msg), /webhook #0 notification for arn:aws:cloudtrail:us-east-1:333333333333:trail\/logged failed \(\w+\)/);
});

test('logLevel warn writes no request lines; metrics.port serves /metrics on its own port, not on the API port', async () => {
  const server = await startServer({ accounts: [ACCOUNT], logLevel: 'warn', metrics: { port: 0 } } as TestConfig);
  servers.push(server);
  await waitFor(() => /^ {2}data: /m.test(server.output()), 10_000, 'the whole banner');
  const metricsUrl = /^ {2}metrics: (http:\/\/\S+)$/m.exec(server.output())?.[1];
  assert.ok(metricsUrl && !metricsUrl.startsWith(`${server.url}/`), server.output());
  await cloudTrailClient(server.url, ROLE).send(new LookupEventsCommand({}));
  const res = await fetch(metricsUrl);
  assert.equal(res.status, 200);
  assert.match(await res.text(), /^opentrail_http_requests_total\{operation="LookupEvents",status="200"\} 1$/m);
  assert.equal((await fetch(`${server.url}/metrics`)).status, 404, 'not on the API port');
  assert.equal((await fetch(metricsUrl.replace(/\/metrics$/, '/health'))).status, 200);
  assert.equal((await fetch(metricsUrl.replace(/\/metrics$/, '/other'))).status, 404);
  // `opentrail status` finds the metrics port through the lock file.
  const status = await runOpentrail(['status', '--data-dir', server.dataDir]);
  assert.equal(status.code, 0, status.stdout + status.stderr);
  assert.match(status.stdout, /: healthy\n/);
  assert.match(status.stdout, /^requests since start: 2xx [1-9]/m);
  await server.stop();
  assert.deepEqual(jsonLines(server.output()).filter((l) => l.level === 'info'), [], 'nothing below warn');
});

test('metrics.enabled false: no /metrics, no metrics line in the banner', async () => {
  const server = await startServer({ accounts: [ACCOUNT], metrics: { enabled: false } } as TestConfig);
  servers.push(server);
  await waitFor(() => /^ {2}data: /m.test(server.output()), 10_000, 'the whole banner');
  assert.equal((await fetch(`${server.url}/metrics`)).status, 404);
  assert.doesNotMatch(server.output(), /^ {2}metrics: /m);
});
