/**
 * Reading resource policies (S3 bucket policies, SNS topic policies) for the one question the
 * control plane asks: would this policy let the CloudTrail service principal do this action on
 * this resource? Conditions are not evaluated (they narrow by SourceArn/ACL, which CloudTrail
 * satisfies); an explicit Deny for the principal wins.
 */
import { buildArn } from './arn.ts';

type Statement = {
  Effect?: unknown;
  Principal?: unknown;
  Action?: unknown;
  Resource?: unknown;
};

const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : []);

/** IAM-style wildcard match: `*` any run, `?` one character; actions match case-insensitively. */
export function wildcardMatch(pattern: string, value: string, ignoreCase = false): boolean {
  const p = ignoreCase ? pattern.toLowerCase() : pattern;
  const v = ignoreCase ? value.toLowerCase() : value;
  const re = new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
  return re.test(v);
}

function principalMatches(principal: unknown, service: string): boolean {
  if (principal === '*') return true;
  if (typeof principal !== 'object' || principal === null) return false;
  const p = principal as Record<string, unknown>;
  // {"AWS": "*"} names every AWS account's principals, not service principals (SNS's default
  // topic policy is written that way and does not let CloudTrail publish).
  return list(p.Service).includes(service);
}

function statements(policy: string): Statement[] | undefined {
  try {
    const doc = JSON.parse(policy) as { Statement?: unknown };
    const s = doc.Statement;
    if (Array.isArray(s)) return s as Statement[];
    if (typeof s === 'object' && s !== null) return [s as Statement];
    return [];
  } catch {
    return undefined;
  }
}

/** Whether the policy allows (and does not deny) `service` to perform `action` on `resource`. */
export function policyAllows(policy: string, service: string, action: string, resource: string): boolean {
  const all = statements(policy);
  if (!all) return false;
  const applies = (s: Statement) =>
    principalMatches(s.Principal, service) &&
    list(s.Action).some((a) => wildcardMatch(a, action, true)) &&
    (s.Resource === undefined || list(s.Resource).some((r) => wildcardMatch(r, resource)));
  if (all.some((s) => s.Effect === 'Deny' && applies(s))) return false;
  return all.some((s) => s.Effect === 'Allow' && applies(s));
}

/**
 * What a bucket policy lacks for CloudTrail to deliver a trail's files, as the statement AWS's
 * documented policy would have; undefined when nothing is missing. The bucket's ARNs are in the
 * trail's partition (`arn:aws-cn:s3:::...` for a trail homed in China).
 */
export function missingBucketStatement(policy: string, bucket: string, logPrefixes: string[], partition = 'aws'): string | undefined {
  const service = 'cloudtrail.amazonaws.com';
  const bucketArn = buildArn({ partition, service: 's3', region: '', accountId: '', resource: bucket });
  if (!policyAllows(policy, service, 's3:GetBucketAcl', bucketArn)) {
    return `AWSCloudTrailAclCheck: allow ${service} s3:GetBucketAcl on ${bucketArn}`;
  }
  for (const prefix of logPrefixes) {
    const resource = `${bucketArn}/${prefix}*`;
    if (!policyAllows(policy, service, 's3:PutObject', `${bucketArn}/${prefix}x`)) {
      return `AWSCloudTrailWrite: allow ${service} s3:PutObject on ${resource}`;
    }
  }
  return undefined;
}
