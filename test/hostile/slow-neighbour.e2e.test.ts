/**
 * Hostile: one slow neighbour never holds up others (issue 10, item 5).
 *
 * Trail `a-hung` notifies a webhook that accepts the TCP connection and never answers, and streams
 * to a CloudWatch Logs endpoint that does the same. Trail `b-healthy` notifies a webhook that
 * answers at once. While A's webhook request hangs:
 * - B's log files arrive in its bucket and B's webhook is notified;
 * - A's own later log files arrive too (only its notifications wait);
 * - /health keeps answering (whileProbing);
 * - GetTrailStatus reports A's CloudWatch Logs timeout, and later A's webhook timeout, and nothing
 *   for B;
 * - SIGTERM still ends the server while A's webhook hangs (the drain has a deadline).
 * The check that fails when after-delivery runs inline with the delivery loop is causal, not
 * timed: B's files are in the bucket while A's first webhook call has not ended yet (its timeout
 * has not been reported and the hanging server still holds the request open).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CreateTrailCommand, GetTrailStatusCommand, StartLoggingCommand, type CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, cloudTrailClient, startServer, tempDir, type StartedServer, type TestConfig } from '../helpers/server.ts';
import { signedFetch } from '../helpers/signed-fetch.ts';
import { assertAlive, whileProbing } from './liveness.ts';
import { filesBelow } from '../helpers/delivery.ts';

const A = ACCOUNT_A.id;
const alice = ACCOUNT_A.identities[1]!; // trustedProducer
const arn = (name: string) => `arn:aws:cloudtrail:us-east-1:${A}:trail/${name}`;
/** A's webhook gives up after this; long enough that B's delivery cannot be waiting for it. */
const HUNG_HOOK_TIMEOUT_MS = 15_000;

interface Rec { eventID: string; [k: string]: unknown }

/** Accepts connections, reads what is sent, never answers. */
class BlackHole {
  readonly server: TcpServer;
  readonly sockets = new Set<Socket>();
  /** Connections that sent something (a request) and are still open. */
  open = 0;
  requests = 0;
  constructor() {
    this.server = createTcpServer((s) => {
      this.sockets.add(s);
      let counted = false;
      s.on('data', () => {
        if (!counted) {
          counted = true;
          this.requests++;
          this.open++;
        }
      });
      s.on('error', () => {});
      s.on('close', () => {
        this.sockets.delete(s);
        if (counted) this.open--;
      });
    });
  }
  async listen(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

const hungHook = new BlackHole();
const hungLogs = new BlackHole();
let okHook: Server;
const okBodies: string[] = [];
let server: StartedServer;
let ct: CloudTrailClient;
let dataDir: string;
let hookUrl: string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms: number): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}\n${server?.output().slice(-3000)}`);
    await sleep(50);
  }
}

/** Event IDs of every record in a filesystem bucket. */
function bucketIds(bucket: string): Set<string> {
  const out = new Set<string>();
  for (const p of filesBelow(join(dataDir, 'buckets', bucket))) {
    if (!p.endsWith('.json.gz')) continue;
    for (const r of (JSON.parse(gunzipSync(readFileSync(p)).toString('utf8')) as { Records: Rec[] }).Records) out.add(r.eventID);
  }
  return out;
}

function records(n: number, tag: string): Rec[] {
  return Array.from({ length: n }, (_, i) => ({
    eventID: randomUUID(),
    eventTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    eventSource: 'ec2.amazonaws.com',
    eventName: i % 2 ? 'RunInstances' : 'DescribeInstances',
    awsRegion: 'us-east-1',
    recipientAccountId: A,
    requestParameters: { tag },
  }));
}

async function ingest(recs: Rec[]): Promise<void> {
  const res = await signedFetch(`${server.url}/ingest`, alice, { body: JSON.stringify({ Records: recs }), headers: { 'content-type': 'application/json' } });
  const out = (await res.json()) as { accepted: number; rejected: number };
  assert.equal(out.rejected, 0, JSON.stringify(out));
}

const hasAll = (bucket: string, want: Rec[]) => {
  const got = bucketIds(bucket);
  return want.every((r) => got.has(r.eventID)) ? true : undefined;
};

before(async () => {
  hookUrl = await hungHook.listen();
  const logsUrl = await hungLogs.listen();
  okHook = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => {
      okBodies.push(body);
      res.statusCode = 204;
      res.end();
    });
  });
  await new Promise<void>((r) => okHook.listen(0, '127.0.0.1', r));
  const okUrl = `http://127.0.0.1:${(okHook.address() as AddressInfo).port}`;
  dataDir = tempDir();
  for (const b of ['a-bucket', 'b-bucket']) mkdirSync(join(dataDir, 'buckets', b), { recursive: true });
  const delivery = { maxAgeMs: 300, pollMs: 50, drainTimeoutMs: 1000 };
  const config: TestConfig & Record<string, unknown> = {
    regions: ['us-east-1'],
    accounts: [ACCOUNT_A],
    delivery,
    webhooks: [
      { url: `${hookUrl}/hook`, trailArns: [arn('a-hung')], timeoutMs: HUNG_HOOK_TIMEOUT_MS },
      { url: `${okUrl}/hook`, trailArns: [arn('b-healthy')] },
    ],
    // The SDK gives up on a silent endpoint after requestTimeoutMs, once.
    cloudWatchLogs: { endpoint: logsUrl, region: 'us-east-1', accessKeyId: 'testing', secretAccessKey: 'testing', requestTimeoutMs: 1000, maxAttempts: 1 },
  };
  server = await startServer(config, { dataDir });
  ct = cloudTrailClient(server.url, alice, 'us-east-1');
  await ct.send(new CreateTrailCommand({
    Name: 'a-hung', S3BucketName: 'a-bucket',
    CloudWatchLogsLogGroupArn: `arn:aws:logs:us-east-1:${A}:log-group:hung:*`, CloudWatchLogsRoleArn: `arn:aws:iam::${A}:role/cwl`,
  }));
  await ct.send(new CreateTrailCommand({ Name: 'b-healthy', S3BucketName: 'b-bucket' }));
  for (const name of ['a-hung', 'b-healthy']) await ct.send(new StartLoggingCommand({ Name: name }));
});

