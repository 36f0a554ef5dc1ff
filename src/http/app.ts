/**
 * The HTTP edge: the CloudTrail API (AWS JSON 1.1 on POST /), cloudtrail-data (restJson1
 * POST /PutAuditEvents), the bulk ingest endpoint (POST /ingest), the event log tail
 * (GET /events) and GET /health. Each AWS-shaped endpoint is an instance of one route skeleton
 * (src/http/aws-route.ts: authenticate, decode, call, self-audit, encode, error envelope); this
 * file says only what each endpoint is. Every answer to a bad request is AWS-shaped.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { ServiceError } from '../aws/errors.ts';
import { JsonText } from '../aws/json-text.ts';
import { CLOUDTRAIL_OPERATIONS, type CloudTrailOperation } from '../aws/cloudtrail-operations.ts';
import { isReadOnlyCall, type Clock, type IdSource } from '../core/index.ts';
import { AdmissionGate, bulkAdmission, PARSE_TURNS, BulkBodyError, BulkLimitError, bulkAdmitter, ingestAdmitted, parseBulkChunks, RequestRecordBuffers, type BulkAdmitted, type Ingester } from '../ingest/index.ts';
import { putAuditEvents, type PutAuditEventsDeps } from '../services/cloudtrail-data/put-audit-events.ts';
import type { CloudTrailProvider } from '../services/cloudtrail/provider.ts';
import type { EventStore } from '../stores/index.ts';
import { sourceIp, type AuthDeps } from './auth.ts';
import { createAwsEdge, parseJsonBody, sendError, type AwsEdgeDeps, type AwsEndpoint } from './aws-route.ts';
import { ConsoleSessions } from './console-session.ts';
import { registerConsoleStatic } from './console-static.ts';
import { registerEventStream, type EventStreamDeps } from './event-stream.ts';
import { readLogPage } from './log-page.ts';
import { BodyBudget, bodyEncoding, decodedChunks, REQUEST_TIMEOUT_MS } from '../aws/body.ts';

export interface AppDeps {
  auth: AuthDeps;
  provider: CloudTrailProvider;
  putAuditEvents: PutAuditEventsDeps;
  ingester: Ingester;
  store: EventStore;
  ids: IdSource;
  clock: Clock;
  limits: EdgeLimits;
  /** Event history's retention, for /ingest to say which records it will never show (docs/ingest.md). */
  historyRetentionDays?: number;
  /**
   * The in-flight body budget, shared with the recording gateway (src/server.ts makes one);
   * default: one of its own, of limits.maxInFlightBodyBytes.
   */
  budget?: BodyBudget;
  /** Called with unexpected errors (bugs); they answer InternalFailure. */
  onInternalError(err: unknown): void;
  /**
   * Operational messages without a stack: a store that cannot take writes (identical lines within
   * a minute are counted, not repeated) and the self-audit backlog. Default: stderr.
   */
  log?(message: string): void;
  /**
   * What GET /health reports beyond `{"status":"ok"}` (the node and its database, src/server.ts);
   * `status` other than ok makes `GET /health?ready` answer 503. Default: the fixed answer.
   */
  health?: () => Promise<{ status: 'ok' | 'unavailable' } & Record<string, unknown>>;
  /**
   * The JSON-lines logger (src/observability/log.ts): Fastify logs through it, and every answered
   * request is one line (request id, account, operation, status, duration). Default: no logger.
   */
  logger?: FastifyBaseLogger;
  /**
   * Writes the one line per answered request (default `logger`): a child without pino's redaction
   * pass (src/observability/log.ts `factsLogger`), since the line holds only the server's own facts
   * under fixed keys; the redaction walk cost a quarter of the bytes a LookupEvents allocated
   * (docs/performance.md "Issue 11, fifth round: lookups").
   */
  requestLogger?: FastifyBaseLogger;
  /** For metrics: every answered request, by operation (from the known list) and status. */
  observeRequest?(operation: string, status: number, seconds: number): void;
  /** Serves GET /metrics on this port (Prometheus text), unauthenticated like /health. */
  metrics?: () => Promise<{ contentType: string; text: string }>;
  /**
   * Who gets /metrics and /health's details (node, failure reasons) on this port (config
   * `metrics.apiPortCallers`): `loopback` (default) callers on this machine that came through no
   * proxy, `any` everyone. Others get 403 on /metrics and /health's status and database state only.
   */
  metricsCallers?: 'loopback' | 'any';
  /** The web console under /console/ (config `console`; docs/console.md); undefined: off. */
  console?: { sessionMinutes: number; dir?: string };
  /**
   * The self-audit of reads (config `selfAudit`): when their records are committed, and where a
   * read's record that failed after its answer is reported (default: `log`).
   */
  selfAudit?: Pick<AwsEdgeDeps, 'readRecords' | 'logRecordFailure'>;
  /** The live tail, GET /events/stream (src/http/event-stream.ts); absent: no such route. */
  eventStream?: Pick<EventStreamDeps, 'tail' | 'identify'>;
}

