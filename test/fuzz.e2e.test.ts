/**
 * Property-based fuzzing of ONE real server (started once) through every HTTP entry point, with
 * properly signed requests. The property: every answer is either
 *   - an AWS-shaped 4xx: status 400-499, JSON body {__type, message}, x-amzn-errortype = __type, or
 *   - a 200 whose body has the operation's shape,
 * never a 5xx and never a dropped connection; and afterwards the server still works.
 *
 * Bug classes get their own properties (huge values, deep nesting), so one known failure does not
 * hide the others.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { request } from 'node:http';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { CreateChannelCommand, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, ACCOUNT_B, cloudTrailClient, startServer, type StartedServer, type TestIdentity } from './helpers/server.ts';
import { channelStore } from './helpers/lake.ts';
import { signedFetch } from './helpers/signed-fetch.ts';
import { CLOUDTRAIL_OPERATIONS } from '../src/aws/cloudtrail-operations.ts';

const alice = ACCOUNT_A.identities[1]!; // IAM user, trusted producer
const root = ACCOUNT_A.identities[0]!;
const bob = ACCOUNT_A.identities[2]!; // assumed role with a session token
const carol = ACCOUNT_B.identities[0]!;
const callers = [alice, root, bob, carol];
const accountOf = (id: TestIdentity) => (ACCOUNT_A.identities.includes(id) ? ACCOUNT_A.id : ACCOUNT_B.id);

const JSON_11 = 'application/x-amz-json-1.1';
const TARGET = 'CloudTrail_20131101.';
const LOOKUP_MEMBERS = ['LookupAttributes', 'StartTime', 'EndTime', 'EventCategory', 'MaxResults', 'NextToken'] as const;

let server: StartedServer;
let channelArn = '';
/** A real NextToken for {MaxResults: 1} (no other parameters), account A, us-east-1, alice. */
let realToken = '';
let requests = 0;

before(async () => {
  // Thousands of durable commits: on tmpfs, when there is one, fsync is cheap and the run is fast.
  server = await startServer(undefined, existsSync('/dev/shm') ? { dataDir: mkdtempSync('/dev/shm/opentrail-fuzz-') } : {});
  const ct = cloudTrailClient(server.url, alice);
  const eds = await channelStore(ct, 'fuzz-store');
  const ch = await ct.send(new CreateChannelCommand({
    Name: 'fuzz-channel', Source: 'Custom', Destinations: [{ Type: 'EVENT_DATA_STORE', Location: eds }],
  }));
  channelArn = ch.ChannelArn!;
  // Every call is self-audited as a management event, so after these there are several entries.
  await ct.send(new LookupEventsCommand({}));
  await ct.send(new LookupEventsCommand({}));
  const page = await ct.send(new LookupEventsCommand({ MaxResults: 1 }));
  assert.ok(page.NextToken, 'a page of one with more behind it has a NextToken');
  realToken = page.NextToken;
});

after(async () => {
  if (!server) return;
  await server.stop();
  rmSync(server.dataDir, { recursive: true, force: true });
  rmSync(server.configFile, { force: true });
  console.log(`fuzz: ${requests} signed requests`);
});

// ---------------------------------------------------------------------------------------------
// Requests and the judgement of answers.

interface Answer {
  status: number;
  doc: Record<string, unknown>;
}

function tail(): string {
  return server.output().split('\n').slice(-30).join('\n');
}

/** Sends, then checks the universal property; returns the parsed body. */
async function send(label: string, url: string, id: TestIdentity, opts: Parameters<typeof signedFetch>[2], expectedContentType: string): Promise<Answer> {
  requests++;
  let res: Response;
  try {
    res = await signedFetch(url, id, opts);
  } catch (e) {
    assert.fail(`${label}: the connection failed (${String((e as Error).cause ?? e)})\n--- server output ---\n${tail()}`);
  }
  const text = await res.text();
  const show = `${label}: HTTP ${res.status} ${text.slice(0, 300)}`;
  assert.ok(res.status < 500, `${show}\n--- server output ---\n${tail()}`);
  assert.ok(res.status === 200 || (res.status >= 400 && res.status <= 499), show);
  assert.ok(res.headers.get('x-amzn-requestid'), `${show}: no x-amzn-requestid`);
  assert.equal(res.headers.get('content-type')?.split(';')[0], expectedContentType, show);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    assert.fail(`${show}: the body is not JSON`);
  }
  assert.ok(typeof doc === 'object' && doc !== null && !Array.isArray(doc), `${show}: the body is not a JSON object`);
  const d = doc as Record<string, unknown>;
  if (res.status >= 400) {
    assert.equal(typeof d.__type, 'string', show);
    assert.ok((d.__type as string).length > 0, show);
    assert.equal(typeof d.message, 'string', show);
    assert.equal(res.headers.get('x-amzn-errortype'), d.__type, `${show}: x-amzn-errortype`);
    assert.deepEqual(Object.keys(d).sort(), ['__type', 'message'], show);
  }
  return { status: res.status, doc: d };
}