after(async () => {
  ct?.destroy();
  // A server that cannot shut down (a target holding it) must not hold the test run too.
  await Promise.race([server?.stop(), new Promise((r) => setTimeout(r, 30_000).unref())]);
  await server?.kill();
  await hungHook.close();
  await hungLogs.close();
  await new Promise((r) => okHook?.close(r));
});

test('a webhook and a CloudWatch Logs endpoint that never answer hold up only their own trail\'s notifications', async () => {
  // Both trails take every management event of the account: the first batch goes to both, and
  // A's webhook call for it hangs.
  const first = records(20, 'first');
  await ingest(first);
  await waitFor('A\'s webhook request to arrive and hang', () => (hungHook.open > 0 ? true : undefined), 15_000);
  const t0 = Date.now();

  await whileProbing(server, async () => {
    // Everything ingested now closes a batch of its own while A's first webhook call still hangs.
    const second = records(20, 'second');
    await ingest(second);
    await waitFor('B\'s files (both batches) while A\'s webhook hangs', () => hasAll('b-bucket', [...first, ...second]), 12_000);
    await waitFor('A\'s own files (both batches) while its webhook hangs', () => hasAll('a-bucket', [...first, ...second]), 12_000);
    const tB = Date.now() - t0;

    // The causal check: A's first webhook call has not ended, yet every file is in place.
    const aNow = await ct.send(new GetTrailStatusCommand({ Name: 'a-hung' }));
    assert.equal(aNow.LatestNotificationError, undefined, `A's webhook call ended before B's files arrived (after ${tB} ms): delivery waited for it`);
    assert.ok(hungHook.open > 0, 'A\'s first webhook request is still open');
    assert.ok(aNow.LatestDeliveryTime instanceof Date, 'A\'s files are delivered');
    assert.equal(aNow.LatestDeliveryError, undefined);

    // B's healthy webhook got B's notifications meanwhile.
    await waitFor('B\'s webhook to be notified', () => (okBodies.length >= 1 ? true : undefined), 12_000);
    const b = await waitFor('B\'s notification time', async () => {
      const s = await ct.send(new GetTrailStatusCommand({ Name: 'b-healthy' }));
      return s.LatestNotificationTime instanceof Date ? s : undefined;
    }, 12_000);
    assert.equal(b.LatestNotificationError, undefined);
    assert.equal(b.LatestDeliveryError, undefined);
    assert.equal(b.LatestCloudWatchLogsDeliveryError, undefined);

    // A's CloudWatch Logs endpoint timed out and says so, while its webhook still hangs.
    const aLogs = await waitFor('A\'s CloudWatch Logs timeout to be reported', async () => {
      const s = await ct.send(new GetTrailStatusCommand({ Name: 'a-hung' }));
      return s.LatestCloudWatchLogsDeliveryError ? s : undefined;
    }, 12_000);
    assert.equal(aLogs.LatestCloudWatchLogsDeliveryError, 'CloudWatchLogsTimeout');
    assert.ok(hungLogs.requests >= 1, 'the CloudWatch Logs endpoint was called');
    console.log(`# B's files and A's files arrived ${tB} ms after A's webhook started hanging`);
  });

  // In the end A's webhook call times out, and GetTrailStatus says so; the server is fine.
  const aHook = await waitFor('A\'s webhook timeout to be reported', async () => {
    const s = await ct.send(new GetTrailStatusCommand({ Name: 'a-hung' }));
    return s.LatestNotificationError ? s : undefined;
  }, HUNG_HOOK_TIMEOUT_MS + 15_000);
  assert.equal(aHook.LatestNotificationError, 'WebhookTimeout');
  assert.equal(aHook.LatestNotificationTime, undefined, 'A was never notified');
  assert.ok(aHook.LatestNotificationAttemptTime, 'the attempt is reported');
  const b = await ct.send(new GetTrailStatusCommand({ Name: 'b-healthy' }));
  assert.equal(b.LatestNotificationError, undefined);
  assertAlive(server);

  // A's next webhook call hangs too; shutdown still ends (after delivery.drainTimeoutMs), cleanly.
  await waitFor('A\'s next webhook call to hang', () => (hungHook.open > 0 ? true : undefined), 15_000);
  const exit = await Promise.race([server.stop(), new Promise((r) => setTimeout(r, 30_000, 'still running').unref())]);
  assert.equal(exit, 0, `the server exits on SIGTERM while a target hangs:\n${server.output().slice(-2000)}`);
  assert.ok(!server.output().includes(hookUrl), 'the webhook URL (it may hold a token) is never logged');
});
