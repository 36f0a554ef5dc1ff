/**
 * Decoding an AWS request by its protocol, with the service's model: which operation it calls and
 * its input members, merged from path, query, headers and body as CloudTrail shows them in
 * requestParameters. Also the upstream's answer: error code and message, request id, and the output
 * members CloudTrail shows in responseElements.
 *
 * The protocol is read off the request (a CloudWatch call may arrive as awsQuery, awsJson1_0 or
 * rpcv2Cbor, depending on the SDK), not off the model.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { cbor, tagSymbol } from '@smithy/core/cbor';
import { ServiceError } from '../errors.ts';
import { loadModel, modelsFor, type ModelEntry, type ModelMember, type ModelShape, type Protocol, type ServiceModel } from './model.ts';

export const HIDDEN = 'HIDDEN_DUE_TO_SECURITY_REASONS';

export interface GatewayRequest {
  method: string;
  /** Path as sent (percent-encoded), without the query. */
  path: string;
  rawQuery: string;
  /** Lower-case header names. */
  headers: Record<string, string | string[] | undefined>;
  /** The body, or null when it was streamed to the upstream without being kept. */
  body: Buffer | null;
  /** The body after its Content-Encoding (gzip) was undone, when it had one; what is decoded. */
  content?: Buffer;
}

export interface DecodeOptions {
  /** How structure member names are written (CloudTrail spells them per service). */
  memberCase: 'model' | 'lowerCamel';
  /** Host names (lower case, no port) that address the gateway itself, path style, for S3. */
  pathStyleHosts?: readonly string[];
  /**
   * What requestProtocol already read for this same request and model (its checks then not
   * redone); its checks need no body, so the gateway reads it once before and reuses it after.
   */
  protocol?: Protocol;
}

export interface DecodedCall {
  /** The model's operation, or UNKNOWN_OPERATION when the gateway could not decode the call. */
  operation: string;
  protocol: Protocol;
  /** Input members by (cased) member name; sensitive values hidden. Empty when there are none. */
  params: Record<string, unknown>;
  /** Set when the body could not be decoded (the call is still recorded, without those members). */
  bodyError?: string;
  /** Set when the call was not decoded: what the request named, and why it could not be read. */
  undecoded?: { requested: string; reason: string };
}

/** The eventName of a call the gateway passed through without decoding it. */
export const UNKNOWN_OPERATION = 'UnknownOperation';

/**
 * A call the gateway could not decode (an operation or service its models do not have, a body it
 * cannot read), passed through and recorded as UnknownOperation with what the request named: its
 * X-Amz-Target, its rpcv2Cbor path, its Action, else its method and path.
 */
export function undecodedCall(req: GatewayRequest, protocol: Protocol, reason: string): DecodedCall {
  const target = header(req.headers, 'x-amz-target');
  let requested: string;
  if (target !== undefined) requested = target;
  else if (protocol === 'awsQuery' || protocol === 'ec2Query') {
    const form = mediaType(req.headers) === 'application/x-www-form-urlencoded' && req.method === 'POST' ? new URLSearchParams((req.content ?? req.body ?? Buffer.alloc(0)).toString('utf8')) : new URLSearchParams(req.rawQuery);
    requested = form.get('Action') ?? `${req.method} ${req.path}`;
  } else requested = `${req.method} ${req.path}`;
  return { operation: UNKNOWN_OPERATION, protocol, params: {}, undecoded: { requested: requested.slice(0, 256), reason: reason.slice(0, 256) } };
}

const unknownOperation = (what: string) => new ServiceError('UnknownOperationException', `Unknown operation ${what}`, 404);

