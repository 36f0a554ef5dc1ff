/**
 * Self-audit: every call to OpenTrail's own API becomes a CloudTrail record, written as AWS writes
 * CloudTrail's own events (eventSource cloudtrail.amazonaws.com, lowerCamelCase requestParameters
 * and responseElements, responseElements null for reads and failures).
 */
import { CURRENT_EVENT_VERSION, formatEventTime, isReadOnlyCall, normalizeRecord, userIdentityOf, type IdSource, type Identity, type RecordResource } from '../core/index.ts';
import { toAppendInput, type Ingester } from '../ingest/index.ts';

export interface ApiCall {
  identity: Identity;
  region: string;
  eventSource: string;
  eventName: string;
  eventTimeMs: number;
  requestId: string;
  eventId: string;
  sourceIPAddress: string;
  userAgent: string | undefined;
  requestParameters: unknown;
  responseElements: unknown;
  error?: { code: string; message: string };
  /** Management (Event history) or data event. */
  category: 'Management' | 'Data';
  resources?: RecordResource[];
  additionalEventData?: Record<string, unknown>;
  /** Member names are already spelled as CloudTrail writes them (else: lowerCamelCase, as for CloudTrail's own API). */
  keysAsGiven?: boolean;
}

const MAX_ELEMENT_BYTES = 100 * 1024;
const MAX_TEXT = 1024;

/** Deeper request members than this are not recorded (the element becomes null). */
const MAX_DEPTH = 64;

class TooDeep extends Error {}

/** `S3BucketName` -> `s3BucketName`, recursively, as CloudTrail's own events spell members. */
export function lowerCamelKeys(v: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) throw new TooDeep();
  if (Array.isArray(v)) return v.map((x) => lowerCamelKeys(x, depth + 1));
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v)) out[k.charAt(0).toLowerCase() + k.slice(1)] = lowerCamelKeys(val, depth + 1);
  return out;
}

/**
 * requestParameters / responseElements as CloudTrail records them: null when empty, and omitted
 * (null) when larger than 100 KB or nested deeper than CloudTrail would keep.
 */
function element(v: unknown, keysAsGiven: boolean): Record<string, unknown> | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.keys(v).length === 0) return null;
  try {
    const camel = (keysAsGiven ? v : lowerCamelKeys(v)) as Record<string, unknown>;
    return Buffer.byteLength(JSON.stringify(camel)) > MAX_ELEMENT_BYTES ? null : camel;
  } catch (e) {
    if (e instanceof TooDeep) return null;
    throw e;
  }
}

const clip = (s: string) => (s.length > MAX_TEXT ? s.slice(0, MAX_TEXT) : s);

/** The CloudTrail record for one call to our API. */
export function selfAuditRecord(call: ApiCall): Record<string, unknown> {
  const readOnly = isReadOnlyCall(call.eventSource, call.eventName);
  const rec: Record<string, unknown> = {
    eventVersion: CURRENT_EVENT_VERSION,
    userIdentity: userIdentityOf(call.identity),
    eventTime: formatEventTime(call.eventTimeMs),
    eventSource: call.eventSource,
    eventName: call.eventName,
    awsRegion: call.region,
    sourceIPAddress: call.sourceIPAddress,
    userAgent: clip(call.userAgent ?? ''),
  };
  if (call.error) {
    rec.errorCode = clip(call.error.code);
    rec.errorMessage = clip(call.error.message);
  }
  rec.requestParameters = element(call.requestParameters, call.keysAsGiven === true);
  rec.responseElements = readOnly || call.error ? null : element(call.responseElements, call.keysAsGiven === true);
  if (call.additionalEventData) rec.additionalEventData = call.additionalEventData;
  rec.requestID = clip(call.requestId);
  rec.eventID = call.eventId;
  rec.readOnly = readOnly;
  if (call.resources) rec.resources = call.resources;
  rec.eventType = 'AwsApiCall';
  rec.managementEvent = call.category === 'Management';
  rec.recipientAccountId = call.identity.accountId;
  rec.eventCategory = call.category;
  return rec;
}

/**
 * Records API calls through the ingester: `record(call)` resolves once the record is appended. A
 * read's record need not wait for the disk flush: it survives kill -9 at once and is flushed with
 * the next write (docs/architecture.md). Writes wait for the flush. A call too large to record in
 * full is recorded without its parameters, as CloudTrail omits them.
 */
export function apiCallRecorder(ingester: Pick<Ingester, 'submit'>, ids: IdSource): (call: Omit<ApiCall, 'eventId'>) => Promise<void> {
  return async (call) => {
    const nctx = { defaultAccountId: call.identity.accountId, defaultRegion: call.region, nowMs: call.eventTimeMs, ids };
    const eventId = ids.uuid();
    let n = normalizeRecord(selfAuditRecord({ ...call, eventId }), nctx);
    if (!n.ok) n = normalizeRecord(selfAuditRecord({ ...call, eventId, requestParameters: null, responseElements: null, additionalEventData: undefined }), nctx);
    if (!n.ok) throw new Error(`API call record rejected: ${n.errorMessage}`);
    await ingester.submit([toAppendInput(n.value)], n.value.record.readOnly === true ? 'process' : 'disk');
  };
}
