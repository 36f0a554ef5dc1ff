/**
 * SigV4 verification, against three kinds of signer:
 * - the published AWS SigV4 test-suite vectors (aws-sig-v4-test-suite: request, date, key, signature),
 * - an independent reference signer written here from the SigV4 specification (canonical request
 *   from the raw wire form of path and query), itself checked against those vectors first,
 * - @smithy/signature-v4, the signer the AWS SDK for JavaScript uses.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { checkSigV4Headers, expectedSignature, NodeSha256, parseAuthorization, signingKey, verifySigV4, type Credentials, type ParsedAuthorization, type SignedRequest, type VerifyOptions } from './sigv4.ts';
import { ServiceError } from './errors.ts';

// ---------------------------------------------------------------------------------------------
// Reference signer (SigV4 spec; non-S3 services: each path segment is URI-encoded twice).

/** RFC 3986 encoding: everything but A-Z a-z 0-9 - . _ ~ as %XX with upper-case hex, byte by byte. */
function uriEncode(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Canonical URI from the path as it travels: dot segments and empty segments removed, then encoded again. */
function canonicalUri(wirePath: string, escape = true): string {
  if (!escape) return wirePath;
  const segs: string[] = [];
  for (const s of wirePath.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') segs.pop();
    else segs.push(s);
  }
  const path = `${wirePath.startsWith('/') ? '/' : ''}${segs.join('/')}${segs.length > 0 && wirePath.endsWith('/') ? '/' : ''}`;
  return path.split('/').map(uriEncode).join('/');
}

/** Canonical query from the raw query: each name and value decoded, re-encoded, sorted by name then value. */
function canonicalQuery(rawQuery: string): string {
  const pairs = rawQuery.split('&').filter((p) => p.length > 0).map((p) => {
    const i = p.indexOf('=');
    const k = i < 0 ? p : p.slice(0, i);
    const v = i < 0 ? '' : p.slice(i + 1);
    return [uriEncode(decodeURIComponent(k)), uriEncode(decodeURIComponent(v))] as const;
  });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

interface RawRequest {
  method: string;
  path: string;
  query: string;
  /** Header lines as sent; a name may repeat. */
  headers: [string, string][];
  body: Buffer | string;
}

const sha256Hex = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();

function referenceAuthorization(req: RawRequest, creds: { accessKeyId: string; secretAccessKey: string }, scope: { date: string; region: string; service: string }, signed: string[], opts: { payloadHash?: string; escapePath?: boolean } = {}) {
  const byName = new Map<string, string[]>();
  for (const [n, v] of req.headers) {
    const k = n.toLowerCase();
    byName.set(k, [...(byName.get(k) ?? []), v.trim().replace(/\s+/g, ' ')]);
  }
  const names = [...signed].sort();
  const amzDate = byName.get('x-amz-date')![0]!;
  const canonical = [
    req.method,
    canonicalUri(req.path, opts.escapePath ?? true),
    canonicalQuery(req.query),
    ...names.map((n) => `${n}:${byName.get(n)!.join(',')}`),
    '',
    names.join(';'),
    opts.payloadHash ?? sha256Hex(req.body),
  ].join('\n');
  const credentialScope = `${scope.date}/${scope.region}/${scope.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, credentialScope, sha256Hex(canonical)].join('\n');
  let key = hmac(`AWS4${creds.secretAccessKey}`, scope.date);
  key = hmac(key, scope.region);
  key = hmac(key, scope.service);
  key = hmac(key, 'aws4_request');
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
  return { canonical, signature, header: `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${credentialScope}, SignedHeaders=${names.join(';')}, Signature=${signature}` };
}

/** The SignedRequest verifySigV4 receives for a raw request (Node lower-cases names; repeats become arrays). */
function toSignedRequest(req: RawRequest, authorization?: string): SignedRequest {
  const headers: Record<string, string | string[]> = {};
  for (const [n, v] of req.headers) {
    const k = n.toLowerCase();
    const prev = headers[k];
    headers[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  if (authorization !== undefined) headers.authorization = authorization;
  return { method: req.method, path: req.path, rawQuery: req.query, headers, body: Buffer.from(req.body) };
}

async function rejection(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ServiceError, `expected a ServiceError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected the signature to be rejected');
}

// ---------------------------------------------------------------------------------------------
// The published test suite: AKIDEXAMPLE, 2015-08-30T12:36:00Z, us-east-1, service "service".

const SUITE_CREDS: Credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const SUITE_NOW = Date.UTC(2015, 7, 30, 12, 36, 0);
const SUITE_DATE = '20150830T123600Z';
const SUITE_SCOPE = { date: '20150830', region: 'us-east-1', service: 'service' };

function suiteOptions(creds: Credentials = SUITE_CREDS, nowMs = SUITE_NOW): VerifyOptions {
  return { nowMs, services: ['service'], credentialsFor: (id) => (id === creds.accessKeyId ? creds : undefined) };
}

interface Vector {
  name: string;
  method: string;
  path: string;
  query: string;
  headers: [string, string][];
  body: string;
  signedHeaders: string;
  signature: string;
  sessionToken?: string;
}

const base: [string, string][] = [['Host', 'example.amazonaws.com'], ['X-Amz-Date', SUITE_DATE]];
const VECTORS: Vector[] = [
  { name: 'get-vanilla', method: 'GET', path: '/', query: '', headers: base, body: '', signedHeaders: 'host;x-amz-date', signature: '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31' },
  { name: 'get-unreserved', method: 'GET', path: '/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', query: '', headers: base, body: '', signedHeaders: 'host;x-amz-date', signature: '07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f' },
  { name: 'get-slashes', method: 'GET', path: '//example//', query: '', headers: base, body: '', signedHeaders: 'host;x-amz-date', signature: '9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84' },
  { name: 'get-vanilla-query-order-key-case', method: 'GET', path: '/', query: 'Param2=value2&Param1=value1', headers: base, body: '', signedHeaders: 'host;x-amz-date', signature: 'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500' },
  { name: 'get-vanilla-query-order-value', method: 'GET', path: '/', query: 'Param1=value2&Param1=value1', headers: base, body: '', signedHeaders: 'host;x-amz-date', signature: '5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694' },
  // The suite writes the raw character; on the wire it is percent-encoded, which decodes the same.
  { name: 'get-vanilla-utf8-query', method: 'GET', path: '/', query: '%E1%88%B4=bar', headers: base, body: '', signedHeaders: 'host;x-amz-date', signature: '2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04' },
  { name: 'get-header-value-order', method: 'GET', path: '/', query: '', headers: [...base, ['My-Header1', 'value4'], ['My-Header1', 'value1'], ['My-Header1', 'value3'], ['My-Header1', 'value2']], body: '', signedHeaders: 'host;my-header1;x-amz-date', signature: '08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01' },
  { name: 'get-header-key-duplicate', method: 'GET', path: '/', query: '', headers: [...base, ['My-Header1', 'value2'], ['My-Header1', 'value2'], ['My-Header1', 'value1']], body: '', signedHeaders: 'host;my-header1;x-amz-date', signature: 'c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea' },
  { name: 'get-header-value-trim', method: 'GET', path: '/', query: '', headers: [...base, ['My-Header1', ' value1'], ['My-Header2', '"a   b   c"']], body: '', signedHeaders: 'host;my-header1;my-header2;x-amz-date', signature: 'acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736' },
  { name: 'post-x-www-form-urlencoded', method: 'POST', path: '/', query: '', headers: [...base, ['Content-Type', 'application/x-www-form-urlencoded']], body: 'Param1=value1', signedHeaders: 'content-type;host;x-amz-date', signature: 'ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a' },
  {
    name: 'session token (x-amz-security-token signed)', method: 'GET', path: '/', query: '',
    headers: [...base, ['X-Amz-Security-Token', '6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267']], body: '',
    signedHeaders: 'host;x-amz-date;x-amz-security-token', signature: '07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8',
    sessionToken: '6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267',
  },
];

const suiteAuth = (v: Vector, signature = v.signature) =>
  `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=${v.signedHeaders}, Signature=${signature}`;

describe('SigV4: the published AWS test-suite vectors', () => {
  for (const v of VECTORS) {
    test(`the reference signer reproduces ${v.name}`, () => {
      const ref = referenceAuthorization(v, SUITE_CREDS, SUITE_SCOPE, v.signedHeaders.split(';'));
      assert.equal(ref.signature, v.signature);
    });

    test(`verifySigV4 accepts ${v.name}`, async () => {
      const creds = { ...SUITE_CREDS, sessionToken: v.sessionToken };
      const { auth, credentials } = await verifySigV4(toSignedRequest(v, suiteAuth(v)), suiteOptions(creds));
      assert.equal(auth.accessKeyId, 'AKIDEXAMPLE');
      assert.equal(auth.region, 'us-east-1');
      assert.equal(auth.service, 'service');
      assert.equal(credentials, creds);
    });

    test(`verifySigV4 rejects ${v.name} with the last signature digit changed`, async () => {
      const last = v.signature.at(-1) === '0' ? '1' : '0';
      const err = await rejection(verifySigV4(toSignedRequest(v, suiteAuth(v, v.signature.slice(0, -1) + last)), suiteOptions({ ...SUITE_CREDS, sessionToken: v.sessionToken })));
      assert.equal(err.code, 'SignatureDoesNotMatch');
      assert.equal(err.statusCode, 403);
    });
  }

  test('the canonical request of get-vanilla-query-order-key-case sorts by name', () => {
    const v = VECTORS[3]!;
    const ref = referenceAuthorization(v, SUITE_CREDS, SUITE_SCOPE, v.signedHeaders.split(';'));
    assert.equal(ref.canonical.split('\n')[2], 'Param1=value1&Param2=value2');
    assert.equal(sha256Hex(ref.canonical), '816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0');
  });
});

// ---------------------------------------------------------------------------------------------
// Requests built and signed here, as they travel.

const CREDS: Credentials = { accessKeyId: 'AKIAEXAMPLEEXAMPLE00', secretAccessKey: 'secret/with+symbols=' };
const NOW = Date.UTC(2026, 2, 4, 5, 6, 7);
const amz = (ms: number) => new Date(ms).toISOString().replace(/[-:]|\.\d{3}/g, '');
const OPTS: VerifyOptions = { nowMs: NOW, services: ['cloudtrail'], credentialsFor: (id) => (id === CREDS.accessKeyId ? CREDS : id === 'ASIASESSION000000000' ? { accessKeyId: id, secretAccessKey: 'ss', sessionToken: 'the-token' } : undefined) };

function build(parts: Partial<RawRequest> & { extraHeaders?: [string, string][]; signedAt?: number } = {}): RawRequest {
  const at = parts.signedAt ?? NOW;
  return {
    method: parts.method ?? 'POST',
    path: parts.path ?? '/',
    query: parts.query ?? '',
    headers: parts.headers ?? [['host', 'localhost:4580'], ['x-amz-date', amz(at)], ['content-type', 'application/x-amz-json-1.1'], ['x-amz-target', 'CloudTrail_20131101.LookupEvents'], ...(parts.extraHeaders ?? [])],
    body: parts.body ?? '{"MaxResults":5}',
  };
}

function sign(req: RawRequest, opts: { creds?: { accessKeyId: string; secretAccessKey: string }; signed?: string[]; scopeDate?: string; region?: string; service?: string; payloadHash?: string; escapePath?: boolean } = {}) {
  const signed = opts.signed ?? [...new Set(req.headers.map(([n]) => n.toLowerCase()))];
  const date = opts.scopeDate ?? req.headers.find(([n]) => n.toLowerCase() === 'x-amz-date')![1].slice(0, 8);
  return referenceAuthorization(req, opts.creds ?? CREDS, { date, region: opts.region ?? 'us-east-1', service: opts.service ?? 'cloudtrail' }, signed, opts).header;
}

async function accepts(req: RawRequest, authorization: string, opts: VerifyOptions = OPTS) {
  await verifySigV4(toSignedRequest(req, authorization), opts);
}

async function rejects(req: RawRequest, authorization: string, code: string, status: number, opts: VerifyOptions = OPTS) {
  const err = await rejection(verifySigV4(toSignedRequest(req, authorization), opts));
  assert.equal(err.code, code, err.message);
  assert.equal(err.statusCode, status);
  return err;
}

describe('SigV4: canonical query string', () => {
  const cases: [string, string][] = [
    ['unsorted names', 'b=2&a=1&c=3'],
    ['repeated names, values unsorted', 'a=2&a=10&a=1'],
    ['byte order: upper case before lower case', 'a=1&B=2&_=3&~=4'],
    ['percent-encoded reserved characters', 'k%2Fx=%2F%3D%26%3F&q=a%20b'],
    ['lower-case hex escapes on the wire', 'q=%e2%82%ac&r=%2f'],
    ['unreserved characters sent escaped', 'q=%7E%2D%2E%5F'],
    ['a name with no value, an empty value', 'flag&empty=&z=1'],
    ['a value holding an equals sign', 'a=1=2'],
    ['unicode names and values', '%F0%9F%98%80=%E2%82%AC&%C3%A9=%C3%BC'],
    ['empty pairs between separators', 'a=1&&b=2&'],
  ];
  for (const [what, query] of cases) {
    test(`${what}: ${query}`, async () => {
      const req = build({ query });
      await accepts(req, sign(req));
    });
  }

  test('the query is signed: changing, adding or dropping a parameter fails', async () => {
    const req = build({ query: 'a=1&b=2' });
    const auth = sign(req);
    await accepts(req, auth);
    for (const query of ['a=1&b=3', 'a=1&b=2&c=', 'a=1', 'b=2&a=1&a=1', 'A=1&b=2']) {
      await rejects({ ...req, query }, auth, 'SignatureDoesNotMatch', 403);
    }
  });

  test('reordering parameters does not change the signature', async () => {
    const req = build({ query: 'a=1&b=2&a=0' });
    const auth = sign(req);
    await accepts({ ...req, query: 'b=2&a=0&a=1' }, auth);
  });

  // A parameter named like an Object.prototype member is an ordinary parameter to AWS.
  // verifySigV4 collects the query into a plain object, where "constructor" reads back as the
  // inherited Object function and "__proto__" assignment is swallowed by the prototype setter,
  // so the canonical query differs from the client's and a correctly signed request is refused.
  for (const query of ['constructor=1', 'toString=a&valueOf=b', 'hasOwnProperty=1&x=2']) {
    test(`a correctly signed request with query ${query} is accepted`, async () => {
      const req = build({ query });
      await accepts(req, sign(req));
    });
  }

  // Known limitation (docs/compatibility.md): @smithy/signature-v4 copies the query into plain
  // objects, where a parameter named __proto__ is lost, so such a request cannot be verified.
  // The AWS SDK for JavaScript, signing with the same library, loses it the same way.
  test('a query parameter named __proto__ is refused, not mis-verified', async () => {
    const req = build({ query: '__proto__=x' });
    await rejects(req, sign(req), 'SignatureDoesNotMatch', 403);
  });
});

describe('SigV4: canonical path', () => {
  const cases: [string, string][] = [
    ['root', '/'],
    ['an encoded space', '/example%20space/'],
    ['percent-encoded UTF-8', '/%E1%88%B4/%F0%9F%98%80'],
    ['an encoded percent', '/100%25'],
    ['an encoded slash stays inside its segment', '/a%2Fb'],
    ['repeated slashes', '//a//b//'],
    ['dot segments', '/a/./b/../c'],
    ['dot-looking ordinary segments', '/a/..b/.c'],
    ['a trailing slash', '/PutAuditEvents/'],
  ];
  for (const [what, path] of cases) {
    test(`${what}: ${path}`, async () => {
      const req = build({ path });
      await accepts(req, sign(req));
    });
  }

  test('the path is signed: another path fails', async () => {
    const req = build({ path: '/ingest' });
    const auth = sign(req);
    for (const path of ['/ingest/x', '/Ingest', '/ingest%20', '/']) await rejects({ ...req, path }, auth, 'SignatureDoesNotMatch', 403);
  });

  test('an encoded slash is not a separator: /a%2Fb and /a/b sign apart', async () => {
    const req = build({ path: '/a%2Fb' });
    await rejects({ ...req, path: '/a/b' }, sign(req), 'SignatureDoesNotMatch', 403);
  });

  test('S3-style signing (uriEscapePath false) signs the path exactly as sent', async () => {
    const req = build({ path: '/bucket/a%20b//c' });
    const opts = { ...OPTS, uriEscapePath: false };
    await accepts(req, sign(req, { escapePath: false }), opts);
    await rejects(req, sign(req), 'SignatureDoesNotMatch', 403, opts);
  });
});

describe('SigV4: headers and body', () => {
  test('header values are trimmed and inner runs of spaces collapsed', async () => {
    const req = build({ extraHeaders: [['x-amz-meta', '  a   b \t c  ']] });
    await accepts(req, sign(req));
  });

  test('a header sent twice is signed as its values joined by commas, in order', async () => {
    const req = build({ extraHeaders: [['my-header', 'second'], ['my-header', 'first']] });
    const auth = sign(req);
    await accepts(req, auth);
    await rejects(build({ extraHeaders: [['my-header', 'first'], ['my-header', 'second']] }), auth, 'SignatureDoesNotMatch', 403);
  });

  test('a signed header changed or removed fails; an unsigned header may change freely', async () => {
    const req = build();
    const auth = sign(req);
    const withTarget = (t: string): RawRequest => ({ ...req, headers: req.headers.map(([n, v]) => [n, n === 'x-amz-target' ? t : v] as [string, string]) });
    await rejects(withTarget('CloudTrail_20131101.CreateTrail'), auth, 'SignatureDoesNotMatch', 403);
    const missing = { ...req, headers: req.headers.filter(([n]) => n !== 'content-type') };
    const err = await rejects(missing, auth, 'SignatureDoesNotMatch', 403);
    assert.match(err.message, /content-type is missing/);
    await accepts({ ...req, headers: [...req.headers, ['user-agent', 'anything'], ['x-forwarded-for', '10.0.0.1']] }, auth);
  });

  test('the body is signed: any change fails', async () => {
    const req = build({ body: '{"MaxResults":5}' });
    const auth = sign(req);
    for (const body of ['{"MaxResults":6}', '{"MaxResults":5} ', '', '{"MaxResults":5}\n']) {
      await rejects({ ...req, body }, auth, 'SignatureDoesNotMatch', 403);
    }
  });

  test('the method is signed', async () => {
    const req = build({ method: 'GET', body: '' });
    await rejects({ ...req, method: 'POST' }, sign(req), 'SignatureDoesNotMatch', 403);
  });

  test('x-amz-content-sha256: the true body hash is accepted', async () => {
    const body = '{"a":"b"}';
    const req = build({ body, extraHeaders: [['x-amz-content-sha256', sha256Hex(body)]] });
    await accepts(req, sign(req));
  });

  test('x-amz-content-sha256 that does not match the body is XAmzContentSHA256Mismatch', async () => {
    const signedBody = '{"a":"b"}';
    const req = build({ body: signedBody, extraHeaders: [['x-amz-content-sha256', sha256Hex(signedBody)]] });
    const auth = sign(req);
    const tampered = { ...req, body: '{"a":"c"}' };
    const err = await rejects(tampered, auth, 'XAmzContentSHA256Mismatch', 400);
    assert.match(err.message, /x-amz-content-sha256/);
  });
});

describe('SigV4: strictness (issue 10 item 4)', () => {
  test('UNSIGNED-PAYLOAD or STREAMING-* in a signed x-amz-content-sha256 is refused unless allowUnsignedPayload (S3 through the gateway)', async () => {
    for (const value of ['UNSIGNED-PAYLOAD', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD']) {
      const req = build({ extraHeaders: [['x-amz-content-sha256', value]] });
      const auth = sign(req, { payloadHash: value });
      const err = await rejects(req, auth, 'XAmzContentSHA256Mismatch', 400);
      assert.match(err.message, /payload must be signed/);
      await accepts(req, auth, { ...OPTS, allowUnsignedPayload: true });
    }
  });

  test('an x-amz-content-sha256 left out of SignedHeaders is ignored: the body hash is part of the signature', async () => {
    const req = build({ extraHeaders: [['x-amz-content-sha256', 'UNSIGNED-PAYLOAD']] });
    const auth = sign(req, { signed: ['host', 'x-amz-date', 'content-type', 'x-amz-target'] });
    await accepts(req, auth);
    await rejects({ ...req, body: '{"MaxResults":6}' }, auth, 'SignatureDoesNotMatch', 403);
  });

  test('mustSign: a listed header sent but not signed is SignatureDoesNotMatch (403); one not sent is fine', async () => {
    const req = build();
    const mustSign = ['x-amz-target', 'content-type'];
    await accepts(req, sign(req), { ...OPTS, mustSign });
    for (const left of ['x-amz-target', 'content-type']) {
      const auth = sign(req, { signed: ['host', 'x-amz-date', ...mustSign.filter((h) => h !== left)] });
      await accepts(req, auth);
      const err = await rejects(req, auth, 'SignatureDoesNotMatch', 403, { ...OPTS, mustSign });
      assert.match(err.message, new RegExp(`not signed: ${left}`));
    }
    const noType = { ...req, headers: req.headers.filter(([n]) => n !== 'content-type') };
    await accepts(noType, sign(noType), { ...OPTS, mustSign });
  });

  test('with a signed hex payload hash the signature verifies without the body (body: null), and checkSigV4Headers reports the hash', async () => {
    const body = '{"MaxResults":5}';
    const req = build({ body, extraHeaders: [['x-amz-content-sha256', sha256Hex(body)]] });
    const auth = sign(req);
    const headersOnly = { ...toSignedRequest(req, auth), body: null };
    await verifySigV4(headersOnly, OPTS);
    assert.equal(checkSigV4Headers(headersOnly.headers, OPTS).payloadHash, sha256Hex(body));
    const bad = sign(req, { creds: { ...CREDS, secretAccessKey: 'other' } });
    const err = await rejection(verifySigV4({ ...toSignedRequest(req, bad), body: null }, OPTS));
    assert.equal(err.code, 'SignatureDoesNotMatch');
    // Without a signed hash there is nothing to report: the body is needed.
    const plain = build();
    assert.equal(checkSigV4Headers(toSignedRequest(plain, sign(plain)).headers, OPTS).payloadHash, undefined);
  });
});

describe('SigV4: session tokens', () => {
  const session = { accessKeyId: 'ASIASESSION000000000', secretAccessKey: 'ss' };

  test('the right token, signed, is accepted', async () => {
    const req = build({ extraHeaders: [['x-amz-security-token', 'the-token']] });
    await accepts(req, sign(req, { creds: session }));
  });

  test('a wrong or missing token is UnrecognizedClientException even when the signature is right', async () => {
    const wrong = build({ extraHeaders: [['x-amz-security-token', 'other-token']] });
    await rejects(wrong, sign(wrong, { creds: session }), 'UnrecognizedClientException', 403);
    const none = build();
    await rejects(none, sign(none, { creds: session }), 'UnrecognizedClientException', 403);
  });

  test('a signed token cannot be swapped after signing', async () => {
    const req = build({ extraHeaders: [['x-amz-security-token', 'the-token']] });
    const auth = sign(req, { creds: { ...session, secretAccessKey: 'ss' } });
    const swapped = { ...req, headers: req.headers.map(([n, v]) => [n, n === 'x-amz-security-token' ? 'forged' : v] as [string, string]) };
    await rejects(swapped, auth, 'UnrecognizedClientException', 403);
  });
});

describe('SigV4: date, scope and skew', () => {
  test('a credential date that is not the x-amz-date day is SignatureDoesNotMatch', async () => {
    const req = build();
    const err = await rejects(req, sign(req, { scopeDate: '20260303' }), 'SignatureDoesNotMatch', 403);
    assert.match(err.message, /Date in Credential scope does not match/);
  });

  test('a service outside the allowed list is SignatureDoesNotMatch', async () => {
    const req = build();
    const err = await rejects(req, sign(req, { service: 's3' }), 'SignatureDoesNotMatch', 403);
    assert.match(err.message, /scoped to correct service/);
  });

  test('every allowed service is accepted', async () => {
    const req = build();
    const opts = { ...OPTS, services: ['opentrail', 'cloudtrail'] };
    await accepts(req, sign(req, { service: 'opentrail' }), opts);
    await accepts(req, sign(req, { service: 'cloudtrail' }), opts);
  });

  test('a region changed in the scope after signing fails', async () => {
    const req = build();
    const auth = sign(req, { region: 'us-east-1' }).replace('/us-east-1/', '/us-west-2/');
    await rejects(req, auth, 'SignatureDoesNotMatch', 403);
  });

  test('a different secret fails', async () => {
    const req = build();
    await rejects(req, sign(req, { creds: { ...CREDS, secretAccessKey: 'not-it' } }), 'SignatureDoesNotMatch', 403);
  });

  const FIFTEEN_MIN = 15 * 60 * 1000;
  test('signed exactly 15 minutes ago or ahead is accepted', async () => {
    for (const at of [NOW - FIFTEEN_MIN, NOW + FIFTEEN_MIN]) {
      const req = build({ signedAt: at });
      await accepts(req, sign(req));
    }
  });

  test('signed more than 15 minutes ago is RequestExpired (signature expired)', async () => {
    const req = build({ signedAt: NOW - FIFTEEN_MIN - 1000 });
    const err = await rejects(req, sign(req), 'RequestExpired', 400);
    assert.match(err.message, /Signature expired/);
  });

  test('signed more than 15 minutes ahead is RequestExpired (not yet current)', async () => {
    const req = build({ signedAt: NOW + FIFTEEN_MIN + 1000 });
    const err = await rejects(req, sign(req), 'RequestExpired', 400);
    assert.match(err.message, /not yet current/);
  });

  test('maxSkewMs narrows the window', async () => {
    const req = build({ signedAt: NOW - 60_000 });
    await rejects(req, sign(req), 'RequestExpired', 400, { ...OPTS, maxSkewMs: 30_000 });
  });

  test('skew is judged after the signature is well-formed but before the secret matters: an expired request with a bad signature is RequestExpired', async () => {
    const req = build({ signedAt: NOW - 2 * FIFTEEN_MIN });
    await rejects(req, sign(req, { creds: { ...CREDS, secretAccessKey: 'wrong' } }), 'RequestExpired', 400);
  });
});

describe('SigV4: malformed authorization', () => {
  const req = build();
  const good = sign(req);

  test('no Authorization header is MissingAuthenticationTokenException (403)', async () => {
    const err = await rejection(verifySigV4(toSignedRequest(req), OPTS));
    assert.equal(err.code, 'MissingAuthenticationTokenException');
    assert.equal(err.statusCode, 403);
  });

  for (const [what, auth] of [
    ['another algorithm', good.replace('AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA512')],
    ['no Signature', good.replace(/, Signature=[0-9a-f]+/, '')],
    ['no SignedHeaders', good.replace(/SignedHeaders=[^,]+, /, '')],
    ['a short signature', good.slice(0, -1)],
    ['a credential with four parts', good.replace('/aws4_request', '')],
    ['a wrong terminator', good.replace('aws4_request', 'aws5_request')],
    ['garbage', 'Bearer abc'],
  ] as const) {
    test(`${what} is IncompleteSignatureException (400)`, async () => {
      await rejects(req, auth, 'IncompleteSignatureException', 400);
    });
  }

  test('no X-Amz-Date is IncompleteSignatureException', async () => {
    const noDate = { ...req, headers: req.headers.filter(([n]) => n !== 'x-amz-date') };
    await rejects(noDate, good, 'IncompleteSignatureException', 400);
  });

  test('an X-Amz-Date not in basic format is IncompleteSignatureException', async () => {
    const bad = { ...req, headers: req.headers.map(([n, v]) => [n, n === 'x-amz-date' ? '2026-03-04T05:06:07Z' : v] as [string, string]) };
    await rejects(bad, good, 'IncompleteSignatureException', 400);
  });

  test('host must be signed', async () => {
    await rejects(req, sign(req, { signed: ['x-amz-date', 'content-type'] }), 'IncompleteSignatureException', 400);
  });

  test('an unknown access key is UnrecognizedClientException (403)', async () => {
    await rejects(req, sign(req, { creds: { accessKeyId: 'AKIANOBODY0000000000', secretAccessKey: 'x' } }), 'UnrecognizedClientException', 403);
  });

  test('parseAuthorization reads every part, with or without spaces after the commas', () => {
    const sig = 'a'.repeat(64);
    for (const header of [
      `AWS4-HMAC-SHA256 Credential=AKID/20260304/eu-west-1/cloudtrail/aws4_request, SignedHeaders=host;x-amz-date, Signature=${sig}`,
      `AWS4-HMAC-SHA256 Credential=AKID/20260304/eu-west-1/cloudtrail/aws4_request,SignedHeaders=host;x-amz-date,Signature=${sig}`,
    ]) {
      assert.deepEqual(parseAuthorization({ authorization: header }), {
        accessKeyId: 'AKID', date: '20260304', region: 'eu-west-1', service: 'cloudtrail', signedHeaders: ['host', 'x-amz-date'], signature: sig,
      });
    }
  });
});

describe('SigV4: requests signed by @smithy/signature-v4 (the AWS SDK signer)', () => {
  async function smithySign(req: { method: string; path: string; query: Record<string, string | string[]>; headers: Record<string, string>; body: string }, creds: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } = CREDS, at = NOW) {
    const signer = new SignatureV4({ credentials: creds, region: 'us-east-1', service: 'cloudtrail', sha256: Sha256 });
    const signed = await signer.sign({ protocol: 'http:', hostname: 'localhost', port: 4580, ...req }, { signingDate: new Date(at) });
    return signed.headers as Record<string, string>;
  }
  const wireQuery = (q: Record<string, string | string[]>) =>
    Object.entries(q).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${encodeURIComponent(k)}=${encodeURIComponent(x)}`)).join('&');

  test('a LookupEvents call as the SDK signs it', async () => {
    const body = '{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"CreateTrail"}]}';
    const headers = await smithySign({ method: 'POST', path: '/', query: {}, headers: { host: 'localhost:4580', 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'CloudTrail_20131101.LookupEvents' }, body });
    await verifySigV4({ method: 'POST', path: '/', rawQuery: '', headers, body: Buffer.from(body) }, OPTS);
    // The SDK signs x-amz-content-sha256, so a changed body is caught as a payload-hash mismatch.
    assert.equal(headers['x-amz-content-sha256'], sha256Hex(body));
    await assert.rejects(verifySigV4({ method: 'POST', path: '/', rawQuery: '', headers, body: Buffer.from(body.replace('CreateTrail', 'DeleteTrail')) }, OPTS), { code: 'XAmzContentSHA256Mismatch' });
  });

  test('a session-credential call carries and signs the token', async () => {
    const headers = await smithySign({ method: 'GET', path: '/events', query: { after: '0' }, headers: { host: 'localhost:4580' }, body: '' }, { accessKeyId: 'ASIASESSION000000000', secretAccessKey: 'ss', sessionToken: 'the-token' });
    assert.equal(headers['x-amz-security-token'], 'the-token');
    await verifySigV4({ method: 'GET', path: '/events', rawQuery: 'after=0', headers, body: Buffer.alloc(0) }, OPTS);
  });

  const segment = fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }).filter((s) => s !== '.' && s !== '..');
  const name = fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }).filter((s) => !(s in Object.prototype) && s.toLowerCase() !== 'x-amz-signature');
  const value = fc.string({ unit: 'binary', maxLength: 12 });
  const queryArb = fc.dictionary(name, fc.oneof(value, fc.array(value, { minLength: 1, maxLength: 3 })), { maxKeys: 5 });

  test('property: any path, query and body the SDK signs is accepted, and stops verifying once the body changes', async () => {
    await fc.assert(fc.asyncProperty(fc.array(segment, { maxLength: 4 }), queryArb, fc.string({ unit: 'binary', maxLength: 200 }), async (segs, query, body) => {
      const path = `/${segs.map((s) => encodeURIComponent(s)).join('/')}`;
      const headers = await smithySign({ method: 'POST', path, query, headers: { host: 'localhost:4580', 'content-type': 'application/json' }, body });
      const rawQuery = wireQuery(query);
      await verifySigV4({ method: 'POST', path, rawQuery, headers, body: Buffer.from(body) }, OPTS);
      await assert.rejects(verifySigV4({ method: 'POST', path, rawQuery, headers, body: Buffer.from(`${body}x`) }, OPTS), { code: 'XAmzContentSHA256Mismatch' });
      await assert.rejects(verifySigV4({ method: 'POST', path: `${path}x`, rawQuery, headers, body: Buffer.from(body) }, OPTS), { code: 'SignatureDoesNotMatch' });
    }), { numRuns: 150 });
  });
});

describe('SigV4: property tests against the reference signer', () => {
  const segment = fc.string({ unit: 'binary', minLength: 1, maxLength: 8 });
  const qname = fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }).filter((s) => !(s in Object.prototype) && s.toLowerCase() !== 'x-amz-signature');
  const qvalue = fc.string({ unit: 'binary', maxLength: 10 });
  const headerValue = fc.stringMatching(/^[ \t]*[\x21-\x7e]([\x21-\x7e \t]{0,20}[\x21-\x7e])?[ \t]*$/);
  const reqArb = fc.record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'),
    segs: fc.array(segment, { maxLength: 4 }),
    trailingSlash: fc.boolean(),
    params: fc.array(fc.tuple(qname, qvalue), { maxLength: 6 }),
    // Repeated header lines are covered by the suite vectors; Node trims each value of a repeated
    // header before joining, so untrimmed repeats cannot reach verifySigV4 from the wire.
    extra: fc.uniqueArray(fc.tuple(fc.stringMatching(/^x-[a-z0-9-]{1,10}$/), headerValue), { maxLength: 3, selector: ([n]) => n }),
    body: fc.uint8Array({ maxLength: 300 }),
  });

  type ReqShape = typeof reqArb extends fc.Arbitrary<infer T> ? T : never;
  const toRaw = (r: ReqShape): RawRequest => ({
    method: r.method,
    path: `/${r.segs.map(uriEncode).join('/')}${r.trailingSlash && r.segs.length > 0 ? '/' : ''}`,
    query: r.params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&'),
    headers: [['host', 'localhost:4580'], ['x-amz-date', amz(NOW)], ...r.extra],
    body: Buffer.from(r.body),
  });

  test('property: every request the reference signer signs verifies', async () => {
    await fc.assert(fc.asyncProperty(reqArb, async (r) => {
      const raw = toRaw(r);
      await accepts(raw, sign(raw));
    }), { numRuns: 300 });
  });

  test('property: any change to method, path, query, a signed header or the body is refused', async () => {
    await fc.assert(fc.asyncProperty(reqArb, fc.constantFrom('method', 'path', 'query', 'header', 'body'), async (r, what) => {
      const raw = toRaw(r);
      const auth = sign(raw);
      const t: RawRequest = { ...raw };
      if (what === 'method') t.method = raw.method === 'GET' ? 'HEAD' : 'GET';
      if (what === 'path') t.path = `${raw.path.replace(/\/$/, '')}/extra`;
      if (what === 'query') t.query = `${raw.query}${raw.query ? '&' : ''}injected=1`;
      if (what === 'header') t.headers = raw.headers.map(([n, v]) => [n, n === 'host' ? 'evil.example:4580' : v]);
      if (what === 'body') t.body = Buffer.concat([Buffer.from(raw.body), Buffer.from([0])]);
      await rejects(t, auth, 'SignatureDoesNotMatch', 403);
    }), { numRuns: 300 });
  });
});

describe('SigV4: the verifier computes what SignatureV4.sign computes', () => {
  /** The previous verifier's computation: a SignatureV4 per request re-signing it as received. */
  async function viaSigner(req: SignedRequest, auth: ParsedAuthorization, secret: string, uriEscapePath: boolean): Promise<string> {
    const signed = new Set(auth.signedHeaders);
    const headers: Record<string, string> = {};
    const value = (n: string) => {
      const v = req.headers[n];
      return Array.isArray(v) ? v.map((s) => s.trim()).join(',') : v;
    };
    for (const n of auth.signedHeaders) if (value(n) !== undefined) headers[n] = value(n)!;
    const dateText = value('x-amz-date')!;
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(dateText)!;
    const signer = new SignatureV4({
      credentials: { accessKeyId: auth.accessKeyId, secretAccessKey: secret, sessionToken: signed.has('x-amz-security-token') ? value('x-amz-security-token') : undefined },
      region: auth.region, service: auth.service, sha256: NodeSha256, uriEscapePath, applyChecksum: false,
    });
    const query: Record<string, string | string[]> = Object.create(null);
    for (const [k, v] of new URLSearchParams(req.rawQuery)) {
      const prev = query[k];
      query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    const out = await signer.sign(
      { method: req.method, protocol: 'http:', hostname: headers.host ?? '', path: req.path, query, headers, body: req.body ?? Buffer.alloc(0) },
      { signingDate: new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)), signableHeaders: signed, unsignableHeaders: new Set() },
    );
    return /Signature=([0-9a-f]{64})/.exec(String(out.headers.authorization))![1]!;
  }

  const name = fc.constantFrom('host', 'x-amz-date', 'date', 'authorization', 'x-amz-security-token', 'x-amz-content-sha256', 'content-type', 'x-amz-target', 'user-agent', 'expect', 'x-forwarded-for', 'proxy-a', 'sec-b', '__proto__', 'X-Mixed-Case');
  const value = fc.stringMatching(/^[ \t]*[\x21-\x7e]([\x21-\x7e \t]{0,20}[\x21-\x7e])?[ \t]*$/);
  const arb = fc.record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'HEAD'),
    path: fc.constantFrom('/', '//a//b/', '/a/./b/../c', '/%2F%20x', '/bucket/key%20with space', '/ü'),
    rawQuery: fc.constantFrom('', 'a=1&b=2', 'b=2&a=1&a=0', 'x-id=PutObject', '%E1%88%B4=bar&empty', 'Action=List&Version=2010'),
    headers: fc.dictionary(name, fc.oneof(value, fc.array(value, { minLength: 2, maxLength: 3 })), { maxKeys: 6 }),
    signed: fc.uniqueArray(name, { maxLength: 6 }),
    // (the last two: no canonical form, and a year past 9999 once normalised)
    date: fc.constantFrom('20260101T000000Z', '20261204T235959Z', '20261399T990000Z', '99991231T235960Z'),
    region: fc.constantFrom('us-east-1', 'eu-west-3', 'x'),
    service: fc.constantFrom('monitoring', 's3', 'servicediscovery'),
    secret: fc.constantFrom('s1', 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', 'ü-secret'),
    body: fc.option(fc.uint8Array({ maxLength: 200 }), { nil: null }),
    withHash: fc.boolean(),
    escape: fc.boolean(),
  });

  test('property: identical signatures for any request, signed-header list, date, scope, secret and body', async () => {
    await fc.assert(fc.asyncProperty(arb, async (r) => {
      const headers: Record<string, string | string[]> = { ...r.headers, host: 'localhost:4580', 'x-amz-date': r.date };
      const body = r.body === null ? null : Buffer.from(r.body);
      const signedHeaders = ['host', 'x-amz-date', ...r.signed.filter((n) => n !== 'host' && n !== 'x-amz-date')].filter((n) => headers[n] !== undefined);
      const auth: ParsedAuthorization = { accessKeyId: 'AKID', date: r.date.slice(0, 8), region: r.region, service: r.service, signedHeaders, signature: '0'.repeat(64) };
      const req: SignedRequest = { method: r.method, path: r.path, rawQuery: r.rawQuery, headers, body };
      const want = await viaSigner(req, auth, r.secret, r.escape);
      assert.equal(expectedSignature(req, auth, r.secret, r.escape), want);
      if (body !== null && r.withHash) assert.equal(expectedSignature({ ...req, bodySha256: createHash('sha256').update(body).digest('hex') }, auth, r.secret, r.escape), want);
    }), { numRuns: 400 });
  });

  test('a path without a leading slash (absolute-form target "GET http://h/x", "OPTIONS *": Node hands it on as sent) is canonicalised as smithy does it', async () => {
    for (const path of ['http://h/x', 'http://h/a/../b/', '*', 'x/y']) {
      for (const escape of [true, false]) {
        const req: SignedRequest = { method: 'GET', path, rawQuery: '', headers: { host: 'h', 'x-amz-date': '20260101T000000Z' }, body: null };
        const auth: ParsedAuthorization = { accessKeyId: 'AKID', date: '20260101', region: 'us-east-1', service: 's3', signedHeaders: ['host', 'x-amz-date'], signature: '0'.repeat(64) };
        assert.equal(expectedSignature(req, auth, 's1', escape), await viaSigner(req, auth, 's1', escape), `${path} (escape ${escape})`);
      }
    }
  });

  test('the signing-key cache gives each (secret, date, region, service) its own key, past its bound', () => {
    const derive = (secret: string, date: string, region: string, service: string) => {
      let k = createHmac('sha256', `AWS4${secret}`).update(date).digest();
      for (const part of [region, service, 'aws4_request']) k = createHmac('sha256', k).update(part).digest();
      return k.toString('hex');
    };
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 600; i++) {
        const [secret, date, region, service] = [`secret-${i % 7}`, `2026120${i % 3}`, `r-${i % 5}`, `s-${i}`];
        assert.equal(signingKey(secret, date, region, service).export().toString('hex'), derive(secret, date, region, service));
      }
    }
    assert.notEqual(signingKey('a', '20260101', 'b', 'c').export().toString('hex'), signingKey('a', '20260101', 'b', 'd').export().toString('hex'));
  });
});
