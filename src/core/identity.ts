/**
 * The principals that own access keys, and the userIdentity element CloudTrail writes for them.
 */
import { createHash } from 'node:crypto';
import { buildArn } from './arn.ts';
import type { UserIdentity } from './record.ts';

export type IdentityType = 'Root' | 'IAMUser' | 'AssumedRole';

export interface Identity {
  type: IdentityType;
  accountId: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** AssumedRole only: the session token the caller sends as X-Amz-Security-Token, if required. */
  sessionToken?: string;
  /** IAMUser only. */
  userName?: string;
  /** AssumedRole only. */
  roleName?: string;
  sessionName?: string;
  /** Path of the IAM user or role, `/` by default. */
  path?: string;
  principalId: string;
  /** AssumedRole: the role's unique id (AROA...). */
  roleId?: string;
  mfaAuthenticated: boolean;
  /** AssumedRole: when the session was issued (ISO-8601). */
  sessionCreationDate?: string;
  /** Root: the account alias, written as userName when set. */
  accountAlias?: string;
  /** May write records for any account through the bulk ingest endpoint. */
  isTrustedProducer: boolean;
}

/**
 * An IAM-style unique id (`AIDA...`, `AROA...`): the prefix and 17 characters derived from the
 * seed, so the same principal keeps the same id across restarts.
 */
export function uniqueIdFor(prefix: string, seed: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bytes = createHash('sha256').update(seed).digest();
  let id = prefix;
  for (let i = 0; id.length < prefix.length + 17; i++) id += alphabet[bytes[i]! % 32];
  return id;
}

/**
 * The ARN of the principal, as userIdentity.arn shows it, in `partition` (an account lives in one
 * partition: callers pass the partition of the Region the call was signed for).
 */
export function principalArn(id: Identity, partition = 'aws'): string {
  const path = id.path ?? '/';
  const iam = (resource: string) => buildArn({ partition, service: 'iam', region: '', accountId: id.accountId, resource });
  switch (id.type) {
    case 'Root':
      return iam('root');
    case 'IAMUser':
      return iam(`user${path}${id.userName}`);
    case 'AssumedRole':
      return buildArn({ partition, service: 'sts', region: '', accountId: id.accountId, resource: `assumed-role/${id.roleName}/${id.sessionName}` });
  }
}

/** The userIdentity element AWS writes for a call signed with this identity's access key. */
export function userIdentityOf(id: Identity, partition = 'aws'): UserIdentity {
  const base: UserIdentity = {
    type: id.type,
    principalId: id.principalId,
    arn: principalArn(id, partition),
    accountId: id.accountId,
    accessKeyId: id.accessKeyId,
  };
  if (id.type === 'IAMUser') base.userName = id.userName;
  if (id.type === 'Root' && id.accountAlias) base.userName = id.accountAlias;
  if (id.type === 'AssumedRole') {
    base.sessionContext = {
      sessionIssuer: {
        type: 'Role',
        principalId: id.roleId,
        arn: buildArn({ partition, service: 'iam', region: '', accountId: id.accountId, resource: `role${id.path ?? '/'}${id.roleName}` }),
        accountId: id.accountId,
        userName: id.roleName,
      },
      webIdFederationData: {},
      attributes: { creationDate: id.sessionCreationDate, mfaAuthenticated: String(id.mfaAuthenticated) },
    };
  }
  return base;
}

/**
 * The Username that Event history shows for a record: the IAM user name, `root` for the root user,
 * the session name for an assumed role, the user name of a federated user, the service for AWS
 * service calls; undefined when the record names nobody.
 */
export function lookupUsername(ui: UserIdentity | undefined): string | undefined {
  if (!ui) return undefined;
  if (typeof ui.userName === 'string' && ui.userName.length > 0) return ui.userName;
  const arn = typeof ui.arn === 'string' ? ui.arn : '';
  switch (ui.type) {
    case 'Root':
      return 'root';
    case 'AssumedRole':
    case 'FederatedUser': {
      const last = arn.split('/').pop();
      if (last && arn.includes('/')) return last;
      const pid = typeof ui.principalId === 'string' ? ui.principalId : '';
      return pid.includes(':') ? pid.slice(pid.indexOf(':') + 1) : undefined;
    }
    case 'AWSService':
      return typeof ui.invokedBy === 'string' ? ui.invokedBy : undefined;
    default:
      return undefined;
  }
}

/** A caller's socket address as CloudTrail writes sourceIPAddress (IPv4-mapped IPv6 addresses unwrapped). */
export function sourceIpAddress(remoteAddress: string | undefined): string {
  const ip = remoteAddress ?? '';
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}
