/**
 * The validate-logs engine: proves that the log files of a trail were not changed, deleted or added
 * since delivery, from its signed, chained digest files (reference §5.4).
 *
 * It walks digests as the AWS CLI does, so that both report the same thing: the digest keys of the
 * range are listed once; from the newest, each digest is fetched, its signature checked with the
 * ListPublicKeys key named by its fingerprint, its log files hashed; then the previous digest it
 * names is next; a missing or invalid digest sends the walk to the next older listed key; a
 * starting digest (null previous fields) is a gap. Backfill digests form a second walk.
 *
 * On top of that ("extended" checks, on by default) it reports what that walk cannot see:
 * - digests deleted at the end of the range (the first digest after the range names one that is
 *   gone, or GetTrailStatus says digests were delivered after the newest one found);
 * - runs of deleted digests (a deleted digest's predecessors, named from the digest period);
 * - digests in the range that no link reaches (added, or skipped by a broken chain), and a previous
 *   digest whose hash or signature is not the one its successor recorded;
 * - log files in the range listed in no digest (added).
 *
 * Work is concurrent (digests prefetched, log files fetched, gunzipped and hashed in parallel) but
 * events are reported in the order the AWS CLI prints them.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { createGunzip, gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { finished, Readable } from 'node:stream';
import { parseArn } from '../core/arn.ts';
import { ANY_DIGEST_NAME, dayFolderPrefix, digestFolderPrefix, digestNameTime, logFileNamePattern, trailDigestKeyPattern } from '../core/bucket-keys.ts';
import { BucketReadError, type BucketReader } from '../stores/bucket-reader.ts';
import { gunzipHasher, type GunzipHasher } from './gunzip-hash.ts';
import { DIGEST_METADATA, digestKey, digestTime, sha256Hex, signingString, verifyDigestSignature } from './digest.ts';

const gunzipAsync = promisify(gunzip);
const HOUR = 3_600_000;
const MINUTE = 60_000;

/** A public key as ListPublicKeys returns it: the fingerprint and the PKCS#1 DER bytes. */
export interface PublicKeyInfo {
  fingerprint: string;
  value: Buffer;
}

export interface PublicKeySource {
  /** ListPublicKeys for [startMs, endMs]. */
  listPublicKeys(startMs: number, endMs: number): Promise<PublicKeyInfo[]>;
}

export interface ValidateOptions {
  trailArn: string;
  startMs: number;
  endMs: number;
  /** Where the digests are (the trail's bucket, or --s3-bucket). */
  bucket: string;
  prefix?: string;
  /** The account whose digests are validated (default: the ARN's). */
  accountId?: string;
  /** Organization trails: the `o-` id in the key path. */
  organizationId?: string;
  /** The Region whose digests are validated (the CLI's Region; default the ARN's). */
  sourceRegion?: string;
  reader: BucketReader;
  keys: PublicKeySource;
  /** Checks beyond the AWS CLI's (default true). */
  extended?: boolean;
  /** GetTrailStatus' LatestDigestDeliveryTime, when known: digests after the newest found are expected up to it. */
  latestDigestDeliveryMs?: number;
  /** GetTrailStatus' StopLoggingTime of a trail that is not logging: a final digest ends at or after it. */
  stopLoggingMs?: number;
  /** Log files fetched and hashed at once (default 16). */
  concurrency?: number;
  /** How long after its name's minute a log file may still be listed in a digest (default 15 min). */
  addedFileGraceMs?: number;
  /** Called as work is done (often: throttle what it draws). */
  onProgress?: (p: ValidationProgress) => void;
}

/** How far a validation is: files checked of those known so far, bytes read. */
export interface ValidationProgress {
  /** Digests listed in the range (grows when the walk meets more, e.g. in another bucket). */
  digestsPlanned: number;
  digestsChecked: number;
  /** Log files named by the digests read so far (all of them once the walk is done). */
  logsPlanned: number;
  logsChecked: number;
  /** Bytes fetched (as stored: compressed). */
  bytesRead: number;
}

export type ValidationEvent =
  | { kind: 'digest'; bucket: string; key: string; backfill: boolean; valid: true }
  | { kind: 'digest'; bucket: string; key: string; backfill: boolean; valid: false; reason: string; extended?: boolean }
  | { kind: 'log'; bucket: string; key: string; valid: true }
  | { kind: 'log'; bucket: string; key: string; valid: false; reason: string; extended?: boolean }
  /** A starting digest: no digests (logging or validation off) between the two times. */
  | { kind: 'gap'; backfill: boolean; fromMs: number; toMs: number };

export interface ValidationSummary {
  validDigests: number;
  invalidDigests: number;
  validBackfillDigests: number;
  invalidBackfillDigests: number;
  validLogs: number;
  invalidLogs: number;
  /** The span the valid digests cover, cut to the requested range (undefined when none was valid). */
  foundStartMs?: number;
  foundEndMs?: number;
}

