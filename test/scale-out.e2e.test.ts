/**
 * Several nodes (issue 12, docs/scale-out.md "Several nodes"): three real `opentrail serve`
 * processes on one PostgreSQL and one moto S3 bucket. Events are ingested through two of them,
 * LookupEvents pages are read through the third and continued on the others; a logging trail with
 * log file validation is delivered by whichever node holds its lease; that node is killed with
 * kill -9 while a batch is being written (its intent recorded, its cursor not yet moved). Another
 * node takes the trail over; afterwards every acknowledged event is in the bucket exactly once and
 * `aws cloudtrail validate-logs` accepts the digest chain.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { CreateTrailCommand, GetTrailStatusCommand, LookupEventsCommand, StartLoggingCommand, StopLoggingCommand, type CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, cliEnv, cloudTrailClient, startServer, tempDir, type StartedServer, type TestConfig } from './helpers/server.ts';
import { motoNeighbourConfig, motoS3, startMoto, type StartedMoto } from './helpers/moto.ts';
import { startPostgres, type StartedPostgres } from './helpers/postgres.ts';
import { runAws } from './helpers/cli.ts';
import { deliveredIds, ingest, iso, parseLogFile, parseLogKey, sleep, traffic, waitFor, type Json, type LogFile } from './helpers/delivery.ts';

const ALICE = ACCOUNT_A.identities[1]!;
const A = ACCOUNT_A.id;
const REGION = 'us-east-1';
const BUCKET = 'ot-scale-out';
const TRAIL = 'audit';
const ARN = `arn:aws:cloudtrail:${REGION}:${A}:trail/${TRAIL}`;
const PERIOD_MS = 2000;
const LEASE_MS = 2000;

let postgres: StartedPostgres;
let moto: StartedMoto;
let s3: S3Client;
let db: pg.Client;
let config: TestConfig;
/**
 * While this file exists, each batch pauses between its intent and its files for the milliseconds
 * it holds (the server's test hook): a window wide enough to kill a node in.
 */
const stallFile = join(tempDir('ot-stall-'), 'delivery-stall');
const STALL = { OPENTRAIL_TEST_DELIVERY_STALL_FILE: stallFile };
const nodes: (StartedServer | undefined)[] = [];

before(async () => {
  [postgres, moto] = await Promise.all([startPostgres(), startMoto()]);
  s3 = motoS3(moto);
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  const url = await postgres.createDatabase('scaleout');
  db = new pg.Client({ connectionString: url });
  await db.connect();
  // Every node gets the same key-encryption key (a file here), as docs/scale-out.md asks.
  const kek = join(tempDir('ot-kek-'), 'signing-keys.kek');
  writeFileSync(kek, randomBytes(32), { mode: 0o600 });
  config = {
    regions: [REGION],
    accounts: [ACCOUNT_A],
    delivery: { maxAgeMs: 300, pollMs: 50, maxBytes: 8000 },
    objectStore: motoNeighbourConfig(moto).objectStore,
    integrity: { digestPeriodMs: PERIOD_MS, keyEncryption: { type: 'file', path: kek } },
    database: { type: 'postgres', url, leaseTtlMs: LEASE_MS },
  } as TestConfig;
  // Three nodes starting together on an empty database: its schema is made once.
  nodes.push(...(await Promise.all([0, 1, 2].map(() => startServer(config, { env: STALL })))));
});

after(async () => {
  for (const n of nodes) await n?.kill();
  await db?.end();
  s3?.destroy();
  await moto?.stop();
  await postgres?.destroy();
});

const live = () => nodes.filter((n): n is StartedServer => n !== undefined && n.process.exitCode === null && n.process.signalCode === null);
const ct = (n: StartedServer): CloudTrailClient => cloudTrailClient(n.url, ALICE, REGION);

const logFiles = new Map<string, LogFile>();

