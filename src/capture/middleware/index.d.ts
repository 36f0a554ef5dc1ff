/**
 * Public types of `opentrail/middleware` (docs/middleware.md).
 *
 * The middleware is plain ESM JavaScript (Node will not strip types from .ts files inside
 * node_modules, so an installed package could not load a .ts entry); these declarations are
 * written by hand and are what both consumers and this repository's TypeScript see. The .js files
 * beside this one are type-checked against them (`checkJs`), and
 * src/capture/middleware/public-types.test.ts checks that the exports agree.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';

// ---------------------------------------------------------------------------------------------
// Records and delivery
// ---------------------------------------------------------------------------------------------

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** CloudTrail's userIdentity (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html). */
export interface UserIdentity {
  /** Root, IAMUser, AssumedRole, FederatedUser, AWSAccount, AWSService, IdentityCenterUser, WebIdentityUser, SAMLUser, Unknown, ... */
  type: string;
  principalId?: string;
  arn?: string;
  accountId?: string;
  accessKeyId?: string;
  userName?: string;
  invokedBy?: string;
  sessionContext?: Record<string, unknown>;
  [field: string]: unknown;
}

export interface RecordResource {
  ARN?: string;
  ARNPrefix?: string;
  accountId?: string;
  type?: string;
  [field: string]: unknown;
}

/** A CloudTrail record as sent to OpenTrail's `POST /ingest`; docs/ingest.md says what the server fills in. */
export interface CloudTrailRecord {
  eventSource: string;
  eventName: string;
  userIdentity?: UserIdentity;
  eventTime?: string;
  awsRegion?: string;
  sourceIPAddress?: string;
  userAgent?: string;
  errorCode?: string;
  errorMessage?: string;
  requestParameters?: unknown;
  responseElements?: unknown;
  requestID?: string;
  eventID?: string;
  readOnly?: boolean;
  resources?: RecordResource[];
  eventType?: string;
  managementEvent?: boolean;
  recipientAccountId?: string;
  eventCategory?: string;
  [field: string]: unknown;
}

export interface RecorderOptions {
  /** OpenTrail's base URL, e.g. `http://127.0.0.1:4580`; events are POSTed to `<endpoint>/ingest`. */
  endpoint: string;
  /** Signing region; also the records' awsRegion. */
  region: string;
  /** The identity the recorder signs with (an OpenTrail identity of the account that receives the events). */
  credentials: Credentials | (() => Promise<Credentials>);
  /** A batch is sent as soon as this many events wait. Default 200. */
  batchSize?: number;
  /** ... or when the oldest waiting event has waited this long. Default 1000 ms. */
  flushIntervalMs?: number;
  /** Most events held in memory (waiting, in flight or being retried); beyond it new events are dropped. Default 10000. */
  maxQueueSize?: number;
  /** First retry delay after a network error, 429 or 5xx; doubles per attempt (with jitter). Default 200 ms. */
  retryBaseMs?: number;
  /** Cap of the retry delay. Default 30000 ms. */
  retryMaxMs?: number;
  /** One request's timeout (then it counts as a network error). Default 10000 ms. */
  requestTimeoutMs?: number;
  /** Told about everything that goes wrong (see RecorderErrorCode); what it throws is ignored. Default: console.warn. */
  onError?: (error: RecorderError) => void;
}

export type RecorderErrorCode =
  /** The queue held maxQueueSize events; `count` events were dropped since the last report. */
  | 'QueueFull'
  /** record() after close(); the event was dropped. */
  | 'Closed'
  /** A network error, timeout, 429 or 5xx: the batch is kept and retried. */
  | 'Unavailable'
  /** OpenTrail refused the whole batch (another 4xx, e.g. 403 for bad credentials); its events were dropped. */
  | 'HttpError'
  /** OpenTrail refused some records of a batch (see `rejected`); the rest were stored. */
  | 'Rejected'
  /** close() timed out; the events still queued were dropped. */
  | 'Abandoned'
  /** An event could not be serialised as JSON, or one of your callbacks threw; the event was not recorded. */
  | 'InvalidRecord';