/** Ends validation (exit 255): an S3 error other than NoSuchKey, no public keys, ... */
export class ValidationFatalError extends Error {
  override name = 'ValidationFatalError';
}

export const INVALID = {
  notFound: 'not found',
  format: 'invalid format',
  signature: 'signature verification failed',
  moved: 'has been moved from its original location',
  hash: "hash value doesn't match",
  // Extended checks.
  notInChain: 'not in the digest chain',
  chainHash: "hash value doesn't match the next digest file",
  chainSignature: "signature doesn't match the next digest file",
  notInDigest: 'not listed in any digest file',
} as const;

/** The end time in a digest key name, cut at the CLI's fixed offsets (the name's last 24 or 33 characters). */
export function keyDateText(key: string): string {
  return key.endsWith('_backfill.json.gz') ? key.slice(-33, -17) : key.slice(-24, -8);
}

function keyDateMs(key: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(keyDateText(key));
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : Number.NaN;
}

/** Digest JSON time fields: what dateutil accepts for them in practice (ISO 8601). */
function parseTime(v: unknown): number {
  return typeof v === 'string' ? Date.parse(v) : Number.NaN;
}

interface FetchedDigest {
  raw: Buffer;
  json: Record<string, unknown>;
  metadata: Record<string, string>;
}

type DigestResult =
  | { ok: true; digest: Record<string, unknown>; raw: Buffer; signature: string; startMs: number; endMs: number }
  | { ok: false; missing: true }
  | { ok: false; missing: false; message: string };

interface LoadedKey {
  der: Buffer;
  loadable: boolean;
}

/** Runs at most `limit` tasks at once, in the order they were asked. */
class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly limit: number;
  constructor(limit: number) {
    this.limit = Math.max(1, limit);
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

type LogOutcome = 'valid' | 'hash' | 'format';

/**
 * The public-API path, taken where gunzip-hash.ts' in-place inflate is not available (another Node).
 * Log files up to this size (compressed) are read whole and inflated in one call on the libuv pool:
 * one round trip instead of one per network chunk, which costs the main thread a fraction of
 * streaming (docs/validate-logs.md "Speed"). Larger ones are inflated as they arrive, so memory stays
 * bounded by --concurrency times this.
 */
const WHOLE_FILE_BYTES = 1 << 20;
/** The most a one-call inflate allocates at once for its output. */
const MAX_OUTPUT_CHUNK = 16 << 20;

/** Gunzips the object and compares the SHA-256 of the uncompressed bytes. */
async function hashLog(body: Readable, expected: unknown, counted: (n: number) => void): Promise<LogOutcome> {
  const head: Buffer[] = [];
  let size = 0;
  const it = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  try {
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      head.push(r.value);
      size += r.value.length;
      counted(r.value.length);
      if (size > WHOLE_FILE_BYTES) {
        // Large: the bytes so far and the rest of the body, inflated as they come.
        return await hashStream(Readable.from((async function* () {
          yield* head;
          for (;;) {
            const n = await it.next();
            if (n.done) return;
            counted(n.value.length);
            yield n.value;
          }
        })()), expected);
      }
    }
  } catch {
    body.destroy();
    return 'format';
  }
  const gz = head.length === 1 ? head[0]! : Buffer.concat(head, size);
  // The gzip trailer's ISIZE (the last member's size mod 2^32) sizes the output buffer.
  const isize = gz.length >= 18 ? gz.readUInt32LE(gz.length - 4) : 0;
  let raw: Buffer;
  try {
    raw = await gunzipAsync(gz, { chunkSize: Math.min(MAX_OUTPUT_CHUNK, Math.max(64 * 1024, isize + 1)) });
  } catch {
    // Not gzip, or cut: the streaming path says which, as the AWS CLI would (hash what inflated).
    return hashStream(Readable.from([gz]), expected);
  }
  if (createHash('sha256').update(raw).digest('hex') !== expected) return 'hash';
  return 'valid';
}

/**
 * The same check with the reused inflaters of gunzip-hash.ts: each chunk of the body is inflated
 * and hashed as it arrives, nothing of the file is kept. Same outcomes as hashLog: a cut stream is
 * judged on what inflated, corrupt data or a failed body is an invalid format.
 */
function hashLogInPlace(body: Readable, expected: unknown, counted: (n: number) => void, hasher: GunzipHasher): Promise<LogOutcome> {
  const job = hasher.start();
  return new Promise((resolve) => {
    let settled = false;
    const settle = (o: LogOutcome): void => {
      if (settled) return;
      settled = true;
      resolve(o);
    };
    body.on('data', (c: Buffer) => {
      if (settled) return;
      counted(c.length);
      try {
        job.write(c);
      } catch {
        settle('format');
        body.destroy();
      }
    });
    finished(body, (err) => {
      if (settled) return;
      if (err) {
        job.abort();
        settle('format');
        return;
      }
      try {
        const r = job.end();
        settle(r.sha256 !== expected ? 'hash' : r.complete ? 'valid' : 'format');
      } catch {
        settle('format');
      }
    });
  });
}

