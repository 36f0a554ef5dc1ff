/**
 * Which keys of a source an import reads, and the names of what it writes. A trail writes its log
 * files under `[prefix/]AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/<name>.json.gz`;
 * digest files (`CloudTrail-Digest/`) and Insights files (`CloudTrail-Insight/`) are not events and
 * are skipped, as is anything else under the prefix.
 */
import { createHash } from 'node:crypto';

const LOG_FILE = /(?:^|\/)AWSLogs\/(?:o-[a-z0-9]{10,32}\/)?(\d{12})\/CloudTrail\/[a-z0-9-]+\/(\d{4})\/(\d{2})\/(\d{2})\/[^/]+\.json\.gz$/;
const DAY_MS = 86_400_000;

/** The UTC day (ms at 00:00) of a log file key's folder, or undefined when the key is not a trail log file. */
export function logFileDay(key: string): number | undefined {
  const m = LOG_FILE.exec(key);
  if (!m) return undefined;
  const ms = Date.UTC(Number(m[2]), Number(m[3]) - 1, Number(m[4]));
  return Number.isNaN(ms) ? undefined : ms;
}

/** The account of the `AWSLogs/[o-org/]<account>/` segment of a key, or undefined when it has none. */
export function keyAccount(key: string): string | undefined {
  return /(?:^|\/)AWSLogs\/(?:o-[a-z0-9]{10,32}\/)?(\d{12})\//.exec(key)?.[1];
}

/**
 * Whether an import of events from `startMs` to `endMs` (either open) reads the log file `key`: a
 * trail log file of one of `accounts` (the importing account's, or its organization's members' for
 * the management account) whose day folder is within the range widened by a day on each side (a
 * file is filed under its delivery time, which may be the day after its events; its events are
 * then filtered by eventTime).
 */
export function wantsKey(key: string, startMs: number | undefined, endMs: number | undefined, accounts: ReadonlySet<string>): boolean {
  const m = LOG_FILE.exec(key);
  if (!m || !accounts.has(m[1]!)) return false;
  const day = logFileDay(key);
  if (day === undefined) return false;
  if (startMs !== undefined && day < Math.floor(startMs / DAY_MS) * DAY_MS - DAY_MS) return false;
  if (endMs !== undefined && day > Math.floor(endMs / DAY_MS) * DAY_MS + DAY_MS) return false;
  return true;
}

/** The folder of a key (its S3 "prefix" as ImportStatistics counts them): everything up to the last `/`. */
export function keyPrefix(key: string): string {
  return key.slice(0, key.lastIndexOf('/') + 1);
}

/**
 * The name of the Lake files written for a batch of source files: the import id and a hash of the
 * batch's keys, so the same batch written again (after a crash) replaces its own files.
 */
export function batchName(importId: string, keys: readonly string[]): string {
  return `import-${importId}-${createHash('sha256').update(keys.join('\n')).digest('hex').slice(0, 20)}`;
}
