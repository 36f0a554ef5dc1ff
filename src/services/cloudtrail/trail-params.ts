/**
 * CreateTrail / UpdateTrail members: types, formats and the checks against the bucket and topic,
 * each failing with the exception AWS uses.
 */
import { cloudTrailError, ServiceError } from '../../aws/errors.ts';
import { awsLogsPrefix, buildArn, missingBucketStatement, partitionForRegion, policyAllows, s3KeyPrefixProblem, type OrganizationConfig } from '../../core/index.ts';
import { NeighbourUnavailableError, type ObjectStore, type TopicDirectory } from '../../stores/index.ts';
import type { Tag, TrailDoc } from './trail-model.ts';

const BUCKET = /^(?!\d+\.\d+\.\d+\.\d+$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const SNS_NAME = /^[A-Za-z0-9_-]{1,256}$/;
const SNS_ARN = /^arn:aws[a-z-]*:sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,256})$/;
const KMS_KEY_ID = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/;
const KMS_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})|alias\/[a-zA-Z0-9/_-]{1,250})$/;
const KMS_ALIAS = /^alias\/[a-zA-Z0-9/_-]{1,250}$/;
const LOG_GROUP_ARN = /^arn:aws[a-z-]*:logs:[a-z0-9-]+:\d{12}:log-group:[.\-_/#A-Za-z0-9]{1,512}:\*$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;

export function checkBucketName(bucket: string): void {
  if (!BUCKET.test(bucket) || bucket.includes('..')) throw cloudTrailError('InvalidS3BucketNameException', `Bucket name is not valid: ${bucket}`);
}

/** S3KeyPrefix must be deliverable (src/core/s3-key-prefix.ts), else InvalidS3PrefixException (400). */
export function checkPrefix(prefix: string): void {
  const problem = s3KeyPrefixProblem(prefix);
  if (problem) {
    const shown = JSON.stringify(prefix.length > 64 ? `${prefix.slice(0, 64)}...` : prefix);
    throw cloudTrailError('InvalidS3PrefixException', `The S3 key prefix ${shown} is not valid: ${problem}.`);
  }
}

/** The topic ARN for SnsTopicName (a name in the trail's home region and account, or an ARN). */
export function snsTopicArn(nameOrArn: string, homeRegion: string, accountId: string): string {
  if (SNS_NAME.test(nameOrArn)) return buildArn({ service: 'sns', region: homeRegion, accountId, resource: nameOrArn });
  if (SNS_ARN.test(nameOrArn)) return nameOrArn;
  throw cloudTrailError('InvalidSnsTopicNameException', `SNS topic name is not valid: ${nameOrArn}`);
}

/** The full KMS ARN CloudTrail answers for a KmsKeyId given as key id, key ARN, alias or alias ARN. */
export function kmsKeyArn(id: string, homeRegion: string, accountId: string): string {
  if (KMS_ARN.test(id)) return id;
  if (KMS_KEY_ID.test(id)) return buildArn({ service: 'kms', region: homeRegion, accountId, resource: `key/${id}` });
  if (KMS_ALIAS.test(id)) return buildArn({ service: 'kms', region: homeRegion, accountId, resource: id });
  throw cloudTrailError('InvalidKmsKeyIdException', `Invalid KmsKeyId: ${id}. Give a key id, a key ARN, an alias (alias/name) or an alias ARN.`);
}

export function checkCloudWatchLogs(groupArn: string | undefined, roleArn: string | undefined): void {
  if ((groupArn === undefined) !== (roleArn === undefined)) {
    throw cloudTrailError('InvalidParameterCombinationException', 'CloudWatchLogsLogGroupArn and CloudWatchLogsRoleArn must be given together.');
  }
  if (groupArn !== undefined && !LOG_GROUP_ARN.test(groupArn)) {
    throw cloudTrailError('InvalidCloudWatchLogsLogGroupArnException', `Log group ARN is not valid: ${groupArn}. Expected arn:aws:logs:<region>:<account>:log-group:<name>:*`);
  }
  if (roleArn !== undefined && !ROLE_ARN.test(roleArn)) {
    throw cloudTrailError('InvalidCloudWatchLogsRoleArnException', `Role ARN is not valid: ${roleArn}. Expected arn:aws:iam::<account>:role/<name>`);
  }
}

/**
 * A TagsList applied to existing tags. Its list length, keys and values are checked against the
 * model first (src/aws/protocol); here: reserved keys, and the 50 tags a resource may have.
 */
export function parseTags(v: readonly Tag[] | undefined, existing: Tag[] = []): Tag[] {
  if (v === undefined) return existing;
  const out = new Map(existing.map((t) => [t.Key, t]));
  for (const { Key, Value } of v) {
    if (Key.toLowerCase().startsWith('aws:')) throw cloudTrailError('InvalidTagParameterException', `Tag keys starting with aws: are reserved: ${Key}`);
    out.set(Key, Value !== undefined ? { Key, Value } : { Key });
  }
  const tags = [...out.values()];
  if (tags.length > 50) throw cloudTrailError('TagsLimitExceededException', 'A resource can have at most 50 tags.');
  return tags;
}

function unavailable(e: unknown): never {
  if (e instanceof NeighbourUnavailableError) throw new ServiceError('ServiceUnavailableException', e.message, 503);
  throw e;
}

/** The bucket exists and, where the store has policies, would let CloudTrail write the trail's files. */
export async function checkBucket(store: ObjectStore, t: Pick<TrailDoc, 'S3BucketName' | 'S3KeyPrefix' | 'accountId' | 'IsOrganizationTrail' | 'HomeRegion'>, orgId: string | undefined): Promise<void> {
  checkBucketName(t.S3BucketName);
  const exists = await store.bucketExists(t.S3BucketName).catch(unavailable);
  if (!exists) {
    const hint = store.missingBucketHint?.(t.S3BucketName);
    throw cloudTrailError('S3BucketDoesNotExistException', `S3 bucket does not exist: ${t.S3BucketName}${hint ? `. ${hint}` : ''}`);
  }
  if (store.kind !== 's3') return;
  const policy = await store.bucketPolicy(t.S3BucketName).catch(unavailable);
  if (policy === undefined) return;
  const prefixes = [awsLogsPrefix(t.S3KeyPrefix, t.accountId)];
  if (t.IsOrganizationTrail && orgId) prefixes.push(awsLogsPrefix(t.S3KeyPrefix, orgId));
  const missing = missingBucketStatement(policy, t.S3BucketName, prefixes, partitionForRegion(t.HomeRegion));
  if (missing) throw cloudTrailError('InsufficientS3BucketPolicyException', `Incorrect S3 bucket policy is detected for bucket: ${t.S3BucketName}. Missing statement: ${missing}`);
}

/** The topic exists and lets CloudTrail publish, when topics can be checked at all. */
export async function checkTopic(topics: TopicDirectory | undefined, topicArn: string): Promise<void> {
  if (!topics) return;
  const policy = await topics.topicPolicy(topicArn).catch(unavailable);
  if (policy === undefined) throw cloudTrailError('InsufficientSnsTopicPolicyException', `SNS Topic does not exist or the topic policy is incorrect! (${topicArn} does not exist)`);
  if (!policyAllows(policy, 'cloudtrail.amazonaws.com', 'SNS:Publish', topicArn)) {
    throw cloudTrailError('InsufficientSnsTopicPolicyException', `Incorrect SNS topic policy is detected for topic: ${topicArn}. Missing statement: allow cloudtrail.amazonaws.com SNS:Publish on ${topicArn}`);
  }
}

/**
 * Organization trails and event data stores need an organization the account is in, and its
 * management account as the caller (OrganizationsNotInUseException / NotOrganizationMasterAccountException).
 */
export function requireManagementAccount(org: OrganizationConfig | undefined, accountId: string, what: string): void {
  if (!org || !org.memberAccountIds.includes(accountId)) {
    throw cloudTrailError('OrganizationsNotInUseException', `Account ${accountId} is not part of an organization${org ? '' : ': OpenTrail has no organization configured'}.`);
  }
  if (org.managementAccountId !== accountId) {
    throw cloudTrailError('NotOrganizationMasterAccountException', `Only the management account ${org.managementAccountId} of organization ${org.id} can create or change ${what}.`);
  }
}
