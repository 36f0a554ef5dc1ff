/**
 * From one HTTP call (framework-neutral, see HttpCall in index.d.ts) to one CloudTrail record:
 * the options' callbacks and their defaults (eventName from the route, redacted request
 * parameters, readOnly from the method, errorCode from the status).
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { REPORT, Recorder, RecorderError } from './recorder.js';

/** @import { AdapterOptions, CloudTrailRecord, HttpCall, RecordOptions, RecorderOptions, UserIdentity } from './index.js' */

export const HIDDEN = 'HIDDEN_DUE_TO_SECURITY_REASONS';
export const SECRET_KEYS = /password|secret|token|authorization/i;

/** Elements larger than this (as JSON) are recorded as null, as CloudTrail does. */
const MAX_ELEMENT_CHARS = 100 * 1024;
const MAX_DEPTH = 32;
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** @param {unknown} v @returns {v is Record<string, unknown>} */
function isPlainObject(v) {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || Buffer.isBuffer(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** @param {unknown} value @param {RegExp} pattern @returns {unknown} */
export function redactKeys(value, pattern) {
  /** @param {unknown} v @param {number} depth @returns {unknown} */
  const walk = (v, depth) => {
    if (depth > MAX_DEPTH) return HIDDEN;
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    if (!isPlainObject(v)) return v;
    /** @type {Record<string, unknown>} */
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = pattern.test(k) ? HIDDEN : walk(x, depth + 1);
    return out;
  };
  return walk(value, 0);
}

/** @param {unknown} value */
export function redactSecrets(value) {
  return redactKeys(value, SECRET_KEYS);
}

/** `order-items` -> `OrderItems`, `orderItems` -> `OrderItems`. @param {string} s */
function pascal(s) {
  return s.split(/[^A-Za-z0-9]+/).filter(Boolean).map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
}

/** Ends in s, but not ss, us or is (address, status, analysis are singular). @param {string} w */
function looksPlural(w) {
  return /[^sui]s$/i.test(w);
}

/** @param {string} w */
function singular(w) {
  if (!looksPlural(w)) return w;
  if (/ies$/.test(w)) return `${w.slice(0, -3)}y`;
  if (/(ss|x|sh|tch)es$/.test(w)) return w.slice(0, -2);
  return w.slice(0, -1);
}

/** A route segment that is (or contains) a parameter: `:id`, `*`, `*splat`, `{/:opt}`. @param {string} s */
function isParam(s) {
  return /[:*{]/.test(s);
}

const VERBS = /** @type {Record<string, string>} */ ({ GET: 'Get', HEAD: 'Head', OPTIONS: 'Options', POST: 'Create', PUT: 'Put', PATCH: 'Update', DELETE: 'Delete' });

/**
 * The default eventName (docs/middleware.md): the verb from the method, the noun from the last
 * static segment of the route template.
 * @param {string} method @param {string} route
 */
export function defaultEventName(method, route) {
  const m = method.toUpperCase();
  const segs = route.split('/').filter((s) => s !== '');
  const last = segs.at(-1);
  const lastStatic = segs.findLastIndex((s) => !isParam(s));
  const noun = lastStatic < 0 ? 'Root' : pascal(/** @type {string} */ (segs[lastStatic])) || 'Root';
  const verb = VERBS[m] ?? pascal(m.toLowerCase());
  const onItem = last !== undefined && isParam(last);
  if (m === 'POST' && !onItem && lastStatic > 0 && isParam(/** @type {string} */ (segs[lastStatic - 1]))) {
    // POST /orders/:id/cancel: an action on an item.
    const owner = segs.slice(0, lastStatic - 1).findLast((s) => !isParam(s));
    return noun + (owner === undefined ? '' : singular(pascal(owner)));
  }
  if (m === 'GET' && !onItem && looksPlural(noun)) return `List${noun}`;
  return verb + (onItem || m === 'POST' ? singular(noun) : noun);
}

/** `Not Found` -> `NotFound`; unknown statuses `Http599`. @param {number} status */
function reasonCode(status) {
  const phrase = STATUS_CODES[status];
  return phrase === undefined ? `Http${status}` : pascal(phrase.replace(/'/g, ''));
}

/** @param {HttpCall} call */
function defaultErrorMessage(call) {
  if (call.error instanceof Error && call.error.message !== '') return call.error.message;
  const body = call.responseBody;
  if (isPlainObject(body) && typeof body.message === 'string' && body.message !== '') return body.message;
  return STATUS_CODES[call.status] ?? `HTTP ${call.status}`;
}

/** @param {HttpCall} call @returns {Record<string, unknown> | null} */
function defaultRequestParameters(call) {
  /** @type {Record<string, unknown>} */
  const out = {};
  Object.assign(out, objectOrEmpty(call.query));
  if (isPlainObject(call.body)) Object.assign(out, call.body);
  else if (Array.isArray(call.body)) out.body = call.body;
  Object.assign(out, objectOrEmpty(call.params));
  return Object.keys(out).length > 0 ? out : null;
}

/** The element as recorded: redacted, null when absent or too large. @param {unknown} v @param {((value: unknown) => unknown) | false} redact */
function element(v, redact) {
  if (v === undefined || v === null) return null;
  const out = redact === false ? v : redact(v);
  const json = JSON.stringify(out);
  return json === undefined || json.length > MAX_ELEMENT_CHARS ? null : out;
}

/** @template Req, Res @param {AdapterOptions<Req, Res>} options */
function recorderOf(options) {
  if (options.recorder === undefined) return { recorder: new Recorder(/** @type {RecorderOptions} */ (options)), owned: true };
  if (!(options.recorder instanceof Recorder)) throw new TypeError('opentrail: recorder must be a Recorder');
  return { recorder: options.recorder, owned: false };
}

/**
 * Checks the options once, at setup, and returns what an adapter needs: the recorder (built from
 * the options unless one was given) and `capture`, which turns a finished call into a queued
 * record and never throws.
 * @template Req, Res
 * @param {AdapterOptions<Req, Res>} options
 */
export function callRecorder(options) {
  if (!options || typeof options !== 'object') throw new TypeError('opentrail: options are required');
  if (typeof options.eventSource !== 'string' || options.eventSource === '') throw new TypeError('opentrail: eventSource is required (e.g. orders.example.com)');
  if (typeof options.identity !== 'function') throw new TypeError('opentrail: identity(req) is required: it returns the caller\'s userIdentity');
  const { recorder, owned } = recorderOf(options);
  /** @type {RecordOptions<Req, Res>} */
  const o = options;
  const redact = o.redact === undefined ? redactSecrets : o.redact;
  const requestIdHeader = (o.requestIdHeader ?? 'x-request-id').toLowerCase();

  /** @param {Req} req @param {Res} res @param {HttpCall} call @returns {CloudTrailRecord | undefined} */
  const build = (req, res, call) => {
    if (o.skip ? o.skip(req, res, call) : call.route === undefined) return undefined;
    /** @type {UserIdentity} */
    const userIdentity = o.identity(req, res, call) ?? { type: 'Unknown' };
    const failed = call.status >= 400;
    const errorCode = failed ? (o.errorCode ? o.errorCode(req, res, call) : reasonCode(call.status)) : undefined;
    const requestId = call.headers[requestIdHeader];
    const recipient = typeof o.recipientAccountId === 'function' ? o.recipientAccountId(req, res, call) : o.recipientAccountId;
    const managementEvent = o.managementEvent ?? true;
    const useragent = call.headers['user-agent'];
    /** @type {CloudTrailRecord} */
    const record = {
      userIdentity,
      eventTime: new Date(call.startTimeMs).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      eventSource: o.eventSource,
      eventName: o.eventName ? o.eventName(req, res, call) : defaultEventName(call.method, call.route ?? call.path),
      awsRegion: recorder.region,
      sourceIPAddress: call.sourceIPAddress?.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, ''),
      userAgent: typeof useragent === 'string' ? useragent : undefined,
      errorCode,
      errorMessage: errorCode === undefined ? undefined : o.errorMessage ? o.errorMessage(req, res, call) : defaultErrorMessage(call),
      requestParameters: element(o.requestParameters ? o.requestParameters(req, res, call) : defaultRequestParameters(call), redact),
      responseElements: element(o.responseElements?.(req, res, call), redact),
      requestID: typeof requestId === 'string' && requestId !== '' ? requestId : randomUUID(),
      eventID: randomUUID(),
      readOnly: o.readOnly ? o.readOnly(req, res, call) : READ_METHODS.has(call.method),
      resources: o.resources?.(req, res, call),
      eventType: 'AwsApiCall',
      managementEvent,
      recipientAccountId: recipient ?? (typeof userIdentity.accountId === 'string' ? userIdentity.accountId : undefined),
      eventCategory: managementEvent ? 'Management' : 'Data',
    };
    return record;
  };

  /** @param {Req} req @param {Res} res @param {() => HttpCall} describe */
  const capture = (req, res, describe) => {
    let record;
    try {
      record = build(req, res, describe());
    } catch (e) {
      recorder[REPORT](new RecorderError('InvalidRecord', `event not recorded: ${e instanceof Error ? e.message : String(e)}`, { count: 1, cause: e }));
      return;
    }
    if (record !== undefined) recorder.record(record);
  };
  return { recorder, owned, capture };
}

/** @param {unknown} v @returns {Record<string, unknown>} */
export function objectOrEmpty(v) {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? /** @type {Record<string, unknown>} */ (v) : {};
}
