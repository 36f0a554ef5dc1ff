/**
 * BucketReader on any S3-compatible endpoint. Like the AWS CLI it asks GetBucketLocation once per
 * bucket (in the caller's Region; null means us-east-1) and reads each bucket with a client of the
 * bucket's Region. Listing is ListObjectsV2 with Prefix and StartAfter.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import { GetBucketLocationCommand, GetObjectCommand, ListObjectsV2Command, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { RegionalClients } from '../aws-clients.ts';
import { BucketReadError, type BucketObject, type BucketReader } from '../bucket-reader.ts';

export interface S3ReaderOptions {
  /** The Region GetBucketLocation is asked in (the CLI's `--region`). */
  region: string;
  /** A custom endpoint (AWS_ENDPOINT_URL_S3); path-style addressing is used with one. */
  endpoint?: string;
  forcePathStyle?: boolean;
  /** Explicit credentials; otherwise the SDK's default chain (environment, profile, ...). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Connections per Region: how many objects can be fetched at once. */
  maxSockets?: number;
}

function codeOf(e: unknown): string {
  if (e instanceof S3ServiceException) {
    if (e.name && e.name !== 'Error' && e.name !== 'S3ServiceException') return e.name;
    const status = e.$metadata.httpStatusCode;
    if (status === 404) return 'NotFound';
    if (status === 403) return 'AccessDenied';
    return String(status ?? 'Unknown');
  }
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  const name = (e as { name?: unknown }).name;
  return typeof name === 'string' && name !== 'Error' ? name : 'Unknown';
}

function wrap(e: unknown, operation: string): BucketReadError {
  if (e instanceof BucketReadError) return e;
  return new BucketReadError(codeOf(e), operation, (e as Error).message, { cause: e });
}

export class S3BucketReader implements BucketReader {
  private readonly opts: S3ReaderOptions;
  private readonly clients: RegionalClients<S3Client>;
  private readonly regions = new Map<string, Promise<string>>();

  constructor(opts: S3ReaderOptions) {
    this.opts = opts;
    const maxSockets = opts.maxSockets ?? 32;
    this.clients = new RegionalClients((region) => new S3Client({
      region,
      endpoint: opts.endpoint,
      forcePathStyle: opts.forcePathStyle ?? opts.endpoint !== undefined,
      credentials: opts.credentials,
      maxAttempts: 3,
      requestHandler: {
        httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
        httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
        connectionTimeout: 5000,
        requestTimeout: 120_000,
      },
    }));
  }

  private client(region: string): S3Client {
    return this.clients.get(region);
  }

  /** The bucket's Region, asked once. */
  private bucketRegion(bucket: string): Promise<string> {
    let r = this.regions.get(bucket);
    if (!r) {
      r = this.client(this.opts.region)
        .send(new GetBucketLocationCommand({ Bucket: bucket }))
        .then((out) => (out.LocationConstraint as string | undefined) || 'us-east-1', (e: unknown) => {
          throw wrap(e, 'GetBucketLocation');
        });
      this.regions.set(bucket, r);
    }
    return r;
  }

  async *listKeys(bucket: string, prefix: string, startAfter?: string): AsyncIterable<string> {
    const client = this.client(await this.bucketRegion(bucket));
    let token: string | undefined;
    for (;;) {
      let out;
      try {
        out = await client.send(new ListObjectsV2Command({
          Bucket: bucket, Prefix: prefix, StartAfter: token ? undefined : startAfter, ContinuationToken: token,
        }));
      } catch (e) {
        throw wrap(e, 'ListObjects');
      }
      for (const o of out.Contents ?? []) if (o.Key !== undefined) yield o.Key;
      if (!out.IsTruncated || !out.NextContinuationToken) return;
      token = out.NextContinuationToken;
    }
  }

  async getObject(bucket: string, key: string): Promise<BucketObject> {
    const client = this.client(await this.bucketRegion(bucket));
    try {
      const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const metadata: Record<string, string> = {};
      for (const [k, v] of Object.entries(out.Metadata ?? {})) metadata[k.toLowerCase()] = v;
      return { metadata, body: out.Body as Readable };
    } catch (e) {
      throw wrap(e, 'GetObject');
    }
  }

  close(): void {
    this.clients.destroy();
  }
}
