/**
 * Delivery faults against S3 on moto server: a bucket that refuses writes (NoSuchBucket), the S3
 * endpoint killed mid-run and started again on the same port, and StopLogging / StartLogging.
 * Every event a trail admits while it logs is delivered exactly once; GetTrailStatus reports the
 * failures (LatestDeliveryError, LatestDeliveryAttemptTime) as they happen.
 *
 * moto keeps everything in memory: killing it loses what was delivered before. The outage test
 * therefore reads the bucket just before the kill, with delivery idle, and counts exactly-once
 * over (read before the kill) + (read after the restart).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, DeleteBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  CreateTrailCommand, DeleteTrailCommand, GetTrailStatusCommand, StartLoggingCommand, StopLoggingCommand, type CloudTrailClient, type GetTrailStatusCommandOutput,
} from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, ACCOUNT_B, cloudTrailClient, startServer, type StartedServer, type TestConfig } from './helpers/server.ts';
import { motoS3, startMoto, startMotoOnPort, type StartedMoto } from './helpers/moto.ts';
import { idOf, ingest, readS3Bucket, sleep, traffic, waitFor, type Json } from './helpers/delivery.ts';

const A = ACCOUNT_A.id;
const ALICE = ACCOUNT_A.identities[1]!;
const REGIONS = ['us-east-1', 'eu-west-1'];

let moto: StartedMoto;
let s3: S3Client;
const servers: StartedServer[] = [];
const clients: CloudTrailClient[] = [];

before(async () => {
  moto = await startMoto();
  s3 = motoS3(moto);
});

after(async () => {
  for (const c of clients) c.destroy();
  s3?.destroy();
  for (const s of servers) await s.stop();
  await moto?.kill();
});

/** A server delivering to moto; batches close 1 s after their first event. */
async function server(): Promise<{ server: StartedServer; ct: CloudTrailClient }> {
  const config: TestConfig = {
    regions: REGIONS,
    accounts: [ACCOUNT_A, ACCOUNT_B],
    delivery: { maxAgeMs: 1000, pollMs: 50 },
    objectStore: { type: 's3', endpoint: moto.url, region: 'us-east-1', forcePathStyle: true, accessKeyId: 'testing', secretAccessKey: 'testing' },
  };
  const s = await startServer(config);
  servers.push(s);
  const ct = cloudTrailClient(s.url, ALICE, 'us-east-1');
  clients.push(ct);
  return { server: s, ct };
}

/** Management events of account A in both regions: what a multi-region trail with default selectors logs. */
const managementEvents = (n: number): Json[] => traffic(n * 2, { accounts: [A], regions: REGIONS }).filter((r) => r.eventCategory === undefined).slice(0, n);

/** Ingests and answers the identities of what was stored. */
async function send(s: StartedServer, records: Json[]): Promise<string[]> {
  const out = await ingest(s.url, ALICE, records);
  assert.equal(out.accepted, records.length);
  return records.map(idOf);
}

/** Identities of the records in the bucket, failing on any delivered twice. */
async function delivered(bucket: string): Promise<string[]> {
  return (await readS3Bucket(s3, bucket)).flatMap((f) => f.records.map(idOf));
}

function countOf(ids: readonly string[], among: ReadonlySet<string>): number {
  return ids.filter((id) => among.has(id)).length;
}

function assertExactlyOnce(got: readonly string[], want: ReadonlySet<string>, what: string): void {
  const mine = got.filter((id) => want.has(id));
  assert.equal(new Set(mine).size, mine.length, `${what}: ${mine.length - new Set(mine).size} events delivered twice`);
  assert.equal(mine.length, want.size, `${what}: ${mine.length} of ${want.size} delivered`);
}

const status = (ct: CloudTrailClient, name: string): Promise<GetTrailStatusCommandOutput> => ct.send(new GetTrailStatusCommand({ Name: name }));

