/**
 * ListInsightsMetricData and ListInsightsData (docs/insights.md): the first from the Insights
 * analysis' counters (src/insights), the second from Event history's Insights entries.
 */
import { cloudTrailError } from '../../aws/errors.ts';
import type { JsonText } from '../../aws/json-text.ts';
import type { ListInsightsDataRequest, ListInsightsMetricDataRequest, ListInsightsMetricDataResponse } from '../../aws/protocol/index.ts';
import { lookupEvents, type LookupEventsDeps } from '../../history/index.ts';
import { insightsMetricData } from '../../insights/index.ts';
import type { ControlStore } from '../../stores/index.ts';
import type { CallContext } from '../context.ts';
import type { TrailService } from './trails.ts';

export interface InsightsServiceDeps {
  control: ControlStore;
  trails: TrailService;
  history: LookupEventsDeps;
  /** The analysis' counting interval (config insights.intervalMs). */
  intervalMs: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const PERIODS = [60, 300, 3600];

export class InsightsService {
  private readonly deps: InsightsServiceDeps;

  constructor(deps: InsightsServiceDeps) {
    this.deps = deps;
  }

  async listInsightsMetricData(ctx: CallContext, input: ListInsightsMetricDataRequest): Promise<ListInsightsMetricDataResponse> {
    const trail = input.TrailName !== undefined ? await this.deps.trails.resolve(input.TrailName, ctx, 'TrailName') : undefined;
    const period = input.Period ?? 3600;
    if (!PERIODS.includes(period)) throw cloudTrailError('InvalidParameterException', `Period must be one of ${PERIODS.join(', ')} seconds.`);
    if (input.InsightType === 'ApiCallRateInsight' && input.ErrorCode !== undefined) {
      throw cloudTrailError('InvalidParameterException', 'ErrorCode is allowed only with InsightType ApiErrorRateInsight.');
    }
    const endMs = input.EndTime !== undefined ? input.EndTime * 1000 : ctx.nowMs;
    const startMs = input.StartTime !== undefined ? input.StartTime * 1000 : endMs - 90 * DAY_MS;
    if (startMs > endMs) throw cloudTrailError('InvalidParameterException', 'StartTime must not be after EndTime.');
    let offset = 0;
    if (input.NextToken !== undefined) {
      const m = /^o(\d{1,9})$/.exec(input.NextToken);
      if (!m) throw cloudTrailError('InvalidParameterException', 'NextToken is not one this operation issued.');
      offset = Number(m[1]);
    }
    const page = await insightsMetricData(this.deps.control, {
      accountId: ctx.accountId, region: ctx.region, type: input.InsightType, eventSource: input.EventSource, eventName: input.EventName,
      errorCode: input.ErrorCode, startMs, endMs, periodMs: period * 1000, fillWithZeros: (input.DataType ?? 'FillWithZeros') === 'FillWithZeros',
      offset, maxResults: input.MaxResults ?? 21600,
    }, this.deps.intervalMs);
    return {
      ...(trail ? { TrailARN: trail.TrailARN } : {}),
      EventSource: input.EventSource,
      EventName: input.EventName,
      InsightType: input.InsightType,
      ...(input.ErrorCode !== undefined ? { ErrorCode: input.ErrorCode } : {}),
      Timestamps: page.timestamps.map((ms) => ms / 1000),
      Values: page.values,
      ...(page.next !== undefined ? { NextToken: `o${page.next}` } : {}),
    };
  }

  /** The Insights events of the trail's account and the caller's region, as LookupEvents with EventCategory insight answers them. */
  async listInsightsData(ctx: CallContext, input: ListInsightsDataRequest): Promise<JsonText> {
    await this.deps.trails.resolve(input.InsightSource, ctx, 'InsightSource');
    const dims = Object.entries(input.Dimensions ?? {});
    return lookupEvents(this.deps.history, ctx, {
      EventCategory: 'insight',
      ...(dims.length > 0 ? { LookupAttributes: dims.map(([k, v]) => ({ AttributeKey: k as 'EventId', AttributeValue: v })) } : {}),
      ...(input.StartTime !== undefined ? { StartTime: input.StartTime } : {}),
      ...(input.EndTime !== undefined ? { EndTime: input.EndTime } : {}),
      ...(input.MaxResults !== undefined ? { MaxResults: input.MaxResults } : {}),
      ...(input.NextToken !== undefined ? { NextToken: input.NextToken } : {}),
    });
  }
}
