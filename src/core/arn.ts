/**
 * Amazon Resource Names, the one place that parses and builds them, for every partition:
 * `arn:<partition>:<service>:<region>:<account>:<resource>` (aws, aws-cn, aws-us-gov, aws-eusc,
 * aws-iso, aws-iso-b, aws-iso-e, aws-iso-f, ...). An ARN OpenTrail builds takes its partition from
 * its Region (src/core/regions.ts), so a trail homed in cn-north-1 is `arn:aws-cn:cloudtrail:...`.
 */
import { partitionOf } from './regions.ts';

export interface Arn {
  partition: string;
  service: string;
  /** Empty for global resources (IAM, S3 buckets). */
  region: string;
  /** Empty where the resource has none (S3 buckets). */
  accountId: string;
  /** Everything after the fifth colon; may hold colons and slashes. */
  resource: string;
}

/** aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-eusc, ... */
const PARTITION = /^aws(?:-[a-z]+)*$/;
const ACCOUNT = /^\d{12}$/;
/** Region names as ARNs of CloudTrail resources carry them (configured Regions may be any such name). */
const REGION_CHARS = /^[a-z0-9-]+$/;

/** Whether `p` is a partition name (`aws` or `aws-<word>[-<word>...]`). */
export function isPartition(p: string): boolean {
  return PARTITION.test(p);
}

/**
 * The six fields of an ARN, or undefined when `s` is not one: it starts with `arn:`, has at least
 * five more colons, and its partition, service and resource are not empty. The fields are split at
 * the first five colons (so `resource` keeps its own), and are otherwise not checked: callers check
 * what they require of a service's ARNs.
 */
export function parseArn(s: string): Arn | undefined {
  if (!s.startsWith('arn:')) return undefined;
  const fields: string[] = [];
  let from = 4;
  for (let i = 0; i < 4; i++) {
    const at = s.indexOf(':', from);
    if (at < 0) return undefined;
    fields.push(s.slice(from, at));
    from = at + 1;
  }
  const [partition, service, region, accountId] = fields as [string, string, string, string];
  const resource = s.slice(from);
  if (partition === '' || service === '' || resource === '') return undefined;
  return { partition, service, region, accountId, resource };
}

// Regions AWS may open later, by the patterns of AWS's partitions (the SDK's partitions.json).
const PARTITION_PATTERNS: readonly (readonly [RegExp, string])[] = [
  [/^us-gov-\w+-\d+$/, 'aws-us-gov'],
  [/^us-iso-\w+-\d+$/, 'aws-iso'],
  [/^us-isob-\w+-\d+$/, 'aws-iso-b'],
  [/^eu-isoe-\w+-\d+$/, 'aws-iso-e'],
  [/^us-isof-\w+-\d+$/, 'aws-iso-f'],
  [/^eusc-\w+-\w+-\d+$/, 'aws-eusc'],
  [/^cn-\w+-\d+$/, 'aws-cn'],
];

/**
 * The partition of the ARNs of resources in `region`: the partition it is listed under
 * (src/core/regions.ts), else the one its name's pattern belongs to, else `aws` (a Region name of
 * the operator's own, or none).
 */
export function partitionForRegion(region: string): string {
  return partitionOf(region) ?? PARTITION_PATTERNS.find(([re]) => re.test(region))?.[1] ?? 'aws';
}

/** `arn:<partition>:<service>:<region>:<account>:<resource>`; the partition is the Region's unless given. */
export function buildArn(a: { partition?: string; service: string; region: string; accountId: string; resource: string }): string {
  return `arn:${a.partition ?? partitionForRegion(a.region)}:${a.service}:${a.region}:${a.accountId}:${a.resource}`;
}

/** The parts of a resource ARN of the form `<type>/<id>`. */
export interface ResourceArn {
  partition: string;
  region: string;
  accountId: string;
  id: string;
}

/**
 * The parts of `arn:<partition>:<service>:<region>:<12 digits>:<type>/<id>` (a trail, a channel, an
 * event data store, ...), or undefined when `s` is not such an ARN: any partition, a Region of
 * lowercase letters, digits and dashes, a non-empty id. What an id may hold is the caller's to check.
 */
export function parseResourceArn(s: string, service: string, type: string): ResourceArn | undefined {
  const a = parseArn(s);
  if (!a || a.service !== service || !isPartition(a.partition) || !REGION_CHARS.test(a.region) || !ACCOUNT.test(a.accountId)) return undefined;
  if (!a.resource.startsWith(`${type}/`) || a.resource.length === type.length + 1) return undefined;
  return { partition: a.partition, region: a.region, accountId: a.accountId, id: a.resource.slice(type.length + 1) };
}