/** The trail's log files in the bucket (not its digests), each read once. */
async function readLogFiles(): Promise<LogFile[]> {
  const out: LogFile[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `AWSLogs/${A}/CloudTrail/`, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      const key = o.Key!;
      let f = logFiles.get(key);
      if (!f) {
        const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
        f = { key, key_: parseLogKey(key), records: parseLogFile(key, Buffer.from(await got.Body!.transformToByteArray())) };
        logFiles.set(key, f);
      }
      out.push(f);
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** The trail's delivery state as the nodes share it (the control store's row). */
async function deliveryState(): Promise<Json | undefined> {
  const r = await db.query<{ doc: string }>("SELECT doc FROM control_documents WHERE kind = convert_to('delivery-state', 'UTF8') AND key = convert_to($1, 'UTF8')", [ARN]);
  return r.rows[0] ? (JSON.parse(r.rows[0].doc) as Json) : undefined;
}

/** The node holding the trail's delivery lease now. */
async function deliveryHolder(): Promise<StartedServer | undefined> {
  const r = await db.query<{ holder: string }>('SELECT holder FROM opentrail_leases WHERE name = $1 AND expires_at > clock_timestamp()', [`delivery/${ARN}`]);
  const holder = r.rows[0]?.holder;
  return holder === undefined ? undefined : live().find((n) => holder.endsWith(`:${n.process.pid}`));
}

test('three nodes, one database: ingest on two, pages across nodes, kill -9 of the delivering node mid-batch, every event once, validate-logs passes', async (t) => {
  const [n1, n2, n3] = nodes as [StartedServer, StartedServer, StartedServer];
  const startMs = Date.now() - 60_000;
  await ct(n1).send(new CreateTrailCommand({ Name: TRAIL, S3BucketName: BUCKET, EnableLogFileValidation: true }));
  // A trail created through one node is logging on all.
  await ct(n2).send(new StartLoggingCommand({ Name: TRAIL }));
  assert.equal((await ct(n3).send(new GetTrailStatusCommand({ Name: TRAIL }))).IsLogging, true);

  const acknowledged = new Set<string>();
  let ingesting = true;
  const ingestVia = async (pick: () => StartedServer | undefined) => {
    while (ingesting) {
      const n = pick();
      if (!n) return;
      const records = traffic(30, { accounts: [A], regions: [REGION] }).filter((r) => r.eventCategory !== 'Data');
      try {
        const res = await ingest(n.url, ALICE, records);
        for (const x of res.results) if (x.status === 'accepted') acknowledged.add(`${A}/${x.eventID}`);
      } catch {
        // The node was killed with the request in flight: not acknowledged.
      }
      await sleep(20);
    }
  };
  const ingesters = [ingestVia(() => live().find((n) => n === n1) ?? live()[0]), ingestVia(() => live().find((n) => n === n2) ?? live()[0])];

  // Event history through the third node, the pages continued on the others with its NextToken.
  await waitFor(() => acknowledged.size >= 150, 30_000, 'events ingested through two nodes');
  const seen: string[] = [];
  let token: string | undefined;
  let page = 0;
  do {
    const via = [n3, n1, n2][page++ % 3]!;
    const r = await ct(via).send(new LookupEventsCommand({ MaxResults: 5, NextToken: token, LookupAttributes: [{ AttributeKey: 'Username', AttributeValue: 'u1' }] }));
    for (const e of r.Events ?? []) seen.push(e.EventId!);
    token = r.NextToken;
  } while (token && page < 50);
  assert.ok(page >= 3, `pages crossed the three nodes (${page} pages)`);
  assert.equal(new Set(seen).size, seen.length, 'no event twice across pages read from different nodes');

  // kill -9 of the node holding the trail's delivery lease, while a batch is being written.
  let killed: StartedServer | undefined;
  // Each batch now waits between its intent and its files, so the kill lands inside one.
  writeFileSync(stallFile, '300');
  const killDeadline = Date.now() + 60_000;
  while (!killed && Date.now() < killDeadline) {
    const holder = await deliveryHolder();
    const state = await deliveryState();
    if (!holder || !state?.intent) {
      await sleep(2);
      continue;
    }
    await holder.kill();
    const after = await deliveryState();
    if (after?.intent) {
      killed = holder;
      t.diagnostic(`killed the delivering node (pid ${holder.process.pid}) with batch ${after.intent.fromSeq}-${after.intent.toSeq} pending`);
    } else {
      // It committed the batch just before dying: start it again and try once more.
      const i = nodes.indexOf(holder);
      nodes[i] = await startServer(config, { dataDir: holder.dataDir, env: STALL });
    }
  }
  rmSync(stallFile, { force: true });
  assert.ok(killed, 'the delivering node was killed in the middle of a batch');
  const pending = (await deliveryState())!.intent as Json;

  // Another node takes the trail over and writes that batch.
  await waitFor(async () => {
    const s = await deliveryState();
    return s !== undefined && s.cursor >= pending.toSeq;
  }, 60_000, 'another node finishing the dead node\'s batch');
  assert.ok(await deliveryHolder(), 'a live node holds the lease');

  ingesting = false;
  await Promise.all(ingesters);
  const survivor = live()[0]!;
  // Everything acknowledged reaches the bucket; then logging stops and the final digest is written.
  await waitFor(async () => {
    const ids = deliveredIds(await readLogFiles(), 'bucket');
    return [...acknowledged].every((id) => ids.has(id));
  }, 60_000, 'every acknowledged event in the bucket');
  await ct(survivor).send(new StopLoggingCommand({ Name: TRAIL }));
  const stopMs = (await ct(survivor).send(new GetTrailStatusCommand({ Name: TRAIL }))).StopLoggingTime!.getTime();
  await waitFor(async () => {
    const st = await ct(survivor).send(new GetTrailStatusCommand({ Name: TRAIL }));
    return (st.LatestDigestDeliveryTime?.getTime() ?? 0) >= stopMs - PERIOD_MS && Date.now() > stopMs + 2 * PERIOD_MS;
  }, 60_000, 'the final digest');

  // Every event of the trail's scope exactly once (deliveredIds fails on a second copy).
  const files = await readLogFiles();
  const ids = deliveredIds(files, 'bucket');
  for (const id of acknowledged) assert.ok(ids.has(id), `${id} acknowledged but not delivered`);

  // And the AWS CLI accepts the digest chain and every log file.
  const env = { ...cliEnv(ALICE, REGION), AWS_ENDPOINT_URL_S3: moto.url };
  const r = await runAws(['cloudtrail', 'validate-logs', '--endpoint-url', survivor.url, '--region', REGION, '--trail-arn', ARN,
    '--start-time', iso(startMs), '--end-time', iso(Date.now())], env);
  assert.equal(r.code, 0, `validate-logs:\n${r.stdout}\n${r.stderr}`);
  const m = /(\d+)\/(\d+) digest files valid[\s\S]*?(\d+)\/(\d+) log files valid/.exec(r.stdout);
  assert.ok(m, r.stdout);
  assert.equal(m[1], m[2], r.stdout);
  assert.equal(m[3], m[4], r.stdout);
  assert.equal(Number(m[4]), files.length, `every log file is in a digest:\n${r.stdout}`);
});
