/**
 * One route skeleton for every AWS-shaped endpoint of the edge (src/http/app.ts composes them):
 *
 *   open -> authenticate (and read the body) -> decode -> call -> self-audit -> encode
 *
 * with one error envelope (`{"__type", "message"}`, `x-amzn-errortype`, the endpoint's content
 * type, `x-amzn-requestid` on every answer). An endpoint says only what differs: which SigV4
 * services and body limit it takes, what a request asks for (`open`), how its body is decoded, its
 * one call, and what its self-audit record states. The skeleton owns what must be the same
 * everywhere:
 *
 * - the request's share of the in-flight body budget, released when its connection closes;
 * - refusals before or while the body is read (unknown operation, authentication, limits) answer
 *   at once, closing the connection unless the unread rest is small (`refuse`), and are not
 *   recorded (nobody was authenticated);
 * - a mutating call is refused with 503 before it is applied while the event store cannot take
 *   writes (`ensureWritable`), since its record could not follow;
 * - the self-audit: each recorded call's record is handed to the group commit before its answer
 *   (so records are stored in the order of the calls); a write's record (and a failed write's) is
 *   durable (`disk`) before its answer; a read's, by default (`selfAudit.readRecords`
 *   `after-answer`), is committed after its answer, at `process` durability: a `kill -9` in the
 *   few milliseconds between can lose it (docs/architecture.md), and a failure to store it is
 *   logged and counted (`logRecordFailure`); while the store is failing reads wait for their
 *   record as before (503 when it cannot be stored); `before-answer`: reads wait too. A change
 *   applied when the store then fails is answered as applied and its record waits in the
 *   `AuditBacklog`; an endpoint that stores data
 *   (`recordWithData`) stores its own record in the same transaction as its data, and records only
 *   its failures afterwards;
 * - errors: a `ServiceError` is answered as it is, a `StoreUnavailableError` as a retryable 503
 *   (logged, rate-limited), anything else is a bug: logged and answered InternalFailure (500).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ServiceError } from '../aws/errors.ts';
import { JsonText } from '../aws/json-text.ts';
import { closeAfterAnswer, readBody, shouldClose, type BodyBudget, type BodyLease } from '../aws/body.ts';
import type { Clock, IdSource } from '../core/index.ts';
import { append, type Ingester } from '../ingest/index.ts';
import { apiCallInput, AuditBacklog, ReadRecordGroup, type ApiCall } from '../capture/self-audit.ts';
import type { CallContext } from '../services/context.ts';
import { StoreUnavailableError, type AppendInput } from '../stores/index.ts';
import { RepeatLimitedLog } from './repeat-log.ts';
import { authenticate, authenticateBody, authenticateHeaders, sourceIp, type AuthDeps, type Caller } from './auth.ts';

/** What a call's self-audit record states besides who called, when and from where, its answer and its error. */
export type CallFacts = Pick<ApiCall, 'eventSource' | 'eventName' | 'requestParameters' | 'category'> & Partial<Pick<ApiCall, 'resources'>>;

/** Builds the call's own record from its responseElements, to store in the same transaction as its data. */
export type OwnRecord = (responseElements: unknown) => readonly AppendInput[];

/** What the skeleton hands the decode step besides the body. */
export interface Received {
  req: FastifyRequest;
  lease: BodyLease;
  /** The call's context (who, where, when), as `call` gets it. */
  ctx: CallContext;
}

/** One request to an endpoint, as `open` made it. */
export interface AwsCall<In, Out> {
  /** A change that must be audited: refused while the event store cannot take writes; its record may wait in the backlog. */
  mutating?: boolean;
  /** The body as the call's input; what it throws is the call's failure (answered, and recorded when `record` says so). */
  decode(body: Buffer, received: Received): In | Promise<In>;
  /** The call itself: one function call. */
  call(ctx: CallContext, input: In, ownRecord: OwnRecord): Promise<Out>;
  /** The self-audit record's facts (input undefined: its decoding failed); undefined: this call is not recorded. */
  record(input: In | undefined, failure: ServiceError | undefined, ctx: CallContext): CallFacts | undefined;
}

