/**
 * What the gateway records, per service, as AWS documents CloudTrail's capture of it: the
 * eventSource, which operations are management events, which are data events, which are never
 * recorded, and how the service's records spell requestParameters. One table of hand-checked
 * services (a service checked by hand is one entry here plus its model from its v3 client,
 * scripts/gen-gateway-models.ts); every other service is recorded by CloudTrail's generic rules
 * (rulesOf). Sources are in docs/gateway.md ("Capture rules").
 */

import { isReadOnlyCall } from '../../core/index.ts';
import type { DecodedCall } from '../../aws/protocol/decode.ts';

export type Capture = 'management' | 'data' | 'none';

export interface ServiceRule {
  /** The service's SigV4 signing name: how a request names it, and its model's file name. */
  signingName: string;
  eventSource: string;
  /** Capture of operations not listed in `operations`. */
  default: Capture;
  operations?: Readonly<Record<string, Capture>>;
  /** How requestParameters/responseElements spell member names in this service's records. */
  memberCase: 'model' | 'lowerCamel';
  /** resources[].type of this service's data events (S3 names its own). */
  dataResourceType?: string;
  /** S3 writes requestParameters as wire names (bucketName, key, Host, query names) and names resources. */
  s3Style?: boolean;
  /** CloudTrail's generic capture (no hand-checked rules): resources are the ARNs in the input. */
  generic?: boolean;
}

const all = (names: string[], capture: Capture): Record<string, Capture> => Object.fromEntries(names.map((n) => [n, capture]));

export const SERVICE_RULES: readonly ServiceRule[] = [
  {
    // X-Ray: its configuration calls; trace and telemetry traffic (PutTraceSegments, PutTelemetryRecords,
    // GetSamplingTargets, trace queries) is not recorded (AWS now offers it as opt-in data events;
    // docs/compatibility.md).
    signingName: 'xray',
    eventSource: 'xray.amazonaws.com',
    default: 'none',
    operations: all([
      'PutEncryptionConfig', 'GetEncryptionConfig', 'CreateGroup', 'UpdateGroup', 'DeleteGroup', 'GetGroup', 'GetGroups',
      'GetInsight', 'GetInsightEvents', 'GetInsightImpactGraph', 'GetInsightSummaries', 'GetSamplingStatisticSummaries',
      // Management calls added after the documented list.
      'CreateSamplingRule', 'UpdateSamplingRule', 'DeleteSamplingRule', 'GetSamplingRules',
      'TagResource', 'UntagResource', 'ListTagsForResource',
      'PutResourcePolicy', 'DeleteResourcePolicy', 'ListResourcePolicies',
      'GetIndexingRules', 'UpdateIndexingRule', 'GetTraceSegmentDestination', 'UpdateTraceSegmentDestination',
    ], 'management'),
    memberCase: 'lowerCamel',
  },
  {
    // CloudWatch: alarms, dashboards, insight rules, metric streams, anomaly detectors, tags are
    // management events; metric reads and writes are data events (resource type AWS::CloudWatch::Metric).
    signingName: 'monitoring',
    eventSource: 'monitoring.amazonaws.com',
    default: 'management',
    operations: all(['PutMetricData', 'GetMetricData', 'GetMetricStatistics', 'ListMetrics', 'GetMetricWidgetImage'], 'data'),
    dataResourceType: 'AWS::CloudWatch::Metric',
    memberCase: 'lowerCamel',
  },
  {
    signingName: 'servicediscovery',
    eventSource: 'servicediscovery.amazonaws.com',
    default: 'management',
    operations: all(['DiscoverInstances', 'DiscoverInstancesRevision'], 'none'),
    memberCase: 'lowerCamel',
  },
  {
    signingName: 'apigateway',
    eventSource: 'apigateway.amazonaws.com',
    default: 'management',
    operations: all(['TestInvokeAuthorizer', 'TestInvokeMethod'], 'none'),
    memberCase: 'model',
  },
  { signingName: 'devops-guru', eventSource: 'devops-guru.amazonaws.com', default: 'management', memberCase: 'model' },
  {
    signingName: 'events',
    eventSource: 'events.amazonaws.com',
    default: 'management',
    operations: all(['PutEvents', 'PutPartnerEvents'], 'none'),
    memberCase: 'lowerCamel',
  },
  {
    signingName: 'logs',
    eventSource: 'logs.amazonaws.com',
    default: 'management',
    operations: all(['PutLogEvents', 'GetLogEvents', 'FilterLogEvents'], 'none'),
    memberCase: 'lowerCamel',
  },
  {
    // Bucket calls are management events; object calls are data events.
    signingName: 's3',
    eventSource: 's3.amazonaws.com',
    default: 'management',
    operations: all([
      'AbortMultipartUpload', 'CompleteMultipartUpload', 'CopyObject', 'CreateMultipartUpload', 'DeleteObject', 'DeleteObjects',
      'GetObject', 'GetObjectAcl', 'GetObjectAttributes', 'GetObjectTagging', 'HeadObject', 'ListParts', 'PutObject',
      'PutObjectAcl', 'PutObjectTagging', 'DeleteObjectTagging', 'RestoreObject', 'UploadPart', 'UploadPartCopy',
      'GetObjectRetention', 'PutObjectRetention', 'GetObjectLegalHold', 'PutObjectLegalHold', 'SelectObjectContent',
      'ListObjects', 'ListObjectsV2', 'ListObjectVersions',
    ], 'data'),
    memberCase: 'model',
    s3Style: true,
  },
];

const bySigningName = new Map(SERVICE_RULES.map((r) => [r.signingName, r]));

/** The hand-checked rules of a service, by its signing name (and its model's id). */
export function ruleFor(signingName: string): ServiceRule | undefined {
  return bySigningName.get(signingName);
}

const generic = new Map<string, ServiceRule>();

/**
 * The rules a call is recorded by: the hand-checked ones when its model is that service's
 * (`id`, the model file, is the rule's signing name), else CloudTrail's generic capture:
 * eventSource `<signing name>.amazonaws.com`, every operation a management event, members spelled
 * lowerCamelCase as most services' records spell them. The signing name, not the endpoint prefix,
 * names the source: `api.ecr`, `email`, `bedrock-runtime` or `streams.dynamodb` sign as ecr, ses,
 * bedrock, dynamodb, which is what their records say (checked against test/fixtures/corpus).
 */
export function rulesOf(id: string, signingName: string): ServiceRule {
  const checked = id === signingName ? bySigningName.get(signingName) : undefined;
  if (checked) return checked;
  let rule = generic.get(signingName);
  if (!rule) {
    rule = { signingName, eventSource: `${signingName.toLowerCase()}.amazonaws.com`, default: 'management', memberCase: 'lowerCamel', generic: true };
    generic.set(signingName, rule);
  }
  return rule;
}

export function captureOf(rule: ServiceRule, operation: string): Capture {
  return rule.operations?.[operation] ?? rule.default;
}

/**
 * readOnly of a call: the operation's verb (src/core/read-only.ts), and under the generic rules
 * also a REST GET or HEAD (ExportApi, ReadJob, Suggest ... read); a call not decoded is not a read.
 */
export function readOnlyOf(rule: ServiceRule, call: DecodedCall, method: string): boolean {
  if (call.undecoded) return false;
  if (isReadOnlyCall(rule.eventSource, call.operation)) return true;
  return rule.generic === true && (call.protocol === 'restJson1' || call.protocol === 'restXml') && (method === 'GET' || method === 'HEAD');
}
