/**
 * SigV4 verification of incoming requests (Authorization header form).
 *
 * The canonical request is the one @smithy/signature-v4 (the signer of the AWS SDK for
 * JavaScript) builds when it re-signs the request exactly as received, with the caller's
 * signed-header list and date; signatures are compared in constant time. It is built here directly
 * for what signers send (lower-case signed header names), and by smithy's own exported functions
 * otherwise; the HMACs are node:crypto's, with signing keys cached (expectedSignature, below; a
 * property test holds it to SignatureV4.sign).
 */
import { hash, timingSafeEqual } from 'node:crypto';
import { AMZ_DATE_HEADER, getCanonicalHeaders, getCanonicalQuery, prepareRequest, SHA256_HEADER, SignatureV4Base, TOKEN_HEADER } from '@smithy/signature-v4';
import { ServiceError } from './errors.ts';
import { NodeSha256 } from '../core/sha256.ts';
import { canonicalHeaderValue, canonicalPath, signatureOf, signingKey } from '../core/sigv4-sign.ts';

export { NodeSha256, signingKey };


export interface SignedRequest {
  method: string;
  /** Path exactly as sent (still percent-encoded), without the query. */
  path: string;
  /** Raw query string without the leading `?`. */
  rawQuery: string;
  /** Header names in lower case; a header sent more than once as the list of its values. */
  headers: Record<string, string | string[] | undefined>;
  /**
   * The body; null when it is streamed on unread (a proxy), in which case the request must carry
   * x-amz-content-sha256 and the caller checks a hex hash against the bytes as they pass.
   */
  body: Buffer | null;
  /** The body's hex SHA-256 when the caller already computed it (src/aws/body.ts readBody does). */
  bodySha256?: string;
}

export interface ParsedAuthorization {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface VerifyOptions {
  nowMs: number;
  /** Accepted clock skew; AWS allows 15 minutes. */
  maxSkewMs?: number;
  /** Looks up the secret for an access key id; undefined when the key is unknown. */
  credentialsFor(accessKeyId: string): Credentials | undefined;
  /** Services whose name may appear in the credential scope. */
  services: readonly string[];
  /** S3-style signing leaves the path unescaped; every other service escapes it. */
  uriEscapePath?: boolean;
  /**
   * Accept an `x-amz-content-sha256` that is not a hex hash (`UNSIGNED-PAYLOAD`, `STREAMING-...`).
   * Only S3 accepts these on AWS; everywhere else (the default) the payload must be signed.
   */
  allowUnsignedPayload?: boolean;
  /** Headers that must be among the SignedHeaders when the request carries them (lower case). */
  mustSign?: readonly string[];
}

/** What the headers alone established: who signed, and whether the payload hash is signed. */
export interface HeaderCheck {
  auth: ParsedAuthorization;
  credentials: Credentials;
  /** The signed hex `x-amz-content-sha256`, when the request carries one. */
  payloadHash?: string;
}

const AUTH_RE = /^AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*Signature=([0-9a-f]{64})\s*$/;

const incomplete = (msg: string) => new ServiceError('IncompleteSignatureException', msg, 400);

/** A header's value as SigV4 canonicalises repeated headers: each trimmed, joined by commas. */
function headerValue(headers: SignedRequest['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.map((s) => s.trim()).join(',') : v;
}

/** Parses the Authorization header, or throws the AWS error for a missing or malformed one. */
export function parseAuthorization(headers: SignedRequest['headers']): ParsedAuthorization {
  const auth = headerValue(headers, 'authorization');
  if (!auth) throw new ServiceError('MissingAuthenticationTokenException', 'Missing Authentication Token', 403);
  const m = AUTH_RE.exec(auth);
  if (!m) {
    throw incomplete(`Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters for AWS4-HMAC-SHA256. Authorization=${auth.split(/\s/)[0]}`);
  }
  const scope = m[1]!.split('/');
  if (scope.length !== 5 || scope[4] !== 'aws4_request') {
    throw incomplete(`Credential should be scoped to a valid region, service and aws4_request terminator. Credential=${m[1]}`);
  }
  const [accessKeyId, date, region, service] = scope as [string, string, string, string];
  return { accessKeyId, date, region, service, signedHeaders: m[2]!.split(';'), signature: m[3]! };
}

function amzDate(text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return undefined;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
}

function compactTime(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]|\.\d{3}/g, '');
}