function callApi(target: string, body: string | Buffer, id: TestIdentity = alice, opts: { region?: string; query?: string } = {}): Promise<Answer> {
  return send(`POST / ${target.slice(0, 80)} ${String(body).slice(0, 120)}`, `${server.url}/${opts.query ? `?${opts.query}` : ''}`, id, {
    body, service: 'cloudtrail', region: opts.region, headers: { 'content-type': JSON_11, 'x-amz-target': target },
  }, JSON_11);
}

/** The LookupEvents answer shape, and that it holds only the caller's own events. */
function checkLookupEvents(a: Answer, accountId: string, region: string, maxResults?: unknown): void {
  const keys = Object.keys(a.doc);
  assert.ok(keys.every((k) => k === 'Events' || k === 'NextToken'), `unexpected members ${keys}`);
  assert.ok(Array.isArray(a.doc.Events));
  if (a.doc.NextToken !== undefined) assert.match(a.doc.NextToken as string, /^[A-Za-z0-9_-]+$/);
  const events = a.doc.Events as Record<string, unknown>[];
  if (typeof maxResults === 'number' && Number.isInteger(maxResults) && maxResults >= 1 && maxResults <= 50) assert.ok(events.length <= maxResults);
  assert.ok(events.length <= 50);
  for (const e of events) {
    assert.equal(typeof e.EventId, 'string');
    assert.equal(typeof e.EventTime, 'number');
    assert.ok(Number.isFinite(e.EventTime));
    assert.ok(Array.isArray(e.Resources));
    assert.equal(typeof e.CloudTrailEvent, 'string');
    const rec = JSON.parse(e.CloudTrailEvent as string) as Record<string, unknown>;
    assert.equal(rec.recipientAccountId, accountId, 'an event of another account leaked');
    assert.equal(rec.awsRegion, region, 'an event of another region leaked');
    assert.equal(rec.eventID, e.EventId);
  }
}

// ---------------------------------------------------------------------------------------------
// Value generators.

const moderateString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom('', ' ', 'true', 'false', 'insight', 'Insight', 'management', 'EventName', 'null', '0', '-1', '1e999', '\u0000', '\ud800', '😀', '"', '\\', '%s', '${x}', '__proto__', 'constructor'),
  fc.string({ maxLength: 2500 }),
);
const number = fc.oneof(
  fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, -0, 1, 50, 51, -1, 1e21, -1e21, 1.5, 1e308, 5e-324, 2 ** 53, 1_767_225_600, 1_767_225_600.999),
);
/** Any JSON value of moderate size. */
const anyValue = fc.oneof(moderateString, number, fc.boolean(), fc.constant(null), fc.jsonValue({ maxDepth: 4 }), fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 5 }));

const nowSec = () => Math.floor(Date.now() / 1000);
const attribute = fc.record({
  AttributeKey: fc.oneof(fc.constantFrom('EventId', 'EventName', 'ReadOnly', 'Username', 'ResourceType', 'ResourceName', 'EventSource', 'AccessKeyId'), anyValue),
  AttributeValue: fc.oneof(fc.constantFrom('LookupEvents', 'true', 'false', 'alice', 'cloudtrail.amazonaws.com', '_'.repeat(1000), '_'.repeat(1001), 'x'.repeat(2000), 'x'.repeat(2001)), anyValue),
}, { requiredKeys: [] });
const memberValues = {
  LookupAttributes: fc.oneof(fc.array(attribute, { maxLength: 3 }), anyValue, fc.array(anyValue, { maxLength: 2 })),
  StartTime: fc.oneof(fc.integer({ min: nowSec() - 100 * 86400, max: nowSec() + 86400 }), number, anyValue),
  EndTime: fc.oneof(fc.integer({ min: nowSec() - 100 * 86400, max: nowSec() + 86400 }), number, anyValue),
  EventCategory: fc.oneof(fc.constant('insight'), anyValue),
  MaxResults: fc.oneof(fc.integer({ min: -3, max: 60 }), anyValue),
  NextToken: fc.oneof(fc.constant('REAL'), anyValue, fc.stringMatching(/^[A-Za-z0-9_-]{1,600}$/)),
};
const lookupInput = fc.record(memberValues, { requiredKeys: [] }).chain((input) =>
  fc.oneof(
    { weight: 5, arbitrary: fc.constant(input as Record<string, unknown>) },
    { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 12 }), anyValue, { maxKeys: 3 }).map((extra) => ({ ...input, ...extra })) },
  ));