/** A header's value; a header sent more than once as its values joined by commas. */
export function header(h: GatewayRequest['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : v;
}

// ---------- deciding the operation: one reading, or none ----------

/**
 * A request whose operation (or protocol) could be read two ways is refused before it reaches the
 * upstream: the gateway records what it decided, so the upstream must not be able to decide
 * otherwise. docs/gateway.md ("How the operation is decided") lists every rule and why.
 */
export const AMBIGUOUS = 'AmbiguousRequestException';
const ambiguous = (msg: string) => new ServiceError(AMBIGUOUS, `Ambiguous request: ${msg}`, 400);
const serialization = (msg: string) => new ServiceError('SerializationException', msg, 400);

/** Headers whose every value must be single: each decides how the request is read or framed. */
const SINGLE_HEADERS = new Set([
  'host', 'content-type', 'content-length', 'content-encoding', 'transfer-encoding', 'x-amz-target', 'x-amzn-target',
  'smithy-protocol', 'authorization', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256', 'x-amz-copy-source',
]);
/** Headers some servers and frameworks read as "use this method instead". */
const METHOD_OVERRIDES = ['x-http-method-override', 'x-http-method', 'x-method-override'];
const RPC_PATH = /^\/service\/([A-Za-z0-9_]+)\/operation\/([A-Za-z0-9_]+)$/;

function isRestProtocol(p: Protocol): boolean {
  return p === 'restJson1' || p === 'restXml';
}

/** The media type of a Content-Type, lower case, without parameters. */
function mediaType(h: GatewayRequest['headers']): string | undefined {
  const ct = header(h, 'content-type');
  return ct === undefined ? undefined : ct.split(';')[0]!.trim().toLowerCase();
}

/** Names of parameters spelled like `Action` in any case; a form/query is read as URLSearchParams reads it. */
function actionKeys(params: URLSearchParams): string[] {
  const out: string[] = [];
  for (const k of params.keys()) if (k.toLowerCase() === 'action') out.push(k);
  return out;
}

/** The method, target, header and query checks every protocol shares (no body needed). */
function checkCommon(req: GatewayRequest, model: ServiceModel): void {
  if (!req.path.startsWith('/')) {
    throw ambiguous(`the request target '${req.path.slice(0, 100)}' is not a path; send origin-form ('/...')`);
  }
  if (req.path.includes('#') || req.rawQuery.includes('#')) throw ambiguous("the request target contains '#'; servers differ on whether a fragment ends the path or the query");
  if (req.rawQuery.includes(';')) throw ambiguous("the query string contains a raw ';'; some servers split parameters on it (send it as %3B)");
  for (const [name, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    if (Array.isArray(v) && v.length > 1 && (SINGLE_HEADERS.has(name) || name.startsWith('x-amz-') || name.startsWith('x-amzn-'))) {
      throw ambiguous(`header '${name}' is sent ${v.length} times; the upstream may read a different one`);
    }
    if (name.includes('_')) {
      const dashed = name.replace(/_/g, '-');
      if (SINGLE_HEADERS.has(dashed) || dashed.startsWith('x-amz') || dashed === 'action' || METHOD_OVERRIDES.includes(dashed)) {
        throw ambiguous(`header '${name}' reads as '${dashed}' to servers that map '_' to '-'`);
      }
    }
  }
  for (const h of METHOD_OVERRIDES) if (req.headers[h] !== undefined) throw ambiguous(`header '${h}' asks for another method than ${req.method}`);
  if (req.headers.action !== undefined) throw ambiguous("an 'Action' header; some servers read parameters from headers");
  if (req.headers['x-amzn-target'] !== undefined) throw ambiguous("header 'x-amzn-target'; the gateway reads only X-Amz-Target");
  const query = new URLSearchParams(req.rawQuery);
  if (query.has('_method')) throw ambiguous("query parameter '_method' asks for another method");
  if (isRestProtocol(model.protocol)) {
    if (req.headers['x-amz-target'] !== undefined) throw ambiguous(`${model.signingName} speaks ${model.protocol}, whose operation is the method and path; X-Amz-Target would name another`);
    if (req.headers['smithy-protocol'] !== undefined) throw ambiguous(`${model.signingName} speaks ${model.protocol}, not the protocol named by smithy-protocol`);
    const actions = actionKeys(query);
    if (actions.length > 0) throw ambiguous(`${model.signingName} speaks ${model.protocol}, whose operation is the method and path; query parameter '${actions[0]}' would name another`);
  }
}

/**
 * The protocol the request speaks, read off the request (a CloudWatch call may arrive as awsJson1_0,
 * rpcv2Cbor or awsQuery), checked so that exactly one reading is possible. Needs no body.
 * Throws AmbiguousRequestException (400) when signals of two protocols are present, or a signal is
 * malformed.
 */
export function requestProtocol(req: GatewayRequest, model: ServiceModel, pathStyleHosts: readonly string[] = []): Protocol {
  checkCommon(req, model);
  if (model.signingName === 's3') checkS3Host(req, pathStyleHosts);
  if (isRestProtocol(model.protocol)) return model.protocol;
  const target = header(req.headers, 'x-amz-target');
  const smithy = header(req.headers, 'smithy-protocol');
  const rpcPath = /^\/+service\//i.test(safeDecode(req.path));
  const query = new URLSearchParams(req.rawQuery);
  const form = mediaType(req.headers) === 'application/x-www-form-urlencoded';
  const queryAction = actionKeys(query).length > 0;
  const signals: string[] = [];
  if (target !== undefined) signals.push('X-Amz-Target (awsJson)');
  if (smithy !== undefined || rpcPath) signals.push('smithy-protocol or a /service/.../operation/... path (rpcv2Cbor)');
  if (form || queryAction) signals.push(form ? 'a form Content-Type (awsQuery)' : 'an Action query parameter (awsQuery)');
  if (signals.length > 1) throw ambiguous(`the request names its operation by ${signals.join(' and by ')}; send one`);
  if (smithy !== undefined || rpcPath) {
    if (smithy !== 'rpc-v2-cbor') throw ambiguous(`smithy-protocol '${smithy ?? ''}' is not rpc-v2-cbor, or is missing on a /service/.../operation/... path`);
    return 'rpcv2Cbor';
  }
  if (target !== undefined) return model.protocol === 'awsJson1_0' ? 'awsJson1_0' : 'awsJson1_1';
  if (form || queryAction) return 'awsQuery';
  // ec2Query is awsQuery on the wire (its member names and flat lists are in the model).
  return model.protocol === 'ec2Query' ? 'awsQuery' : model.protocol;
}

/**
 * S3 reads the bucket from the Host (virtual-hosted style: `bucket.s3.amazonaws.com`,
 * `bucket.localhost:4581`) or from the path; the gateway reads it from the path only. A Host that an
 * S3 server could read a bucket from is refused: only an IP address or a name without dots
 * (`localhost`, a container name), or a name configured in `gateway.hostnames`, is taken as path
 * style, as S3-compatible servers do (moto).
 */
function checkS3Host(req: GatewayRequest, pathStyleHosts: readonly string[]): void {
  const host = header(req.headers, 'host') ?? '';
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?$/.exec(host);
  const name = m?.[1] ?? '';
  const ok = m !== null && (name.startsWith('[') ? isIPv6(name.slice(1, -1)) : isIPv4(name) || /^[A-Za-z0-9-]+$/.test(name) || pathStyleHosts.includes(name.toLowerCase()));
  if (!ok) {
    throw ambiguous(`Host '${host.slice(0, 200)}' may name a bucket (virtual-hosted-style addressing), which the gateway cannot attribute; address the gateway by IP address, a host name without dots or one of gateway.hostnames, path style (forcePathStyle, addressing_style=path)`);
  }
}

/** A body that a lenient server would read as a form naming an Action (moto reads any body so). */
function checkBodyAction(body: Buffer | null | undefined, protocol: Protocol): void {
  if (!body || body.length === 0 || protocol === 'awsQuery') return;
  // A key that decodes to "action" is at most 18 bytes (%XX per letter); scan without splitting.
  const text = body.toString('latin1');
  const re = /(?:^|[&;])([^&;=]{1,18})=/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (safeDecode(m[1]!.replace(/\+/g, ' ')).toLowerCase() === 'action') throw ambiguous(`the ${protocol} body also reads as a form with an Action parameter`);
    re.lastIndex = m.index + 1;
  }
}

// ---------- values, directed by shapes ----------

const SIMPLE = new Set(['string', 'number', 'boolean', 'blob', 'stream', 'timestamp', 'document']);

/** A structure's members as a list, made once per shape (models are loaded once and never change). */
const memberLists = new WeakMap<Record<string, ModelMember>, [string, ModelMember][]>();
function memberList(members: Record<string, ModelMember>): [string, ModelMember][] {
  let list = memberLists.get(members);
  if (list === undefined) memberLists.set(members, (list = Object.entries(members)));
  return list;
}

class Walker {
  private readonly model: ServiceModel;
  private readonly opts: DecodeOptions;
  private readonly useJsonName: boolean;
  constructor(model: ServiceModel, opts: DecodeOptions, useJsonName: boolean) {
    this.model = model;
    this.opts = opts;
    this.useJsonName = useJsonName;
  }

  key(memberName: string): string {
    return this.opts.memberCase === 'lowerCamel' ? memberName.charAt(0).toLowerCase() + memberName.slice(1) : memberName;
  }

  shape(target: string): ModelShape | undefined {
    return SIMPLE.has(target) ? undefined : this.model.shapes[target];
  }

  /** A JSON/CBOR value, its structure members renamed and sensitive values hidden. */
  value(m: ModelMember, v: unknown, depth = 0): unknown {
    if (v === null || v === undefined) return v;
    if (m.sensitive) return HIDDEN;
    if (depth > 64) return undefined;
    if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
    if (typeof v === 'object' && tagSymbol in v) v = (v as unknown as { value: unknown }).value;
    if (v instanceof Date) return v.toISOString();
    if (m.target === 'timestamp' && typeof v === 'number') return new Date(v * 1000).toISOString();
    const s = this.shape(m.target);
    if (!s) return v;
    if (s.type === 'list') return Array.isArray(v) ? v.map((x) => this.value(s.member, x, depth + 1)) : v;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
    if (s.type === 'map') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = this.value(s.value, x, depth + 1);
      return out;
    }
    return this.struct(s.members, v as Record<string, unknown>, depth);
  }

  /** Body members of a structure, read by their wire names. */
  struct(members: Record<string, ModelMember>, obj: Record<string, unknown>, depth: number, bodyOnly = false): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [name, m] of memberList(members)) {
      if (bodyOnly && m.location) continue;
      const wire = this.useJsonName && m.jsonName !== undefined ? m.jsonName : name;
      if (!Object.hasOwn(obj, wire)) continue;
      const v = this.value(m, obj[wire], depth + 1);
      if (v !== undefined) out[this.key(name)] = v;
    }
    return out;
  }

  /** A string from a path label, query parameter or header, typed by its target. */
  scalar(m: ModelMember, raw: string | string[]): unknown {
    if (m.sensitive) return HIDDEN;
    const list = this.shape(m.target);
    if (list?.type === 'list') {
      const parts = Array.isArray(raw) ? raw : raw.split(',').map((x) => x.trim());
      return parts.map((p) => this.scalar(list.member, p));
    }
    const text = Array.isArray(raw) ? raw[0]! : raw;
    if (m.target === 'number' && text.trim() !== '' && Number.isFinite(Number(text))) return Number(text);
    if (m.target === 'boolean' && (text === 'true' || text === 'false')) return text === 'true';
    return text;
  }

  /** awsQuery: the dotted form keys (`Dimensions.member.1.Name`) of a structure, as a tree. */
  query(m: ModelMember, node: unknown, depth = 0): unknown {
    if (node === undefined) return undefined;
    if (m.sensitive) return HIDDEN;
    if (depth > 64) return undefined;
    const s = this.shape(m.target);
    if (!s) {
      if (typeof node !== 'string') return undefined;
      return this.scalar(m, node);
    }
    if (typeof node !== 'object' || node === null) return s.type === 'list' && node === '' ? [] : undefined;
    const tree = node as Record<string, unknown>;
    if (s.type === 'list') {
      const items = (m.flattened ? tree : tree[s.member.xmlName ?? 'member']) as Record<string, unknown> | undefined;
      if (!items || typeof items !== 'object') return [];
      return Object.keys(items).filter((k) => /^\d+$/.test(k)).sort((a, b) => +a - +b).map((k) => this.query(s.member, items[k], depth + 1));
    }
    if (s.type === 'map') {
      const entries = (m.flattened ? tree : tree.entry) as Record<string, Record<string, unknown>> | undefined;
      const out: Record<string, unknown> = {};
      if (!entries || typeof entries !== 'object') return out;
      for (const n of Object.keys(entries).filter((x) => /^\d+$/.test(x)).sort((a, b) => +a - +b)) {
        const e = entries[n];
        const key = e && typeof e === 'object' ? e[s.keyName ?? 'key'] : undefined;
        if (typeof key === 'string') out[key] = this.query(s.value, e![s.valueName ?? 'value'], depth + 1);
      }
      return out;
    }
    const out: Record<string, unknown> = {};
    for (const [name, mm] of Object.entries(s.members)) {
      const v = this.query(mm, tree[mm.xmlName ?? name], depth + 1);
      if (v !== undefined) out[this.key(name)] = v;
    }
    return out;
  }
}

