/**
 * Test harness for trail delivery: bulk ingest, the server's event log (GET /events), reading back
 * every CloudTrail log file of a bucket (filesystem or S3) with the checks every file must pass, a
 * traffic generator, and moto server on a port of the caller's choosing (for restarts).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { TestIdentity } from './server.ts';
import { signedFetch } from './signed-fetch.ts';
import { isSidecar } from '../../src/stores/fs/fs-paths.ts';

export type Json = Record<string, any>;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what: string, everyMs = 100): Promise<void> {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export interface BulkResult {
  accepted: number;
  duplicates: number;
  rejected: number;
  results: ({ status: 'accepted' | 'duplicate'; eventID: string } | { status: 'rejected'; errorCode: string; errorMessage: string })[];
}

/** POST /ingest of a CloudTrail log-file body; resolves once the server acknowledged (events durable). */
export async function ingest(url: string, id: TestIdentity, records: readonly Json[], region = 'us-east-1'): Promise<BulkResult> {
  const res = await signedFetch(`${url}/ingest`, id, { body: JSON.stringify({ Records: records }), headers: { 'content-type': 'application/json' }, region });
  const text = await res.text();
  assert.equal(res.status, 200, text.slice(0, 500));
  return JSON.parse(text) as BulkResult;
}

/** Every record of the caller's account in the server's event log, with its seq. */
export async function eventLog(url: string, id: TestIdentity): Promise<{ seq: number; record: Json }[]> {
  const out: { seq: number; record: Json }[] = [];
  let after = 0;
  for (;;) {
    const res = await signedFetch(`${url}/events?after=${after}&limit=10000`, id);
    const text = await res.text();
    assert.equal(res.status, 200, text.slice(0, 500));
    const page = JSON.parse(text) as { events: { seq: number; record: Json }[]; next: number };
    out.push(...page.events);
    if (page.events.length === 0) return out;
    after = page.next;
  }
}

/** `[prefix/]AWSLogs/[o-org/]<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/<account>_CloudTrail_<region>_<yyyymmddTHHmmZ>_<16>.json.gz` */
const LOG_KEY = /^(?:(.+)\/)?AWSLogs\/(?:(o-[a-z0-9]{10,32})\/)?(\d{12})\/CloudTrail\/([a-z0-9-]+)\/(\d{4})\/(\d{2})\/(\d{2})\/(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8})T(\d{2})(\d{2})Z_([A-Za-z0-9]{16})\.json\.gz$/;

export interface LogKey {
  prefix?: string;
  organizationId?: string;
  accountId: string;
  region: string;
  /** The delivery minute the name carries, epoch ms. */
  minuteMs: number;
}

/** The parts of a CloudTrail log file key; fails the test when the key does not follow the layout. */
export function parseLogKey(key: string): LogKey {
  const m = LOG_KEY.exec(key);
  assert.ok(m, `${key} is not a CloudTrail log file key`);
  const [, prefix, organizationId, accountId, region, y, mo, d, nameAccount, nameRegion, nameDate, hh, mm] = m;
  assert.equal(nameAccount, accountId, `${key}: the file name names another account than its folder`);
  assert.equal(nameRegion, region, `${key}: the file name names another region than its folder`);
  assert.equal(nameDate, `${y}${mo}${d}`, `${key}: the file name's date is not its folder's`);
  return { prefix, organizationId, accountId: accountId!, region: region!, minuteMs: Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(hh), Number(mm)) };
}

/**
 * The records of one log file body: gzip (magic bytes, valid stream) of exactly `{"Records":[...]}`,
 * at least one record, every record of the key's account and region.
 */
export function parseLogFile(key: string, body: Buffer): Json[] {
  assert.ok(body[0] === 0x1f && body[1] === 0x8b, `${key} is not gzip`);
  const doc = JSON.parse(gunzipSync(body).toString('utf8')) as unknown;
  assert.ok(doc !== null && typeof doc === 'object' && !Array.isArray(doc), `${key}: not a JSON object`);
  assert.deepEqual(Object.keys(doc), ['Records'], `${key}: a log file holds exactly one member, Records`);
  const records = (doc as { Records: unknown }).Records;
  assert.ok(Array.isArray(records) && records.length > 0, `${key}: Records must be a non-empty list`);
  const k = parseLogKey(key);
  for (const r of records as Json[]) {
    assert.equal(r.recipientAccountId, k.accountId, `${key} holds a record of account ${r.recipientAccountId}`);
    assert.equal(r.awsRegion, k.region, `${key} holds a record of region ${r.awsRegion}`);
  }
  return records as Json[];
}

export interface LogFile {
  key: string;
  key_: LogKey;
  records: Json[];
  /** S3 only: what GetObject answered. */
  sse?: string;
  kmsKeyId?: string;
}

/**
 * Paths of every file below a directory (none when it does not exist). A temporary file renamed
 * into place between readdir and stat (delivery mid-write) is skipped.
 */
export function filesBelow(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(dir, name);
      let isDir: boolean;
      try {
        isDir = statSync(p).isDirectory();
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      if (isDir) walk(p);
      else out.push(p);
    }
  };
  walk(root);
  return out;
}

/**
 * Every CloudTrail log file of a filesystem bucket (directory), checked by parseLogFile. The store's
 * own files beside objects (a log file still being written under its temporary name, metadata) are
 * not objects and are skipped, as an S3 listing would.
 */
export function readFsBucket(bucketDir: string): LogFile[] {
  const out: LogFile[] = [];
  for (const p of filesBelow(bucketDir)) {
    const key = relative(bucketDir, p);
    if (isSidecar(key)) continue;
    if (!p.endsWith('.json.gz')) assert.fail(`${key}: a file that is not a log file was left in the bucket`);
    out.push({ key, key_: parseLogKey(key), records: parseLogFile(key, readFileSync(p)) });
  }
  return out;
}