/** Values large enough to stress size limits: up to ~100k characters of 1- to 4-byte text. */
const hugeString = fc.tuple(
  fc.constantFrom('a', 'é', '€', '中', '😀', '"', '\\', '\u0000', '_'),
  // Around the limits that matter: 256 KB of UTF-8 per record (85-88k three-byte characters) and the
  // self-audit's 100k-character cap on requestParameters.
  fc.oneof(fc.integer({ min: 1_000, max: 100_000 }), fc.constantFrom(50_000, 64_000, 86_000, 88_000, 95_000, 99_000, 100_001, 120_000)),
).map(([c, n]) => c.repeat(n));
/** A JSON text nested up to 30 000 levels deep (about 60 KB). */
const deepJson = fc.tuple(fc.integer({ min: 1, max: 30_000 }), fc.constantFrom('array', 'object')).map(([depth, kind]) =>
  kind === 'array' ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);

// ---------------------------------------------------------------------------------------------

describe('fuzz: CloudTrail API (POST /, AWS JSON 1.1)', () => {
  test('LookupEvents: every member with every type of value', async () => {
    await fc.assert(fc.asyncProperty(lookupInput, fc.constantFrom(...callers), async (input, id) => {
      if (input.NextToken === 'REAL') input.NextToken = realToken;
      const a = await callApi(`${TARGET}LookupEvents`, JSON.stringify(input), id);
      if (a.status === 200) checkLookupEvents(a, accountOf(id), 'us-east-1', input.MaxResults);
    }), { numRuns: 150 });
  });

  test('LookupEvents: well-typed inputs are answered 200, or with the modelled validation error', async () => {
    const valid = fc.record({
      LookupAttributes: fc.array(fc.record({ AttributeKey: fc.constantFrom('EventName', 'ReadOnly', 'Username', 'EventSource', 'EventId', 'AccessKeyId', 'ResourceType', 'ResourceName'), AttributeValue: fc.constantFrom('LookupEvents', 'true', 'false', 'alice', 'cloudtrail.amazonaws.com') }), { maxLength: 1 }),
      StartTime: fc.integer({ min: nowSec() - 95 * 86400, max: nowSec() + 60 }),
      EndTime: fc.integer({ min: nowSec() - 95 * 86400, max: nowSec() + 60 }),
      MaxResults: fc.integer({ min: 1, max: 50 }),
    }, { requiredKeys: [] });
    await fc.assert(fc.asyncProperty(valid, async (input) => {
      const a = await callApi(`${TARGET}LookupEvents`, JSON.stringify(input));
      const expectedErrors: string[] = [];
      if (input.StartTime !== undefined && input.EndTime !== undefined && input.StartTime > input.EndTime) expectedErrors.push('InvalidTimeRangeException');
      if (input.LookupAttributes?.[0]?.AttributeKey === 'ReadOnly' && !['true', 'false'].includes(input.LookupAttributes[0].AttributeValue)) {
        expectedErrors.push('InvalidLookupAttributesException');
      }
      // With two problems, either may be reported first.
      if (expectedErrors.length > 0) return assert.ok(expectedErrors.includes(a.doc.__type as string), `${JSON.stringify(input)} -> ${JSON.stringify(a.doc)}`);
      assert.equal(a.status, 200, JSON.stringify(a.doc));
      checkLookupEvents(a, ACCOUNT_A.id, 'us-east-1', input.MaxResults);
    }), { numRuns: 80 });
  });

  test('malformed JSON bodies are SerializationException', async () => {
    const malformed = fc.oneof(
      fc.string({ maxLength: 200 }).filter((s) => { try { JSON.parse(s); return false; } catch { return s.length > 0; } }),
      fc.json().map((j) => j.slice(0, Math.max(1, j.length - 1))).filter((s) => { try { JSON.parse(s); return false; } catch { return true; } }),
      fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => Buffer.from(b)).filter((b) => { try { JSON.parse(b.toString('utf8')); return false; } catch { return true; } }),
      fc.constantFrom('{', '}', '{"MaxResults":}', '{"a":1,}', "{'a':1}", '{"a":1}{"b":2}', '\u00ef\u00bb\u00bf{}', 'NaN', '{"MaxResults":NaN}', '{"StartTime":Infinity}'),
    );
    await fc.assert(fc.asyncProperty(malformed, async (body) => {
      const a = await callApi(`${TARGET}LookupEvents`, body);
      assert.equal(a.doc.__type, 'SerializationException', `${String(body).slice(0, 80)} -> ${JSON.stringify(a.doc)}`);
      assert.equal(a.status, 400);
    }), { numRuns: 100 });
  });

  test('well-formed JSON that is not an object is SerializationException', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(fc.jsonValue().filter((v) => typeof v !== 'object' || v === null || Array.isArray(v))), async (v) => {
      const a = await callApi(`${TARGET}LookupEvents`, JSON.stringify(v));
      assert.equal(a.doc.__type, 'SerializationException');
    }), { numRuns: 60 });
  });


  test('random X-Amz-Target values: unknown ones are UnknownOperationException', async () => {
    const known = new Set<string>(CLOUDTRAIL_OPERATIONS);
    const target = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.constantFrom(...CLOUDTRAIL_OPERATIONS).map((op) => `${TARGET}${op}`),
      fc.constantFrom(...CLOUDTRAIL_OPERATIONS).map((op) => `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.${op}`),
      fc.constantFrom(...CLOUDTRAIL_OPERATIONS),
      fc.tuple(fc.constantFrom(TARGET, 'CloudTrail_20131101', 'cloudtrail_20131101.', 'CloudTrail_20131102.', ''), fc.string({ maxLength: 30 })).map(([p, s]) => p + s),
      fc.constantFrom(...CLOUDTRAIL_OPERATIONS).map((op) => `${TARGET}${op.toLowerCase()}`),
    ).filter((t) => /^[\x20-\x7e]*$/.test(t) && t.trim() === t); // what an HTTP header can carry
    await fc.assert(fc.asyncProperty(target, fc.constantFrom('{}', '{"Name":"x"}', ''), async (t, body) => {
      const a = await callApi(t, body);
      const m = /^(?:com\.amazonaws\.cloudtrail\.v20131101\.)?CloudTrail_20131101\.(.*)$/.exec(t);
      const isKnown = m !== null && known.has(m[1]!);
      if (!isKnown) assert.equal(a.doc.__type, 'UnknownOperationException', `${t} -> ${JSON.stringify(a.doc)}`);
      else assert.notEqual(a.doc.__type, 'UnknownOperationException', t);
    }), { numRuns: 120 });
  });

  test('channel operations with every type of value', async () => {
    const input = fc.record({
      Name: anyValue, Source: anyValue, Destinations: fc.oneof(anyValue, fc.array(fc.record({ Type: fc.oneof(fc.constantFrom('EVENT_DATA_STORE', 'AWS_SERVICE'), anyValue), Location: anyValue }, { requiredKeys: [] }), { maxLength: 3 })),
      Tags: fc.oneof(anyValue, fc.array(fc.record({ Key: anyValue, Value: anyValue }, { requiredKeys: [] }), { maxLength: 3 })), Channel: fc.oneof(fc.constant('REAL'), anyValue),
      MaxResults: fc.oneof(fc.integer({ min: -2, max: 1002 }), anyValue), NextToken: anyValue,
    }, { requiredKeys: [] });
    await fc.assert(fc.asyncProperty(fc.constantFrom('CreateChannel', 'GetChannel', 'ListChannels', 'UpdateChannel', 'DeleteChannel'), input, async (op, body) => {
      if (body.Channel === 'REAL') body.Channel = channelArn;
      // Keep the real channel: deleting or renaming it would only shrink what later properties reach.
      if ((op === 'DeleteChannel' || op === 'UpdateChannel') && body.Channel === channelArn) body.Channel = `${channelArn}x`;
      const a = await callApi(`${TARGET}${op}`, JSON.stringify(body));
      if (a.status === 200 && op === 'ListChannels') assert.ok(Array.isArray(a.doc.Channels));
      if (a.status === 200 && op === 'CreateChannel') assert.match(a.doc.ChannelArn as string, /^arn:aws:cloudtrail:us-east-1:111111111111:channel\//);
    }), { numRuns: 120 });
  });
});