/** Gunzips the stream and compares the SHA-256 of the uncompressed bytes. */
async function hashStream(body: Readable, expected: unknown): Promise<LogOutcome> {
  const hash = createHash('sha256');
  const inflate = createGunzip({ chunkSize: 256 * 1024 });
  let truncated = false;
  try {
    await new Promise<void>((resolve, reject) => {
      inflate.on('data', (c: Buffer) => hash.update(c));
      inflate.once('end', resolve);
      inflate.once('error', (e: NodeJS.ErrnoException) => {
        // A cut gzip stream: the CLI hashes what inflated and compares; so do we, then say so.
        if (e.code === 'Z_BUF_ERROR') {
          truncated = true;
          resolve();
        } else reject(e);
      });
      body.once('error', reject);
      body.pipe(inflate);
    });
  } catch {
    body.destroy();
    return 'format';
  }
  const digest = hash.digest('hex');
  if (digest !== expected) return 'hash';
  return truncated ? 'format' : 'valid';
}

/** Ordered output: events are produced concurrently but delivered in the order they were queued. */
class OrderedOutput {
  private tail: Promise<void> = Promise.resolve();
  failed = false;
  private readonly sink: (e: ValidationEvent) => void;
  constructor(sink: (e: ValidationEvent) => void) {
    this.sink = sink;
  }
  push(events: ValidationEvent[] | Promise<ValidationEvent[]>): void {
    const p = Promise.resolve(events);
    p.catch(() => {
      this.failed = true;
    });
    this.tail = this.tail.then(async () => {
      for (const e of await p) this.sink(e);
    });
  }
  done(): Promise<void> {
    return this.tail;
  }
}

export async function validateLogs(opts: ValidateOptions, onEvent: (e: ValidationEvent) => void = () => {}): Promise<ValidationSummary> {
  return new Validation(opts, onEvent).run();
}

class Validation {
  private readonly o: ValidateOptions;
  private readonly out: OrderedOutput;
  private readonly summary: ValidationSummary = { validDigests: 0, invalidDigests: 0, validBackfillDigests: 0, invalidBackfillDigests: 0, validLogs: 0, invalidLogs: 0 };
  private readonly accountId: string;
  private readonly homeRegion: string;
  private readonly trailName: string;
  private readonly sourceRegion: string;
  private readonly extended: boolean;
  private readonly logLimiter: Limiter;
  private readonly digestLimiter: Limiter;
  private readonly digestCache = new Map<string, Promise<FetchedDigest | 'missing' | 'format' | 'signature'>>();
  private publicKeys = new Map<string, LoadedKey>();
  /** The keys of the range (ListPublicKeys start .. end + 2 h). */
  private rangeKeys = new Map<string, LoadedKey>();
  /** Everything read or reported, for the extended checks. */
  private readonly visited = new Set<string>();
  private readonly listedLogs = new Set<string>();
  private readonly windows: [number, number][] = [];
  private readonly periods = new Map<number, number>();
  private readonly progress: ValidationProgress = { digestsPlanned: 0, digestsChecked: 0, logsPlanned: 0, logsChecked: 0, bytesRead: 0 };
  /** Inflates and hashes log files into reused buffers (undefined on a Node where that is not available). */
  private readonly hasher = gunzipHasher();

  constructor(opts: ValidateOptions, onEvent: (e: ValidationEvent) => void) {
    this.o = opts;
    const arn = parseArn(opts.trailArn);
    this.homeRegion = arn?.region ?? '';
    this.accountId = opts.accountId ?? arn?.accountId ?? '';
    this.trailName = arn?.resource.split('/').at(-1) ?? '';
    this.sourceRegion = opts.sourceRegion ?? this.homeRegion;
    this.extended = opts.extended ?? true;
    this.logLimiter = new Limiter(opts.concurrency ?? 16);
    this.digestLimiter = new Limiter(Math.max(2, Math.ceil((opts.concurrency ?? 16) / 2)));
    this.out = new OrderedOutput((e) => this.count(e));
    this.sink = onEvent;
  }

  private readonly sink: (e: ValidationEvent) => void;

  private count(e: ValidationEvent): void {
    const s = this.summary;
    const p = this.progress;
    if (e.kind === 'digest') {
      if (e.backfill) e.valid ? s.validBackfillDigests++ : s.invalidBackfillDigests++;
      else e.valid ? s.validDigests++ : s.invalidDigests++;
      p.digestsChecked++;
      p.digestsPlanned = Math.max(p.digestsPlanned, p.digestsChecked);
    } else if (e.kind === 'log') {
      e.valid ? s.validLogs++ : s.invalidLogs++;
      p.logsChecked++;
      p.logsPlanned = Math.max(p.logsPlanned, p.logsChecked);
    }
    this.sink(e);
    this.reportProgress();
  }

