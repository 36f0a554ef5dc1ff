/**
 * Event history: LookupEvents over the store, with CloudTrail's validation and answer shape.
 */
import {
  ALL_INSIGHT, ALL_MANAGEMENT, DAY_MS, INSIGHT_LOOKUP_KEYS, historyCategory, historyEntry, historyEntryParts,
  scopedAttributeKey, summaryCategory, summaryMembers, type CloudTrailRecord, type HistoryCategory,
} from '../core/index.ts';
import { cloudTrailError, ServiceError } from '../aws/errors.ts';
import { JsonText } from '../aws/json-text.ts';
import type { LookupEventsRequest } from '../aws/protocol/index.ts';
import type { EventStore, HistoryRow, LookupAttribute } from '../stores/index.ts';
import type { NextTokenCodec } from './next-token.ts';

export interface LookupContext {
  accountId: string;
  region: string;
  nowMs: number;
}

export interface LookupEventsDeps {
  store: EventStore;
  tokens: NextTokenCodec;
  retentionDays: number;
}

const MEMBERS = new Set(['LookupAttributes', 'StartTime', 'EndTime', 'EventCategory', 'MaxResults', 'NextToken']);

const serialization = (msg: string) => new ServiceError('SerializationException', msg, 400);
const invalidAttrs = (msg: string) => cloudTrailError('InvalidLookupAttributesException', msg);

/** AttributeValue length as CloudTrail counts it: `_`, space, `,` and newline count twice. */
function weightedLength(v: string): number {
  let n = 0;
  for (const ch of v) n += ch === '_' || ch === ' ' || ch === ',' || ch === '\n' ? 2 : 1;
  return n;
}

/**
 * One LookupAttributes pair as the store finds it, with CloudTrail's checks the model cannot make
 * (Insights keys, AttributeValue's weighted length, ReadOnly's values); the key is one of
 * LOOKUP_ATTRIBUTE_KEYS (the model's enum). Also the live tail's filter (GET /events/stream).
 */
export function lookupAttribute(category: HistoryCategory, key: string, value: string): LookupAttribute {
  if (category === 'insight' && !(INSIGHT_LOOKUP_KEYS as readonly string[]).includes(key)) {
    throw invalidAttrs(`For Insights events, AttributeKey must be one of ${INSIGHT_LOOKUP_KEYS.join(', ')}.`);
  }
  if (weightedLength(value) > 2000) throw invalidAttrs('AttributeValue must be a string of 1 to 2000 characters.');
  if (key === 'ReadOnly' && value !== 'true' && value !== 'false') {
    throw invalidAttrs('The value of the ReadOnly attribute must be true or false.');
  }
  return key === 'EventId' ? ['EventId', value] : [scopedAttributeKey(category, key), value];
}

interface ParsedQuery {
  category: HistoryCategory;
  attribute: LookupAttribute;
  startSec?: number;
  endSec?: number;
  maxResults: number;
  nextToken?: string;
  fingerprint: string;
}

/**
 * The query of a LookupEvents input. Member types, AttributeKey's enum, AttributeValue's length,
 * EventCategory and MaxResults' range are the model's (checked by cloudTrailInput, with
 * CloudTrail's exceptions); what is left here are the rules the model cannot say.
 */
function parseInput(input: LookupEventsRequest): ParsedQuery {
  for (const k of Object.keys(input)) {
    if (!MEMBERS.has(k)) throw serialization(`Unexpected member ${k} in LookupEventsRequest`);
  }
  const category: HistoryCategory = input.EventCategory === 'insight' ? 'insight' : 'management';
  let attribute: LookupAttribute = category === 'insight' ? ALL_INSIGHT : ALL_MANAGEMENT;
  const attrs = input.LookupAttributes;
  if (attrs !== undefined) {
    if (attrs.length > 1) throw invalidAttrs('You can specify at most one lookup attribute.');
    const a = attrs[0];
    if (a !== undefined) attribute = lookupAttribute(category, a.AttributeKey, a.AttributeValue);
  }
  const startSec = input.StartTime;
  const endSec = input.EndTime;
  if (startSec !== undefined && endSec !== undefined && startSec > endSec) {
    throw cloudTrailError('InvalidTimeRangeException', 'Start time must be earlier than or equal to end time.');
  }
  const maxResults = input.MaxResults ?? 50;
  const nextToken = input.NextToken;
  const fingerprint = JSON.stringify([category, attribute, startSec ?? null, endSec ?? null]);
  return { category, attribute, startSec, endSec, maxResults, nextToken, fingerprint };
}

/**
 * One entry of the answer as the members of its JSON object (the text inside `{...}` before
 * `"CloudTrailEvent"`), or undefined when an EventId lookup found a record of another category
 * (the event-id index holds every record). From the row's summary when the store kept one: the
 * record is not parsed. Without a summary, from the parsed record. The record goes out as the
 * string it is (`historyEntryParts`: JSON.stringify of a string is the escaping the answer needs).
 */
function entryMembers(row: HistoryRow, q: ParsedQuery): string | undefined {
  const byEventId = q.attribute[0] === 'EventId';
  let members: string;
  if (row.summary) {
    if (byEventId && summaryCategory(row.summary) !== q.category) return undefined;
    members = summaryMembers(row.summary);
  } else {
    const r = JSON.parse(row.json) as CloudTrailRecord;
    if (byEventId && historyCategory(r) !== q.category) return undefined;
    members = JSON.stringify(historyEntry(r)).slice(1, -1);
  }
  return members;
}

/**
 * LookupEvents for one caller, on an input the model check has passed (the provider's dispatch,
 * src/services/cloudtrail/provider.ts): pages through the store and answers with the JSON text of
 * the LookupEventsResponse (Events, NextToken).
 */
export async function lookupEvents(deps: LookupEventsDeps, ctx: LookupContext, input: LookupEventsRequest): Promise<JsonText> {
  const q = parseInput(input);
  const binding = { accountId: ctx.accountId, region: ctx.region, query: q.fingerprint };
  let before;
  if (q.nextToken !== undefined) {
    before = deps.tokens.decode(q.nextToken, binding);
    if (!before) throw cloudTrailError('InvalidNextTokenException', 'Invalid NextToken: it was not issued for this request, account and region.');
  }
  const oldestSec = Math.floor((ctx.nowMs - deps.retentionDays * DAY_MS) / 1000);
  const startSec = Math.max(Math.ceil(q.startSec ?? oldestSec), oldestSec);
  const endSec = Math.floor(q.endSec ?? ctx.nowMs / 1000);
  if (startSec > endSec) return new JsonText('{"Events":[]}');
  const rows = await deps.store.lookup({
    accountId: ctx.accountId, region: ctx.region, attribute: q.attribute, startSec, endSec, before, limit: q.maxResults + 1,
  });
  const page = rows.slice(0, q.maxResults);
  // The answer's parts, written into its bytes one by one (JsonText): never joined into one string,
  // and each entry in its parts (historyEntryParts), so that the record's escaped text is not
  // copied once more into one string with its members.
  const parts: string[] = ['{"Events":['];
  for (const row of page) {
    const members = entryMembers(row, q);
    if (members === undefined) continue;
    if (parts.length > 1) parts.push(',');
    parts.push(...historyEntryParts(members, row.json));
  }
  const last = page[page.length - 1];
  parts.push(rows.length > q.maxResults && last ? `],"NextToken":${JSON.stringify(deps.tokens.encode({ t: last.t, seq: last.seq }, binding))}}` : ']}');
  return new JsonText(parts);
}
