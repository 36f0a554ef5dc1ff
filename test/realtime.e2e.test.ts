/**
 * Real time, end to end (docs/realtime.md): one real server, moto as EventBridge, SQS and SNS.
 *
 * - EventBridge forwarding: a rule on moto's default bus with an SQS target receives the envelope
 *   for an API call recorded through the recording gateway and for an ingested event, field for
 *   field (the record as stored is the detail); the endpoint goes down (a proxy in front of moto
 *   refuses connections) and comes back: nothing is lost, and ingest and Event history never wait.
 * - Built-in rules: one rule per pattern operator, each with its own SQS queue (one through SNS,
 *   one webhook); each receives exactly the envelopes its pattern matches.
 * - Live tail: GET /events/stream shows only the caller's account and Region, each message a
 *   LookupEvents entry with the same bytes; resumed with Last-Event-ID it misses and repeats
 *   nothing; streams per caller are bounded; `opentrail tail` in a child process prints an event
 *   ingested after it started.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CreateQueueCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { EventBridgeClient, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { ACCOUNT_A, ACCOUNT_B, BIN, startServer, type StartedServer, type TestIdentity } from './helpers/server.ts';
import { MOTO_CREDENTIALS, MOTO_REGION, motoSns, startMoto, type StartedMoto } from './helpers/moto.ts';
import { eventLog, ingest, iso, waitFor, type Json } from './helpers/delivery.ts';
import { signedFetch, signRequest } from './helpers/signed-fetch.ts';
import { serverSentEvents } from '../src/cli/tail.ts';

const alice = ACCOUNT_A.identities[1]!;
const bob = ACCOUNT_A.identities[2]!;
const carol = ACCOUNT_B.identities[0]!;
const A = ACCOUNT_A.id;

const envelopes = readFileSync(new URL('./fixtures/corpus/cloud-custodian-eventbridge-envelopes.jsonl', import.meta.url), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Json);

/** A TCP proxy to moto that can refuse connections (the EventBridge endpoint going down) and come back on the same port. */
async function switchableProxy(target: number): Promise<{ url: string; down(): Promise<void>; up(): Promise<void>; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = 0;
  const listen = () => new Promise<void>((resolve, reject) => {
    server = net.createServer((c) => {
      const u = net.connect(target, '127.0.0.1');
      sockets.add(c);
      sockets.add(u);
      c.pipe(u).pipe(c);
      const end = () => {
        c.destroy();
        u.destroy();
        sockets.delete(c);
        sockets.delete(u);
      };
      c.on('error', end).on('close', end);
      u.on('error', end).on('close', end);
    });
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      port = (server!.address() as net.AddressInfo).port;
      resolve();
    });
  });
  const stop = () => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    sockets.clear();
    if (!server) return resolve();
    server.close(() => resolve());
    server = undefined;
  });
  await listen();
  return { url: `http://127.0.0.1:${port}`, down: stop, up: listen, close: stop };
}