describe('fuzz: NextToken', () => {
  const MAX1 = (token: unknown) => JSON.stringify({ MaxResults: 1, NextToken: token });

  test('the real token works', async () => {
    const a = await callApi(`${TARGET}LookupEvents`, MAX1(realToken));
    assert.equal(a.status, 200, JSON.stringify(a.doc));
    checkLookupEvents(a, ACCOUNT_A.id, 'us-east-1', 1);
  });

  test('a token with any bit flipped, truncated or extended is InvalidNextTokenException', async () => {
    const raw = Buffer.from(realToken, 'base64url');
    const mutation = fc.oneof(
      fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })).map(([at, bit]) => { const b = Buffer.from(raw); b[at % b.length]! ^= 1 << bit; return b; }),
      fc.integer({ min: 1, max: raw.length }).map((cut) => raw.subarray(0, raw.length - cut)),
      fc.uint8Array({ minLength: 1, maxLength: 32 }).map((extra) => Buffer.concat([raw, extra])),
      fc.uint8Array({ minLength: 1, maxLength: 32 }).map((extra) => Buffer.concat([extra, raw])),
    );
    await fc.assert(fc.asyncProperty(mutation, async (bytes) => {
      const a = await callApi(`${TARGET}LookupEvents`, MAX1(bytes.toString('base64url')));
      assert.equal(a.status, 400);
      assert.equal(a.doc.__type, 'InvalidNextTokenException');
    }), { numRuns: 120 });
  });

  test('any edit of the token text is InvalidNextTokenException (only the exact token is accepted)', async () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=.~ ';
    await fc.assert(fc.asyncProperty(fc.nat(), fc.constantFrom(...alphabet), fc.constantFrom('replace', 'insert', 'delete'), async (at, ch, how) => {
      const i = at % realToken.length;
      const edited = how === 'replace' ? realToken.slice(0, i) + ch + realToken.slice(i + 1) : how === 'insert' ? realToken.slice(0, i) + ch + realToken.slice(i) : realToken.slice(0, i) + realToken.slice(i + 1);
      const a = await callApi(`${TARGET}LookupEvents`, MAX1(edited));
      // Edits of the last character's spare bits decode to the same bytes; they are still not the token.
      if (edited === realToken) assert.equal(a.status, 200);
      else assert.equal(a.doc.__type, 'InvalidNextTokenException', `${edited} -> ${JSON.stringify(a.doc)}`);
    }), { numRuns: 120 });
  });

  test('forged tokens are InvalidNextTokenException', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(fc.uint8Array({ minLength: 0, maxLength: 400 }).map((b) => Buffer.from(b).toString('base64url')), fc.stringMatching(/^[A-Za-z0-9_-]{40,80}$/)), async (token) => {
      const a = await callApi(`${TARGET}LookupEvents`, MAX1(token));
      assert.equal(a.doc.__type, 'InvalidNextTokenException');
    }), { numRuns: 80 });
  });

  test('a real token is refused for another account, another region, other parameters', async () => {
    const other = [
      await callApi(`${TARGET}LookupEvents`, MAX1(realToken), carol),
      await callApi(`${TARGET}LookupEvents`, MAX1(realToken), alice, { region: 'us-west-2' }),
      await callApi(`${TARGET}LookupEvents`, JSON.stringify({ MaxResults: 1, NextToken: realToken, LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'LookupEvents' }] })),
      await callApi(`${TARGET}LookupEvents`, JSON.stringify({ MaxResults: 1, NextToken: realToken, EventCategory: 'insight' })),
      await callApi(`${TARGET}LookupEvents`, JSON.stringify({ MaxResults: 1, NextToken: realToken, StartTime: 0 })),
    ];
    for (const a of other) assert.equal(a.doc.__type, 'InvalidNextTokenException', JSON.stringify(a.doc));
    // Another identity of the same account, same region and parameters, may continue the listing.
    assert.equal((await callApi(`${TARGET}LookupEvents`, MAX1(realToken), root)).status, 200);
  });
});