  private reportProgress(): void {
    this.o.onProgress?.({ ...this.progress });
  }

  private readonly countBytes = (n: number): void => {
    this.progress.bytesRead += n;
  };

  async run(): Promise<ValidationSummary> {
    try {
      await this.walkAll();
    } catch (e) {
      // A fatal error of the walk comes after everything queued before it.
      this.out.push(Promise.reject(e));
    }
    await this.out.done();
    this.hasher?.close();
    return this.summary;
  }

  // ---- keys and listing -------------------------------------------------------------------

  /** The account folder and source Region of this validation: where its digests and log files are (src/core/bucket-keys.ts). */
  private keyFolder() {
    return { prefix: this.o.prefix || undefined, organizationId: this.o.organizationId, accountId: this.accountId, region: this.sourceRegion };
  }

  private digestKeyAt(endMs: number): string {
    return digestKey({ ...this.keyFolder(), trailName: this.trailName, homeRegion: this.homeRegion, endMs });
  }

  /**
   * The CLI's listing: keys of this trail whose name time is in [start, end + 1 h], from the key a
   * digest ending one minute before the start would have. Also returns the first standard key after
   * that (extended checks look at what it links to) and other trails' digests in the folder.
   */
  private async listDigests(bucket: string, endMs: number): Promise<{ standard: string[]; backfill: string[]; beyond?: string; others: string[] }> {
    const standard: string[] = [];
    const backfill: string[] = [];
    const others: string[] = [];
    let beyond: string | undefined;
    const startText = digestNameTime(this.o.startMs);
    const endText = digestNameTime(endMs + HOUR);
    const re = trailDigestKeyPattern({ ...this.keyFolder(), trailName: this.trailName, homeRegion: this.homeRegion });
    for await (const key of this.o.reader.listKeys(bucket, digestFolderPrefix(this.keyFolder()), this.digestKeyAt(this.o.startMs - MINUTE))) {
      if (!re.test(key)) {
        if (this.extended && ANY_DIGEST_NAME.test(key)) {
          const t = keyDateText(key);
          if (t >= startText && t <= digestNameTime(endMs + 2 * HOUR)) others.push(key);
        }
        continue;
      }
      const date = keyDateText(key);
      const isBackfill = key.endsWith('_backfill.json.gz');
      if (date > endText) {
        if (!this.extended) break;
        if (!isBackfill && beyond === undefined) beyond = key;
        // Other trails' keys of the same day sort after ours: keep going a little for them.
        if (beyond !== undefined && date > digestNameTime(endMs + 2 * HOUR)) break;
        continue;
      }
      if (date < startText) continue;
      (isBackfill ? backfill : standard).push(key);
    }
    return { standard, backfill, beyond, others };
  }

  private async loadPublicKeys(startMs: number, endMs: number): Promise<Map<string, LoadedKey>> {
    const list = await this.o.keys.listPublicKeys(startMs, endMs);
    if (list.length === 0) throw new ValidationFatalError(`No public keys found between ${digestTime(startMs)} and ${digestTime(endMs)}`);
    const m = new Map<string, LoadedKey>();
    for (const k of list) {
      let loadable = true;
      try {
        createPublicKey({ key: k.value, format: 'der', type: 'pkcs1' });
      } catch {
        loadable = false;
      }
      m.set(k.fingerprint, { der: k.value, loadable });
    }
    return m;
  }

  // ---- digests ----------------------------------------------------------------------------

  /** Fetches and decodes a digest once (prefetches share the promise). */
  private fetchDigest(bucket: string, key: string): Promise<FetchedDigest | 'missing' | 'format' | 'signature'> {
    const id = `${bucket}/${key}`;
    let p = this.digestCache.get(id);
    if (!p) {
      p = this.digestLimiter.run(async () => {
        let obj;
        try {
          obj = await this.o.reader.getObject(bucket, key);
        } catch (e) {
          if (e instanceof BucketReadError && e.code === 'NoSuchKey') return 'missing' as const;
          throw e instanceof BucketReadError ? new ValidationFatalError(e.message, { cause: e }) : e;
        }
        let raw: Buffer;
        let json: unknown;
        try {
          const gz = await readAll(obj.body);
          this.countBytes(gz.length);
          raw = await gunzipAsync(gz);
          json = JSON.parse(raw.toString('utf8'));
        } catch {
          obj.body.destroy();
          return 'format' as const;
        }
        if (!(DIGEST_METADATA.signature in obj.metadata) || !(DIGEST_METADATA.algorithm in obj.metadata)) return 'signature' as const;
        if (key.endsWith('_backfill.json.gz') && !('backfill-generation-timestamp' in obj.metadata)) return 'format' as const;
        if (typeof json !== 'object' || json === null || Array.isArray(json)) return 'format' as const;
        return { raw, json: json as Record<string, unknown>, metadata: obj.metadata };
      });
      p.catch(() => undefined);
      this.digestCache.set(id, p);
    }
    return p;
  }

