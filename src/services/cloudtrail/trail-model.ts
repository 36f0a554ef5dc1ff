/**
 * A trail as stored, which trails an account sees in a region (home and shadow trails), and the
 * shapes the API answers with.
 */
import type { AdvancedEventSelector, EventSelector, InsightSelector, OrganizationConfig } from '../../core/index.ts';

export interface Tag {
  Key: string;
  Value?: string;
}

export interface TrailDoc {
  Name: string;
  /** The owner: the account that created the trail (the management account for organization trails). */
  accountId: string;
  HomeRegion: string;
  TrailARN: string;
  S3BucketName: string;
  S3KeyPrefix?: string;
  SnsTopicName?: string;
  SnsTopicARN?: string;
  IncludeGlobalServiceEvents: boolean;
  IsMultiRegionTrail: boolean;
  LogFileValidationEnabled: boolean;
  CloudWatchLogsLogGroupArn?: string;
  CloudWatchLogsRoleArn?: string;
  KmsKeyId?: string;
  IsOrganizationTrail: boolean;
  /** Exactly one of the two is set once PutEventSelectors ran; neither means the default selectors. */
  eventSelectors?: EventSelector[];
  advancedEventSelectors?: AdvancedEventSelector[];
  insightSelectors?: InsightSelector[];
  tags: Tag[];
  isLogging: boolean;
  startLoggingTimeMs?: number;
  stopLoggingTimeMs?: number;
  createdMs: number;
}

export const TRAIL_KIND = 'trail';
export const MAX_TRAILS_PER_REGION = 5;

export function trailKey(accountId: string, homeRegion: string, name: string): string {
  return `${accountId}/${homeRegion}/${name}`;
}

/** Whether `accountId` sees the trail in `region`: its own home or shadow trails, and organization trails it belongs to. */
export function isVisible(t: TrailDoc, accountId: string, region: string, org: OrganizationConfig | undefined): boolean {
  const inRegion = t.HomeRegion === region || t.IsMultiRegionTrail;
  if (!inRegion) return false;
  if (t.accountId === accountId) return true;
  return t.IsOrganizationTrail && org !== undefined && org.managementAccountId === t.accountId && org.memberAccountIds.includes(accountId);
}

/** A trail seen from anywhere but its owner's home region is a shadow trail there. */
export function isShadow(t: TrailDoc, accountId: string, region: string): boolean {
  return t.accountId !== accountId || t.HomeRegion !== region;
}

const defined = <T extends Record<string, unknown>>(o: T): T => {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
};

/** CreateTrail / UpdateTrail answer. */
export function trailWriteView(t: TrailDoc) {
  return defined({
    Name: t.Name, S3BucketName: t.S3BucketName, S3KeyPrefix: t.S3KeyPrefix, SnsTopicName: t.SnsTopicName,
    SnsTopicARN: t.SnsTopicARN, IncludeGlobalServiceEvents: t.IncludeGlobalServiceEvents,
    IsMultiRegionTrail: t.IsMultiRegionTrail, TrailARN: t.TrailARN, LogFileValidationEnabled: t.LogFileValidationEnabled,
    CloudWatchLogsLogGroupArn: t.CloudWatchLogsLogGroupArn, CloudWatchLogsRoleArn: t.CloudWatchLogsRoleArn,
    KmsKeyId: t.KmsKeyId, IsOrganizationTrail: t.IsOrganizationTrail,
  });
}

/** The Trail structure of GetTrail and DescribeTrails. */
export function trailView(t: TrailDoc) {
  return defined({
    Name: t.Name, S3BucketName: t.S3BucketName, S3KeyPrefix: t.S3KeyPrefix, SnsTopicName: t.SnsTopicName,
    SnsTopicARN: t.SnsTopicARN, IncludeGlobalServiceEvents: t.IncludeGlobalServiceEvents,
    IsMultiRegionTrail: t.IsMultiRegionTrail, HomeRegion: t.HomeRegion, TrailARN: t.TrailARN,
    LogFileValidationEnabled: t.LogFileValidationEnabled, CloudWatchLogsLogGroupArn: t.CloudWatchLogsLogGroupArn,
    CloudWatchLogsRoleArn: t.CloudWatchLogsRoleArn, KmsKeyId: t.KmsKeyId,
    HasCustomEventSelectors: t.eventSelectors !== undefined || t.advancedEventSelectors !== undefined,
    HasInsightSelectors: (t.insightSelectors?.length ?? 0) > 0,
    IsOrganizationTrail: t.IsOrganizationTrail,
  });
}
