/**
 * CloudTrail Insights, the pure part: what is counted (a series per account, region, Insights
 * type, eventSource, eventName and, for error rates, errorCode), the per-interval counts and
 * attributions kept as events arrive, the detection statistic (docs/insights.md) and the Insights
 * records in AWS's field layout. No I/O: the analysis job (analysis.ts) persists what it changes.
 */
import { formatEventTime, stableUuid, type CloudTrailRecord, type InsightType } from '../core/index.ts';

/** Control-store kind of one series (SeriesDoc), keyed by seriesKey. */
export const INSIGHTS_SERIES_KIND = 'insights-series';
/** Control-store kind of the analysis' own state (AnalysisState), one document keyed ANALYSIS_KEY. */
export const INSIGHTS_STATE_KIND = 'insights-state';
export const ANALYSIS_KEY = 'analysis';

/** Counts of attribute values: user identity ARNs (u), user agents (a), error codes (e). */
export interface AttrCounts {
  u: Record<string, number>;
  a: Record<string, number>;
  e: Record<string, number>;
}

/** An insight that started and has not ended: its Start's baseline, frozen, and what it has seen. */
export interface OpenInsight {
  start: number;
  sharedEventID: string;
  mean: number;
  sd: number;
  threshold: number;
  baselineIntervals: number;
  /** Baseline attributions as the Start reported them. */
  baseAttrs: AttrCounts;
  sum: number;
  intervals: number;
  attrs: AttrCounts;
}

export interface SeriesDoc {
  accountId: string;
  region: string;
  type: InsightType;
  eventSource: string;
  eventName: string;
  /** ApiErrorRateInsight only. */
  errorCode?: string;
  /** Non-zero counts as [interval, count], ascending by interval (interval = floor(eventTime / intervalMs)). */
  counts: [number, number][];
  /** Attributions of intervals not yet evaluated, by interval. */
  pending: Record<string, AttrCounts>;
  /** Attributions of evaluated, normal intervals, summed by slot (an eighth of the baseline window). */
  base: Record<string, AttrCounts>;
  open?: OpenInsight;
}

export interface InsightsSettings {
  intervalMs: number;
  baselineWindowMs: number;
  minimumBaselineMs: number;
}

/** The detection statistic's constants (docs/insights.md "The statistic"). */
export const DETECTION = {
  /** Start: at least this many standard deviations above the baseline mean... */
  k: 3,
  /** ... and at least this many times the mean above it (i.e. double)... */
  relative: 1,
  /** ... and at least this many events above it (sparse APIs). */
  minExcess: 2,
} as const;

/** Distinct values kept per attribute per interval or slot (top values are what is reported). */
const MAX_VALUES = 25;
/** Values reported per attribute (AWS: top five). */
const TOP = 5;
const SLOTS_PER_WINDOW = 8;

export function seriesKey(s: Pick<SeriesDoc, 'accountId' | 'region' | 'type' | 'eventSource' | 'eventName' | 'errorCode'>): string {
  return [s.accountId, s.region, s.type, s.eventSource, s.eventName, s.errorCode ?? ''].join('|');
}

export function emptyAttrs(): AttrCounts {
  return { u: {}, a: {}, e: {} };
}

function bump(m: Record<string, number>, value: string, n = 1): void {
  if (value in m || Object.keys(m).length < MAX_VALUES) m[value] = (m[value] ?? 0) + n;
}

function mergeAttrs(into: AttrCounts, from: AttrCounts | undefined): void {
  if (!from) return;
  for (const k of ['u', 'a', 'e'] as const) for (const [v, n] of Object.entries(from[k])) bump(into[k], v, n);
}

/**
 * What one stored record adds to the analysis: the series it counts in (none for a record that is
 * not a management event, or neither a write nor an error). The record's own interval.
 */
export function observations(r: CloudTrailRecord): { type: InsightType; errorCode?: string }[] {
  if (r.eventType === 'AwsCloudTrailInsight' || r.eventCategory !== 'Management' || r.managementEvent === false) return [];
  if (typeof r.eventSource !== 'string' || typeof r.eventName !== 'string') return [];
  const out: { type: InsightType; errorCode?: string }[] = [];
  if (r.readOnly === false) out.push({ type: 'ApiCallRateInsight' });
  if (typeof r.errorCode === 'string' && r.errorCode.length > 0) out.push({ type: 'ApiErrorRateInsight', errorCode: r.errorCode });
  return out;
}

/**
 * Counts one event of the series in `interval`, with its attributions. `late`: the interval is
 * evaluated already (an event that arrived after it closed): its attributions go to the baseline.
 */
export function count(s: SeriesDoc, interval: number, r: CloudTrailRecord, late?: { windowIntervals: number }): void {
  const c = s.counts;
  let i = c.length;
  while (i > 0 && c[i - 1]![0] > interval) i--;
  if (i > 0 && c[i - 1]![0] === interval) c[i - 1]![1]++;
  else c.splice(i, 0, [interval, 1]);
  const p = late ? emptyAttrs() : (s.pending[interval] ??= emptyAttrs());
  if (typeof r.userIdentity?.arn === 'string') bump(p.u, r.userIdentity.arn);
  if (typeof r.userAgent === 'string') bump(p.a, r.userAgent);
  bump(p.e, typeof r.errorCode === 'string' && r.errorCode ? r.errorCode : 'null');
  if (late) addToBase(s, interval, p, late.windowIntervals);
}

