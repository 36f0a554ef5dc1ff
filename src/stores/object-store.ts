/**
 * The bucket trails deliver into, as the control plane and delivery need it.
 * Drivers: a filesystem bucket (fs/, the default) and any S3-compatible endpoint (s3/); both pass
 * the contract of object-store.suite.ts, which reads back through the same driver's BucketReader.
 */
export interface ObjectStore {
  /** Which kind of store this is; policy checks apply to `s3` only. */
  readonly kind: 'filesystem' | 's3';
  bucketExists(bucket: string): Promise<boolean>;
  /** What to do about a bucket that does not exist, when the store can say more than AWS (a filesystem bucket: the directory to create). */
  missingBucketHint?(bucket: string): string;
  /** The bucket policy document, or undefined when the bucket has none (or the store has no policies). */
  bucketPolicy(bucket: string): Promise<string | undefined>;
  /**
   * Writes an object; resolves only once the store confirmed it (filesystem: written, fsynced and
   * renamed into place). The bytes are stored as given (gzip stays gzip). Writing a key again
   * replaces its bytes and its metadata (a write without metadata leaves none); the same bytes
   * again are harmless; of concurrent writes of one key, the object ends as one of them, whole.
   * Refusals are ObjectStoreErrors: NoSuchBucket, InvalidKey (a key this store cannot hold: the
   * filesystem refuses `..` and empty segments, names too long for a file, a key under an
   * object's name), or the store's or network's code.
   */
  putObject(bucket: string, key: string, body: Buffer, opts?: PutOptions): Promise<void>;
}

export interface PutOptions {
  contentType?: string;
  /** User metadata (x-amz-meta-*). */
  metadata?: Record<string, string>;
  /** SSE-KMS with this key; SSE-S3 (AES256) otherwise. */
  kmsKeyId?: string;
}

/** A write the store refused or could not take; `code` is the store's error code (NoSuchBucket, AccessDenied, ...). */
export class ObjectStoreError extends Error {
  override name = 'ObjectStoreError';
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** SNS topics a trail can notify, as the control plane needs them. */
export interface TopicDirectory {
  /** The topic's access policy, or undefined when the topic does not exist. `{}` when it has none. */
  topicPolicy(topicArn: string): Promise<string | undefined>;
}

/** An internal failure talking to a neighbour service; retrying may help. */
export class NeighbourUnavailableError extends Error {
  override name = 'NeighbourUnavailableError';
  readonly retryable = true;
}
