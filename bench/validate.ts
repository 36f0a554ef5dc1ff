/**
 * validate-logs benchmark (issue 5): how fast `opentrail validate-logs` validates delivered log
 * files, against the AWS CLI (`aws cloudtrail validate-logs`) on the same moto-hosted bucket, against
 * the floor (moto serving every object once + gunzip + SHA-256), and on the filesystem bucket.
 *
 * Two real servers (digest period `periodMs`, 1 s by default, so 100+ digests exist after ~2 min)
 * are fed the same generated traffic at a steady rate for `periods` periods: one delivers into a
 * bucket on moto server, the other into its filesystem bucket (more data: `fsMB`). Logging is
 * stopped, the final digest awaited, and then, with both servers still answering DescribeTrails,
 * GetTrailStatus and ListPublicKeys:
 *   - moto: the AWS CLI once, ours `repeat` times (best), over the whole range; the floor: every
 *     object (digests and log files) GET once over HTTP keep-alive, one at a time and with ours'
 *     concurrency (16), plus in-process gunzip + SHA-256 of every object (one core);
 *   - filesystem: ours with --bucket-root, MB/s of uncompressed log data;
 *   - scaling: ours over the last 1, 10, 100 and all periods, on both buckets.
 * Every tool run is a fresh process (wall time includes Node / Python start-up).
 */
import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { Agent, createServer, request, type Server } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { gunzip, gunzipSync, gzipSync } from 'node:zlib';
import { promisify } from 'node:util';
import { CloudTrailClient, CreateTrailCommand, GetTrailStatusCommand, StartLoggingCommand, StopLoggingCommand } from '@aws-sdk/client-cloudtrail';
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { logFileKey } from '../src/core/bucket-keys.ts';
import {
  DIGEST_METADATA, digestKey, digestTime, parseDigestKey, serializeDigest, sha256Hex, signDigest, signingString, type DigestFile,
} from '../src/integrity/digest.ts';
import { fingerprintOf, publicKeyDerOf } from '../src/integrity/signing-keys.ts';
import { BIN } from '../test/helpers/server.ts';
import { motoNeighbourConfig, motoS3, startMoto } from '../test/helpers/moto.ts';
import { record, type GenParams } from './gen.ts';
import { BENCH_IDENTITY, log, round, signPost, startBenchServer, type BenchServer } from './lib.ts';

const ACCOUNT = '111111111111';
const REGION = 'us-east-1';
const BUCKET = 'bench-validate';
const TRAIL = 'audit';
const ARN = `arn:aws:cloudtrail:${REGION}:${ACCOUNT}:trail/${TRAIL}`;

export interface ValidateOptions {
  /** Digest period, ms (integrity.digestPeriodMs). */
  periodMs: number;
  /** Periods over which traffic is ingested (=> about this many digests, plus one or two). */
  periods: number;
  /** Uncompressed log data to deliver into the moto bucket, MB (approximate). */
  motoMB: number;
  /** ... and into the filesystem bucket. */
  fsMB: number;
  /** Runs of ours per measurement (the best is kept). */
  repeat: number;
  /** --concurrency of ours (and of the concurrent floor). */
  concurrency: number;
}

const gunzipAsync = promisify(gunzip);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const MB = 1e6;
const AUTH = 'AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00';

interface Run {
  seconds: number;
  code: number;
  digests: number;
  logFiles: number;
  stderr: string;
  /** CPU of the tool's process (user + sys, all threads), when /usr/bin/time is there to tell. */
  cpuSeconds?: number;
  /** CPU moto spent meanwhile (serving this run), when its pid is given. */
  motoCpuSeconds?: number;
}

const GNU_TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

/** CPU seconds (user + sys) a process has used so far, from /proc/<pid>/stat. */
function processCpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

function timed(cmd: string, args: string[], env: Record<string, string>, motoPid?: number): Promise<Run> {
  // /usr/bin/time -f '%U %S' writes the child's CPU as the last line of stderr.
  const [file, argv] = GNU_TIME ? [GNU_TIME, ['-f', 'cpu %U %S', cmd, ...args]] : [cmd, args];
  const moto0 = motoPid === undefined ? 0 : processCpuSeconds(motoPid);
  const t0 = performance.now();
  return new Promise((resolve) => {
    execFile(file, argv, { env, maxBuffer: 256 << 20, timeout: 900_000 }, (err, stdout, stderr) => {
      const seconds = (performance.now() - t0) / 1000;
      const motoCpu = motoPid === undefined ? undefined : round(processCpuSeconds(motoPid) - moto0, 2);
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      const d = /(\d+)\/(\d+) digest files valid/.exec(stdout);
      const l = /(\d+)\/(\d+) log files valid/.exec(stdout);
      const cpu = /^cpu ([\d.]+) ([\d.]+)\s*$/m.exec(stderr);
      resolve({
        seconds: round(seconds, 3), code, digests: Number(d?.[2] ?? 0), logFiles: Number(l?.[2] ?? 0), stderr: stderr.slice(0, 2000),
        ...(cpu ? { cpuSeconds: round(Number(cpu[1]) + Number(cpu[2]), 2) } : {}), ...(motoCpu === undefined ? {} : { motoCpuSeconds: motoCpu }),
      });
    });
  });
}

