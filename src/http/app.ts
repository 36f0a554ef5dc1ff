/**
 * The HTTP edge: the CloudTrail API (AWS JSON 1.1 on POST /), cloudtrail-data (restJson1
 * POST /PutAuditEvents), the bulk ingest endpoint (POST /ingest), the event log tail
 * (GET /events) and GET /health. Every answer to a bad request is AWS-shaped.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ServiceError } from '../aws/errors.ts';
import { JsonText } from '../aws/json-text.ts';
import { CLOUDTRAIL_OPERATIONS, type CloudTrailOperation } from '../aws/cloudtrail-operations.ts';
import { isReadOnlyCall, type Clock, type IdSource } from '../core/index.ts';
import { BulkBodyError, BulkLimitError, ingestBulk, parseBulkChunks, type Ingester } from '../ingest/index.ts';
import { apiCallInput, apiCallRecorder, AuditBacklog, type ApiCall } from '../capture/self-audit.ts';
import { putAuditEvents, type PutAuditEventsDeps } from '../services/cloudtrail-data/put-audit-events.ts';
import type { CloudTrailProvider } from '../services/cloudtrail/provider.ts';
import type { CallContext } from '../services/context.ts';
import { StoreUnavailableError, type EventStore } from '../stores/index.ts';
import { RepeatLimitedLog } from './repeat-log.ts';
import { authenticate, authenticateBody, authenticateHeaders, sourceIp, type AuthDeps, type Caller } from './auth.ts';
import { BodyBudget, bodyEncoding, closeAfterAnswer, decodedChunks, readBody, REQUEST_TIMEOUT_MS, shouldClose, type BodyLease } from '../aws/body.ts';

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
const JSON_11 = 'application/x-amz-json-1.1';
const PUT_AUDIT_EVENTS_MAX_BYTES = 1024 * 1024;

function parseJsonBody(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ServiceError('SerializationException', 'The request body is not valid JSON.', 400);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new ServiceError('SerializationException', 'The request body must be a JSON object.', 400);
  }
  return doc as Record<string, unknown>;
}

function sendError(reply: FastifyReply, err: ServiceError, requestId: string, contentType: string): FastifyReply {
  return reply
    .code(err.statusCode)
    .header('content-type', contentType)
    .header('x-amzn-requestid', requestId)
    .header('x-amzn-errortype', err.code)
    .send(Buffer.from(JSON.stringify({ __type: err.code, message: err.message })));
}

export function createApp(deps: AppDeps): FastifyInstance {
  const limits = deps.limits;
  const app = Fastify({ logger: false, return503OnClosing: true, requestTimeout: REQUEST_TIMEOUT_MS });
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

  const internal = (err: unknown) => {
    deps.onInternalError(err);
    return new ServiceError('InternalFailure', 'The request processing has failed because of an unknown error, exception or failure.', 500);
  };
  const log = deps.log ?? ((m: string) => console.error(m));
  const storeLog = new RepeatLimitedLog(log);
  /** A store failure that passes by itself: logged (with its cause, rate-limited) and answered 503. */
  const describeFailure = (err: StoreUnavailableError) => {
    const cause = err.cause instanceof Error && !err.message.includes(err.cause.message) ? ` (cause: ${err.cause.message})` : '';
    return `${err.message}${cause}`;
  };
  const unavailable = (err: StoreUnavailableError) => {
    storeLog.log(`store unavailable, answering 503 ServiceUnavailableException: ${describeFailure(err)}`);
    return new ServiceError('ServiceUnavailableException', 'OpenTrail cannot store data right now (storage unavailable); nothing of this request was stored. Retry later.', 503);
  };
  const asServiceError = (err: unknown): ServiceError => (err instanceof ServiceError ? err : err instanceof StoreUnavailableError ? unavailable(err) : internal(err));

  /** Appends a self-audit record durably (the caller answers only after). */
  const audit = apiCallRecorder(deps.ingester, deps.ids);
  /** Self-audit records of applied changes that the event store could not take at the time. */
  const backlog = new AuditBacklog(deps.ingester, { log });
  app.addHook('onClose', async () => {
    await backlog.close();
  });
  /**
   * Before a change that must be audited: when the event store is failing (its last commit failed,
   * none succeeded since) and a probe write fails too, refuse with 503 before applying anything.
   */
  const ensureWritable = async () => {
    // Records of earlier applied changes go first; storing them is a write that proves recovery.
    if (backlog.size > 0) await backlog.flush();
    if (deps.ingester.unavailable()) await deps.ingester.probe();
  };

  /** An error answer; a body not read yet is cut off (connection closed) unless it is small. */
  const refuse = (req: FastifyRequest, reply: FastifyReply, err: unknown, requestId: string, contentType: string): FastifyReply => {
    if (shouldClose(req.raw)) {
      reply.header('connection', 'close');
      closeAfterAnswer(req.raw);
    }
    return sendError(reply, asServiceError(err), requestId, contentType);
  };

  /**
   * Authenticates and reads the body: the headers first (nothing is read for a caller they do not
   * verify), then at most `bigLimit` bytes when the payload hash is signed (the signature is then
   * already checked), else at most maxUnverifiedBodyBytes, then the body against the signature.
   */
  const receive = async (req: FastifyRequest, services: readonly string[], mustSign: readonly string[], bigLimit: number, lease: BodyLease): Promise<{ caller: Caller; body: Buffer }> => {
    const head = await authenticateHeaders(req, services, deps.auth, mustSign);
    const signed = head.payloadHash !== undefined;
    const limit = signed ? bigLimit : Math.min(bigLimit, limits.maxUnverifiedBodyBytes);
    const hint = signed || bigLimit <= limit ? '' : `; sign the payload hash (a hex x-amz-content-sha256 header) to send up to ${bigLimit} bytes`;
    const { body, sha256 } = await readBody(req.raw, limit, lease, hint);
    const caller = await authenticateBody(req, head, body, sha256, services, deps.auth, mustSign);
    return { caller, body };
  };

  app.get('/health', async (_req, reply) => reply.header('content-type', 'application/json').send(Buffer.from('{"status":"ok"}')));

  // CloudTrail control plane: AWS JSON 1.1.
  app.post('/', async (req, reply) => {
    const requestId = deps.ids.uuid();
    const target = String(req.headers['x-amz-target'] ?? '');
    const prefix = TARGET_PREFIXES.find((p) => target.startsWith(p));
    const op = prefix ? target.slice(prefix.length) : '';
    let caller: Caller;
    let body: Buffer;
    const lease = budget.lease();
    reply.raw.once('close', () => lease.release());
    try {
      if (!OPERATIONS.has(op)) throw new ServiceError('UnknownOperationException', target ? `Unknown operation ${target.slice(0, 200)}` : 'Missing X-Amz-Target header', 400);
      ({ caller, body } = await receive(req, ['cloudtrail'], API_MUST_SIGN, limits.maxUnverifiedBodyBytes, lease));
    } catch (err) {
      return refuse(req, reply, err, requestId, JSON_11);
    }
    const nowMs = deps.clock.nowMs();
    const ctx: CallContext = { identity: caller.identity, accountId: caller.identity.accountId, region: caller.region, requestId, nowMs };
    let input: Record<string, unknown> = {};
    let output: object | undefined;
    let failure: ServiceError | undefined;
    const mutating = !isReadOnlyCall('cloudtrail.amazonaws.com', op);
    try {
      input = parseJsonBody(body);
      const handler = deps.provider[op as CloudTrailOperation];
      if (!handler) throw new ServiceError('UnsupportedOperationException', `OpenTrail does not support ${op} yet.`, 400);
      if (mutating) await ensureWritable();
      output = await handler(ctx, input);
    } catch (err) {
      failure = asServiceError(err);
    }
    const call: Omit<ApiCall, 'eventId'> = {
      identity: caller.identity, region: caller.region, eventSource: 'cloudtrail.amazonaws.com', eventName: op,
      eventTimeMs: nowMs, requestId, sourceIPAddress: sourceIp(req), userAgent: req.headers['user-agent'],
      requestParameters: input, responseElements: output, category: 'Management',
      error: failure ? { code: failure.code, message: failure.message } : undefined,
    };
    try {
      await audit(call);
    } catch (err) {
      if (!(mutating && !failure && err instanceof StoreUnavailableError)) return sendError(reply, asServiceError(err), requestId, JSON_11);
      // The change is applied and durable: answer it as applied, never an error after a commit;
      // its record waits in memory for the event store (logged).
      storeLog.log(`store unavailable after a change was applied (answered as applied): ${describeFailure(err)}`);
      backlog.add(apiCallInput(call, deps.ids).input);
    }
    if (failure) return sendError(reply, failure, requestId, JSON_11);
    // An answer already written as JSON text (LookupEvents) is sent as it is.
    const text = output instanceof JsonText ? output.text : JSON.stringify(output ?? {});
    return reply.header('content-type', JSON_11).header('x-amzn-requestid', requestId).send(Buffer.from(text));
  });

  // cloudtrail-data: restJson1.
  app.post('/PutAuditEvents', async (req, reply) => {
    const requestId = deps.ids.uuid();
    const ct = 'application/json';
    let caller: Caller;
    let body: Buffer;
    const lease = budget.lease();
    reply.raw.once('close', () => lease.release());
    try {
      ({ caller, body } = await receive(req, ['cloudtrail-data'], [], limits.maxUnverifiedBodyBytes, lease));
    } catch (err) {
      return refuse(req, reply, err, requestId, ct);
    }
    const nowMs = deps.clock.nowMs();
    const ctx: CallContext = { identity: caller.identity, accountId: caller.identity.accountId, region: caller.region, requestId, nowMs };
    const query = new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
    let output: Awaited<ReturnType<typeof putAuditEvents>> | undefined;
    let failure: ServiceError | undefined;
    const channelArn = query.get('channelArn') ?? undefined;
    const callOf = (out: typeof output, error: ServiceError | undefined): Omit<ApiCall, 'eventId'> => ({
      identity: caller.identity, region: caller.region, eventSource: 'cloudtrail-data.amazonaws.com', eventName: 'PutAuditEvents',
      eventTimeMs: nowMs, requestId, sourceIPAddress: sourceIp(req), userAgent: req.headers['user-agent'],
      requestParameters: { channelArn, ...(query.has('externalId') ? { externalId: query.get('externalId') } : {}) },
      responseElements: out ? { successful: out.successful.length, failed: out.failed.length } : undefined,
      category: 'Data',
      resources: channelArn?.startsWith('arn:') ? [{ ARN: channelArn, accountId: caller.identity.accountId, type: 'AWS::CloudTrail::Channel' }] : undefined,
      error: error ? { code: error.code, message: error.message } : undefined,
    });
    try {
      if (body.length > PUT_AUDIT_EVENTS_MAX_BYTES) throw new ServiceError('ValidationException', 'The request body is larger than 1 MB.', 400);
      // The call's own record is stored in the same transaction as its events: both or neither.
      output = await putAuditEvents(deps.putAuditEvents, ctx, query, parseJsonBody(body), (out) => [apiCallInput(callOf(out, undefined), deps.ids).input]);
    } catch (err) {
      failure = asServiceError(err);
    }
    try {
      if (failure) await audit(callOf(undefined, failure));
    } catch (err) {
      return sendError(reply, asServiceError(err), requestId, ct);
    }
    if (failure) return sendError(reply, failure, requestId, ct);
    return reply.header('content-type', ct).header('x-amzn-requestid', requestId).send(Buffer.from(JSON.stringify(output)));
  });

  // Bulk ingest for trusted producers: a log-file body or NDJSON, optionally gzip-encoded.
  app.post('/ingest', async (req, reply) => {
    const requestId = deps.ids.uuid();
    const ct = 'application/json';
    let caller: Caller;
    let body: Buffer;
    const lease = budget.lease();
    reply.raw.once('close', () => lease.release());
    try {
      ({ caller, body } = await receive(req, ['opentrail', 'cloudtrail'], [], limits.maxBodyBytes, lease));
    } catch (err) {
      return refuse(req, reply, err, requestId, ct);
    }
    const nowMs = deps.clock.nowMs();
    let records: unknown[];
    try {
      // Decoded as a stream and parsed record by record, yielding to other requests as it goes.
      const chunks = decodedChunks(body, bodyEncoding(req.raw, body), limits.maxDecodedBytes, lease);
      records = await parseBulkChunks(chunks, { maxRecords: limits.maxRecordsPerRequest, maxRecordChars: MAX_RECORD_CHARS });
    } catch (err) {
      const se = err instanceof BulkBodyError ? new ServiceError('SerializationException', err.message, 400)
        : err instanceof BulkLimitError ? new ServiceError('RequestEntityTooLargeException', `The request has too many records: ${err.message}.`, 413)
        : asServiceError(err);
      return sendError(reply, se, requestId, ct);
    }
    let output;
    try {
      // The records and the call's own record go in one transaction: all stored, or none.
      output = await ingestBulk(deps.ingester, { identity: caller.identity, region: caller.region, nowMs, ids: deps.ids, servedRegions: deps.auth.regions, retentionDays: deps.historyRetentionDays }, records, (counts) => [apiCallInput({
        identity: caller.identity, region: caller.region, eventSource: 'cloudtrail.amazonaws.com', eventName: 'IngestEvents',
        eventTimeMs: nowMs, requestId, sourceIPAddress: sourceIp(req), userAgent: req.headers['user-agent'],
        requestParameters: { recordCount: records.length },
        responseElements: counts,
        category: 'Data',
      }, deps.ids).input]);
    } catch (err) {
      return sendError(reply, asServiceError(err), requestId, ct);
    }
    return reply.header('content-type', ct).header('x-amzn-requestid', requestId).send(Buffer.from(JSON.stringify(output)));
  });

  // The caller's account's event log, by cursor: every stored record, management or not.
  app.get('/events', async (req, reply) => {
    const requestId = deps.ids.uuid();
    const ct = 'application/json';
    let caller: Caller;
    try {
      caller = await authenticate(req, Buffer.alloc(0), ['opentrail', 'cloudtrail'], deps.auth);
    } catch (err) {
      return sendError(reply, asServiceError(err), requestId, ct);
    }
    const q = req.query as Record<string, string | undefined>;
    const after = Number(q.after ?? 0);
    const limit = Number(q.limit ?? 1000);
    if (!Number.isSafeInteger(after) || after < 0 || !Number.isSafeInteger(limit) || limit < 1 || limit > 10000) {
      return sendError(reply, new ServiceError('ValidationException', 'after must be a whole number >= 0 and limit 1 to 10000.', 400), requestId, ct);
    }
    let rows;
    try {
      rows = await deps.store.readAfter(after, limit, caller.identity.accountId, limits.maxEventsPageBytes);
    } catch (err) {
      return sendError(reply, asServiceError(err), requestId, ct);
    }
    const last = rows[rows.length - 1];
    const text = `{"events":[${rows.map((r) => `{"seq":${r.seq},"record":${r.json}}`).join(',')}],"next":${last ? last.seq : after}}`;
    return reply.header('content-type', ct).header('x-amzn-requestid', requestId).send(Buffer.from(text));
  });

  app.setNotFoundHandler((req, reply) => {
    sendError(reply, new ServiceError('UnknownOperationException', `No operation at ${req.method} ${req.url.split('?')[0]}`, 404), deps.ids.uuid(), 'application/json');
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    const requestId = deps.ids.uuid();
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      return sendError(reply, new ServiceError('ValidationException', err.message, err.statusCode), requestId, 'application/json');
    }
    return sendError(reply, asServiceError(err), requestId, 'application/json');
  });

  return app;
}