/** `A.member.1.B=x` pairs as a tree; a key that is both a leaf and a branch keeps the branch. */
function queryTree(form: URLSearchParams): Record<string, unknown> {
  const root: Record<string, unknown> = Object.create(null);
  for (const [k, v] of form) {
    const parts = k.split('.');
    let node = root;
    for (let i = 0; i < parts.length - 1; i++) {
      const p = parts[i]!;
      if (typeof node[p] !== 'object' || node[p] === null) node[p] = Object.create(null);
      node = node[p] as Record<string, unknown>;
    }
    const last = parts[parts.length - 1]!;
    if (typeof node[last] !== 'object') node[last] = v;
  }
  return root;
}

// ---------- REST routing ----------

interface Route {
  operation: string;
  method: string;
  /** Literal segments, or a label (`{name}` / greedy `{name+}`). */
  segments: ({ literal: string } | { label: string; greedy: boolean })[];
  /** `?uploads`, `?list-type=2`: required query keys (value undefined: any). */
  queryLiterals: [string, string | undefined][];
  /** The `x-id` the AWS SDKs add to S3 calls that share a URI; checked when the request has one. */
  xId: string | undefined;
  score: number;
}

const routeCache = new WeakMap<ServiceModel, Route[]>();

function routes(model: ServiceModel): Route[] {
  let list = routeCache.get(model);
  if (list) return list;
  list = [];
  for (const [operation, op] of Object.entries(model.operations)) {
    if (!op.http) continue;
    const [method, uri] = op.http;
    const q = uri.indexOf('?');
    let path = q < 0 ? uri : uri.slice(0, q);
    // The SDK's S3 model leaves the bucket to endpoint rules; on the wire (path style) it leads the path.
    const input = op.input ? model.shapes[op.input] : undefined;
    if (model.signingName === 's3' && input?.type === 'structure' && input.members.Bucket?.location === 'label' && !path.startsWith('/{Bucket}')) {
      path = '/{Bucket}' + (path === '/' ? '' : path);
    }
    const segments = path.split('/').filter((s) => s !== '').map((s) => {
      const m = /^\{([^}+]+)(\+?)\}$/.exec(s);
      return m ? { label: m[1]!, greedy: m[2] === '+' } : { literal: s };
    });
    const xId = /(?:^|&)x-id=([^&]+)/.exec(q < 0 ? '' : uri.slice(q + 1))?.[1];
    const queryLiterals = (q < 0 ? [] : uri.slice(q + 1).split('&'))
      .filter((p) => p !== '' && !p.startsWith('x-id='))
      .map((p) => { const i = p.indexOf('='); return (i < 0 ? [p, undefined] : [p.slice(0, i), p.slice(i + 1)]) as [string, string | undefined]; });
    const literals = segments.filter((s) => 'literal' in s).length;
    const greedy = segments.some((s) => 'greedy' in s && s.greedy);
    list.push({ operation, method, segments, queryLiterals, xId, score: literals * 100 + queryLiterals.length * 10 + segments.length - (greedy ? 5 : 0) });
  }
  list.sort((a, b) => b.score - a.score);
  routeCache.set(model, list);
  return list;
}