function check(r: Run, what: string): Run {
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code}\n${r.stderr}`);
  return r;
}

async function best(n: number, fn: () => Promise<Run>, what: string): Promise<Run & { runs: number[] }> {
  const runs: Run[] = [];
  for (let i = 0; i < n; i++) runs.push(check(await fn(), what));
  const b = runs.reduce((x, y) => (y.seconds < x.seconds ? y : x));
  return { ...b, runs: runs.map((r) => r.seconds) };
}

async function ingestBatch(server: BenchServer, body: Buffer): Promise<void> {
  const headers = await signPost(server.url, '/ingest', body, 'application/json');
  const res = await fetch(`${server.url}/ingest`, { method: 'POST', headers, body: body as unknown as BodyInit });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`ingest: ${res.status} ${text.slice(0, 300)}`);
}

function ctClient(url: string): CloudTrailClient {
  return new CloudTrailClient({
    endpoint: url, region: REGION, maxAttempts: 1,
    credentials: { accessKeyId: BENCH_IDENTITY.accessKeyId, secretAccessKey: BENCH_IDENTITY.secretAccessKey },
  });
}

async function s3Keys(s3: S3Client, prefix: string): Promise<{ key: string; size: number }[]> {
  const out: { key: string; size: number }[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) out.push({ key: o.Key!, size: o.Size ?? 0 });
    token = page.NextContinuationToken;
  } while (token);
  return out.sort((a, b) => (a.key < b.key ? -1 : 1));
}

function fsKeys(root: string): { key: string; size: number }[] {
  const out: { key: string; size: number }[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (n.endsWith('.json.gz')) out.push({ key: relative(root, p), size: st.size });
    }
  };
  walk(root);
  return out.sort((a, b) => (a.key < b.key ? -1 : 1));
}

const newestDigestEnd = (keys: { key: string }[]) => Math.max(0, ...keys.map((k) => parseDigestKey(k.key)?.endMs ?? 0));

/**
 * GETs every key from moto (path style), `concurrency` at a time. Not signed: moto does not check
 * signatures, it only needs an Authorization header to treat the request as not anonymous.
 */
async function serveOnce(base: string, keys: string[], concurrency: number, onBody?: (b: Buffer) => Promise<unknown>): Promise<{ seconds: number; bodies: Buffer[] }> {
  const u = new URL(base);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const bodies: Buffer[] = new Array(keys.length);
  const get = (key: string) => new Promise<Buffer>((resolve, reject) => {
    const req = request({ agent, host: u.hostname, port: u.port, method: 'GET', path: `/${BUCKET}/${key.split('/').map(encodeURIComponent).join('/')}`, headers: { authorization: AUTH } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`GET ${key}: ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (;;) {
      const i = next++;
      if (i >= keys.length) return;
      bodies[i] = await get(keys[i]!);
      if (onBody) await onBody(bodies[i]!);
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  return { seconds: round(seconds, 3), bodies };
}

/** gunzip + SHA-256 of every body, one core; the uncompressed bytes. */
function hashAll(bodies: Buffer[]): { seconds: number; bytes: number } {
  const t0 = performance.now();
  let bytes = 0;
  for (const b of bodies) {
    const raw = gunzipSync(b);
    bytes += raw.length;
    createHash('sha256').update(raw).digest('hex');
  }
  return { seconds: round((performance.now() - t0) / 1000, 3), bytes };
}

