/**
 * Group commits on PostgreSQL (issue 12, part 7): the store asks the bulk admission gate for more
 * requests than SQLite (`PgEventStore.admission`, 4 against 2), so under concurrent `/ingest`
 * requests several of them commit as one group while the next parse. Seen from outside through
 * /metrics' `opentrail_group_commit_events` histogram: with two admitted, no group ever held more
 * than one request of 1,000 records (plus its own self-audit record).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startAppPostgres, type AppPostgres } from './helpers/postgres-app.ts';
import { ACCOUNT_A, startServer, type StartedServer } from './helpers/server.ts';
import { signedFetch } from './helpers/signed-fetch.ts';
import { parseMetrics, type Sample } from '../src/cli/status.ts';

let pgs: AppPostgres;
let server: StartedServer;
before(async () => {
  pgs = await startAppPostgres();
  server = await startServer({ accounts: [ACCOUNT_A] }, { env: { OPENTRAIL_DATABASE_URL: await pgs.appDatabase() } });
});
after(async () => {
  await server?.stop();
  await pgs?.server.destroy();
});

const alice = ACCOUNT_A.identities[1]!;
const PER_REQUEST = 1000;
const REQUESTS = 12;

function body(): string {
  const eventTime = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const records = Array.from({ length: PER_REQUEST }, () => ({
    eventVersion: '1.09', eventTime, eventSource: 'ec2.amazonaws.com', eventName: 'RunInstances',
    awsRegion: 'us-east-1', sourceIPAddress: '198.51.100.1', userAgent: 'test', eventID: randomUUID(), eventType: 'AwsApiCall', recipientAccountId: ACCOUNT_A.id,
    userIdentity: { type: 'IAMUser', principalId: 'AIDAX', arn: `arn:aws:iam::${ACCOUNT_A.id}:user/x`, accountId: ACCOUNT_A.id, accessKeyId: 'AKIAX', userName: 'x' },
  }));
  return JSON.stringify({ Records: records });
}

async function scrape(): Promise<Sample[]> {
  const res = await fetch(`${server.url}/metrics`);
  assert.equal(res.status, 200);
  return parseMetrics(await res.text());
}

const series = (samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number =>
  samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value ?? 0;

test('concurrent /ingest requests on PostgreSQL commit several to a group, every record stored', async () => {
  const bodies = Array.from({ length: REQUESTS }, body);
  const before = await scrape();
  const answers = await Promise.all(bodies.map(async (b) => {
    const res = await signedFetch(`${server.url}/ingest`, alice, { body: b, headers: { 'content-type': 'application/json' } });
    return { status: res.status, text: await res.text() };
  }));
  for (const a of answers) assert.equal(a.status, 200, a.text);
  const now = await scrape();
  const delta = (name: string, labels: Record<string, string> = {}) => series(now, name, labels) - series(before, name, labels);
  const groups = delta('opentrail_group_commit_events_count');
  const events = delta('opentrail_group_commit_events_sum');
  // Every record went through a group commit (plus each call's own record and other self-audit).
  assert.ok(events >= REQUESTS * PER_REQUEST, `events committed: ${events}`);
  // Groups of more than 2,000 events hold at least two requests: impossible with two admitted.
  const above2000 = groups - delta('opentrail_group_commit_events_bucket', { le: '2000' });
  assert.ok(above2000 >= 1, `no group held more than one request: ${groups} groups, ${events} events`);
  assert.ok(groups < REQUESTS, `${groups} groups for ${REQUESTS} requests`);
});
