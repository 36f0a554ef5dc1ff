/**
 * BucketReader on any S3-compatible endpoint. Like the AWS CLI it asks GetBucketLocation once per
 * bucket (in the caller's Region; null means us-east-1) and reads each bucket with a client of the
 * bucket's Region. Listing is ListObjectsV2 with Prefix and StartAfter (on the light path below).
 *
 * GetObject is the one call made hundreds of times a run (every log file of a trail), so it skips
 * the SDK's per-call middleware (a few ms of CPU a call, most of validate-logs' own CPU besides
 * gunzip and SHA-256): the URL comes from the S3 client's own endpoint rules for the bucket, the
 * request is signed by our own SigV4 signer (src/core/sigv4-sign.ts) with the client's credentials, and sent on the same
 * keep-alive agents; errors are read from S3's XML error body; connection failures and 5xx answers
 * are retried as the SDK retries them (3 attempts). docs/validate-logs.md "Speed".
 *
 * With a custom endpoint, path-style addressing and static credentials (the OpenTrail and moto
 * case), GetBucketLocation is one more light GET and the bucket's URL is the endpoint's path plus
 * the bucket, as the SDK's rules give it there: @aws-sdk/client-s3 is then never loaded (~50-60 ms
 * of CPU at start-up; docs/performance.md "validate-logs, third round", "Start-up"). Otherwise the
 * client is imported on first use and its endpoint rules and credential chain decide.
 */
import type { Agent as HttpAgent, IncomingMessage } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { createRequire } from 'node:module';
import type { S3Client } from '@aws-sdk/client-s3';
import { signRequest, uriEscape, type SigningCredentials } from '../../core/sigv4-sign.ts';
import { readBoundedText, RETRYABLE_NET_CODES } from '../../core/bounded-body.ts';
import type { RegionalClients } from '../aws-clients.ts';
import { BucketReadError, type BucketObject, type BucketReader } from '../bucket-reader.ts';

export interface S3ReaderOptions {
  /** The Region GetBucketLocation is asked in (the CLI's `--region`). */
  region: string;
  /** A custom endpoint (AWS_ENDPOINT_URL_S3); path-style addressing is used with one. */
  endpoint?: string;
  forcePathStyle?: boolean;
  /** Explicit credentials; otherwise the SDK's default chain (environment, profile, ...). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Connections per Region: how many objects can be fetched at once. */
  maxSockets?: number;
  /** Use the S3 client's endpoint rules and GetBucketLocation even where the light path could do without them. */
  sdkEndpointRules?: boolean;
}

function codeOf(e: unknown): string {
  const sdk = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  if (e instanceof Error && sdk.$metadata) {
    if (sdk.name && sdk.name !== 'Error' && sdk.name !== 'S3ServiceException') return sdk.name;
    const status = sdk.$metadata.httpStatusCode;
    if (status === 404) return 'NotFound';
    if (status === 403) return 'AccessDenied';
    return String(status ?? 'Unknown');
  }
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  const name = (e as { name?: unknown }).name;
  return typeof name === 'string' && name !== 'Error' ? name : 'Unknown';
}

function wrap(e: unknown, operation: string): BucketReadError {
  if (e instanceof BucketReadError) return e;
  return new BucketReadError(codeOf(e), operation, (e as Error).message, { cause: e });
}

/** A field of S3's XML (error bodies: `<Error><Code>..</Code><Message>..</Message></Error>`; listings). */
function xmlField(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  return m?.[1] === undefined ? undefined : xmlText(m[1]);
}

/** As the SDK encodes a key in a path: each segment percent-encoded, `/` kept. */
function encodeKey(key: string): string {
  return key.split('/').map(uriEscape).join('/');
}

/** An answer no S3 writes (a numeric reference past U+10FFFF, a malformed %-escape): refused, never a raw RangeError. */
function malformed(what: string): Error {
  return Object.assign(new Error(`the endpoint answered ${what}`), { code: 'MalformedResponse' });
}

/** XML character data: the five named entities and numeric references. */
function xmlText(s: string): string {
  return s.replace(/&(lt|gt|quot|apos|amp|#\d+|#x[0-9a-fA-F]+);/g, (ref, e: string) => {
    if (e[0] !== '#') return ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' } as Record<string, string>)[e]!;
    const code = e[1] === 'x' ? parseInt(e.slice(2), 16) : Number(e.slice(1));
    if (!(code <= 0x10ffff)) throw malformed(`a character reference that is no character (${ref.slice(0, 24)})`);
    return String.fromCodePoint(code);
  });
}

