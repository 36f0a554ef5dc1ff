/**
 * EventBridge forwarding benchmark (BENCH_ONLY=eventbridge; docs/performance.md "Issue 16"):
 *
 * 1. Floor: moto's own latency, PutEvents (one entry) to the message received from the SQS queue a
 *    rule of the default bus targets, measured directly; and moto's capacity, entries/s of
 *    PutEvents calls of 10 entries delivered to SQS.
 * 2. End to end through moto: events ingested at BENCH_EB_MOTO_RATE/s (default 2, what moto
 *    sustains on this machine) for BENCH_EB_MOTO_SECONDS (default 10); for each, from its ingest
 *    acknowledgement to its envelope received from the SQS queue: p50/p99, beside the floor.
 * 3. The forwarder at BENCH_EB_RATE/s (default 1000) for BENCH_EB_SECONDS (default 5), against a
 *    local PutEvents endpoint that answers at once (moto cannot take 1,000 entries/s): from the
 *    ingest acknowledgement to the PutEvents request carrying the event received; p50/p99, the
 *    rate forwarded, and the ingest rate with and without forwarding.
 */
import http, { Agent } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { CreateQueueCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { EventBridgeClient, PutEventsCommand, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { startMoto } from '../test/helpers/moto.ts';
import { log, post, round, signPost, startBenchServer, summarize } from './lib.ts';

const ACCOUNT = '111111111111';
const CREDS = { accessKeyId: 'testing', secretAccessKey: 'testing' };

export interface EventBridgeBenchOptions {
  /** Which parts: floor, moto, rate (default all). */
  parts?: string[];
  rate: number;
  seconds: number;
  motoRate: number;
  motoSeconds: number;
  floorSamples: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function record(i: number): Record<string, unknown> {
  return {
    eventVersion: '1.09', eventTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'), eventSource: 'ec2.amazonaws.com', eventName: 'CreateTags',
    awsRegion: 'us-east-1', sourceIPAddress: '198.51.100.7', userAgent: 'bench', eventID: randomUUID(), eventType: 'AwsApiCall', readOnly: false,
    recipientAccountId: ACCOUNT, requestParameters: { resourcesSet: { items: [{ resourceId: `i-${i}` }] }, tagSet: { items: [{ key: 'k', value: 'v' }] } },
    userIdentity: { type: 'IAMUser', principalId: 'AIDABENCH', arn: `arn:aws:iam::${ACCOUNT}:user/bench`, accountId: ACCOUNT, accessKeyId: 'AKIABENCH', userName: 'bench' },
  };
}

/** Ingests `perSecond` events a second for `seconds`, in POSTs every 20 ms; the ack time of each event id. */
async function steadyIngest(url: string, perSecond: number, seconds: number): Promise<{ acks: Map<string, number>; ingestSeconds: number }> {
  const acks = new Map<string, number>();
  const tickMs = perSecond >= 50 ? 20 : Math.round(1000 / perSecond);
  const perTick = Math.max(1, Math.round((perSecond * tickMs) / 1000));
  const ticks = Math.round((seconds * 1000) / tickMs);
  const t0 = performance.now();
  const inflight: Promise<void>[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const target = new URL(url);
  let n = 0;
  for (let t = 0; t < ticks; t++) {
    const due = t0 + t * tickMs;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const recs = Array.from({ length: perTick }, () => record(n++));
    const body = Buffer.from(JSON.stringify({ Records: recs }));
    inflight.push((async () => {
      const headers = await signPost(url, '/ingest', body, 'application/json');
      const res = await post(agent, target, headers, body);
      if (res.status !== 200) throw new Error(`ingest answered ${res.status}`);
      const at = performance.timeOrigin + performance.now();
      for (const r of recs) acks.set(r.eventID as string, at);
    })());
  }
  await Promise.all(inflight);
  agent.destroy();
  return { acks, ingestSeconds: (performance.now() - t0) / 1000 };
}

/** Receives from the queue until `want` ids arrived or the time is up; receipt time of each event id (from the envelope's detail). */
async function receiveAll(sqs: SQSClient, queueUrl: string, want: ReadonlySet<string>, timeoutMs: number, received = new Map<string, number>()): Promise<Map<string, number>> {
  const until = Date.now() + timeoutMs;
  const workers = Array.from({ length: 4 }, async () => {
    while (Date.now() < until && [...want].some((id) => !received.has(id))) {
      const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      const at = Date.now();
      const msgs = out.Messages ?? [];
      for (const m of msgs) {
        const id = (JSON.parse(m.Body!) as { detail?: { eventID?: string; n?: string } }).detail;
        const key = id?.n ?? id?.eventID;
        if (key && !received.has(key)) received.set(key, at);
      }
      if (msgs.length > 0) await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: msgs.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
    }
  });
  await Promise.all(workers);
  return received;
}

/** A PutEvents endpoint that answers at once and notes when each event id arrived. */
async function putEventsSink(): Promise<{ url: string; seen: Map<string, number>; close(): Promise<void> }> {
  const seen = new Map<string, number>();
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { Entries: { Detail: string }[] };
      for (const e of body.Entries) seen.set((JSON.parse(e.Detail) as { eventID: string }).eventID, at);
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify({ FailedEntryCount: 0, Entries: body.Entries.map(() => ({ EventId: randomUUID() })) }));
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(srv.address() as { port: number }).port}`, seen, close: () => new Promise((r) => srv.close(() => r())) };
}

function latencies(acks: Map<string, number>, got: Map<string, number>): number[] {
  const out: number[] = [];
  for (const [id, at] of acks) {
    const r = got.get(id);
    if (r !== undefined) out.push(Math.max(0, r - at));
  }
  return out;
}

export async function runEventBridge(opts: EventBridgeBenchOptions): Promise<Record<string, unknown>> {
  const moto = await startMoto({ accountId: ACCOUNT });
  const cfg = { endpoint: moto.url, region: 'us-east-1', credentials: { ...CREDS } };
  const sqs = new SQSClient(cfg);
  const eb = new EventBridgeClient(cfg);
  const work = mkdtempSync(join(tmpdir(), 'bench-eb-'));
  try {
    const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'bench' }))).QueueUrl!;
    const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
    await eb.send(new PutRuleCommand({ Name: 'ct', EventPattern: JSON.stringify({ 'detail-type': ['AWS API Call via CloudTrail'] }) }));
    await eb.send(new PutTargetsCommand({ Rule: 'ct', Targets: [{ Id: 'q', Arn: arn }] }));

    const part = (p: string) => !opts.parts || opts.parts.includes(p);
    const result: Record<string, unknown> = {};
    // 1. The floor: moto by itself.
    if (part('floor')) {
      log(`eventbridge: moto's own PutEvents -> SQS latency, ${opts.floorSamples} samples`);
      const floor: number[] = [];
      for (let i = 0; i < opts.floorSamples; i++) {
        const n = randomUUID();
        const t = Date.now();
        await eb.send(new PutEventsCommand({ Entries: [{ Source: 'aws.ec2', DetailType: 'AWS API Call via CloudTrail', Detail: JSON.stringify({ ...record(i), n }), EventBusName: 'default' }] }));
        const got = await receiveAll(sqs, queueUrl, new Set([n]), 30_000);
        if (got.has(n)) floor.push(got.get(n)! - t);
      }
      const t10 = performance.now();
      const calls = 3;
      for (let c = 0; c < calls; c++) {
        await eb.send(new PutEventsCommand({ Entries: Array.from({ length: 10 }, (_, i) => ({ Source: 'aws.ec2', DetailType: 'AWS API Call via CloudTrail', Detail: JSON.stringify(record(i)), EventBusName: 'default' })) }));
      }
      const motoEntriesPerSecond = (calls * 10) / ((performance.now() - t10) / 1000);
      await receiveAll(sqs, queueUrl, new Set(['never']), 3000);
      result.floor = { motoPutEventsToSqsMs: summarize(floor), motoEntriesPerSecond: round(motoEntriesPerSecond, 1) };
    }

    // 2. End to end through moto, at a rate moto sustains.
    if (part('moto')) {
      log(`eventbridge: end to end through moto at ${opts.motoRate}/s for ${opts.motoSeconds} s`);
      const server = await startBenchServer(join(work, 'moto'), [], { eventBridge: { endpoint: moto.url, region: 'us-east-1', ...CREDS } });
      let viaMoto: Record<string, unknown>;
      try {
        // The queue is read while ingesting: a message received only after ingest ended would count
        // the rest of the ingest window as latency.
        const got = new Map<string, number>();
        const receiving = receiveAll(sqs, queueUrl, new Set(['never']), opts.motoSeconds * 1000 + 5000, got);
        const { acks } = await steadyIngest(server.url, opts.motoRate, opts.motoSeconds);
        await receiving;
        await receiveAll(sqs, queueUrl, new Set(acks.keys()), 120_000, got);
        viaMoto = { events: acks.size, received: [...acks.keys()].filter((k) => got.has(k)).length, latencyMs: summarize(latencies(acks, got)) };
      } finally {
        await server.stop();
      }
      result.throughMoto = { rate: opts.motoRate, ...viaMoto };
    }

    // 3. The forwarder at full rate against an endpoint that answers at once; first the same ingest without it.
    if (part('rate')) {
      log(`eventbridge: the same ingest without forwarding, ${opts.rate}/s for ${opts.seconds} s`);
      const plain = await startBenchServer(join(work, 'plain'));
      let baselineIngest: number;
      try {
        const { acks, ingestSeconds } = await steadyIngest(plain.url, opts.rate, opts.seconds);
        baselineIngest = round(acks.size / ingestSeconds, 1);
      } finally {
        await plain.stop();
      }
      log(`eventbridge: forwarder at ${opts.rate}/s for ${opts.seconds} s against a local PutEvents endpoint`);
      const sink = await putEventsSink();
      const fast = await startBenchServer(join(work, 'sink'), [], { eventBridge: { endpoint: sink.url, region: 'us-east-1', ...CREDS } });
      let atRate: Record<string, unknown>;
      try {
        const t0 = Date.now();
        const { acks, ingestSeconds } = await steadyIngest(fast.url, opts.rate, opts.seconds);
        const until = Date.now() + 60_000;
        while (Date.now() < until && [...acks.keys()].some((k) => !sink.seen.has(k))) await sleep(50);
        const last = Math.max(...[...acks.keys()].map((k) => sink.seen.get(k) ?? 0));
        atRate = {
          events: acks.size, forwarded: [...acks.keys()].filter((k) => sink.seen.has(k)).length, ingestEventsPerSecond: round(acks.size / ingestSeconds, 1), ingestEventsPerSecondWithoutForwarding: baselineIngest,
          forwardedEventsPerSecond: round(acks.size / ((last - t0) / 1000), 1), latencyMs: summarize(latencies(acks, sink.seen)),
        };
      } finally {
        await fast.stop();
        await sink.close();
      }
      result.forwarderAtRate = { rate: opts.rate, endpoint: 'local PutEvents endpoint answering at once', ...atRate };
    }
    return result;
  } finally {
    sqs.destroy();
    eb.destroy();
    await moto.stop();
    rmSync(work, { recursive: true, force: true });
  }
}