test('a bucket that refuses writes: NoSuchBucket reported with the attempt time, retried, nothing lost', async () => {
  const { server: s, ct } = await server();
  await s3.send(new CreateBucketCommand({ Bucket: 'ot-refused' }));
  await ct.send(new CreateTrailCommand({ Name: 'refused', S3BucketName: 'ot-refused', IsMultiRegionTrail: true }));
  await ct.send(new StartLoggingCommand({ Name: 'refused' }));
  await s3.send(new DeleteBucketCommand({ Bucket: 'ot-refused' }));
  const t0 = Date.now();
  const want = new Set(await send(s, managementEvents(100)));

  let st: GetTrailStatusCommandOutput | undefined;
  await waitFor(async () => (st = await status(ct, 'refused')).LatestDeliveryError !== undefined, 10_000, 'LatestDeliveryError');
  assert.equal(st!.LatestDeliveryError, 'NoSuchBucket');
  const attempt = Date.parse(st!.LatestDeliveryAttemptTime ?? '');
  assert.ok(attempt >= t0 - 1000 && attempt <= Date.now() + 1000, `LatestDeliveryAttemptTime ${st!.LatestDeliveryAttemptTime}`);
  assert.equal(st!.LatestDeliveryTime, undefined, 'nothing was delivered yet');

  await s3.send(new CreateBucketCommand({ Bucket: 'ot-refused' }));
  await waitFor(async () => countOf(await delivered('ot-refused'), want) >= want.size, 15_000, 'delivery after the bucket came back');
  await sleep(1500);
  assertExactlyOnce(await delivered('ot-refused'), want, 'after the bucket came back');
  st = await status(ct, 'refused');
  assert.ok(st.LatestDeliveryTime instanceof Date && st.LatestDeliveryTime.getTime() >= attempt - 1000, `LatestDeliveryTime ${st.LatestDeliveryTime}`);
});

test('the S3 endpoint killed mid-run and started again on the same port: error reported, delivery catches up, every event once', async (t) => {
  const { server: s, ct } = await server();
  await s3.send(new CreateBucketCommand({ Bucket: 'ot-fault' }));
  await ct.send(new CreateTrailCommand({ Name: 'faulty', S3BucketName: 'ot-fault', IsMultiRegionTrail: true }));
  await ct.send(new StartLoggingCommand({ Name: 'faulty' }));

  // Before: delivered, read back, then delivery is idle (no event of ours pending).
  const first = new Set<string>();
  for (let i = 0; i < 3; i++) {
    for (const id of await send(s, managementEvents(100))) first.add(id);
    await sleep(300);
  }
  await waitFor(async () => countOf(await delivered('ot-fault'), first) >= first.size, 15_000, 'delivery before the outage');
  const before = await delivered('ot-fault');
  assertExactlyOnce(before, first, 'before the outage');

  // A batch opens (it closes 1 s later), and the endpoint dies at once; events keep arriving.
  const sent = new Set(first);
  for (const id of await send(s, managementEvents(100))) sent.add(id);
  const killedAt = Date.now();
  await moto.kill();
  let arriving = true;
  const feeder = (async () => {
    while (arriving) {
      for (const id of await send(s, managementEvents(40))) sent.add(id);
      await sleep(250);
    }
  })();

  let st: GetTrailStatusCommandOutput | undefined;
  await waitFor(async () => (st = await status(ct, 'faulty')).LatestDeliveryError !== undefined, 10_000, 'LatestDeliveryError while S3 is down');
  assert.ok(st!.LatestDeliveryError && st!.LatestDeliveryError.length > 0);
  // An unreachable endpoint has no S3 error code; the store reports the SDK error's name.
  if (st!.LatestDeliveryError === 'Error') t.diagnostic('LatestDeliveryError is the uninformative "Error" for a refused connection (src/stores/s3/s3-object-store.ts putObject takes e.name)');
  const attempt = Date.parse(st!.LatestDeliveryAttemptTime ?? '');
  assert.ok(attempt >= killedAt - 1000, `LatestDeliveryAttemptTime ${st!.LatestDeliveryAttemptTime} is after the kill`);
  assert.ok(st!.LatestDeliveryTime instanceof Date && st!.LatestDeliveryTime.getTime() <= killedAt + 1000, 'LatestDeliveryTime is the last success, before the kill');

  // Back on the same port, empty: the bucket is made again.
  moto = await startMotoOnPort(moto.port);
  const restartedAt = Date.now();
  await s3.send(new CreateBucketCommand({ Bucket: 'ot-fault' }));
  await sleep(800);
  arriving = false;
  await feeder;

  const later = new Set([...sent].filter((id) => !first.has(id)));
  assert.ok(later.size >= 200, `events after the snapshot: ${later.size}`);
  await waitFor(async () => countOf(await delivered('ot-fault'), later) >= later.size, 30_000, 'catching up after the restart', 250);
  await sleep(1500);
  const got = await delivered('ot-fault');
  assertExactlyOnce(got, later, 'after the restart');
  assert.equal(countOf(got, first), 0, 'events delivered before the outage were delivered again');
  st = await status(ct, 'faulty');
  assert.ok(st.LatestDeliveryTime instanceof Date && st.LatestDeliveryTime.getTime() >= restartedAt - 1000, `LatestDeliveryTime ${st.LatestDeliveryTime} after the restart`);
});

