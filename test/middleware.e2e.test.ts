/**
 * The middleware end to end: a real OpenTrail server, a real Express app and a real Fastify app
 * using `opentrail/middleware` (imported by the package name, as a user would), real HTTP calls to
 * them, and the recorded events read back with LookupEvents through the AWS SDK. Also: events
 * recorded while OpenTrail is down are delivered once it is back, and close() drains the queue.
 *
 * The recorder reaches OpenTrail through a TCP relay the test controls, so that OpenTrail can be
 * stopped and started again (on another port, same data) while the recorder keeps its endpoint.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Request } from 'express';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { openTrailExpress, openTrailFastify, Recorder, type RecorderError, type UserIdentity } from 'opentrail/middleware';
import { ACCOUNT_A, ACCOUNT_B, cloudTrailClient, startServer, type StartedServer } from './helpers/server.ts';
import { Relay } from './helpers/relay.ts';

const ALICE = ACCOUNT_A.identities[1]!;
const REGION = 'us-east-1';
const HOUR = 3_600_000;

function userFrom(header: string | string[] | undefined): UserIdentity | undefined {
  if (typeof header !== 'string') return undefined;
  return {
    type: 'IAMUser', principalId: `AIDA${header.toUpperCase()}`, arn: `arn:aws:iam::${ACCOUNT_A.id}:user/${header}`,
    accountId: ACCOUNT_A.id, userName: header,
  };
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((resolve) => setTimeout(resolve, 10));
}

function pending(r: Recorder): number {
  const s = r.stats();
  return s.queued + s.inFlight;
}

type Json = Record<string, any>;

async function historyOf(server: StartedServer, eventSource: string): Promise<Json[]> {
  const client = cloudTrailClient(server.url, ALICE, REGION);
  const out: Json[] = [];
  let NextToken: string | undefined;
  do {
    const page = await client.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventSource', AttributeValue: eventSource }], NextToken }));
    for (const e of page.Events ?? []) out.push(JSON.parse(e.CloudTrailEvent!) as Json);
    NextToken = page.NextToken;
  } while (NextToken);
  return out;
}

/** The one event of `events` whose requestID is `id`. */
function byRequestId(events: Json[], id: string): Json {
  const found = events.filter((e) => e.requestID === id);
  assert.equal(found.length, 1, `one event with requestID ${id} among ${events.map((e) => e.requestID).join(', ')}`);
  return found[0]!;
}

async function call(base: string, path: string, init: { method?: string; user?: string; requestId: string; body?: unknown }): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = { 'user-agent': 'middleware-e2e/1.0', 'x-request-id': init.requestId };
  if (init.user) headers['x-user'] = init.user;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  const text = await res.text();
  return { status: res.status, body: res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : text };
}

