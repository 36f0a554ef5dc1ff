/**
 * Insights selectors (spec 3.5; API reference PutInsightSelectors, InsightSelector,
 * InvalidInsightSelectorsException).
 *
 * InsightType is ApiCallRateInsight or ApiErrorRateInsight; EventCategories lists Management and/or
 * Data (Data on trails only) and defaults to Management; an empty list of selectors turns Insights
 * off. AWS's messages for InvalidInsightSelectorsException were not found in public material: the
 * messages here are ours.
 */

import type { CloudTrailRecord } from './record.ts';

export type InsightType = 'ApiCallRateInsight' | 'ApiErrorRateInsight';
export type InsightEventCategory = 'Management' | 'Data';

export interface InsightSelector {
  InsightType?: InsightType;
  EventCategories?: InsightEventCategory[];
}

export const INSIGHT_TYPES: readonly InsightType[] = ['ApiCallRateInsight', 'ApiErrorRateInsight'];
export const INSIGHT_EVENT_CATEGORIES: readonly InsightEventCategory[] = ['Management', 'Data'];

export type InsightSelectorsValidation = { ok: true; value: InsightSelector[] } | { ok: false; message: string };

const fail = (message: string): { ok: false; message: string } => ({ ok: false, message });

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Checks PutInsightSelectors' `InsightSelectors` and answers them normalised as GetInsightSelectors
 * shows them: each selector with its InsightType and its EventCategories (`["Management"]` when
 * absent, null or empty), order kept. `[]` is valid and means "disable Insights". An InsightType
 * given twice, or a category given twice in one selector, is refused. Event data stores
 * (`target: 'eventDataStore'`) take Management only.
 */
export function validateInsightSelectors(input: unknown, target: 'trail' | 'eventDataStore' = 'trail'): InsightSelectorsValidation {
  if (!Array.isArray(input)) return fail('InsightSelectors must be a list of Insights selectors.');
  const out: InsightSelector[] = [];
  const seenTypes = new Set<string>();
  for (const raw of input) {
    if (!isObject(raw)) return fail('Each Insights selector must be a JSON object.');
    const type = raw.InsightType;
    if (type === undefined || type === null) return fail('InsightType is required in each Insights selector.');
    if (typeof type !== 'string' || !(INSIGHT_TYPES as readonly string[]).includes(type)) {
      return fail(`Value ${typeof type === 'string' ? type : JSON.stringify(type)} for InsightType is invalid. Valid values are: ${INSIGHT_TYPES.join(', ')}`);
    }
    if (seenTypes.has(type)) return fail(`InsightType ${type} is specified more than once.`);
    seenTypes.add(type);

    let categories: InsightEventCategory[] = ['Management'];
    const rawCats = raw.EventCategories;
    if (rawCats !== undefined && rawCats !== null) {
      if (!Array.isArray(rawCats)) return fail('EventCategories must be a list of event categories.');
      if (rawCats.length > 0) {
        categories = [];
        for (const c of rawCats) {
          if (typeof c !== 'string' || !(INSIGHT_EVENT_CATEGORIES as readonly string[]).includes(c)) {
            return fail(`Value ${typeof c === 'string' ? c : JSON.stringify(c)} for EventCategories is invalid. Valid values are: ${INSIGHT_EVENT_CATEGORIES.join(', ')}`);
          }
          if (c === 'Data' && target === 'eventDataStore') {
            return fail('Insights on event data stores can be enabled for Management events only.');
          }
          if ((categories as string[]).includes(c)) return fail(`Event category ${c} is specified more than once for InsightType ${type}.`);
          categories.push(c as InsightEventCategory);
        }
      }
    }
    out.push({ InsightType: type as InsightType, EventCategories: categories });
  }
  return { ok: true, value: out };
}

/**
 * Whether a trail delivers an Insights record (eventType AwsCloudTrailInsight): the trail selects
 * its insightType (for Management events), and logs the management events that type analyses, as
 * AWS requires (spec 3.5): write calls of the source for ApiCallRateInsight, read or write calls
 * for ApiErrorRateInsight. `admits` is the trail's compiled scope (regions, accounts, selectors),
 * asked about a probe record of the Insights record's account, region, source and name.
 */
export function trailDeliversInsight(
  selectors: readonly InsightSelector[] | undefined,
  record: { recipientAccountId: string; awsRegion: string; eventTime: string; insightDetails?: Record<string, unknown> },
  admits: (probe: CloudTrailRecord) => boolean,
): boolean {
  const d = record.insightDetails;
  const type = d?.insightType;
  if (!selectors?.some((s) => s.InsightType === type && (s.EventCategories ?? ['Management']).includes('Management'))) return false;
  const probe = (readOnly: boolean) => admits({
    eventVersion: '1.08', eventTime: record.eventTime, awsRegion: record.awsRegion, recipientAccountId: record.recipientAccountId, eventID: '',
    eventCategory: 'Management', managementEvent: true, eventType: 'AwsApiCall', readOnly,
    eventSource: typeof d?.eventSource === 'string' ? d.eventSource : undefined, eventName: typeof d?.eventName === 'string' ? d.eventName : undefined,
  });
  return type === 'ApiCallRateInsight' ? probe(false) : probe(false) || probe(true);
}
