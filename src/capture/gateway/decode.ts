/**
 * Decoding an AWS request by its protocol, with the service's model: which operation it calls and
 * its input members, merged from path, query, headers and body as CloudTrail shows them in
 * requestParameters. Also the upstream's answer: error code and message, request id, and the output
 * members CloudTrail shows in responseElements.
 *
 * The protocol is read off the request (a CloudWatch call may arrive as awsQuery, awsJson1_0 or
 * rpcv2Cbor, depending on the SDK), not off the model.
 */
import { cbor, tagSymbol } from '@smithy/core/cbor';
import { ServiceError } from '../../aws/errors.ts';
import type { ModelMember, ModelShape, Protocol, ServiceModel } from './model.ts';

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
}

export interface DecodeOptions {
  /** How structure member names are written (CloudTrail spells them per service). */
  memberCase: 'model' | 'lowerCamel';
}

export interface DecodedCall {
  operation: string;
  protocol: Protocol;
  /** Input members by (cased) member name; sensitive values hidden. Empty when there are none. */
  params: Record<string, unknown>;
  /** Set when the body could not be decoded (the call is still recorded, without those members). */
  bodyError?: string;
}

const unknownOperation = (what: string) => new ServiceError('UnknownOperationException', `Unknown operation ${what}`, 404);

/** A header's value; a header sent more than once as its values joined by commas. */
export function header(h: GatewayRequest['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** The protocol the request speaks, from its headers and the service's model. */
export function requestProtocol(req: GatewayRequest, model: ServiceModel): Protocol {
  if (header(req.headers, 'smithy-protocol') === 'rpc-v2-cbor') return 'rpcv2Cbor';
  if (header(req.headers, 'x-amz-target') !== undefined) return model.protocol === 'awsJson1_0' ? 'awsJson1_0' : 'awsJson1_1';
  const ct = header(req.headers, 'content-type') ?? '';
  if (model.protocol === 'awsQuery' || ((model.protocol === 'awsJson1_0' || model.protocol === 'awsJson1_1' || model.protocol === 'rpcv2Cbor') && (ct.startsWith('application/x-www-form-urlencoded') || /(^|&)Action=/.test(req.rawQuery)))) {
    return 'awsQuery';
  }
  return model.protocol;
}

// ---------- values, directed by shapes ----------

const SIMPLE = new Set(['string', 'number', 'boolean', 'blob', 'stream', 'timestamp', 'document']);

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
    for (const [name, m] of Object.entries(members)) {
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
      for (const k of Object.keys(entries).filter((k) => /^\d+$/.test(k)).sort((a, b) => +a - +b)) {
        const e = entries[k];
        if (e && typeof e === 'object' && typeof e.key === 'string') out[e.key] = this.query(s.value, e.value, depth + 1);
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

function matchRoute(model: ServiceModel, req: GatewayRequest, query: URLSearchParams): { route: Route; labels: Record<string, string> } | undefined {
  const segs = req.path.split('/').filter((s) => s !== '');
  const copy = req.headers['x-amz-copy-source'] !== undefined;
  let best: { route: Route; labels: Record<string, string>; score: number } | undefined;
  for (const route of routes(model)) {
    if (route.method !== req.method) continue;
    if (!route.queryLiterals.every(([k, v]) => query.has(k) && (v === undefined || query.get(k) === v))) continue;
    const xId = query.get('x-id');
    if (xId !== null && route.xId !== undefined && xId !== route.xId) continue;
    const labels = matchSegments(route.segments, segs);
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
    const score = route.score + present * 1000 + (xId !== null && xId === route.xId ? 10_000 : 0);
    if (!best || score > best.score) best = { route, labels, score };
  }
  return best;
}

function matchSegments(pattern: Route['segments'], segs: string[]): Record<string, string> | undefined {
  const labels: Record<string, string> = {};
  let i = 0;
  for (let p = 0; p < pattern.length; p++) {
    const s = pattern[p]!;
    if ('literal' in s) {
      if (segs[i] === undefined || safeDecode(segs[i]!) !== s.literal) return undefined;
      i++;
    } else if (s.greedy) {
      const rest = segs.slice(i, segs.length - (pattern.length - p - 1));
      if (rest.length === 0) return undefined;
      labels[s.label] = rest.map(safeDecode).join('/');
      i += rest.length;
    } else {
      if (segs[i] === undefined) return undefined;
      labels[s.label] = safeDecode(segs[i]!);
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
  const protocol = requestProtocol(req, model);
  const query = new URLSearchParams(req.rawQuery);
  const walker = new Walker(model, opts, protocol === 'restJson1');
  const inputOf = (operation: string) => {
    const input = model.operations[operation]?.input;
    const s = input ? model.shapes[input] : undefined;
    return s?.type === 'structure' ? s.members : {};
  };

  if (protocol === 'rpcv2Cbor' || protocol === 'awsJson1_0' || protocol === 'awsJson1_1') {
    let operation: string | undefined;
    if (protocol === 'rpcv2Cbor') operation = /\/service\/[^/]+\/operation\/([^/?]+)$/.exec(req.path)?.[1];
    else operation = header(req.headers, 'x-amz-target')?.split('.').pop();
    if (!operation || !Object.hasOwn(model.operations, operation)) throw unknownOperation(operation ?? req.path);
    const call: DecodedCall = { operation, protocol, params: {} };
    if (req.body && req.body.length > 0) {
      try {
        const body = protocol === 'rpcv2Cbor' ? cbor.deserialize(req.body) : JSON.parse(req.body.toString('utf8'));
        if (body && typeof body === 'object' && !Array.isArray(body)) call.params = walker.struct(inputOf(operation), body, 0);
      } catch (e) {
        call.bodyError = (e as Error).message;
      }
    }
    return call;
  }

  if (protocol === 'awsQuery') {
    const form = header(req.headers, 'content-type')?.startsWith('application/x-www-form-urlencoded') && req.body
      ? new URLSearchParams(req.body.toString('utf8'))
      : query;
    const operation = form.get('Action') ?? '';
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
        if (req.body && req.body.length > 0 && m.target !== 'stream' && m.target !== 'blob') {
          const s = walker.shape(m.target);
          if (m.target === 'string') v = m.sensitive ? HIDDEN : req.body.toString('utf8');
          else if (protocol === 'restJson1' && (s || m.target === 'document')) {
            try {
              v = walker.value(m, JSON.parse(req.body.toString('utf8')));
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
  if (protocol === 'restJson1' && hasBodyMembers && req.body && req.body.length > 0) {
    try {
      const body = JSON.parse(req.body.toString('utf8'));
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
      out.requestId ??= xmlText(text, 'RequestId');
    }
    code = header(headers, 'x-amzn-errortype') ?? code;
    code = (code ?? `Http${status}`).split(':')[0]!.split('#').pop()!;
    out.error = { code, message: message ?? '' };
    return out;
  }
  if (!json && complete) out.requestId ??= xmlText(body.toString('utf8'), 'RequestId');
  const outputShape = model.operations[call.operation]?.output;
  const s = outputShape ? model.shapes[outputShape] : undefined;
  if (parsed && typeof parsed === 'object' && !Array.isArray(parsed) && s?.type === 'structure') {
    out.output = new Walker(model, opts, call.protocol === 'restJson1').struct(s.members, parsed as Record<string, unknown>, 0, call.protocol === 'restJson1');
  }
  return out;
}