describe('middleware end to end', { timeout: 120_000 }, () => {
  let server: StartedServer;
  const relay = new Relay();
  let endpoint: string;
  const errors: RecorderError[] = [];
  const connection = () => ({
    endpoint, region: REGION,
    credentials: { accessKeyId: ALICE.accessKeyId, secretAccessKey: ALICE.secretAccessKey },
    retryBaseMs: 20, retryMaxMs: 200,
    onError: (e: RecorderError) => errors.push(e),
  });

  let expressAudit: ReturnType<typeof openTrailExpress<Request>>;
  let expressServer: Server;
  let expressUrl: string;
  let fastify: FastifyInstance;
  let fastifyUrl: string;

  before(async () => {
    server = await startServer({ accounts: [ACCOUNT_A, ACCOUNT_B] });
    endpoint = await relay.listen();
    relay.pointAt(server.url);

    const app = express();
    expressAudit = openTrailExpress({
      ...connection(),
      eventSource: 'orders.example.com',
      identity: (req: Request) => userFrom(req.headers['x-user']),
    });
    app.use(expressAudit);
    app.use(express.json());
    app.get('/orders', (req, res) => { res.json({ orders: [], status: req.query.status }); });
    app.get('/orders/:id', (req, res) => { res.json({ id: req.params.id }); });
    app.post('/orders', (req, res) => { res.status(201).json({ id: 'o-new', ...req.body }); });
    app.delete('/orders/:id', (req, res) => { res.status(404).json({ message: `order ${req.params.id} does not exist` }); });
    app.post('/orders/:id/cancel', (_req, res) => { res.status(500).send('boom'); });
    expressServer = await new Promise<Server>((resolve) => { const s = app.listen(0, '127.0.0.1', () => resolve(s)); });
    expressUrl = `http://127.0.0.1:${(expressServer.address() as AddressInfo).port}`;

    fastify = Fastify();
    await fastify.register(openTrailFastify, {
      ...connection(),
      eventSource: 'shop.example.com',
      identity: (req: FastifyRequest) => userFrom(req.headers['x-user']),
      responseElements: (_req, _reply, c) => (c.status < 400 ? c.responseBody : null),
      resources: (_req, _reply, c) => (c.params.sku ? [{ ARN: `arn:aws:shop:${REGION}:${ACCOUNT_A.id}:item/${String(c.params.sku)}`, type: 'AWS::Shop::Item' }] : undefined),
    });
    fastify.get('/items/:sku', async (req) => ({ sku: (req.params as Json).sku, sessionToken: 'should-be-hidden' }));
    fastify.put('/items/:sku', async (req) => ({ saved: (req.body as Json).name }));
    fastify.get('/admin', async () => { throw Object.assign(new Error('admins only'), { statusCode: 403 }); });
    fastifyUrl = await fastify.listen({ port: 0, host: '127.0.0.1' });
  });

  after(async () => {
    await new Promise((resolve) => expressServer?.close(resolve));
    await expressAudit?.recorder.close({ timeoutMs: 1000 });
    await fastify?.close();
    relay.server.close();
    await server?.stop();
  });

  test('Express: every routed call is an event with the fields CloudTrail writes', async () => {
    const before = expressAudit.recorder.stats().accepted;
    const calls = [
      await call(expressUrl, '/orders?status=open&apiToken=abc', { user: 'alice', requestId: 'ex-list' }),
      await call(expressUrl, '/orders/o-1', { user: 'alice', requestId: 'ex-get' }),
      await call(expressUrl, '/orders', { method: 'POST', user: 'bob', requestId: 'ex-create', body: { item: 'book', password: 'hunter2', payment: { cardToken: 'tok_1', last4: '4242' } } }),
      await call(expressUrl, '/orders/o-9', { method: 'DELETE', user: 'bob', requestId: 'ex-delete' }),
      await call(expressUrl, '/orders/o-2/cancel', { method: 'POST', requestId: 'ex-cancel' }),
      await call(expressUrl, '/no/such/route', { user: 'alice', requestId: 'ex-unrouted' }),
    ];
    assert.deepEqual(calls.map((c) => c.status), [200, 200, 201, 404, 500, 404]);
    await until(() => expressAudit.recorder.stats().accepted + pending(expressAudit.recorder) >= before + 5);
    await expressAudit.recorder.flush();

    const events = await historyOf(server, 'orders.example.com');
    const list = byRequestId(events, 'ex-list');
    assert.equal(list.eventName, 'ListOrders');
    assert.equal(list.eventSource, 'orders.example.com');
    assert.deepEqual(list.userIdentity, { type: 'IAMUser', principalId: 'AIDAALICE', arn: `arn:aws:iam::${ACCOUNT_A.id}:user/alice`, accountId: ACCOUNT_A.id, userName: 'alice' });
    assert.deepEqual(list.requestParameters, { status: 'open', apiToken: 'HIDDEN_DUE_TO_SECURITY_REASONS' });
    assert.equal(list.responseElements, null);
    assert.equal(list.readOnly, true);
    assert.equal(list.awsRegion, REGION);
    assert.equal(list.recipientAccountId, ACCOUNT_A.id);
    assert.equal(list.sourceIPAddress, '127.0.0.1');
    assert.equal(list.userAgent, 'middleware-e2e/1.0');
    assert.equal(list.eventType, 'AwsApiCall');
    assert.equal(list.managementEvent, true);
    assert.equal(list.eventCategory, 'Management');
    assert.match(list.eventID, /^[0-9a-f-]{36}$/);
    assert.match(list.eventTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(list.errorCode, undefined);

    const get = byRequestId(events, 'ex-get');
    assert.equal(get.eventName, 'GetOrder');
    assert.deepEqual(get.requestParameters, { id: 'o-1' });
    assert.equal(get.readOnly, true);

    const create = byRequestId(events, 'ex-create');
    assert.equal(create.eventName, 'CreateOrder');
    assert.equal(create.readOnly, false);
    assert.equal(create.userIdentity.userName, 'bob');
    assert.deepEqual(create.requestParameters, { item: 'book', password: 'HIDDEN_DUE_TO_SECURITY_REASONS', payment: { cardToken: 'HIDDEN_DUE_TO_SECURITY_REASONS', last4: '4242' } });

    const del = byRequestId(events, 'ex-delete');
    assert.equal(del.eventName, 'DeleteOrder');
    assert.equal(del.errorCode, 'NotFound');
    assert.equal(del.errorMessage, 'order o-9 does not exist');
    assert.equal(del.readOnly, false);

    const cancel = byRequestId(events, 'ex-cancel');
    assert.equal(cancel.eventName, 'CancelOrder');
    assert.equal(cancel.errorCode, 'InternalServerError');
    assert.equal(cancel.errorMessage, 'Internal Server Error');
    assert.deepEqual(cancel.userIdentity, { type: 'Unknown' });

    assert.equal(events.filter((e) => e.requestID === 'ex-unrouted').length, 0, 'a call no route matched is not recorded');
    assert.deepEqual(errors, []);
  });

  test('Fastify: routed calls, thrown errors, responseElements and resources', async () => {
    const recorder = fastify.openTrailRecorder;
    const before = recorder.stats().accepted;
    const calls = [
      await call(fastifyUrl, '/items/sku-1?expand=true', { user: 'carol', requestId: 'fy-get' }),
      await call(fastifyUrl, '/items/sku-2', { method: 'PUT', user: 'carol', requestId: 'fy-put', body: { name: 'Lamp', secretNote: 'x' } }),
      await call(fastifyUrl, '/admin', { user: 'carol', requestId: 'fy-admin' }),
      await call(fastifyUrl, '/nowhere', { user: 'carol', requestId: 'fy-unrouted' }),
    ];
    assert.deepEqual(calls.map((c) => c.status), [200, 200, 403, 404]);
    await until(() => recorder.stats().accepted + pending(recorder) >= before + 3);
    await recorder.flush();

    const events = await historyOf(server, 'shop.example.com');
    const get = byRequestId(events, 'fy-get');
    assert.equal(get.eventName, 'GetItem');
    assert.equal(get.userIdentity.userName, 'carol');
    assert.deepEqual(get.requestParameters, { expand: 'true', sku: 'sku-1' });
    assert.deepEqual(get.responseElements, { sku: 'sku-1', sessionToken: 'HIDDEN_DUE_TO_SECURITY_REASONS' });
    assert.deepEqual(get.resources, [{ ARN: `arn:aws:shop:${REGION}:${ACCOUNT_A.id}:item/sku-1`, type: 'AWS::Shop::Item' }]);
    assert.equal(get.readOnly, true);

    const put = byRequestId(events, 'fy-put');
    assert.equal(put.eventName, 'PutItem');
    assert.equal(put.readOnly, false);
    assert.deepEqual(put.requestParameters, { name: 'Lamp', secretNote: 'HIDDEN_DUE_TO_SECURITY_REASONS', sku: 'sku-2' });

    const admin = byRequestId(events, 'fy-admin');
    assert.equal(admin.eventName, 'GetAdmin');
    assert.equal(admin.errorCode, 'Forbidden');
    assert.equal(admin.errorMessage, 'admins only');
    assert.equal(admin.responseElements, null);

    assert.equal(events.filter((e) => e.requestID === 'fy-unrouted').length, 0);

    // Event history finds them by the attributes CloudTrail indexes, too.
    const client = cloudTrailClient(server.url, ALICE, REGION);
    const byUser = await client.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'Username', AttributeValue: 'carol' }] }));
    assert.ok(byUser.Events?.some((e) => e.EventName === 'PutItem' && e.ReadOnly === 'false'));
    assert.deepEqual(errors, []);
  });

  test('while OpenTrail is down, calls still succeed; their events are retried and delivered once it is back', async () => {
    const recorder = expressAudit.recorder;
    const retriesBefore = recorder.stats().retries;
    await server.stop();
    const down = await call(expressUrl, '/orders/o-down', { user: 'alice', requestId: 'ex-while-down' });
    assert.equal(down.status, 200, 'the app answers as usual');
    await until(() => recorder.stats().retries >= retriesBefore + 2); // delivery was tried and failed (twice)
    assert.ok(errors.some((e) => e.code === 'Unavailable'));
    assert.equal(pending(recorder), 1, 'the event is still queued');
    assert.equal(recorder.stats().dropped, 0);

    server = await startServer({ accounts: [ACCOUNT_A, ACCOUNT_B] }, { dataDir: server.dataDir });
    relay.pointAt(server.url);
    await recorder.flush();
    const events = await historyOf(server, 'orders.example.com');
    const e = byRequestId(events, 'ex-while-down');
    assert.equal(e.eventName, 'GetOrder');
    assert.ok(events.some((x) => x.requestID === 'ex-list'), 'the events from before the outage are still there');
    errors.length = 0;
  });

  test('close() sends what is still queued (Fastify: app.close(); Express: recorder.close())', async () => {
    // Recorders that would wait an hour before sending anything on their own.
    const app = Fastify();
    await app.register(openTrailFastify, { ...connection(), flushIntervalMs: HOUR, eventSource: 'close.example.com', identity: (req) => userFrom(req.headers['x-user']) });
    app.get('/things/:id', async () => ({ ok: true }));
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    await call(url, '/things/t-1', { user: 'alice', requestId: 'close-fastify' });
    await until(() => pending(app.openTrailRecorder) === 1);
    await app.close();
    assert.equal(app.openTrailRecorder.stats().accepted, 1);

    const recorder = new Recorder({ ...connection(), flushIntervalMs: HOUR });
    const ex = express();
    ex.use(openTrailExpress({ recorder, eventSource: 'close.example.com', identity: (req) => userFrom(req.headers['x-user']) }));
    ex.get('/things/:id', (_req, res) => { res.json({ ok: true }); });
    const s = await new Promise<Server>((resolve) => { const h = ex.listen(0, '127.0.0.1', () => resolve(h)); });
    try {
      await call(`http://127.0.0.1:${(s.address() as AddressInfo).port}`, '/things/t-2', { user: 'alice', requestId: 'close-express' });
      await until(() => pending(recorder) === 1);
    } finally {
      await new Promise((resolve) => s.close(resolve));
    }
    await recorder.close();
    assert.equal(recorder.stats().accepted, 1);

    const events = await historyOf(server, 'close.example.com');
    assert.deepEqual(events.map((e) => e.requestID).sort(), ['close-express', 'close-fastify']);
    assert.deepEqual(errors, []);
  });
});