export async function runValidate(opts: ValidateOptions): Promise<Record<string, unknown>> {
  const motoDataDir = mkdtempSync(join(tmpdir(), 'opentrail-bench-validate-moto-'));
  const fsDataDir = mkdtempSync(join(tmpdir(), 'opentrail-bench-validate-fs-'));
  const bucketRoot = join(fsDataDir, 'buckets');
  mkdirSync(join(bucketRoot, BUCKET), { recursive: true });
  const moto = await startMoto();
  const s3 = motoS3(moto);
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  const common = { delivery: { maxAgeMs: 1000, pollMs: 50 }, integrity: { digestPeriodMs: opts.periodMs } };
  const motoServer = await startBenchServer(motoDataDir, [], { ...common, objectStore: motoNeighbourConfig(moto).objectStore });
  const fsServer = await startBenchServer(fsDataDir, [], common);
  const servers = [motoServer, fsServer];
  try {
    // Traffic: the same generated records; the fs bucket gets more of them.
    const sample = Array.from({ length: 200 }, (_, i) => JSON.stringify(record({ seed: 77, count: 200, endMs: Date.now(), spanMs: 1000 }, i)).length);
    const avg = sample.reduce((a, b) => a + b, 0) / sample.length;
    const tickMs = 250;
    const ticks = Math.ceil((opts.periods * opts.periodMs) / tickMs);
    const perTick = (mb: number) => Math.max(1, Math.round((mb * MB) / avg / ticks));
    const counts = { moto: perTick(opts.motoMB), fs: perTick(opts.fsMB) };
    for (const s of servers) {
      const ct = ctClient(s.url);
      await ct.send(new CreateTrailCommand({ Name: TRAIL, S3BucketName: BUCKET, EnableLogFileValidation: true }));
      await ct.send(new StartLoggingCommand({ Name: TRAIL }));
      ct.destroy();
    }
    const startMs = Date.now() - 2000;
    log(`validate: ingesting for ${opts.periods} digest periods of ${opts.periodMs} ms: ${counts.moto} (moto) and ${counts.fs} (fs) events every ${tickMs} ms (~${Math.round(avg)} B each)`);
    const t0 = Date.now();
    let index = 0;
    for (let t = 0; t < ticks; t++) {
      const due = t0 + t * tickMs;
      if (Date.now() < due) await sleep(due - Date.now());
      const params: GenParams = { seed: 4711, count: 1e9, endMs: Date.now(), spanMs: tickMs };
      const n = Math.max(counts.moto, counts.fs);
      const recs: string[] = [];
      for (let i = 0; i < n; i++) recs.push(JSON.stringify(record(params, index + i)));
      index += n;
      const body = (m: number) => Buffer.from(`{"Records":[${recs.slice(0, m).join(',')}]}`);
      const posts: Promise<void>[] = [];
      for (let off = 0; off < counts.fs; off += 2000) {
        posts.push(ingestBatch(fsServer, Buffer.from(`{"Records":[${recs.slice(off, Math.min(counts.fs, off + 2000)).join(',')}]}`)));
      }
      posts.push(ingestBatch(motoServer, body(counts.moto)));
      await Promise.all(posts);
      if (t % Math.round(10_000 / tickMs) === 0) log(`validate: ${Math.round((100 * t) / ticks)}% ingested`);
    }
    const lag = Date.now() - (t0 + ticks * tickMs);
    log(`validate: ingest done (${lag} ms behind schedule); stopping logging, waiting for the final digests`);
    await sleep(2000);
    const stopMs: number[] = [];
    for (const s of servers) {
      const ct = ctClient(s.url);
      await ct.send(new StopLoggingCommand({ Name: TRAIL }));
      stopMs.push((await ct.send(new GetTrailStatusCommand({ Name: TRAIL }))).StopLoggingTime!.getTime());
      ct.destroy();
    }
    const digestPrefix = `AWSLogs/${ACCOUNT}/CloudTrail-Digest/`;
    const logPrefix = `AWSLogs/${ACCOUNT}/CloudTrail/`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const m = newestDigestEnd(await s3Keys(s3, digestPrefix));
      const f = newestDigestEnd(fsKeys(join(bucketRoot, BUCKET)).filter((k) => k.key.startsWith(digestPrefix)));
      if (m >= stopMs[0]! && f >= stopMs[1]!) break;
      if (Date.now() > deadline) throw new Error('final digests did not appear within 60 s');
      await sleep(200);
    }
    await sleep(opts.periodMs);
    const endMs = Date.now();
    const range = ['--start-time', iso(startMs), '--end-time', iso(endMs)];

    const motoDigests = await s3Keys(s3, digestPrefix);
    const motoLogs = await s3Keys(s3, logPrefix);
    const fsAll = fsKeys(join(bucketRoot, BUCKET));
    const fsDigests = fsAll.filter((k) => k.key.startsWith(digestPrefix));
    const fsLogs = fsAll.filter((k) => k.key.startsWith(logPrefix));

    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      AWS_ACCESS_KEY_ID: BENCH_IDENTITY.accessKeyId, AWS_SECRET_ACCESS_KEY: BENCH_IDENTITY.secretAccessKey,
      AWS_DEFAULT_REGION: REGION, AWS_MAX_ATTEMPTS: '1', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      AWS_ENDPOINT_URL_S3: moto.url,
    };
    const ours = (server: BenchServer, extra: string[], r = range) => () =>
      timed(process.execPath, [BIN, 'validate-logs', '--endpoint-url', server.url, '--region', REGION, '--trail-arn', ARN, ...r, '--concurrency', String(opts.concurrency), ...extra], env);
    const aws = () => timed('aws', ['cloudtrail', 'validate-logs', '--endpoint-url', motoServer.url, '--region', REGION, '--trail-arn', ARN, ...range], env);

    // The floor on moto: every object served once (digests too: both tools read them), + gunzip + SHA-256.
    log(`validate: moto floor over ${motoDigests.length} digests + ${motoLogs.length} log files`);
    const allKeys = [...motoDigests, ...motoLogs].map((k) => k.key);
    const serveSeq = await serveOnce(moto.url, allKeys, 1);
    const serveConc = await serveOnce(moto.url, allKeys, opts.concurrency);
    const hash = hashAll(serveConc.bodies);
    const logBytesMoto = hashAll(serveConc.bodies.slice(motoDigests.length)).bytes;
    const gzBytesMoto = motoLogs.reduce((a, k) => a + k.size, 0);
    const floorConc = round(serveConc.seconds + hash.seconds, 3);
    const floorSeq = round(serveSeq.seconds + hash.seconds, 3);

    log('validate: the AWS CLI on moto');
    const awsRun = check(await aws(), 'aws cloudtrail validate-logs');
    log(`validate: AWS CLI ${awsRun.seconds} s; ours on moto`);
    const oursMoto = await best(opts.repeat, ours(motoServer, []), 'opentrail validate-logs (moto)');
    const oursMotoCompat = await best(opts.repeat, ours(motoServer, ['--aws-compatible']), 'opentrail validate-logs --aws-compatible (moto)');
    if (awsRun.logFiles !== oursMoto.logFiles || awsRun.digests !== oursMoto.digests) {
      throw new Error(`the tools disagree: aws ${awsRun.digests}/${awsRun.logFiles}, ours ${oursMoto.digests}/${oursMoto.logFiles}`);
    }

    log('validate: ours on the filesystem bucket');
    let logBytesFs = 0;
    for (const k of fsLogs) logBytesFs += gunzipSync(readFileSync(join(bucketRoot, BUCKET, k.key))).length;
    const gzBytesFs = fsLogs.reduce((a, k) => a + k.size, 0);
    const oursFs = await best(opts.repeat, ours(fsServer, ['--bucket-root', bucketRoot]), 'opentrail validate-logs (fs)');
    // Scaling: the last N periods.
    log('validate: scaling over 1, 10, 100 and all periods');
    const scaling: Record<string, unknown>[] = [];
    const lastDigestEnd = newestDigestEnd(motoDigests);
    for (const n of [1, 10, 100, 'all'] as const) {
      const r = n === 'all' ? range : ['--start-time', iso(lastDigestEnd - n * opts.periodMs - 1000), '--end-time', iso(endMs)];
      const m = await best(opts.repeat, ours(motoServer, [], r), `scaling moto ${n}`);
      const f = await best(opts.repeat, ours(fsServer, ['--bucket-root', bucketRoot], r), `scaling fs ${n}`);
      scaling.push({
        periods: n,
        moto: { digests: m.digests, logFiles: m.logFiles, seconds: m.seconds, msPerDigest: round((1000 * m.seconds) / Math.max(1, m.digests), 1) },
        fs: { digests: f.digests, logFiles: f.logFiles, seconds: f.seconds, msPerDigest: round((1000 * f.seconds) / Math.max(1, f.digests), 1) },
      });
    }

    const mbps = (bytes: number, s: number) => round(bytes / MB / s, 1);
    const result = {
      settings: { ...opts, ingestTickMs: tickMs, eventsPerTick: counts, avgRecordBytes: Math.round(avg), deliveryMaxAgeMs: 1000, ingestBehindScheduleMs: lag },
      moto: {
        digests: motoDigests.length, logFiles: motoLogs.length,
        logMB: round(logBytesMoto / MB, 1), logGzipMB: round(gzBytesMoto / MB, 1),
        floor: {
          serveOnceSequentialSeconds: serveSeq.seconds, serveOnceConcurrentSeconds: serveConc.seconds, concurrency: opts.concurrency,
          gunzipSha256Seconds: hash.seconds, gunzipSha256MBps: mbps(hash.bytes, hash.seconds),
          floorSeconds: floorConc, floorSequentialSeconds: floorSeq,
        },
        awsCli: { seconds: awsRun.seconds, logMBps: mbps(logBytesMoto, awsRun.seconds), digests: awsRun.digests, logFiles: awsRun.logFiles },
        ours: { seconds: oursMoto.seconds, runs: oursMoto.runs, logMBps: mbps(logBytesMoto, oursMoto.seconds) },
        oursAwsCompatible: { seconds: oursMotoCompat.seconds, runs: oursMotoCompat.runs },
        speedupVsAwsCli: round(awsRun.seconds / oursMoto.seconds, 2),
        oursOverFloor: round(oursMoto.seconds / floorConc, 2),
      },
      fs: {
        digests: fsDigests.length, logFiles: fsLogs.length, logMB: round(logBytesFs / MB, 1), logGzipMB: round(gzBytesFs / MB, 1),
        ours: { seconds: oursFs.seconds, runs: oursFs.runs, logMBps: mbps(logBytesFs, oursFs.seconds) },
        // Fixed cost (process start, DescribeTrails, ListPublicKeys, listing): ours over 1 period.
        fixedSeconds: (scaling[0]!.fs as { seconds: number }).seconds,
        logMBpsExcludingFixed: oursFs.seconds > (scaling[0]!.fs as { seconds: number }).seconds
          ? mbps(logBytesFs, oursFs.seconds - (scaling[0]!.fs as { seconds: number }).seconds) : null,
      },
      scaling,
      targets: { speedupVsAwsCli: 2, oursOverFloor: 1.5, fsLogMBps: 400 },
    };
    log(`validate: moto: aws ${awsRun.seconds} s, ours ${oursMoto.seconds} s, floor ${floorConc} s; fs ${oursFs.seconds} s for ${round(logBytesFs / MB, 1)} MB`);
    return result;
  } finally {
    s3.destroy();
    for (const s of servers) await s.stop();
    await moto.stop();
    rmSync(motoDataDir, { recursive: true, force: true });
    rmSync(fsDataDir, { recursive: true, force: true });
  }
}

