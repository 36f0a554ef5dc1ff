/**
 * CloudTrail digest files: the JSON document, its object key, the string that is signed and the
 * signature itself (reference §5.1, §5.2). Pure functions; no I/O.
 *
 * The digest bytes are produced once by serializeDigest: those exact bytes are hashed (for the
 * signature and for the next digest's previousDigestHashValue) and then gzipped and stored.
 */
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

export interface DigestLogFile {
  s3Bucket: string;
  s3Object: string;
  /** Lowercase hex SHA-256 of the uncompressed log file. */
  hashValue: string;
  hashAlgorithm: 'SHA-256';
  newestEventTime: string;
  oldestEventTime: string;
}

/** Field order is the order CloudTrail writes them (the AWS documentation sample). */
export interface DigestFile {
  awsAccountId: string;
  digestStartTime: string;
  digestEndTime: string;
  digestS3Bucket: string;
  digestS3Object: string;
  digestPublicKeyFingerprint: string;
  digestSignatureAlgorithm: 'SHA256withRSA';
  newestEventTime: string | null;
  oldestEventTime: string | null;
  previousDigestS3Bucket: string | null;
  previousDigestS3Object: string | null;
  previousDigestHashValue: string | null;
  previousDigestHashAlgorithm: 'SHA-256' | null;
  previousDigestSignature: string | null;
  logFiles: DigestLogFile[];
}

/** S3 user-metadata names (sent as `x-amz-meta-<name>`) carrying the signature of a digest. */
export const DIGEST_METADATA = { signature: 'signature', algorithm: 'signature-algorithm' } as const;
export const DIGEST_SIGNATURE_ALGORITHM = 'SHA256withRSA' as const;
export const DIGEST_HASH_ALGORITHM = 'SHA-256' as const;

function two(n: number): string {
  return String(n).padStart(2, '0');
}

/** `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds, truncated). */
export function digestTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

export interface DigestKeyParts {
  prefix?: string;
  organizationId?: string;
  accountId: string;
  /** The Region the digest covers (folder and first name field). */
  region: string;
  trailName: string;
  /** The trail's home Region. */
  homeRegion: string;
  /** Digest end time: the folder date and the name's timestamp (with seconds). */
  endMs: number;
}

/**
 * `[prefix/]AWSLogs/[o-id/]<acct>/CloudTrail-Digest/<region>/<yyyy>/<mm>/<dd>/<acct>_CloudTrail-Digest_<region>_<trail>_<home>_<yyyymmddTHHmmssZ>.json.gz`
 */
export function digestKey(p: DigestKeyParts): string {
  const d = new Date(p.endMs);
  const [y, m, day] = [String(d.getUTCFullYear()).padStart(4, '0'), two(d.getUTCMonth() + 1), two(d.getUTCDate())];
  const stamp = `${y}${m}${day}T${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}Z`;
  return `${digestFolderPrefix(p)}${y}/${m}/${day}/${p.accountId}_CloudTrail-Digest_${p.region}_${p.trailName}_${p.homeRegion}_${stamp}.json.gz`;
}

/** The folder every digest of one account and covered Region lives under (ends with `/`). */
export function digestFolderPrefix(p: { prefix?: string; organizationId?: string; accountId: string; region: string }): string {
  return `${p.prefix ? `${p.prefix}/` : ''}AWSLogs/${p.organizationId ? `${p.organizationId}/` : ''}${p.accountId}/CloudTrail-Digest/${p.region}/`;
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
  if (Number.isNaN(endMs) || digestTime(endMs) !== `${m[10]}-${m[11]}-${m[12]}T${m[13]}:${m[14]}:${m[15]}Z`) return undefined;
  const info: DigestKeyInfo = { accountId: m[3]!, region: m[4]!, trailName: m[8]!, homeRegion: m[9]!, endMs, backfill: m[16] !== undefined };
  if (m[1] !== undefined) info.prefix = m[1];
  if (m[2] !== undefined) info.organizationId = m[2];
  return info;
}

/** The digest's JSON bytes (UTF-8, compact, CloudTrail's field order). Hash and gzip these bytes. */
export function serializeDigest(d: DigestFile): Buffer {
  const ordered = {
    awsAccountId: d.awsAccountId,
    digestStartTime: d.digestStartTime,
    digestEndTime: d.digestEndTime,
    digestS3Bucket: d.digestS3Bucket,
    digestS3Object: d.digestS3Object,
    digestPublicKeyFingerprint: d.digestPublicKeyFingerprint,
    digestSignatureAlgorithm: d.digestSignatureAlgorithm,
    newestEventTime: d.newestEventTime,
    oldestEventTime: d.oldestEventTime,
    previousDigestS3Bucket: d.previousDigestS3Bucket,
    previousDigestS3Object: d.previousDigestS3Object,
    previousDigestHashValue: d.previousDigestHashValue,
    previousDigestHashAlgorithm: d.previousDigestHashAlgorithm,
    previousDigestSignature: d.previousDigestSignature,
    logFiles: d.logFiles.map((f) => ({
      s3Bucket: f.s3Bucket,
      s3Object: f.s3Object,
      hashValue: f.hashValue,
      hashAlgorithm: f.hashAlgorithm,
      newestEventTime: f.newestEventTime,
      oldestEventTime: f.oldestEventTime,
    })),
  };
  return Buffer.from(JSON.stringify(ordered), 'utf8');
}