/**
 * A raw query string as @smithy/signature-v4 takes it: repeated names as lists, in a null-prototype
 * object so that names such as `constructor` are plain names.
 */
export function signingQuery(rawQuery: string): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = Object.create(null);
  for (const [k, v] of new URLSearchParams(rawQuery)) {
    const prev = query[k];
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return query;
}

const HEX_SHA256 = /^[0-9a-f]{64}$/;

/**
 * Everything the headers allow checking without the body and without computing the signature:
 * the Authorization form, date, scope, service, the access key, clock skew, the session token,
 * the headers that must be signed, and the form of `x-amz-content-sha256`. Throws the AWS error.
 */
export function checkSigV4Headers(headers: SignedRequest['headers'], opts: VerifyOptions): HeaderCheck {
  const auth = parseAuthorization(headers);
  const dateText = headerValue(headers, 'x-amz-date');
  if (!dateText) throw incomplete('Authorization header requires existence of either a \'X-Amz-Date\' or a \'Date\' header.');
  const signedAt = amzDate(dateText);
  if (signedAt === undefined) throw incomplete(`Date must be in ISO-8601 'basic format'. Got '${dateText}'.`);
  if (!auth.signedHeaders.includes('host')) throw incomplete("'Host' must be a 'SignedHeader' in the AWS Authorization.");
  if (dateText.slice(0, 8) !== auth.date) {
    throw new ServiceError('SignatureDoesNotMatch', `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.date}' != '${dateText.slice(0, 8)}', from '${dateText}'.`, 403);
  }
  if (!opts.services.includes(auth.service)) {
    throw new ServiceError('SignatureDoesNotMatch', `Credential should be scoped to correct service: '${opts.services[0]}'. `, 403);
  }
  const credentials = opts.credentialsFor(auth.accessKeyId);
  if (!credentials) throw new ServiceError('UnrecognizedClientException', 'The security token included in the request is invalid.', 403);
  const skew = opts.maxSkewMs ?? 15 * 60 * 1000;
  if (signedAt < opts.nowMs - skew) {
    throw new ServiceError('RequestExpired', `Signature expired: ${dateText} is now earlier than ${compactTime(opts.nowMs - skew)} (${compactTime(opts.nowMs)} - 15 min.)`, 400);
  }
  if (signedAt > opts.nowMs + skew) {
    throw new ServiceError('RequestExpired', `Signature not yet current: ${dateText} is still later than ${compactTime(opts.nowMs + skew)} (${compactTime(opts.nowMs)} + 15 min.)`, 400);
  }
  const token = headerValue(headers, 'x-amz-security-token');
  if (credentials.sessionToken !== undefined && token !== credentials.sessionToken) {
    throw new ServiceError('UnrecognizedClientException', 'The security token included in the request is invalid.', 403);
  }
  const unsigned = (opts.mustSign ?? []).filter((h) => headers[h] !== undefined && !auth.signedHeaders.includes(h));
  if (unsigned.length > 0) {
    throw new ServiceError('SignatureDoesNotMatch', `There were headers present in the request which were not signed: ${unsigned.join(', ')}.`, 403);
  }
  // Only a signed hash header counts: an unsigned one is ignored and the body is hashed instead.
  const declared = auth.signedHeaders.includes('x-amz-content-sha256') ? headerValue(headers, 'x-amz-content-sha256') : undefined;
  if (declared !== undefined && !HEX_SHA256.test(declared) && !opts.allowUnsignedPayload) {
    throw new ServiceError('XAmzContentSHA256Mismatch', `The payload must be signed: 'x-amz-content-sha256' must be the hex SHA-256 of the body, not '${declared.slice(0, 64)}' (only S3 accepts unsigned payloads).`, 400);
  }
  return { auth, credentials, payloadHash: declared !== undefined && HEX_SHA256.test(declared) ? declared : undefined };
}

/** The hex SHA-256 of a body, as `x-amz-content-sha256` carries it. */
export function payloadHashOf(body: Buffer): string {
  return hash('sha256', body);
}