  /** Starts fetching the next few listed keys older than `key`, so the walk rarely waits. */
  private prefetch(bucket: string, listed: string[], key: string): void {
    const date = keyDateText(key);
    let n = 0;
    for (let i = listed.length - 1; i >= 0 && n < 8; i--) {
      const k = listed[i]!;
      if (keyDateText(k) >= date) continue;
      void this.fetchDigest(bucket, k);
      n++;
    }
  }

  /** The CLI's checks of one digest, in its order. */
  private async loadAndValidate(bucket: string, key: string, backfill: boolean): Promise<DigestResult> {
    const where = `Digest file\ts3://${bucket}/${key}\tINVALID: `;
    const fail = (reason: string): DigestResult => ({ ok: false, missing: false, message: where + reason });
    const f = await this.fetchDigest(bucket, key);
    if (f === 'missing') return { ok: false, missing: true };
    if (f === 'format') return fail(INVALID.format);
    if (f === 'signature') return fail(INVALID.signature);
    const d = f.json;
    for (const k of ['digestPublicKeyFingerprint', 'digestS3Bucket', 'digestS3Object', 'previousDigestSignature', 'digestEndTime', 'digestStartTime']) {
      if (!(k in d)) return fail(INVALID.format);
    }
    if (d.digestS3Bucket !== bucket || d.digestS3Object !== key) return fail(INVALID.moved);
    const fp = String(d.digestPublicKeyFingerprint);
    if (!this.publicKeys.has(fp) && backfill) {
      const ts = parseTime(f.metadata['backfill-generation-timestamp']);
      if (Number.isNaN(ts)) return fail(`Unable to parse date value: ${f.metadata['backfill-generation-timestamp']}`);
      for (const [k, v] of await this.loadPublicKeys(ts - HOUR, ts + HOUR)) this.publicKeys.set(k, v);
    }
    const pk = this.publicKeys.get(fp);
    if (!pk) return fail(`public key not found in region ${this.homeRegion} for fingerprint ${fp}`);
    if (!pk.loadable) return fail(`Unable to load PKCS #1 key with fingerprint ${fp}`);
    const signature = f.metadata[DIGEST_METADATA.signature]!;
    // The CLI unhexlifies the signature before verifying and reports Python's error text.
    if (signature.length % 2 === 1) return fail('Odd-length string');
    if (!/^[0-9a-fA-F]*$/.test(signature)) return fail('Non-hexadecimal digit found');
    const str = signingString({
      digestEndTime: String(d.digestEndTime), bucket: String(d.digestS3Bucket), key: String(d.digestS3Object),
      digestSha256Hex: sha256Hex(f.raw), previousSignature: d.previousDigestSignature == null ? null : String(d.previousDigestSignature),
    });
    if (!verifyDigestSignature(pk.der, str, signature)) return fail(INVALID.signature);
    const endMs = parseTime(d.digestEndTime);
    if (Number.isNaN(endMs)) return fail(`Unable to parse date value: ${String(d.digestEndTime)}`);
    const startMs = parseTime(d.digestStartTime);
    if (Number.isNaN(startMs)) return fail(`Unable to parse date value: ${String(d.digestStartTime)}`);
    return { ok: true, digest: d, raw: f.raw, signature, startMs, endMs };
  }

  /** Queues a valid digest's line and its log files' results (hashed concurrently, reported in order). */
  private acceptDigest(bucket: string, key: string, r: Extract<DigestResult, { ok: true }>, backfill: boolean, chainProblem?: string): void {
    const s = this.summary;
    const startMs = Math.max(r.startMs, this.o.startMs);
    const endMs = Math.min(r.endMs, this.o.endMs);
    this.out.push((async () => {
      s.foundStartMs = s.foundStartMs === undefined ? startMs : Math.min(s.foundStartMs, startMs);
      s.foundEndMs = s.foundEndMs === undefined ? endMs : Math.max(s.foundEndMs, endMs);
      return [chainProblem
        ? { kind: 'digest' as const, bucket, key, backfill, valid: false as const, reason: chainProblem, extended: true }
        : { kind: 'digest' as const, bucket, key, backfill, valid: true as const }];
    })());
    this.noteWindow(r);
    const logs = Array.isArray(r.digest.logFiles) ? (r.digest.logFiles as unknown[]) : [];
    this.progress.logsPlanned += logs.length;
    this.reportProgress();
    for (const l of logs) {
      const log = (l && typeof l === 'object' ? l : {}) as Record<string, unknown>;
      const lb = String(log.s3Bucket);
      const lk = String(log.s3Object);
      this.listedLogs.add(`${lb}/${lk}`);
      this.out.push(this.logLimiter.run(() => this.checkLog(lb, lk, log.hashValue)));
    }
  }

