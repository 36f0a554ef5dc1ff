/**
 * StartQuery's `DeliveryS3Uri`: the results of a finished query copied to a bucket as AWS copies
 * them (docs/lake.md "Query results in a bucket"): gzip CSV files with a header line,
 * `result_<n>.csv.gz`, and a signed `result_sign.json`, under
 * `[prefix/]AWSLogs/<account>/CloudTrail-Lake/Query/<yyyy>/<mm>/<dd>/<query id>/`, in the bucket
 * store trails deliver to (the filesystem or S3, src/stores/object-store.ts). The sign file's
 * `hashSignature` is SHA256withRSA over the files' SHA-256 hashes joined by spaces, with the
 * Region's signing key, whose public key ListPublicKeys answers (as digest files are signed).
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { cloudTrailError, ServiceError } from '../../aws/errors.ts';
import { awsLogsPrefix, missingBucketStatement, partitionForRegion } from '../../core/index.ts';
import { DIGEST_HASH_ALGORITHM, DIGEST_SIGNATURE_ALGORITHM, sha256Hex, signDigest, type SigningKey } from '../../integrity/index.ts';
import type { DeliveryStatus, LakeQueryEngine, LakeQueryRecord } from '../../lake/query/engine.ts';
import { NeighbourUnavailableError, ObjectStoreError, type ObjectStore } from '../../stores/index.ts';
import { checkBucketName } from './trail-params.ts';

/** Rows per results file. */
export const ROWS_PER_RESULT_FILE = 100_000;

/** The model's pattern for DeliveryS3Uri. */
const DELIVERY_URI = /^s3:\/\/[a-z0-9][.\-a-z0-9]{1,61}[a-z0-9](\/.*)?$/s;

export interface DeliveryTarget {
  bucket: string;
  /** The key prefix, without slashes at either end ('' for none). */
  prefix: string;
}

/** Bucket and prefix of a DeliveryS3Uri, or InvalidParameterException naming the form. */
export function parseDeliveryUri(uri: string): DeliveryTarget {
  if (uri.length > 1024 || !DELIVERY_URI.test(uri)) {
    throw cloudTrailError('InvalidParameterException', `DeliveryS3Uri ${JSON.stringify(uri.slice(0, 200))} is not valid: it must be s3://<bucket>[/<prefix>], at most 1024 characters.`);
  }
  const rest = uri.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = slash < 0 ? '' : rest.slice(slash + 1).replace(/^\/+|\/+$/g, '');
  if (/\/\/|(^|\/)\.\.?(\/|$)/.test(prefix)) throw cloudTrailError('InvalidS3PrefixException', `The S3 prefix ${JSON.stringify(prefix.slice(0, 200))} of DeliveryS3Uri is not valid: it has an empty, "." or ".." segment.`);
  return { bucket, prefix };
}

/** The folder of a query's results: `[prefix/]AWSLogs/<account>/CloudTrail-Lake/Query/<yyyy>/<mm>/<dd>/<query id>/` (the UTC day it ended). */
export function resultsFolder(t: DeliveryTarget, accountId: string, queryId: string, endMs: number): string {
  const d = new Date(endMs).toISOString();
  return `${awsLogsPrefix(t.prefix || undefined, accountId)}CloudTrail-Lake/Query/${d.slice(0, 4)}/${d.slice(5, 7)}/${d.slice(8, 10)}/${queryId}/`;
}

function unavailable(e: unknown): never {
  if (e instanceof NeighbourUnavailableError) throw new ServiceError('ServiceUnavailableException', e.message, 503);
  throw e;
}

/**
 * At StartQuery: the URI is well formed, the bucket exists and, where the store has bucket
 * policies, one lets CloudTrail write below `[prefix/]AWSLogs/<account>/` (as a trail's bucket).
 */
