/** Who is calling: SigV4 verification against the configured identities, and the region served. */
import type { FastifyRequest } from 'fastify';
import { verifySigV4 } from '../aws/sigv4.ts';
import { ServiceError } from '../aws/errors.ts';
import { sourceIpAddress, type Identity } from '../core/index.ts';

export interface Caller {
  identity: Identity;
  region: string;
}

export interface AuthDeps {
  identities: ReadonlyMap<string, Identity>;
  regions: ReadonlySet<string>;
  nowMs(): number;
}

export async function authenticate(req: FastifyRequest, body: Buffer, services: readonly string[], deps: AuthDeps): Promise<Caller> {
  const q = req.url.indexOf('?');
  const { auth } = await verifySigV4(
    {
      method: req.method,
      path: q < 0 ? req.url : req.url.slice(0, q),
      rawQuery: q < 0 ? '' : req.url.slice(q + 1),
      headers: req.raw.headersDistinct,
      body,
    },
    { nowMs: deps.nowMs(), services, credentialsFor: (id) => deps.identities.get(id) },
  );
  if (!deps.regions.has(auth.region)) {
    throw new ServiceError('SignatureDoesNotMatch', `Credential should be scoped to a valid region, not '${auth.region}'. This OpenTrail serves ${[...deps.regions].join(', ')}.`, 403);
  }
  return { identity: deps.identities.get(auth.accessKeyId)!, region: auth.region };
}

/** The caller's address as CloudTrail writes sourceIPAddress (IPv4-mapped addresses unwrapped). */
export function sourceIp(req: FastifyRequest): string {
  return sourceIpAddress(req.socket.remoteAddress);
}