/** A webhook receiver that keeps every body. */
async function webhookReceiver(): Promise<{ url: string; bodies: Json[]; close(): Promise<void> }> {
  const bodies: Json[] = [];
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Json);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(srv.address() as net.AddressInfo).port}/hook`, bodies, close: () => new Promise((r) => srv.close(() => r())) };
}

/** Everything an SQS queue holds, parsed and deleted: collected until `until` holds or the time runs out. */
class Inbox {
  readonly messages: Json[] = [];
  private readonly sqs: SQSClient;
  readonly url: string;
  constructor(sqs: SQSClient, url: string) {
    this.sqs = sqs;
    this.url = url;
  }

  async poll(): Promise<void> {
    const out = await this.sqs.send(new ReceiveMessageCommand({ QueueUrl: this.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    const got = out.Messages ?? [];
    if (got.length === 0) return;
    for (const m of got) this.messages.push(JSON.parse(m.Body!) as Json);
    await this.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: this.url, Entries: got.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
  }

  async until(what: string, cond: (msgs: Json[]) => boolean, ms = 15_000): Promise<Json[]> {
    await waitFor(async () => {
      await this.poll();
      return cond(this.messages);
    }, ms, what, 200);
    return this.messages;
  }

  /** The envelopes whose detail carries one of these event ids (SNS-wrapped ones unwrapped). */
  ids(): string[] {
    return this.messages.map((m) => (m.Type === 'Notification' ? (JSON.parse(m.Message as string) as Json) : m)).map((e) => e.detail?.eventID as string);
  }
}

function record(x: Json): Json {
  return {
    eventVersion: '1.09',
    userIdentity: { type: 'IAMUser', principalId: 'AIDAEXAMPLE', arn: `arn:aws:iam::${A}:user/alice`, accountId: A, accessKeyId: 'AKIAEXAMPLEKEY', userName: 'alice' },
    eventTime: iso(Date.now()), eventSource: 'ec2.amazonaws.com', awsRegion: 'us-east-1', sourceIPAddress: '198.51.100.1', userAgent: 'rt-test',
    eventID: randomUUID(), eventType: 'AwsApiCall', readOnly: false, recipientAccountId: A, eventName: 'CreateTags',
    ...x,
  };
}

let moto: StartedMoto;
let proxy: Awaited<ReturnType<typeof switchableProxy>>;
let hook: Awaited<ReturnType<typeof webhookReceiver>>;
let server: StartedServer;
let sqs: SQSClient;
/** moto's default-bus rule target: every CloudTrail envelope the forwarder puts. */
let busInbox: Inbox;
const ruleQueues = new Map<string, Inbox>();

const RULES: { name: string; pattern: Json; state?: string; via?: 'sns' | 'webhook' }[] = [
  { name: 'prefix', pattern: { detail: { eventName: [{ prefix: 'Create' }] } } },
  { name: 'suffix', pattern: { detail: { eventName: [{ suffix: 'Tags' }] } } },
  { name: 'anything-but', pattern: { detail: { eventName: [{ 'anything-but': { prefix: 'Create' } }] } } },
  { name: 'numeric', pattern: { detail: { requestParameters: { count: [{ numeric: ['>', 2, '<=', 12] }] } } } },
  { name: 'exists', pattern: { detail: { errorCode: [{ exists: true }] } } },
  { name: 'wildcard', pattern: { detail: { eventName: [{ wildcard: 'Delete*s' }] } }, via: 'sns' },
  { name: 'or-cidr-all', pattern: { detail: { $or: [{ sourceIPAddress: [{ cidr: '10.0.0.0/24' }] }, { errorCode: [{ exists: true }] }] } }, state: 'ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS' },
  { name: 'ignore-case', pattern: { 'detail-type': [{ 'equals-ignore-case': 'aws api call via cloudtrail' }], detail: { eventName: ['DeleteTags'] } }, via: 'webhook' },
];

before(async () => {
  moto = await startMoto({ accountId: A });
  proxy = await switchableProxy(moto.port);
  hook = await webhookReceiver();
  sqs = new SQSClient({ endpoint: moto.url, region: MOTO_REGION, credentials: { ...MOTO_CREDENTIALS }, maxAttempts: 1 });
  const queue = async (name: string) => {
    const url = (await sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
    const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
    return { url, arn };
  };
  const bus = await queue('bus');
  busInbox = new Inbox(sqs, bus.url);
  const eb = new EventBridgeClient({ endpoint: moto.url, region: MOTO_REGION, credentials: { ...MOTO_CREDENTIALS }, maxAttempts: 1 });
  await eb.send(new PutRuleCommand({ Name: 'cloudtrail', EventBusName: 'default', EventPattern: JSON.stringify({ 'detail-type': ['AWS API Call via CloudTrail'] }) }));
  await eb.send(new PutTargetsCommand({ Rule: 'cloudtrail', EventBusName: 'default', Targets: [{ Id: 'q', Arn: bus.arn }] }));
  eb.destroy();
  const sns = motoSns(moto);
  const rules: Json[] = [];
  for (const r of RULES) {
    const q = await queue(`rule-${r.name}`);
    ruleQueues.set(r.name, new Inbox(sqs, q.url));
    let target: Json = { sqs: q.url };
    if (r.via === 'sns') {
      const topic = (await sns.send(new CreateTopicCommand({ Name: `rule-${r.name}` }))).TopicArn!;
      await sns.send(new SubscribeCommand({ TopicArn: topic, Protocol: 'sqs', Endpoint: q.arn }));
      target = { sns: topic };
    }
    if (r.via === 'webhook') target = { webhook: hook.url };
    rules.push({ name: r.name, eventPattern: { detail: { userAgent: ['rt-test'] }, ...r.pattern, ...(r.pattern.detail ? { detail: { userAgent: ['rt-test'], ...r.pattern.detail } } : {}) }, targets: [target], ...(r.state ? { state: r.state } : {}) });
  }
  sns.destroy();
  const neighbour = { endpoint: moto.url, region: MOTO_REGION, ...MOTO_CREDENTIALS };
  server = await startServer({
    accounts: [ACCOUNT_A, ACCOUNT_B], regions: ['us-east-1', 'us-west-2'],
    eventBridge: { endpoint: proxy.url, region: MOTO_REGION, ...MOTO_CREDENTIALS, maxAttempts: 1, requestTimeoutMs: 10_000, readOnlyManagementEvents: false },
    sqs: neighbour, sns: neighbour, rules,
    gateway: { port: 0, upstream: { endpoint: moto.url } },
    liveTail: { maxStreamsPerCaller: 2 },
  });
});

after(async () => {
  await server?.stop();
  sqs?.destroy();
  await proxy?.close();
  await hook?.close();
  await moto?.stop();
});

/** The stored record of an event id in the caller's account. */
async function stored(id: TestIdentity, eventId: string): Promise<Json> {
  const r = (await eventLog(server.url, id)).find((e) => e.record.eventID === eventId);
  assert.ok(r, `event ${eventId} is stored`);
  return r.record;
}

/** The envelope members moto writes, compared with the record as stored and with AWS's envelope. */
function assertEnvelope(env: Json, rec: Json, source: string): void {
  assert.equal(env.version, '0');
  assert.equal(env['detail-type'], 'AWS API Call via CloudTrail');
  assert.equal(env.source, source);
  // moto's delivery leaves `account` out; AWS writes the caller's account (the built-in rules' envelope has it).
  assert.ok(env.account === undefined || env.account === A, `account ${env.account}`);
  assert.equal(env.time, rec.eventTime.replace(/\.\d+Z$/, 'Z'));
  assert.equal(env.region, rec.awsRegion);
  assert.deepEqual(env.resources, []);
  assert.match(env.id, /^[0-9a-f-]{36}$/);
  assert.deepEqual(env.detail, rec);
  // Every member AWS writes (the real envelopes' keys) is there, but for moto's missing account.
  for (const k of Object.keys(envelopes[1]!)) if (k !== 'debug' && k !== 'account') assert.ok(k in env, `envelope has ${k}`);
}

describe('EventBridge forwarding', () => {
  test('an API call recorded through the recording gateway reaches a rule of the default bus as AWS writes it', async () => {
    const s3 = new S3Client({ endpoint: server.gatewayUrl, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: alice.accessKeyId, secretAccessKey: alice.secretAccessKey }, maxAttempts: 1 });
    await s3.send(new CreateBucketCommand({ Bucket: `rt-${Date.now()}` }));
    s3.destroy();
    const msgs = await busInbox.until('the CreateBucket envelope', (m) => m.some((e) => e.detail?.eventName === 'CreateBucket'));
    const env = msgs.find((e) => e.detail?.eventName === 'CreateBucket')!;
    assertEnvelope(env, await stored(alice, env.detail.eventID as string), 'aws.s3');
  });

  test('an ingested event reaches it too, detail the record as stored (a real envelope\'s record)', async () => {
    const real = envelopes[1]!;
    const rec = { ...(real.detail as Json), eventID: randomUUID(), recipientAccountId: A, userIdentity: { ...(real.detail as Json).userIdentity, accountId: A }, eventTime: iso(Date.now()) };
    await ingest(server.url, alice, [rec]);
    const msgs = await busInbox.until('the ingested envelope', (m) => m.some((e) => e.detail?.eventID === rec.eventID));
    const env = msgs.find((e) => e.detail?.eventID === rec.eventID)!;
    assertEnvelope(env, await stored(alice, rec.eventID), real.source as string);
    assert.equal(env.source, 'aws.elasticloadbalancing');
  });

  test('the endpoint down then up: nothing lost, and ingest and Event history never waited', async () => {
    await proxy.down();
    // (moto takes about 0.4 s per entry it delivers to SQS on this machine: a dozen events.)
    const batch = Array.from({ length: 12 }, (_, i) => record({ userAgent: 'rt-down', eventName: `Down${i}` }));
    const t0 = performance.now();
    await ingest(server.url, alice, batch.slice(0, 5));
    await ingest(server.url, alice, batch.slice(5));
    // Event history has them at once, whatever EventBridge does.
    const res = await signedFetch(server.url, alice, {
      body: JSON.stringify({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'Down11' }] }), service: 'cloudtrail',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'CloudTrail_20131101.LookupEvents' },
    });
    assert.equal(((await res.json()) as Json).Events.length, 1);
    assert.ok(performance.now() - t0 < 10_000);
    // The forwarder reports its failure (metrics; `opentrail status` reads them).
    await waitFor(async () => /opentrail_consumer_last_failure_timestamp_seconds\{consumer="realtime",resource="eventbridge",code="[A-Za-z]+"\}/.test(await (await fetch(`${server.url}/metrics`)).text()), 10_000, 'the failure in the metrics');
    await proxy.up();
    const want = new Set(batch.map((r) => r.eventID as string));
    await busInbox.until('every event sent while the endpoint was down', (m) => [...want].every((id) => m.some((e) => e.detail?.eventID === id)), 30_000).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}; got ${busInbox.ids().filter((id) => want.has(id)).length} of ${want.size}, missing ${batch.filter((r) => !busInbox.ids().includes(r.eventID as string)).map((r) => r.eventName).join()}; received ${busInbox.messages.map((m) => m.detail?.eventName).join()}; server log:\n${server.output().split('\n').filter((l) => /eventbridge/i.test(l)).map((l) => l.replace(/"stack":"[^"]*"/g, '').slice(0, 600)).slice(-12).join('\n')}`);
    });
    await waitFor(async () => !/consumer_last_failure_timestamp_seconds\{consumer="realtime",resource="eventbridge"/.test(await (await fetch(`${server.url}/metrics`)).text()), 10_000, 'the failure cleared');
    const sent = /opentrail_eventbridge_entries_total\{outcome="sent"\} (\d+)/.exec(await (await fetch(`${server.url}/metrics`)).text());
    assert.ok(sent && Number(sent[1]) >= want.size, `sent counter ${sent?.[1]}`);
  });
});