export function countAt(s: SeriesDoc, interval: number): number {
  const c = s.counts;
  for (let i = c.length - 1; i >= 0; i--) {
    if (c[i]![0] === interval) return c[i]![1];
    if (c[i]![0] < interval) return 0;
  }
  return 0;
}

/** Mean and standard deviation of the counts per interval over [from, to), zeros included. */
export function baselineStats(s: SeriesDoc, from: number, to: number): { mean: number; sd: number } {
  const n = to - from;
  if (n <= 0) return { mean: 0, sd: 0 };
  let sum = 0;
  let sq = 0;
  for (const [at, k] of s.counts) {
    if (at >= to) break;
    if (at < from) continue;
    sum += k;
    sq += k * k;
  }
  const mean = sum / n;
  return { mean, sd: Math.sqrt(Math.max(0, sq / n - mean * mean)) };
}

/** The Start threshold over a baseline (docs/insights.md): a count at or above it starts an insight. */
export function startThreshold(mean: number, sd: number): number {
  return mean + Math.max(DETECTION.k * sd, DETECTION.relative * mean, DETECTION.minExcess);
}

/** A count at or below this ends an open insight: halfway between the baseline mean and the Start threshold. */
export function endThreshold(o: Pick<OpenInsight, 'mean' | 'threshold'>): number {
  return o.mean + (o.threshold - o.mean) / 2;
}

function slotLength(windowIntervals: number): number {
  return Math.max(1, Math.ceil(windowIntervals / SLOTS_PER_WINDOW));
}

function baselineAttrs(s: SeriesDoc, from: number, to: number, windowIntervals: number): AttrCounts {
  const len = slotLength(windowIntervals);
  const out = emptyAttrs();
  for (const [slot, a] of Object.entries(s.base)) {
    const at = Number(slot) * len;
    if (at + len > from && at < to) mergeAttrs(out, a);
  }
  return out;
}

/** An Insights record as the analysis emits it (before the front door normalises it). */
export type InsightRecord = CloudTrailRecord & { insightDetails: Record<string, unknown>; sharedEventID: string };

/** What evaluating one closed interval of a series gives: nothing, or a Start or End record. */
export function evaluate(s: SeriesDoc, interval: number, baselineIntervals: number, canStart: boolean, cfg: InsightsSettings): InsightRecord | undefined {
  const windowIntervals = Math.max(1, Math.round(cfg.baselineWindowMs / cfg.intervalMs));
  const x = countAt(s, interval);
  const attrs = s.pending[interval];
  delete s.pending[interval];
  let emitted: InsightRecord | undefined;
  const o = s.open;
  if (o) {
    if (x <= endThreshold(o)) {
      emitted = insightRecord(s, 'End', interval, o.sharedEventID, cfg, {
        mean: o.mean, insightAverage: o.sum / o.intervals, duration: o.intervals, baselineIntervals: o.baselineIntervals, attrs: o.attrs, divisor: o.intervals, baseAttrs: o.baseAttrs,
      });
      delete s.open;
      addToBase(s, interval, attrs, windowIntervals);
    } else {
      o.sum += x;
      o.intervals++;
      mergeAttrs(o.attrs, attrs);
    }
  } else if (x > 0 && canStart && baselineIntervals > 0) {
    const { mean, sd } = baselineStats(s, interval - baselineIntervals, interval);
    const threshold = startThreshold(mean, sd);
    if (x >= threshold) {
      const sharedEventID = stableUuid('insight', seriesKey(s), String(interval));
      const baseAttrs = baselineAttrs(s, interval - baselineIntervals, interval, windowIntervals);
      const open: OpenInsight = { start: interval, sharedEventID, mean, sd, threshold, baselineIntervals, baseAttrs, sum: x, intervals: 1, attrs: attrs ?? emptyAttrs() };
      s.open = open;
      emitted = insightRecord(s, 'Start', interval, sharedEventID, cfg, { mean, insightAverage: x, duration: 1, baselineIntervals, attrs: open.attrs, divisor: 1, baseAttrs });
    } else {
      addToBase(s, interval, attrs, windowIntervals);
    }
  } else {
    addToBase(s, interval, attrs, windowIntervals);
  }
  return emitted;
}

function addToBase(s: SeriesDoc, interval: number, attrs: AttrCounts | undefined, windowIntervals: number): void {
  if (!attrs) return;
  const slot = Math.floor(interval / slotLength(windowIntervals));
  mergeAttrs((s.base[slot] ??= emptyAttrs()), attrs);
}

