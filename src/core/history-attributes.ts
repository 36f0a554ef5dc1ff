/**
 * Which records Event history holds and the attributes LookupEvents finds them by.
 * Pure: used by ingest (to index) and by history (to answer).
 */
import type { CloudTrailRecord, RecordResource } from './record.ts';
import { lookupUsername } from './identity.ts';

export const LOOKUP_ATTRIBUTE_KEYS = [
  'EventId', 'EventName', 'ReadOnly', 'Username', 'ResourceType', 'ResourceName', 'EventSource', 'AccessKeyId',
] as const;
export type LookupAttributeKey = (typeof LOOKUP_ATTRIBUTE_KEYS)[number];

/** Keys LookupEvents accepts with EventCategory=insight. */
export const INSIGHT_LOOKUP_KEYS: readonly LookupAttributeKey[] = ['EventId', 'EventName', 'EventSource'];

/** Catch-all attribute pairs: every management entry, every Insights entry. */
export const ALL_MANAGEMENT: readonly [string, string] = ['*', 'management'];
export const ALL_INSIGHT: readonly [string, string] = ['*', 'insight'];

/** Prefix of attribute keys for Insights entries, so they never mix with management ones. */
const INSIGHT_PREFIX = 'insight:';

export type HistoryCategory = 'management' | 'insight';

/** The Event history category of a record, or undefined when Event history does not keep it. */
export function historyCategory(r: CloudTrailRecord): HistoryCategory | undefined {
  if (r.eventType === 'AwsCloudTrailInsight' || r.eventCategory === 'Insight') return 'insight';
  if (r.eventCategory === 'Management' && r.managementEvent !== false) return 'management';
  return undefined;
}

/** The attribute key under which a lookup of this category stores and finds an attribute. */
export function scopedAttributeKey(category: HistoryCategory, key: string): string {
  return category === 'insight' ? INSIGHT_PREFIX + key : key;
}

/** ResourceName as Event history shows it: the ARN, or the ARN prefix. */
export function resourceName(r: RecordResource): string | undefined {
  return typeof r.ARN === 'string' ? r.ARN : typeof r.ARNPrefix === 'string' ? r.ARNPrefix : undefined;
}

const MAX_VALUE = 2000;

/**
 * The (key, value) pairs a record is found by in Event history, including the catch-all pair;
 * undefined when the record is not an Event history record. EventId is not listed: stores find
 * it through their event-id index.
 */
export function historyAttributes(r: CloudTrailRecord): [string, string][] | undefined {
  const category = historyCategory(r);
  return category && attributesOf(r, category, lookupUsername(r.userIdentity), Array.isArray(r.resources) ? r.resources : []);
}

function attributesOf(r: CloudTrailRecord, category: HistoryCategory, username: string | undefined, resources: readonly RecordResource[]): [string, string][] {
  const out: [string, string][] = [category === 'insight' ? [...ALL_INSIGHT] : [...ALL_MANAGEMENT]];
  const add = (key: LookupAttributeKey, value: unknown): void => {
    if (typeof value === 'string' && value.length > 0 && value.length <= MAX_VALUE) out.push([scopedAttributeKey(category, key), value]);
  };
  if (category === 'insight') {
    const d = r.insightDetails as { eventName?: unknown; eventSource?: unknown } | undefined;
    add('EventName', d?.eventName);
    add('EventSource', d?.eventSource);
    return out;
  }
  add('EventName', r.eventName);
  add('EventSource', r.eventSource);
  if (typeof r.readOnly === 'boolean') add('ReadOnly', String(r.readOnly));
  add('Username', username);
  add('AccessKeyId', r.userIdentity?.accessKeyId);
  const seen = new Set<string>();
  for (const res of resources) {
    for (const [key, value] of [['ResourceType', res.type], ['ResourceName', resourceName(res)]] as const) {
      const tag = `${key}\u0000${value}`;
      if (!seen.has(tag)) {
        seen.add(tag);
        add(key, value);
      }
    }
  }
  return out;
}

/**
 * `historyAttributes` and `historySummary` of a record at once (ingest: what the store appends),
 * its username and resources worked out once for both; undefined when Event history does not keep
 * the record.
 */
