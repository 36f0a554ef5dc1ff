/**
 * CloudTrail's bucket key layout, the one place that builds and parses it. Every file CloudTrail
 * writes to a trail's bucket lives under
 *
 *   `[prefix/]AWSLogs/[o-orgid/]<account>/<kind>/<region>/<yyyy>/<mm>/<dd>/<name>`
 *
 * where `<kind>` is `CloudTrail` (log files), `CloudTrail-Digest` (digest files) or
 * `CloudTrail-Insight` (Insights log files: the layout is here, nothing writes them yet). Names:
 *
 * - log file: `<account>_CloudTrail_<region>_<yyyymmddTHHmmZ>_<unique16>.json.gz`
 *   (Insights: `<account>_CloudTrail-Insight_<region>_...`, the same shape)
 * - digest: `<account>_CloudTrail-Digest_<region>_<trail>_<home region>_<yyyymmddTHHmmssZ>[_backfill].json.gz`
 *
 * The 16-character unique part of a log file name is derived from the batch identity, so a retried
 * batch gets the same key (and, built from the same events, the same bytes).
 */
import { createHash } from 'node:crypto';
import { formatEventTime } from './time.ts';

/** The folders under an account's `AWSLogs/<account>/`. */
export type BucketFileKind = LogFileKind | 'CloudTrail-Digest';
/** Kinds whose files are named like log files. */
export type LogFileKind = 'CloudTrail' | 'CloudTrail-Insight';

/** Where a trail's files of one account go: the trail's S3KeyPrefix and, for an organization trail, the organization. */
export interface AccountFolder {
  /** The trail's S3KeyPrefix; empty or undefined: none. */
  prefix?: string;
  organizationId?: string;
  accountId: string;
}

function two(n: number): string {
  return String(n).padStart(2, '0');
}

/**
 * `[prefix/]AWSLogs/[owner/]`: the folder a bucket policy must let CloudTrail write to, for an
 * account ID or an organization ID as owner (`[prefix/]AWSLogs/` without one).
 */
export function awsLogsPrefix(prefix: string | undefined, owner?: string): string {
  return `${prefix ? `${prefix}/` : ''}AWSLogs/${owner ? `${owner}/` : ''}`;
}

/** `[prefix/]AWSLogs/[o-id/]<account>/<kind>/<region>/`: every file of one kind, account and Region. */
export function regionFolderPrefix(kind: BucketFileKind, p: AccountFolder & { region: string }): string {
  return `${awsLogsPrefix(p.prefix, p.organizationId)}${p.accountId}/${kind}/${p.region}/`;
}

