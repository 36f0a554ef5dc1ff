/**
 * Where a trail's delivery and its digest chains stand, as pure functions of the stored documents:
 * the delivery worker and the digest job schedule their work with them, and the consumer-lag
 * metrics (src/observability/metrics.ts) read the same positions, so the gauges cannot drift from
 * what the jobs do.
 */
import type { TrailDoc } from '../core/index.ts';

/**
 * The events a trail's delivery has still to read: those with start < seq <= limit. `cursor` is
 * the trail's own delivery cursor (0 when it has none yet, or the stored one is an earlier trail's
 * of the same ARN). A trail that stopped logging delivers up to where it stopped.
 */
export function deliveryRange(t: Pick<TrailDoc, 'isLogging' | 'deliverAfterSeq' | 'deliverThroughSeq'>, cursor: number): { start: number; limit: number } {
  const start = Math.max(cursor, t.deliverAfterSeq ?? 0);
  return { start, limit: t.isLogging ? Number.POSITIVE_INFINITY : (t.deliverThroughSeq ?? start) };
}

/**
 * Where a digest chain (re)starts: the time logging started, but at most one period before the
 * current one (`nowMs`'s period start minus one period), so a trail that turns validation on, or
 * a chain that starts again, catches up one period, never its whole history.
 */
export function firstDigestStartMs(t: Pick<TrailDoc, 'startLoggingTimeMs'>, nowMs: number, periodMs: number): number {
  const boundary = Math.floor(nowMs / periodMs) * periodMs;
  return Math.max(t.startLoggingTimeMs ?? boundary - periodMs, boundary - periodMs);
}

/**
 * When a digest chain's next digest is due (the end of the period it covers), or undefined when the
 * chain writes none: the trail stopped logging and the chain ended or never started. `link` is the
 * chain's latest digest (undefined: no chain yet, or an earlier trail's).
 */
export function nextDigestDueMs(
  t: Pick<TrailDoc, 'isLogging' | 'startLoggingTimeMs' | 'stopLoggingTimeMs'>, link: { endMs: number; ended?: boolean } | undefined, nowMs: number, periodMs: number,
): number | undefined {
  if (!link || link.ended) {
    if (!t.isLogging) return undefined;
    const start = firstDigestStartMs(t, nowMs, periodMs);
    return Math.floor(start / periodMs) * periodMs + periodMs;
  }
  const next = Math.floor(link.endMs / periodMs) * periodMs + periodMs;
  // After StopLogging: the last digest ends with the period that holds the stop.
  if (!t.isLogging) {
    const finalEnd = Math.ceil((t.stopLoggingTimeMs ?? nowMs) / periodMs) * periodMs;
    return link.endMs >= finalEnd ? undefined : Math.min(next, finalEnd);
  }
  return next;
}