  private noteWindow(r: { startMs: number; endMs: number; digest: Record<string, unknown> }): void {
    this.windows.push([r.startMs, r.endMs]);
    if (r.digest.previousDigestS3Object != null) {
      const len = r.endMs - r.startMs;
      if (len > 0) this.periods.set(len, (this.periods.get(len) ?? 0) + 1);
    }
    for (const l of Array.isArray(r.digest.logFiles) ? (r.digest.logFiles as unknown[]) : []) {
      if (l && typeof l === 'object') this.listedLogs.add(`${String((l as Record<string, unknown>).s3Bucket)}/${String((l as Record<string, unknown>).s3Object)}`);
    }
  }

  private async checkLog(bucket: string, key: string, expected: unknown): Promise<ValidationEvent[]> {
    const bad = (reason: string): ValidationEvent[] => [{ kind: 'log', bucket, key, valid: false, reason }];
    if (this.out.failed) return [];
    let obj;
    try {
      obj = await this.o.reader.getObject(bucket, key);
    } catch (e) {
      if (e instanceof BucketReadError && e.code === 'NoSuchKey') return bad(INVALID.notFound);
      throw e instanceof BucketReadError ? new ValidationFatalError(e.message, { cause: e }) : e;
    }
    const outcome = this.hasher ? await hashLogInPlace(obj.body, expected, this.countBytes, this.hasher) : await hashLog(obj.body, expected, this.countBytes);
    if (outcome === 'hash') return bad(INVALID.hash);
    if (outcome === 'format') return bad(INVALID.format);
    return [{ kind: 'log', bucket, key, valid: true }];
  }

  /** The digest period: the most common window of linked digests seen (AWS: one hour). */
  private period(): number {
    let best = HOUR;
    let n = 0;
    for (const [len, c] of this.periods) if (c > n || (c === n && len > best)) [best, n] = [len, c];
    return best;
  }

  /**
   * Digests between two found ones that must have existed: from `aboveMs` (end of the newer, missing
   * one) down one period at a time to `belowMs` (end of the older one found). Only when the periods
   * land exactly on `belowMs` are the names certain; otherwise nothing is claimed.
   */
  private inferMissing(aboveMs: number, belowMs: number): number[] {
    const p = this.period();
    const span = aboveMs - belowMs;
    if (!(span > p) || span % p !== 0 || span / p > 24 * 366) return [];
    const ends: number[] = [];
    for (let t = aboveMs - p; t > belowMs; t -= p) ends.push(t);
    return ends;
  }

  private missingEvent(bucket: string, key: string, backfill: boolean, extended = false): ValidationEvent {
    return { kind: 'digest', bucket, key, backfill, valid: false, reason: INVALID.notFound, ...(extended ? { extended } : {}) };
  }

  // ---- the walk ---------------------------------------------------------------------------

  private async walkAll(): Promise<void> {
    const { startMs, endMs, bucket } = this.o;
    // The public keys are asked for while the digests are listed (a listing error still comes first).
    const keys = this.loadPublicKeys(startMs, endMs + 2 * HOUR);
    keys.catch(() => undefined);
    const listing = await this.listDigests(bucket, endMs);
    this.progress.digestsPlanned = listing.standard.length + listing.backfill.length;
    this.reportProgress();
    // The log folders the added-file check reads are listed while the walk runs (short ranges).
    const days = this.extended && endMs - startMs <= 31 * 86_400_000 ? this.listLogFolders() : undefined;
    days?.catch(() => undefined);
    this.publicKeys = await keys;
    if (this.extended) await this.checkEnd(bucket, listing.standard, listing.beyond);
    this.rangeKeys = this.publicKeys;
    await this.walk(bucket, [...listing.standard], false);
    if (this.extended) await this.checkUnvisited(bucket, listing.standard, false);
    if (listing.backfill.length > 0) {
      // Backfill chains load keys per digest (its generation time +- 1 h), as the CLI does.
      this.publicKeys = new Map();
      await this.walk(bucket, [...listing.backfill], true);
      if (this.extended) await this.checkUnvisited(bucket, listing.backfill, true);
    }
    if (this.extended) await this.checkAddedLogs(listing.others, days);
  }

  /** The log file keys of each day folder of the range, by folder prefix. */
  private async listLogFolders(): Promise<Map<string, string[]>> {
    const m = new Map<string, string[]>();
    await Promise.all(this.dayPrefixes().map(async ({ dayPrefix }) => {
      const keys: string[] = [];
      for await (const key of this.o.reader.listKeys(this.o.bucket, dayPrefix)) keys.push(key);
      m.set(dayPrefix, keys);
    }));
    return m;
  }

  private dayPrefixes(): { dayStart: number; dayPrefix: string }[] {
    const out: { dayStart: number; dayPrefix: string }[] = [];
    const folder = this.keyFolder();
    for (let day = Math.floor(this.o.startMs / 86_400_000); day <= Math.floor(this.o.endMs / 86_400_000); day++) {
      out.push({ dayStart: day * 86_400_000, dayPrefix: dayFolderPrefix('CloudTrail', folder, day * 86_400_000) });
    }
    return out;
  }

