/**
 * cloudtrail-data PutAuditEvents: events from outside AWS, through a channel, into the event log.
 *
 * Each accepted event is stored as a Lake integration record (eventCategory ActivityAuditLog).
 * Its eventID is derived from the channel and the event's UID, so a retried call stores nothing
 * twice and answers the same eventID.
 */
import { createHash } from 'node:crypto';
import { ServiceError } from '../../aws/errors.ts';
import { CLOUDTRAIL_DATA_MODEL, cloudTrailDataInput, restJsonInput, type PutAuditEventsResponse } from '../../aws/protocol/index.ts';
import { CURRENT_EVENT_VERSION, formatEventTime, parseIsoTime, stableUuid, type IdSource } from '../../core/index.ts';
import { ingest, Refused, type Ingester, type IngestResult } from '../../ingest/index.ts';
import type { AppendInput } from '../../stores/index.ts';
import type { ChannelService } from '../cloudtrail/channels.ts';
import type { CallContext } from '../context.ts';

export interface PutAuditEventsDeps {
  channels: ChannelService;
  ingester: Ingester;
  ids: IdSource;
  /** For failures after the events were stored, which do not fail the call (default: stderr). */
  logError?: (msg: string, err?: unknown) => void;
}

const err = (code: string, message: string, status = 400) => new ServiceError(code, message, status);

type Failure = { errorCode: string; errorMessage: string };

function checkEventData(data: Record<string, unknown>, ownerAccountId: string): Failure | undefined {
  const required: [string, number][] = [['version', 256], ['eventSource', 1024], ['eventName', 1024], ['UID', 1024], ['eventTime', 64], ['recipientAccountId', 12]];
  for (const [f, max] of required) {
    const v = data[f];
    if (v === undefined || v === null || v === '') return { errorCode: 'FieldNotFound', errorMessage: `eventData.${f} is required.` };
    if (typeof v !== 'string') return { errorCode: 'InvalidData', errorMessage: `eventData.${f} must be a string.` };
    if (v.length > max) return { errorCode: 'FieldTooLong', errorMessage: `eventData.${f} is longer than ${max} characters.` };
  }
  const ui = data.userIdentity as Record<string, unknown> | undefined;
  if (typeof ui !== 'object' || ui === null || Array.isArray(ui)) return { errorCode: 'FieldNotFound', errorMessage: 'eventData.userIdentity is required.' };
  for (const [f, max] of [['type', 128], ['principalId', 1024]] as const) {
    const v = ui[f];
    if (typeof v !== 'string' || v.length === 0) return { errorCode: 'FieldNotFound', errorMessage: `eventData.userIdentity.${f} is required.` };
    if (v.length > max) return { errorCode: 'FieldTooLong', errorMessage: `eventData.userIdentity.${f} is longer than ${max} characters.` };
  }
  for (const [f, max] of [['userAgent', 1024], ['errorCode', 1024], ['errorMessage', 256], ['sourceIPAddress', 64]] as const) {
    const v = data[f];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') return { errorCode: 'InvalidData', errorMessage: `eventData.${f} must be a string.` };
    if (v.length > max) return { errorCode: 'FieldTooLong', errorMessage: `eventData.${f} is longer than ${max} characters.` };
  }
  for (const [f, max] of [['requestParameters', 100 * 1024], ['responseElements', 100 * 1024], ['additionalEventData', 28 * 1024]] as const) {
    const v = data[f];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'object' || Array.isArray(v)) return { errorCode: 'InvalidData', errorMessage: `eventData.${f} must be a JSON object.` };
    let text: string;
    try {
      text = JSON.stringify(v);
    } catch {
      return { errorCode: 'InvalidData', errorMessage: `eventData.${f} is nested too deeply.` };
    }
    if (Buffer.byteLength(text) > max) return { errorCode: 'FieldTooLong', errorMessage: `eventData.${f} is larger than ${max} bytes.` };
  }
  if (parseIsoTime(data.eventTime as string) === undefined) return { errorCode: 'InvalidData', errorMessage: 'eventData.eventTime must be yyyy-MM-ddTHH:mm:ss (UTC).' };
  if (data.recipientAccountId !== ownerAccountId) return { errorCode: 'InvalidRecipient', errorMessage: `eventData.recipientAccountId must be the channel owner, ${ownerAccountId}.` };
  return undefined;
}

/**
 * `audit`, when given, builds the call's own self-audit record from the answer; it is stored in the
 * same transaction as the accepted events, so a failure stores neither and a success both. Once
 * they are stored the call succeeds: updating the channel's IngestionStatus afterwards is best
 * effort (logged when it fails), never an error answer after a commit.
 */
