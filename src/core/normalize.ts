/**
 * Validates and normalises one incoming CloudTrail record.
 *
 * Invariants: a record that passes comes out with eventVersion, eventTime (CloudTrail form),
 * awsRegion, eventID, recipientAccountId, eventType, and for API calls requestID, readOnly,
 * managementEvent and eventCategory; the fields stand in CloudTrail's order, unknown fields after.
 * A record that fails gets one clear reason and nothing else is touched.
 *
 * Type quirks of real producers that have one meaning are normalised, not rejected (docs/ingest.md):
 * `sessionCredentialFromConsole` as a boolean, `readOnly`/`managementEvent` as "true"/"false",
 * `requestParameters`/`responseElements`/`additionalEventData`/`serviceEventDetails` as a string
 * holding a JSON object, and `userIdentity.sessionContext.attributes.creationDate` in another
 * ISO-8601 form (e.g. `YYYY-MM-DD HH:MM:SS`).
 */
import { CURRENT_EVENT_VERSION, MAX_RECORD_BYTES, type CloudTrailRecord } from './record.ts';
import { formatEventTime, isEventTimeForm, parseIsoTime } from './time.ts';
import type { IdSource } from './ids.ts';
import { isReadOnlyCall } from './read-only.ts';

export interface NormalizeContext {
  /** Account used when the record names no recipientAccountId. */
  defaultAccountId: string;
  /** Region used when the record names no awsRegion. */
  defaultRegion: string;
  /** Ingestion time, used when the record has no eventTime. */
  nowMs: number;
  ids: IdSource;
  /**
   * The regions this server serves. When given, a record for any other region is refused
   * (`InvalidRegion`): nothing could ever deliver or look it up.
   */
  servedRegions?: ReadonlySet<string>;
}

export interface NormalizedRecord {
  record: CloudTrailRecord;
  /** The record as stored and delivered: compact JSON. */
  json: string;
  /** eventTime as epoch seconds. */
  eventTimeSec: number;
}

export type NormalizeResult =
  | { ok: true; value: NormalizedRecord }
  | { ok: false; errorCode: string; errorMessage: string };

/** CloudTrail's field order; fields not named here follow in the order they came. */
const FIELD_ORDER = [
  'eventVersion', 'userIdentity', 'eventTime', 'eventSource', 'eventName', 'awsRegion', 'sourceIPAddress',
  'userAgent', 'errorCode', 'errorMessage', 'requestParameters', 'responseElements', 'additionalEventData',
  'requestID', 'eventID', 'readOnly', 'resources', 'eventType', 'apiVersion', 'managementEvent',
  'recipientAccountId', 'sharedEventID', 'vpcEndpointId', 'vpcEndpointAccountId', 'serviceEventDetails',
  'eventCategory', 'addendum', 'sessionCredentialFromConsole', 'edgeDeviceDetails', 'tlsDetails',
  'insightDetails', 'eventContext',
] as const;

const STRING_FIELDS = [
  'eventVersion', 'eventTime', 'eventSource', 'eventName', 'awsRegion', 'sourceIPAddress', 'userAgent',
  'errorCode', 'errorMessage', 'requestID', 'eventID', 'eventType', 'apiVersion', 'recipientAccountId',
  'sharedEventID', 'vpcEndpointId', 'vpcEndpointAccountId', 'eventCategory',
] as const;
const OBJECT_FIELDS = [
  'userIdentity', 'addendum', 'edgeDeviceDetails', 'tlsDetails', 'insightDetails', 'eventContext',
] as const;
/**
 * Fields some producers write as a string holding the JSON object: such a string is parsed; any
 * other string is kept as it came (nothing indexes these fields, and Athena's CloudTrail table
 * declares them as strings). additionalEventData and serviceEventDetails must otherwise be objects.
 */
const JSON_TEXT_FIELDS = ['requestParameters', 'responseElements', 'additionalEventData', 'serviceEventDetails'] as const;
const BOOLEAN_TEXT = /^(true|false)$/i;

export const EVENT_CATEGORIES = new Set([
  'Management', 'Data', 'NetworkActivity', 'Insight', 'ActivityAuditLog', 'ConfigurationItem', 'Evidence',
]);
const ACCOUNT_ID = /^\d{12}$/;
const REGION = /^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$/;
const EVENT_VERSION = /^\d{1,3}\.\d{1,3}$/;
const INSIGHT = 'AwsCloudTrailInsight';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(errorMessage: string, errorCode = 'InvalidRecord'): NormalizeResult {
  return { ok: false, errorCode, errorMessage };
}

const FIELD_INDEX = new Map<string, number>(FIELD_ORDER.map((f, i) => [f, i]));