const COPY_PAIRS = new Set(['CopyObject', 'PutObject', 'UploadPartCopy', 'UploadPart']);

interface RouteMatch { route: Route; labels: Record<string, string> }

/**
 * The routes that fit best, by method, path segments (already decoded), query literals and the
 * required query members and headers; several when they tie. `x-id` plays no part: S3 ignores it.
 */
function matchRoutes(model: ServiceModel, req: GatewayRequest, query: URLSearchParams, segs: string[], foldCase: boolean): RouteMatch[] {
  const copy = req.headers['x-amz-copy-source'] !== undefined;
  let best: RouteMatch[] = [];
  let bestScore = -Infinity;
  for (const route of routes(model)) {
    if (route.method !== req.method) continue;
    if (!route.queryLiterals.every(([k, v]) => query.has(k) && (v === undefined || query.get(k) === v))) continue;
    const labels = matchSegments(route.segments, segs, foldCase);
    if (!labels) continue;
    // S3's copy calls differ from their plain forms only by the x-amz-copy-source header.
    if (model.signingName === 's3' && COPY_PAIRS.has(route.operation) && (route.operation === 'CopyObject' || route.operation === 'UploadPartCopy') !== copy) continue;
    // Operations sharing a URI differ by their required query members and headers.
    const input = model.operations[route.operation]!.input;
    const shape = input ? model.shapes[input] : undefined;
    let present = 0;
    let missing = false;
    if (shape?.type === 'structure') {
      for (const [name, m] of Object.entries(shape.members)) {
        const has = m.location === 'query' ? query.has(m.name ?? name) : m.location === 'header' ? req.headers[(m.name ?? name).toLowerCase()] !== undefined : undefined;
        if (has === undefined) continue;
        if (has && m.location === 'query') present++;
        if (!has && m.required) missing = true;
      }
    }
    if (missing) continue;
    const score = route.score + present * 1000;
    if (score > bestScore) {
      bestScore = score;
      best = [{ route, labels }];
    } else if (score === bestScore) best.push({ route, labels });
  }
  return best;
}