describe('fuzz: bulk ingest (POST /ingest)', () => {
  const recordish = fc.oneof(
    fc.record({
      eventSource: fc.oneof(fc.constant('s3.amazonaws.com'), anyValue), eventName: fc.oneof(fc.constant('PutObject'), anyValue),
      eventTime: fc.oneof(fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString()), anyValue),
      awsRegion: fc.oneof(fc.constantFrom('us-east-1', 'eu-west-1'), anyValue), recipientAccountId: fc.oneof(fc.constantFrom('111111111111', '222222222222'), anyValue),
      eventID: fc.oneof(fc.uuid(), anyValue), readOnly: anyValue, resources: anyValue, userIdentity: anyValue, eventCategory: anyValue, requestParameters: anyValue,
    }, { requiredKeys: [] }),
    anyValue,
  );
  const body = fc.oneof(
    fc.array(recordish, { maxLength: 8 }).map((rs) => rs.map((r) => JSON.stringify(r)).join('\n')),
    fc.array(recordish, { maxLength: 8 }).map((rs) => JSON.stringify({ Records: rs })),
    fc.array(recordish, { maxLength: 8 }).map((rs) => JSON.stringify(rs)),
    fc.jsonValue().map((v) => JSON.stringify({ Records: v })),
    fc.string({ maxLength: 300 }),
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.constantFrom('', '\n\n', '[', '{"Records":', '{"Records": [1,', '\u001f\u008b', '[]', '{"Records":[]}'),
  );
  const encoding = fc.constantFrom(undefined, 'gzip', 'identity', 'GZIP', 'deflate', 'br', 'x-nonsense');

  test('random bodies, as plain text or gzip, under any Content-Encoding', async () => {
    await fc.assert(fc.asyncProperty(body, fc.boolean(), encoding, fc.constantFrom(alice, root, carol), async (text, zipped, enc, id) => {
      const payload = zipped ? gzipSync(text) : Buffer.from(text);
      const a = await send(`POST /ingest ${enc} ${text.slice(0, 100)}`, `${server.url}/ingest`, id, { body: payload, headers: enc ? { 'content-encoding': enc } : {}, service: 'opentrail' }, 'application/json');
      if (a.status !== 200) return;
      const { accepted, duplicates, rejected, results } = a.doc as { accepted: number; duplicates: number; rejected: number; results: { status: string }[] };
      assert.ok(Array.isArray(results));
      assert.equal(accepted + duplicates + rejected, results.length);
      assert.equal(results.filter((r) => r.status === 'accepted').length, accepted);
      assert.ok(results.every((r) => ['accepted', 'duplicate', 'rejected'].includes(r.status)));
    }), { numRuns: 150 });
  });

  test('garbage declared as gzip is SerializationException', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 200 }), async (bytes) => {
      const a = await send('POST /ingest gzip garbage', `${server.url}/ingest`, alice, { body: Buffer.from(bytes), headers: { 'content-encoding': 'gzip' }, service: 'opentrail' }, 'application/json');
      assert.equal(a.doc.__type, 'SerializationException');
    }), { numRuns: 50 });
  });

});