describe('built-in rules', () => {
  test('each pattern operator sends exactly the envelopes it matches, to its own target', async () => {
    const e1 = record({ eventName: 'CreateTags', sourceIPAddress: '10.0.0.5', requestParameters: { count: 3 } });
    const e2 = record({ eventName: 'DeleteTags', sourceIPAddress: '192.0.2.9', requestParameters: { count: 12 }, errorCode: 'AccessDenied', errorMessage: 'no' });
    const e3 = record({ eventName: 'DescribeInstances', readOnly: true, sourceIPAddress: '10.0.0.7', requestParameters: { count: 1 } });
    const e4 = record({ eventName: 'CreateTags', sourceIPAddress: '10.0.1.5', requestParameters: { count: 13 }, recipientAccountId: ACCOUNT_B.id, userIdentity: { type: 'IAMUser', accountId: ACCOUNT_B.id, userName: 'carol', principalId: 'AIDAC', arn: `arn:aws:iam::${ACCOUNT_B.id}:user/carol` } });
    await ingest(server.url, alice, [e1, e2, e3, e4]);
    const expect: Record<string, Json[]> = {
      prefix: [e1, e4], suffix: [e1, e2, e4], 'anything-but': [e2], numeric: [e1, e2], exists: [e2], wildcard: [e2], 'or-cidr-all': [e1, e2, e3],
    };
    for (const [name, want] of Object.entries(expect)) {
      const inbox = ruleQueues.get(name)!;
      await inbox.until(`rule ${name}`, () => want.every((w) => inbox.ids().includes(w.eventID as string)));
    }
    await waitFor(() => hook.bodies.some((b) => b.detail?.eventID === e2.eventID), 10_000, 'the webhook rule');
    // Nothing else came (late ones included).
    await new Promise((r) => setTimeout(r, 800));
    for (const [name, want] of Object.entries(expect)) {
      const inbox = ruleQueues.get(name)!;
      await inbox.poll();
      assert.deepEqual(inbox.ids().sort(), want.map((w) => w.eventID as string).sort(), `rule ${name}`);
    }
    assert.deepEqual(hook.bodies.map((b) => b.detail.eventID), [e2.eventID], 'rule ignore-case (webhook)');
    // The envelope as AWS writes it: member order, account, and the record as stored.
    const env = ruleQueues.get('exists')!.messages[0]!;
    assert.deepEqual(Object.keys(env), ['version', 'id', 'detail-type', 'source', 'account', 'time', 'region', 'resources', 'detail']);
    assert.equal(env.account, A);
    assert.equal(env.source, 'aws.ec2');
    assert.deepEqual(env.detail, await stored(alice, e2.eventID as string));
    assert.deepEqual(hook.bodies[0], env, 'every target gets the same envelope');
    const sns = ruleQueues.get('wildcard')!.messages[0]!;
    assert.deepEqual(JSON.parse(sns.Message as string), env, 'SNS publishes the envelope as the message');
  });
});