export async function putAuditEvents(
  deps: PutAuditEventsDeps, ctx: CallContext, query: URLSearchParams, body: unknown,
  audit?: (output: PutAuditEventsResponse) => readonly AppendInput[],
): Promise<PutAuditEventsResponse> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw err('SerializationException', 'The request body must be a JSON object.');
  // Member types, required members, the 1 to 100 events, ids, channelArn and externalId: the model's.
  const input = cloudTrailDataInput('PutAuditEvents', restJsonInput(CLOUDTRAIL_DATA_MODEL, 'PutAuditEvents', query, body as Record<string, unknown>));
  const { channelArn, auditEvents: events } = input;
  // Another account's or region's channel answers exactly as one that does not exist (resolve
  // never looks it up): the answer must not tell whether it exists.
  let channel;
  try {
    channel = await deps.channels.resolve(channelArn, ctx);
  } catch (e) {
    if (e instanceof ServiceError && e.code === 'ChannelARNInvalidException') throw err('InvalidChannelARN', `The channel ARN ${channelArn} is not valid.`);
    if (e instanceof ServiceError && e.code === 'ChannelNotFoundException') throw err('ChannelNotFound', `The channel ${channelArn} was not found.`);
    throw e;
  }
  const seen = new Set<string>();
  for (const { id } of events) {
    if (seen.has(id)) throw err('DuplicatedAuditEventId', `Audit event id ${id} appears more than once in the request.`);
    seen.add(id);
  }

  // Per event, in order: the record to store, or why this call refuses it.
  const entries: unknown[] = [];
  for (const e of events) {
    const fail = (f: Failure) => entries.push(new Refused(f.errorCode, f.errorMessage));
    if (e.eventDataChecksum !== undefined) {
      const sum = createHash('sha256').update(e.eventData, 'utf8').digest('base64');
      if (sum !== e.eventDataChecksum) {
        fail({ errorCode: 'InvalidChecksum', errorMessage: 'eventDataChecksum is not the base64 SHA-256 of eventData.' });
        continue;
      }
    }
    let data: unknown;
    try {
      data = JSON.parse(e.eventData);
    } catch {
      fail({ errorCode: 'InvalidData', errorMessage: 'eventData is not valid JSON.' });
      continue;
    }
    if (typeof data !== 'object' || data === null || Array.isArray(data)) {
      fail({ errorCode: 'InvalidData', errorMessage: 'eventData must be a JSON object.' });
      continue;
    }
    const problem = checkEventData(data as Record<string, unknown>, channel.accountId);
    if (problem) {
      fail(problem);
      continue;
    }
    const d = data as Record<string, unknown>;
    const eventID = stableUuid(channel.ChannelArn, d.UID as string);
    entries.push({
      eventVersion: CURRENT_EVENT_VERSION,
      eventCategory: 'ActivityAuditLog',
      eventType: 'ActivityLog',
      eventID,
      eventTime: formatEventTime(parseIsoTime(d.eventTime as string)!),
      awsRegion: ctx.region,
      recipientAccountId: channel.accountId,
      metadata: { ingestionTime: formatEventTime(ctx.nowMs), channelARN: channel.ChannelArn },
      eventData: d,
    });
  }
  const outputOf = (results: readonly IngestResult[]): PutAuditEventsResponse => {
    const o: PutAuditEventsResponse = { successful: [], failed: [] };
    results.forEach((r, i) => {
      const id = events[i]!.id;
      if (r.ok) o.successful.push({ id, eventID: r.input.eventId });
      else if (entries[i] instanceof Refused) o.failed.push({ id, errorCode: r.errorCode, errorMessage: r.errorMessage });
      // Refused by the normaliser: as cloudtrail-data names it.
      else o.failed.push({ id, errorCode: r.errorCode === 'RecordTooLarge' ? 'FieldTooLong' : 'InvalidData', errorMessage: r.errorMessage });
    });
    return o;
  };
  const nctx = { defaultAccountId: channel.accountId, defaultRegion: ctx.region, nowMs: ctx.nowMs, ids: deps.ids };
  const out = outputOf(await ingest(deps.ingester, entries, nctx, { durability: 'disk', follow: audit && ((r) => audit(outputOf(r))), path: 'PutAuditEvents' }));
  const last = out.successful[out.successful.length - 1];
  try {
    await deps.channels.recordIngestion(channel, {
      LatestIngestionAttemptTime: ctx.nowMs / 1000,
      LatestIngestionAttemptEventID: last?.eventID,
      ...(last ? { LatestIngestionSuccessTime: ctx.nowMs / 1000, LatestIngestionSuccessEventID: last.eventID } : {}),
      ...(out.failed[0] ? { LatestIngestionErrorCode: out.failed[0].errorCode } : {}),
    });
  } catch (e) {
    (deps.logError ?? ((m: string, x?: unknown) => console.error(m, x)))(`PutAuditEvents: events stored, but the IngestionStatus of ${channel.ChannelArn} could not be updated`, e);
  }
  return out;
}
