/**
 * The recording gateway: an HTTP listener in front of AWS-protocol services. Each request is
 * verified against OpenTrail's identities (SigV4), decoded with the service's model, forwarded to
 * the upstream (re-signed when the upstream has credentials of its own), answered with the
 * upstream's answer unchanged, and recorded as one CloudTrail event when the service's capture
 * rules say CloudTrail records that call.
 *
 * Nothing reaches the upstream unless its signature verified, and no byte of a body is read before
 * everything the headers allow is checked (src/aws/sigv4.ts checkSigV4Headers; with a signed payload
 * hash, the whole signature). Object bodies (S3 PutObject, UploadPart) are streamed through, hashed
 * on the way when their hash was signed; every other body is read whole with the API edge's reader
 * (src/aws/body.ts), because verifying and decoding it needs it: up to `maxBodyBytes` when its
 * payload hash is signed (the signature already verified), else up to `maxUnverifiedBodyBytes`, and
 * always within the in-flight body budget the gateway shares with the API edge.
 */
import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { Transform } from 'node:stream';
import type { Agent as UpstreamAgent, Dispatcher } from 'undici';
import { ServiceError } from '../../aws/errors.ts';
import { BodyBudget, type BodyLease, closeAfterAnswer, decodedChunks, readBody, REQUEST_TIMEOUT_MS, shouldClose } from '../../aws/body.ts';
import { checkPayloadHash, checkSigV4Headers, parseAuthorization, signingQuery, verifySigV4, type HeaderCheck, type ParsedAuthorization, type VerifyOptions } from '../../aws/sigv4.ts';
import { buildArn, partitionForRegion, sourceIpAddress, type Clock, type IdSource, type Identity, type RecordResource } from '../../core/index.ts';
import { signRequest } from '../../core/sigv4-sign.ts';
import type { ApiCall } from '../self-audit.ts';
import { AMBIGUOUS, chooseModel, decodeAnswer, decodeRequest, header, requestProtocol, undecodedCall, type DecodedCall, type DecodeOptions, type GatewayRequest } from '../../aws/protocol/decode.ts';
import type { Protocol, ServiceModel } from '../../aws/protocol/model.ts';
import { encodeError } from '../../aws/protocol/encode.ts';
import { captureOf, readOnlyOf, rulesOf, type Capture, type ServiceRule } from './rules.ts';

export interface UpstreamConfig {
  /** `http(s)://host[:port]` of the service (or of one server answering many, such as moto). */
  endpoint: string;
  /** Credentials the upstream expects; when set the gateway re-signs each request with them. */
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
}

export interface GatewayOptions {
  /** Upstream per signing name (`xray`, `monitoring`, ...), and the one for every other service. */
  upstreams: { services?: Record<string, UpstreamConfig>; default?: UpstreamConfig };
  /** Largest body read whole (every request but streamed object bodies), and largest decoded gzip body. */
  maxBodyBytes: number;
  /**
   * Largest body read before its signature is verified: a body whose payload hash is not signed
   * (the signature covers the body itself). Default 2 MiB (the server passes `ingest.maxUnverifiedBodyBytes`).
   */
  maxUnverifiedBodyBytes?: number;
  /** Hold the end of each answer until the call's record is stored (the call is never lost). */
  recordBeforeAnswer: boolean;
  /** Most bytes of an upstream answer kept to decode its error or responseElements. */
  maxAnswerBytes?: number;
  /** Dotted host names clients address the gateway by, path style, for S3 (`gateway.hostnames`). */
  pathStyleHosts?: readonly string[];
}

export interface GatewayDeps {
  identities: ReadonlyMap<string, Identity>;
  regions: ReadonlySet<string>;
  clock: Clock;
  ids: IdSource;
  /** Appends one call's record; resolves once it is stored. */
  record(call: Omit<ApiCall, 'eventId'>): Promise<void>;
  logError(msg: string, err?: unknown): void;
  /**
   * Body bytes (raw and decoded) held by requests in flight, shared with the API edge (src/server.ts
   * makes one); beyond it a request is refused with a retryable 503. Default: 256 MiB of its own.
   */
  budget?: BodyBudget;
  /** For metrics and the log: each call once its answer ended. Must not throw. */
  observe?(call: GatewayCallFacts): void;
}

/** What the log and metrics say of one call through the gateway. */
export interface GatewayCallFacts {
  /** The signing name when the gateway has its model, `unknown` when not, `none` before a signature named one. */
  service: string;
  /** The HTTP status answered, or `aborted` when the connection closed first. */
  outcome: string;
  seconds: number;
  method: string;
  /** The caller's account, when its access key is known. */
  account?: string;
  /** The operation decoded (`UnknownOperation` when none could be). */
  operation?: string;
}


const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'expect']);
/** Headers a re-signed request gets anew; `date` is dropped, as the AWS SDK's signer drops it. */
const RESIGNED = new Set(['authorization', 'x-amz-date', 'date', 'x-amz-security-token', 'host']);