export function historyIndex(r: CloudTrailRecord): { history: [string, string][]; summary: string } | undefined {
  const category = historyCategory(r);
  if (!category) return undefined;
  const username = lookupUsername(r.userIdentity);
  const resources = Array.isArray(r.resources) ? r.resources : [];
  return { history: attributesOf(r, category, username, resources), summary: summaryText(entryOf(r, username, resources), category) };
}

/** An Event history entry as LookupEvents answers it, without its CloudTrailEvent. */
export interface HistoryEntry {
  EventId?: string;
  EventName?: string;
  ReadOnly?: string;
  AccessKeyId?: string;
  EventTime?: number;
  EventSource?: string;
  Username?: string;
  Resources: { ResourceType?: string; ResourceName?: string }[];
}

/**
 * The Event history entry of a record (Insights entries take their name and source from
 * insightDetails). Members without a value are undefined, so JSON leaves them out.
 */
export function historyEntry(r: CloudTrailRecord): HistoryEntry {
  return entryOf(r, lookupUsername(r.userIdentity), Array.isArray(r.resources) ? r.resources : []);
}

function entryOf(r: CloudTrailRecord, username: string | undefined, records: readonly RecordResource[]): HistoryEntry {
  const insight = r.insightDetails as { eventName?: string; eventSource?: string } | undefined;
  const resources: HistoryEntry['Resources'] = [];
  for (const res of records) {
    resources.push({ ResourceType: typeof res.type === 'string' ? res.type : undefined, ResourceName: resourceName(res) });
  }
  return {
    EventId: r.eventID,
    EventName: r.eventName ?? insight?.eventName,
    ReadOnly: typeof r.readOnly === 'boolean' ? String(r.readOnly) : undefined,
    AccessKeyId: r.userIdentity?.accessKeyId || undefined,
    EventTime: Date.parse(r.eventTime) / 1000,
    EventSource: r.eventSource ?? insight?.eventSource,
    Username: username,
    Resources: resources,
  };
}

/**
 * How a summary of an Insights entry begins; a management entry's summary begins with `{"` and one
 * of HistoryEntry's members. The marker lets LookupEvents tell the category without the record
 * and is dropped from the answer.
 */
export const INSIGHT_SUMMARY_MARK = '{"EventCategory":"insight",';

/**
 * The summary stored beside an Event history record (AppendInput.summary): its HistoryEntry as
 * JSON object text, led by INSIGHT_SUMMARY_MARK for an Insights entry; undefined when Event
 * history does not keep the record.
 */
export function historySummary(r: CloudTrailRecord, category: HistoryCategory | undefined = historyCategory(r)): string | undefined {
  return category && summaryText(historyEntry(r), category);
}

function summaryText(entry: HistoryEntry, category: HistoryCategory): string {
  const text = JSON.stringify(entry);
  return category === 'insight' ? INSIGHT_SUMMARY_MARK + text.slice(1) : text;
}

/** The category a summary (from historySummary) was made for. */
export function summaryCategory(summary: string): HistoryCategory {
  return summary.startsWith(INSIGHT_SUMMARY_MARK) ? 'insight' : 'management';
}

/** A summary's members (the entry's, without the category marker), as text to go inside `{...}`. */
export function summaryMembers(summary: string): string {
  return summary.slice(summary.startsWith(INSIGHT_SUMMARY_MARK) ? INSIGHT_SUMMARY_MARK.length : 1, -1);
}

/** One LookupEvents `Events[]` entry as JSON text: the entry's members (text inside `{...}`) and the stored record as the CloudTrailEvent string. */
export function historyEntryText(members: string, json: string): string {
  return historyEntryParts(members, json).join('');
}

/**
 * historyEntryText's text in three parts, to be written one after the other: the record's escaped
 * text stays a string of its own. An answer written part by part (LookupEvents' `JsonText`) then
 * never copies it again into one string with the members (V8 flattens a concatenation before
 * writing it: ~1.5 KB more garbage per event, a third of a lookup's).
 */
export function historyEntryParts(members: string, json: string): [string, string, string] {
  return [`{${members},"CloudTrailEvent":`, JSON.stringify(json), '}'];
}