/** Among tied routes, the one the SDK's `x-id` names, else the first. */
function pick(candidates: RouteMatch[], xId: string | null): RouteMatch | undefined {
  return (xId !== null ? candidates.find((c) => c.route.xId === xId) : undefined) ?? candidates[0];
}

/** Whether a REST model has an operation for the request's method and path as sent (or under any reading). */
function routesTo(model: ServiceModel, req: GatewayRequest, anyReading: boolean): boolean {
  const query = new URLSearchParams(req.rawQuery);
  const readings = anyReading ? pathReadings(req.path) : [{ segs: req.path.slice(1).split('/').map(safeDecode), foldCase: false }];
  return readings.some((r) => matchRoutes(model, req, query, r.segs, r.foldCase ?? false).length > 0);
}

export interface ChosenModel { id: string; model: ServiceModel }

/**
 * Which model a request signed for `signingName` is decoded with; undefined when no model signs
 * with that name. Most signing names have one model (a map lookup). Where several share one (API
 * Gateway v1 and v2; ELB and ELBv2; the SageMaker, Lex, Bedrock runtimes ...), the request's own
 * signals choose: its X-Amz-Target prefix (or rpcv2Cbor service name) and operation; its awsQuery
 * Version and Action (from the body once it is read); the REST model that routes its method and
 * path; else the first (the hand-checked one, or the one whose endpoint prefix is the signing name).
 */
export function chooseModel(signingName: string, req: GatewayRequest): ChosenModel | undefined {
  const entries = modelsFor(signingName);
  const load = (e: ModelEntry | undefined): ChosenModel | undefined => {
    const model = e && loadModel(e.id);
    return model && { id: e.id, model };
  };
  if (entries.length <= 1) return load(entries[0]);
  const has = (c: ChosenModel | undefined, op: string | null) => c !== undefined && (op === null || Object.hasOwn(c.model.operations, op));
  const target = header(req.headers, 'x-amz-target');
  const rpc = RPC_PATH.exec(req.path);
  if (target !== undefined || rpc) {
    const dot = target?.indexOf('.') ?? -1;
    const [service, op] = target !== undefined ? [target.slice(0, dot < 0 ? target.length : dot), dot < 0 ? null : target.slice(dot + 1)] : [rpc![1]!, rpc![2]!];
    const named = entries.filter((e) => e.target === service);
    for (const e of named) {
      const c = load(e);
      if (has(c, op)) return c;
    }
    return load(named[0] ?? entries[0]);
  }
  const query = new URLSearchParams(req.rawQuery);
  const form = mediaType(req.headers) === 'application/x-www-form-urlencoded';
  if (form || actionKeys(query).length > 0) {
    const content = req.content ?? req.body;
    const params = form && req.method === 'POST' ? new URLSearchParams((content ?? Buffer.alloc(0)).toString('utf8')) : query;
    const version = params.get('Version');
    const action = params.get('Action');
    const queryModels = entries.filter((e) => e.protocol === 'awsQuery' || e.protocol === 'ec2Query');
    for (const e of queryModels) {
      if (version !== null && e.apiVersion !== version) continue;
      const c = load(e);
      if (has(c, action)) return c;
    }
    return load(queryModels[0] ?? entries[0]);
  }
  // The model that routes the path as sent; else one that routes it under another reading (its
  // decoding then refuses the request as ambiguous rather than pass it through unnamed).
  for (const anyReading of [false, true]) {
    for (const e of entries) {
      if (e.protocol !== 'restJson1' && e.protocol !== 'restXml') continue;
      const c = load(e);
      if (c && routesTo(c.model, req, anyReading)) return c;
    }
  }
  return load(entries[0]);
}

/** RFC 3986 remove_dot_segments over decoded segments. */
function removeDots(segs: string[]): string[] {
  const out: string[] = [];
  for (const s of segs) {
    if (s === '.') continue;
    if (s === '..') out.pop();
    else out.push(s);
  }
  return out;
}

/**
 * How servers and proxies may read a path: as sent (segments decoded one by one, as AWS's routers
 * do), with `//` merged, decoded before splitting (`%2F` and `\` as separators), and with `.`/`..`
 * segments resolved. The first reading decides; the others must not route to another operation.
 */