export interface RejectedRecord {
  eventID: string;
  errorCode: string;
  errorMessage: string;
}

export declare class RecorderError extends Error {
  constructor(code: RecorderErrorCode, message: string, details?: { count?: number; status?: number; rejected?: RejectedRecord[]; cause?: unknown });
  readonly code: RecorderErrorCode;
  /** How many events the error concerns. */
  readonly count: number;
  /** The HTTP status, for Unavailable (when there was an answer) and HttpError. */
  readonly status: number | undefined;
  /** For Rejected: the refused records and why. */
  readonly rejected: RejectedRecord[] | undefined;
}

export interface RecorderStats {
  /** Events waiting or being retried. */
  queued: number;
  /** Events of the request in flight. */
  inFlight: number;
  /** Events OpenTrail stored. */
  accepted: number;
  /** Events OpenTrail already held (a retried batch whose first answer was lost). */
  duplicates: number;
  /** Events OpenTrail refused (record-level or whole-batch 4xx). */
  rejected: number;
  /** Events dropped here: queue full, recorded after close, or abandoned by close(). */
  dropped: number;
  /** Failed attempts that were retried. */
  retries: number;
}

/**
 * Batches records to OpenTrail's `POST /ingest`, SigV4-signed (service `opentrail`). At least once:
 * each record gets its eventID when recorded, so a retried batch is stored once.
 */
export declare class Recorder {
  constructor(options: RecorderOptions);
  readonly region: string;
  /** Queues one record (eventID added when absent). Never throws; false when the record was dropped. */
  record(record: CloudTrailRecord): boolean;
  /** Sends at once what is queued; resolves when every record queued before the call was stored, refused or dropped. Waits through retries. */
  flush(): Promise<void>;
  /** Stops accepting records, flushes, and after `timeoutMs` (default 10000) drops what is still queued. Never rejects. */
  close(options?: { timeoutMs?: number }): Promise<void>;
  stats(): RecorderStats;
}

// ---------------------------------------------------------------------------------------------
// HTTP calls to records
// ---------------------------------------------------------------------------------------------

/** What the middleware saw of one HTTP call, the same for Express and Fastify. */
export interface HttpCall {
  framework: 'express' | 'fastify';
  /** Upper case. */
  method: string;
  /** The matched route's template (`/orders/:id`), undefined when no route matched. */
  route: string | undefined;
  /** The URL path, without the query. */
  path: string;
  params: Record<string, unknown>;
  query: Record<string, unknown>;
  /** The parsed request body (whatever your body parser made of it), or undefined. */
  body: unknown;
  status: number;
  /** The value the handler sent as JSON (Express `res.json`/`res.send(object)`, Fastify `reply.send(object)`), or undefined. */
  responseBody: unknown;
  /** Fastify: the error the handler threw, if any. */
  error: Error | undefined;
  headers: IncomingHttpHeaders;
  sourceIPAddress: string | undefined;
  /** When the request arrived (ms since the epoch): the record's eventTime. */
  startTimeMs: number;
}

