/**
 * Issue 19 item 4: the server says what will not happen instead of letting a user find out later.
 * Ingest tells per record when Event history will not show it; CreateChannel refuses event data
 * stores that cannot be the caller's; config regions are AWS Region names; CreateTrail on a missing
 * filesystem bucket names the directory; validate-logs without digests says when the first is due.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateChannelCommand, CreateTrailCommand, LookupEventsCommand, StartLoggingCommand } from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, ACCOUNT_B, BIN, cliEnv, cloudTrailClient, startServer, tempDir, type StartedServer } from './helpers/server.ts';
import { channelStore } from './helpers/lake.ts';
import { signedFetch } from './helpers/signed-fetch.ts';
import { fails } from './helpers/aws-errors.ts';

const ALICE = ACCOUNT_A.identities[1]!;
const A = ACCOUNT_A.id;
const REGION = 'us-east-1';
let server: StartedServer;

before(async () => {
  server = await startServer({ regions: [REGION, 'eu-west-1'], accounts: [ACCOUNT_A, ACCOUNT_B] });
});
after(async () => {
  await server?.stop();
});

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const DAY = 86_400_000;

interface BulkAnswer {
  accepted: number; duplicates: number; rejected: number; notInEventHistory: number;
  results: { status: string; eventID?: string; eventHistory?: { appears: string; reason: string; message: string } }[];
}

test('/ingest says per record when Event history will not show it, and why', async () => {
  const now = Date.now();
  const rec = (id: string, extra: Record<string, unknown> = {}) => ({ eventID: id, eventSource: 'orders.example.com', eventName: 'CreateOrder', ...extra });
  const records = [
    rec('honest-now', { eventTime: iso(now - 60_000) }),
    rec('honest-old', { eventTime: iso(now - 91 * DAY) }),
    rec('honest-far', { eventTime: iso(now + 91 * DAY) }),
    rec('honest-soon', { eventTime: iso(now + 3_600_000) }),
    rec('honest-data', { eventCategory: 'Data', managementEvent: false }),
  ];
  const res = await signedFetch(`${server.url}/ingest`, ALICE, { body: records.map((r) => JSON.stringify(r)).join('\n'), headers: { 'content-type': 'application/x-ndjson' } });
  const out = await res.json() as BulkAnswer;
  assert.equal(res.status, 200);
  assert.equal(out.accepted, 5);
  assert.equal(out.notInEventHistory, 3, 'old, far future and data: never');
  assert.deepEqual(out.results.map((r) => [r.status, r.eventID, r.eventHistory?.appears, r.eventHistory?.reason]), [
    ['accepted', 'honest-now', undefined, undefined],
    ['accepted', 'honest-old', 'never', 'OlderThanRetention'],
    ['accepted', 'honest-far', 'never', 'TooFarInFuture'],
    ['accepted', 'honest-soon', 'later', 'FutureEventTime'],
    ['accepted', 'honest-data', 'never', 'NotInEventHistory'],
  ]);
  assert.match(out.results[1]!.eventHistory!.message, /more than 90 days \(eventHistory\.retentionDays\) ago/);
  // What was said is what LookupEvents does.
  const ct = cloudTrailClient(server.url, ALICE);
  const seen = async (id: string) => ((await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventId', AttributeValue: id }] }))).Events ?? []).length;
  assert.equal(await seen('honest-now'), 1);
  for (const id of ['honest-old', 'honest-far', 'honest-soon', 'honest-data']) assert.equal(await seen(id), 0, id);
  // Sent again: duplicates carry the same note.
  const again = await (await signedFetch(`${server.url}/ingest`, ALICE, { body: JSON.stringify(records[1]) })).json() as BulkAnswer;
  assert.deepEqual([again.duplicates, again.notInEventHistory, again.results[0]!.eventHistory?.reason], [1, 1, 'OlderThanRetention']);
});

test('CreateChannel refuses an event data store that cannot be the caller\'s, with AWS\'s exception', async () => {
  const ct = cloudTrailClient(server.url, ALICE);
  const create = (name: string, location: string) => ct.send(new CreateChannelCommand({ Name: name, Source: 'Custom', Destinations: [{ Type: 'EVENT_DATA_STORE', Location: location }] }));
  await fails(create('other-account', `arn:aws:cloudtrail:${REGION}:${ACCOUNT_B.id}:eventdatastore/abc-123`), 'EventDataStoreARNInvalidException', 400, /does not map to an event data store in your account/);
  await fails(create('not-an-eds', 'arn:aws:s3:::my-bucket'), 'EventDataStoreARNInvalidException', 400);
  await fails(create('bad-id', 'not/an-id'), 'EventDataStoreARNInvalidException', 400);
  await fails(create('no-such-store', `arn:aws:cloudtrail:${REGION}:${A}:eventdatastore/abc-123`), 'EventDataStoreNotFoundException', 404);
  const ok = await create('mine', await channelStore(ct, 'mine'));
  assert.match(ok.ChannelArn!, /^arn:aws:cloudtrail:us-east-1:111111111111:channel\//);
});

test('CreateTrail on a filesystem bucket that does not exist names the directory to create', async () => {
  const ct = cloudTrailClient(server.url, ALICE);
  const dir = join(server.dataDir, 'buckets', 'no-such-bucket-yet');
  await fails(ct.send(new CreateTrailCommand({ Name: 'needs-bucket', S3BucketName: 'no-such-bucket-yet' })), 'S3BucketDoesNotExistException', 404,
    `S3 bucket does not exist: no-such-bucket-yet. OpenTrail's filesystem object store holds each bucket as a directory: create the directory ${dir} on the server (objectStore.root, default <dataDir>/buckets).`);
  mkdirSync(dir);
  const t = await ct.send(new CreateTrailCommand({ Name: 'needs-bucket', S3BucketName: 'no-such-bucket-yet' }));
  assert.equal(t.S3BucketName, 'no-such-bucket-yet');
});

test('validate-logs before the first digest says when it is due and which setting decides it', async () => {
  const ct = cloudTrailClient(server.url, ALICE);
  mkdirSync(join(server.dataDir, 'buckets', 'digests-later'));
  const t = await ct.send(new CreateTrailCommand({ Name: 'digests-later', S3BucketName: 'digests-later', EnableLogFileValidation: true }));
  // The first digest is due at the end of the hour logging starts in. Within half a minute of that
  // end, the hour could turn between our clock and the server's StartLogging, or the digest be
  // written before validate-logs runs: start after it instead.
  const toHourEnd = 3_600_000 - (Date.now() % 3_600_000);
  if (toHourEnd < 30_000) await new Promise((r) => setTimeout(r, toHourEnd + 1000));
  const startedMs = Date.now();
  await ct.send(new StartLoggingCommand({ Name: t.TrailARN }));
  const due = Math.floor(startedMs / 3_600_000) * 3_600_000 + 3_600_000;
  const args = [BIN, 'validate-logs', '--endpoint-url', server.url, '--region', REGION, '--bucket-root', join(server.dataDir, 'buckets'), '--trail-arn', t.TrailARN!, '--start-time', iso(startedMs - 60_000)];
  const r = await new Promise<{ stdout: string; stderr: string }>((resolve) => execFile(process.execPath, args, { env: cliEnv(ALICE, REGION), timeout: 60_000 }, (_e, stdout, stderr) => resolve({ stdout, stderr })));
  assert.match(r.stdout, /No digests found\nThe trail has not delivered a digest yet\. Digest files are written at the end of each period of integrity\.digestPeriodMs \(server config, default 3600000 ms/, r.stdout + r.stderr);
  assert.ok(r.stdout.includes(`with the default, at ${iso(due)}`), r.stdout);
  // --aws-compatible prints what the AWS CLI prints, nothing more.
  const c = await new Promise<string>((resolve) => execFile(process.execPath, [...args, '--aws-compatible'], { env: cliEnv(ALICE, REGION), timeout: 60_000 }, (_e, stdout) => resolve(stdout)));
  assert.match(c, /No digests found\n$/);
});

test('a config naming a Region that does not exist stops the start with one line, exit 2', async () => {
  const dir = tempDir();
  const config = join(dir, 'c.json');
  writeFileSync(config, JSON.stringify({ regions: ['us-east-1', 'us-east-3'] }));
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => execFile(process.execPath, [BIN, 'serve', '--port', '0', '--data-dir', join(dir, 'd'), '--config', config], { timeout: 30_000 }, (e, _o, stderr) => resolve({ code: e ? Number(e.code) : 0, stderr })));
  assert.equal(r.code, 2);
  assert.equal(r.stderr, 'opentrail: config.regions: "us-east-3" is not an AWS Region name (such as us-east-1 or eu-west-1; every accepted name is listed in docs/configuration.md; allowNonAwsRegions: true accepts other names)\n');
});