// ---- the large bucket (issue 17) ----------------------------------------------------------------

export interface LargeValidateOptions {
  /** Hourly digests (24: one day). */
  hours: number;
  /** Log files per hour (12: one every 5 minutes => 288 a day). */
  filesPerHour: number;
  /** Records per log file (500 => 144k a day). */
  recordsPerFile: number;
  /** Runs of each tool (medians reported). */
  repeat: number;
  /** --concurrency of ours (and of the concurrent floor). */
  concurrency: number;
}

/** The first hour of the large bucket: a fixed past day, so every run writes the same keys and bytes. */
export const LARGE_T0 = Date.UTC(2026, 10, 1);
const HOUR_MS = 3_600_000;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : round((s[m - 1]! + s[m]!) / 2, 3);
}

export interface LargeBucket {
  digests: string[];
  logs: string[];
  logBytes: number;
  gzipBytes: number;
  publicKey: { der: Buffer; fingerprint: string };
  lastDigestEndMs: number;
}

/**
 * Writes a trail's day into the bucket as another implementation of the format would (the layout
 * of CloudTrail on AWS): `hours` hourly digests ending on the hour, chained and signed with a key of
 * our own (the first a starting digest), each listing `filesPerHour` log files delivered every
 * 60 / filesPerHour minutes with `recordsPerFile` bench/gen.ts records each.
 */
