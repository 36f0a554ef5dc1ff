/**
 * SigV4 signing of our own outgoing requests (header form), byte for byte as @smithy/signature-v4's
 * `SignatureV4.sign` signs them: the light clients of `opentrail validate-logs` (S3 GETs, CloudTrail
 * and Organizations JSON POSTs) sign with this, so that the command does not load
 * @smithy/signature-v4 and the @smithy/core submodules it requires (~50-70 ms of CPU before the
 * first request: docs/performance.md "validate-logs, fourth round"). A property test holds it to
 * the SDK's signer (src/core/sigv4-sign.test.ts). The signing key is also what src/aws/sigv4.ts
 * (verification of incoming requests) derives, cached here once for both.
 */
import { createHmac, createSecretKey, hash, type KeyObject } from 'node:crypto';

export interface SigningCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface RequestToSign {
  method: string;
  /** The Host header's value (`hostname[:port]`). */
  host: string;
  /** The path as sent (its segments already percent-encoded). */
  path: string;
  /** Query parameters, unencoded; a repeated one as the list of its values. */
  query?: Record<string, string | readonly string[]>;
  /** Headers to sign besides host, x-amz-date, x-amz-content-sha256 and the session token (lower-case names). */
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface SignOptions {
  credentials: SigningCredentials;
  region: string;
  service: string;
  /** Escape the path once more for the canonical request (every service but S3); default true. */
  uriEscapePath?: boolean;
  /** Add `x-amz-content-sha256` (smithy's `applyChecksum`, on by default). */
  contentSha256?: boolean;
  /** Signing time (ms); default now. */
  nowMs?: number;
}

const SIGNING_KEYS_MAX = 256;
/**
 * Signing keys by date, region, service and secret; Map order is use order (least recent first).
 * Held as KeyObjects: an HMAC keyed by a KeyObject costs a fraction of one keyed by a Buffer.
 */
const signingKeys = new Map<string, KeyObject>();

/** The SigV4 signing key: HMAC chain of `AWS4` + secret over the scope's date, region, service, aws4_request. */
export function signingKey(secret: string, shortDate: string, region: string, service: string): KeyObject {
  const id = `${shortDate}\n${region}\n${service}\n${secret}`;
  const cached = signingKeys.get(id);
  if (cached !== undefined) {
    signingKeys.delete(id);
    signingKeys.set(id, cached);
    return cached;
  }
  let key = createHmac('sha256', `AWS4${secret}`).update(shortDate).digest();
  key = createHmac('sha256', key).update(region).digest();
  key = createHmac('sha256', key).update(service).digest();
  key = createHmac('sha256', key).update('aws4_request').digest();
  const object = createSecretKey(key);
  signingKeys.set(id, object);
  if (signingKeys.size > SIGNING_KEYS_MAX) signingKeys.delete(signingKeys.keys().next().value!);
  return object;
}

/** RFC 3986 percent-encoding, as SigV4 canonicalizes path segments and query names and values. */
export function uriEscape(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Headers SigV4 signers leave out (smithy's ALWAYS_UNSIGNABLE_HEADERS, `proxy-*`, `sec-*`). */
const UNSIGNABLE = new Set(['authorization', 'cache-control', 'connection', 'expect', 'from', 'keep-alive', 'max-forwards', 'pragma', 'referer', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'x-amzn-trace-id']);

/** The canonical path: with escaping, `.`/`..`/empty segments resolved and the result escaped once more (S3 signs the path as sent). */
export function canonicalPath(path: string, escape: boolean): string {
  if (!escape || path === '/') return path;
  const segments: string[] = [];
  for (const s of path.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') segments.pop();
    else segments.push(s);
  }
  const normalized = `${path.startsWith('/') ? '/' : ''}${segments.join('/')}${segments.length > 0 && path.endsWith('/') ? '/' : ''}`;
  return uriEscape(normalized).replace(/%2F/g, '/');
}

/**
 * The canonical query string: pairs sorted by escaped name, a repeated name's pairs sorted among
 * themselves; `X-Amz-Signature` (any case) is left out, as SigV4 signers leave it.
 */
function canonicalQuery(query: Record<string, string | readonly string[]> | undefined): string {
  if (!query) return '';
  const pairs: [string, string][] = [];
  for (const k of Object.keys(query)) {
    if (k.toLowerCase() === 'x-amz-signature') continue;
    const name = uriEscape(k);
    const v = query[k]!;
    const text = typeof v === 'string' ? `${name}=${uriEscape(v)}` : v.map((x) => `${name}=${uriEscape(x)}`).sort().join('&');
    if (text !== '') pairs.push([name, text]);
  }
  return pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((p) => p[1]).join('&');
}

/** A header's value as SigV4 canonicalises it: CR and LF as spaces, runs of spaces and tabs as one, one leading and trailing space off. */
export function canonicalHeaderValue(v: string): string {
  return /[\r\n\t]| {2}|^ | $/.test(v) ? v.replace(/[\r\n]/g, ' ').replace(/[ \t]+/g, ' ').replace(/^ | $/g, '') : v;
}

/** SigV4's signature (hex) of a canonical request: the HMAC of its string to sign under the (cached) signing key. */
export function signatureOf(canonicalRequest: string, longDate: string, shortDate: string, region: string, service: string, secret: string): string {
  const stringToSign = `AWS4-HMAC-SHA256\n${longDate}\n${shortDate}/${region}/${service}/aws4_request\n${hash('sha256', canonicalRequest)}`;
  return createHmac('sha256', signingKey(secret, shortDate, region, service)).update(stringToSign).digest('hex');
}

/**
 * The request's headers with SigV4's added: `host`, `x-amz-date`, `x-amz-content-sha256` (unless
 * `contentSha256: false`), `x-amz-security-token` with a session token, and `authorization`.
 */
export function signRequest(req: RequestToSign, opts: SignOptions): Record<string, string> {
  const longDate = new Date(opts.nowMs ?? Date.now()).toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
  const shortDate = longDate.slice(0, 8);
  const headers: Record<string, string> = { ...req.headers, host: req.host, 'x-amz-date': longDate };
  if (opts.credentials.sessionToken) headers['x-amz-security-token'] = opts.credentials.sessionToken;
  const payloadHash = headers['x-amz-content-sha256'] ?? hash('sha256', req.body ?? '');
  if (opts.contentSha256 !== false) headers['x-amz-content-sha256'] = payloadHash;
  const canonical: [string, string][] = [];
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    if (UNSIGNABLE.has(lower) || lower.startsWith('proxy-') || lower.startsWith('sec-')) continue;
    canonical.push([lower, canonicalHeaderValue(headers[name]!)]);
  }
  canonical.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const signedHeaders = canonical.map((h) => h[0]).join(';');
  const canonicalRequest = `${req.method}\n${canonicalPath(req.path, opts.uriEscapePath ?? true)}\n${canonicalQuery(req.query)}\n${canonical.map(([n, v]) => `${n}:${v}`).join('\n')}\n\n${signedHeaders}\n${payloadHash}`;
  const signature = signatureOf(canonicalRequest, longDate, shortDate, opts.region, opts.service, opts.credentials.secretAccessKey);
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${opts.credentials.accessKeyId}/${shortDate}/${opts.region}/${opts.service}/aws4_request, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return headers;
}
