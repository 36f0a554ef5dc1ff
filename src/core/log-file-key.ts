/**
 * Object keys of CloudTrail log files in a bucket, exactly as CloudTrail names them:
 * `[prefix/]AWSLogs/[o-orgid/]<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/<account>_CloudTrail_<region>_<yyyymmddTHHmmZ>_<unique16>.json.gz`
 * The 16-character unique part is derived from the batch identity, so a retried batch gets the
 * same key (and, built from the same events, the same bytes).
 */
import { createHash } from 'node:crypto';

export interface LogFileKeyParts {
  prefix?: string;
  organizationId?: string;
  accountId: string;
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

function two(n: number): string {
  return String(n).padStart(2, '0');
}

export function logFileKey(p: LogFileKeyParts): string {
  const d = new Date(p.deliveredMs);
  const [y, m, day, hh, mm] = [d.getUTCFullYear(), two(d.getUTCMonth() + 1), two(d.getUTCDate()), two(d.getUTCHours()), two(d.getUTCMinutes())];
  const base = `${p.prefix ? `${p.prefix}/` : ''}AWSLogs/${p.organizationId ? `${p.organizationId}/` : ''}${p.accountId}/CloudTrail/${p.region}/${y}/${m}/${day}/`;
  return `${base}${p.accountId}_CloudTrail_${p.region}_${y}${m}${day}T${hh}${mm}Z_${uniqueString(p.batchIdentity)}.json.gz`;
}

const KEY = /^(?:(.+)\/)?AWSLogs\/(?:(o-[a-z0-9]{10,32})\/)?(\d{12})\/CloudTrail\/([a-z0-9-]+)\/(\d{4})\/(\d{2})\/(\d{2})\/\3_CloudTrail_\4_(\d{8})T(\d{4})Z_([A-Za-z0-9]{16})\.json\.gz$/;

/** The parts of a log file key, or undefined when the key is not a CloudTrail log file key. */
export function parseLogFileKey(key: string): { prefix?: string; organizationId?: string; accountId: string; region: string; unique: string } | undefined {
  const m = KEY.exec(key);
  if (!m || `${m[5]}${m[6]}${m[7]}` !== m[8]) return undefined;
  return { prefix: m[1], organizationId: m[2], accountId: m[3]!, region: m[4]!, unique: m[10]! };
}