/** Where the large bucket is written: one object, its bytes and user metadata. */
export type PutObject = (key: string, body: Buffer, metadata?: Record<string, string>) => Promise<unknown>;

/** PutObject into BUCKET on S3 (moto). */
export const s3Put = (s3: S3Client): PutObject => (key, body, metadata) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, Metadata: metadata }));

/** The same object in a filesystem bucket as FsObjectStore lays it out: `<root>/<bucket>/<key>`, metadata in `<file>.meta.json`. */
export const fsPut = (root: string): PutObject => async (key, body, metadata) => {
  const path = join(root, BUCKET, key);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, body);
  if (metadata) writeFileSync(`${path}.meta.json`, JSON.stringify(metadata));
};

export async function writeLargeBucket(put: PutObject, opts: LargeValidateOptions): Promise<LargeBucket> {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const der = publicKeyDerOf(publicKey);
  const fingerprint = fingerprintOf(der);
  const out: LargeBucket = { digests: [], logs: [], logBytes: 0, gzipBytes: 0, publicKey: { der, fingerprint }, lastDigestEndMs: 0 };
  let prev: { key: string; hash: string; signature: string } | undefined;
  let index = 0;
  const stepMs = HOUR_MS / opts.filesPerHour;
  for (let h = 0; h < opts.hours; h++) {
    const startMs = LARGE_T0 + h * HOUR_MS;
    const endMs = startMs + HOUR_MS;
    const logFiles: DigestFile['logFiles'] = [];
    const puts: Promise<unknown>[] = [];
    for (let f = 0; f < opts.filesPerHour; f++) {
      const deliveredMs = startMs + f * stepMs + 2 * 60_000;
      const params: GenParams = { seed: 1717, count: opts.recordsPerFile, endMs: deliveredMs - 60_000, spanMs: stepMs };
      const recs: string[] = [];
      for (let i = 0; i < opts.recordsPerFile; i++) recs.push(JSON.stringify(record(params, index + i)));
      index += opts.recordsPerFile;
      const body = Buffer.from(`{"Records":[${recs.join(',')}]}`);
      const gz = gzipSync(body);
      const key = logFileKey({ accountId: ACCOUNT, region: REGION, deliveredMs, batchIdentity: `large-${h}-${f}` });
      puts.push(put(key, gz));
      out.logs.push(key);
      out.logBytes += body.length;
      out.gzipBytes += gz.length;
      logFiles.push({
        s3Bucket: BUCKET, s3Object: key, hashValue: sha256Hex(body), hashAlgorithm: 'SHA-256',
        oldestEventTime: digestTime(deliveredMs - 60_000 - stepMs), newestEventTime: digestTime(deliveredMs - 60_000),
      });
    }
    await Promise.all(puts);
    const key = digestKey({ accountId: ACCOUNT, region: REGION, trailName: TRAIL, homeRegion: REGION, endMs });
    const d: DigestFile = {
      awsAccountId: ACCOUNT, digestStartTime: digestTime(startMs), digestEndTime: digestTime(endMs),
      digestS3Bucket: BUCKET, digestS3Object: key, digestPublicKeyFingerprint: fingerprint, digestSignatureAlgorithm: 'SHA256withRSA',
      newestEventTime: logFiles.at(-1)!.newestEventTime, oldestEventTime: logFiles[0]!.oldestEventTime,
      previousDigestS3Bucket: prev ? BUCKET : null, previousDigestS3Object: prev?.key ?? null,
      previousDigestHashValue: prev?.hash ?? null, previousDigestHashAlgorithm: prev ? 'SHA-256' : null,
      previousDigestSignature: prev?.signature ?? null,
      logFiles,
    };
    const bytes = serializeDigest(d);
    const hash = sha256Hex(bytes);
    const signature = signDigest(privateKey, signingString({ digestEndTime: d.digestEndTime, bucket: BUCKET, key, digestSha256Hex: hash, previousSignature: d.previousDigestSignature }));
    await put(key, gzipSync(bytes), { [DIGEST_METADATA.signature]: signature, [DIGEST_METADATA.algorithm]: 'SHA256withRSA' });
    out.digests.push(key);
    prev = { key, hash, signature };
    out.lastDigestEndMs = endMs;
  }
  return out;
}

