/**
 * A PostgreSQL that goes away under a running `opentrail serve` (issue 12): while it is down calls
 * answer 503 ServiceUnavailableException and /health says so; once it is back the server serves
 * again by itself, and every event it acknowledged is there (PostgreSQL killed with SIGKILL).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { DescribeTrailsCommand, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { startAppPostgres, type AppPostgres } from './helpers/postgres-app.ts';
import { ACCOUNT_A, cloudTrailClient, startServer, type StartedServer } from './helpers/server.ts';
import { eventLog, sleep, waitFor, type Json } from './helpers/delivery.ts';
import { signedFetch } from './helpers/signed-fetch.ts';
import { fails } from './helpers/aws-errors.ts';

let pgs: AppPostgres;
let server: StartedServer;
before(async () => {
  pgs = await startAppPostgres();
  server = await startServer({ accounts: [ACCOUNT_A] }, { env: { OPENTRAIL_DATABASE_URL: await pgs.appDatabase() } });
});
after(async () => {
  await server?.stop();
  await pgs.server.destroy();
});

const alice = ACCOUNT_A.identities[1]!;

function record(): Json {
  return {
    eventVersion: '1.09', eventTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), eventSource: 'ec2.amazonaws.com', eventName: 'RunInstances',
    awsRegion: 'us-east-1', sourceIPAddress: '198.51.100.1', userAgent: 'test', eventID: randomUUID(), eventType: 'AwsApiCall', recipientAccountId: ACCOUNT_A.id,
    userIdentity: { type: 'IAMUser', principalId: 'AIDAX', arn: `arn:aws:iam::${ACCOUNT_A.id}:user/x`, accountId: ACCOUNT_A.id, accessKeyId: 'AKIAX', userName: 'x' },
  };
}

/** POST /ingest of 3 records; their ids when the server acknowledged them, else the status it answered. */
async function tryIngest(): Promise<{ acked: string[] } | { status: number; type: string }> {
  const records = [record(), record(), record()];
  try {
    const res = await signedFetch(`${server.url}/ingest`, alice, { body: JSON.stringify({ Records: records }), headers: { 'content-type': 'application/json' } });
    const text = await res.text();
    if (res.status === 200) return { acked: records.map((r) => r.eventID as string) };
    return { status: res.status, type: res.headers.get('x-amzn-errortype') ?? text.slice(0, 100) };
  } catch (e) {
    return { status: 0, type: (e as Error).message };
  }
}

test('PostgreSQL killed under load: 503 while it is down, serving again by itself, no acknowledged event lost', async (t) => {
  const acked = new Set<string>();
  const refused: string[] = [];
  let writing = true;
  // Writers that keep ingesting through the whole outage.
  const writers = Promise.all([1, 2, 3].map(async () => {
    while (writing) {
      const r = await tryIngest();
      if ('acked' in r) for (const id of r.acked) acked.add(id);
      else refused.push(`${r.status} ${r.type}`);
      await sleep(20);
    }
  }));
  await waitFor(() => acked.size >= 30, 20_000, 'events acknowledged before the outage');
  const client = cloudTrailClient(server.url, alice);

  await pgs.server.kill();
  const ackedBefore = acked.size;
  await fails(client.send(new LookupEventsCommand({ MaxResults: 5 })), 'ServiceUnavailableException', 503);
  await fails(client.send(new DescribeTrailsCommand({})), 'ServiceUnavailableException', 503);
  const health = await fetch(`${server.url}/health`);
  assert.equal(health.status, 200, 'the node itself answers');
  const report = await health.json() as { status: string; database: { type: string; status: string } };
  assert.equal(report.status, 'unavailable');
  assert.deepEqual({ ...report.database, reason: undefined }, { type: 'postgres', status: 'unavailable', reason: undefined });
  assert.equal((await fetch(`${server.url}/health?ready`)).status, 503);
  await sleep(500);

  await pgs.server.restart();
  // Serving again without a restart of OpenTrail.
  await waitFor(async () => {
    try {
      await client.send(new LookupEventsCommand({ MaxResults: 1 }));
      return true;
    } catch {
      return false;
    }
  }, 30_000, 'LookupEvents answering again');
  await waitFor(() => acked.size >= ackedBefore + 30, 30_000, 'ingest acknowledged again');
  writing = false;
  await writers;
  await waitFor(async () => (await fetch(`${server.url}/health?ready`)).status === 200, 10_000, '/health?ready 200 again');

  assert.ok(refused.length > 0, 'some ingests were refused during the outage');
  for (const r of refused) assert.match(r, /^(503 ServiceUnavailableException|0 )/, 'a refusal is a 503 (or a connection the server cut)');
  const stored = new Set((await eventLog(server.url, alice)).map((e) => e.record.eventID as string));
  const lost = [...acked].filter((id) => !stored.has(id));
  assert.deepEqual(lost, [], `${lost.length} of ${acked.size} acknowledged events are missing`);
  t.diagnostic(`${acked.size} events acknowledged (${ackedBefore} before the kill), ${refused.length} ingests refused during the outage`);
  assert.match(server.output(), /PostgreSQL|event store takes writes again/);
});