describe('fuzz: cloudtrail-data (POST /PutAuditEvents)', () => {
  const validEventData = (uid: string) => ({
    version: '1.0', userIdentity: { type: 'CustomUser', principalId: 'p-1' }, eventSource: 'my.app', eventName: 'DoThing', UID: uid,
    eventTime: '2026-01-01T00:00:00Z', recipientAccountId: '111111111111',
  });
  const eventData = fc.oneof(
    fc.uuid().map((u) => JSON.stringify(validEventData(u))),
    fc.tuple(fc.uuid(), fc.constantFrom('version', 'userIdentity', 'eventSource', 'eventName', 'UID', 'eventTime', 'recipientAccountId', 'requestParameters', 'userAgent'), anyValue)
      .map(([u, k, v]) => JSON.stringify({ ...validEventData(u), [k]: v })),
    moderateString,
    anyValue,
  );
  const auditEvent = fc.record({ id: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/), anyValue), eventData, eventDataChecksum: fc.oneof(fc.constant('RIGHT'), anyValue) }, { requiredKeys: ['id', 'eventData'] })
    .map((e) => (e.eventDataChecksum === 'RIGHT' && typeof e.eventData === 'string' ? { ...e, eventDataChecksum: createHash('sha256').update(e.eventData).digest('base64') } : e));
  const bodyArb = fc.oneof(
    fc.array(auditEvent, { maxLength: 6 }).map((auditEvents) => JSON.stringify({ auditEvents })),
    fc.constant(JSON.stringify({ auditEvents: Array.from({ length: 101 }, (_, i) => ({ id: `e${i}`, eventData: '{}' })) })),
    anyValue.map((v) => JSON.stringify(v)),
    fc.string({ maxLength: 100 }),
  );
  const queryArb = fc.record({
    channelArn: fc.oneof(fc.constant('REAL'), fc.constant('REAL-ID'), moderateString.filter((s) => s.length < 300)),
    externalId: fc.oneof(fc.stringMatching(/^[\w+=,.@:/-]{2,40}$/), moderateString.filter((s) => s.length < 300)),
  }, { requiredKeys: [] });

  test('random channels, external ids and bodies', async () => {
    await fc.assert(fc.asyncProperty(queryArb, bodyArb, fc.constantFrom(alice, bob, carol), async (query, body, id) => {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) params.set(k, v === 'REAL' ? channelArn : v === 'REAL-ID' ? channelArn.split('/').pop()! : v);
      const qs = params.toString().replace(/\+/g, '%20');
      const a = await send(`POST /PutAuditEvents ?${qs.slice(0, 100)} ${body.slice(0, 100)}`, `${server.url}/PutAuditEvents${qs ? `?${qs}` : ''}`, id, { body, service: 'cloudtrail-data', headers: { 'content-type': 'application/json' } }, 'application/json');
      if (a.status !== 200) return;
      const { successful, failed } = a.doc as { successful: unknown[]; failed: unknown[] };
      assert.ok(Array.isArray(successful) && Array.isArray(failed));
      const sent = (JSON.parse(body) as { auditEvents: unknown[] }).auditEvents;
      assert.equal(successful.length + failed.length, sent.length);
    }), { numRuns: 110 });
  });
});

