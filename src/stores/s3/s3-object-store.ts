/** ObjectStore on any S3-compatible endpoint (AWS S3, MinIO, Ceph RGW, moto) via @aws-sdk/client-s3. */
import { GetBucketPolicyCommand, HeadBucketCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { sdkClientConfig, type AwsClientOptions } from '../aws-clients.ts';
import { NeighbourUnavailableError, ObjectStoreError, type ObjectStore, type PutOptions } from '../object-store.ts';

export interface S3Options extends AwsClientOptions {
  forcePathStyle?: boolean;
}

function status(e: unknown): number | undefined {
  return e instanceof S3ServiceException ? e.$metadata.httpStatusCode : undefined;
}

export class S3ObjectStore implements ObjectStore {
  readonly kind = 's3' as const;
  private readonly client: S3Client;

  constructor(opts: S3Options) {
    this.client = new S3Client({
      ...sdkClientConfig(opts, opts.region),
      forcePathStyle: opts.forcePathStyle ?? true,
      maxAttempts: 2,
      // An endpoint that accepts connections and never answers must not hold delivery forever.
      // (throwOnRequestTimeout: without it the SDK only logs a warning when requestTimeout passes.)
      requestHandler: { connectionTimeout: 3000, requestTimeout: 60_000, throwOnRequestTimeout: true },
    });
  }

  async bucketExists(bucket: string): Promise<boolean> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: bucket }));
      return true;
    } catch (e) {
      if (status(e) === 404 || (e as { name?: string }).name === 'NotFound') return false;
      throw new NeighbourUnavailableError(`S3 HeadBucket ${bucket} failed: ${(e as Error).message}`, { cause: e });
    }
  }

  async bucketPolicy(bucket: string): Promise<string | undefined> {
    try {
      return (await this.client.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy;
    } catch (e) {
      if ((e as { name?: string }).name === 'NoSuchBucketPolicy' || status(e) === 404) return undefined;
      throw new NeighbourUnavailableError(`S3 GetBucketPolicy ${bucket} failed: ${(e as Error).message}`, { cause: e });
    }
  }

  async putObject(bucket: string, key: string, body: Buffer, opts: PutOptions = {}): Promise<void> {
    try {
      await this.client.send(new PutObjectCommand({
        Bucket: bucket, Key: key, Body: body, ContentType: opts.contentType, Metadata: opts.metadata,
        ACL: 'bucket-owner-full-control',
        ServerSideEncryption: opts.kmsKeyId ? 'aws:kms' : 'AES256',
        SSEKMSKeyId: opts.kmsKeyId,
      }));
    } catch (e) {
      // A network failure carries its errno code (ECONNREFUSED, ...); a service error its name.
      const name = (e as { name?: string }).name;
      const code = (e as { code?: unknown }).code;
      const errorCode = typeof code === 'string' ? code : name && name !== 'Error' ? name : 'ServiceUnavailable';
      throw new ObjectStoreError(errorCode, `S3 PutObject s3://${bucket}/${key} failed: ${(e as Error).message}`, { cause: e });
    }
  }

  destroy(): void {
    this.client.destroy();
  }
}