export interface AwsEndpoint<In, Out> {
  /** Content type of every answer, errors included. */
  contentType: string;
  /** SigV4 service names the credential scope may name. */
  services: readonly string[];
  /** Headers that must be among the SignedHeaders. */
  mustSign?: readonly string[];
  /** A request without SigV4 may be authenticated by a console session (AwsEdgeDeps.consoleCaller). */
  consoleSessions?: boolean;
  /**
   * Largest body from a caller whose headers verified with a signed hex payload hash (else at most
   * the edge's maxUnverifiedBodyBytes); 0: a request without a body (GET), none is read.
   */
  maxBodyBytes: number;
  /**
   * A success's record is stored by the call itself with its data, through `ownRecord` (both or
   * neither); only failures are recorded after the call.
   */
  recordWithData?: boolean;
  /** What the request asks for, before anything is read; throws to refuse it (e.g. UnknownOperationException). */
  open(req: FastifyRequest): AwsCall<In, Out>;
}

export interface AwsEdgeDeps {
  auth: AuthDeps;
  ids: IdSource;
  clock: Clock;
  /** The group commit self-audit records go through. */
  ingester: Ingester;
  /** The in-flight body budget every request takes its body bytes from. */
  budget: BodyBudget;
  /** Largest body of a request whose payload hash is not signed (its signature covers the body, checked only once read). */
  maxUnverifiedBodyBytes: number;
  /** Unexpected errors (bugs); they answer InternalFailure. */
  onInternalError(err: unknown): void;
  /** Operational messages without a stack (store failures, rate-limited; the self-audit backlog). */
  log(message: string): void;
  /**
   * The caller a request's console session stands for (src/http/console-session.ts): undefined
   * without one; throws when it is refused. Asked only for endpoints with `consoleSessions` and
   * requests that carry no SigV4 authorization.
   */
  consoleCaller?(req: FastifyRequest): Caller | undefined;
  /** Told who a request's caller is once authenticated (the request log names the account). */
  onAuthenticated?(req: FastifyRequest, caller: Caller): void;
  /**
   * When a read's self-audit record is committed (config `selfAudit.readRecords`): `after-answer`
   * (default) the answer does not wait for it; `before-answer` it does, as a write's.
   */
  readRecords?: ReadRecords;
  /** `after-answer`: how long a read's record waits to be committed with other reads' (default READ_RECORD_LINGER_MS; tests). */
  readRecordLingerMs?: number;
  /**
   * A read's record that failed after its answer was sent (logged with the record's JSON, and
   * counted by the caller: the server counts it as a background error of `self-audit`). Default:
   * `log`.
   */
  logRecordFailure?(message: string, err: unknown): void;
}

/** When a read-only call's self-audit record is committed, relative to its answer. */
export type ReadRecords = 'after-answer' | 'before-answer';

/** How long a read's record (`after-answer`) waits for other reads' to be committed with them, ms. */
export const READ_RECORD_LINGER_MS = 20;
/** Reads' records appended together at most (a group of 1.5-3 KB records: ~0.5 MiB). */
export const READ_RECORD_GROUP_MAX = 256;

/** The eventName of a self-audit record's JSON, for a log line (the record is logged whole beside it). */
function readEventName(json: string): string {
  return /"eventName":"([A-Za-z0-9]{1,64})"/.exec(json)?.[1] ?? 'unknown';
}

const EMPTY = Buffer.alloc(0);

/** The request carries SigV4 authorization (a header, or a presigned query). */
const hasSigV4 = (req: FastifyRequest) => req.headers.authorization !== undefined || /[?&]X-Amz-Credential=/i.test(req.url);