describe('fuzz: query strings, paths and methods', () => {
  const qpair = fc.tuple(fc.string({ unit: 'binary', minLength: 1, maxLength: 10 }), fc.string({ unit: 'binary', maxLength: 20 }));
  const queryString = fc.uniqueArray(qpair, { maxLength: 4, selector: ([k]) => k })
    .map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&'));

  test('GET /events with random after/limit and other parameters', async () => {
    const num = fc.oneof(fc.nat().map(String), fc.integer().map(String), fc.constantFrom('', '0', '1e3', '0x10', '-0', '1.5', 'NaN', 'Infinity', '99999999999999999999', ' 1'), fc.string({ maxLength: 10 }));
    await fc.assert(fc.asyncProperty(fc.option(num), fc.option(num), queryString, fc.constantFrom(alice, carol, bob), async (afterP, limit, extra, id) => {
      const parts = [afterP !== null ? `after=${encodeURIComponent(afterP)}` : '', limit !== null ? `limit=${encodeURIComponent(limit)}` : '', extra].filter(Boolean);
      const a = await send(`GET /events?${parts.join('&')}`, `${server.url}/events${parts.length ? `?${parts.join('&')}` : ''}`, id, { service: 'opentrail' }, 'application/json');
      if (a.status !== 200) return;
      const events = a.doc.events as { seq: number; record: { recipientAccountId: string } }[];
      assert.ok(Array.isArray(events));
      assert.equal(typeof a.doc.next, 'number');
      for (const e of events) assert.equal(e.record.recipientAccountId, accountOf(id), 'another account\'s event leaked');
    }), { numRuns: 50 });
  });

  test('random query strings on the API endpoints', async () => {
    await fc.assert(fc.asyncProperty(queryString, fc.constantFrom('LookupEvents', 'ListChannels'), async (qs, op) => {
      const a = await callApi(`${TARGET}${op}`, op === 'LookupEvents' ? '{"MaxResults":1}' : '{}', alice, { query: qs });
      assert.ok(a.status === 200 || a.status === 400 || a.status === 403, JSON.stringify(a.doc));
    }), { numRuns: 50 });
  });

  test('random paths and methods are answered with an AWS-shaped error', async () => {
    const path = fc.oneof(
      fc.array(fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }), { maxLength: 3 }).map((segs) => `/${segs.map(encodeURIComponent).join('/')}`),
      fc.constantFrom('/ingest/', '/PutAuditEvents/x', '/events/1', '/health/x', '//', '/INGEST', '/ingest%00'),
    );
    await fc.assert(fc.asyncProperty(path, fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'), async (p, method) => {
      const known = (method === 'POST' && ['/', '/ingest', '/PutAuditEvents'].includes(p)) || (method === 'GET' && ['/events', '/health'].includes(p));
      if (known) return;
      const body = method === 'GET' || method === 'DELETE' ? undefined : '{}';
      const a = await send(`${method} ${p}`, `${server.url}${p}`, alice, { method, body, service: 'opentrail' }, 'application/json');
      assert.notEqual(a.status, 200, `${method} ${p} answered 200`);
    }), { numRuns: 60 });
  });
});