/** A key of a listing with `encoding-type=url` (S3 may write a space as `+`; moto writes `%20`, and `+` as `%2B`). */
function urlDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    throw malformed(`a key that is not URL-encoded (${JSON.stringify(s.slice(0, 64))})`);
  }
}

/** A listing page (1,000 keys: ~300 KB) read whole, bounded. */
const MAX_LISTING_BYTES = 16 << 20;

async function readText(res: IncomingMessage, max: number, operation: string): Promise<string> {
  try {
    return await readBoundedText(res, max, () => new BucketReadError('ResponseTooLarge', operation, `the answer is over ${max} bytes`));
  } catch (e) {
    throw wrap(e, operation);
  }
}

// node:http and node:https by require, not import: an ESM import of node:http makes Node evaluate
// every export of the module, among them lazy getters that load undici (fetch, WebSocket): ~90 ms
// of CPU at the start of `opentrail validate-logs`, against ~14 ms this way (docs/validate-logs.md "Speed").
const require = createRequire(import.meta.url);
const http = require('node:http') as typeof import('node:http');
/** node:https (TLS) only for an https endpoint. */
const https = (): typeof import('node:https') => require('node:https') as typeof import('node:https');

const CONNECT_TIMEOUT_MS = 5000;
const IDLE_TIMEOUT_MS = 120_000;

interface BucketEndpoint {
  url: URL;
  /** Signing Region and name (`s3`). */
  region: string;
  service: string;
  /** Static credentials, or the S3 client's provider (it caches and refreshes them). */
  credentials: SigningCredentials | (() => Promise<SigningCredentials>);
}

export class S3BucketReader implements BucketReader {
  private readonly opts: S3ReaderOptions;
  private clients: Promise<RegionalClients<S3Client>> | undefined;
  private readonly regions = new Map<string, Promise<string>>();
  private readonly endpoints = new Map<string, Promise<BucketEndpoint>>();
  private readonly httpAgent: HttpAgent;
  private secureAgent: HttpsAgent | undefined;
  private readonly maxSockets: number;

