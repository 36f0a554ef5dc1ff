/** The shapes the trail API answers with. The stored trail itself is core's TrailDoc. */
import type { TrailDoc } from '../../core/index.ts';

export { isShadow, isVisible, MAX_TRAILS_PER_REGION, TRAIL_KIND, trailKey, type Tag, type TrailDoc } from '../../core/index.ts';

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