export async function checkDeliveryTarget(objects: ObjectStore, uri: string, accountId: string, region: string): Promise<DeliveryTarget> {
  const t = parseDeliveryUri(uri);
  checkBucketName(t.bucket);
  if (!(await objects.bucketExists(t.bucket).catch(unavailable))) {
    const hint = objects.missingBucketHint?.(t.bucket);
    throw cloudTrailError('S3BucketDoesNotExistException', `S3 bucket does not exist: ${t.bucket}${hint ? `. ${hint}` : ''}`);
  }
  if (objects.kind !== 's3') return t;
  const policy = await objects.bucketPolicy(t.bucket).catch(unavailable);
  if (policy === undefined) return t;
  const missing = missingBucketStatement(policy, t.bucket, [awsLogsPrefix(t.prefix || undefined, accountId)], partitionForRegion(region));
  if (missing) throw cloudTrailError('InsufficientS3BucketPolicyException', `Incorrect S3 bucket policy is detected for bucket: ${t.bucket}. Missing statement: ${missing}`);
  return t;
}

export interface SignFile {
  version: '1.0';
  region: string;
  files: { fileHashValue: string; fileName: string }[];
  hashAlgorithm: typeof DIGEST_HASH_ALGORITHM;
  signatureAlgorithm: typeof DIGEST_SIGNATURE_ALGORITHM;
  queryCompleteTime: string;
  hashSignature: string;
  publicKeyFingerprint: string;
}

/** The text a sign file's hashSignature signs: the files' hex SHA-256 hashes, in order, joined by spaces. */
export const signFileSigningString = (files: readonly { fileHashValue: string }[]): string => files.map((f) => f.fileHashValue).join(' ');

export interface QueryResultsDeliveryDeps {
  engine: Pick<LakeQueryEngine, 'exportCsv' | 'removeExport'>;
  objects: ObjectStore;
  keys: { currentKey(region: string, nowMs: number): Promise<SigningKey> };
  nowMs: () => number;
  defaultRegion: string;
}

/** Delivers finished queries' results (the engine's `deliver`). */
export class QueryResultsDelivery {
  private readonly deps: QueryResultsDeliveryDeps;

  constructor(deps: QueryResultsDeliveryDeps) {
    this.deps = deps;
  }

  async deliver(r: LakeQueryRecord): Promise<DeliveryStatus> {
    if (r.deliveryS3Uri === undefined) return 'FAILED';
    const target = parseDeliveryUri(r.deliveryS3Uri);
    const region = r.region ?? this.deps.defaultRegion;
    const endMs = r.endTimeMs ?? this.deps.nowMs();
    const folder = resultsFolder(target, r.accountId, r.queryId, endMs);
    try {
      const paths = await this.deps.engine.exportCsv(r, ROWS_PER_RESULT_FILE);
      const files: SignFile['files'] = [];
      for (const path of paths) {
        const body = await readFile(path);
        const status = await this.put(target.bucket, `${folder}${basename(path)}`, body, 'application/x-gzip', false);
        if (status) return status;
        files.push({ fileHashValue: sha256Hex(body), fileName: basename(path) });
      }
      const key = await this.deps.keys.currentKey(region, this.deps.nowMs());
      const sign: SignFile = {
        version: '1.0',
        region,
        files,
        hashAlgorithm: DIGEST_HASH_ALGORITHM,
        signatureAlgorithm: DIGEST_SIGNATURE_ALGORITHM,
        queryCompleteTime: `${new Date(endMs).toISOString().slice(0, 19)}Z`,
        hashSignature: signDigest(key.privateKeyPem, signFileSigningString(files)),
        publicKeyFingerprint: key.fingerprint,
      };
      return (await this.put(target.bucket, `${folder}result_sign.json`, Buffer.from(JSON.stringify(sign)), 'application/json', true)) ?? 'SUCCESS';
    } finally {
      await this.deps.engine.removeExport(r);
    }
  }

  /** Writes one object; undefined when written, else the DeliveryStatus its refusal means. */
  private async put(bucket: string, key: string, body: Buffer, contentType: string, signFile: boolean): Promise<DeliveryStatus | undefined> {
    try {
      await this.deps.objects.putObject(bucket, key, body, { contentType });
      return undefined;
    } catch (e) {
      if (!(e instanceof ObjectStoreError)) throw e;
      if (e.code === 'NoSuchBucket') return 'RESOURCE_NOT_FOUND';
      if (e.code === 'AccessDenied') return signFile ? 'ACCESS_DENIED_SIGNING_FILE' : 'ACCESS_DENIED';
      return signFile ? 'FAILED_SIGNING_FILE' : 'FAILED';
    }
  }
}