/** Options shared by the Express and Fastify adapters; every callback gets (request, response, call). */
export interface RecordOptions<Req, Res> {
  /** The record's eventSource, e.g. `orders.example.com`. */
  eventSource: string;
  /** The caller's userIdentity; undefined records `{ "type": "Unknown" }`. Required. */
  identity: (req: Req, res: Res, call: HttpCall) => UserIdentity | undefined;
  /** Default: from the method and route template (`defaultEventName`): GET /orders/:id is GetOrder. */
  eventName?: (req: Req, res: Res, call: HttpCall) => string;
  /** Default: query, then JSON body (an object; an array goes under `body`), then route params; null when empty. Redacted. */
  requestParameters?: (req: Req, res: Res, call: HttpCall) => unknown;
  /** Default: null, as CloudTrail writes for most calls. Redacted. */
  responseElements?: (req: Req, res: Res, call: HttpCall) => unknown;
  /** Applied to requestParameters and responseElements. Default `redactSecrets`; false: nothing is redacted. */
  redact?: ((value: unknown) => unknown) | false;
  /** Default: GET, HEAD and OPTIONS are read-only. */
  readOnly?: (req: Req, res: Res, call: HttpCall) => boolean;
  /** For status >= 400. Default: the reason phrase in PascalCase (404: `NotFound`). Return undefined for no errorCode. */
  errorCode?: (req: Req, res: Res, call: HttpCall) => string | undefined;
  /** For status >= 400. Default: the thrown error's message (Fastify), the JSON body's string `message`, or the reason phrase. */
  errorMessage?: (req: Req, res: Res, call: HttpCall) => string | undefined;
  /** The record's resources. Default: none. */
  resources?: (req: Req, res: Res, call: HttpCall) => RecordResource[] | undefined;
  /** The account that receives the event. Default: the identity's accountId, else the signing identity's account (set by OpenTrail). */
  recipientAccountId?: string | ((req: Req, res: Res, call: HttpCall) => string | undefined);
  /** Default true (eventCategory Management, in Event history); false writes Data events. */
  managementEvent?: boolean;
  /** Header whose value becomes requestID; default `x-request-id`. Absent: a new UUID. */
  requestIdHeader?: string;
  /** Calls not to record. Default: calls that matched no route. */
  skip?: (req: Req, res: Res, call: HttpCall) => boolean;
}

/** Either a recorder to share, or what to build one from (it is then the adapter's own). */
export type AdapterOptions<Req, Res> = RecordOptions<Req, Res> & ({ recorder: Recorder } | (RecorderOptions & { recorder?: undefined }));

/** What the Express adapter needs of a request; anything else of yours (req.user, ...) is there too. */
export interface ExpressRequestLike extends IncomingMessage {
  route?: { path?: unknown };
  baseUrl?: string;
  params?: Record<string, unknown>;
  query?: unknown;
  body?: unknown;
  ip?: string | undefined;
  [key: string]: any;
}

export interface ExpressMiddleware<Req, Res> {
  (req: Req, res: Res, next: (err?: unknown) => void): void;
  /** The recorder the middleware writes to: `await middleware.recorder.close()` on shutdown. */
  readonly recorder: Recorder;
}

/**
 * Express middleware recording every routed call once its response is sent. Install it before
 * your routes. Pass your request type (`(req: express.Request) => ...`) to type the callbacks.
 */
export declare function openTrailExpress<Req extends IncomingMessage = ExpressRequestLike, Res extends ServerResponse = ServerResponse>(
  options: AdapterOptions<Req, Res>,
): ExpressMiddleware<Req, Res>;

export type OpenTrailFastifyOptions = AdapterOptions<FastifyRequest, FastifyReply>;

/**
 * Fastify plugin recording every routed call (hooks apply to the whole instance, it is not
 * encapsulated). Decorates the instance with `openTrailRecorder`; a recorder the plugin built
 * itself is closed (drained) by `app.close()`.
 */
export declare const openTrailFastify: FastifyPluginAsync<OpenTrailFastifyOptions>;

declare module 'fastify' {
  interface FastifyInstance {
    openTrailRecorder: Recorder;
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers used by the defaults
// ---------------------------------------------------------------------------------------------

/** What the default redaction writes in place of a secret. */
export declare const HIDDEN: 'HIDDEN_DUE_TO_SECURITY_REASONS';
/** Keys the default redaction hides: /password|secret|token|authorization/i. */
export declare const SECRET_KEYS: RegExp;
/** A copy of `value` with the value of every key (at any depth) matching `pattern` replaced by HIDDEN. */
export declare function redactKeys(value: unknown, pattern: RegExp): unknown;
/** The default redaction: `redactKeys(value, SECRET_KEYS)`. */
export declare function redactSecrets(value: unknown): unknown;
/** The default eventName for a method and route template (docs/middleware.md lists the rules). */
export declare function defaultEventName(method: string, route: string): string;