/** Size limits of the HTTP edge (config `ingest.*`; docs/ingest.md). */
export interface EdgeLimits {
  /** Largest /ingest body from a caller whose headers verified with a signed hex payload hash. */
  maxBodyBytes: number;
  /** Largest body of a request whose payload hash is not signed (its signature covers the body, checked only once read). */
  maxUnverifiedBodyBytes: number;
  /** Largest decoded (inflated) /ingest body. */
  maxDecodedBytes: number;
  /** Body bytes (raw and decoded) held by all requests in flight together. */
  maxInFlightBodyBytes: number;
  /** Entries (records or broken lines) in one /ingest body. */
  maxRecordsPerRequest: number;
  /** Bytes of records in one GET /events answer (at least one record is always returned). */
  maxEventsPageBytes: number;
}

/** Headers the CloudTrail API requires among the SignedHeaders, as AWS does. */
const API_MUST_SIGN = ['x-amz-target', 'content-type'];
/** Characters of text one /ingest record may span (4x the 256 KB a stored record may have, for whitespace). */
const MAX_RECORD_CHARS = 1024 * 1024;

const TARGET_PREFIXES = ['com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.', 'CloudTrail_20131101.'];
const OPERATIONS = new Set<string>(CLOUDTRAIL_OPERATIONS);

/** The CloudTrail operation an `X-Amz-Target` names ('' when it names none). */
function targetOperation(req: FastifyRequest): string {
  const target = String(req.headers['x-amz-target'] ?? '');
  const prefix = TARGET_PREFIXES.find((p) => target.startsWith(p));
  return prefix ? target.slice(prefix.length) : '';
}

/** A request's operation as logs and metrics name it: one of a fixed set, whatever the request says. */
function operationName(req: FastifyRequest): string {
  switch (req.routeOptions.url) {
    case '/': {
      const op = targetOperation(req);
      return OPERATIONS.has(op) ? op : 'UnknownOperation';
    }
    case '/PutAuditEvents': return 'PutAuditEvents';
    case '/ingest': return 'IngestEvents';
    case '/events': return 'GetEvents';
    case '/events/stream': return 'StreamEvents';
    case '/health': return 'Health';
    case '/metrics': return 'Metrics';
    case '/console': case '/console/': case '/console/*': return 'ConsoleFile';
    case '/console/api/signin': return 'ConsoleLogin';
    case '/console/api/session': return 'ConsoleSession';
    case '/console/api/signout': return 'ConsoleSignOut';
    default: return 'NotFound';
  }
}
/**
 * A caller on this machine that came through no proxy: its connection is from a loopback address
 * and it carries no forwarding header (a reverse proxy on the same machine connects from loopback
 * for callers anywhere).
 */
function isLocalCaller(req: FastifyRequest): boolean {
  if (req.headers.forwarded !== undefined || req.headers['x-forwarded-for'] !== undefined || req.headers['x-real-ip'] !== undefined) return false;
  const ip = req.socket.remoteAddress ?? '';
  return ip === '::1' || /^(::ffff:)?127\./.test(ip);
}

/** /health's report for a caller that may not see the node and the failure reasons: its status and the database's. */
function publicHealth(report: { status: string } & Record<string, unknown>): object {
  const db = report.database as { type?: unknown; status?: unknown } | undefined;
  return { status: report.status, ...(db ? { database: { type: db.type, status: db.status } } : {}) };
}
const JSON_11 = 'application/x-amz-json-1.1';
const PUT_AUDIT_EVENTS_MAX_BYTES = 1024 * 1024;

