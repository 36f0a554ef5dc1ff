/**
 * Read access to a bucket, as `validate-logs` needs it: sorted listing from a key on, and objects
 * with their user metadata. Drivers: the filesystem bucket (fs/fs-bucket-reader.ts) and any S3
 * endpoint (s3/s3-bucket-reader.ts); both pass the contract of bucket-reader.suite.ts.
 */
import type { Readable } from 'node:stream';

export interface BucketObject {
  /** User metadata (the `x-amz-meta-` names without the prefix, lower case). */
  metadata: Record<string, string>;
  /** The object's bytes; the consumer reads it to the end or destroys it. */
  body: Readable;
}

export interface BucketReader {
  /**
   * Keys that start with `prefix` and sort after `startAfter` (if given), in S3's order (ascending
   * by UTF-8 bytes). The consumer may stop early. Throws BucketReadError (NoSuchBucket, ...).
   */
  listKeys(bucket: string, prefix: string, startAfter?: string): AsyncIterable<string>;
  /**
   * The object, its bytes as stored (never inflated), or BucketReadError with code `NoSuchKey` when
   * there is none (also for a key that is only a prefix of others, or one the store cannot hold)
   * and `NoSuchBucket` when the bucket does not exist.
   */
  getObject(bucket: string, key: string): Promise<BucketObject>;
  /** Releases connections. */
  close?(): void;
}

/**
 * A read the store refused. `code` is S3's error code (NoSuchKey, NoSuchBucket, AccessDenied, ...);
 * `operation` the S3 operation it stands for, so messages read like the AWS CLI's.
 */
export class BucketReadError extends Error {
  override name = 'BucketReadError';
  readonly code: string;
  readonly operation: string;
  constructor(code: string, operation: string, message: string, options?: { cause?: unknown }) {
    super(`An error occurred (${code}) when calling the ${operation} operation: ${message}`, options);
    this.code = code;
    this.operation = operation;
  }
}