/**
 * The request's headers by lower-case name, a repeated one as the list of its values (what
 * `headersDistinct` gives, one value unwrapped), built from the raw list in one pass.
 */
function single(raw: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    const v = raw[i + 1]!;
    const prev = out[k];
    if (prev === undefined) out[k] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else out[k] = [prev, v];
  }
  return out;
}

/** How this request expects errors: by the protocol it spoke, or its service's when unknown. */
function errorFormat(headers: Record<string, string | string[] | undefined>, service: string | undefined, model: ServiceModel | undefined, rawQuery = ''): Protocol {
  if (header(headers, 'smithy-protocol') === 'rpc-v2-cbor') return 'rpcv2Cbor';
  if (header(headers, 'x-amz-target') !== undefined) return 'awsJson1_1';
  if (service === 's3') return 'restXml';
  if ((header(headers, 'content-type') ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded')) return 'awsQuery';
  if (model && model.protocol !== 'restJson1' && model.protocol !== 'restXml' && /(?:^|&)Action=/.test(rawQuery)) return 'awsQuery';
  return model?.protocol ?? 'restJson1';
}

/** Our own errors, named as the service's protocol and the service name them. */
function errorCodeFor(e: ServiceError, format: Protocol, service: string | undefined): string {
  if (service === 's3') {
    if (e.code === 'UnrecognizedClientException') return 'InvalidAccessKeyId';
    if (e.code === 'MissingAuthenticationTokenException' || e.code === 'IncompleteSignatureException') return 'AccessDenied';
    if (e.code === AMBIGUOUS) return 'InvalidRequest';
  }
  if (format === 'awsQuery' && e.code === 'UnrecognizedClientException') return 'InvalidClientTokenId';
  return e.code;
}

function sendError(res: ServerResponse, format: Protocol, code: string, e: ServiceError, requestId: string, close = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { headers, body } = encodeError(format, code, e.message, requestId);
  if (close) headers.connection = 'close';
  headers['content-length'] = String(body.length);
  res.writeHead(e.statusCode, headers).end(body);
}

/**
 * Before an early refusal: a body not read yet is cut off (the answer carries `connection: close`,
 * the connection lingers unread, then closes: src/aws/body.ts closeAfterAnswer) unless it is small
 * enough to discard. Returns whether the answer must close the connection.
 */
function dropUnread(req: IncomingMessage): boolean {
  if (shouldClose(req)) {
    closeAfterAnswer(req);
    return true;
  }
  req.resume();
  return false;
}

/** S3 records name the bucket, key and host, and the query parameters by their wire names. */
function s3Details(call: DecodedCall, req: GatewayRequest, capture: Capture, region: string): { params: Record<string, unknown>; resources: RecordResource[] | undefined } {
  const params: Record<string, unknown> = {};
  const bucket = typeof call.params.Bucket === 'string' ? call.params.Bucket : undefined;
  const key = typeof call.params.Key === 'string' ? call.params.Key : undefined;
  if (bucket !== undefined) params.bucketName = bucket;
  params.Host = header(req.headers, 'host') ?? '';
  if (key !== undefined) params.key = key;
  for (const [k, v] of new URLSearchParams(req.rawQuery)) if (k !== 'x-id') params[k] = v;
  let resources: RecordResource[] | undefined;
  if (bucket !== undefined) {
    // S3 ARNs have no Region, but the partition of the one the call was signed for.
    const arn = (resource: string) => buildArn({ service: 's3', region: '', accountId: '', resource, partition: partitionForRegion(region) });
    resources = [{ type: 'AWS::S3::Bucket', ARN: arn(bucket) }];
    if (key !== undefined && capture === 'data') resources.unshift({ type: 'AWS::S3::Object', ARN: arn(`${bucket}/${key}`) });
  }
  return { params, resources };
}

/** Capture of a decoded call by its service's rules; a call not decoded is a management event. */
function captureOfCall(rule: ServiceRule, call: DecodedCall): Capture {
  return call.undecoded ? 'management' : captureOf(rule, call.operation);
}

const ARN = /^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12})?:.+$/;
const MAX_ARN_RESOURCES = 20;

/**
 * resources of a call recorded by the generic rules: the ARNs among its input members (at most 20,
 * first seen first, each once), with the account an ARN names. CloudTrail's per-service resource
 * types are not derived; `type` is left out.
 */
function arnResources(params: Record<string, unknown>): RecordResource[] | undefined {
  const found = new Map<string, RecordResource>();
  const walk = (v: unknown, depth: number): void => {
    if (found.size >= MAX_ARN_RESOURCES || depth > 16) return;
    if (typeof v === 'string') {
      if (v.length <= 2048 && !found.has(v)) {
        const m = ARN.exec(v);
        if (m) found.set(v, m[1] ? { ARN: v, accountId: m[1] } : { ARN: v });
      }
    } else if (Array.isArray(v)) {
      for (const x of v) walk(x, depth + 1);
    } else if (v !== null && typeof v === 'object') {
      for (const x of Object.values(v)) walk(x, depth + 1);
    }
  };
  walk(params, 0);
  return found.size > 0 ? [...found.values()] : undefined;
}

