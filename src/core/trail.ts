/**
 * A trail as stored, and which trails an account sees in a region: its own home and shadow trails,
 * and the organization trails of its organization.
 */
import type { AdvancedEventSelector, EventSelector } from './event-selectors/index.ts';
import type { InsightSelector } from './insight-selectors.ts';
import type { OrganizationConfig } from './organization.ts';

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
  /** Delivery starts after this event-log seq: the end of the log when logging first started. */
  deliverAfterSeq?: number;
  /** While not logging: delivery stops at this seq, the end of the log when logging stopped. */
  deliverThroughSeq?: number;
  /** Seq ranges (after, through] during which logging was stopped: never delivered. */
  skippedSeqs?: [number, number][];
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


/** Whether the event at `seq` falls in a period when the trail was logging (given its skipped ranges). */
export function isLoggedSeq(skipped: readonly (readonly [number, number])[] | undefined, seq: number): boolean {
  if (!skipped) return true;
  for (const [after, through] of skipped) if (seq > after && seq <= through) return false;
  return true;
}

/**
 * Control-store kind of a log file the store confirmed for a trail with log file validation,
 * keyed `<trail ARN>|<object key>`, until a digest lists it.
 */
export const DELIVERED_FILE_KIND = 'delivered-file';

export interface DeliveredFile {
  bucket: string;
  key: string;
  accountId: string;
  region: string;
  /** Hex SHA-256 of the uncompressed file. */
  sha256: string;
  oldestEventTime: string;
  newestEventTime: string;
  /** When the store confirmed the write. */
  confirmedMs: number;
}

/** Control-store kind of a trail's digest delivery status, keyed by trail ARN (written by the digest job). */
export const DIGEST_STATUS_KIND = 'digest-status';

export interface DigestStatus {
  latestDigestDeliveryTimeMs?: number;
  latestDigestDeliveryError?: string;
}

/** Control-store kind of a trail's delivery state, keyed by trail ARN. */
export const DELIVERY_STATE_KIND = 'delivery-state';

/** What delivery remembers per trail (docs/design/delivery.md). */
export interface DeliveryState {
  /** The createdMs of the trail this state belongs to: a trail deleted and created again starts afresh. */
  trailCreatedMs?: number;
  /** Every event with seq <= cursor is delivered for this trail, or was not the trail's. */
  cursor: number;
  /** A batch being written: redone as it is after a crash. */
  intent?: DeliveryIntent;
  latestDeliveryTimeMs?: number;
  latestDeliveryAttemptTimeMs?: number;
  latestDeliveryError?: string;
  /** Legacy: notification and CloudWatch Logs fields written here before NotificationStatus existed; read only as a fallback. */
  latestNotificationTimeMs?: number;
  latestNotificationAttemptTimeMs?: number;
  latestNotificationError?: string;
  latestCloudWatchLogsDeliveryTimeMs?: number;
  latestCloudWatchLogsDeliveryError?: string;
}

/**
 * Control-store kind of a trail's notification and CloudWatch Logs status, keyed by trail ARN.
 * Written only by after-delivery, which runs beside the delivery worker (not inside its pass), so
 * it keeps its own document: the worker's DeliveryState (cursor, intent) is never rewritten by it.
 */
export const NOTIFICATION_STATUS_KIND = 'notification-status';

export interface NotificationStatus {
  /** The createdMs of the trail this status belongs to (as DeliveryState.trailCreatedMs). */
  trailCreatedMs: number;
  latestNotificationTimeMs?: number;
  latestNotificationAttemptTimeMs?: number;
  latestNotificationError?: string;
  latestCloudWatchLogsDeliveryTimeMs?: number;
  latestCloudWatchLogsDeliveryError?: string;
}

export interface DeliveryIntent {
  /** Events with fromSeq < seq <= toSeq. */
  fromSeq: number;
  toSeq: number;
  deliveredMs: number;
  /** What selected the events and where they go, as it was when the batch closed. */
  bucket: string;
  prefix?: string;
  organizationId?: string;
  kmsKeyId?: string;
  regions: string[];
  accountIds: string[];
  includeGlobalServiceEvents: boolean;
  skippedSeqs?: [number, number][];
  eventSelectors?: EventSelector[];
  advancedEventSelectors?: AdvancedEventSelector[];
  /** The trail's Insights selectors: which Insights records it delivers (into CloudTrail-Insight files). */
  insightSelectors?: InsightSelector[];
}