/**
 * The CloudTrail API of that other implementation, as far as validate-logs asks it: DescribeTrails
 * (the trail and its bucket), GetTrailStatus (logging, the latest digest delivery) and
 * ListPublicKeys (the one key that signed the digests). AWS JSON 1.1; signatures are not checked.
 */
export function startStubCloudTrail(bucket: LargeBucket): Promise<{ url: string; server: Server }> {
  const answers: Record<string, unknown> = {
    DescribeTrails: {
      trailList: [{
        Name: TRAIL, TrailARN: ARN, S3BucketName: BUCKET, HomeRegion: REGION, IsMultiRegionTrail: false,
        IsOrganizationTrail: false, LogFileValidationEnabled: true, IncludeGlobalServiceEvents: true,
      }],
    },
    GetTrailStatus: {
      IsLogging: true, LatestDigestDeliveryTime: (bucket.lastDigestEndMs + 5 * 60_000) / 1000,
      LatestDeliveryTime: (bucket.lastDigestEndMs + 2 * 60_000) / 1000, StartLoggingTime: LARGE_T0 / 1000,
    },
    ListPublicKeys: {
      PublicKeyList: [{
        Value: bucket.publicKey.der.toString('base64'), Fingerprint: bucket.publicKey.fingerprint,
        ValidityStartTime: (LARGE_T0 - 30 * 24 * HOUR_MS) / 1000, ValidityEndTime: (LARGE_T0 + 30 * 24 * HOUR_MS) / 1000,
      }],
    },
  };
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const op = String(req.headers['x-amz-target'] ?? '').split('.').at(-1) ?? '';
      const body = answers[op];
      res.writeHead(body ? 200 : 400, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'bench' });
      res.end(JSON.stringify(body ?? { __type: 'UnsupportedOperationException', message: op }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    resolve({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server });
  }));
}