const unmodelledReason = (signingName: string) => `no model of the gateway signs as '${signingName.slice(0, 64)}'`;

/**
 * A stand-in model for a service no model signs as: no operations, so every call is passed through
 * and recorded as UnknownOperation; its protocol is the one the request's signals name.
 */
function unmodelled(signingName: string, req: GatewayRequest): ServiceModel {
  const form = (header(req.headers, 'content-type') ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded');
  const protocol: Protocol = header(req.headers, 'smithy-protocol') !== undefined ? 'rpcv2Cbor'
    : header(req.headers, 'x-amz-target') !== undefined ? 'awsJson1_1'
      : form || /(?:^|&)Action=/.test(req.rawQuery) ? 'awsQuery' : 'restJson1';
  return { source: 'none', signingName, endpointPrefix: signingName, protocol, apiVersion: '', operations: {}, shapes: {} };
}

/** Methods undici sends a zero `content-length` on; on any other it leaves a zero length out. */
const PAYLOAD_METHODS = new Set(['PUT', 'POST', 'PATCH', 'QUERY', 'PROPFIND', 'PROPPATCH']);

interface UpstreamRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[]> | string[];
  body: Buffer | null;
}

/**
 * node:http's client driving the same dispatch handler, for the one request undici would not send
 * as given: a `content-length: 0` on a method without a payload (a GET or DELETE whose client sent
 * and maybe signed it), which undici leaves out.
 */
function dispatchByNodeHttp(agent: http.Agent, target: URL, r: UpstreamRequest, handler: Dispatcher.DispatchHandler): void {
  let res: IncomingMessage | undefined;
  let paused = false;
  let aborted = false;
  let reason: Error | null = null;
  let failed = false;
  const req = (target.protocol === 'https:' ? https : http).request({ protocol: target.protocol, hostname: target.hostname, port: target.port || undefined, method: r.method, path: r.path, headers: r.headers, agent });
  const controller: Dispatcher.DispatchController = {
    get aborted() {
      return aborted;
    },
    get paused() {
      return paused;
    },
    get reason() {
      return reason;
    },
    rawHeaders: null,
    abort(err: Error) {
      if (aborted) return;
      aborted = true;
      reason = err;
      req.destroy(err);
    },
    pause() {
      paused = true;
      res?.pause();
    },
    resume() {
      paused = false;
      res?.resume();
    },
  };
  const fail = (err: Error) => {
    if (failed) return;
    failed = true;
    handler.onResponseError?.(controller, err);
  };
  handler.onRequestStart?.(controller, {});
  req.on('response', (answer: IncomingMessage) => {
    res = answer;
    controller.rawHeaders = answer.rawHeaders;
    handler.onResponseStart?.(controller, answer.statusCode ?? 502, answer.headers);
    answer.on('data', (c: Buffer) => handler.onResponseData?.(controller, c));
    answer.on('end', () => handler.onResponseEnd?.(controller, {}));
    answer.on('error', fail);
  });
  req.on('error', fail);
  req.end(r.body ?? undefined);
}

interface Prepared {
  auth: ParsedAuthorization;
  model: ServiceModel;
  rule: ServiceRule;
  request: GatewayRequest;
  call: DecodedCall | undefined;
  /** Set when the body is streamed to the upstream rather than read first. */
  streamed: boolean;
}