/** An open live tail: its messages as they come. */
async function openTail(id: TestIdentity, query = '', headers: Record<string, string> = {}, region = 'us-east-1') {
  const url = `${server.url}/events/stream${query}`;
  const signed = await signRequest(url, id, { region, headers, service: 'cloudtrail' });
  const ctrl = new AbortController();
  const res = await fetch(url, { headers: signed.headers, signal: ctrl.signal });
  const msgs: { id?: string; data?: string }[] = [];
  let done: Promise<void> = Promise.resolve();
  if (res.status === 200) {
    done = (async () => {
      try {
        for await (const m of serverSentEvents(res.body!)) msgs.push(m);
      } catch {
        // aborted
      }
    })();
  }
  const entries = () => msgs.filter((m) => m.data !== undefined).map((m) => ({ id: m.id!, entry: JSON.parse(m.data!) as Json }));
  return { res, msgs, entries, close: async () => {
    ctrl.abort();
    await done;
  } };
}

describe('live tail', () => {
  test('the caller sees its account and Region only, each message a LookupEvents entry with the same bytes', async () => {
    const tail = await openTail(alice);
    assert.equal(tail.res.status, 200);
    assert.match(tail.res.headers.get('content-type')!, /^text\/event-stream/);
    const mine = [record({ eventName: 'TailMine1' }), record({ eventName: 'TailMine2' })];
    const others = [
      record({ eventName: 'TailWest', awsRegion: 'us-west-2' }),
      record({ eventName: 'TailData', eventCategory: 'Data', managementEvent: false, eventSource: 's3.amazonaws.com' }),
      record({ eventName: 'TailB', recipientAccountId: ACCOUNT_B.id, userIdentity: { type: 'IAMUser', accountId: ACCOUNT_B.id, userName: 'carol', principalId: 'AIDAC', arn: `arn:aws:iam::${ACCOUNT_B.id}:user/carol` } }),
    ];
    await ingest(server.url, alice, [mine[0]!, others[0]!, others[1]!, others[2]!, mine[1]!]);
    await waitFor(() => mine.every((m) => tail.entries().some((e) => e.entry.EventId === m.eventID)), 10_000, 'both events in the stream');
    await new Promise((r) => setTimeout(r, 300));
    await tail.close();
    const seen = tail.entries();
    for (const o of others) assert.ok(!seen.some((e) => e.entry.EventId === o.eventID), `${o.eventName} is not shown`);
    for (const e of seen) {
      const rec = JSON.parse(e.entry.CloudTrailEvent as string) as Json;
      assert.equal(rec.recipientAccountId, A);
      assert.equal(rec.awsRegion, 'us-east-1');
    }
    // The same bytes as LookupEvents' entry.
    const res = await signedFetch(server.url, alice, {
      body: JSON.stringify({ LookupAttributes: [{ AttributeKey: 'EventId', AttributeValue: mine[0]!.eventID }] }), service: 'cloudtrail',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'CloudTrail_20131101.LookupEvents' },
    });
    const text = await res.text();
    const fromLookup = JSON.stringify((JSON.parse(text) as Json).Events[0]);
    const fromStream = tail.msgs.find((m) => m.data?.includes(mine[0]!.eventID as string))!.data!;
    assert.equal(fromStream, fromLookup);
    // Another account's caller never sees A's events.
    const b = await openTail(carol);
    await ingest(server.url, alice, [record({ eventName: 'TailNotForB' })]);
    await new Promise((r) => setTimeout(r, 1000));
    await b.close();
    assert.deepEqual(b.entries().filter((e) => JSON.parse(e.entry.CloudTrailEvent as string).recipientAccountId !== ACCOUNT_B.id), []);
    assert.ok(!b.entries().some((e) => e.entry.EventName === 'TailNotForB'));
  });

  test('a filter matches as LookupEvents\' LookupAttributes', async () => {
    const tail = await openTail(alice, '?attributeKey=EventName&attributeValue=TailFiltered');
    const want = record({ eventName: 'TailFiltered' });
    await ingest(server.url, alice, [record({ eventName: 'TailUnfiltered' }), want]);
    await waitFor(() => tail.entries().length > 0, 10_000, 'the filtered event');
    await tail.close();
    assert.deepEqual(tail.entries().map((e) => e.entry.EventId), [want.eventID]);
    const bad = await openTail(alice, '?attributeKey=Colour&attributeValue=x');
    assert.equal(bad.res.status, 400);
    assert.equal(((await bad.res.json()) as Json).__type, 'ValidationException');
  });

  test('resumed with Last-Event-ID, a stream misses nothing and repeats nothing', async () => {
    const first = await openTail(alice, '?attributeKey=Username&attributeValue=resumer');
    const evs = Array.from({ length: 9 }, (_, i) => record({ eventName: `Resume${i}`, userIdentity: { type: 'IAMUser', principalId: 'AIDAR', arn: `arn:aws:iam::${A}:user/resumer`, accountId: A, userName: 'resumer' } }));
    await ingest(server.url, alice, evs.slice(0, 5));
    await waitFor(() => first.entries().length >= 3, 10_000, 'three events');
    await first.close();
    const got = first.entries().slice(0, 3);
    await ingest(server.url, alice, evs.slice(5));
    const second = await openTail(alice, '?attributeKey=Username&attributeValue=resumer', { 'last-event-id': got[2]!.id });
    await waitFor(() => second.entries().some((e) => e.entry.EventId === evs[8]!.eventID), 10_000, 'the last event');
    await new Promise((r) => setTimeout(r, 300));
    await second.close();
    assert.deepEqual([...got, ...second.entries()].map((e) => e.entry.EventName), evs.map((e) => e.eventName));
  });

  test('streams per caller are bounded (429 ThrottlingException)', async () => {
    const one = await openTail(bob);
    const two = await openTail(bob);
    const three = await openTail(bob);
    assert.equal(one.res.status, 200);
    assert.equal(two.res.status, 200);
    assert.equal(three.res.status, 429);
    assert.equal(((await three.res.json()) as Json).__type, 'ThrottlingException');
    await one.close();
    await two.close();
    const unsigned = await fetch(`${server.url}/events/stream`);
    assert.equal(unsigned.status, 403);
  });

  test('`opentrail tail` in a child process prints an event ingested after it started', async () => {
    const child = spawn(process.execPath, [BIN, 'tail', '--url', server.url, '--region', 'us-east-1', '--filter', 'EventName=TailCli'], {
      env: { ...process.env, AWS_ACCESS_KEY_ID: alice.accessKeyId, AWS_SECRET_ACCESS_KEY: alice.secretAccessKey, AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null', AWS_PROFILE: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    try {
      await waitFor(() => err.includes('tailing'), 20_000, `the tail to start (${err})`);
      const ev = record({ eventName: 'TailCli' });
      await ingest(server.url, alice, [record({ eventName: 'TailCliOther' }), ev]);
      await waitFor(() => out.includes(ev.eventID as string), 10_000, 'its line');
      const lines = out.trim().split('\n');
      assert.equal(lines.length, 1);
      assert.deepEqual(lines[0]!.split(/ {2}/), [ev.eventTime, 'TailCli', 'ec2.amazonaws.com', 'alice', ev.eventID]);
    } finally {
      child.kill('SIGINT');
    }
    assert.equal(await exited, 0);
  });
});
