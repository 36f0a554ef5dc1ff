/**
 * CloudTrail digest files: the JSON document, its object key, the string that is signed and the
 * signature itself (reference §5.1, §5.2). Pure functions; no I/O.
 *
 * The digest bytes are produced once by serializeDigest: those exact bytes are hashed (for the
 * signature and for the next digest's previousDigestHashValue) and then gzipped and stored.
 */
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { formatEventTime } from '../core/time.ts';

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

/** `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds, truncated): the times in a digest are eventTimes' form. */
export const digestTime: (ms: number) => string = formatEventTime;

// Digest keys belong to the bucket key layout (src/core/bucket-keys.ts); re-exported for the
// integrity layer's callers.
export { digestFolderPrefix, digestKey, parseDigestKey, type DigestKeyInfo, type DigestKeyParts } from '../core/bucket-keys.ts';

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