  /** The CLI's traversal of one chain, newest first. */
  private async walk(startBucket: string, listed: string[], backfill: boolean): Promise<void> {
    let bucket = startBucket;
    let digests = listed;
    const next = (before?: string): string | undefined => {
      if (before === undefined) return digests.pop();
      const limit = keyDateMs(before);
      while (digests.length > 0) {
        const k = digests.pop()!;
        if (keyDateMs(k) < limit) return k;
      }
      return undefined;
    };
    let key = next();
    let lastStart = key === undefined ? Number.NaN : keyDateMs(key);
    /** The digest that named `key` as its previous one: what it recorded of it. */
    let expectedBy: { hash: unknown; signature: unknown } | undefined;
    /** After a missing digest: its end, to name the deleted ones before it once the next is found. */
    let missingAbove: number | undefined;

    while (key !== undefined && this.o.startMs <= lastStart) {
      if (this.out.failed) return;
      this.visited.add(`${bucket}/${key}`);
      this.prefetch(bucket, digests, key);
      const r = await this.loadAndValidate(bucket, key, backfill);
      // Visited once: the bytes need not stay in memory (a later check may fetch again).
      this.digestCache.delete(`${bucket}/${key}`);
      const cameFromLink = expectedBy;
      expectedBy = undefined;
      if (missingAbove !== undefined) {
        // The key after a missing digest: were more digests deleted between the two?
        const below = r.ok ? r.endMs : keyDateMs(key);
        for (const t of this.inferMissing(missingAbove, below)) {
          const k = this.digestKeyAt(t);
          if (this.visited.has(`${bucket}/${k}`)) continue;
          this.visited.add(`${bucket}/${k}`);
          if ((await this.fetchDigest(bucket, k)) === 'missing') this.out.push([this.missingEvent(bucket, k, backfill, true)]);
        }
        missingAbove = undefined;
      }
      if (r.ok) {
        lastStart = r.startMs;
        let problem: string | undefined;
        if (this.extended && cameFromLink) {
          if (cameFromLink.hash != null && cameFromLink.hash !== sha256Hex(r.raw)) problem = INVALID.chainHash;
          else if (cameFromLink.signature != null && cameFromLink.signature !== r.signature) problem = INVALID.chainSignature;
        }
        this.acceptDigest(bucket, key, r, backfill, problem);
        const prevBucket = r.digest.previousDigestS3Bucket;
        const prevKey = r.digest.previousDigestS3Object;
        if (prevBucket == null || prevKey == null) {
          const following = next(key);
          if (following !== undefined) this.out.push([{ kind: 'gap', backfill, fromMs: keyDateMs(following), toMs: lastStart }]);
          key = following;
        } else {
          expectedBy = { hash: r.digest.previousDigestHashValue, signature: r.digest.previousDigestSignature };
          key = String(prevKey);
          if (String(prevBucket) !== bucket) {
            bucket = String(prevBucket);
            digests = (await this.listDigests(bucket, r.endMs))[backfill ? 'backfill' : 'standard'];
          }
        }
      } else if (r.missing) {
        this.out.push([this.missingEvent(bucket, key, backfill)]);
        if (this.extended) missingAbove = keyDateMs(key);
        key = next(key);
      } else {
        this.out.push([{ kind: 'digest', bucket, key, backfill, valid: false, reason: r.message.replace(/^.*?\tINVALID: /s, '') }]);
        key = next(key);
      }
    }
  }

  /**
   * Digests deleted at the end of the range: the first digest after the range names its previous
   * one; if that is in the range and gone, it (and the ones between it and the newest found) are
   * reported. Without a later digest, GetTrailStatus' latest digest delivery says how far digests go.
   */
  private async checkEnd(bucket: string, standard: string[], beyond: string | undefined): Promise<void> {
    const newest = standard.at(-1);
    const newestMs = newest === undefined ? Number.NaN : keyDateMs(newest);
    const rangeEndMs = this.o.endMs + HOUR;
    const missing: number[] = [];
    if (beyond !== undefined) {
      const r = await this.loadAndValidate(bucket, beyond, false);
      if (!r.ok) return;
      this.noteWindow(r);
      const prevKey = r.digest.previousDigestS3Object;
      if (r.digest.previousDigestS3Bucket !== bucket || typeof prevKey !== 'string' || prevKey === newest) return;
      const prevMs = keyDateMs(prevKey);
      if (!(prevMs >= this.o.startMs && prevMs <= rangeEndMs) || standard.includes(prevKey)) return;
      if ((await this.fetchDigest(bucket, prevKey)) !== 'missing') return;
      if (prevKey !== this.digestKeyAt(prevMs)) {
        this.visited.add(`${bucket}/${prevKey}`);
        this.out.push([this.missingEvent(bucket, prevKey, false, true)]);
      } else missing.push(prevMs);
      if (!Number.isNaN(newestMs)) missing.push(...this.inferMissing(prevMs, newestMs));
    } else if (this.o.latestDigestDeliveryMs !== undefined && newest !== undefined) {
      const r = await this.loadAndValidate(bucket, newest, false);
      if (!r.ok) return;
      this.noteWindow(r);
      const p = this.period();
      const delivered = this.o.latestDigestDeliveryMs;
      const stop = this.o.stopLoggingMs;
      // A digest is written shortly after its end: one ending at t is surely there once a delivery
      // happened at t + min(P, 10 min) (a pass that began before t may report a delivery after t).
      // A stopped trail delivers nothing after its final digest, which ends at or after the stop:
      // a delivery at or after that end (and after the stop) means it was written.
      const last = stop !== undefined && delivered >= stop ? Math.min(stop + p - 1, delivered) : delivered - Math.min(p, 10 * MINUTE);
      for (let t = newestMs + p; t <= Math.min(last, rangeEndMs); t += p) missing.push(t);
      missing.sort((a, b) => b - a);
    }
    for (const t of missing) {
      const k = this.digestKeyAt(t);
      if (this.visited.has(`${bucket}/${k}`)) continue;
      this.visited.add(`${bucket}/${k}`);
      if ((await this.fetchDigest(bucket, k)) === 'missing') this.out.push([this.missingEvent(bucket, k, false, true)]);
    }
  }

