/**
 * ListInsightsMetricData from the analysis' own counters: a series' counts summed per Period,
 * oldest first, with or without the periods that hold no events (DataType), paged by an offset.
 */
import type { ControlStore } from '../stores/index.ts';
import { INSIGHTS_SERIES_KIND, seriesKey, type SeriesDoc } from './series.ts';

/** The series (ApiErrorRateInsight without errorCode: every error code's), the range and the page. */
export interface MetricQuery extends Pick<SeriesDoc, 'accountId' | 'region' | 'type' | 'eventSource' | 'eventName' | 'errorCode'> {
  startMs: number;
  endMs: number;
  periodMs: number;
  fillWithZeros: boolean;
  offset: number;
  maxResults: number;
}

export interface MetricPage {
  timestamps: number[];
  values: number[];
  /** The offset of the next page, when there is one. */
  next?: number;
}

/**
 * The points of one series in [startMs, endMs), one per period (period starts aligned to the
 * period from the epoch). ApiErrorRateInsight without an error code sums every error code's series.
 */
export async function insightsMetricData(control: ControlStore, q: MetricQuery, intervalMs: number): Promise<MetricPage> {
  const sums = new Map<number, number>();
  const docs: SeriesDoc[] = [];
  if (q.type === 'ApiErrorRateInsight' && q.errorCode === undefined) {
    // The key without an error code ends in the separator after the event name: keeping it makes the
    // prefix match this event name's series only (Put, not PutObject).
    const prefix = seriesKey({ accountId: q.accountId, region: q.region, type: q.type, eventSource: q.eventSource, eventName: q.eventName });
    for (const { doc } of await control.list<SeriesDoc>(INSIGHTS_SERIES_KIND, prefix)) docs.push(doc);
  } else {
    const doc = await control.get<SeriesDoc>(INSIGHTS_SERIES_KIND, seriesKey({ ...q, errorCode: q.type === 'ApiErrorRateInsight' ? q.errorCode : undefined }));
    if (doc) docs.push(doc);
  }
  for (const doc of docs) {
    for (const [interval, n] of doc.counts) {
      const t = interval * intervalMs;
      if (t < q.startMs || t >= q.endMs) continue;
      const p = Math.floor(t / q.periodMs) * q.periodMs;
      sums.set(p, (sums.get(p) ?? 0) + n);
    }
  }
  const points: [number, number][] = [];
  if (q.fillWithZeros) {
    const first = Math.floor(q.startMs / q.periodMs) * q.periodMs;
    // Periods are listed lazily from the offset: a 90-day range at 60 s is 129,600 points.
    for (let p = first + q.offset * q.periodMs, k = 0; p < q.endMs && k <= q.maxResults; p += q.periodMs, k++) points.push([p, sums.get(p) ?? 0]);
    const page = points.slice(0, q.maxResults);
    return { timestamps: page.map((x) => x[0]), values: page.map((x) => x[1]), ...(points.length > q.maxResults ? { next: q.offset + q.maxResults } : {}) };
  }
  const all = [...sums].sort((a, b) => a[0] - b[0]);
  const page = all.slice(q.offset, q.offset + q.maxResults);
  return { timestamps: page.map((x) => x[0]), values: page.map((x) => x[1]), ...(all.length > q.offset + q.maxResults ? { next: q.offset + q.maxResults } : {}) };
}