export function createGateway(deps: GatewayDeps, opts: GatewayOptions): http.Server {
  const maxAnswerBytes = opts.maxAnswerBytes ?? 1024 * 1024;
  const maxUnverified = Math.min(opts.maxBodyBytes, opts.maxUnverifiedBodyBytes ?? 2 * 1024 * 1024);
  const budget = deps.budget ?? new BodyBudget(256 * 1024 * 1024);
  // One keep-alive connection pool per upstream origin. No time limit on an upstream's answer, as
  // with node:http before: a long poll or a slow download is the caller's to give up on.
  // undici is loaded only by a server that has a gateway (~100 ms of CPU to load), from here on.
  const upstreamAgentReady: Promise<UpstreamAgent> = import('undici').then(({ Agent }) => new Agent({ headersTimeout: 0, bodyTimeout: 0 }));
  let upstreamAgent: UpstreamAgent | undefined;
  void upstreamAgentReady.then((a) => {
    upstreamAgent = a;
  }, (err: unknown) => deps.logError('gateway: could not load its upstream client (undici)', err));
  /** node:http's keep-alive agents, made on first use (dispatchByNodeHttp). */
  let nodeAgents: { http: http.Agent; https: https.Agent } | undefined;
  /** Each upstream's endpoint, parsed once. */
  const endpoints = new WeakMap<UpstreamConfig, URL>();
  const endpointOf = (u: UpstreamConfig): URL => {
    let url = endpoints.get(u);
    if (url === undefined) endpoints.set(u, (url = new URL(u.endpoint)));
    return url;
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      deps.logError('gateway: internal error', err);
      sendError(res, 'restJson1', 'InternalFailure', new ServiceError('InternalFailure', 'The request processing has failed because of an unknown error.', 500), deps.ids.uuid());
    });
  });
  server.requestTimeout = REQUEST_TIMEOUT_MS;

  server.on('close', () => {
    void upstreamAgentReady.then((a) => a.destroy(), () => undefined);
    nodeAgents?.http.destroy();
    nodeAgents?.https.destroy();
  });

  /** Records a call, unless its service does not record it; never throws. */
  const record = (p: Prepared, identity: Identity, startedMs: number, sourceIPAddress: string, answer: { requestId?: string; error?: { code: string; message: string }; output?: Record<string, unknown>; bytesOut?: number; bytesIn?: number; amzId2?: string }): Promise<void> => {
    const call = p.call;
    if (!call) return Promise.resolve();
    const capture = captureOfCall(p.rule, call);
    if (capture === 'none') return Promise.resolve();
    let requestParameters: unknown = call.undecoded ? null : call.params;
    let resources: RecordResource[] | undefined = p.rule.generic && !call.undecoded ? arnResources(call.params) : undefined;
    let additionalEventData: Record<string, unknown> | undefined = call.undecoded
      ? { requestedOperation: call.undecoded.requested, gatewayDecodeError: call.undecoded.reason }
      : undefined;
    if (p.rule.s3Style && !call.undecoded) {
      const d = s3Details(call, p.request, capture, p.auth.region);
      requestParameters = d.params;
      resources = d.resources;
      additionalEventData = {
        SignatureVersion: 'SigV4',
        AuthenticationMethod: 'AuthHeader',
        ...(answer.amzId2 ? { 'x-amz-id-2': answer.amzId2 } : {}),
        bytesTransferredIn: answer.bytesIn ?? 0,
        bytesTransferredOut: answer.bytesOut ?? 0,
      };
    }
    if (capture === 'data' && p.rule.dataResourceType) resources = [{ type: p.rule.dataResourceType }];
    return deps.record({
      identity,
      region: p.auth.region,
      eventSource: p.rule.eventSource,
      eventName: call.operation,
      eventTimeMs: startedMs,
      requestId: answer.requestId ?? deps.ids.uuid(),
      sourceIPAddress,
      userAgent: header(p.request.headers, 'user-agent'),
      requestParameters,
      responseElements: answer.output ?? null,
      error: answer.error,
      category: capture === 'data' ? 'Data' : 'Management',
      resources,
      additionalEventData,
      keysAsGiven: true,
      readOnly: readOnlyOf(p.rule, call, p.request.method),
    }).catch((err) => deps.logError(`gateway: could not record ${p.rule.eventSource} ${call.operation}`, err));
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const startedMs = deps.clock.nowMs();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const headers = single(req.rawHeaders);
    const ip = sourceIpAddress(req.socket.remoteAddress);
    // The gateway's own request id, made only for an answer or record of its own (an error).
    let gatewayRequestId: string | undefined;
    const ownRequestId = () => (gatewayRequestId ??= deps.ids.uuid());

    // The gateway's own liveness, for load balancers and supervisors: only unsigned (a signed
    // GET /health is an S3 call on bucket "health"), and unsigned calls reach no upstream anyway.
    if (url === '/health' && (req.method === 'GET' || req.method === 'HEAD') && headers.authorization === undefined) {
      const body = Buffer.from('{"status":"ok"}');
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length), ...(dropUnread(req) ? { connection: 'close' } : {}) });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }

    let service = 'none';
    const seen: { p?: Prepared; account?: string; lease?: BodyLease } = {};
    // One 'close' listener per answer: the body's lease given back and the call observed (log line, metrics).
    const t0 = deps.observe ? performance.now() : 0;
    res.once('close', () => {
      seen.lease?.release();
      deps.observe?.({
        service, outcome: res.writableFinished ? String(res.statusCode) : 'aborted', seconds: (performance.now() - t0) / 1000,
        method: req.method ?? 'GET', account: seen.account, operation: seen.p?.call?.operation,
      });
    });
    let auth: ParsedAuthorization;
    try {
      auth = parseAuthorization(headers);
    } catch (e) {
      const err = e as ServiceError;
      const format = errorFormat(headers, undefined, undefined);
      return sendError(res, format, errorCodeFor(err, format, undefined), err, ownRequestId(), dropUnread(req));
    }
    const request: GatewayRequest = { method: req.method ?? 'GET', path: q < 0 ? url : url.slice(0, q), rawQuery: q < 0 ? '' : url.slice(q + 1), headers, body: null };
    // The model of the service the request signed for (of several sharing its signing name, the one
    // its signals name); a service without a model is passed through and recorded as UnknownOperation.
    const chosen = chooseModel(auth.service, request);
    service = chosen ? auth.service : 'unknown';
    let model = chosen?.model ?? unmodelled(auth.service, request);
    let rule = rulesOf(chosen?.id ?? auth.service, auth.service);
    const format = errorFormat(headers, auth.service, model, request.rawQuery);
    const fail = (e: ServiceError, close = false) => sendError(res, format, errorCodeFor(e, format, auth.service), e, ownRequestId(), close);
    /** A refusal before (or instead of) reading the body: the rest of it is cut off unless small. */
    const refuse = (e: ServiceError) => fail(e, dropUnread(req));
    // Declared dotted host names count as path style only when the gateway re-signs for the upstream
    // (its own Host replaces the client's); passed through, the upstream would read a bucket from them.
    const upstreamOf = opts.upstreams.services?.[auth.service] ?? opts.upstreams.default;
    const resigned = upstreamOf?.accessKeyId !== undefined && upstreamOf.secretAccessKey !== undefined && upstreamOf.accessKeyId !== auth.accessKeyId;
    const pathStyleHosts = resigned ? opts.pathStyleHosts : [];
    let opts0: DecodeOptions = { memberCase: rule.memberCase, pathStyleHosts };

    // Signals that could make the upstream read another operation than the gateway would are
    // refused before anything is read or forwarded (nothing is recorded: no call was made).
    let protocol: Protocol;
    try {
      // A service no model signs as is never decoded, so no reading of it can name a wrong operation.
      protocol = chosen ? requestProtocol(request, model, pathStyleHosts) : model.protocol;
    } catch (e) {
      if (!(e instanceof ServiceError)) throw e;
      return refuse(e);
    }
    // Decoding this request with this model reuses the protocol just read (its checks not redone).
    opts0 = { ...opts0, protocol };

    // Object bodies stream through; everything else is read whole to verify and decode it.
    // A REST call decodes from its path, query and headers alone; a streamed one is decoded once, here.
    let streamed = false;
    let head: DecodedCall | undefined;
    const sha = header(headers, 'x-amz-content-sha256');
    if (chosen && (protocol === 'restXml' || protocol === 'restJson1')) {
      try {
        head = decodeRequest(model, request, opts0);
        const input = model.operations[head.operation]!.input;
        const shape = input ? model.shapes[input] : undefined;
        streamed = sha !== undefined && shape?.type === 'structure' && Object.values(shape.members).some((m) => m.location === 'payload' && (m.target === 'stream' || m.target === 'blob'));
      } catch (e) {
        if (e instanceof ServiceError && e.code === AMBIGUOUS) return refuse(e);
        head = undefined;
        streamed = false;
      }
    }

    const p: Prepared = { auth, model, rule, request, call: head, streamed };
    const identity = deps.identities.get(auth.accessKeyId);
    seen.p = p;
    seen.account = identity?.accountId;
    const verifyOpts: VerifyOptions = { nowMs: startedMs, services: [auth.service], credentialsFor: (id) => deps.identities.get(id), uriEscapePath: auth.service !== 's3', allowUnsignedPayload: auth.service === 's3' };
    /** A known key's failed call is recorded as that identity's, as AWS records it; then refused. */
    const refuseSigned = async (e: ServiceError, early: boolean) => {
      if (identity) await record(p, identity, startedMs, ip, { requestId: ownRequestId(), error: { code: errorCodeFor(e, format, auth.service), message: e.message } });
      return early ? refuse(e) : fail(e);
    };

    // Everything the headers allow is checked before any byte of the body is read: the key, scope,
    // region, date, session token and the payload hash's form; and when the payload hash is signed
    // (or the body streams), the whole signature.
    let headError: ServiceError | undefined;
    let verified = false;
    let payloadHash: string | undefined;
    // What the headers established, reused by both signature checks below (not redone).
    let checked: HeaderCheck | undefined;
    try {
      checked = checkSigV4Headers(headers, verifyOpts);
      payloadHash = checked.payloadHash;
      if (!deps.regions.has(auth.region)) {
        throw new ServiceError('SignatureDoesNotMatch', `Credential should be scoped to a valid region, not '${auth.region}'. This OpenTrail serves ${[...deps.regions].join(', ')}.`, 403);
      }
      // A signed x-amz-content-sha256 (a hex hash, or UNSIGNED-PAYLOAD where S3 allows it) lets the
      // signature be checked in full without the body.
      const hashSigned = sha !== undefined && p.auth.signedHeaders.includes('x-amz-content-sha256');
      if (hashSigned || streamed) {
        await verifySigV4({ ...request, body: null }, verifyOpts, checked);
        verified = true;
      }
    } catch (e) {
      if (!(e instanceof ServiceError)) throw e;
      headError = e;
    }
    // Refused from the headers: at once, unless a known key's small body is worth reading to record
    // the failed call with its parameters (at most maxUnverifiedBodyBytes, as any unverified body).
    if (headError) {
      const declared = Number(header(headers, 'content-length') ?? (header(headers, 'transfer-encoding') === undefined ? 0 : Infinity));
      if (!identity || streamed || !(declared <= maxUnverified)) return refuseSigned(headError, true);
    }
    if (streamed) {
      const upstream = opts.upstreams.services?.[auth.service] ?? opts.upstreams.default;
      if (!upstream) return refuse(new ServiceError('ServiceUnavailableException', `The OpenTrail gateway has no upstream for service '${auth.service}'.`, 503));
      return forward(req, res, p, identity!, upstream, startedMs, ip, fail);
    }

    const lease = (seen.lease = budget.lease());
    if (res.closed) lease.release();
    const limit = verified ? opts.maxBodyBytes : maxUnverified;
    const hint = verified || limit >= opts.maxBodyBytes ? '' : `; sign the payload hash (a hex x-amz-content-sha256 header) to send up to ${opts.maxBodyBytes} bytes`;
    let bodySha256: string | undefined;
    try {
      const read = await readBody(req, limit, lease, hint);
      request.body = read.body;
      bodySha256 = read.sha256;
      if (verified && payloadHash !== undefined) checkPayloadHash(payloadHash, read.sha256);
    } catch (e) {
      if (!(e instanceof ServiceError)) throw e;
      // A body that does not match its signed hash is a failed call of a verified identity.
      if (e.code === 'XAmzContentSHA256Mismatch') return refuseSigned(e, false);
      return refuse(headError ?? e);
    }
    // The signature covers the body: checked now that the body is here, before anything of it is
    // decompressed or decoded for the upstream.
    let signatureError = headError;
    if (!signatureError && !verified) {
      try {
        await verifySigV4({ ...request, bodySha256 }, verifyOpts, checked);
      } catch (e) {
        if (!(e instanceof ServiceError)) throw e;
        signatureError = e;
      }
    }
    const encoding = auth.service === 's3' ? undefined : header(headers, 'content-encoding')?.trim();
    const plain = encoding === undefined || encoding === '' || encoding === 'identity';
    if (signatureError) {
      // A known key's failed call is recorded with what its body says; a compressed body is not
      // inflated for a caller whose signature failed (the record then has no call to name: none).
      if (identity && plain) {
        try {
          p.call = chosen ? decodeRequest(model, request, opts0) : undecodedCall(request, protocol, unmodelledReason(auth.service));
        } catch (e) {
          if (!(e instanceof ServiceError)) throw e;
          if (e.code !== AMBIGUOUS) p.call = undecodedCall(request, protocol, `${e.code}: ${e.message}`);
        }
      }
      return refuseSigned(signatureError, false);
    }
    // The upstream decodes a gzip body (CloudWatch PutMetricData is compressed by the SDKs), so
    // the gateway decodes what the upstream will read, bounded like the body itself and counted
    // against the in-flight budget.
    if (encoding === 'gzip') {
      try {
        const parts: Buffer[] = [];
        for await (const part of decodedChunks(request.body!, 'gzip', opts.maxBodyBytes, lease)) parts.push(part);
        request.content = Buffer.concat(parts);
      } catch (e) {
        if (!(e instanceof ServiceError)) throw e;
        if (e.code === 'RequestEntityTooLargeException') return fail(new ServiceError(e.code, `The decompressed request body is larger than the gateway's limit of ${opts.maxBodyBytes} bytes.`, 413));
        if (e.code === 'SerializationException') return fail(new ServiceError(e.code, 'The request body is not valid gzip.', 400));
        return fail(e);
      }
    } else if (!plain) {
      return fail(new ServiceError(AMBIGUOUS, `Ambiguous request: Content-Encoding '${encoding!.slice(0, 100)}' is not one the gateway can decode (gzip or identity); it cannot know what the upstream would read.`, 400));
    }

    // A form body names its API version: of several query models sharing a signing name (ELB and
    // ELBv2), the one it names decodes it.
    if (chosen && protocol === 'awsQuery' && request.method === 'POST') {
      const again = chooseModel(auth.service, request);
      if (again && again.model !== model) {
        model = p.model = again.model;
        rule = p.rule = rulesOf(again.id, auth.service);
        opts0 = { memberCase: rule.memberCase, pathStyleHosts };  // another model: its protocol is read anew
      }
    }
    try {
      p.call = chosen ? decodeRequest(model, request, opts0) : undecodedCall(request, protocol, unmodelledReason(auth.service));
    } catch (e) {
      if (!(e instanceof ServiceError)) throw e;
      // A request another reader could take for another operation is refused; one the gateway
      // cannot read at all (an operation or service its models lack, a body it cannot parse) goes
      // to the upstream, which decides, and is recorded as UnknownOperation.
      if (e.code === AMBIGUOUS) return fail(e);
      p.call = undecodedCall(request, protocol, `${e.code}: ${e.message}`);
    }
    const upstream = opts.upstreams.services?.[auth.service] ?? opts.upstreams.default;
    if (!upstream) return fail(new ServiceError('ServiceUnavailableException', `The OpenTrail gateway has no upstream for service '${auth.service}'.`, 503));
    await forward(req, res, p, identity!, upstream, startedMs, ip, fail);
  }

  async function forward(req: IncomingMessage, res: ServerResponse, p: Prepared, identity: Identity, upstream: UpstreamConfig, startedMs: number, ip: string, fail: (e: ServiceError) => void): Promise<void> {
    const target = endpointOf(upstream);
    const path = req.url ?? '/';
    // The gateway frames what it forwards: a body read whole goes with its own length.
    const reframed = !p.streamed && (p.request.headers['content-length'] !== undefined || (p.request.body?.length ?? 0) > 0);
    const resign = Boolean(upstream.accessKeyId && upstream.secretAccessKey) && upstream.accessKeyId !== p.auth.accessKeyId;
    // Passed through, the headers go as a flat name/value list (undici writes it as it is, without
    // building a header map); re-signed, as the signer's object.
    let headers: Record<string, string | string[]> | string[];
    if (!resign) {
      const list: string[] = [];
      for (const k in p.request.headers) {
        const v = p.request.headers[k];
        if (v === undefined || HOP_BY_HOP.has(k) || (reframed && k === 'content-length')) continue;
        if (typeof v === 'string') list.push(k, v);
        else for (const x of v) list.push(k, x);
      }
      if (reframed) list.push('content-length', String(p.request.body?.length ?? 0));
      headers = list;
    } else {
      const copy: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(p.request.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) copy[k] = v;
      if (reframed) copy['content-length'] = String(p.request.body?.length ?? 0);
      headers = copy;
      const sha = header(copy, 'x-amz-content-sha256');
      if (sha?.startsWith('STREAMING-AWS4-HMAC-SHA256')) {
        req.resume();
        return fail(new ServiceError('NotImplemented', 'Chunk-signed uploads cannot be re-signed for the upstream; sign the payload (or send it unsigned) instead.', 501));
      }
      const plain: Record<string, string> = {};
      for (const [k, v] of Object.entries(copy)) if (!RESIGNED.has(k)) plain[k] = Array.isArray(v) ? v.join(',') : v;
      // Signed as the AWS SDK signs (src/core/sigv4-sign.ts, held to @smithy/signature-v4 by its
      // property test), without the SDK signer's object and promise chain per request.
      headers = signRequest(
        { method: p.request.method, host: target.host, path: p.request.path, query: signingQuery(p.request.rawQuery), headers: plain, body: p.request.body ?? undefined },
        { credentials: { accessKeyId: upstream.accessKeyId!, secretAccessKey: upstream.secretAccessKey!, sessionToken: upstream.sessionToken }, region: p.auth.region, service: p.auth.service, uriEscapePath: p.auth.service !== 's3', contentSha256: false, nowMs: deps.clock.nowMs() },
      );
    }

    const capture = captureOfCall(p.rule, p.call!);
    const recorded = capture !== 'none';
    const readOnly = readOnlyOf(p.rule, p.call!, p.request.method);
    let bytesIn = p.request.body?.length ?? 0;
    let hashMismatch = false;
    // The body that goes upstream: read whole, or streamed through a meter that hashes it and holds
    // its last chunk back until the hash is checked, so a body that does not match its signed hash
    // never reaches the upstream whole.
    let meter: Transform | undefined;
    if (p.streamed) {
      const declared = header(p.request.headers, 'x-amz-content-sha256')!;
      const hash = /^[0-9a-f]{64}$/.test(declared) ? createHash('sha256') : undefined;
      let last: Buffer | undefined;
      meter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          bytesIn += chunk.length;
          hash?.update(chunk);
          const previous = last;
          last = chunk;
          cb(null, previous);
        },
        flush(cb) {
          if (hash && hash.digest('hex') !== declared) {
            hashMismatch = true;
            cb(new Error('payload hash mismatch'));
          } else cb(null, last);
        },
      });
    }

    // undici's dispatch with a handler: the cheapest HTTP/1.1 client exchange Node has (no
    // ClientRequest/IncomingMessage streams per call; docs/performance.md "Issue 11, sixth round").
    let upstreamCall: Dispatcher.DispatchController | undefined;
    const agent = upstreamAgent ?? await upstreamAgentReady;
    const done = new Promise<void>((resolve) => {
      let status = 502;
      let keep = false;
      const kept: Buffer[] = [];
      let keptBytes = 0;
      let bytesOut = 0;
      let complete = true;
      let raw: string[] = [];
      let distinct: Record<string, string[]> = {};
      // When the answer must wait for the record, the client must not be able to see it complete
      // before then: the headers (a body may be empty) and the last chunk are held back.
      const holdBack = recorded && opts.recordBeforeAnswer;
      let held: Buffer | undefined;
      let started = false;
      const flushHead = () => {
        if (!res.headersSent) res.writeHead(status, raw);
      };
      // Backpressure: the upstream's answer is paused while the client's socket is full, and
      // resumed when it drains or closes (the listeners are added only when a write fills it).
      let resumeOn: (() => void) | undefined;
      const write = (c: Buffer, controller: Dispatcher.DispatchController) => {
        // A client that went away no longer takes the answer; the upstream's is still read to its
        // end, so that the call is recorded.
        if (res.destroyed || res.write(c)) return;
        if (resumeOn || res.closed) return;
        controller.pause();
        const resume = (resumeOn = () => {
          res.off('drain', resume);
          res.off('close', resume);
          resumeOn = undefined;
          controller.resume();
        });
        res.once('drain', resume);
        res.once('close', resume);
      };
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(controller) {
          upstreamCall = controller;
        },
        onResponseStart(controller, statusCode) {
          started = true;
          status = statusCode;
          keep = recorded && (status >= 300 || (!readOnly && p.call!.protocol !== 'awsQuery' && p.call!.protocol !== 'restXml'));
          const rawHeaders = (controller.rawHeaders ?? []) as (Buffer | string)[];
          raw = [];
          // The headers by name are read only to record the call (decodeAnswer, x-amz-id-2).
          distinct = Object.create(null) as Record<string, string[]>;
          for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
            const name = rawHeaders[i]!.toString('latin1');
            const value = rawHeaders[i + 1]!.toString('latin1');
            const lower = name.toLowerCase();
            if (recorded) (distinct[lower] ??= []).push(value);
            if (!HOP_BY_HOP.has(lower)) raw.push(name, value);
          }
          if (!holdBack) flushHead();
        },
        onResponseData(controller, c) {
          bytesOut += c.length;
          if (keep) {
            if (keptBytes + c.length <= maxAnswerBytes) {
              kept.push(c);
              keptBytes += c.length;
            } else complete = false;
          }
          if (!holdBack) return write(c, controller);
          if (held) {
            flushHead();
            write(held, controller);
          }
          held = c;
        },
        onResponseEnd() {
          void (async () => {
            if (recorded && !hashMismatch) {
              // A hostile or odd upstream answer must not leave the client without its answer nor
              // the call unrecorded: an answer that cannot be decoded is recorded without its elements.
              let a: ReturnType<typeof decodeAnswer> = {};
              try {
                a = decodeAnswer(p.model, p.call!, status, distinct, Buffer.concat(kept), complete, { memberCase: p.rule.memberCase });
              } catch (err) {
                deps.logError(`gateway: could not decode the answer to ${p.rule.eventSource} ${p.call!.operation}`, err);
              }
              let stored: Promise<void> = Promise.resolve();
              try {
                stored = record(p, identity, startedMs, ip, { ...a, bytesIn, bytesOut, amzId2: distinct['x-amz-id-2']?.[0] });
              } catch (err) {
                deps.logError(`gateway: could not record ${p.rule.eventSource} ${p.call!.operation}`, err);
              }
              if (holdBack) await stored;
            }
            flushHead();
            res.end(held);
            resolve();
          })();
        },
        onResponseError(_controller, err) {
          if (started) {
            // The answer broke off after it began: the client's is cut off too.
            res.destroy();
            resolve();
            return;
          }
          void (async () => {
            // A body that did not match its signed hash cut the upstream request on purpose: that
            // path answers (400, once recorded), not this one.
            if (hashMismatch) {
              resolve();
              return;
            }
            if (!res.headersSent) {
              const cause = (err as { cause?: { code?: string } }).cause?.code;
              const e = new ServiceError('ServiceUnavailableException', `The upstream of the OpenTrail gateway did not answer: ${(err as NodeJS.ErrnoException).code ?? cause ?? err.message}`, 503);
              if (recorded) await record(p, identity, startedMs, ip, { error: { code: e.code, message: e.message } });
              fail(e);
            } else res.destroy();
            resolve();
          })();
        },
      };
      if (!meter && reframed && (p.request.body?.length ?? 0) === 0 && !PAYLOAD_METHODS.has(p.request.method)) {
        nodeAgents ??= { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
        dispatchByNodeHttp(target.protocol === 'https:' ? nodeAgents.https : nodeAgents.http, target, { method: p.request.method, path, headers, body: p.request.body }, handler);
      } else agent.dispatch({ origin: target.origin, method: p.request.method, path, headers, body: meter ?? p.request.body ?? null }, handler);
    });

    if (meter) {
      req.pipe(meter);
      meter.on('error', () => {
        // The upstream never gets a complete request: the connection is cut before the last byte.
        upstreamCall?.abort(new Error('request body refused'));
        if (hashMismatch) {
          const e = new ServiceError('XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.", 400);
          void record(p, identity, startedMs, ip, { error: { code: e.code, message: e.message } }).then(() => fail(e));
        }
      });
      // Before undici has connected there is no call to abort: ending the body stream with an error
      // makes undici give the request up (else it would wait for body bytes that never come).
      req.on('error', () => {
        const e = new Error('the client\'s request broke off');
        upstreamCall?.abort(e);
        meter.destroy(e);
      });
    }
    await done;
  }

  return server;
}
