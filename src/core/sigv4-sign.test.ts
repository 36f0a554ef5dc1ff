/**
 * Our SigV4 signer against the AWS SDK's (@smithy/signature-v4 `SignatureV4.sign`): for any
 * request of the shapes our light clients send (GET with a query, POST with a body, paths with
 * characters to escape, session tokens, S3's unescaped path, with and without the payload-hash
 * header), the same headers, the same Authorization, byte for byte.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from './sha256.ts';
import { signRequest, uriEscape } from './sigv4-sign.ts';

const text = fc.string({ unit: fc.constantFrom('a', 'Z', '0', '-', '_', '.', '~', ' ', '/', '+', '=', '&', '%', '*', '!', '(', "'", 'é', '日', '\u{1F600}'), maxLength: 12 });
const headerName = fc.stringMatching(/^x-[a-z0-9-]{1,10}$/);
const headerValue = fc.string({ unit: fc.constantFrom('a', 'B', '1', ' ', '\t', ',', ':', '/'), maxLength: 16 });

const arb = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT'),
  segments: fc.array(text, { maxLength: 4 }),
  trailingSlash: fc.boolean(),
  dots: fc.constantFrom('', '/.', '/..', '//'),
  // A repeated parameter (a list of values, empty included), and a stray X-Amz-Signature.
  query: fc.dictionary(fc.oneof(text, fc.constantFrom('X-Amz-Signature', 'x-amz-signature')), fc.oneof(text, fc.array(text, { maxLength: 3 })), { maxKeys: 4 }),
  headers: fc.dictionary(headerName, headerValue, { maxKeys: 4 }),
  unsignable: fc.subarray(['user-agent', 'connection', 'proxy-x', 'sec-x', 'x-amzn-trace-id']),
  body: fc.option(fc.string({ maxLength: 64 }), { nil: undefined }),
  sessionToken: fc.option(fc.string({ minLength: 1, maxLength: 24 }), { nil: undefined }),
  escape: fc.boolean(),
  contentSha256: fc.boolean(),
  region: fc.constantFrom('us-east-1', 'eu-west-3', 'cn-north-1'),
  service: fc.constantFrom('s3', 'cloudtrail', 'organizations'),
  nowMs: fc.integer({ min: Date.UTC(2001, 0, 1), max: Date.UTC(2099, 0, 1) }),
  port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
});

describe('SigV4 signing of our own requests (core/sigv4-sign.ts)', () => {
  test('signs every request exactly as @smithy/signature-v4 signs it', async () => {
    await fc.assert(fc.asyncProperty(arb, async (r) => {
      const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: r.sessionToken };
      const path = `/${r.segments.map(uriEscape).join('/')}${r.dots}${r.trailingSlash ? '/' : ''}`;
      const host = `bucket.example.com${r.port === undefined ? '' : `:${r.port}`}`;
      const headers: Record<string, string> = { ...r.headers };
      for (const h of r.unsignable) headers[h] = 'v';
      const sdk = new SignatureV4({ credentials, region: r.region, service: r.service, sha256: NodeSha256, uriEscapePath: r.escape, applyChecksum: r.contentSha256 });
      const want = await sdk.sign({
        method: r.method, protocol: 'https:', hostname: 'bucket.example.com', port: r.port, path, query: { ...r.query },
        headers: { ...headers, host }, body: r.body,
      }, { signingDate: new Date(r.nowMs) });
      const got = signRequest({ method: r.method, host, path, query: r.query, headers, body: r.body },
        { credentials, region: r.region, service: r.service, uriEscapePath: r.escape, contentSha256: r.contentSha256, nowMs: r.nowMs });
      assert.deepEqual(got, want.headers);
    }), { numRuns: 500 });
  });

  test('a given x-amz-content-sha256 is signed as the payload hash (S3 unsigned payloads)', async () => {
    const credentials = { accessKeyId: 'AKID', secretAccessKey: 'secret' };
    const nowMs = Date.UTC(2026, 11, 5, 8, 0, 0);
    const sdk = new SignatureV4({ credentials, region: 'us-east-1', service: 's3', sha256: NodeSha256, uriEscapePath: false });
    const want = await sdk.sign({ method: 'PUT', protocol: 'https:', hostname: 'h', path: '/b/k', headers: { host: 'h', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }, body: 'x' }, { signingDate: new Date(nowMs) });
    const got = signRequest({ method: 'PUT', host: 'h', path: '/b/k', headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }, body: 'x' }, { credentials, region: 'us-east-1', service: 's3', uriEscapePath: false, nowMs });
    assert.equal(got.authorization, want.headers.authorization);
    assert.match(got.authorization!, /^AWS4-HMAC-SHA256 Credential=AKID\/20261205\/us-east-1\/s3\/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/);
  });
});
