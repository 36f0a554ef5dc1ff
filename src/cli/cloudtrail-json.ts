/**
 * The three CloudTrail calls of `opentrail validate-logs` (DescribeTrails, GetTrailStatus,
 * ListPublicKeys) as signed JSON 1.1 POSTs, without @aws-sdk/client-cloudtrail: loading that client
 * and its shared core is ~0.2 s of CPU before the command's first request (docs/performance.md,
 * "validate-logs, third round", "Start-up"). Used only when the endpoint is given and the credentials
 * are static (environment or a profile's keys); otherwise validate-logs loads the SDK. Errors carry
 * the SDK's shape (`name`, `message`, `$metadata`), so they print as before.
 */
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { signRequest } from '../core/sigv4-sign.ts';
import { readBoundedText, RETRYABLE_NET_CODES } from '../core/bounded-body.ts';

/** Static credentials, as the environment or a profile file give them. */
export interface StaticCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** A CloudTrail answer's error, named and worded as the SDK names it (`An error occurred (<name>) ...`). */
export class CloudTrailJsonError extends Error {
  readonly $metadata: { httpStatusCode: number };
  constructor(name: string, message: string, status: number) {
    super(message);
    this.name = name;
    this.$metadata = { httpStatusCode: status };
  }
}

// By require, not import: see src/stores/s3/s3-bucket-reader.ts (an ESM import of node:http loads undici).
const require = createRequire(import.meta.url);
const http = require('node:http') as typeof import('node:http');
/** node:https (TLS) only for an https endpoint. */
const https = (): typeof import('node:https') => require('node:https') as typeof import('node:https');

const TARGET = 'com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101';
const RETRYABLE_CODES = new Set(['ThrottlingException', 'Throttling', 'TooManyRequestsException', 'RequestLimitExceeded', 'RequestTimeout']);
/** CloudTrail's answers here are small (a page of trails or keys); anything larger is refused. */
const MAX_ANSWER_BYTES = 16 << 20;
const TIMEOUT_MS = 60_000;

export interface TrailInfo {
  TrailARN?: string;
  S3BucketName?: string;
  S3KeyPrefix?: string;
  IsOrganizationTrail?: boolean;
}

export interface TrailStatusInfo {
  IsLogging?: boolean;
  LatestDigestDeliveryTime?: Date;
  StartLoggingTime?: Date;
  StopLoggingTime?: Date;
}

/** A JSON 1.1 timestamp: epoch seconds (a number, or its text). */
function epoch(v: unknown): Date | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
  return Number.isFinite(n) ? new Date(Math.round(n * 1000)) : undefined;
}

/** The error code as the SDK reads it: the `x-amzn-errortype` header, else the body's `code` or `__type`, without namespace or suffix. */
function errorName(res: IncomingMessage, body: Record<string, unknown>): string {
  const raw = [res.headers['x-amzn-errortype'], body.code, body.Code, body.__type].find((v) => typeof v === 'string' && v !== '') as string | undefined;
  if (!raw) return res.statusCode === 404 ? 'NotFound' : 'UnknownError';
  let name = raw.split(':')[0]!;
  if (name.includes('#')) name = name.split('#').at(-1)!;
  return name;
}

export class CloudTrailJsonClient {
  private readonly url: URL;
  private readonly region: string;
  private readonly credentials: StaticCredentials;
  private readonly agent: import('node:http').Agent;

  constructor(opts: { endpoint: string; region: string; credentials: StaticCredentials }) {
    this.url = new URL(opts.endpoint);
    this.region = opts.region;
    this.credentials = opts.credentials;
    this.agent = this.url.protocol === 'https:' ? new (https().Agent)({ keepAlive: true }) : new http.Agent({ keepAlive: true });
  }

  async describeTrails(): Promise<TrailInfo[]> {
    const out = await this.call('DescribeTrails', {}) as { trailList?: TrailInfo[] };
    return Array.isArray(out.trailList) ? out.trailList : [];
  }

  async getTrailStatus(name: string): Promise<TrailStatusInfo> {
    const out = await this.call('GetTrailStatus', { Name: name });
    return {
      IsLogging: typeof out.IsLogging === 'boolean' ? out.IsLogging : undefined,
      LatestDigestDeliveryTime: epoch(out.LatestDigestDeliveryTime),
      StartLoggingTime: epoch(out.StartLoggingTime),
      StopLoggingTime: epoch(out.StopLoggingTime),
    };
  }

