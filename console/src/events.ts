// Event history's rows, filter, time range and downloads: what LookupEvents returns, as the AWS
// console shows it.
import { cloudTrail } from './api.ts';

/** One entry of LookupEvents' Events. */
export interface LookupEvent {
  EventId: string;
  EventName?: string;
  ReadOnly?: string;
  AccessKeyId?: string;
  EventTime?: number | string;
  EventSource?: string;
  Username?: string;
  Resources?: { ResourceType?: string; ResourceName?: string }[];
  CloudTrailEvent?: string;
}

export interface EventRow {
  id: string;
  entry: LookupEvent;
  record: Record<string, any>;
  eventTime: Date | undefined;
  userName: string;
  eventName: string;
  resourceType: string;
  resourceName: string;
  eventSource: string;
  accessKeyId: string;
  sourceIp: string;
  requestId: string;
  errorCode: string;
  readOnly: string;
  region: string;
}

export function toRow(e: LookupEvent): EventRow {
  let record: Record<string, any> = {};
  try {
    record = e.CloudTrailEvent ? JSON.parse(e.CloudTrailEvent) : {};
  } catch {
    record = {};
  }
  const t = typeof e.EventTime === 'number' ? new Date(e.EventTime * 1000) : e.EventTime ? new Date(e.EventTime) : undefined;
  const resources = e.Resources ?? [];
  return {
    id: e.EventId,
    entry: e,
    record,
    eventTime: t,
    userName: e.Username ?? '',
    eventName: e.EventName ?? '',
    resourceType: resources.map((r) => r.ResourceType ?? '').filter(Boolean).join(', '),
    resourceName: resources.map((r) => r.ResourceName ?? '').filter(Boolean).join(', '),
    eventSource: e.EventSource ?? '',
    accessKeyId: e.AccessKeyId ?? '',
    sourceIp: String(record.sourceIPAddress ?? ''),
    requestId: String(record.requestID ?? ''),
    errorCode: String(record.errorCode ?? ''),
    readOnly: e.ReadOnly ?? String(record.readOnly ?? ''),
    region: String(record.awsRegion ?? ''),
  };
}

/** The lookup attributes, as the AWS console names them. */
export const ATTRIBUTES: { value: string; label: string }[] = [
  { value: 'EventName', label: 'Event name' },
  { value: 'Username', label: 'User name' },
  { value: 'ResourceType', label: 'Resource type' },
  { value: 'ResourceName', label: 'Resource name' },
  { value: 'EventSource', label: 'Event source' },
  { value: 'EventId', label: 'Event ID' },
  { value: 'AccessKeyId', label: 'AWS access key' },
  { value: 'ReadOnly', label: 'Read-only' },
];

export interface TimeRange {
  type: 'relative' | 'absolute';
  amount?: number;
  unit?: 'second' | 'minute' | 'hour' | 'day' | 'week' | 'month' | 'year';
  startDate?: string;
  endDate?: string;
}

const UNIT_MS: Record<string, number> = { second: 1e3, minute: 6e4, hour: 36e5, day: 864e5, week: 6048e5, month: 2592e6, year: 31536e6 };

/** The range as LookupEvents' StartTime and EndTime (epoch seconds). */
export function rangeTimes(r: TimeRange | null, nowMs = Date.now()): { StartTime?: number; EndTime?: number } {
  if (!r) return {};
  if (r.type === 'relative' && r.amount && r.unit) return { StartTime: Math.floor((nowMs - r.amount * UNIT_MS[r.unit]!) / 1000) };
  const out: { StartTime?: number; EndTime?: number } = {};
  if (r.startDate) out.StartTime = Math.floor(Date.parse(r.startDate) / 1000);
  if (r.endDate) out.EndTime = Math.ceil(Date.parse(r.endDate) / 1000);
  return out;
}

/** The range in the URL: `last=3-day` or `from=<ISO>&to=<ISO>`. */
export function rangeFromQuery(q: URLSearchParams): TimeRange | null {
  const last = q.get('last');
  if (last) {
    const [amount, unit] = last.split('-');
    if (amount && unit && UNIT_MS[unit]) return { type: 'relative', amount: Number(amount), unit: unit as TimeRange['unit'] };
  }
  const from = q.get('from');
  const to = q.get('to');
  if (from || to) return { type: 'absolute', startDate: from ?? undefined, endDate: to ?? undefined };
  return null;
}

export function rangeToQuery(r: TimeRange | null): Record<string, string | undefined> {
  if (!r) return {};
  if (r.type === 'relative') return { last: `${r.amount}-${r.unit}` };
  return { from: r.startDate, to: r.endDate };
}

export interface Filter {
  key: string;
  value: string;
}

/** LookupEvents' input for a filter and time range. */
export function lookupInput(filter: Filter | undefined, range: TimeRange | null, maxResults: number, nextToken?: string): Record<string, unknown> {
  return {
    ...(filter && filter.value ? { LookupAttributes: [{ AttributeKey: filter.key, AttributeValue: filter.value }] } : {}),
    ...rangeTimes(range),
    MaxResults: maxResults,
    ...(nextToken ? { NextToken: nextToken } : {}),
  };
}

export const CSV_COLUMNS: [string, (r: EventRow) => string][] = [
  ['Event ID', (r) => r.id],
  ['Event time', (r) => r.eventTime?.toISOString() ?? ''],
  ['User name', (r) => r.userName],
  ['Event name', (r) => r.eventName],
  ['Resource type', (r) => r.resourceType],
  ['Resource name', (r) => r.resourceName],
  ['Event source', (r) => r.eventSource],
  ['AWS access key', (r) => r.accessKeyId],
  ['AWS region', (r) => r.region],
  ['Source IP address', (r) => r.sourceIp],
  ['Request ID', (r) => r.requestId],
  ['Error code', (r) => r.errorCode],
  ['Read-only', (r) => r.readOnly],
];

const csvCell = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/**
 * Every event of the filtered set, page after page of LookupEvents (50 a page, as NextToken
 * allows), written as CSV lines or JSON records as they come; `progress` after each page.
 * Resolves with the file as a Blob of those parts.
 */
export async function downloadEvents(format: 'csv' | 'json', filter: Filter | undefined, range: TimeRange | null, progress: (count: number) => void, signal: AbortSignal): Promise<Blob> {
  const parts: string[] = [];
  parts.push(format === 'csv' ? `${CSV_COLUMNS.map(([h]) => h).join(',')}\r\n` : '{"Records":[');
  let count = 0;
  let token: string | undefined;
  // The range is fixed once: a relative range must not move while the pages are read.
  const fixed = range && range.type === 'relative' ? { type: 'absolute' as const, startDate: new Date(rangeTimes(range).StartTime! * 1000).toISOString(), endDate: new Date().toISOString() } : range;
  do {
    const out = await cloudTrail<{ Events?: LookupEvent[]; NextToken?: string }>('LookupEvents', lookupInput(filter, fixed, 50, token), signal);
    for (const e of out.Events ?? []) {
      if (format === 'csv') {
        const row = toRow(e);
        parts.push(`${CSV_COLUMNS.map(([, f]) => csvCell(f(row))).join(',')}\r\n`);
      } else parts.push(`${count > 0 ? ',' : ''}\n${e.CloudTrailEvent ?? 'null'}`);
      count++;
    }
    progress(count);
    token = out.NextToken;
  } while (token && !signal.aborted);
  if (format === 'json') parts.push('\n]}\n');
  return new Blob(parts, { type: format === 'csv' ? 'text/csv' : 'application/json' });
}