export function createApp(deps: AppDeps): FastifyInstance {
  const limits = deps.limits;
  const app = Fastify({
    // Fastify's own two lines per request are off: the onResponse hook below writes one.
    ...(deps.logger ? { loggerInstance: deps.logger, logController: new LogController({ disableRequestLogging: true }) } : { logger: false }),
    return503OnClosing: true, requestTimeout: REQUEST_TIMEOUT_MS,
  });
  // Bodies are not read by Fastify: each route reads its body itself, after the caller's headers
  // verified and within its limits (src/aws/body.ts).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));
  const budget = deps.budget ?? new BodyBudget(limits.maxInFlightBodyBytes);

  // While shutting down, answers close their connection so keep-alive clients let go promptly.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // Time spent in the server on a request, from its routing until its answer is handed to the
  // socket (W3C Server-Timing): what `npm run bench` reports as server-side time beside the
  // client's. (Fastify's reply.elapsedTime is 0 without a logger or onResponse hook.)
  const startedAt = new WeakMap<object, number>();
  app.addHook('onRequest', async (req) => {
    startedAt.set(req.raw, performance.now());
  });
  app.addHook('onSend', async (req, reply, payload) => {
    if (closing) reply.header('connection', 'close');
    const t0 = startedAt.get(req.raw);
    if (t0 !== undefined) reply.header('server-timing', `app;dur=${(performance.now() - t0).toFixed(2)}`);
    return payload;
  });

  // One log line and one metrics observation per answered request. The path is logged without its
  // query (a presigned request carries its signature there) and no header is.
  const accounts = new WeakMap<object, string>();
  const { observeRequest } = deps;
  const logger = deps.logger && (deps.requestLogger ?? deps.logger);
  if (logger || observeRequest) {
    app.addHook('onResponse', async (req, reply) => {
      const t0 = startedAt.get(req.raw);
      const seconds = t0 === undefined ? 0 : (performance.now() - t0) / 1000;
      const operation = operationName(req);
      const status = reply.statusCode;
      observeRequest?.(operation, status, seconds);
      if (!logger) return;
      const line = {
        requestId: reply.getHeader('x-amzn-requestid'), account: accounts.get(req.raw), operation, status, ms: Math.round(seconds * 1e5) / 100,
        method: req.method, path: req.url.split('?', 1)[0]!.slice(0, 256), ip: sourceIp(req), errorCode: reply.getHeader('x-amzn-errortype'),
      };
      // Probes (load balancers, Prometheus) come every few seconds: their lines are debug.
      if (status >= 500) logger.warn(line, 'request');
      else if (operation === 'Health' || operation === 'Metrics') logger.debug(line, 'request');
      else logger.info(line, 'request');
    });
  }

  // The web console: its files, and sessions that stand for an identity on the CloudTrail API.
  const consoleSessions = deps.console ? new ConsoleSessions({ auth: deps.auth, ingester: deps.ingester, ids: deps.ids, clock: deps.clock, ttlMs: deps.console.sessionMinutes * 60_000 }) : undefined;
  const edge = createAwsEdge({
    consoleCaller: consoleSessions?.caller,
    auth: deps.auth, ids: deps.ids, clock: deps.clock, ingester: deps.ingester, budget, maxUnverifiedBodyBytes: limits.maxUnverifiedBodyBytes,
    onInternalError: deps.onInternalError, log: deps.log ?? ((m: string) => console.error(m)),
    onAuthenticated: logger ? (req, caller) => accounts.set(req.raw, caller.identity.accountId) : undefined,
    ...deps.selfAudit,
  });
  app.addHook('onClose', async () => {
    await edge.close();
  });

  // Liveness: 200 while the process answers. `?ready` (for load balancers): 503 while the node
  // cannot serve, its database unavailable (docs/scale-out.md).
  // The node and failure details go only to the callers metrics.apiPortCallers names
  // (docs/security.md); the others learn whether it serves and whether its database does.
  const health = deps.health;
  const detailsFor = (req: FastifyRequest) => deps.metricsCallers === 'any' || isLocalCaller(req);
  app.get('/health', async (req, reply) => {
    reply.header('content-type', 'application/json');
    if (!health) return reply.send(Buffer.from('{"status":"ok"}'));
    const report = await health();
    const ready = Object.hasOwn(req.query as object, 'ready');
    return reply.code(ready && report.status !== 'ok' ? 503 : 200).send(Buffer.from(JSON.stringify(detailsFor(req) ? report : publicHealth(report))));
  });
  const metrics = deps.metrics;
  if (metrics) {
    app.get('/metrics', async (req, reply) => {
      if (!detailsFor(req)) {
        const message = 'GET /metrics on the API port answers callers on the server\'s own machine only: scrape the metrics.port listener, or set metrics.apiPortCallers to any (docs/operations.md).';
        return sendError(reply, new ServiceError('AccessDeniedException', message, 403), deps.ids.uuid(), 'application/json');
      }
      const { contentType, text } = await metrics();
      return reply.header('content-type', contentType).send(text);
    });
  }

  // CloudTrail control plane: AWS JSON 1.1. Every call is recorded after it (the record of a
  // change waits in the backlog when the event store fails after the change was applied).
  const cloudTrail: AwsEndpoint<Record<string, unknown>, object> = {
    contentType: JSON_11, services: ['cloudtrail'], mustSign: API_MUST_SIGN, maxBodyBytes: limits.maxUnverifiedBodyBytes, consoleSessions: true,
    open(req) {
      const target = String(req.headers['x-amz-target'] ?? '');
      const op = targetOperation(req);
      if (!OPERATIONS.has(op)) throw new ServiceError('UnknownOperationException', target ? `Unknown operation ${target.slice(0, 200)}` : 'Missing X-Amz-Target header', 400);
      const supported = deps.provider[op as CloudTrailOperation];
      const handler = supported ?? (async () => {
        throw new ServiceError('UnsupportedOperationException', `OpenTrail does not support ${op} yet.`, 400);
      });
      return {
        mutating: supported !== undefined && !isReadOnlyCall('cloudtrail.amazonaws.com', op),
        decode: (body) => parseJsonBody(body),
        call: (ctx, input) => handler(ctx, input),
        record: (input) => ({ eventSource: 'cloudtrail.amazonaws.com', eventName: op, requestParameters: input ?? {}, category: 'Management' }),
      };
    },
  };
  app.post('/', edge.route(cloudTrail));

  // cloudtrail-data: restJson1. The call's own record is stored in the same transaction as its
  // events: both or neither.
  const cloudTrailData: AwsEndpoint<Record<string, unknown>, object> = {
    contentType: 'application/json', services: ['cloudtrail-data'], maxBodyBytes: limits.maxUnverifiedBodyBytes, recordWithData: true,
    open(req) {
      const query = new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
      const channelArn = query.get('channelArn') ?? undefined;
      return {
        decode: (body) => {
          if (body.length > PUT_AUDIT_EVENTS_MAX_BYTES) throw new ServiceError('ValidationException', 'The request body is larger than 1 MB.', 400);
          return parseJsonBody(body);
        },
        call: (ctx, input, own) => putAuditEvents(deps.putAuditEvents, ctx, query, input, (out) => own({ successful: out.successful.length, failed: out.failed.length })),
        record: (_input, _failure, ctx) => ({
          eventSource: 'cloudtrail-data.amazonaws.com', eventName: 'PutAuditEvents', category: 'Data',
          requestParameters: { channelArn, ...(query.has('externalId') ? { externalId: query.get('externalId') } : {}) },
          resources: channelArn?.startsWith('arn:') ? [{ ARN: channelArn, accountId: ctx.accountId, type: 'AWS::CloudTrail::Channel' }] : undefined,
        }),
      };
    },
  };
  app.post('/PutAuditEvents', edge.route(cloudTrailData));

  // Bulk ingest for trusted producers: a log-file body or NDJSON, optionally gzip-encoded. The
  // records and the call's own record go in one transaction: all stored, or none. A failed call
  // is not recorded.
  // Parsed records in memory are bounded: BULK_ADMISSION requests (or what the store asks for,
  // `EventStore.admission`) decode and commit at a time, the others wait their turn with their
  // body read (src/ingest/admission.ts; docs/storage.md "Memory").
  const bulkGate = new AdmissionGate(bulkAdmission(deps.store.admission));
  // Admitted requests parse one at a time, in the order admitted (PARSE_TURNS). Parsed side by side
  // (in turns of a few ms) they all finished at about the same time, went into one group commit
  // together, and then all waited for it while nothing parsed: main thread and writer took turns
  // instead of overlapping (docs/performance.md, "Issue 11, sixth round").
  const parseTurns = new AdmissionGate(PARSE_TURNS);
  const bulk: AwsEndpoint<BulkAdmitted[], object> = {
    contentType: 'application/json', services: ['opentrail', 'cloudtrail'], maxBodyBytes: limits.maxBodyBytes, recordWithData: true,
    open: () => {
      let release = (): void => undefined;
      return {
        decode: async (body, { req, lease, ctx }) => {
          const leave = await bulkGate.enter();
          // The records' bytes (bulkAdmitter), given back once the append settled.
          const arena = new RequestRecordBuffers();
          release = () => {
            arena.release();
            leave();
          };
          let parsing: (() => void) | undefined;
          try {
            parsing = await parseTurns.enter();
            // Decoded as a stream and parsed record by record, yielding to other requests as it goes;
            // each record admitted (normalise -> route) as soon as it is parsed, so only what its
            // commit needs waits for it (docs/storage.md "Memory").
            const chunks = decodedChunks(body, bodyEncoding(req.raw, body), limits.maxDecodedBytes, lease);
            const admit = bulkAdmitter({ identity: ctx.identity, region: ctx.region, nowMs: ctx.nowMs, ids: deps.ids, servedRegions: deps.auth.regions, retentionDays: deps.historyRetentionDays }, arena);
            return await parseBulkChunks(chunks, { maxRecords: limits.maxRecordsPerRequest, maxRecordChars: MAX_RECORD_CHARS }, admit);
          } catch (err) {
            release();
            if (err instanceof BulkBodyError) throw new ServiceError('SerializationException', err.message, 400);
            if (err instanceof BulkLimitError) throw new ServiceError('RequestEntityTooLargeException', `The request has too many records: ${err.message}.`, 413);
            throw err;
          } finally {
            parsing?.();
          }
        },
        // A decoded body always reaches call (the endpoint is not `mutating`), which gives the slot back.
        call: async (_ctx, admitted, own) => {
          try {
            return await ingestAdmitted(deps.ingester, admitted, own);
          } finally {
            release();
          }
        },
        record: (records, failure) => (failure ? undefined : { eventSource: 'cloudtrail.amazonaws.com', eventName: 'IngestEvents', requestParameters: { recordCount: records?.length }, category: 'Data' }),
      };
    },
  };
  app.post('/ingest', edge.route(bulk));

  // The caller's account's event log, by cursor: every stored record, management or not. Not recorded.
  const events: AwsEndpoint<{ after: number; limit: number }, JsonText> = {
    contentType: 'application/json', services: ['opentrail', 'cloudtrail'], maxBodyBytes: 0,
    open: (req) => ({
      decode: () => {
        const q = req.query as Record<string, string | undefined>;
        const after = Number(q.after ?? 0);
        const limit = Number(q.limit ?? 1000);
        if (!Number.isSafeInteger(after) || after < 0 || !Number.isSafeInteger(limit) || limit < 1 || limit > 10000) {
          throw new ServiceError('ValidationException', 'after must be a whole number >= 0 and limit 1 to 10000.', 400);
        }
        return { after, limit };
      },
      call: async (ctx, { after, limit }) => {
        const { rows, next } = await readLogPage(deps.store, { after, limit, accountId: ctx.accountId, maxBytes: limits.maxEventsPageBytes });
        return new JsonText(`{"events":[${rows.map((r) => `{"seq":${r.seq},"record":${r.json}}`).join(',')}],"next":${next}}`);
      },
      record: () => undefined,
    }),
  };
  app.get('/events', edge.route(events));
  if (deps.eventStream) {
    // A console session is a caller of the live tail too (the console's live mode), tried before SigV4.
    const consoleIdentify = consoleSessions && (async (req: FastifyRequest) => {
      const c = consoleSessions.caller(req);
      return c && { accountId: c.identity.accountId, principal: c.identity.accessKeyId };
    });
    registerEventStream(app, { identify: consoleIdentify, ...deps.eventStream, auth: deps.auth, ids: deps.ids, onInternalError: deps.onInternalError });
  }

  if (consoleSessions) {
    consoleSessions.register(app);
    registerConsoleStatic(app, deps.console?.dir);
  }

  app.setNotFoundHandler((req, reply) => {
    sendError(reply, new ServiceError('UnknownOperationException', `No operation at ${req.method} ${req.url.split('?')[0]}`, 404), deps.ids.uuid(), 'application/json');
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    const requestId = deps.ids.uuid();
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      return sendError(reply, new ServiceError('ValidationException', err.message, err.statusCode), requestId, 'application/json');
    }
    return sendError(reply, edge.asServiceError(err), requestId, 'application/json');
  });

  return app;
}