function pathReadings(path: string): { name: string; segs: string[]; foldCase?: boolean }[] {
  const raw = path.slice(1).split('/');
  const asSent = raw.map(safeDecode);
  const decoded = safeDecode(path).replace(/\\/g, '/').slice(1).split('/');
  const nonEmpty = (a: string[]) => a.filter((x) => x !== '');
  return [
    { name: 'as sent', segs: asSent },
    { name: "with '//' merged", segs: nonEmpty(asSent) },
    { name: 'with dot segments resolved', segs: removeDots(asSent) },
    { name: "with dot segments resolved and '//' merged", segs: nonEmpty(removeDots(asSent)) },
    { name: "decoded before splitting ('%2F', '\\' as '/')", segs: decoded },
    { name: "decoded before splitting, '//' merged", segs: nonEmpty(decoded) },
    { name: 'decoded before splitting, dot segments resolved', segs: removeDots(decoded) },
    { name: "decoded before splitting, dot segments resolved, '//' merged", segs: nonEmpty(removeDots(decoded)) },
    { name: 'with its literal segments in another case', segs: asSent, foldCase: true },
  ];
}

/**
 * The REST operation of a request: the route of the path as sent (or, when that fits none, with
 * `//` merged); refused when another reading of the path routes elsewhere, or `x-id` names another
 * operation, or a query parameter the operation reads once is sent twice.
 */
function matchRoute(model: ServiceModel, req: GatewayRequest, query: URLSearchParams): RouteMatch | undefined {
  const xId = query.get('x-id');
  if (query.getAll('x-id').length > 1) throw ambiguous("query parameter 'x-id' is sent more than once");
  const readings = pathReadings(req.path);
  // Most paths read the same several ways (no '//', dot segment or escape): each distinct reading is matched once.
  const byReading = new Map<string, RouteMatch[]>();
  const decisions = readings.map((r) => {
    const key = `${r.foldCase ? 1 : 0}${JSON.stringify(r.segs)}`;
    let d = byReading.get(key);
    if (d === undefined) byReading.set(key, (d = matchRoutes(model, req, query, r.segs, r.foldCase ?? false)));
    return d;
  });
  const primaryIndex = decisions[0]!.length > 0 ? 0 : 1;
  const primary = decisions[primaryIndex]!;
  if (primary.length === 0) {
    // Routed nowhere as sent: the gateway would pass it through as UnknownOperation, so no other
    // reading may route it to an operation the upstream could run unnamed.
    const other = decisions.findIndex((d) => d.length > 0);
    if (other >= 0) throw ambiguous(`the path routes to no operation as sent, but to ${pick(decisions[other]!, xId)!.route.operation} ${readings[other]!.name}; servers differ on which`);
    return undefined;
  }
  const chosen = pick(primary, xId)!;
  if (xId !== null && chosen.route.operation !== xId && !primary.some((c) => c.route.xId === xId)) {
    throw ambiguous(`x-id names ${xId.slice(0, 100)}, but the method, path, query and headers are those of ${chosen.route.operation}`);
  }
  decisions.forEach((d, i) => {
    const other = pick(d, xId);
    if (other && other.route.operation !== chosen.route.operation) {
      throw ambiguous(`the path reads as ${chosen.route.operation} ${readings[primaryIndex]!.name}, but as ${other.route.operation} ${readings[i]!.name}; servers differ on which`);
    }
  });
  const input = model.operations[chosen.route.operation]!.input;
  const shape = input ? model.shapes[input] : undefined;
  const seen = new Set<string>();
  for (const k of query.keys()) {
    if (!seen.has(k)) {
      seen.add(k);
      continue;
    }
    const member = shape?.type === 'structure' ? Object.entries(shape.members).find(([n, m]) => m.location === 'query' && (m.name ?? n) === k)?.[1] : undefined;
    const target = member ? model.shapes[member.target] : undefined;
    if (target?.type !== 'list') throw ambiguous(`query parameter '${k.slice(0, 100)}' is sent more than once; ${chosen.route.operation} reads it once, and servers differ on which`);
  }
  return chosen;
}

