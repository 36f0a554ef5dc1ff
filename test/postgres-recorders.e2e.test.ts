/**
 * The recording gateway and the Node middleware against OpenTrail on PostgreSQL (issue 12, "The
 * recording gateway and the middleware work unchanged against any node"): two `opentrail serve`
 * nodes on one PostgreSQL database and one moto S3. Node 1 runs the gateway (moto the upstream);
 * an Express app's middleware records into node 2 through a TCP relay the test controls. Each
 * call is looked up through the other node (by EventSource and by EventId) and delivered exactly
 * once by a logging trail into the moto bucket. Then node 2 is killed with kill -9 and the relay
 * pointed at node 1: the recorder's retried events are stored once, and node 1 takes the trail's
 * delivery over when node 2's lease (2 s here) runs out.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import express, { type Request } from 'express';
import { openTrailExpress } from 'opentrail/middleware';
import { CreateBucketCommand, PutBucketTaggingCommand, PutObjectCommand, S3Client, type S3Client as S3 } from '@aws-sdk/client-s3';
import { CreateTrailCommand, LookupEventsCommand, StartLoggingCommand, type CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, cloudTrailClient, startServer, tempDir, type StartedServer, type TestConfig } from './helpers/server.ts';
import { motoNeighbourConfig, motoS3, startMoto, type StartedMoto } from './helpers/moto.ts';
import { startPostgres, type StartedPostgres } from './helpers/postgres.ts';
import { Relay } from './helpers/relay.ts';
import { idOf, readS3Bucket, waitFor, type Json, type LogFile } from './helpers/delivery.ts';

const ALICE = ACCOUNT_A.identities[1]!;
const A = ACCOUNT_A.id;
const REGION = 'us-east-1';
const TRAIL_BUCKET = 'ot-recorders-trail';

async function lookupAll(ct: CloudTrailClient, key: 'EventSource' | 'EventId', value: string): Promise<Json[]> {
  const out: Json[] = [];
  let NextToken: string | undefined;
  do {
    const page = await ct.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: key, AttributeValue: value }], NextToken, MaxResults: 2 }));
    for (const e of page.Events ?? []) out.push(JSON.parse(e.CloudTrailEvent!) as Json);
    NextToken = page.NextToken;
  } while (NextToken);
  return out;
}

describe('the recording gateway and the middleware on PostgreSQL, two nodes', { timeout: 120_000 }, () => {
  let postgres: StartedPostgres;
  let moto: StartedMoto;
  let s3: S3;
  const nodes: StartedServer[] = [];
  const relay = new Relay();
  let audit: ReturnType<typeof openTrailExpress<Request>>;
  let app: Server;
  let appUrl: string;
  const recorderErrors: string[] = [];
  const files = new Map<string, LogFile>();

  before(async () => {
    [postgres, moto] = await Promise.all([startPostgres(), startMoto()]);
    s3 = motoS3(moto);
    await s3.send(new CreateBucketCommand({ Bucket: TRAIL_BUCKET }));
    const url = await postgres.createDatabase('recorders');
    const kek = join(tempDir('ot-kek-'), 'signing-keys.kek');
    writeFileSync(kek, randomBytes(32), { mode: 0o600 });
    const base = {
      regions: [REGION],
      accounts: [ACCOUNT_A],
      delivery: { maxAgeMs: 200, pollMs: 50 },
      objectStore: motoNeighbourConfig(moto).objectStore,
      integrity: { keyEncryption: { type: 'file', path: kek } },
      database: { type: 'postgres', url, leaseTtlMs: 2000 },
    };
    nodes.push(...await Promise.all([
      startServer({ ...base, gateway: { port: 0, upstream: { endpoint: moto.url } } } as TestConfig),
      startServer(base as TestConfig),
    ]));
    assert.ok(nodes[0]!.gatewayUrl, nodes[0]!.output());
    relay.pointAt(nodes[1]!.url);
    const endpoint = await relay.listen();

    const ex = express();
    audit = openTrailExpress({
      endpoint, region: REGION,
      credentials: { accessKeyId: ALICE.accessKeyId, secretAccessKey: ALICE.secretAccessKey },
      retryBaseMs: 20, retryMaxMs: 200,
      onError: (e) => recorderErrors.push(e.code),
      eventSource: 'orders.example.com',
      identity: () => ({ type: 'IAMUser', principalId: 'AIDAALICE', arn: `arn:aws:iam::${A}:user/alice`, accountId: A, userName: 'alice' }),
    });
    ex.use(audit);
    ex.get('/orders/:id', (req, res) => { res.json({ id: req.params.id }); });
    ex.post('/orders', (_req, res) => { res.status(201).json({ id: 'o-new' }); });
    app = await new Promise<Server>((resolve) => { const s = ex.listen(0, '127.0.0.1', () => resolve(s)); });
    appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;

    const ct = cloudTrailClient(nodes[1]!.url, ALICE, REGION);
    await ct.send(new CreateTrailCommand({ Name: 'all', S3BucketName: TRAIL_BUCKET }));
    await ct.send(new StartLoggingCommand({ Name: 'all' }));
  });

  after(async () => {
    await new Promise((resolve) => app?.close(resolve));
    await audit?.recorder.close({ timeoutMs: 1000 });
    relay.server.close();
    for (const n of nodes) await n.kill();
    s3?.destroy();
    await moto?.stop();
    await postgres?.destroy();
  });

  const call = (path: string, requestId: string, method = 'GET') =>
    fetch(appUrl + path, { method, headers: { 'x-request-id': requestId, 'user-agent': 'recorders-e2e/1.0' } }).then(async (r) => ({ status: r.status, body: await r.text() }));

  /** The trail's records (not digests) delivered so far, per event id. */
  async function delivered(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const f of await readS3Bucket(s3, TRAIL_BUCKET, files)) {
      if (!f.key.includes('/CloudTrail/')) continue;
      for (const r of f.records) counts.set(idOf(r), (counts.get(idOf(r)) ?? 0) + 1);
    }
    return counts;
  }

  /** Waits until the trail delivered every one of `events`, then checks each is there once. */
  async function deliveredOnce(events: Json[], what: string): Promise<void> {
    await waitFor(async () => {
      const d = await delivered();
      return events.every((e) => d.has(idOf(e)));
    }, 20_000, what);
    const d = await delivered();
    for (const e of events) assert.equal(d.get(idOf(e)), 1, `${e.eventName} ${e.requestID} delivered once`);
  }

  test('gateway calls through node 1 are looked up through node 2 and delivered once by the trail', async () => {
    const gw = new S3Client({ endpoint: nodes[0]!.gatewayUrl, region: REGION, forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId: ALICE.accessKeyId, secretAccessKey: ALICE.secretAccessKey, sessionToken: ALICE.sessionToken } });
    try {
      await gw.send(new CreateBucketCommand({ Bucket: 'gw-pg-bucket' }));
      await gw.send(new PutBucketTaggingCommand({ Bucket: 'gw-pg-bucket', Tagging: { TagSet: [{ Key: 'team', Value: 'audit' }] } }));
      await gw.send(new PutObjectCommand({ Bucket: 'gw-pg-bucket', Key: 'a.txt', Body: 'hello' }));
    } finally {
      gw.destroy();
    }
    const ct2 = cloudTrailClient(nodes[1]!.url, ALICE, REGION);
    const events = await lookupAll(ct2, 'EventSource', 's3.amazonaws.com');
    const names = events.map((e) => e.eventName).sort();
    assert.deepEqual(names, ['CreateBucket', 'PutBucketTagging'], 'management calls in Event history, the data event (PutObject) not');
    const created = events.find((e) => e.eventName === 'CreateBucket')!;
    assert.equal(created.requestParameters.bucketName, 'gw-pg-bucket');
    assert.equal(created.userIdentity.userName, 'alice');
    assert.equal(created.recipientAccountId, A);
    // By EventId, through the node that recorded it and the other.
    for (const n of nodes) {
      const [byId] = await lookupAll(cloudTrailClient(n.url, ALICE, REGION), 'EventId', created.eventID);
      assert.equal(byId?.eventID, created.eventID);
    }
    await deliveredOnce(events, 'the trail delivers the gateway\'s events');
  });

  test('middleware calls recorded into node 2 are looked up through node 1 and delivered once; node 2 killed, the retried events land once through node 1', async () => {
    assert.equal((await call('/orders/o-1', 'mw-get')).status, 200);
    assert.equal((await call('/orders', 'mw-post', 'POST')).status, 201);
    await audit.recorder.flush();
    const ct1 = cloudTrailClient(nodes[0]!.url, ALICE, REGION);
    const events = await lookupAll(ct1, 'EventSource', 'orders.example.com');
    assert.deepEqual(events.map((e) => e.requestID).sort(), ['mw-get', 'mw-post']);
    const get = events.find((e) => e.requestID === 'mw-get')!;
    assert.equal(get.userIdentity.userName, 'alice');
    assert.equal(get.awsRegion, REGION);

    // Node 2 dies (kill -9); the app keeps answering, the recorder retries, the relay now leads to node 1.
    await nodes[1]!.kill();
    assert.equal((await call('/orders/o-2', 'mw-while-down')).status, 200);
    await waitFor(() => recorderErrors.length > 0, 10_000, 'the recorder to fail once');
    relay.pointAt(nodes[0]!.url);
    await audit.recorder.flush();
    const after = await lookupAll(ct1, 'EventSource', 'orders.example.com');
    assert.deepEqual(after.map((e) => e.requestID).sort(), ['mw-get', 'mw-post', 'mw-while-down'], 'each event once');
    assert.equal(audit.recorder.stats().dropped, 0);

    await deliveredOnce(after, 'the trail (now delivered by node 1) delivers the middleware\'s events');
  });
});
