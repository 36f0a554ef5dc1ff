/**
 * Who is calling: SigV4 verification against the configured identities, and the region served.
 *
 * Verification runs in two steps so that a body is read only for a caller whose headers verified:
 * `authenticateHeaders` checks everything the headers allow before the body is read (and, when the
 * request signs a hex `x-amz-content-sha256`, the whole signature); `authenticateBody` finishes with
 * the body (its hash against the signed one, or the signature over it).
 */
import type { FastifyRequest } from 'fastify';
import { checkPayloadHash, checkSigV4Headers, payloadHashOf, verifySigV4, type VerifyOptions } from '../aws/sigv4.ts';
import { ServiceError } from '../aws/errors.ts';
import { sourceIpAddress, type Identity } from '../core/index.ts';

export interface Caller {
  identity: Identity;
  region: string;
  /** The userAgent the caller's calls are recorded with, when not the request's own (a console session's). */
  userAgent?: string;
}

export interface AuthDeps {
  identities: ReadonlyMap<string, Identity>;
  regions: ReadonlySet<string>;
  nowMs(): number;
}

/** The outcome of the header step. */
export interface HeaderAuth {
  /** Who signed, once the whole signature is checked; not to be trusted before authenticateBody. */
  caller: Caller;
  /**
   * The signed hex payload hash: the signature is already verified completely and the body only
   * has to hash to this. Undefined: the signature covers the body and is checked with it.
   */
  payloadHash?: string;
}

function signedRequest(req: FastifyRequest, body: Buffer | null) {
  const q = req.url.indexOf('?');
  return {
    method: req.method,
    path: q < 0 ? req.url : req.url.slice(0, q),
    rawQuery: q < 0 ? '' : req.url.slice(q + 1),
    headers: req.raw.headersDistinct,
    body,
  };
}

function verifyOptions(services: readonly string[], deps: AuthDeps, mustSign: readonly string[]): VerifyOptions {
  return { nowMs: deps.nowMs(), services, credentialsFor: (id) => deps.identities.get(id), mustSign };
}

/**
 * The header step: throws the AWS error for an unknown key, a bad scope or region, an expired
 * date, a missing token, an unsigned header of `mustSign`, an unsigned payload, and (when the
 * payload hash is signed) a wrong signature.
 */
export async function authenticateHeaders(req: FastifyRequest, services: readonly string[], deps: AuthDeps, mustSign: readonly string[] = []): Promise<HeaderAuth> {
  const opts = verifyOptions(services, deps, mustSign);
  const checked = checkSigV4Headers(req.raw.headersDistinct, opts);
  const { auth, payloadHash } = checked;
  if (!deps.regions.has(auth.region)) {
    throw new ServiceError('SignatureDoesNotMatch', `Credential should be scoped to a valid region, not '${auth.region}'. This OpenTrail serves ${[...deps.regions].join(', ')}.`, 403);
  }
  if (payloadHash !== undefined) await verifySigV4(signedRequest(req, null), opts, checked);
  return { caller: { identity: deps.identities.get(auth.accessKeyId)!, region: auth.region }, payloadHash };
}

/** The body step: `bodyHash` is the body's hex SHA-256 (computed while it was read). */
export async function authenticateBody(req: FastifyRequest, head: HeaderAuth, body: Buffer, bodyHash: string, services: readonly string[], deps: AuthDeps, mustSign: readonly string[] = []): Promise<Caller> {
  if (head.payloadHash !== undefined) checkPayloadHash(head.payloadHash, bodyHash);
  else await verifySigV4(signedRequest(req, body), verifyOptions(services, deps, mustSign));
  return head.caller;
}

/** Both steps for a request without a body (GET). */
export async function authenticate(req: FastifyRequest, body: Buffer, services: readonly string[], deps: AuthDeps): Promise<Caller> {
  const head = await authenticateHeaders(req, services, deps);
  return authenticateBody(req, head, body, payloadHashOf(body), services, deps);
}

/** The caller's address as CloudTrail writes sourceIPAddress (IPv4-mapped addresses unwrapped). */
export function sourceIp(req: FastifyRequest): string {
  return sourceIpAddress(req.socket.remoteAddress);
}
