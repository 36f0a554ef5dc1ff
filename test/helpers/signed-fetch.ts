/** SigV4-signed HTTP requests to the server's non-SDK endpoints (bulk ingest, event tail). */
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import type { TestIdentity } from './server.ts';

export interface SignedFetchOptions {
  method?: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
  region?: string;
  service?: string;
  /** Sign as if the clock said this (ms); for skew tests. */
  signingDateMs?: number;
  /**
   * The x-amz-content-sha256 header: 'signed' (default: the body's hex hash, signed), 'none' (no
   * header: the body hash is part of the signature), or any other value sent and signed as is
   * (UNSIGNED-PAYLOAD, a wrong hash, ...).
   */
  payloadHash?: 'signed' | 'none' | string;
  /** Headers sent but left out of SignedHeaders (lower case). */
  unsignedHeaders?: string[];
}

/** The headers of a signed request (host included), without sending it. */
export async function signRequest(url: string, id: TestIdentity, opts: SignedFetchOptions = {}): Promise<{ method: string; headers: Record<string, string> }> {
  const u = new URL(url);
  const query: Record<string, string> = {};
  for (const [k, v] of u.searchParams) query[k] = v;
  const hash = opts.payloadHash ?? 'signed';
  const signer = new SignatureV4({
    credentials: { accessKeyId: id.accessKeyId, secretAccessKey: id.secretAccessKey, sessionToken: id.sessionToken },
    region: opts.region ?? 'us-east-1',
    service: opts.service ?? 'opentrail',
    sha256: Sha256,
    applyChecksum: hash === 'signed',
  });
  const body = opts.body;
  const headers: Record<string, string> = { host: u.host, ...(opts.headers ?? {}) };
  if (hash !== 'signed' && hash !== 'none') headers['x-amz-content-sha256'] = hash;
  const signed = await signer.sign(
    {
      method: opts.method ?? (body === undefined ? 'GET' : 'POST'),
      protocol: u.protocol, hostname: u.hostname, port: Number(u.port), path: u.pathname, query,
      headers,
      body,
    },
    {
      signingDate: opts.signingDateMs === undefined ? new Date() : new Date(opts.signingDateMs),
      ...(opts.unsignedHeaders ? { unsignableHeaders: new Set(opts.unsignedHeaders) } : {}),
    },
  );
  return { method: signed.method, headers: signed.headers as Record<string, string> };
}

export async function signedFetch(url: string, id: TestIdentity, opts: SignedFetchOptions = {}): Promise<Response> {
  const { method, headers } = await signRequest(url, id, opts);
  return fetch(url, { method, headers, body: opts.body as BodyInit | undefined });
}
