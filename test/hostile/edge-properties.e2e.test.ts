/**
 * fast-check properties over the HTTP edge of ONE real server with small limits: body encodings
 * (identity, gzip, sniffed gzip, truncated gzip, gzip bombs, wrong Content-Encoding), record
 * counts around the cap, body sizes around the unverified limit, and SigV4 header combinations
 * (X-Amz-Target / Content-Type signed or not; x-amz-content-sha256 signed hex, absent,
 * UNSIGNED-PAYLOAD or wrong). Every answer must be exactly what a model of the rules predicts:
 * an AWS-shaped 4xx/413 error, or a 200 whose counts are right; /health keeps answering
 * throughout and the process is alive afterwards.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { ACCOUNT_A, ACCOUNT_B, startServer, type StartedServer } from '../helpers/server.ts';
import { signRequest } from '../helpers/signed-fetch.ts';
import { assertAlive, whileProbing } from './liveness.ts';

const alice = ACCOUNT_A.identities[1]!;
const LIMITS = { maxBodyBytes: 512 * 1024, maxUnverifiedBodyBytes: 32 * 1024, maxDecodedBytes: 256 * 1024, maxRecordsPerRequest: 50 };
const JSON_11 = 'application/x-amz-json-1.1';
const TARGET = 'com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.';

let server: StartedServer;

before(async () => {
  server = await startServer({ accounts: [ACCOUNT_A, ACCOUNT_B], ingest: LIMITS });
});

after(async () => {
  if (!server) return;
  await server.stop();
  rmSync(server.dataDir, { recursive: true, force: true });
  rmSync(server.configFile, { force: true });
});

interface Expected {
  status: number;
  type?: string;
  accepted?: number;
  rejected?: number;
}

async function send(path: string, body: Buffer, headers: Record<string, string>, hash: string, unsignedHeaders: string[], service: string): Promise<{ status: number; errorType?: string; headerType?: string | null; doc: Record<string, unknown> }> {
  const signed = await signRequest(`${server.url}${path}`, alice, { body, headers, payloadHash: hash, unsignedHeaders, service });
  const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: signed.headers, body: body as unknown as BodyInit });
  const text = await res.text();
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch {
    assert.fail(`answer ${res.status} is not JSON: ${text.slice(0, 200)}`);
  }
  return { status: res.status, errorType: doc.__type as string | undefined, headerType: res.headers.get('x-amzn-errortype'), doc };
}

function check(got: Awaited<ReturnType<typeof send>>, wanted: Expected | Expected[], what: string): void {
  const options = Array.isArray(wanted) ? wanted : [wanted];
  const want = options.find((w) => w.status === got.status && (w.type === undefined || w.type === got.errorType)) ?? options[0]!;
  assert.equal(got.status, want.status, `${what}: ${JSON.stringify(got.doc).slice(0, 300)}`);
  if (want.status === 200) {
    if (want.accepted !== undefined) assert.equal(got.doc.accepted, want.accepted, what);
    if (want.rejected !== undefined) assert.equal(got.doc.rejected, want.rejected, what);
    return;
  }
  assert.equal(got.errorType, want.type, `${what}: ${JSON.stringify(got.doc).slice(0, 300)}`);
  assert.equal(got.headerType, want.type, `${what}: x-amzn-errortype`);
  assert.equal(typeof got.doc.message, 'string', what);
}

const hashModes = ['signed', 'none', 'UNSIGNED-PAYLOAD', 'wrong'] as const;
type HashMode = (typeof hashModes)[number];
const WRONG = createHash('sha256').update('not the body').digest('hex');
const hashValue = (m: HashMode) => (m === 'wrong' ? WRONG : m);

describe('edge properties', () => {
  test('property: /ingest answers exactly what the rules predict for any encoding, record count, size and payload-hash form', async () => {
    const arb = fc.record({
      valid: fc.nat({ max: 56 }),
      broken: fc.nat({ max: 3 }),
      form: fc.constantFrom('ndjson', 'array', 'log'),
      encoding: fc.constantFrom('identity', 'gzip', 'gzip-sniffed', 'gzip-truncated', 'gzip-bomb', 'br', 'deflate', 'gzip, br'),
      hash: fc.constantFrom(...hashModes),
      padKiB: fc.constantFrom(0, 0, 0, 40, 300, 600),
    });
    await whileProbing(server, () => fc.assert(fc.asyncProperty(arb, async (c) => {
      const tag = randomUUID();
      const valid = Array.from({ length: c.valid }, (_, i) => JSON.stringify({ eventSource: 'prop.example.com', eventName: 'Put', eventID: `${tag}-${i}` }));
      // Broken entries: for NDJSON a line that is not JSON; in the array forms a record missing eventName.
      const broken = Array.from({ length: c.broken }, () => (c.form === 'ndjson' ? '{not json' : JSON.stringify({ eventSource: 'prop.example.com' })));
      const entries = [...valid, ...broken];
      const pad = ' '.repeat(c.padKiB * 1024);
      const text = c.form === 'ndjson' ? `${entries.join('\n')}\n${pad}` : c.form === 'array' ? `[${entries.join(',')}]${pad}` : `{"Records":[${entries.join(',')}]}${pad}`;
      const plain = Buffer.from(text);
      let body = plain;
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      let decoded = plain.length;
      if (c.encoding.startsWith('gzip') && c.encoding !== 'gzip, br') {
        const gz = gzipSync(c.encoding === 'gzip-bomb' ? Buffer.concat([plain, Buffer.alloc(LIMITS.maxDecodedBytes, 0x20)]) : plain);
        body = c.encoding === 'gzip-truncated' ? gz.subarray(0, Math.max(11, gz.length - 1 - (c.valid % 7))) : gz;
        if (c.encoding !== 'gzip-sniffed') headers['content-encoding'] = 'gzip';
        if (c.encoding === 'gzip-bomb') decoded = plain.length + LIMITS.maxDecodedBytes;
      } else if (c.encoding !== 'identity') {
        headers['content-encoding'] = c.encoding;
      }
      // The model.
      let want: Expected | Expected[];
      const signedHash = c.hash === 'signed' || c.hash === 'wrong';
      if (c.hash === 'UNSIGNED-PAYLOAD') want = { status: 400, type: 'XAmzContentSHA256Mismatch' };
      else if (body.length > (signedHash ? LIMITS.maxBodyBytes : LIMITS.maxUnverifiedBodyBytes)) want = { status: 413, type: 'RequestEntityTooLargeException' };
      else if (c.hash === 'wrong') want = { status: 400, type: 'XAmzContentSHA256Mismatch' };
      else if (c.encoding === 'br' || c.encoding === 'deflate' || c.encoding === 'gzip, br') want = { status: 400, type: 'SerializationException' };
      else if (decoded > LIMITS.maxDecodedBytes) want = { status: 413, type: 'RequestEntityTooLargeException' };
      // A truncated body fails where it ends, unless the records before that already passed the cap.
      else if (c.encoding === 'gzip-truncated') {
        want = entries.length > LIMITS.maxRecordsPerRequest
          ? [{ status: 400, type: 'SerializationException' }, { status: 413, type: 'RequestEntityTooLargeException' }]
          : { status: 400, type: 'SerializationException' };
      }
      else if (entries.length > LIMITS.maxRecordsPerRequest) want = { status: 413, type: 'RequestEntityTooLargeException' };
      else want = { status: 200, accepted: c.valid, rejected: c.broken };
      check(await send('/ingest', body, headers, hashValue(c.hash), [], 'opentrail'), want, JSON.stringify({ ...c, bytes: body.length }));
    }), { numRuns: 150 }));
    assertAlive(server);
  });

  test('property: the CloudTrail API refuses an unsigned X-Amz-Target or Content-Type (403) and any payload that is not signed (400), and answers the rest', async () => {
    const arb = fc.record({
      targetSigned: fc.boolean(),
      typeSigned: fc.boolean(),
      hash: fc.constantFrom(...hashModes),
      padKiB: fc.constantFrom(0, 0, 40),
    });
    await whileProbing(server, () => fc.assert(fc.asyncProperty(arb, async (c) => {
      const body = Buffer.from(`{"MaxResults":1}${' '.repeat(c.padKiB * 1024)}`);
      const unsigned = [...(c.targetSigned ? [] : ['x-amz-target']), ...(c.typeSigned ? [] : ['content-type'])];
      let want: Expected;
      if (unsigned.length > 0) want = { status: 403, type: 'SignatureDoesNotMatch' };
      else if (c.hash === 'UNSIGNED-PAYLOAD') want = { status: 400, type: 'XAmzContentSHA256Mismatch' };
      else if (body.length > LIMITS.maxUnverifiedBodyBytes) want = { status: 413, type: 'RequestEntityTooLargeException' };
      else if (c.hash === 'wrong') want = { status: 400, type: 'XAmzContentSHA256Mismatch' };
      else want = { status: 200 };
      const got = await send('/', body, { 'content-type': JSON_11, 'x-amz-target': `${TARGET}LookupEvents` }, hashValue(c.hash), unsigned, 'cloudtrail');
      check(got, want, JSON.stringify(c));
      if (want.status === 200) assert.ok(Array.isArray(got.doc.Events));
    }), { numRuns: 80 }));
    assertAlive(server);
  });
});
