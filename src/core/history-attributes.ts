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
  if (!category) return undefined;
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
  add('Username', lookupUsername(r.userIdentity));
  add('AccessKeyId', r.userIdentity?.accessKeyId);
  const seen = new Set<string>();
  for (const res of Array.isArray(r.resources) ? r.resources : []) {
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
