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
}

export async function signedFetch(url: string, id: TestIdentity, opts: SignedFetchOptions = {}): Promise<Response> {
  const u = new URL(url);
  const query: Record<string, string> = {};
  for (const [k, v] of u.searchParams) query[k] = v;
  const signer = new SignatureV4({
    credentials: { accessKeyId: id.accessKeyId, secretAccessKey: id.secretAccessKey, sessionToken: id.sessionToken },
    region: opts.region ?? 'us-east-1',
    service: opts.service ?? 'opentrail',
    sha256: Sha256,
  });
  const body = opts.body;
  const signed = await signer.sign(
    {
      method: opts.method ?? (body === undefined ? 'GET' : 'POST'),
      protocol: u.protocol, hostname: u.hostname, port: Number(u.port), path: u.pathname, query,
      headers: { host: u.host, ...(opts.headers ?? {}) },
      body,
    },
    { signingDate: opts.signingDateMs === undefined ? new Date() : new Date(opts.signingDateMs) },
  );
  return fetch(url, { method: signed.method, headers: signed.headers as Record<string, string>, body: body as BodyInit | undefined });
}