test('StopLogging: events that arrive while stopped are never delivered; StartLogging resumes from there', async () => {
  const { server: s, ct } = await server();
  await s3.send(new CreateBucketCommand({ Bucket: 'ot-stop' }));
  await ct.send(new CreateTrailCommand({ Name: 'stoppy', S3BucketName: 'ot-stop', IsMultiRegionTrail: true }));
  await ct.send(new StartLoggingCommand({ Name: 'stoppy' }));
  const logged = new Set(await send(s, managementEvents(100)));
  await waitFor(async () => countOf(await delivered('ot-stop'), logged) >= logged.size, 15_000, 'delivery while logging');

  await ct.send(new StopLoggingCommand({ Name: 'stoppy' }));
  const whileStopped = new Set(await send(s, managementEvents(100)));
  await sleep(1500); // longer than a batch's age: had they been taken, they would be written now
  let st = await status(ct, 'stoppy');
  assert.equal(st.IsLogging, false);
  assert.ok(st.StopLoggingTime instanceof Date && st.TimeLoggingStopped, 'StopLoggingTime / TimeLoggingStopped');

  await ct.send(new StartLoggingCommand({ Name: 'stoppy' }));
  const afterStart = new Set(await send(s, managementEvents(100)));
  await waitFor(async () => countOf(await delivered('ot-stop'), afterStart) >= afterStart.size, 15_000, 'delivery after StartLogging');
  await sleep(1500);
  const got = await delivered('ot-stop');
  assert.equal(countOf(got, whileStopped), 0, 'events ingested while the trail was stopped were delivered');
  assertExactlyOnce(got, logged, 'before StopLogging');
  assertExactlyOnce(got, afterStart, 'after StartLogging');
  st = await status(ct, 'stoppy');
  assert.equal(st.IsLogging, true);
  assert.ok(st.StartLoggingTime instanceof Date && st.StartLoggingTime.getTime() >= st.StopLoggingTime!.getTime());
});

test('StopLogging then StartLogging while delivery is failing: events recorded before the stop are still delivered', async () => {
  const { server: s, ct } = await server();
  await s3.send(new CreateBucketCommand({ Bucket: 'ot-flap' }));
  await ct.send(new CreateTrailCommand({ Name: 'flappy', S3BucketName: 'ot-flap', IsMultiRegionTrail: true }));
  await ct.send(new StartLoggingCommand({ Name: 'flappy' }));
  await s3.send(new DeleteBucketCommand({ Bucket: 'ot-flap' }));
  const w1 = new Set(await send(s, managementEvents(50)));
  // Two failed attempts: the trail now waits ~2 s (1.5-2.5 s) before the next one.
  let first: string | undefined;
  await waitFor(async () => (first = (await status(ct, 'flappy')).LatestDeliveryAttemptTime) !== undefined && first !== '', 10_000, 'a failed attempt', 50);
  await waitFor(async () => (await status(ct, 'flappy')).LatestDeliveryAttemptTime !== first, 10_000, 'a second failed attempt', 50);
  // Logged while the trail logs, then a quick stop and start, all within the wait.
  const w2 = new Set(await send(s, managementEvents(50)));
  await ct.send(new StopLoggingCommand({ Name: 'flappy' }));
  await ct.send(new StartLoggingCommand({ Name: 'flappy' }));
  await s3.send(new CreateBucketCommand({ Bucket: 'ot-flap' }));

  await waitFor(async () => countOf(await delivered('ot-flap'), w1) >= w1.size, 15_000, 'the batch that was failing');
  await sleep(2500);
  const got = await delivered('ot-flap');
  assertExactlyOnce(got, w1, 'logged before the outage was noticed');
  assertExactlyOnce(got, w2, 'logged before StopLogging, while delivery was failing');
});

test('a trail deleted and created again under the same name starts with no delivery history', async () => {
  const { server: s, ct } = await server();
  await s3.send(new CreateBucketCommand({ Bucket: 'ot-again' }));
  await ct.send(new CreateTrailCommand({ Name: 'again', S3BucketName: 'ot-again' }));
  await ct.send(new StartLoggingCommand({ Name: 'again' }));
  const first = new Set(await send(s, managementEvents(40).map((r) => ({ ...r, awsRegion: 'us-east-1' }))));
  await waitFor(async () => countOf(await delivered('ot-again'), first) >= first.size, 15_000, 'delivery by the first trail');
  assert.ok((await status(ct, 'again')).LatestDeliveryTime instanceof Date);

  await ct.send(new DeleteTrailCommand({ Name: 'again' }));
  await ct.send(new CreateTrailCommand({ Name: 'again', S3BucketName: 'ot-again' }));
  const st = await status(ct, 'again');
  assert.equal(st.IsLogging, false);
  assert.equal(st.LatestDeliveryTime, undefined, 'a new trail has delivered nothing');
  assert.equal(st.LatestDeliveryAttemptTime || undefined, undefined, 'a new trail has attempted nothing');
});
