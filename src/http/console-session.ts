/**
 * Console sessions: the browser console's way to call the same CloudTrail API as the CLI without
 * keeping a secret key (docs/console.md).
 *
 * - `POST /console/api/signin` takes an access key id, its secret and (AssumedRole keys) its
 *   session token, checks them against the configured identities exactly as SigV4 would find them
 *   (`AuthDeps.identities`), and exchanges them once for a short-lived server-side session: a
 *   random id in an HttpOnly, SameSite=Strict cookie (Secure when the request came over TLS), and a
 *   random CSRF token the page keeps in memory and sends as a header. Sign-in, successful or not
 *   (when the key names an identity), is recorded as AWS records it: `ConsoleLogin`, eventSource
 *   signin.amazonaws.com, eventType AwsConsoleSignIn, through the ingest front door.
 * - `GET /console/api/session`: who is signed in, and the CSRF token again (for a reloaded page).
 * - `POST /console/api/signout`: the session is deleted and `ConsoleSignOut` recorded.
 * - `caller(req)`: a request's caller from its session cookie: undefined without a session cookie;
 *   an AWS-shaped error for an unknown or expired session, a state-changing request (any method but
 *   GET/HEAD) without the session's CSRF header, or a request whose Origin is another site. The
 *   CloudTrail API route takes it besides SigV4 (src/http/aws-route.ts), and so can any other route
 *   (GET /events/stream).
 *
 * Sessions live in this process's memory: a restart signs everyone out, and behind a load balancer
 * each node knows only its own sessions (docs/console.md).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ServiceError } from '../aws/errors.ts';
import { CURRENT_EVENT_VERSION, formatEventTime, partitionForRegion, principalArn, userIdentityOf, type Clock, type Identity, type IdSource } from '../core/index.ts';
import { admit, append, type Ingester } from '../ingest/index.ts';
import { sourceIp, type AuthDeps, type Caller } from './auth.ts';
import type { ConsoleSessionView } from './console-types.ts';

/** The cookie that carries the session id. */
export const SESSION_COOKIE = 'opentrail_console';
/** The header that carries the session's CSRF token. */
export const CSRF_HEADER = 'x-opentrail-csrf';
/** The header that names the Region a console call is for (else `region=` in the query, else the first served Region). */
export const REGION_HEADER = 'x-opentrail-region';
/** The userAgent that console calls are recorded with, as AWS writes it for calls made in its console. */
export const CONSOLE_USER_AGENT = 'console.amazonaws.com';

const MAX_SIGNIN_BODY = 8 * 1024;
/** Sessions held at most; a new one past it ends the oldest. */
const MAX_SESSIONS = 10_000;
/** Failed sign-ins a source address may make per minute before it is throttled. */
const MAX_FAILURES_PER_MINUTE = 10;
const MAX_TRACKED_ADDRESSES = 10_000;

interface Session {
  id: string;
  csrf: string;
  identity: Identity;
  region: string;
  expiresAtMs: number;
}

export interface ConsoleSessionDeps {
  auth: AuthDeps;
  ingester: Pick<Ingester, 'submit' | 'observer'>;
  ids: IdSource;
  clock: Clock;
  /** How long a session lasts from its sign-in (config `console.sessionMinutes`). */
  ttlMs: number;
}


const same = (a: string, b: string) => {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
};