/** Every object of an S3 bucket (ListObjectsV2, all pages; GetObject each), checked by parseLogFile. */
export async function readS3Bucket(s3: S3Client, bucket: string, cache?: Map<string, LogFile>): Promise<LogFile[]> {
  const out: LogFile[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token, MaxKeys: 200 }));
    for (const o of page.Contents ?? []) {
      const key = o.Key!;
      const known = cache?.get(`${bucket}/${key}`);
      if (known) {
        out.push(known);
        continue;
      }
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const body = Buffer.from(await got.Body!.transformToByteArray());
      const f: LogFile = { key, key_: parseLogKey(key), records: parseLogFile(key, body), sse: got.ServerSideEncryption, kmsKeyId: got.SSEKMSKeyId };
      cache?.set(`${bucket}/${key}`, f);
      out.push(f);
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** `account/eventID`: what identifies a stored event. */
export const idOf = (r: Json): string => `${r.recipientAccountId}/${r.eventID}`;

/** Identities of delivered records; fails on a record delivered twice. */
export function deliveredIds(files: readonly LogFile[], what: string): Set<string> {
  const seen = new Set<string>();
  for (const f of files) {
    for (const r of f.records) {
      const id = idOf(r);
      assert.ok(!seen.has(id), `${what}: ${id} (${r.eventName}) was delivered twice (again in ${f.key})`);
      seen.add(id);
    }
  }
  return seen;
}

export const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export interface TrafficOptions {
  accounts: readonly string[];
  regions: readonly string[];
  /** Buckets named in data events' S3 object ARNs. */
  dataBuckets?: readonly string[];
  eventTimeMs?: (i: number) => number;
}

/**
 * Generated API-call records: EC2 reads and writes, IAM and STS (global services), KMS, and S3
 * object-level data events; readOnly given on some, left for the server to derive on others.
 */
export function traffic(n: number, o: TrafficOptions): Json[] {
  const out: Json[] = [];
  const buckets = o.dataBuckets ?? ['logs-src'];
  for (let i = 0; i < n; i++) {
    const account = o.accounts[(i + (i >> 3)) % o.accounts.length]!;
    const region = o.regions[(i * 7 + (i >> 2)) % o.regions.length]!;
    const user = `u${i % 7}`;
    const base: Json = {
      eventVersion: '1.09',
      userIdentity: { type: 'IAMUser', principalId: `AIDA${user.toUpperCase()}EXAMPLE`, arn: `arn:aws:iam::${account}:user/${user}`, accountId: account, accessKeyId: `AKIA${user.toUpperCase()}EXAMPLEKEY`, userName: user },
      eventTime: iso(o.eventTimeMs ? o.eventTimeMs(i) : Date.now()),
      awsRegion: region,
      sourceIPAddress: `198.51.100.${i % 250}`,
      userAgent: 'aws-cli/2.15.0',
      eventID: randomUUID(),
      eventType: 'AwsApiCall',
      recipientAccountId: account,
    };
    const kind = i % 10;
    const bucket = buckets[(i >> 1) % buckets.length]!;
    const data = (eventName: string, readOnly: boolean): Json => ({
      ...base, eventSource: 's3.amazonaws.com', eventName, readOnly, managementEvent: false, eventCategory: 'Data',
      requestParameters: { bucketName: bucket, key: `k/${i}` },
      resources: [{ type: 'AWS::S3::Object', ARN: `arn:aws:s3:::${bucket}/k/${i}` }, { accountId: account, type: 'AWS::S3::Bucket', ARN: `arn:aws:s3:::${bucket}` }],
    });
    switch (kind) {
      case 0: out.push({ ...base, eventSource: 'ec2.amazonaws.com', eventName: 'DescribeInstances', readOnly: true, requestParameters: { maxResults: 50 } }); break;
      case 1: out.push({ ...base, eventSource: 'ec2.amazonaws.com', eventName: 'RunInstances', readOnly: false, requestParameters: { instanceType: ['t3.micro', 'm5.large'][i % 2], minCount: 1 } }); break;
      case 2: out.push({ ...base, eventSource: 'iam.amazonaws.com', eventName: 'GetUser', requestParameters: { userName: user } }); break;
      case 3: out.push({ ...base, eventSource: 'kms.amazonaws.com', eventName: 'Decrypt', readOnly: true, requestParameters: { encryptionAlgorithm: 'SYMMETRIC_DEFAULT' } }); break;
      case 4: out.push(data('GetObject', true)); break;
      case 5: out.push(data('PutObject', false)); break;
      case 6: out.push({ ...base, eventSource: 'sts.amazonaws.com', eventName: 'AssumeRole', requestParameters: { roleArn: `arn:aws:iam::${account}:role/r${i % 3}`, roleSessionName: user } }); break;
      case 7: out.push({ ...base, eventSource: 'ec2.amazonaws.com', eventName: 'CreateTags', requestParameters: { resourcesSet: { items: [{ resourceId: `i-${i}` }] } } }); break;
      case 8: out.push(data('DeleteObject', false)); break;
      default: out.push({ ...base, eventSource: 'kms.amazonaws.com', eventName: 'CreateKey', readOnly: false, requestParameters: { keySpec: 'SYMMETRIC_DEFAULT' } }); break;
    }
  }
  return out;
}

/** The fixture corpus's event records (not envelopes, LookupEvents answers or digests), parsed. */
export function corpusRecords(): Json[] {
  const dir = new URL('../fixtures/corpus/', import.meta.url).pathname;
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl') && !/-(envelopes|lookupevents|digest)\.jsonl$/.test(f))
    .sort()
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Json));
}