/** Drops what fell out of the baseline window before `interval`; true when nothing of the series is left. */
export function prune(s: SeriesDoc, interval: number, windowIntervals: number): boolean {
  const from = interval - windowIntervals;
  let i = 0;
  while (i < s.counts.length && s.counts[i]![0] < from) i++;
  if (i > 0) s.counts.splice(0, i);
  const len = slotLength(windowIntervals);
  for (const slot of Object.keys(s.base)) if ((Number(slot) + 1) * len <= from) delete s.base[slot];
  for (const at of Object.keys(s.pending)) if (Number(at) < from) delete s.pending[at];
  return s.counts.length === 0 && !s.open && Object.keys(s.pending).length === 0;
}

const round = (n: number): number => Math.round(n * 1e10) / 1e10;

function top(m: Record<string, number>, divisor: number): { value: string; average: number }[] {
  return Object.entries(m).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, TOP).map(([value, n]) => ({ value, average: round(n / divisor) }));
}

/**
 * An Insights record in AWS's field layout (docs: CloudTrail record contents for Insights events
 * for trails; insightDetails element). Ids are derived from the insight's identity, so a record
 * emitted again after a crash is the same event and the store keeps it once.
 */
export function insightRecord(
  s: SeriesDoc, state: 'Start' | 'End', interval: number, sharedEventID: string, cfg: InsightsSettings,
  st: { mean: number; insightAverage: number; duration: number; baselineIntervals: number; attrs: AttrCounts; divisor: number; baseAttrs: AttrCounts },
): InsightRecord {
  const attributions = (['userIdentityArn', 'userAgent', 'errorCode'] as const).map((attribute) => {
    const k = attribute === 'userIdentityArn' ? 'u' : attribute === 'userAgent' ? 'a' : 'e';
    return { attribute, insight: top(st.attrs[k], st.divisor), baseline: top(st.baseAttrs[k], Math.max(1, st.baselineIntervals)) };
  });
  return {
    eventVersion: '1.08',
    eventTime: formatEventTime(interval * cfg.intervalMs),
    awsRegion: s.region,
    eventID: stableUuid(sharedEventID, state),
    eventType: 'AwsCloudTrailInsight',
    recipientAccountId: s.accountId,
    sharedEventID,
    insightDetails: {
      state,
      eventSource: s.eventSource,
      eventName: s.eventName,
      insightType: s.type,
      insightContext: {
        statistics: {
          baseline: { average: round(st.mean) },
          insight: { average: round(st.insightAverage) },
          insightDuration: st.duration,
          baselineDuration: st.baselineIntervals,
        },
        attributions,
      },
    },
    eventCategory: 'Insight',
  };
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * What an Insights record lacks or has wrong against AWS's documented layout (record contents for
 * Insights events for trails; the insightDetails element): an empty list when it conforms.
 * Statistics' insightDuration and baselineDuration and the attributions are optional (AWS's older
 * examples have none).
 */
export function insightRecordProblems(r: CloudTrailRecord): string[] {
  const out: string[] = [];
  for (const f of ['eventVersion', 'eventTime', 'awsRegion', 'eventID', 'recipientAccountId', 'sharedEventID'] as const) if (typeof r[f] !== 'string') out.push(`${f} is not a string`);
  if (r.eventType !== 'AwsCloudTrailInsight') out.push('eventType is not AwsCloudTrailInsight');
  if (r.eventCategory !== 'Insight') out.push('eventCategory is not Insight');
  for (const f of ['userIdentity', 'eventSource', 'eventName', 'sourceIPAddress', 'userAgent']) if (f in r) out.push(`${f} is not a field of Insights records`);
  const d = r.insightDetails;
  if (!isObj(d)) return [...out, 'insightDetails is not an object'];
  if (d.state !== 'Start' && d.state !== 'End') out.push('insightDetails.state is not Start or End');
  for (const f of ['eventSource', 'eventName']) if (typeof d[f] !== 'string') out.push(`insightDetails.${f} is not a string`);
  if (d.insightType !== 'ApiCallRateInsight' && d.insightType !== 'ApiErrorRateInsight') out.push('insightDetails.insightType is not an Insights type');
  const c = d.insightContext;
  if (!isObj(c) || !isObj(c.statistics)) return [...out, 'insightDetails.insightContext.statistics is not an object'];
  const s = c.statistics;
  for (const f of ['baseline', 'insight']) if (!isObj(s[f]) || !isNum((s[f] as Record<string, unknown>).average)) out.push(`statistics.${f}.average is not a number`);
  for (const f of ['insightDuration', 'baselineDuration']) if (f in s && !isNum(s[f])) out.push(`statistics.${f} is not a number`);
  if ('attributions' in c) {
    if (!Array.isArray(c.attributions)) return [...out, 'attributions is not a list'];
    for (const a of c.attributions as unknown[]) {
      if (!isObj(a) || !['userIdentityArn', 'userAgent', 'errorCode'].includes(a.attribute as string)) {
        out.push('an attribution has no known attribute');
        continue;
      }
      for (const side of ['insight', 'baseline']) {
        const list = a[side];
        if (!Array.isArray(list) || list.length > TOP || !list.every((v) => isObj(v) && typeof v.value === 'string' && isNum(v.average))) out.push(`attribution ${a.attribute as string}.${side} is not a list of at most ${TOP} {value, average}`);
      }
    }
  }
  return out;
}
