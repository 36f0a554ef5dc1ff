/**
 * Console sessions on a Fastify app of their own, over the real group commit and a real SQLite
 * event store, with a clock the test moves: sign-in, the cookie, CSRF and Origin, expiry,
 * sign-out, throttling of failures, the body limit, and the sign-in records.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyRequest } from 'fastify';
import { randomIds, type Identity } from '../core/index.ts';
import { Ingester } from '../ingest/index.ts';
import { SqliteEventStore } from '../stores/sqlite/sqlite-event-store.ts';
import { ServiceError } from '../aws/errors.ts';
import { ConsoleSessions, SESSION_COOKIE } from './console-session.ts';

const dir = mkdtempSync(join(tmpdir(), 'console-session-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const alice: Identity = {
  type: 'IAMUser', userName: 'alice', accountId: '111111111111', accessKeyId: 'AKIAALICEAAAAAAAAAAA', secretAccessKey: 'alice-secret',
  principalId: 'AIDAALICE', mfaAuthenticated: true, isTrustedProducer: false,
};

async function setup() {
  const store = new SqliteEventStore({ path: join(dir, `events-${Math.random()}.db`) });
  const ingester = new Ingester(store, { maxBatchEvents: 1000 });
  let now = Date.UTC(2026, 11, 5);
  const sessions = new ConsoleSessions({
    auth: { identities: new Map([[alice.accessKeyId, alice]]), regions: new Set(['us-east-1', 'eu-west-1']), nowMs: () => now },
    ingester, ids: randomIds, clock: { nowMs: () => now }, ttlMs: 60_000,
  });
  const app = Fastify();
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));
  sessions.register(app);
  // What a route taking console sessions sees.
  const probe = (req: FastifyRequest) => {
    try {
      const c = sessions.caller(req);
      return c ? { account: c.identity.accountId, region: c.region, userAgent: c.userAgent } : { none: true };
    } catch (e) {
      return { error: (e as ServiceError).code };
    }
  };
  app.get('/probe', async (req) => probe(req));
  app.post('/probe', async (req) => probe(req));
  const signIn = (body: object, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: '/console/api/signin', headers: { 'content-type': 'application/json', ...headers }, payload: JSON.stringify(body) });
  const records = async () => (await store.readAfter(0, 100, alice.accountId, 1 << 20)).map((r) => JSON.parse(r.json) as Record<string, any>);
  return {
    app, signIn, records, advance: (ms: number) => (now += ms),
    close: async () => {
      await app.close();
      await ingester.drain();
      await store.close();
    },
  };
}

test('sign-in: an HttpOnly SameSite=Strict cookie, a CSRF token; calls need the token and a same-site Origin; the session expires; sign-out ends it', async () => {
  const s = await setup();
  try {
    const ok = await s.signIn({ accessKeyId: alice.accessKeyId, secretAccessKey: alice.secretAccessKey, region: 'eu-west-1' });
    assert.equal(ok.statusCode, 200, ok.body);
    const cookie = String(ok.headers['set-cookie']);
    assert.match(cookie, new RegExp(`^${SESSION_COOKIE}=[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Strict; Max-Age=60$`));
    assert.doesNotMatch(cookie, /Secure/);
    const secure = await s.signIn({ accessKeyId: alice.accessKeyId, secretAccessKey: alice.secretAccessKey }, { 'x-forwarded-proto': 'https' });
    assert.match(String(secure.headers['set-cookie']), /; Secure$/);
    const view = ok.json();
    assert.equal(view.accountId, alice.accountId);
    assert.equal(view.region, 'eu-west-1');
    assert.equal(JSON.stringify(view).includes(alice.secretAccessKey), false);
    const jar = cookie.split(';')[0]!;

    const ask = async (method: 'GET' | 'POST', headers: Record<string, string> = {}) => (await s.app.inject({ method, url: '/probe', headers: { cookie: jar, ...headers } })).json();
    assert.deepEqual(await ask('GET'), { account: alice.accountId, region: 'eu-west-1', userAgent: 'console.amazonaws.com' });
    assert.deepEqual(await ask('POST'), { error: 'AccessDeniedException' }, 'no CSRF header');
    assert.deepEqual(await ask('POST', { 'x-opentrail-csrf': 'wrong' }), { error: 'AccessDeniedException' });
    assert.deepEqual(await ask('POST', { 'x-opentrail-csrf': view.csrfToken, 'x-opentrail-region': 'us-east-1' }), { account: alice.accountId, region: 'us-east-1', userAgent: 'console.amazonaws.com' });
    assert.deepEqual(await ask('POST', { 'x-opentrail-csrf': view.csrfToken, 'x-opentrail-region': 'ap-south-1' }), { error: 'ValidationException' });
    assert.deepEqual(await ask('POST', { 'x-opentrail-csrf': view.csrfToken, origin: 'https://evil.example' }), { error: 'AccessDeniedException' });
    assert.deepEqual(await ask('GET', { 'sec-fetch-site': 'cross-site' }), { error: 'AccessDeniedException' });
    assert.deepEqual((await s.app.inject({ url: '/probe' })).json(), { none: true }, 'no cookie: not a console request');

    // Sign-out needs the token; then the session is gone and the cookie cleared.
    assert.equal((await s.app.inject({ method: 'POST', url: '/console/api/signout', headers: { cookie: jar } })).statusCode, 403);
    const out = await s.app.inject({ method: 'POST', url: '/console/api/signout', headers: { cookie: jar, 'x-opentrail-csrf': view.csrfToken } });
    assert.equal(out.statusCode, 200);
    assert.match(String(out.headers['set-cookie']), new RegExp(`^${SESSION_COOKIE}=; .*Max-Age=0`));
    assert.deepEqual(await ask('GET'), { error: 'ExpiredTokenException' });

    // Expiry: a new session is good until its minute is up.
    const again = await s.signIn({ accessKeyId: alice.accessKeyId, secretAccessKey: alice.secretAccessKey });
    const jar2 = String(again.headers['set-cookie']).split(';')[0]!;
    s.advance(59_000);
    assert.equal((await s.app.inject({ url: '/console/api/session', headers: { cookie: jar2 } })).statusCode, 200);
    s.advance(1_000);
    assert.equal((await s.app.inject({ url: '/console/api/session', headers: { cookie: jar2 } })).statusCode, 401);
    assert.equal((await s.app.inject({ url: '/probe', headers: { cookie: jar2 } })).json().error, 'ExpiredTokenException');

    const recs = await s.records();
    assert.deepEqual(recs.map((r) => [r.eventName, r.responseElements?.ConsoleLogin ?? r.responseElements?.ConsoleSignOut]), [
      ['ConsoleLogin', 'Success'], ['ConsoleLogin', 'Success'], ['ConsoleSignOut', 'Success'], ['ConsoleLogin', 'Success'],
    ]);
    assert.deepEqual([recs[0]!.eventSource, recs[0]!.eventType, recs[0]!.awsRegion, recs[0]!.additionalEventData.MFAUsed], ['signin.amazonaws.com', 'AwsConsoleSignIn', 'eu-west-1', 'Yes']);
  } finally {
    await s.close();
  }
});

test('refusals: a wrong secret (recorded), an unknown key (not recorded), no JSON, a large body, then throttling', async () => {
  const s = await setup();
  try {
    const wrong = await s.signIn({ accessKeyId: alice.accessKeyId, secretAccessKey: 'nope' });
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.headers['set-cookie'], undefined);
    const unknown = await s.signIn({ accessKeyId: 'AKIANOBODYAAAAAAAAAA', secretAccessKey: 'nope' });
    assert.equal(unknown.statusCode, 401);
    assert.equal(unknown.json().message, wrong.json().message, 'the same answer for an unknown key and a wrong secret');
    const recs = await s.records();
    assert.equal(recs.length, 1);
    assert.deepEqual([recs[0]!.eventName, recs[0]!.responseElements, recs[0]!.errorMessage], ['ConsoleLogin', { ConsoleLogin: 'Failure' }, 'Failed authentication']);

    const form = await s.app.inject({ method: 'POST', url: '/console/api/signin', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'accessKeyId=x' });
    assert.equal(form.statusCode, 400);
    const big = await s.signIn({ accessKeyId: alice.accessKeyId, secretAccessKey: 'x'.repeat(10_000) });
    assert.equal(big.statusCode, 413);
    const foreign = await s.signIn({ accessKeyId: alice.accessKeyId, secretAccessKey: alice.secretAccessKey }, { origin: 'https://evil.example' });
    assert.equal(foreign.statusCode, 403);

    for (let i = 0; i < 8; i++) await s.signIn({ accessKeyId: 'AKIANOBODYAAAAAAAAAA', secretAccessKey: 'nope' });
    const throttled = await s.signIn({ accessKeyId: alice.accessKeyId, secretAccessKey: alice.secretAccessKey });
    assert.equal(throttled.statusCode, 429, 'ten failures in a minute: throttled, even with the right secret');
    s.advance(60_000);
    assert.equal((await s.signIn({ accessKeyId: alice.accessKeyId, secretAccessKey: alice.secretAccessKey })).statusCode, 200);
  } finally {
    await s.close();
  }
});