/**
 * Issue 17: `opentrail validate-logs` against `aws cloudtrail validate-logs` on a bucket of the
 * issue's size on moto S3 (288 log files, 144k records, 24 hourly digests by default), each tool
 * run `repeat` times as a fresh process (medians), beside moto's serve-once floor.
 */
export async function runValidateLarge(opts: LargeValidateOptions): Promise<Record<string, unknown>> {
  const moto = await startMoto();
  const motoPid = moto.process.pid!;
  const s3 = motoS3(moto);
  // The same bucket on the filesystem (FsObjectStore's layout): ours with --bucket-root, where moto is not in the way.
  const fsRoot = mkdtempSync(join(tmpdir(), 'opentrail-bench-validate-large-'));
  let stub: { url: string; server: Server } | undefined;
  try {
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    log(`validate-large: writing ${opts.hours} digests of ${opts.filesPerHour} log files of ${opts.recordsPerFile} records into moto and ${fsRoot}`);
    const toS3 = s3Put(s3);
    const toFs = fsPut(fsRoot);
    const bucket = await writeLargeBucket((key, body, metadata) => Promise.all([toS3(key, body, metadata), toFs(key, body, metadata)]), opts);
    stub = await startStubCloudTrail(bucket);
    const range = ['--start-time', iso(LARGE_T0), '--end-time', iso(bucket.lastDigestEndMs)];
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_DEFAULT_REGION: REGION, AWS_MAX_ATTEMPTS: '1', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      AWS_ENDPOINT_URL_S3: moto.url,
    };
    const common = ['validate-logs', '--endpoint-url', stub.url, '--region', REGION, '--trail-arn', ARN, ...range];
    const ours = (extra: string[] = []) => timed(process.execPath, [BIN, ...common, '--concurrency', String(opts.concurrency), ...extra], env, motoPid);
    const aws = () => timed('aws', ['cloudtrail', ...common], env, motoPid);

    const allKeys = [...bucket.digests, ...bucket.logs];
    log(`validate-large: floor over ${allKeys.length} objects`);
    const serveSeq = await serveOnce(moto.url, allKeys, 1);
    // Does concurrency help against moto? Every object served once at 1, 4, 16 and 64 at a time,
    // with the CPU moto spent doing it (one Python process: its threads share one interpreter lock).
    const serveByConcurrency: { concurrency: number; seconds: number; objectsPerSecond: number; motoCpuSeconds: number; motoCoresUsed: number }[] = [];
    for (const c of [1, 4, 16, 64]) {
      const cpu0 = processCpuSeconds(motoPid);
      const r = await serveOnce(moto.url, allKeys, c);
      const cpu = round(processCpuSeconds(motoPid) - cpu0, 2);
      serveByConcurrency.push({ concurrency: c, seconds: r.seconds, objectsPerSecond: Math.round(allKeys.length / r.seconds), motoCpuSeconds: cpu, motoCoresUsed: round(cpu / r.seconds, 2) });
    }
    log(`validate-large: serve once by concurrency ${serveByConcurrency.map((x) => `${x.concurrency}: ${x.seconds} s (moto ${x.motoCoresUsed} cores)`).join(', ')}`);

    // Interleaved with the floor, so that the load of the other sessions falls on all alike.
    const runs: { aws: Run[]; ours: Run[]; compat: Run[]; fs: Run[] } = { aws: [], ours: [], compat: [], fs: [] };
    const floors: { serve: number; hash: number; hashMBps: number; overlapped: number }[] = [];
    for (let i = 0; i < opts.repeat; i++) {
      const serveConc = await serveOnce(moto.url, allKeys, opts.concurrency);
      const h = hashAll(serveConc.bodies);
      // A client that does nothing else: GET, gunzip (libuv pool) and SHA-256 as each object arrives, 16 at a time.
      const overlapped = await serveOnce(moto.url, allKeys, opts.concurrency, async (b) => createHash('sha256').update(await gunzipAsync(b)).digest('hex'));
      floors.push({ serve: serveConc.seconds, hash: h.seconds, hashMBps: round(h.bytes / MB / h.seconds, 1), overlapped: overlapped.seconds });
      runs.aws.push(check(await aws(), 'aws cloudtrail validate-logs (large)'));
      runs.ours.push(check(await ours(), 'opentrail validate-logs (large)'));
      runs.compat.push(check(await ours(['--aws-compatible']), 'opentrail validate-logs --aws-compatible (large)'));
      runs.fs.push(check(await ours(['--bucket-root', fsRoot]), 'opentrail validate-logs --bucket-root (large)'));
      const f = floors.at(-1)!;
      log(`validate-large: run ${i + 1}: floor ${round(f.serve + f.hash, 3)} s (overlapped ${f.overlapped} s), aws ${runs.aws.at(-1)!.seconds} s, ours ${runs.ours.at(-1)!.seconds} s, ours --aws-compatible ${runs.compat.at(-1)!.seconds} s, ours on the filesystem ${runs.fs.at(-1)!.seconds} s`);
    }
    const a = runs.aws[0]!;
    const o = runs.ours[0]!;
    const fsRun = runs.fs[0]!;
    if (a.digests !== bucket.digests.length || a.logFiles !== bucket.logs.length || o.digests !== a.digests || o.logFiles !== a.logFiles
      || fsRun.digests !== a.digests || fsRun.logFiles !== a.logFiles) {
      throw new Error(`validate-large: expected ${bucket.digests.length}/${bucket.logs.length}; aws ${a.digests}/${a.logFiles}, ours ${o.digests}/${o.logFiles}, ours fs ${fsRun.digests}/${fsRun.logFiles}`);
    }
    const secs = (rs: Run[]) => rs.map((r) => r.seconds);
    /** Medians of the tool's own CPU and of moto's CPU during its runs. */
    const cpu = (rs: Run[]) => ({
      ...(rs.every((r) => r.cpuSeconds !== undefined) ? { cpuSecondsMedian: median(rs.map((r) => r.cpuSeconds!)) } : {}),
      ...(rs.every((r) => r.motoCpuSeconds !== undefined) ? { motoCpuSecondsMedian: median(rs.map((r) => r.motoCpuSeconds!)) } : {}),
    });
    const awsMedian = median(secs(runs.aws));
    const oursMedian = median(secs(runs.ours));
    const compatMedian = median(secs(runs.compat));
    const fsMedian = median(secs(runs.fs));
    const floorRuns = floors.map((f) => round(f.serve + f.hash, 3));
    const floorConc = median(floorRuns);
    const overlappedMedian = median(floors.map((f) => f.overlapped));
    const mbps = (bytes: number, s: number) => round(bytes / MB / s, 1);
    return {
      settings: opts,
      bucket: {
        digests: bucket.digests.length, logFiles: bucket.logs.length, records: bucket.logs.length * opts.recordsPerFile,
        logMB: round(bucket.logBytes / MB, 1), logGzipMB: round(bucket.gzipBytes / MB, 1),
      },
      floor: {
        serveOnceSequentialSeconds: serveSeq.seconds, concurrency: opts.concurrency, serveByConcurrency,
        serveOnceConcurrentSeconds: median(floors.map((f) => f.serve)), gunzipSha256Seconds: median(floors.map((f) => f.hash)),
        gunzipSha256MBps: median(floors.map((f) => f.hashMBps)), medianSeconds: floorConc, runs: floorRuns,
        /** GET + gunzip + SHA-256 overlapped in one process (no start-up, no digest checks): the bound of any client here. */
        overlappedSeconds: overlappedMedian, overlappedRuns: floors.map((f) => f.overlapped),
      },
      awsCli: { medianSeconds: awsMedian, runs: secs(runs.aws), logMBps: mbps(bucket.logBytes, awsMedian), ...cpu(runs.aws) },
      ours: { medianSeconds: oursMedian, runs: secs(runs.ours), logMBps: mbps(bucket.logBytes, oursMedian), ...cpu(runs.ours) },
      oursAwsCompatible: { medianSeconds: compatMedian, runs: secs(runs.compat), ...cpu(runs.compat) },
      oursFilesystem: { medianSeconds: fsMedian, runs: secs(runs.fs), logMBps: mbps(bucket.logBytes, fsMedian), ...cpu(runs.fs) },
      speedupVsAwsCli: round(awsMedian / oursMedian, 2),
      /** Per round (the same load), then their median: steadier than the ratio of medians. */
      speedupVsAwsCliPerRun: runs.aws.map((r, i) => round(r.seconds / runs.ours[i]!.seconds, 2)),
      speedupVsAwsCliMedianOfRuns: round(median(runs.aws.map((r, i) => r.seconds / runs.ours[i]!.seconds)), 2),
      /** Ours on the filesystem bucket against the AWS CLI on moto (the same bucket). */
      filesystemSpeedupVsAwsCli: round(awsMedian / fsMedian, 2),
      oursOverFloor: round(oursMedian / floorConc, 2),
      oursOverOverlappedFloor: round(oursMedian / overlappedMedian, 2),
    };
  } finally {
    stub?.server.close();
    s3.destroy();
    await moto.stop();
    rmSync(fsRoot, { recursive: true, force: true });
  }
}