function cookieValue(req: FastifyRequest, name: string): string | undefined {
  const header = req.headers.cookie;
  if (typeof header !== 'string' || header.length > 16 * 1024) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Whether the request came over TLS (directly, or through a proxy that says so). */
function overTls(req: FastifyRequest): boolean {
  return req.protocol === 'https' || String(req.headers['x-forwarded-proto'] ?? '').split(',')[0]!.trim() === 'https';
}

/** A request whose Origin (sent by browsers on every POST) is not this server's own is refused. */
function checkOrigin(req: FastifyRequest): void {
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site') throw new ServiceError('AccessDeniedException', 'Cross-site requests with the console session are refused.', 403);
  const origin = req.headers.origin;
  if (origin === undefined) return;
  const host = req.headers.host;
  const own = host !== undefined && (origin === `http://${host}` || origin === `https://${host}`);
  if (!own) throw new ServiceError('AccessDeniedException', 'Cross-site requests with the console session are refused (the Origin header names another site).', 403);
}

const displayName = (i: Identity) => i.userName ?? (i.type === 'Root' ? 'root' : i.type === 'AssumedRole' ? `${i.roleName}/${i.sessionName}` : i.accessKeyId);

export class ConsoleSessions {
  readonly #deps: ConsoleSessionDeps;
  readonly #sessions = new Map<string, Session>();
  readonly #failures = new Map<string, { count: number; sinceMs: number }>();

  constructor(deps: ConsoleSessionDeps) {
    this.#deps = deps;
  }

  /**
   * The caller a request's console session stands for: undefined when it carries no session
   * cookie; throws an AWS-shaped error when the session is unknown or expired, the Origin is
   * another site, or (any method but GET and HEAD) the CSRF header is missing or wrong.
   * Calls are recorded with userAgent `console.amazonaws.com`.
   */
  readonly caller = (req: FastifyRequest): Caller | undefined => {
    const id = cookieValue(req, SESSION_COOKIE);
    if (id === undefined || id === '') return undefined;
    const session = this.#find(id);
    if (!session) throw new ServiceError('ExpiredTokenException', 'The console session has expired or was signed out: sign in again.', 403);
    checkOrigin(req);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const token = req.headers[CSRF_HEADER];
      if (typeof token !== 'string' || !same(token, session.csrf)) {
        throw new ServiceError('AccessDeniedException', `A console request must carry the session's ${CSRF_HEADER} header.`, 403);
      }
    }
    return { identity: session.identity, region: this.#region(req, session), userAgent: CONSOLE_USER_AGENT };
  };

  /** The sign-in, session and sign-out routes under /console/api/. */
  register(app: FastifyInstance): void {
    app.post('/console/api/signin', (req, reply) => this.#answer(reply, () => this.#signIn(req, reply)));
    app.get('/console/api/session', (req, reply) => this.#answer(reply, async () => {
      const id = cookieValue(req, SESSION_COOKIE);
      const session = id ? this.#find(id) : undefined;
      if (!session) throw new ServiceError('ExpiredTokenException', 'Not signed in.', 401);
      return this.#view(session);
    }));
    app.post('/console/api/signout', (req, reply) => this.#answer(reply, async () => {
      const caller = this.caller(req);
      const id = cookieValue(req, SESSION_COOKIE)!;
      const session = caller && this.#find(id);
      if (!session) throw new ServiceError('ExpiredTokenException', 'Not signed in.', 401);
      this.#sessions.delete(id);
      reply.header('set-cookie', this.#cookie(req, '', 0));
      await this.#record(req, session.identity, session.region, 'ConsoleSignOut', { ConsoleSignOut: 'Success' });
      return { signedOut: true };
    }));
  }

  async #answer(reply: FastifyReply, run: () => Promise<object>): Promise<FastifyReply> {
    const requestId = this.#deps.ids.uuid();
    reply.header('cache-control', 'no-store').header('content-type', 'application/json').header('x-amzn-requestid', requestId);
    try {
      return reply.send(Buffer.from(JSON.stringify(await run())));
    } catch (err) {
      if (!(err instanceof ServiceError)) throw err;
      return reply.code(err.statusCode).header('x-amzn-errortype', err.code).send(Buffer.from(JSON.stringify({ __type: err.code, message: err.message })));
    }
  }

  async #signIn(req: FastifyRequest, reply: FastifyReply): Promise<ConsoleSessionView> {
    checkOrigin(req);
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
      throw new ServiceError('ValidationException', 'Sign in with a JSON body (content-type application/json).', 400);
    }
    const ip = sourceIp(req);
    this.#checkThrottle(ip);
    const body = await readSmallJson(req);
    const str = (k: string) => (typeof body[k] === 'string' ? body[k] : '');
    const accessKeyId = str('accessKeyId').trim();
    const secret = str('secretAccessKey');
    const token = str('sessionToken');
    const regions = [...this.#deps.auth.regions];
    const region = str('region') || regions[0]!;
    if (!this.#deps.auth.regions.has(region)) throw new ServiceError('ValidationException', `Region ${region.slice(0, 64)} is not served here (${regions.join(', ')}).`, 400);
    const identity = this.#deps.auth.identities.get(accessKeyId);
    const ok = identity !== undefined && same(secret, identity.secretAccessKey) && (identity.sessionToken === undefined || same(token, identity.sessionToken));
    if (!ok) {
      this.#noteFailure(ip);
      // A key that names an identity: its account sees the failed attempt. An unknown key names no
      // account to record it in.
      if (identity) await this.#record(req, identity, region, 'ConsoleLogin', { ConsoleLogin: 'Failure' }, 'Failed authentication');
      throw new ServiceError('InvalidClientTokenId', 'Sign-in failed: the access key ID, secret access key or session token is not right.', 401);
    }
    // Recorded before the session exists: a sign-in that cannot be recorded does not happen.
    await this.#record(req, identity, region, 'ConsoleLogin', { ConsoleLogin: 'Success' });
    const session: Session = {
      id: randomBytes(32).toString('base64url'), csrf: randomBytes(32).toString('base64url'), identity, region,
      expiresAtMs: this.#deps.clock.nowMs() + this.#deps.ttlMs,
    };
    // A sign-in replaces the browser's earlier session, if any.
    const earlier = cookieValue(req, SESSION_COOKIE);
    if (earlier) this.#sessions.delete(earlier);
    this.#prune();
    this.#sessions.set(session.id, session);
    reply.header('set-cookie', this.#cookie(req, session.id, Math.floor(this.#deps.ttlMs / 1000)));
    return this.#view(session);
  }

  #view(s: Session): ConsoleSessionView {
    return {
      csrfToken: s.csrf, accountId: s.identity.accountId, arn: principalArn(s.identity, partitionForRegion(s.region)), type: s.identity.type,
      userName: displayName(s.identity), accessKeyId: s.identity.accessKeyId, region: s.region, regions: [...this.#deps.auth.regions],
      expiresAt: new Date(s.expiresAtMs).toISOString(),
    };
  }

  #cookie(req: FastifyRequest, value: string, maxAgeSeconds: number): string {
    return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${overTls(req) ? '; Secure' : ''}`;
  }

  #find(id: string): Session | undefined {
    const s = this.#sessions.get(id);
    if (s && s.expiresAtMs <= this.#deps.clock.nowMs()) {
      this.#sessions.delete(id);
      return undefined;
    }
    return s;
  }

  #region(req: FastifyRequest, s: Session): string {
    const q = req.url.indexOf('?');
    const wanted = req.headers[REGION_HEADER] ?? (q < 0 ? null : new URLSearchParams(req.url.slice(q + 1)).get('region'));
    if (typeof wanted !== 'string' || wanted === '') return s.region;
    if (!this.#deps.auth.regions.has(wanted)) throw new ServiceError('ValidationException', `Region ${wanted.slice(0, 64)} is not served here (${[...this.#deps.auth.regions].join(', ')}).`, 400);
    return wanted;
  }

  /** Expired sessions go; past MAX_SESSIONS, the oldest (a Map keeps insertion order). */
  #prune(): void {
    const now = this.#deps.clock.nowMs();
    for (const [id, s] of this.#sessions) if (s.expiresAtMs <= now) this.#sessions.delete(id);
    while (this.#sessions.size >= MAX_SESSIONS) this.#sessions.delete(this.#sessions.keys().next().value!);
  }

  #checkThrottle(ip: string): void {
    const f = this.#failures.get(ip);
    if (f && this.#deps.clock.nowMs() - f.sinceMs < 60_000 && f.count >= MAX_FAILURES_PER_MINUTE) {
      throw new ServiceError('ThrottlingException', 'Too many failed sign-ins from this address: wait a minute.', 429);
    }
  }

  #noteFailure(ip: string): void {
    const now = this.#deps.clock.nowMs();
    const f = this.#failures.get(ip);
    if (f && now - f.sinceMs < 60_000) f.count++;
    else {
      if (this.#failures.size >= MAX_TRACKED_ADDRESSES) this.#failures.delete(this.#failures.keys().next().value!);
      this.#failures.set(ip, { count: 1, sinceMs: now });
    }
  }

  /** A sign-in event as AWS writes it (eventType AwsConsoleSignIn), through the ingest front door, durable before the answer. */
  async #record(req: FastifyRequest, identity: Identity, region: string, eventName: string, responseElements: Record<string, string>, errorMessage?: string): Promise<void> {
    const { ids, clock, ingester } = this.#deps;
    const nowMs = clock.nowMs();
    const host = String(req.headers.host ?? '').slice(0, 256);
    const record = {
      eventVersion: CURRENT_EVENT_VERSION,
      userIdentity: userIdentityOf(identity, partitionForRegion(region)),
      eventTime: formatEventTime(nowMs),
      eventSource: 'signin.amazonaws.com',
      eventName,
      awsRegion: region,
      sourceIPAddress: sourceIp(req),
      userAgent: String(req.headers['user-agent'] ?? '').slice(0, 1024),
      ...(errorMessage ? { errorMessage } : {}),
      requestParameters: null,
      responseElements,
      additionalEventData: { LoginTo: `${overTls(req) ? 'https' : 'http'}://${host}/console/`, MobileVersion: 'No', MFAUsed: identity.mfaAuthenticated ? 'Yes' : 'No' },
      eventID: ids.uuid(),
      readOnly: false,
      eventType: 'AwsConsoleSignIn',
      managementEvent: true,
      recipientAccountId: identity.accountId,
      eventCategory: 'Management',
    };
    const admitted = admit(record, { defaultAccountId: identity.accountId, defaultRegion: region, nowMs, ids });
    if (!admitted.ok) throw new Error(`console sign-in record rejected: ${admitted.errorMessage}`);
    await append(ingester, [admitted], { durability: 'disk', path: 'self-audit' });
  }
}

/** A JSON object body of at most MAX_SIGNIN_BODY bytes. */
async function readSmallJson(req: FastifyRequest): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req.raw as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_SIGNIN_BODY) throw new ServiceError('ValidationException', `The sign-in body is larger than ${MAX_SIGNIN_BODY} bytes.`, 413);
    chunks.push(chunk);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ServiceError('SerializationException', 'The sign-in body is not valid JSON.', 400);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new ServiceError('SerializationException', 'The sign-in body must be a JSON object.', 400);
  return doc as Record<string, unknown>;
}