function matchSegments(pattern: Route['segments'], segs: string[], foldCase: boolean): Record<string, string> | undefined {
  const labels: Record<string, string> = {};
  let i = 0;
  for (let p = 0; p < pattern.length; p++) {
    const s = pattern[p]!;
    if ('literal' in s) {
      if (segs[i] === undefined || (foldCase ? segs[i]!.toLowerCase() !== s.literal.toLowerCase() : segs[i] !== s.literal)) return undefined;
      i++;
    } else if (s.greedy) {
      const rest = segs.slice(i, segs.length - (pattern.length - p - 1));
      const joined = rest.join('/');
      if (joined === '') return undefined;
      labels[s.label] = joined;
      i += rest.length;
    } else {
      if (segs[i] === undefined || segs[i] === '') return undefined;
      labels[s.label] = segs[i]!;
      i++;
    }
  }
  return i === segs.length ? labels : undefined;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

// ---------- the request ----------

/**
 * The operation and input members of a request. Throws UnknownOperationException (404) when the
 * model has no operation for it; a body that cannot be parsed leaves `bodyError` set.
 */
export function decodeRequest(model: ServiceModel, req: GatewayRequest, opts: DecodeOptions): DecodedCall {
  const protocol = opts.protocol ?? requestProtocol(req, model, opts.pathStyleHosts);
  const query = new URLSearchParams(req.rawQuery);
  const walker = new Walker(model, opts, protocol === 'restJson1');
  const inputOf = (operation: string) => {
    const input = model.operations[operation]?.input;
    const s = input ? model.shapes[input] : undefined;
    return s?.type === 'structure' ? s.members : {};
  };

  const content = req.content ?? req.body;
  checkBodyAction(req.body, protocol);
  if (req.content) checkBodyAction(req.content, protocol);

  if (protocol === 'rpcv2Cbor' || protocol === 'awsJson1_0' || protocol === 'awsJson1_1') {
    if (req.method !== 'POST') throw ambiguous(`${protocol} requests are POSTs, not ${req.method}`);
    if (req.rawQuery !== '') throw ambiguous(`${protocol} requests carry no query string; the upstream might read parameters from it`);
    const ct = mediaType(req.headers);
    let operation: string;
    if (protocol === 'rpcv2Cbor') {
      const m = RPC_PATH.exec(req.path);
      if (!m) throw ambiguous(`the rpcv2Cbor path '${req.path.slice(0, 200)}' is not /service/<name>/operation/<name>`);
      if (model.target !== undefined && m[1] !== model.target) throw ambiguous(`the rpcv2Cbor path names service '${m[1]}', not ${model.signingName}'s '${model.target}'`);
      if (ct !== undefined ? ct !== 'application/cbor' : content !== null && content.length > 0) {
        throw ambiguous(`an rpcv2Cbor body must be sent as application/cbor, not '${ct ?? ''}'`);
      }
      operation = m[2]!;
    } else {
      if (req.path !== '/') throw ambiguous(`${protocol} requests go to '/', not '${req.path.slice(0, 200)}'; the upstream might route by the path`);
      if (ct !== 'application/x-amz-json-1.0' && ct !== 'application/x-amz-json-1.1') {
        throw ambiguous(`an X-Amz-Target request must be sent as application/x-amz-json-1.0 or -1.1, not '${ct ?? ''}'; the upstream might read the body as another protocol`);
      }
      const target = header(req.headers, 'x-amz-target');
      if (target === undefined) throw unknownOperation(req.path);
      const dot = target.indexOf('.');
      const prefix = target.slice(0, dot);
      operation = target.slice(dot + 1);
      if (dot < 0 || operation.includes('.') || (model.target !== undefined && prefix !== model.target)) {
        throw ambiguous(`X-Amz-Target '${target.slice(0, 200)}' is not '${model.target ?? '<service>'}.<Operation>'`);
      }
    }
    if (!Object.hasOwn(model.operations, operation)) throw unknownOperation(operation);
    const call: DecodedCall = { operation, protocol, params: {} };
    if (content && content.length > 0) {
      let body: unknown;
      try {
        body = protocol === 'rpcv2Cbor' ? cbor.deserialize(content) : JSON.parse(content.toString('utf8'));
      } catch (e) {
        throw serialization(`The ${protocol} body could not be read: ${(e as Error).message}`.slice(0, 300));
      }
      if (!body || typeof body !== 'object' || Array.isArray(body)) throw serialization(`The ${protocol} body must be an object (a ${protocol === 'rpcv2Cbor' ? 'CBOR map' : 'JSON object'}).`);
      call.params = walker.struct(inputOf(operation), body as Record<string, unknown>, 0);
    }
    return call;
  }

  if (protocol === 'awsQuery') {
    if (req.path !== '/') throw ambiguous(`awsQuery requests go to '/', not '${req.path.slice(0, 200)}'; the upstream might route by the path`);
    const isForm = mediaType(req.headers) === 'application/x-www-form-urlencoded';
    let form: URLSearchParams;
    if (req.method === 'POST' && isForm) {
      if (req.rawQuery !== '') throw ambiguous('an awsQuery form POST carries no query string; the upstream might read parameters from either');
      form = new URLSearchParams((content ?? Buffer.alloc(0)).toString('utf8'));
    } else if (req.method === 'GET' && (!content || content.length === 0)) {
      form = query;
    } else {
      throw ambiguous(`awsQuery requests are a POST with a form body (application/x-www-form-urlencoded) or a GET with a query string, not a ${req.method}${isForm ? ' form' : ''} with ${content && content.length > 0 ? 'a body' : 'no body'}`);
    }
    const seen = new Set<string>();
    for (const k of form.keys()) {
      const lower = k.toLowerCase();
      if (seen.has(lower)) throw ambiguous(`awsQuery parameter '${k.slice(0, 100)}' is sent more than once (or in two spellings); the upstream may read a different one`);
      seen.add(lower);
      if ((lower === 'action' && k !== 'Action') || (lower === 'version' && k !== 'Version')) throw ambiguous(`awsQuery parameter '${k}' is spelled unlike '${lower === 'action' ? 'Action' : 'Version'}'`);
    }
    const operation = form.get('Action') ?? '';
    const version = form.get('Version');
    if (version !== null && model.apiVersion !== '' && version !== model.apiVersion) throw ambiguous(`Version '${version.slice(0, 50)}' is not ${model.signingName}'s API version ${model.apiVersion}`);
    if (!Object.hasOwn(model.operations, operation)) throw unknownOperation(operation);
    const input = model.operations[operation]!.input;
    const tree = queryTree(form);
    const params = input ? (walker.query({ target: input }, tree) as Record<string, unknown>) : {};
    return { operation, protocol, params: params ?? {} };
  }

  const match = matchRoute(model, req, query);
  if (!match) throw unknownOperation(`${req.method} ${req.path}`);
  const operation = match.route.operation;
  const members = inputOf(operation);
  const call: DecodedCall = { operation, protocol, params: {} };
  const params = call.params;
  const bound = new Set<string>();
  for (const [name, m] of Object.entries(members)) {
    let v: unknown;
    switch (m.location) {
      case 'label': {
        const raw = match.labels[name] ?? match.labels[m.name ?? name];
        if (raw !== undefined) v = walker.scalar(m, raw);
        break;
      }
      case 'query': {
        const all = query.getAll(m.name ?? name);
        bound.add(m.name ?? name);
        if (all.length > 0) v = walker.scalar(m, walker.shape(m.target)?.type === 'list' ? all : all[0]!);
        break;
      }
      case 'header': {
        const raw = header(req.headers, (m.name ?? name).toLowerCase());
        if (raw !== undefined) v = walker.scalar(m, raw);
        break;
      }
      case 'prefixHeaders': {
        const prefix = (m.name ?? '').toLowerCase();
        const found: Record<string, string> = {};
        for (const [h, hv] of Object.entries(req.headers)) {
          if (prefix !== '' && h.startsWith(prefix) && hv !== undefined) found[h.slice(prefix.length)] = m.sensitive ? HIDDEN : Array.isArray(hv) ? hv.join(',') : hv;
        }
        if (Object.keys(found).length > 0) v = found;
        break;
      }
      case 'payload': {
        if (content && content.length > 0 && m.target !== 'stream' && m.target !== 'blob') {
          const s = walker.shape(m.target);
          if (m.target === 'string') v = m.sensitive ? HIDDEN : content.toString('utf8');
          else if (protocol === 'restJson1' && (s || m.target === 'document')) {
            try {
              v = walker.value(m, JSON.parse(content.toString('utf8')));
            } catch (e) {
              call.bodyError = (e as Error).message;
            }
          }
        }
        break;
      }
      default:
        break;
    }
    if (v !== undefined) params[walker.key(name)] = v;
  }
  const queryParams = Object.entries(members).find(([, m]) => m.location === 'queryParams');
  if (queryParams) {
    const rest: Record<string, string> = {};
    for (const [k, v] of query) if (!bound.has(k) && !match.route.queryLiterals.some(([lk]) => lk === k)) rest[k] = v;
    if (Object.keys(rest).length > 0) params[walker.key(queryParams[0])] = rest;
  }
  const hasBodyMembers = Object.values(members).some((m) => !m.location);
  if (protocol === 'restJson1' && hasBodyMembers && content && content.length > 0) {
    try {
      const body = JSON.parse(content.toString('utf8'));
      if (body && typeof body === 'object' && !Array.isArray(body)) Object.assign(params, walker.struct(members, body, 0, true));
    } catch (e) {
      call.bodyError = (e as Error).message;
    }
  }
  return call;
}

// ---------- the answer ----------

export interface DecodedAnswer {
  requestId?: string;
  error?: { code: string; message: string };
  /** Output members of a successful answer (JSON and CBOR protocols), cased like the request's. */
  output?: Record<string, unknown>;
}

const XML_ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
function xmlText(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml);
  return m?.[1]!.replace(/&(lt|gt|amp|quot|apos);/g, (_, e: string) => XML_ENTITIES[e]!);
}