  /** Listed digests that no link reached: added files or a chain that skips them. */
  private async checkUnvisited(bucket: string, listed: string[], backfill: boolean): Promise<void> {
    for (const key of [...listed].reverse()) {
      if (this.out.failed) return;
      if (this.visited.has(`${bucket}/${key}`)) continue;
      this.visited.add(`${bucket}/${key}`);
      const r = await this.loadAndValidate(bucket, key, backfill);
      if (r.ok) this.out.push([{ kind: 'digest', bucket, key, backfill, valid: false, reason: INVALID.notInChain, extended: true }]);
      else if (r.missing) this.out.push([this.missingEvent(bucket, key, backfill, true)]);
      else this.out.push([{ kind: 'digest', bucket, key, backfill, valid: false, reason: r.message.replace(/^.*?\tINVALID: /s, ''), extended: true }]);
    }
  }

  /**
   * Log files of the range that no digest lists. Only files whose name time (delivery, to the
   * minute) plus the grace lies inside the windows of valid digests are judged: later ones may
   * still be waiting for their digest. Other trails' digests in the same folder account for their
   * files when their signature verifies.
   */
  private async checkAddedLogs(others: string[], listed?: Promise<Map<string, string[]>>): Promise<void> {
    await this.out.done().catch(() => undefined);
    if (this.out.failed || this.windows.length === 0) return;
    this.publicKeys = this.rangeKeys;
    for (const key of others) {
      const r = await this.loadAndValidate(this.o.bucket, key, key.endsWith('_backfill.json.gz')).catch(() => undefined);
      if (r?.ok) {
        for (const l of Array.isArray(r.digest.logFiles) ? (r.digest.logFiles as unknown[]) : []) {
          if (l && typeof l === 'object') this.listedLogs.add(`${String((l as Record<string, unknown>).s3Bucket)}/${String((l as Record<string, unknown>).s3Object)}`);
        }
      }
    }
    const merged = this.mergedWindows();
    const grace = this.o.addedFileGraceMs ?? 15 * MINUTE;
    const covered = (a: number, b: number) => merged.some(([s, e]) => s <= a && b <= e);
    const nameRe = logFileNamePattern(this.accountId, this.sourceRegion);
    const events: ValidationEvent[] = [];
    const ahead = await listed;
    for (const { dayStart, dayPrefix } of this.dayPrefixes()) {
      for await (const key of ahead?.get(dayPrefix) ?? this.o.reader.listKeys(this.o.bucket, dayPrefix)) {
        if (this.listedLogs.has(`${this.o.bucket}/${key}`)) continue;
        const m = nameRe.exec(key.slice(dayPrefix.length));
        let a: number;
        let b: number;
        if (m) {
          a = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!);
          b = a + MINUTE + grace;
        } else {
          // Not a CloudTrail log file name: judged by its day folder as a whole.
          a = Math.max(dayStart, this.o.startMs);
          b = Math.min(dayStart + 86_400_000, this.o.endMs);
        }
        if (a < this.o.startMs || a > this.o.endMs || !covered(a, b)) continue;
        events.push({ kind: 'log', bucket: this.o.bucket, key, valid: false, reason: INVALID.notInDigest, extended: true });
      }
    }
    this.out.push(events);
  }

  private mergedWindows(): [number, number][] {
    const w = [...this.windows].sort((x, y) => x[0] - y[0]);
    const out: [number, number][] = [];
    for (const [s, e] of w) {
      const last = out.at(-1);
      if (last && s <= last[1]) last[1] = Math.max(last[1], e);
      else out.push([s, e]);
    }
    return out;
  }
}
