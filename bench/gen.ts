/**
 * Deterministic generator of realistic CloudTrail management-event records (1.2-1.5 KB of JSON).
 *
 * record(i) is a pure function of (seed, i): any record of a dataset can be rebuilt without the
 * dataset, which is how the lookup benchmark picks real EventName / Username / ResourceName /
 * EventId values to look up.
 */

export const GENERATOR_VERSION = 4;

export const ACCOUNT_ID = '111111111111';
export const REGION = 'us-east-1';

/** splitmix32-style mixing: a well-spread 32-bit hash of (seed, i, salt). */
function mix(a: number): number {
  a = Math.imul(a ^ (a >>> 16), 0x85ebca6b);
  a = Math.imul(a ^ (a >>> 13), 0xc2b2ae35);
  return (a ^ (a >>> 16)) >>> 0;
}

/** Small fast PRNG (mulberry32). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
  /** Zipf-like skew: low indexes much more likely (s ~ 1.1). */
  skewed(n: number): number {
    const u = this.next();
    return Math.min(n - 1, Math.floor(Math.pow(n + 1, u) - 1));
  }
  hex(len: number): string {
    let s = '';
    while (s.length < len) s += (this.int(0x10000)).toString(16).padStart(4, '0');
    return s.slice(0, len);
  }
  alnum(len: number, upper = true): string {
    const chars = upper ? 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567' : 'abcdefghijklmnopqrstuvwxyz0123456789';
    let s = '';
    for (let k = 0; k < len; k++) s += chars[this.int(chars.length)];
    return s;
  }
  uuid(): string {
    const h = this.hex(32);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${'89ab'[this.int(4)]}${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }
}

export interface GenParams {
  seed: number;
  /** Number of records in the dataset (spreads eventTime evenly over the span). */
  count: number;
  /** eventTime of the last record, epoch ms. */
  endMs: number;
  /** How far back the first record lies, ms. */
  spanMs: number;
}

interface Api {
  source: string;
  name: string;
  weight: number;
  /** Builds requestParameters / responseElements and resources for one call. */
  build(r: Rng, ctx: BuildCtx): { req: Record<string, unknown> | null; resp?: Record<string, unknown> | null; res?: { type: string; ARN: string }[] };
}

interface BuildCtx {
  account: string;
  region: string;
  resourceIdx: number;
}

const N_USERS = 300;
const N_ROLES = 60;
const N_SESSIONS_PER_ROLE = 40;
const N_RESOURCES = 100_000;
const INSTANCE_TYPES = ['t3.micro', 't3.large', 'm6i.xlarge', 'c7g.2xlarge', 'r6i.4xlarge'];
const AGENTS = [
  'aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79-99.167.amzn2023.x86_64 exe/x86_64.amzn.2023 prompt/off command/ec2.describe-instances',
  'aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.150.0',
  'Boto3/1.34.61 md/Botocore#1.34.61 ua/2.0 os/linux#5.10.210-201.852.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.61',
  'aws-sdk-java/2.25.6 Linux/5.10.210 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. exec-env/AWS_ECS_FARGATE io/sync http/Apache cfg/retry-mode/adaptive',
  'console.amazonaws.com',
  'cloudformation.amazonaws.com',
  'Terraform/1.7.4 (+https://www.terraform.io) terraform-provider-aws/5.40.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go/1.51.1 (go1.22.0; linux; amd64)',
];

const resourceName = (i: number) => `r${i.toString(36).padStart(4, '0')}`;
const instanceId = (i: number) => `i-0${(mix(i * 7 + 1) >>> 0).toString(16).padStart(8, '0')}${(i & 0xffff).toString(16).padStart(8, '0')}`;
const bucket = (i: number) => `acme-${resourceName(i)}-data-${(i % 7) * 1000 + 17}`;
const keyId = (i: number) => {
  const h = mix(i + 99).toString(16).padStart(8, '0') + mix(i + 100).toString(16).padStart(8, '0') + mix(i + 101).toString(16).padStart(8, '0') + mix(i + 102).toString(16).padStart(8, '0');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
};
const fnName = (i: number) => `svc-${resourceName(i)}-handler`;
const tableName = (i: number) => `orders-${resourceName(i)}`;

const arn = {
  instance: (c: BuildCtx, i: number) => `arn:aws:ec2:${c.region}:${c.account}:instance/${instanceId(i)}`,
  bucket: (_c: BuildCtx, i: number) => `arn:aws:s3:::${bucket(i)}`,
  key: (c: BuildCtx, i: number) => `arn:aws:kms:${c.region}:${c.account}:key/${keyId(i)}`,
  role: (c: BuildCtx, i: number) => `arn:aws:iam::${c.account}:role/app-${resourceName(i)}-role`,
  fn: (c: BuildCtx, i: number) => `arn:aws:lambda:${c.region}:${c.account}:function:${fnName(i)}`,
  table: (c: BuildCtx, i: number) => `arn:aws:dynamodb:${c.region}:${c.account}:table/${tableName(i)}`,
};

