/**
 * Trail log files as CloudTrail writes them (`{"Records":[...]}`, gzip) under a bucket folder, for
 * import tests; and the records the test compares an import's result with.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';

export const LOG_ACCOUNT = '111122223333';

/** A record of `eventTime` with id `id` (with nested members Lake keeps). */
export function trailRecord(id: string, eventTime: string, account = LOG_ACCOUNT): Record<string, unknown> {
  return {
    eventVersion: '1.09',
    userIdentity: { type: 'IAMUser', principalId: 'AIDA1', arn: `arn:aws:iam::${account}:user/alice`, accountId: account, userName: 'alice' },
    eventTime,
    eventSource: 's3.amazonaws.com',
    eventName: 'PutBucketPolicy',
    awsRegion: 'us-east-1',
    sourceIPAddress: '203.0.113.7',
    userAgent: 'aws-cli/2',
    requestParameters: { bucketName: 'b', policy: { Statement: [] } },
    responseElements: null,
    requestID: `req-${id}`,
    eventID: id,
    readOnly: false,
    resources: [{ ARN: 'arn:aws:s3:::b', accountId: account, type: 'AWS::S3::Bucket' }],
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: account,
    eventCategory: 'Management',
  };
}

/** The key a trail gives a log file of `account` and `region` delivered at `deliveredIso`. */
export function logKey(deliveredIso: string, n: number, account = LOG_ACCOUNT, region = 'us-east-1'): string {
  const d = deliveredIso.slice(0, 10).replaceAll('-', '/');
  const stamp = `${deliveredIso.slice(0, 4)}${deliveredIso.slice(5, 7)}${deliveredIso.slice(8, 10)}T${deliveredIso.slice(11, 13)}${deliveredIso.slice(14, 16)}Z`;
  return `AWSLogs/${account}/CloudTrail/${region}/${d}/${account}_CloudTrail_${region}_${stamp}_${String(n).padStart(16, '0')}.json.gz`;
}

export function writeLogFile(bucketDir: string, key: string, records: readonly unknown[]): void {
  const path = join(bucketDir, key);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, gzipSync(JSON.stringify({ Records: records })));
}