describe('fuzz: size and depth limits (account B, last, so their large records do not slow the rest)', () => {
  test('huge values in any member are refused with a 4xx, never a 5xx', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom(...LOOKUP_MEMBERS, 'UnknownMember'), hugeString, async (member, value) => {
      await callApi(`${TARGET}LookupEvents`, JSON.stringify({ [member]: member === 'LookupAttributes' ? [{ AttributeKey: 'EventName', AttributeValue: value }] : value }), carol);
    }), { numRuns: 40, examples: [['NextToken', '€'.repeat(90_000)], ['LookupAttributes', '€'.repeat(88_000)]] });
  });

  test('deeply nested values in any member are refused with a 4xx, never a 5xx', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom(...LOOKUP_MEMBERS, 'UnknownMember'), deepJson, async (member, nested) => {
      await callApi(`${TARGET}LookupEvents`, `{"${member}":${nested}}`, carol);
    }), { numRuns: 40, examples: [['LookupAttributes', `${'['.repeat(20_000)}${']'.repeat(20_000)}`]] });
  });

  test('huge values in records: rejected or accepted, never a 5xx', async () => {
    await fc.assert(fc.asyncProperty(hugeString, fc.constantFrom('eventName', 'eventID', 'awsRegion', 'userAgent', 'unknownField'), async (value, field) => {
      const text = JSON.stringify({ eventSource: 's3.amazonaws.com', eventName: 'PutObject', [field]: value });
      const a = await send('POST /ingest huge', `${server.url}/ingest`, carol, { body: text, service: 'opentrail' }, 'application/json');
      if (a.status === 200 && Buffer.byteLength(text) > 256 * 1024) {
        assert.equal((a.doc as { rejected: number }).rejected, 1, 'a record over 256 KB is rejected');
      }
    }), { numRuns: 30, examples: [['€'.repeat(90_000), 'unknownField']] });
  });

  test('deeply nested records are rejected record by record, never a 5xx', async () => {
    await fc.assert(fc.asyncProperty(deepJson, fc.constantFrom('requestParameters', 'additionalEventData', 'unknownField'), async (nested, field) => {
      const text = `{"eventSource":"s3.amazonaws.com","eventName":"PutObject","${field}":${nested}}`;
      await send('POST /ingest deep', `${server.url}/ingest`, carol, { body: text, service: 'opentrail' }, 'application/json');
    }), { numRuns: 40, examples: [[`${'['.repeat(20_000)}${']'.repeat(20_000)}`, 'requestParameters']] });
  });
});

describe('signature edge cases over HTTP', () => {
  /** Signs GET /events by the SigV4 specification, sending a header once per value (raw node:http). */
  async function getWithRepeatedHeader(values: string[]): Promise<{ status: number; body: string }> {
    const u = new URL(server.url);
    const amz = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
    const date = amz.slice(0, 8);
    const scope = `${date}/us-east-1/opentrail/aws4_request`;
    // SigV4: a header sent several times is signed as its values joined by "," (suite vector
    // get-header-key-duplicate), each trimmed with runs of spaces folded to one (the spec's Trimall).
    const canonical = ['GET', '/events', 'limit=1', `host:${u.host}`, `x-amz-date:${amz}`, `x-repeated:${values.map((v) => v.trim().replace(/ +/g, ' ')).join(',')}`, '',
      'host;x-amz-date;x-repeated', createHash('sha256').update('').digest('hex')].join('\n');
    const toSign = ['AWS4-HMAC-SHA256', amz, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
    let key = createHmac('sha256', `AWS4${alice.secretAccessKey}`).update(date).digest();
    for (const part of ['us-east-1', 'opentrail', 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
    const authorization = `AWS4-HMAC-SHA256 Credential=${alice.accessKeyId}/${scope}, SignedHeaders=host;x-amz-date;x-repeated, Signature=${createHmac('sha256', key).update(toSign).digest('hex')}`;
    const headers = ['Host', u.host, 'X-Amz-Date', amz, ...values.flatMap((v) => ['X-Repeated', v]), 'Authorization', authorization];
    requests++;
    return new Promise((resolve, reject) => {
      const req = request({ host: u.hostname, port: u.port, path: '/events?limit=1', method: 'GET', headers }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  test('the spec signer used here is accepted for a header sent once', async () => {
    const r = await getWithRepeatedHeader(['only-value']);
    assert.equal(r.status, 200, r.body);
  });

  test('a signed header sent several times is accepted when signed as the SigV4 specification says', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.stringMatching(/^[A-Za-z0-9]([A-Za-z0-9 .-]{0,10}[A-Za-z0-9])?$/), { minLength: 2, maxLength: 3 }), async (values) => {
      const r = await getWithRepeatedHeader(values);
      assert.equal(r.status, 200, `${JSON.stringify(values)} -> ${r.status} ${r.body.slice(0, 120)}`);
    }), { numRuns: 10 });
  });
});

describe('after the fuzzing', () => {
  test('the server is alive: /health and a valid LookupEvents still answer', async () => {
    assert.equal(server.process.exitCode, null, 'the server process is still running');
    const health = await fetch(`${server.url}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const out = await cloudTrailClient(server.url, alice).send(new LookupEventsCommand({ MaxResults: 5, LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'LookupEvents' }] }));
    assert.ok(out.Events && out.Events.length > 0, 'the fuzzing itself left LookupEvents entries behind');
    for (const e of out.Events) assert.equal(e.EventName, 'LookupEvents');
    assert.ok(requests > 1200, `only ${requests} requests were sent`);
  });
});
