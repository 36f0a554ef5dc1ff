/**
 * GET /events/stream: the live tail as server-sent events (src/realtime/live-tail.ts; the contract
 * is docs/realtime.md "Live tail").
 *
 * - Who: SigV4 on the GET (empty body; signing names `opentrail` or `cloudtrail`), or whatever
 *   `identify` recognises first (the console's session cookie, wired at the composition root).
 * - Region: the SigV4 scope's; `region=` in the query for a caller `identify` found (a SigV4
 *   caller's `region=`, if given, must be its scope's).
 * - Filter: `attributeKey=<LookupEvents AttributeKey>&attributeValue=<value>`, checked and matched
 *   as LookupEvents' LookupAttributes.
 * - Resume: `Last-Event-ID` (the standard header), or `after=<seq>`; neither: from now.
 * - Refused (AWS-shaped, before the stream starts): a bad signature or query (4xx), too many open
 *   streams (429 ThrottlingException).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ServiceError } from '../aws/errors.ts';
import { ALL_MANAGEMENT, LOOKUP_ATTRIBUTE_KEYS } from '../core/index.ts';
import { lookupAttribute } from '../history/index.ts';
import { TailLimitError, type LiveTail, type TailCaller } from '../realtime/index.ts';
import { StoreUnavailableError, type LookupAttribute } from '../stores/index.ts';
import { authenticate, type AuthDeps } from './auth.ts';
import { sendError } from './aws-route.ts';

/** A caller recognised by other means than SigV4 (a console session): its account and principal; its Region comes from `region=`. */
export type StreamIdentify = (req: FastifyRequest) => Promise<{ accountId: string; principal: string } | undefined>;

export interface EventStreamDeps {
  auth: AuthDeps;
  tail: LiveTail;
  ids: { uuid(): string };
  /** Tried before SigV4; undefined: SigV4 only. */
  identify?: StreamIdentify;
  onInternalError(err: unknown): void;
}

const SERVICES = ['opentrail', 'cloudtrail'];
const validation = (msg: string) => new ServiceError('ValidationException', msg, 400);

/** The stream's query: filter, Region asked for, and where to resume. */
function parseQuery(req: FastifyRequest): { attribute: LookupAttribute; region?: string; after?: number } {
  const q = req.query as Record<string, unknown>;
  for (const k of Object.keys(q)) {
    if (!['attributeKey', 'attributeValue', 'region', 'after'].includes(k)) throw validation(`Unknown query parameter ${k.slice(0, 64)}: use attributeKey, attributeValue, region, after.`);
    if (typeof q[k] !== 'string') throw validation(`${k} may be given once.`);
  }
  const key = q.attributeKey as string | undefined;
  const value = q.attributeValue as string | undefined;
  let attribute: LookupAttribute = ALL_MANAGEMENT;
  if (key !== undefined || value !== undefined) {
    if (key === undefined || value === undefined || value === '') throw validation('attributeKey and attributeValue go together (a non-empty value).');
    if (!(LOOKUP_ATTRIBUTE_KEYS as readonly string[]).includes(key)) throw validation(`attributeKey must be one of ${LOOKUP_ATTRIBUTE_KEYS.join(', ')}.`);
    attribute = lookupAttribute('management', key, value);
  }
  const lastId = req.headers['last-event-id'];
  const from = typeof lastId === 'string' && lastId !== '' ? lastId : (q.after as string | undefined);
  let after: number | undefined;
  if (from !== undefined) {
    after = Number(from);
    if (!/^\d{1,16}$/.test(from) || !Number.isSafeInteger(after)) throw validation('Last-Event-ID (or after) must be a sequence number this stream sent.');
  }
  return { attribute, region: q.region as string | undefined, after };
}

export function registerEventStream(app: FastifyInstance, deps: EventStreamDeps): void {
  app.addHook('preClose', async () => {
    deps.tail.close();
  });
  app.get('/events/stream', async (req: FastifyRequest, reply: FastifyReply) => {
    const requestId = deps.ids.uuid();
    let caller: TailCaller;
    let query: ReturnType<typeof parseQuery>;
    let release: () => void;
    try {
      query = parseQuery(req);
      const other = deps.identify ? await deps.identify(req) : undefined;
      if (other) {
        if (!query.region || !deps.auth.regions.has(query.region)) throw validation(`region must be one of ${[...deps.auth.regions].join(', ')}.`);
        caller = { accountId: other.accountId, principal: other.principal, region: query.region };
      } else {
        const c = await authenticate(req, Buffer.alloc(0), SERVICES, deps.auth);
        if (query.region !== undefined && query.region !== c.region) throw validation(`region ${query.region.slice(0, 64)} is not the Region of the request's signature (${c.region}).`);
        caller = { accountId: c.identity.accountId, principal: c.identity.accessKeyId, region: c.region };
      }
      try {
        release = deps.tail.admit(caller);
      } catch (e) {
        if (e instanceof TailLimitError) throw new ServiceError('ThrottlingException', e.message, 429);
        throw e;
      }
    } catch (e) {
      if (e instanceof ServiceError) return sendError(reply, e, requestId, 'application/json');
      deps.onInternalError(e);
      return sendError(reply, new ServiceError('InternalFailure', 'The request failed for an unknown reason.', 500), requestId, 'application/json');
    }
    // From here the answer is the stream itself, written on the socket.
    reply.hijack();
    reply.raw.setHeader('x-amzn-requestid', requestId);
    req.raw.socket.setTimeout(0);
    req.raw.socket.setNoDelay(true);
    try {
      await deps.tail.serve(reply.raw, caller, query.attribute, query.after);
    } catch (e) {
      if (!(e instanceof StoreUnavailableError)) deps.onInternalError(e);
      if (!reply.raw.headersSent) {
        reply.raw.writeHead(503, { 'content-type': 'application/json', 'x-amzn-errortype': 'ServiceUnavailableException' });
        reply.raw.end(JSON.stringify({ __type: 'ServiceUnavailableException', message: 'The event log could not be read; try again.' }));
      } else {
        reply.raw.end('event: end\ndata: {"reason":"ServiceUnavailable"}\n\n');
      }
    } finally {
      release();
    }
  });
}