function isStr(v: unknown): v is string {
  return typeof v === 'string';
}
function isStrOrNull(v: unknown): v is string | null {
  return v === null || typeof v === 'string';
}

/**
 * Reads a digest document (already gunzipped and JSON-parsed, or the raw bytes/text) into a
 * DigestFile, or returns undefined when a field is missing or has the wrong type.
 */
export function parseDigest(input: Buffer | string | unknown): DigestFile | undefined {
  let o: unknown = input;
  if (Buffer.isBuffer(input) || typeof input === 'string') {
    try {
      o = JSON.parse(Buffer.isBuffer(input) ? input.toString('utf8') : input);
    } catch {
      return undefined;
    }
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return undefined;
  const r = o as Record<string, unknown>;
  for (const k of ['awsAccountId', 'digestStartTime', 'digestEndTime', 'digestS3Bucket', 'digestS3Object', 'digestPublicKeyFingerprint'] as const) {
    if (!isStr(r[k])) return undefined;
  }
  if (r.digestSignatureAlgorithm !== DIGEST_SIGNATURE_ALGORITHM) return undefined;
  for (const k of ['newestEventTime', 'oldestEventTime', 'previousDigestS3Bucket', 'previousDigestS3Object', 'previousDigestHashValue', 'previousDigestSignature'] as const) {
    if (!isStrOrNull(r[k])) return undefined;
  }
  if (r.previousDigestHashAlgorithm !== null && r.previousDigestHashAlgorithm !== DIGEST_HASH_ALGORITHM) return undefined;
  if (!Array.isArray(r.logFiles)) return undefined;
  const logFiles: DigestLogFile[] = [];
  for (const f of r.logFiles as unknown[]) {
    if (typeof f !== 'object' || f === null) return undefined;
    const l = f as Record<string, unknown>;
    if (!isStr(l.s3Bucket) || !isStr(l.s3Object) || !isStr(l.hashValue) || l.hashAlgorithm !== DIGEST_HASH_ALGORITHM || !isStr(l.newestEventTime) || !isStr(l.oldestEventTime)) return undefined;
    logFiles.push({ s3Bucket: l.s3Bucket, s3Object: l.s3Object, hashValue: l.hashValue, hashAlgorithm: DIGEST_HASH_ALGORITHM, newestEventTime: l.newestEventTime, oldestEventTime: l.oldestEventTime });
  }
  return {
    awsAccountId: r.awsAccountId as string,
    digestStartTime: r.digestStartTime as string,
    digestEndTime: r.digestEndTime as string,
    digestS3Bucket: r.digestS3Bucket as string,
    digestS3Object: r.digestS3Object as string,
    digestPublicKeyFingerprint: r.digestPublicKeyFingerprint as string,
    digestSignatureAlgorithm: DIGEST_SIGNATURE_ALGORITHM,
    newestEventTime: r.newestEventTime as string | null,
    oldestEventTime: r.oldestEventTime as string | null,
    previousDigestS3Bucket: r.previousDigestS3Bucket as string | null,
    previousDigestS3Object: r.previousDigestS3Object as string | null,
    previousDigestHashValue: r.previousDigestHashValue as string | null,
    previousDigestHashAlgorithm: r.previousDigestHashAlgorithm as 'SHA-256' | null,
    previousDigestSignature: r.previousDigestSignature as string | null,
    logFiles,
  };
}

/** Lowercase hex SHA-256. */
export function sha256Hex(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * The signed text: end time, `bucket/key`, hex SHA-256 of the uncompressed digest bytes, and the
 * previous digest's signature (the literal `null` for a starting digest); `\n` between, none after.
 */
export function signingString(p: { digestEndTime: string; bucket: string; key: string; digestSha256Hex: string; previousSignature: string | null }): string {
  return [p.digestEndTime, `${p.bucket}/${p.key}`, p.digestSha256Hex, p.previousSignature ?? 'null'].join('\n');
}

/** RSASSA-PKCS1-v1_5 with SHA-256 over the UTF-8 signing string; lowercase hex. */
export function signDigest(privateKey: KeyObject | string, signingString: string): string {
  return sign('sha256', Buffer.from(signingString, 'utf8'), privateKey).toString('hex');
}

/**
 * The RSA public key of a PKCS#1 DER `RSAPublicKey` (ListPublicKeys' Value, decoded), or
 * undefined when the bytes are not one (the AWS CLI then reports "Unable to load PKCS #1 key";
 * an SPKI key is refused as the CLI refuses it).
 */
export function loadPublicKeyDer(der: Buffer): KeyObject | undefined {
  try {
    const key = createPublicKey({ key: der, format: 'der', type: 'pkcs1' });
    return key.asymmetricKeyType === 'rsa' ? key : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Checks a hex signature against a PKCS#1 DER RSA public key (or a key loaded by
 * loadPublicKeyDer, to load it once for many digests). False for a bad key, a malformed
 * signature or a mismatch; never throws.
 */
export function verifyDigestSignature(publicKeyDer: Buffer | KeyObject, signingString: string, signatureHex: string): boolean {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(signatureHex)) return false;
  const key = Buffer.isBuffer(publicKeyDer) ? loadPublicKeyDer(publicKeyDer) : publicKeyDer;
  if (!key) return false;
  try {
    return verify('sha256', Buffer.from(signingString, 'utf8'), key, Buffer.from(signatureHex, 'hex'));
  } catch {
    return false;
  }
}