  /** Every public key valid in the range, all pages. */
  listPublicKeys(startMs: number, endMs: number): Promise<{ fingerprint: string; value: Buffer }[]> {
    return allPages('ListPublicKeys', async (token) => {
      const out = await this.call('ListPublicKeys', { StartTime: startMs / 1000, EndTime: endMs / 1000, ...(token ? { NextToken: token } : {}) }) as {
        PublicKeyList?: { Fingerprint?: string; Value?: string }[]; NextToken?: string;
      };
      const keys: { fingerprint: string; value: Buffer }[] = [];
      for (const k of Array.isArray(out.PublicKeyList) ? out.PublicKeyList : []) {
        if (k.Fingerprint && typeof k.Value === 'string' && k.Value) keys.push({ fingerprint: k.Fingerprint, value: Buffer.from(k.Value, 'base64') });
      }
      return { items: keys, next: out.NextToken };
    });
  }

  close(): void {
    this.agent.destroy();
  }

  /** One operation, retried as the SDK's standard mode retries (3 attempts: connection failures, 5xx, throttling). */
  private async call(operation: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const body = JSON.stringify(input);
    for (let attempt = 1; ; attempt++) {
      let res: IncomingMessage;
      let text: string;
      try {
        res = await this.send(operation, body);
        text = await readAnswer(res);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (attempt < 3 && code !== undefined && RETRYABLE_NET_CODES.has(code)) continue;
        throw e;
      }
      const status = res.statusCode ?? 0;
      let json: Record<string, unknown> = {};
      try {
        const parsed: unknown = text.trim() === '' ? {} : JSON.parse(text);
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
      } catch {
        if (status >= 200 && status < 300) throw new CloudTrailJsonError('SyntaxError', `${operation}: the answer is not JSON`, status);
      }
      if (status >= 200 && status < 300) return json;
      const name = errorName(res, json);
      if (attempt < 3 && (status >= 500 || status === 429 || RETRYABLE_CODES.has(name))) {
        await new Promise((r) => setTimeout(r, 100 * 2 ** attempt * Math.random()));
        continue;
      }
      const message = [json.message, json.Message].find((v) => typeof v === 'string') as string | undefined;
      throw new CloudTrailJsonError(name, message ?? 'UnknownError', status);
    }
  }

  private async send(operation: string, body: string): Promise<IncomingMessage> {
    const u = this.url;
    const port = u.port ? Number(u.port) : undefined;
    const path = u.pathname || '/';
    const headers = signRequest({
      method: 'POST', host: u.host, path, body,
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `${TARGET}.${operation}`, 'content-length': String(Buffer.byteLength(body)) },
    }, { credentials: this.credentials, region: this.region, service: 'cloudtrail' });
    const secure = u.protocol === 'https:';
    return await new Promise<IncomingMessage>((resolve, reject) => {
      const req = (secure ? https().request : http.request)({
        method: 'POST', protocol: u.protocol, hostname: u.hostname, port, path,
        headers, agent: this.agent,
      }, resolve);
      req.setTimeout(TIMEOUT_MS, () => req.destroy(Object.assign(new Error(`${u.host} did not answer in ${TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })));
      req.once('error', reject);
      req.end(body);
    });
  }
}

/** Pages of one listing at most: far past any real one (CloudTrail's public keys fit in a page or two). */
export const MAX_PAGES = 1000;

/**
 * Every item of a paged call (`page(undefined)`, then `page(next)` while a token comes back). An
 * endpoint that answers a NextToken it answered before (a cycle, not only the same token twice), or
 * more than MAX_PAGES pages, would make the listing go on forever: it ends with an error instead,
 * as the S3 bucket reader ends such a listing (src/stores/s3/s3-bucket-reader.ts).
 */
export async function allPages<T>(operation: string, page: (token: string | undefined) => Promise<{ items: readonly T[]; next: unknown }>): Promise<T[]> {
  const items: T[] = [];
  const seen = new Set<string>();
  let token: string | undefined;
  for (let n = 1; ; n++) {
    const out = await page(token);
    items.push(...out.items);
    if (typeof out.next !== 'string' || out.next === '') return items;
    if (seen.has(out.next)) throw new CloudTrailJsonError('MalformedResponse', `the endpoint answered a NextToken it had answered before (a listing that would never end) on page ${n} of ${operation}`, 200);
    if (n >= MAX_PAGES) throw new CloudTrailJsonError('MalformedResponse', `the endpoint answered more than ${MAX_PAGES} pages of ${operation}`, 200);
    seen.add(out.next);
    token = out.next;
  }
}

function readAnswer(res: IncomingMessage): Promise<string> {
  return readBoundedText(res, MAX_ANSWER_BYTES, () => new CloudTrailJsonError('ResponseTooLarge', `the answer is over ${MAX_ANSWER_BYTES} bytes`, res.statusCode ?? 0));
}
