/**
 * What CloudTrail sends to EventBridge, and in which envelope (docs/compatibility.md, "EventBridge";
 * docs/realtime.md). Pure.
 *
 * Which events go (AWS: EventBridge User Guide, "Events from AWS services" and "Receiving read-only
 * management events from AWS services"; CloudTrail User Guide, "Working with CloudTrail events in
 * EventBridge"):
 * - management events, write and read-only: CloudTrail sends both, and EventBridge matches the
 *   read-only ones only for rules in state ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS. An
 *   endpoint without that rule state (moto, LocalStack) would match them on every rule, so
 *   `eventBridge.readOnlyManagementEvents: false` keeps them back;
 * - data events only when a logging trail of the account logs them ("To record events with a
 *   detail-type value of AWS API Call via CloudTrail, a CloudTrail trail with logging enabled is
 *   required"; for S3 "you need to configure CloudTrail to log data events");
 * - console sign-in, service events, console actions and Insights, each with its detail-type;
 * - nothing else (network activity events, events of other categories such as PutAuditEvents'
 *   integration events).
 */
import { stableUuid, type CloudTrailRecord } from '../core/index.ts';

/** detail-type by the record's eventType. */
const DETAIL_TYPES: Record<string, string> = {
  AwsApiCall: 'AWS API Call via CloudTrail',
  AwsConsoleSignIn: 'AWS Console Sign In via CloudTrail',
  AwsServiceEvent: 'AWS Service Event via CloudTrail',
  AwsConsoleAction: 'AWS Console Action via CloudTrail',
  AwsCloudTrailInsight: 'AWS Insight via CloudTrail',
};

/** The envelope's detail-type for a record, or undefined when CloudTrail sends no such events. */
export function detailTypeOf(r: CloudTrailRecord): string | undefined {
  const t = typeof r.eventType === 'string' ? DETAIL_TYPES[r.eventType] : undefined;
  if (t === undefined) return undefined;
  if (r.eventType === 'AwsCloudTrailInsight') return t;
  return r.eventCategory === 'Management' || r.eventCategory === 'Data' || r.eventCategory === undefined ? t : undefined;
}

/** `aws.<service>` from `<service>.amazonaws.com` (Insights: `aws.cloudtrail`). */
export function sourceOf(r: CloudTrailRecord): string {
  if (r.eventType === 'AwsCloudTrailInsight') return 'aws.cloudtrail';
  const es = typeof r.eventSource === 'string' ? r.eventSource : '';
  const service = es.endsWith('.amazonaws.com') ? es.slice(0, -'.amazonaws.com'.length) : es;
  return `aws.${service || 'unknown'}`;
}

export interface ForwardRules {
  /** Send read-only management events (AWS does; default true). */
  readOnlyManagementEvents: boolean;
  /** Whether a logging trail of the record's account logs this data event (AWS's rule for data events). */
  dataEventLogged(r: CloudTrailRecord): boolean;
}

/** Whether CloudTrail would send this record to EventBridge (the rules above). */
export function forwardsToEventBridge(r: CloudTrailRecord, rules: ForwardRules): boolean {
  if (detailTypeOf(r) === undefined) return false;
  if (r.eventCategory === 'Data' || r.managementEvent === false) return rules.dataEventLogged(r);
  if (r.readOnly === true && r.eventType === 'AwsApiCall' && !rules.readOnlyManagementEvents) return false;
  return true;
}

/** One PutEvents request entry for a record (the bus assigns `id`, `account` and `version`). */
export interface PutEventsEntry {
  Source: string;
  DetailType: string;
  Detail: string;
  Resources: string[];
  Time: Date;
  EventBusName: string;
}

/** The PutEvents entry EventBridge turns into the envelope AWS writes: `detail` is the record as stored. */
export function putEventsEntry(r: CloudTrailRecord, json: string, eventBusName: string): PutEventsEntry {
  return { Source: sourceOf(r), DetailType: detailTypeOf(r)!, Detail: json, Resources: [], Time: new Date(r.eventTime), EventBusName: eventBusName };
}

/**
 * The whole envelope as EventBridge delivers it to targets, member order as AWS writes it
 * (version, id, detail-type, source, account, time, region, resources, detail): what the built-in
 * rules match and send. Its id is stable per event (a redelivery carries the same id).
 */
export function envelopeText(r: CloudTrailRecord, json: string): string {
  const id = stableUuid('eventbridge', r.recipientAccountId, r.eventID);
  const time = envelopeTime(r);
  return `{"version":"0","id":"${id}","detail-type":${JSON.stringify(detailTypeOf(r) ?? '')},"source":${JSON.stringify(sourceOf(r))},"account":${JSON.stringify(r.recipientAccountId)},"time":"${time}","region":${JSON.stringify(r.awsRegion)},"resources":[],"detail":${json}}`;
}

/** The envelope's `time`: the event's time to the second, as EventBridge writes it. */
export function envelopeTime(r: CloudTrailRecord): string {
  const t = new Date(r.eventTime);
  return Number.isNaN(t.getTime()) ? String(r.eventTime) : t.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