/** The error envelope. */
export function sendError(reply: FastifyReply, err: ServiceError, requestId: string, contentType: string): FastifyReply {
  return reply
    .code(err.statusCode)
    .header('content-type', contentType)
    .header('x-amzn-requestid', requestId)
    .header('x-amzn-errortype', err.code)
    .send(Buffer.from(JSON.stringify({ __type: err.code, message: err.message })));
}

/** A JSON request body that must be an object (an empty body is `{}`). */
export function parseJsonBody(body: Buffer): Record<string, unknown> {
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

/** The edge's shared machinery and the skeleton every endpoint is an instance of. */
export interface AwsEdge {
  /** The Fastify handler of an endpoint. */
  route<In, Out>(endpoint: AwsEndpoint<In, Out>): (req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply>;
  /** Any error as the AWS error it answers (logging store failures and bugs). */
  asServiceError(err: unknown): ServiceError;
  /** Stores what the self-audit backlog still holds, or logs it; at shutdown. */
  close(): Promise<void>;
}

export function createAwsEdge(deps: AwsEdgeDeps): AwsEdge {
  const internal = (err: unknown) => {
    deps.onInternalError(err);
    return new ServiceError('InternalFailure', 'The request processing has failed because of an unknown error, exception or failure.', 500);
  };
  const storeLog = new RepeatLimitedLog(deps.log);
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

  const readsAfterAnswer = (deps.readRecords ?? 'after-answer') === 'after-answer';
  const logRecordFailure = deps.logRecordFailure ?? ((message: string, err: unknown) => deps.log(`${message}: ${err instanceof Error ? err.message : String(err)}`));
  /** Self-audit records of applied changes that the event store could not take at the time. */
  const backlog = new AuditBacklog(deps.ingester, { log: deps.log });
  /** Records of reads answered before their commit, appended together (one commit for a burst of reads). */
  const readGroup = new ReadRecordGroup(deps.ingester, {
    lingerMs: deps.readRecordLingerMs ?? READ_RECORD_LINGER_MS, maxRecords: READ_RECORD_GROUP_MAX,
    onFailure: (input, err) => logRecordFailure(`self-audit record of a read (${readEventName(input.json)}) not stored after its answer, logged instead: ${input.json}`, err),
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
   * verify), then at most `maxBodyBytes` when the payload hash is signed (the signature is then
   * already checked), else at most maxUnverifiedBodyBytes, then the body against the signature.
   */
  const receive = async (req: FastifyRequest, endpoint: AwsEndpoint<unknown, unknown>, lease: BodyLease): Promise<{ caller: Caller; body: Buffer }> => {
    const viaConsole = endpoint.consoleSessions && !hasSigV4(req) ? deps.consoleCaller?.(req) : undefined;
    if (viaConsole) {
      const limit = Math.min(endpoint.maxBodyBytes, deps.maxUnverifiedBodyBytes);
      return { caller: viaConsole, body: limit === 0 ? EMPTY : (await readBody(req.raw, limit, lease, '')).body };
    }
    if (endpoint.maxBodyBytes === 0) return { caller: await authenticate(req, EMPTY, endpoint.services, deps.auth), body: EMPTY };
    const mustSign = endpoint.mustSign ?? [];
    const head = await authenticateHeaders(req, endpoint.services, deps.auth, mustSign);
    const signed = head.payloadHash !== undefined;
    const bigLimit = endpoint.maxBodyBytes;
    const limit = signed ? bigLimit : Math.min(bigLimit, deps.maxUnverifiedBodyBytes);
    const hint = signed || bigLimit <= limit ? '' : `; sign the payload hash (a hex x-amz-content-sha256 header) to send up to ${bigLimit} bytes`;
    const { body, sha256 } = await readBody(req.raw, limit, lease, hint);
    const caller = await authenticateBody(req, head, body, sha256, endpoint.services, deps.auth, mustSign);
    return { caller, body };
  };

  const route = <In, Out>(endpoint: AwsEndpoint<In, Out>) => async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const requestId = deps.ids.uuid();
    const ct = endpoint.contentType;
    const lease = deps.budget.lease();
    reply.raw.once('close', () => lease.release());
    // open + authenticate: refused early, unrecorded.
    let call: AwsCall<In, Out>;
    let caller: Caller;
    let body: Buffer;
    try {
      call = endpoint.open(req);
      ({ caller, body } = await receive(req, endpoint as AwsEndpoint<unknown, unknown>, lease));
    } catch (err) {
      return refuse(req, reply, err, requestId, ct);
    }
    deps.onAuthenticated?.(req, caller);
    const nowMs = deps.clock.nowMs();
    const ctx: CallContext = { identity: caller.identity, accountId: caller.identity.accountId, region: caller.region, requestId, nowMs };
    let input: In | undefined;
    let output: Out | undefined;
    let failure: ServiceError | undefined;
    /** The call's self-audit record, or undefined when this call is not recorded. */
    const apiCall = (responseElements: unknown, error: ServiceError | undefined): Omit<ApiCall, 'eventId'> | undefined => {
      const facts = call.record(input, error, ctx);
      if (!facts) return undefined;
      return {
        identity: caller.identity, region: caller.region, eventTimeMs: nowMs, requestId, sourceIPAddress: sourceIp(req), userAgent: caller.userAgent ?? req.headers['user-agent'],
        ...facts, responseElements, error: error ? { code: error.code, message: error.message } : undefined,
      };
    };
    let ownRecords = 0;
    const ownRecord: OwnRecord = (responseElements) => {
      const own = apiCall(responseElements, undefined);
      ownRecords = own ? 1 : 0;
      return own ? [apiCallInput(own, deps.ids).input] : [];
    };
    // decode + call.
    try {
      input = await call.decode(body, { req, lease, ctx });
      if (call.mutating) await ensureWritable();
      output = await call.call(ctx, input, ownRecord);
    } catch (err) {
      failure = asServiceError(err);
    }
    // self-audit: the record is handed to the group commit now, before the answer (in call
    // order); a write's is durable before its answer, a read's by default only follows it.
    const record = failure || !endpoint.recordWithData ? apiCall(output, failure) : undefined;
    if (record) {
      let audited: { input: AppendInput; stored: Promise<unknown> } | undefined;
      try {
        const { input, admitted, durability } = apiCallInput(record, deps.ids);
        if (durability === 'process' && readsAfterAnswer && !deps.ingester.unavailable()) {
          // A read while the store is not known to be failing: answered without waiting; its
          // record goes with the other reads' of the next few ms.
          readGroup.add(admitted);
        } else {
          // The reads' records held so far go first (call order).
          readGroup.flush();
          audited = { input, stored: append(deps.ingester, [admitted], { durability, path: 'self-audit' }) };
          await audited.stored;
        }
      } catch (err) {
        if (!(audited && call.mutating && !failure && err instanceof StoreUnavailableError)) return sendError(reply, asServiceError(err), requestId, ct);
        // The change is applied and durable: answer it as applied, never an error after a commit;
        // its record waits in memory for the event store (logged).
        storeLog.log(`store unavailable after a change was applied (answered as applied): ${describeFailure(err)}`);
        backlog.add(audited.input);
      }
    }
    if (failure) return sendError(reply, failure, requestId, ct);
    // The call's own record committed with its data (counted here: the front door counted the data).
    if (ownRecords > 0) deps.ingester.observer?.appended('self-audit', ownRecords, 0, 0);
    // encode: an answer already written as JSON text (LookupEvents) is sent as it is.
    const bytes = output instanceof JsonText ? output.bytes() : Buffer.from(JSON.stringify(output ?? {}));
    return reply.header('content-type', ct).header('x-amzn-requestid', requestId).send(bytes);
  };

  return {
    route, asServiceError,
    close: async () => {
      await readGroup.close();
      await backlog.close();
    },
  };
}
