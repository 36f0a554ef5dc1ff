/**
 * /metrics and /health while the database is gone (issue 17 review): PostgreSQL killed under a
 * running `opentrail serve`, the scrape still answers 200, with the event store's writable gauge
 * at 0, the group-commit failures and the 5xx answers, and the sources it could not read counted;
 * /health tells a caller that comes through a proxy only the status and the database state, the
 * node and the failure reason staying for local callers.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { startAppPostgres, type AppPostgres } from './helpers/postgres-app.ts';
import { ACCOUNT_A, startServer, tempDir, type StartedServer, type TestConfig } from './helpers/server.ts';
import { waitFor } from './helpers/delivery.ts';
import { signedFetch } from './helpers/signed-fetch.ts';
import { parseMetrics, type Sample } from '../src/cli/status.ts';

let pgs: AppPostgres;
let server: StartedServer;
/** A second node on the same database, its metrics on a listener of their own (metrics.port). */
let listening: StartedServer;
let listenerUrl: string;
before(async () => {
  pgs = await startAppPostgres();
  const env = { OPENTRAIL_DATABASE_URL: await pgs.appDatabase() };
  // The nodes of one deployment share its key-encryption key (docs/scale-out.md).
  const integrity = { keyEncryption: { type: 'file', path: join(tempDir(), 'shared.kek') } };
  server = await startServer({ accounts: [ACCOUNT_A], integrity } as TestConfig, { env });
  listening = await startServer({ accounts: [ACCOUNT_A], integrity, metrics: { port: 0 } } as TestConfig, { env });
  await waitFor(() => /^ {2}data: /m.test(listening.output()), 10_000, 'the whole banner');
  listenerUrl = /^ {2}metrics: (http:\/\/\S+)\/metrics$/m.exec(listening.output())![1]!;
});
after(async () => {
  await Promise.all([server?.stop(), listening?.stop()]);
  await pgs.server.destroy();
});

const alice = ACCOUNT_A.identities[1]!;
const one = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

async function ingestStatus(): Promise<number> {
  const record = {
    eventVersion: '1.09', eventTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), eventSource: 'ec2.amazonaws.com', eventName: 'RunInstances',
    awsRegion: 'us-east-1', eventID: randomUUID(), eventType: 'AwsApiCall', recipientAccountId: ACCOUNT_A.id,
    userIdentity: { type: 'IAMUser', principalId: 'AIDAX', arn: `arn:aws:iam::${ACCOUNT_A.id}:user/x`, accountId: ACCOUNT_A.id, accessKeyId: 'AKIAX', userName: 'x' },
  };
  const res = await signedFetch(`${server.url}/ingest`, alice, { body: JSON.stringify({ Records: [record] }), headers: { 'content-type': 'application/json' } });
  await res.arrayBuffer();
  return res.status;
}

test('PostgreSQL killed: /metrics answers 200 with the writable gauge at 0; /health\'s details only for local callers', async () => {
  assert.equal(await ingestStatus(), 200);
  const before = parseMetrics(await (await fetch(`${server.url}/metrics`)).text());
  assert.equal(one(before, 'opentrail_event_store_writable'), 1);
  assert.ok((one(before, 'opentrail_event_log_events') ?? 0) >= 1);

  await pgs.server.kill();
  await waitFor(async () => (await ingestStatus()) === 503, 20_000, 'ingest answering 503');
  const res = await fetch(`${server.url}/metrics`);
  assert.equal(res.status, 200, 'the scrape answers during the outage');
  const during = parseMetrics(await res.text());
  assert.equal(one(during, 'opentrail_event_store_writable'), 0);
  assert.ok((one(during, 'opentrail_group_commit_failures_total') ?? 0) >= 1);
  assert.ok((one(during, 'opentrail_http_requests_total', { operation: 'IngestEvents', status: '503' }) ?? 0) >= 1);
  assert.equal(one(during, 'opentrail_event_log_events'), undefined, 'the log\'s size is left out, not 0');
  assert.equal(one(during, 'opentrail_metrics_source_up', { source: 'event_log' }), 0);
  assert.ok((one(during, 'opentrail_metrics_source_errors_total', { source: 'event_log' }) ?? 0) >= 1);

  // /health: the whole report for a local caller; status and database state through a proxy.
  const local = await (await fetch(`${server.url}/health`)).json() as { status: string; node?: { pid: number }; database: { status: string; reason?: string } };
  assert.equal(local.status, 'unavailable');
  assert.equal(local.node?.pid, server.process.pid);
  assert.equal(typeof local.database.reason, 'string');
  const proxied = await fetch(`${server.url}/health`, { headers: { 'x-forwarded-for': '203.0.113.7' } });
  assert.equal(proxied.status, 200);
  assert.deepEqual(await proxied.json(), { status: 'unavailable', database: { type: 'postgres', status: 'unavailable' } });
  assert.equal((await fetch(`${server.url}/health?ready`, { headers: { 'x-forwarded-for': '203.0.113.7' } })).status, 503);
  // The metrics listener's /health is the whole report, for whoever reaches that port.
  const whole = await fetch(`${listenerUrl}/health`, { headers: { 'x-forwarded-for': '203.0.113.7' } });
  assert.equal(whole.status, 200);
  const report = await whole.json() as { status: string; node?: { pid: number }; database: { status: string; reason?: string } };
  assert.equal(report.node?.pid, listening.process.pid);
  assert.equal(report.database.status, 'unavailable');
  assert.equal(typeof report.database.reason, 'string');
  assert.equal((await fetch(`${listenerUrl}/health?ready`)).status, 503);
  assert.equal((await fetch(`${listenerUrl}/metrics`)).status, 200, 'the listener\'s scrape answers too');
});