/**
 * Validates and normalises one record; see the module header for what it guarantees.
 *
 * `sourceText`, when given, is the JSON text `raw` was parsed from (by JSON.parse): when normalising
 * changes nothing (no quirk fixed, no field filled or dropped, the fields already in CloudTrail's
 * order), the parsed record is stringified as it is instead of being built again (a value JSON.parse
 * made has no undefined member, so both give the same text). The text itself is not stored as it
 * came: proving it is what JSON.stringify would write cost more than writing it (docs/performance.md,
 * "Issue 11, seventh round"). Either way the same bytes are stored.
 */
export function normalizeRecord(raw: unknown, ctx: NormalizeContext, sourceText?: string): NormalizeResult {
  if (!isPlainObject(raw)) return fail('a record must be a JSON object');
  const quirks = fixQuirks(raw);
  if (typeof quirks === 'string') return fail(quirks);
  const input = quirks;
  for (const f of STRING_FIELDS) {
    const v = input[f];
    if (v !== undefined && v !== null && typeof v !== 'string') return fail(`${f} must be a string`);
  }
  for (const f of OBJECT_FIELDS) {
    const v = input[f];
    if (v !== undefined && v !== null && !isPlainObject(v)) return fail(`${f} must be a JSON object`);
  }
  const resources = input.resources;
  if (resources !== undefined && resources !== null) {
    if (!Array.isArray(resources) || !resources.every(isPlainObject)) {
      return fail('resources must be an array of JSON objects');
    }
  }
  const str = (f: string): string | undefined => {
    const v = input[f];
    return typeof v === 'string' ? v : undefined;
  };

  const eventType = str('eventType') ?? 'AwsApiCall';
  const isInsight = eventType === INSIGHT;
  // Insights and Lake integration (PutAuditEvents) records carry no API-call fields.
  const isApiRecord = !isInsight && input.eventCategory !== 'ActivityAuditLog';

  const eventVersion = str('eventVersion') ?? CURRENT_EVENT_VERSION;
  if (!EVENT_VERSION.test(eventVersion)) return fail(`eventVersion must look like 1.11, not ${clip(eventVersion)}`);

  let eventTimeMs = ctx.nowMs;
  const rawTime = str('eventTime');
  if (rawTime !== undefined) {
    const parsed = parseIsoTime(rawTime);
    if (parsed === undefined) return fail(`eventTime is not an ISO-8601 UTC time: ${clip(rawTime)}`);
    eventTimeMs = parsed;
  }
  const eventTime = rawTime !== undefined && isEventTimeForm(rawTime) ? rawTime : formatEventTime(eventTimeMs);

  if (isApiRecord) {
    for (const f of ['eventSource', 'eventName'] as const) {
      const v = str(f);
      if (v === undefined || v.length === 0) return fail(`missing required field ${f}`);
    }
  }
  const awsRegion = str('awsRegion') ?? ctx.defaultRegion;
  if (!REGION.test(awsRegion)) return fail(`awsRegion is not a region name: ${clip(awsRegion)}`);
  const recipientAccountId = str('recipientAccountId') ?? ctx.defaultAccountId;
  if (!ACCOUNT_ID.test(recipientAccountId)) {
    return fail(`recipientAccountId must be a 12-digit account id, not ${clip(recipientAccountId)}`, 'InvalidRecipient');
  }
  const eventID = str('eventID') ?? ctx.ids.uuid();
  if (eventID.length === 0 || eventID.length > 128) return fail('eventID must be 1 to 128 characters');

  let eventCategory = str('eventCategory');
  if (eventCategory !== undefined && !EVENT_CATEGORIES.has(eventCategory)) {
    return fail(`eventCategory ${clip(eventCategory)} is not one of ${[...EVENT_CATEGORIES].join(', ')}`);
  }
  let managementEvent = input.managementEvent as boolean | undefined;
  let readOnly = input.readOnly as boolean | undefined;
  let requestID = str('requestID');
  if (isInsight) {
    eventCategory ??= 'Insight';
  } else if (isApiRecord) {
    eventCategory ??= managementEvent === false ? 'Data' : 'Management';
    managementEvent ??= eventCategory === 'Management';
    readOnly ??= isReadOnlyCall(str('eventSource'), str('eventName')!);
    requestID ??= ctx.ids.uuid();
  }

  // Last: a record that is otherwise valid is refused for its region alone.
  if (ctx.servedRegions && !ctx.servedRegions.has(awsRegion)) {
    return fail(`awsRegion ${awsRegion} is not served here; this OpenTrail serves ${[...ctx.servedRegions].join(', ')}`, 'InvalidRegion');
  }

  const filled: Record<string, unknown> = {
    eventVersion, eventTime, awsRegion, recipientAccountId, eventID, eventType, eventCategory,
    managementEvent, readOnly, requestID,
  };
  let record: Record<string, unknown>;
  let json: string;
  if (sourceText !== undefined && input === raw && asItCame(input, filled)) {
    // The normalised record is the parsed one: stringified as it is, without building it again.
    record = input;
    try {
      json = JSON.stringify(record);
    } catch {
      return fail('the record is nested too deeply to store');
    }
  } else {
    record = {};
    for (const f of FIELD_ORDER) {
      const v = f in filled ? filled[f] : input[f];
      if (v !== undefined) record[f] = v;
    }
    for (const k of Object.keys(input)) {
      // Defined, not assigned: a field named "__proto__" (JSON.parse makes it an own field) is kept as
      // a field instead of becoming the record's prototype, whose members would be read as fields.
      if (!FIELD_INDEX.has(k) && input[k] !== undefined) Object.defineProperty(record, k, { value: input[k], enumerable: true, writable: true, configurable: true });
    }
    try {
      json = JSON.stringify(record);
    } catch {
      return fail('the record is nested too deeply to store');
    }
  }
  // Byte length only matters near the cap; string length bounds it from below.
  if (json.length * 3 > MAX_RECORD_BYTES && Buffer.byteLength(json) > MAX_RECORD_BYTES) {
    return fail(`record is ${Buffer.byteLength(json)} bytes; the limit is ${MAX_RECORD_BYTES}`, 'RecordTooLarge');
  }
  return {
    ok: true,
    value: { record: record as CloudTrailRecord, json, eventTimeSec: Math.floor(eventTimeMs / 1000) },
  };
}