/** The region folder and the UTC date of `ms`: `.../<yyyy>/<mm>/<dd>/`. */
export function dayFolderPrefix(kind: BucketFileKind, p: AccountFolder & { region: string }, ms: number): string {
  const d = new Date(ms);
  return `${regionFolderPrefix(kind, p)}${String(d.getUTCFullYear()).padStart(4, '0')}/${two(d.getUTCMonth() + 1)}/${two(d.getUTCDate())}/`;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

// ---- log files --------------------------------------------------------------------------------

export interface LogFileKeyParts extends AccountFolder {
  region: string;
  /** Delivery time; the key uses its UTC date and minute. */
  deliveredMs: number;
  /** Identifies the batch: same identity, same unique string. */
  batchIdentity: string;
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** 16 letters and digits derived from the batch identity (CloudTrail's look: `Mu0KsOhtH1ar15ZZ`). */
export function uniqueString(batchIdentity: string): string {
  const h = createHash('sha256').update(batchIdentity).digest();
  let s = '';
  for (let i = 0; i < 16; i++) s += ALNUM[h[i]! % ALNUM.length];
  return s;
}

/** The key of a log file (`kind` CloudTrail) or an Insights log file (`kind` CloudTrail-Insight). */
export function logFileKey(p: LogFileKeyParts, kind: LogFileKind = 'CloudTrail'): string {
  const d = new Date(p.deliveredMs);
  const [y, m, day, hh, mm] = [String(d.getUTCFullYear()).padStart(4, '0'), two(d.getUTCMonth() + 1), two(d.getUTCDate()), two(d.getUTCHours()), two(d.getUTCMinutes())];
  return `${dayFolderPrefix(kind, p, p.deliveredMs)}${p.accountId}_${kind}_${p.region}_${y}${m}${day}T${hh}${mm}Z_${uniqueString(p.batchIdentity)}.json.gz`;
}

export interface LogFileKeyInfo {
  prefix?: string;
  organizationId?: string;
  accountId: string;
  region: string;
  unique: string;
}

const LOG_FILE_KEY = new Map<LogFileKind, RegExp>(
  (['CloudTrail', 'CloudTrail-Insight'] as const).map((kind) => [
    kind,
    new RegExp(`^(?:(.+)\\/)?AWSLogs\\/(?:(o-[a-z0-9]{10,32})\\/)?(\\d{12})\\/${escapeRe(kind)}\\/([a-z0-9-]+)\\/(\\d{4})\\/(\\d{2})\\/(\\d{2})\\/\\3_${escapeRe(kind)}_\\4_(\\d{8})T(\\d{4})Z_([A-Za-z0-9]{16})\\.json\\.gz$`),
  ]),
);

/** The parts of a log file key of `kind`, or undefined when the key is not one. */
export function parseLogFileKey(key: string, kind: LogFileKind = 'CloudTrail'): LogFileKeyInfo | undefined {
  const m = LOG_FILE_KEY.get(kind)!.exec(key);
  if (!m || `${m[5]}${m[6]}${m[7]}` !== m[8]) return undefined;
  return { prefix: m[1], organizationId: m[2], accountId: m[3]!, region: m[4]!, unique: m[10]! };
}

/**
 * The name (the key after its day folder) of a log file of `accountId` and `region`, with its
 * minute as groups 1-5 (yyyy, mm, dd, HH, mm); the unique part may have any length, as validate-logs reads it.
 */
export function logFileNamePattern(accountId: string, region: string, kind: LogFileKind = 'CloudTrail'): RegExp {
  return new RegExp(`^${escapeRe(accountId)}_${escapeRe(kind)}_${escapeRe(region)}_(\\d{4})(\\d{2})(\\d{2})T(\\d{2})(\\d{2})Z_[A-Za-z0-9]+\\.json\\.gz$`);
}

// ---- digest files -----------------------------------------------------------------------------

export interface DigestKeyParts extends AccountFolder {
  /** The Region the digest covers (folder and first name field). */
  region: string;
  trailName: string;
  /** The trail's home Region. */
  homeRegion: string;
  /** Digest end time: the folder date and the name's timestamp (with seconds). */
  endMs: number;
}

/** `YYYYMMDDTHHMMSSZ`, the time in digest names (UTC, whole seconds, truncated). */
export function digestNameTime(ms: number): string {
  return formatEventTime(ms).replace(/[-:]/g, '');
}

export function digestKey(p: DigestKeyParts): string {
  return `${dayFolderPrefix('CloudTrail-Digest', p, p.endMs)}${p.accountId}_CloudTrail-Digest_${p.region}_${p.trailName}_${p.homeRegion}_${digestNameTime(p.endMs)}.json.gz`;
}

/** The folder every digest of one account and covered Region lives under (ends with `/`). */
export function digestFolderPrefix(p: AccountFolder & { region: string }): string {
  return regionFolderPrefix('CloudTrail-Digest', p);
}

export interface DigestKeyInfo {
  prefix?: string;
  organizationId?: string;
  accountId: string;
  region: string;
  trailName: string;
  homeRegion: string;
  /** End time from the name, epoch ms. */
  endMs: number;
  backfill: boolean;
}

// Trail names: 3-128 of [A-Za-z0-9._-]; Regions: lowercase letters, digits and dashes.
const DIGEST_KEY =
  /^(?:(.+)\/)?AWSLogs\/(?:(o-[a-z0-9]{10,32})\/)?(\d{12})\/CloudTrail-Digest\/([a-z0-9-]+)\/(\d{4})\/(\d{2})\/(\d{2})\/\3_CloudTrail-Digest_\4_([A-Za-z0-9._-]+)_([a-z0-9-]+)_(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z(_backfill)?\.json\.gz$/;

/** The parts of a digest file key, or undefined when the key is not one. */
export function parseDigestKey(key: string): DigestKeyInfo | undefined {
  const m = DIGEST_KEY.exec(key);
  if (!m) return undefined;
  if (m[5] !== m[10] || m[6] !== m[11] || m[7] !== m[12]) return undefined;
  const endMs = Date.UTC(+m[10]!, +m[11]! - 1, +m[12]!, +m[13]!, +m[14]!, +m[15]!);
  if (Number.isNaN(endMs) || formatEventTime(endMs) !== `${m[10]}-${m[11]}-${m[12]}T${m[13]}:${m[14]}:${m[15]}Z`) return undefined;
  const info: DigestKeyInfo = { accountId: m[3]!, region: m[4]!, trailName: m[8]!, homeRegion: m[9]!, endMs, backfill: m[16] !== undefined };
  if (m[1] !== undefined) info.prefix = m[1];
  if (m[2] !== undefined) info.organizationId = m[2];
  return info;
}

/**
 * Any digest key of one trail in one account and covered Region, as validate-logs lists them: the
 * folder date and the name's time are not checked here (the caller reads the time from the name).
 */
export function trailDigestKeyPattern(p: AccountFolder & { region: string; trailName: string; homeRegion: string }): RegExp {
  const acct = escapeRe(p.accountId);
  const region = escapeRe(p.region);
  return new RegExp(
    `^${escapeRe(digestFolderPrefix(p))}\\d+/\\d+/\\d+/${acct}_CloudTrail-Digest_${region}_${escapeRe(p.trailName)}_${escapeRe(p.homeRegion)}_.+(?:_backfill)?\\.json\\.gz$`,
    's',
  );
}

/** A digest name of any trail. */
export const ANY_DIGEST_NAME = /_CloudTrail-Digest_.+\.json\.gz$/;