/**
 * What the upstream answered: its request id, its error (code and message, as the protocol carries
 * them), and for successful calls the output members. `body` may be a prefix of the answer (or empty).
 */
export function decodeAnswer(model: ServiceModel, call: DecodedCall, status: number, headers: Record<string, string | string[] | undefined>, body: Buffer, complete: boolean, opts: DecodeOptions): DecodedAnswer {
  const out: DecodedAnswer = {};
  const requestId = header(headers, 'x-amzn-requestid') ?? header(headers, 'x-amz-request-id') ?? header(headers, 'x-amzn-request-id');
  if (requestId) out.requestId = requestId;
  const json = call.protocol !== 'awsQuery' && call.protocol !== 'restXml' && (call.protocol === 'rpcv2Cbor' || !/xml/.test(header(headers, 'content-type') ?? ''));
  let parsed: unknown;
  if (complete && body.length > 0 && json) {
    try {
      parsed = call.protocol === 'rpcv2Cbor' ? cbor.deserialize(body) : JSON.parse(body.toString('utf8'));
    } catch {
      parsed = undefined;
    }
  }
  if (status >= 300) {
    const text = body.toString('utf8');
    let code: string | undefined;
    let message: string | undefined;
    if (parsed && typeof parsed === 'object') {
      const p = parsed as Record<string, unknown>;
      code = [p.__type, p.code, p.Code].find((x) => typeof x === 'string') as string | undefined;
      message = [p.message, p.Message, p.errorMessage].find((x) => typeof x === 'string') as string | undefined;
    }
    if (!json || (!code && text.startsWith('<'))) {
      code ??= xmlText(text, 'Code');
      message ??= xmlText(text, 'Message');
      out.requestId ??= xmlText(text, 'RequestId') ?? xmlText(text, 'RequestID');
    }
    code = header(headers, 'x-amzn-errortype') ?? code;
    code = (code ?? `Http${status}`).split(':')[0]!.split('#').pop()!;
    out.error = { code, message: message ?? '' };
    return out;
  }
  if (!json && complete) out.requestId ??= xmlText(body.toString('utf8'), 'RequestId') ?? xmlText(body.toString('utf8'), 'requestId');
  const outputShape = model.operations[call.operation]?.output;
  const s = outputShape ? model.shapes[outputShape] : undefined;
  if (parsed && typeof parsed === 'object' && !Array.isArray(parsed) && s?.type === 'structure') {
    out.output = new Walker(model, opts, call.protocol === 'restJson1').struct(s.members, parsed as Record<string, unknown>, 0, call.protocol === 'restJson1');
  }
  return out;
}