  constructor(opts: S3ReaderOptions) {
    this.opts = opts;
    this.maxSockets = opts.maxSockets ?? 32;
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: this.maxSockets });
  }

  private get httpsAgent(): HttpsAgent {
    this.secureAgent ??= new (https().Agent)({ keepAlive: true, maxSockets: this.maxSockets });
    return this.secureAgent;
  }

  /** The S3 client of a Region; @aws-sdk/client-s3 is loaded on the first call. */
  private async client(region: string): Promise<S3Client> {
    this.clients ??= Promise.all([import('@aws-sdk/client-s3'), import('../aws-clients.ts')]).then(([{ S3Client: Client }, { RegionalClients: Clients }]) => new Clients((r) => new Client({
      region: r,
      endpoint: this.opts.endpoint,
      forcePathStyle: this.opts.forcePathStyle ?? this.opts.endpoint !== undefined,
      credentials: this.opts.credentials,
      maxAttempts: 3,
      requestHandler: { httpAgent: this.httpAgent, httpsAgent: this.httpsAgent, connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: IDLE_TIMEOUT_MS },
    })));
    return (await this.clients).get(region);
  }

  /**
   * The bucket's URL without the SDK: a custom endpoint, path-style, static credentials and a plain
   * bucket name (not an access point ARN). There the SDK's rules give `{endpoint path}/{bucket}`,
   * signed as `s3` in the bucket's Region.
   */
  private lightBase(bucket: string): URL | undefined {
    const o = this.opts;
    if (o.sdkEndpointRules || !o.endpoint || !o.credentials || o.forcePathStyle === false || bucket === '' || bucket.startsWith('arn:')) return undefined;
    let url: URL;
    try {
      url = new URL(o.endpoint);
    } catch {
      return undefined;
    }
    if (url.search || url.hash || (url.protocol !== 'http:' && url.protocol !== 'https:')) return undefined;
    const path = url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`;
    url.pathname = `${path}${uriEscape(bucket)}`;
    return url;
  }


  /** The bucket's Region (GetBucketLocation, asked once), as requests to it are signed. */
  async regionOf(bucket: string): Promise<string> {
    try {
      return await this.bucketRegion(bucket);
    } catch (e) {
      throw wrap(e, 'GetBucketLocation');
    }
  }

  /** The bucket's Region, asked once (GetBucketLocation in the caller's Region; none means us-east-1). */
  private bucketRegion(bucket: string): Promise<string> {
    let r = this.regions.get(bucket);
    if (!r) {
      const base = this.lightBase(bucket);
      r = base
        ? (async () => {
          const ep: BucketEndpoint = { url: base, region: this.opts.region, service: 's3', credentials: this.opts.credentials! };
          const res = await this.request(ep, base.pathname, { location: '' }, 'GetBucketLocation');
          const xml = await readText(res, 65_536, 'GetBucketLocation');
          return xmlText(/<LocationConstraint[^>]*>([^<]*)<\/LocationConstraint>/.exec(xml)?.[1] ?? '').trim() || 'us-east-1';
        })()
        : (async () => {
          const [client, { GetBucketLocationCommand }] = await Promise.all([this.client(this.opts.region), import('@aws-sdk/client-s3')]);
          const out = await client.send(new GetBucketLocationCommand({ Bucket: bucket }));
          return (out.LocationConstraint as string | undefined) || 'us-east-1';
        })();
      r = r.catch((e: unknown) => {
        throw wrap(e, 'GetBucketLocation');
      });
      this.regions.set(bucket, r);
    }
    return r;
  }

  /**
   * ListObjectsV2 on the same light path as GetObject: the SDK's XML deserializer costs ~0.25 ms of
   * CPU per key listed (70 ms for a day folder of 288 log files), where only the keys are needed.
   * Keys come URL-encoded (`encoding-type=url`), so no XML entity in a key needs decoding.
   */
  async *listKeys(bucket: string, prefix: string, startAfter?: string): AsyncIterable<string> {
    const ep = await this.endpointFor(bucket, 'ListObjects');
    const path = ep.url.pathname || '/';
    let token: string | undefined;
    const seen = new Set<string>();
    for (;;) {
      const query: Record<string, string> = { 'list-type': '2', prefix, 'encoding-type': 'url' };
      if (token) query['continuation-token'] = token;
      else if (startAfter) query['start-after'] = startAfter;
      const res = await this.request(ep, path, query, 'ListObjects');
      const xml = await readText(res, MAX_LISTING_BYTES, 'ListObjects');
      let keys: string[];
      let next: string | undefined;
      try {
        keys = Array.from(xml.matchAll(/<Key>([^<]*)<\/Key>/g), (m) => urlDecode(xmlText(m[1]!)));
        next = xmlField(xml, 'IsTruncated') === 'true' ? xmlField(xml, 'NextContinuationToken') : undefined;
        if (next !== undefined && seen.has(next)) throw malformed('a continuation token it had answered before (a listing that would never end)');
      } catch (e) {
        throw wrap(e, 'ListObjects');
      }
      yield* keys;
      if (!next) return;
      seen.add(next);
      token = next;
    }
  }

  /**
   * The bucket's base URL by the S3 client's endpoint rules (virtual-hosted or path-style, FIPS,
   * partitions: as the SDK would send GetObject) and a signer with the client's credentials.
   */
  private bucketEndpoint(bucket: string): Promise<BucketEndpoint> {
    let e = this.endpoints.get(bucket);
    if (!e) {
      e = (async () => {
        const region = await this.bucketRegion(bucket);
        const base = this.lightBase(bucket);
        if (base) return { url: base, region, service: 's3', credentials: this.opts.credentials! };
        const client = await this.client(region);
        const config = client.config;
        const endpoint = config.endpointProvider({
          Bucket: bucket, Region: region, ForcePathStyle: config.forcePathStyle, Endpoint: this.opts.endpoint,
          UseFIPS: await config.useFipsEndpoint(), UseDualStack: await config.useDualstackEndpoint(), Accelerate: false,
        });
        const scheme = (endpoint.properties?.authSchemes as { signingRegion?: string; signingName?: string }[] | undefined)?.[0];
        return { url: new URL(endpoint.url), region: scheme?.signingRegion ?? region, service: scheme?.signingName ?? 's3', credentials: () => config.credentials() };
      })();
      e.catch(() => this.endpoints.delete(bucket));
      this.endpoints.set(bucket, e);
    }
    return e;
  }

  private async endpointFor(bucket: string, operation: string): Promise<BucketEndpoint> {
    try {
      return await this.bucketEndpoint(bucket);
    } catch (e) {
      throw wrap(e, e instanceof BucketReadError ? e.operation : operation);
    }
  }

  async getObject(bucket: string, key: string): Promise<BucketObject> {
    const ep = await this.endpointFor(bucket, 'GetObject');
    const base = ep.url.pathname.endsWith('/') ? ep.url.pathname : `${ep.url.pathname}/`;
    const res = await this.request(ep, `${base}${encodeKey(key)}`, {}, 'GetObject');
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) {
      if (k.startsWith('x-amz-meta-') && typeof v === 'string') metadata[k.slice(11)] = v;
    }
    return { metadata, body: res };
  }

  /** A signed GET, retried on connection failures and 5xx as the SDK retries (3 attempts); a 200 answer, or S3's error as BucketReadError. */
  private async request(ep: BucketEndpoint, path: string, query: Record<string, string>, operation: string): Promise<IncomingMessage> {
    for (let attempt = 1; ; attempt++) {
      let res: IncomingMessage;
      try {
        res = await this.send(ep, path, query);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (attempt < 3 && code !== undefined && RETRYABLE_NET_CODES.has(code)) continue;
        throw wrap(e, operation);
      }
      const status = res.statusCode ?? 0;
      if (status === 200) return res;
      const text = await this.errorBody(res);
      if (attempt < 3 && (status >= 500 || status === 429)) {
        await new Promise((r) => setTimeout(r, 100 * 2 ** attempt * Math.random()));
        continue;
      }
      let named: string | undefined;
      let message: string | undefined;
      try {
        named = xmlField(text, 'Code');
        message = xmlField(text, 'Message');
      } catch (e) {
        throw wrap(e, operation);
      }
      const code = named ?? (status === 404 ? (operation === 'GetObject' ? 'NoSuchKey' : 'NoSuchBucket') : status === 403 ? 'AccessDenied' : String(status));
      throw new BucketReadError(code, operation, message ?? (res.statusMessage || ''));
    }
  }

  /** One signed GET; resolves with the response once its headers are in. */
  private async send(ep: BucketEndpoint, path: string, query: Record<string, string>): Promise<IncomingMessage> {
    const u = ep.url;
    const port = u.port ? Number(u.port) : undefined;
    const credentials = typeof ep.credentials === 'function' ? await ep.credentials() : ep.credentials;
    const headers = signRequest({ method: 'GET', host: u.host, path, query }, { credentials, region: ep.region, service: ep.service, uriEscapePath: false });
    const qs = Object.entries(query).map(([k, v]) => `${uriEscape(k)}=${uriEscape(v)}`).join('&');
    const secure = u.protocol === 'https:';
    return await new Promise<IncomingMessage>((resolve, reject) => {
      const req = (secure ? https().request : http.request)({
        method: 'GET', protocol: u.protocol, hostname: u.hostname, port, path: qs ? `${path}?${qs}` : path,
        headers, agent: secure ? this.httpsAgent : this.httpAgent,
      }, resolve);
      const connectTimer = setTimeout(() => req.destroy(Object.assign(new Error(`connection to ${u.host} timed out`), { code: 'ETIMEDOUT' })), CONNECT_TIMEOUT_MS);
      req.once('socket', (sock) => {
        if (!sock.connecting) clearTimeout(connectTimer);
        else sock.once('connect', () => clearTimeout(connectTimer));
      });
      req.once('response', () => clearTimeout(connectTimer));
      req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('S3 read timed out'), { code: 'ETIMEDOUT' })));
      req.once('error', (e) => {
        clearTimeout(connectTimer);
        reject(e);
      });
      req.end();
    });
  }

  /** The error answer's body (S3 keeps them small; more than 64 KiB is cut). */
  private async errorBody(res: IncomingMessage): Promise<string> {
    let text = '';
    try {
      for await (const c of res) {
        if (text.length < 65_536) text += (c as Buffer).toString('utf8');
      }
    } catch {
      // A cut error body: what arrived is the message.
    }
    return text;
  }

  close(): void {
    void this.clients?.then((c) => c.destroy(), () => undefined);
    this.httpAgent.destroy();
    this.secureAgent?.destroy();
  }
}
