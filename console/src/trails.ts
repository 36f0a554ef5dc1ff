// Trails as DescribeTrails, GetTrailStatus and GetEventSelectors return them.
import { cloudTrail } from './api.ts';
// The selectors' wire shapes are core's (src/core/event-selectors/shapes.ts: types only).
import type { AdvancedEventSelector as AdvancedSelector, EventSelector as BasicSelector } from '../../src/core/event-selectors/shapes.ts';
export type { AdvancedSelector, BasicSelector };

export interface Trail {
  Name: string;
  TrailARN: string;
  HomeRegion?: string;
  S3BucketName?: string;
  S3KeyPrefix?: string;
  SnsTopicARN?: string;
  SnsTopicName?: string;
  IncludeGlobalServiceEvents?: boolean;
  IsMultiRegionTrail?: boolean;
  IsOrganizationTrail?: boolean;
  LogFileValidationEnabled?: boolean;
  CloudWatchLogsLogGroupArn?: string;
  CloudWatchLogsRoleArn?: string;
  KmsKeyId?: string;
  HasCustomEventSelectors?: boolean;
}

export interface TrailStatus {
  IsLogging?: boolean;
  LatestDeliveryTime?: number;
  LatestDeliveryError?: string;
  LatestNotificationError?: string;
  LatestCloudWatchLogsDeliveryError?: string;
  LatestDigestDeliveryError?: string;
  StartLoggingTime?: number;
  StopLoggingTime?: number;
}

export async function describeTrail(name: string): Promise<Trail | undefined> {
  const out = await cloudTrail<{ trailList?: Trail[] }>('DescribeTrails', { trailNameList: [name], includeShadowTrails: true });
  return out.trailList?.[0];
}

export const trailStatus = (nameOrArn: string) => cloudTrail<TrailStatus>('GetTrailStatus', { Name: nameOrArn });

export const eventSelectors = (nameOrArn: string) =>
  cloudTrail<{ EventSelectors?: BasicSelector[]; AdvancedEventSelectors?: AdvancedSelector[] }>('GetEventSelectors', { TrailName: nameOrArn });

export const formatTime = (t: number | undefined) => (t === undefined ? '-' : new Date(t * 1000).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' }));

/** The trail's last error of any kind, for the list. */
export const lastError = (s: TrailStatus | undefined) => s?.LatestDeliveryError || s?.LatestNotificationError || s?.LatestCloudWatchLogsDeliveryError || s?.LatestDigestDeliveryError || '';