const APIS: Api[] = [
  { source: 'ec2.amazonaws.com', name: 'DescribeInstances', weight: 14, build: (r, c) => ({
    req: { instancesSet: { items: [{ instanceId: instanceId(c.resourceIdx) }] }, filterSet: { items: [{ name: 'instance-state-name', valueSet: { items: [{ value: 'running' }, { value: 'stopped' }] } }, { name: 'tag:Environment', valueSet: { items: [{ value: r.pick(['prod', 'staging', 'dev']) }] } }] }, maxResults: 1000 },
    resp: null,
  }) },
  { source: 'ec2.amazonaws.com', name: 'DescribeSecurityGroups', weight: 5, build: (r) => ({
    req: { securityGroupSet: {}, securityGroupIdSet: { items: [{ groupId: `sg-0${r.hex(16)}` }, { groupId: `sg-0${r.hex(16)}` }] }, filterSet: { items: [{ name: 'vpc-id', valueSet: { items: [{ value: `vpc-0${r.hex(16)}` }] } }] } },
    resp: null,
  }) },
  { source: 'ec2.amazonaws.com', name: 'RunInstances', weight: 1, build: (r, c) => ({
    req: { instancesSet: { items: [{ imageId: `ami-0${r.hex(16)}`, minCount: 1, maxCount: 1 }] }, instanceType: r.pick(INSTANCE_TYPES), blockDeviceMapping: {}, availabilityZone: `${c.region}${r.pick(['a', 'b', 'c'])}`, monitoring: { enabled: false }, subnetId: `subnet-0${r.hex(16)}`, disableApiTermination: false, disableApiStop: false, clientToken: r.uuid(), tagSpecificationSet: { items: [{ resourceType: 'instance', tags: [{ key: 'Name', value: `web-${r.int(500)}` }] }] } },
    resp: { requestId: r.uuid(), reservationId: `r-0${r.hex(16)}`, ownerId: c.account, instancesSet: { items: [{ instanceId: instanceId(c.resourceIdx), currentInstanceBootMode: 'legacy-bios' }] } },
    res: [{ type: 'AWS::EC2::Instance', ARN: arn.instance(c, c.resourceIdx) }],
  }) },
  { source: 'ec2.amazonaws.com', name: 'TerminateInstances', weight: 1, build: (_r, c) => ({
    req: { instancesSet: { items: [{ instanceId: instanceId(c.resourceIdx) }] } },
    resp: { instancesSet: { items: [{ instanceId: instanceId(c.resourceIdx), currentState: { code: 32, name: 'shutting-down' }, previousState: { code: 16, name: 'running' } }] } },
    res: [{ type: 'AWS::EC2::Instance', ARN: arn.instance(c, c.resourceIdx) }],
  }) },
  { source: 'ec2.amazonaws.com', name: 'CreateTags', weight: 2, build: (r, c) => ({
    req: { resourcesSet: { items: [{ resourceId: instanceId(c.resourceIdx) }] }, tagSet: { items: [{ key: 'Owner', value: `team-${r.int(40)}` }, { key: 'CostCenter', value: String(1000 + r.int(9000)) }] } },
    resp: { _return: true },
    res: [{ type: 'AWS::EC2::Instance', ARN: arn.instance(c, c.resourceIdx) }],
  }) },
  { source: 's3.amazonaws.com', name: 'GetBucketAcl', weight: 8, build: (_r, c) => ({
    req: { bucketName: bucket(c.resourceIdx), Host: `${bucket(c.resourceIdx)}.s3.amazonaws.com`, acl: '' },
    resp: null,
    res: [{ type: 'AWS::S3::Bucket', ARN: arn.bucket(c, c.resourceIdx) }],
  }) },
  { source: 's3.amazonaws.com', name: 'GetBucketPolicy', weight: 4, build: (_r, c) => ({
    req: { bucketName: bucket(c.resourceIdx), Host: `${bucket(c.resourceIdx)}.s3.${c.region}.amazonaws.com`, policy: '' },
    resp: null,
    res: [{ type: 'AWS::S3::Bucket', ARN: arn.bucket(c, c.resourceIdx) }],
  }) },
  { source: 's3.amazonaws.com', name: 'PutBucketPolicy', weight: 1, build: (r, c) => ({
    req: { bucketName: bucket(c.resourceIdx), Host: `${bucket(c.resourceIdx)}.s3.amazonaws.com`, bucketPolicy: { Version: '2012-10-17', Statement: [{ Sid: `Allow${r.int(100)}`, Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${c.account}:root` }, Action: 's3:GetObject', Resource: `${arn.bucket(c, c.resourceIdx)}/*` }] }, policy: '' },
    resp: null,
    res: [{ type: 'AWS::S3::Bucket', ARN: arn.bucket(c, c.resourceIdx) }],
  }) },
  { source: 's3.amazonaws.com', name: 'ListBuckets', weight: 3, build: () => ({ req: { Host: 's3.amazonaws.com' }, resp: null }) },
  { source: 'kms.amazonaws.com', name: 'Decrypt', weight: 12, build: (r, c) => ({
    req: { encryptionAlgorithm: 'SYMMETRIC_DEFAULT', encryptionContext: { 'aws:lambda:FunctionArn': arn.fn(c, r.skewed(2000)) } },
    resp: null,
    res: [{ type: 'AWS::KMS::Key', ARN: arn.key(c, c.resourceIdx % 500) }],
  }) },
  { source: 'kms.amazonaws.com', name: 'GenerateDataKey', weight: 6, build: (r, c) => ({
    req: { keyId: `alias/app-${r.int(50)}`, keySpec: 'AES_256', encryptionContext: { 'aws:s3:arn': `${arn.bucket(c, r.skewed(N_RESOURCES))}/logs/${r.hex(12)}.gz` } },
    resp: null,
    res: [{ type: 'AWS::KMS::Key', ARN: arn.key(c, c.resourceIdx % 500) }],
  }) },
  { source: 'sts.amazonaws.com', name: 'AssumeRole', weight: 9, build: (r, c) => ({
    req: { roleArn: arn.role(c, c.resourceIdx % 2000), roleSessionName: `session-${r.alnum(10, false)}`, durationSeconds: 3600 },
    resp: { credentials: { accessKeyId: `ASIA${r.alnum(16)}`, sessionToken: `IQoJb3JpZ2luX2VjE${r.alnum(48, false)}`, expiration: 'Jan 1, 2026, 1:00:00 AM' }, assumedRoleUser: { assumedRoleId: `AROA${r.alnum(17)}:session`, arn: `arn:aws:sts::${c.account}:assumed-role/app-role/session` } },
    res: [{ type: 'AWS::IAM::Role', ARN: arn.role(c, c.resourceIdx % 2000) }],
  }) },
  { source: 'sts.amazonaws.com', name: 'GetCallerIdentity', weight: 4, build: () => ({ req: null, resp: null }) },
  { source: 'iam.amazonaws.com', name: 'GetRole', weight: 3, build: (_r, c) => ({ req: { roleName: `app-${resourceName(c.resourceIdx % 2000)}-role` }, resp: null }) },
  { source: 'iam.amazonaws.com', name: 'ListAttachedRolePolicies', weight: 2, build: (_r, c) => ({ req: { roleName: `app-${resourceName(c.resourceIdx % 2000)}-role`, maxItems: 100 }, resp: null }) },
  { source: 'iam.amazonaws.com', name: 'AttachRolePolicy', weight: 1, build: (r, c) => ({
    req: { roleName: `app-${resourceName(c.resourceIdx % 2000)}-role`, policyArn: `arn:aws:iam::aws:policy/${r.pick(['AmazonS3ReadOnlyAccess', 'CloudWatchLogsFullAccess', 'AWSLambdaBasicExecutionRole'])}` },
    resp: null,
  }) },
  { source: 'lambda.amazonaws.com', name: 'GetFunction20150331v2', weight: 3, build: (_r, c) => ({ req: { functionName: fnName(c.resourceIdx % 2000) }, resp: null }) },
  { source: 'lambda.amazonaws.com', name: 'UpdateFunctionCode20150331v2', weight: 1, build: (r, c) => ({
    req: { functionName: arn.fn(c, c.resourceIdx % 2000), s3Bucket: bucket(r.skewed(N_RESOURCES)), s3Key: `builds/${r.hex(40)}.zip`, publish: true, dryRun: false },
    resp: { functionName: fnName(c.resourceIdx % 2000), functionArn: arn.fn(c, c.resourceIdx % 2000), runtime: 'nodejs20.x', codeSize: 1000 + r.int(5_000_000), codeSha256: r.alnum(43, false), version: String(r.int(300)), lastModified: '2026-01-01T00:00:00.000+0000' },
    res: [{ type: 'AWS::Lambda::Function', ARN: arn.fn(c, c.resourceIdx % 2000) }],
  }) },
  { source: 'dynamodb.amazonaws.com', name: 'DescribeTable', weight: 4, build: (_r, c) => ({
    req: { tableName: tableName(c.resourceIdx % 3000) }, resp: null,
    res: [{ type: 'AWS::DynamoDB::Table', ARN: arn.table(c, c.resourceIdx % 3000) }],
  }) },
  { source: 'logs.amazonaws.com', name: 'CreateLogStream', weight: 5, build: (r, c) => ({
    req: { logGroupName: `/aws/lambda/${fnName(c.resourceIdx % 2000)}`, logStreamName: `2026/01/01/[$LATEST]${r.hex(32)}` }, resp: null,
  }) },
  { source: 'monitoring.amazonaws.com', name: 'PutMetricAlarm', weight: 1, build: (r, c) => ({
    req: { alarmName: `${fnName(c.resourceIdx % 2000)}-errors`, metricName: 'Errors', namespace: 'AWS/Lambda', statistic: 'Sum', period: 60, evaluationPeriods: 3, threshold: r.int(10), comparisonOperator: 'GreaterThanThreshold', alarmActions: [`arn:aws:sns:${c.region}:${c.account}:alerts`] }, resp: null,
  }) },
  { source: 'signin.amazonaws.com', name: 'ConsoleLogin', weight: 1, build: () => ({ req: null, resp: { ConsoleLogin: 'Success' } }) },
  { source: 'cloudformation.amazonaws.com', name: 'DescribeStacks', weight: 3, build: (_r, c) => ({ req: { stackName: `stack-${resourceName(c.resourceIdx % 1000)}` }, resp: null }) },
];

const CUM: number[] = [];
{
  let acc = 0;
  for (const a of APIS) CUM.push((acc += a.weight));
}
const TOTAL_WEIGHT = CUM[CUM.length - 1]!;

function pickApi(r: Rng): Api {
  const x = r.next() * TOTAL_WEIGHT;
  let lo = 0;
  while (CUM[lo]! <= x) lo++;
  return APIS[lo]!;
}

function userName(i: number): string {
  return `user-${['dev', 'ops', 'sec', 'data', 'ci'][i % 5]}-${i.toString().padStart(3, '0')}`;
}

function userKey(i: number): string {
  return `AKIA${mix(i * 31 + 7).toString(36).toUpperCase().padStart(8, 'Q')}${(i + 1000).toString(36).toUpperCase().padStart(8, 'X')}`.slice(0, 20);
}

function sessionKey(role: number, s: number): string {
  return `ASIA${mix(role * 1000 + s + 17).toString(36).toUpperCase().padStart(8, 'Z')}${(role * 1000 + s).toString(36).toUpperCase().padStart(8, 'Y')}`.slice(0, 20);
}

function identity(r: Rng, account: string): Record<string, unknown> {
  const x = r.next();
  if (x < 0.35) {
    const u = r.skewed(N_USERS);
    return {
      type: 'IAMUser', principalId: `AIDA${mix(u).toString(36).toUpperCase().padStart(17, 'A')}`, arn: `arn:aws:iam::${account}:user/${userName(u)}`,
      accountId: account, accessKeyId: userKey(u), userName: userName(u),
    };
  }
  if (x < 0.97) {
    const role = r.skewed(N_ROLES);
    const s = r.int(N_SESSIONS_PER_ROLE);
    const roleName = `${['Admin', 'Deploy', 'ReadOnly', 'Lambda', 'Ecs'][role % 5]}Role-${role}`;
    const roleId = `AROA${mix(role + 5).toString(36).toUpperCase().padStart(17, 'B')}`;
    const session = s % 4 === 0 ? `${userName(s)}@example.com` : `botocore-session-${1700000000 + role * 100 + s}`;
    return {
      type: 'AssumedRole', principalId: `${roleId}:${session}`, arn: `arn:aws:sts::${account}:assumed-role/${roleName}/${session}`,
      accountId: account, accessKeyId: sessionKey(role, s),
      sessionContext: {
        sessionIssuer: { type: 'Role', principalId: roleId, arn: `arn:aws:iam::${account}:role/${roleName}`, accountId: account, userName: roleName },
        webIdFederationData: {},
        attributes: { creationDate: '2026-01-01T00:00:00Z', mfaAuthenticated: s % 4 === 0 ? 'true' : 'false' },
      },
    };
  }
  if (x < 0.99) return { type: 'AWSService', invokedBy: r.pick(['cloudformation.amazonaws.com', 'lambda.amazonaws.com', 'autoscaling.amazonaws.com']) };
  return { type: 'Root', principalId: account, arn: `arn:aws:iam::${account}:root`, accountId: account, accessKeyId: `ASIA${r.alnum(16)}` };
}

/** eventTime (epoch ms) of record i: evenly spread over the span, with a little jitter. */
export function eventTimeMs(p: GenParams, i: number): number {
  const base = p.endMs - p.spanMs + Math.floor((i * p.spanMs) / Math.max(1, p.count));
  const jitter = mix(p.seed ^ (i * 2654435761)) % 5000;
  return Math.min(p.endMs, base + jitter);
}

function isoTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** Record i of the dataset described by p. */
export function record(p: GenParams, i: number): Record<string, unknown> {
  const r = new Rng(mix(p.seed * 0x9e3779b1 + i) ^ mix(i + 0x51ed270b));
  const account = ACCOUNT_ID;
  const region = REGION;
  const api = pickApi(r);
  const ctx: BuildCtx = { account, region, resourceIdx: r.skewed(N_RESOURCES) };
  const built = api.build(r, ctx);
  const ui = identity(r, account);
  const agent = ui.type === 'AWSService' ? (ui.invokedBy as string) : r.pick(AGENTS);
  const ip = ui.type === 'AWSService' ? (ui.invokedBy as string) : `${10 + r.int(200)}.${r.int(256)}.${r.int(256)}.${r.int(256)}`;
  const readOnly = /^(Describe|Get|List|Decrypt|GenerateDataKey|AssumeRole|ConsoleLogin)/.test(api.name);
  const rec: Record<string, unknown> = {
    eventVersion: '1.09',
    userIdentity: ui,
    eventTime: isoTime(eventTimeMs(p, i)),
    eventSource: api.source,
    eventName: api.name,
    awsRegion: region,
    sourceIPAddress: ip,
    userAgent: agent,
  };
  if (r.next() < 0.03) {
    rec.errorCode = r.pick(['AccessDenied', 'Client.UnauthorizedOperation', 'ThrottlingException']);
    rec.errorMessage = `User: ${String(ui.arn ?? 'unknown')} is not authorized to perform: ${api.source.split('.')[0]}:${api.name} because no identity-based policy allows the action`;
  }
  rec.requestParameters = built.req;
  rec.responseElements = built.resp ?? null;
  if (api.source === 's3.amazonaws.com') {
    rec.additionalEventData = { SignatureVersion: 'SigV4', CipherSuite: 'TLS_AES_128_GCM_SHA256', bytesTransferredIn: 0, AuthenticationMethod: 'AuthHeader', 'x-amz-id-2': r.alnum(56, false), bytesTransferredOut: r.int(4000) };
  }
  rec.requestID = api.source === 's3.amazonaws.com' ? r.alnum(16) : r.uuid();
  // The record's PRNG has a 32-bit seed, so two records can share one; the eventID carries the
  // index so it is unique by construction.
  const u = r.uuid();
  rec.eventID = `${u.slice(0, 24)}${(i + p.seed * 16777216).toString(16).padStart(12, '0').slice(-12)}`;
  rec.readOnly = readOnly;
  if (built.res) rec.resources = built.res.map((x) => ({ accountId: account, type: x.type, ARN: x.ARN }));
  rec.eventType = 'AwsApiCall';
  rec.managementEvent = true;
  rec.recipientAccountId = account;
  rec.eventCategory = 'Management';
  rec.tlsDetails = { tlsVersion: 'TLSv1.3', cipherSuite: 'TLS_AES_128_GCM_SHA256', clientProvidedHostHeader: `${api.source.replace('.amazonaws.com', '')}.${region}.amazonaws.com` };
  if (ui.type === 'AssumedRole' && r.next() < 0.5) rec.sessionCredentialFromConsole = 'true';
  return rec;
}

/** What the lookup benchmark needs to know about record i. */
export function lookupKeys(p: GenParams, i: number): { eventId: string; eventName: string; username?: string; resourceName?: string; timeSec: number } {
  const rec = record(p, i);
  const ui = rec.userIdentity as Record<string, unknown>;
  let username: string | undefined;
  if (typeof ui.userName === 'string') username = ui.userName;
  else if (ui.type === 'AssumedRole') username = String(ui.arn).split('/').pop();
  else if (ui.type === 'Root') username = 'root';
  else if (ui.type === 'AWSService') username = String(ui.invokedBy);
  const res = rec.resources as { ARN: string }[] | undefined;
  return { eventId: rec.eventID as string, eventName: rec.eventName as string, username, resourceName: res?.[0]?.ARN, timeSec: Math.floor(eventTimeMs(p, i) / 1000) };
}