/**
 * Whether normalising leaves `input` as it came: every filled field already holds its value (none
 * added, none dropped, none changed) and the fields stand in CloudTrail's order, known before
 * unknown, so the normalised record would have the same members in the same order.
 */
function asItCame(input: Record<string, unknown>, filled: Record<string, unknown>): boolean {
  for (const f in filled) if (filled[f] !== input[f]) return false;
  let lastKnown = -1;
  let unknownSeen = false;
  for (const k of Object.keys(input)) {
    const at = FIELD_INDEX.get(k);
    if (at === undefined) unknownSeen = true;
    else if (unknownSeen || at < lastKnown) return false;
    else lastKnown = at;
  }
  return true;
}

/**
 * The record with its type quirks normalised (a shallow copy; the input is never modified), or
 * the reason it cannot be: a message naming the field.
 */
function fixQuirks(input: Record<string, unknown>): Record<string, unknown> | string {
  let out = input;
  const set = (k: string, v: unknown) => {
    if (out === input) out = { ...input };
    out[k] = v;
  };
  const fromConsole = input.sessionCredentialFromConsole;
  if (typeof fromConsole === 'boolean') set('sessionCredentialFromConsole', String(fromConsole));
  else if (fromConsole !== undefined && fromConsole !== null && typeof fromConsole !== 'string') {
    return 'sessionCredentialFromConsole must be a string ("true" or "false") or a boolean';
  }
  for (const f of ['readOnly', 'managementEvent'] as const) {
    const v = input[f];
    if (v === undefined || v === null || typeof v === 'boolean') continue;
    if (typeof v === 'string' && BOOLEAN_TEXT.test(v)) set(f, v.toLowerCase() === 'true');
    else return `${f} must be a boolean (or the text "true" or "false"), not ${typeof v === 'string' ? clip(v) : JSON.stringify(v)?.slice(0, 64)}`;
  }
  for (const f of JSON_TEXT_FIELDS) {
    const v = input[f];
    if (typeof v !== 'string') continue;
    const parsed = parseObjectText(v);
    if (parsed !== undefined) set(f, parsed);
  }
  for (const f of ['additionalEventData', 'serviceEventDetails'] as const) {
    const v = out[f];
    if (v !== undefined && v !== null && !isPlainObject(v) && typeof v !== 'string') return `${f} must be a JSON object (or a string holding one)`;
  }
  const ui = input.userIdentity;
  if (isPlainObject(ui) && isPlainObject(ui.sessionContext) && isPlainObject(ui.sessionContext.attributes)) {
    const attributes = ui.sessionContext.attributes;
    const cd = attributes.creationDate;
    // Another ISO-8601 form of a whole second is rewritten in CloudTrail's form; anything else
    // (a fraction, text that is no time) is kept as it came: nothing indexes it.
    const ms = typeof cd === 'string' && !isEventTimeForm(cd) ? parseIsoTime(cd) : undefined;
    if (ms !== undefined && ms % 1000 === 0) {
      set('userIdentity', { ...ui, sessionContext: { ...ui.sessionContext, attributes: { ...attributes, creationDate: formatEventTime(ms) } } });
    }
  }
  return out;
}

/** The JSON object a string holds, or undefined when it holds anything else (or is too large to be a field). */
function parseObjectText(text: string): Record<string, unknown> | undefined {
  if (text.length > MAX_RECORD_BYTES || !/^\s*\{/.test(text)) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return isPlainObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function clip(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}...` : s);
}