/** Throws XAmzContentSHA256Mismatch unless the body hashes to the signed hash. */
export function checkPayloadHash(declared: string, actual: string): void {
  if (actual !== declared) {
    throw new ServiceError('XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.", 400);
  }
}

/**
 * Verifies the request's signature. Returns the parsed authorization and the credentials that
 * signed it, or throws the AWS error: MissingAuthenticationTokenException, IncompleteSignatureException,
 * UnrecognizedClientException (unknown key), SignatureDoesNotMatch, RequestExpired (clock skew),
 * XAmzContentSHA256Mismatch (a payload hash that is not the body's, or not a hash where one is required).
 *
 * With `body: null` and a signed hex `x-amz-content-sha256` the signature is checked completely
 * without the body; the caller must then check the body against that hash (checkPayloadHash).
 */
export async function verifySigV4(req: SignedRequest, opts: VerifyOptions, checked?: HeaderCheck): Promise<{ auth: ParsedAuthorization; credentials: Credentials }> {
  // `checked`: what checkSigV4Headers already said of these same headers and options (not redone).
  const { auth, credentials } = checked ?? checkSigV4Headers(req.headers, opts);
  const headers: Record<string, string> = {};
  for (const name of auth.signedHeaders) {
    const v = headerValue(req.headers, name);
    if (v === undefined) throw new ServiceError('SignatureDoesNotMatch', `The request signature we calculated does not match the signature you provided. Signed header ${name} is missing.`, 403);
    headers[name] = v;
  }
  const declaredHash = headers['x-amz-content-sha256'];
  if (req.body === null && declaredHash === undefined) {
    throw new ServiceError('XAmzContentSHA256Mismatch', "A streamed request must sign its payload hash in 'x-amz-content-sha256'.", 400);
  }
  if (req.body !== null && declaredHash !== undefined && HEX_SHA256.test(declaredHash)) checkPayloadHash(declaredHash, req.bodySha256 ?? payloadHashOf(req.body));
  const expected = expectedSignature(req, auth, credentials.secretAccessKey, opts.uriEscapePath ?? true);
  if (!timingSafeEqual(Buffer.from(expected), Buffer.from(auth.signature))) {
    throw new ServiceError('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.', 403);
  }
  return { auth, credentials };
}

// The signature is computed as @smithy/signature-v4's SignatureV4.sign computes it (prepareRequest,
// x-amz-date and token headers, payload hash, canonical headers, canonical request), minus what
// costs per request without changing a byte: a signer object per request, its promise chain, the
// HMAC of the secret it keys its signing-key cache with, the body hash when the caller already has
// it, and (expectedSignature's direct path) its request clone, date round trip and header bags. Signing keys are cached in a bounded LRU (core/sigv4-sign.ts,
// shared with the signer of our own outgoing requests).

/** Dates, canonical path and canonical request by smithy's own code; its credentials and region are never used. */
type HttpRequest = Parameters<typeof prepareRequest>[0];
type HeaderBag = ReturnType<typeof getCanonicalHeaders>;

class Canonicalizer extends SignatureV4Base {
  constructor(uriEscapePath: boolean) {
    super({ credentials: { accessKeyId: '', secretAccessKey: '' }, region: '', service: '', sha256: NodeSha256, uriEscapePath, applyChecksum: false });
  }
  dates(at: Date): { longDate: string; shortDate: string } {
    return this.formatDate(at);
  }
  canonicalRequest(request: HttpRequest, canonicalHeaders: HeaderBag, payloadHash: string): string {
    return this.createCanonicalRequest(request, canonicalHeaders, payloadHash);
  }
}
const canonicalizers = { escaped: new Canonicalizer(true), raw: new Canonicalizer(false) };

/**
 * The signature @smithy/signature-v4 computes when it re-signs the request as received: the
 * caller's signed headers (the session token as sent when it is signed) and date, the body (or
 * the signed x-amz-content-sha256), the path escaped unless `uriEscapePath` is false.
 *
 * Built directly for what every signer sends (lower-case signed header names, a 4-digit year):
 * the same canonical request smithy builds, without its request clone, date round trip and header
 * bags (docs/performance.md "Issue 11, seventh round: the gateway's CPU per recorded call");
 * anything else goes through smithy's own functions (viaSmithy). The property test in
 * sigv4.test.ts holds both to `SignatureV4.sign`.
 */
export function expectedSignature(req: SignedRequest, auth: ParsedAuthorization, secretAccessKey: string, uriEscapePath: boolean): string {
  const dateText = headerValue(req.headers, 'x-amz-date') ?? '';
  for (const name of auth.signedHeaders) if (name !== name.toLowerCase()) return viaSmithy(req, auth, secretAccessKey, uriEscapePath, dateText);
  // smithy's request puts a '/' before a path without one (an absolute-form target, '*'), which canonicalPath does not.
  if (req.path.charCodeAt(0) !== 0x2f) return viaSmithy(req, auth, secretAccessKey, uriEscapePath, dateText);
  const longDate = signingDateOf(dateText);
  if (longDate === undefined) return viaSmithy(req, auth, secretAccessKey, uriEscapePath, dateText);
  const shortDate = longDate.slice(0, 8);
  // The signed headers as smithy's request holds them: in a plain object (where a header named
  // __proto__ is lost; a name listed twice is one), without the ones its signer generates
  // (authorization, date, x-amz-date), then x-amz-date as the signing date. (Its session token
  // header is the signed one's own value.)
  const pairs: [string, string][] = [[AMZ_DATE_HEADER, longDate]];
  let payloadHash: string | undefined;
  for (const name of auth.signedHeaders) {
    if (name === '__proto__' || name === 'authorization' || name === 'x-amz-date' || name === 'date') continue;
    const v = headerValue(req.headers, name);
    if (v === undefined || pairs.some((p) => p[0] === name)) continue;
    pairs.push([name, v]);
    if (name === SHA256_HEADER) payloadHash = v;
  }
  payloadHash ??= req.bodySha256 ?? payloadHashOf(req.body ?? Buffer.alloc(0));
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  let canonicalHeaders = '';
  let signedNames = '';
  for (const [name, v] of pairs) {
    canonicalHeaders += `${name}:${canonicalHeaderValue(v)}\n`;
    signedNames += signedNames === '' ? name : `;${name}`;
  }
  const query = req.rawQuery === '' ? '' : getCanonicalQuery({ query: signingQuery(req.rawQuery) } as Parameters<typeof getCanonicalQuery>[0]);
  const canonicalRequest = `${req.method}\n${canonicalPath(req.path, uriEscapePath)}\n${query}\n${canonicalHeaders}\n${signedNames}\n${payloadHash}`;
  return signatureOf(canonicalRequest, longDate, shortDate, auth.region, auth.service, secretAccessKey);
}

/** The last x-amz-date text seen and the signing date smithy makes of it (requests of one second share it). */
let lastDate: { text: string; longDate: string | undefined } = { text: '', longDate: undefined };

/**
 * The signing date smithy's signer makes of an x-amz-date text (parsed as a UTC time, normalised:
 * 20261399T990000Z is a date of 2027), or undefined when smithy's form has no 4-digit year.
 */
function signingDateOf(text: string): string | undefined {
  if (text === lastDate.text) return lastDate.longDate;
  const iso = new Date(amzDate(text) ?? NaN).toISOString();
  // smithy's iso8601 without milliseconds, '-' and ':'.
  const longDate = iso.length === 24 ? `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z` : undefined;
  lastDate = { text, longDate };
  return longDate;
}

/** expectedSignature by smithy's own functions, for signed header names in other cases, paths without a leading '/' and dates past year 9999. */
function viaSmithy(req: SignedRequest, auth: ParsedAuthorization, secretAccessKey: string, uriEscapePath: boolean, dateText: string): string {
  const signedAt = amzDate(dateText) ?? NaN;
  const signed = new Set(auth.signedHeaders);
  const headers: Record<string, string> = {};
  for (const name of auth.signedHeaders) {
    const v = headerValue(req.headers, name);
    if (v !== undefined) headers[name] = v;
  }
  const token = signed.has('x-amz-security-token') ? headerValue(req.headers, 'x-amz-security-token') : undefined;
  const base = uriEscapePath ? canonicalizers.escaped : canonicalizers.raw;
  const request = prepareRequest({ method: req.method, protocol: 'http:', hostname: headers.host ?? '', path: req.path, query: signingQuery(req.rawQuery), headers });
  const { longDate, shortDate } = base.dates(new Date(signedAt));
  request.headers[AMZ_DATE_HEADER] = longDate;
  if (token) request.headers[TOKEN_HEADER] = token;
  let payloadHash: string | undefined;
  for (const name in request.headers) {
    if (Object.hasOwn(request.headers, name) && name.toLowerCase() === SHA256_HEADER) {
      payloadHash = request.headers[name];
      break;
    }
  }
  payloadHash ??= req.bodySha256 ?? payloadHashOf(req.body ?? Buffer.alloc(0));
  const canonicalRequest = base.canonicalRequest(request, getCanonicalHeaders(request, new Set(), signed), payloadHash);
  return signatureOf(canonicalRequest, longDate, shortDate, auth.region, auth.service, secretAccessKey);
}
