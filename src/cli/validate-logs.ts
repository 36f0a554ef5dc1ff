/**
 * `opentrail validate-logs`: `aws cloudtrail validate-logs` (CLI v1) with the same flags, output
 * lines and exit codes (0 all valid, 1 anything invalid or missing, 255 fatal), against S3 or the
 * filesystem bucket (`--bucket-root`), plus the checks of docs/validate-logs.md that the AWS CLI
 * does not make. The engine is src/integrity/validate.ts.
 */
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import type { AwsCredentialIdentity } from '@smithy/types';
import { signRequest } from '../core/sigv4-sign.ts';
import { digestTime } from '../integrity/digest.ts';
import type { PublicKeyInfo, ValidationEvent, ValidationProgress, ValidationSummary } from '../integrity/validate.ts';
import type { BucketReader } from '../stores/bucket-reader.ts';
import type { Progress, ProgressMode, ProgressStream } from './progress.ts';
import { allPages, CloudTrailJsonClient, type StaticCredentials, type TrailInfo, type TrailStatusInfo } from './cloudtrail-json.ts';
import { staticCredentials } from './static-credentials.ts';

export const VALIDATE_USAGE = `usage: opentrail validate-logs --trail-arn ARN --start-time TIME [--end-time TIME]
         [--s3-bucket BUCKET] [--s3-prefix PREFIX] [--account-id ID] [--verbose]
         [--region REGION] [--endpoint-url URL] [--s3-endpoint-url URL | --bucket-root DIR]
         [--aws-compatible] [--concurrency N] [--progress | --no-progress]

Validates a trail's log files with its digest files, as aws cloudtrail validate-logs does
(see docs/validate-logs.md). Exit code 0: all valid; 1: something invalid or missing; 255: error.

  --trail-arn        the trail (arn:<partition>:cloudtrail:<region>:<account>:trail/<name>)
  --start-time       validate log files delivered from this UTC time (ISO 8601 or epoch seconds)
  --end-time         ... up to this time (default now)
  --s3-bucket        the bucket of the digests (default: the trail's, from DescribeTrails)
  --s3-prefix        their key prefix (default: the trail's)
  --account-id       the member account, for organization trails
  --verbose          print every valid file too
  --region           the Region whose digests are validated (env AWS_REGION / AWS_DEFAULT_REGION)
  --endpoint-url     the CloudTrail API, e.g. the OpenTrail server (DescribeTrails, ListPublicKeys)
  --s3-endpoint-url  an S3-compatible endpoint (env AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL)
  --bucket-root      read buckets from this directory instead of S3 (OpenTrail's filesystem buckets)
  --aws-compatible   report only what the AWS CLI reports (no checks for added files and the like)
  --concurrency      log files read at once (default 16)
  --progress         progress lines on stderr from the start even when it is not a terminal
                     (default: a bar on a terminal; otherwise lines once a run takes over 10 s)
  --no-progress      no progress output at all`;

/** The AWS CLI's own check of --trail-arn (its fields are read as the CLI reads them, by parseArn). */
const ARN_RE = /^arn:.+:cloudtrail:.+:\d{12}:trail\/.+/s;

/** A fatal error printed the way the AWS CLI prints exceptions: a blank line, the message. */
class CommandError extends Error {}

/**
 * `--start-time` / `--end-time`: what dateutil (the AWS CLI) reads in practice - ISO 8601 in the
 * extended or basic form, date only, space for T, fractions, Z or an offset - and epoch seconds.
 * Times without a zone are UTC; an offset is applied (the AWS CLI drops it: docs/validate-logs.md).
 */
export function parseCliTime(text: string): number {
  const s = text.trim();
  let ms = Number.NaN;
  if (/^\d{9,}(?:\.\d+)?$/.test(s)) {
    ms = Math.floor(Number(s) * 1000);
  } else {
    const m = /^(\d{4})-?(\d{2})-?(\d{2})(?:[T ](\d{2})(?::?(\d{2})(?::?(\d{2})(?:[.,](\d+))?)?)?)?\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$/i.exec(s);
    if (m) {
      const frac = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
      ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0), frac);
      const check = new Date(ms);
      if (check.getUTCMonth() !== +m[2]! - 1 || check.getUTCDate() !== +m[3]! || +(m[4] ?? 0) > 23 || +(m[5] ?? 0) > 59 || +(m[6] ?? 0) > 59) ms = Number.NaN;
      const zone = m[8]?.toUpperCase();
      if (zone && zone !== 'Z' && zone !== 'UTC' && zone !== 'GMT') {
        const z = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)!;
        ms -= (z[1] === '-' ? -1 : 1) * (+z[2]! * 60 + +(z[3] ?? 0)) * 60_000;
      }
    } else if (/[a-z]/i.test(s)) {
      // Free forms such as "Jan 2 2026 10:00": UTC unless they name a zone.
      ms = Date.parse(/(?:Z|UTC|GMT|[+-]\d{2}:?\d{2})$/i.test(s) ? s : `${s} UTC`);
      if (Number.isNaN(ms)) ms = Date.parse(s);
    }
  }
  if (!Number.isFinite(ms)) throw new CommandError(`Unable to parse date value: ${text}`);
  return ms;
}

/** The AWS CLI's stdout/stderr layout: errors on stderr followed by a blank line, valid lines only with --verbose. */
class Printer {
  private lastDoubleSpace = true;
  private readonly verbose: boolean;
  private readonly stdout: (s: string) => void;
  private readonly stderr: (s: string) => void;
  constructor(verbose: boolean, stdout: (s: string) => void, stderr: (s: string) => void) {
    this.verbose = verbose;
    this.stdout = stdout;
    this.stderr = stderr;
  }

  status(message: string, isError: boolean): void {
    if (isError) {
      this.stderr(this.lastDoubleSpace ? `${message}\n\n` : `\n${message}\n\n`);
      this.lastDoubleSpace = true;
    } else if (this.verbose) {
      this.lastDoubleSpace = false;
      this.stdout(`${message}\n`);
    }
  }

  event(e: ValidationEvent): void {
    if (e.kind === 'gap') {
      this.status(`${e.backfill ? '(backfill) ' : ''}No log files were delivered by CloudTrail between ${digestTime(e.fromMs)} and ${digestTime(e.toMs)}`, true);
    } else if (e.kind === 'digest') {
      const head = `${e.backfill ? '(backfill) ' : ''}Digest file\ts3://${e.bucket}/${e.key}\t`;
      this.status(e.valid ? `${head}valid` : `${head}INVALID: ${e.reason}`, !e.valid);
    } else {
      const head = `Log file\ts3://${e.bucket}/${e.key}\t`;
      this.status(e.valid ? `${head}valid` : `${head}INVALID: ${e.reason}`, !e.valid);
    }
  }

  startup(arn: string, startMs: number, endMs: number): void {
    this.stdout(`Validating log files for trail ${arn} between ${digestTime(startMs)} and ${digestTime(endMs)}\n\n`);
  }

  summary(s: ValidationSummary, startMs: number, endMs: number, noDigestHint?: string): void {
    let out = this.lastDoubleSpace ? '' : '\n';
    out += `Results requested for ${digestTime(startMs)} to ${digestTime(endMs)}\n`;
    const valid = s.validDigests + s.validBackfillDigests;
    const invalid = s.invalidDigests + s.invalidBackfillDigests;
    if (valid === 0 && invalid === 0) {
      this.stdout(`${out}No digests found\n${noDigestHint ? `${noDigestHint}\n` : ''}`);
      return;
    }
    if (s.foundStartMs === undefined || s.foundEndMs === undefined) out += 'No valid digests found in range\n';
    else out += `Results found for ${digestTime(s.foundStartMs)} to ${digestTime(s.foundEndMs)}:\n`;
    const ratio = (v: number, i: number, name: string) => {
      const total = v + i;
      if (total === 0) return '';
      return `\n${v}/${total} ${name} files valid${i > 0 ? `, ${i}/${total} ${name} files INVALID` : ''}`;
    };
    out += ratio(s.validDigests, s.invalidDigests, 'digest');
    out += ratio(s.validBackfillDigests, s.invalidBackfillDigests, 'backfill digest');
    out += ratio(s.validLogs, s.invalidLogs, 'log');
    this.stdout(`${out}\n`);
  }
}

export interface ValidateCommandIo {
  stdout(s: string): void;
  stderr(s: string): void;
  env: NodeJS.ProcessEnv;
  nowMs(): number;
  /** Where progress is shown (process.stderr); none: no progress. */
  progress?: ProgressStream;
}

const defaultIo: ValidateCommandIo = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  env: process.env,
  nowMs: () => Date.now(),
  progress: process.stderr,
};

/**
 * What the command needs once the trail is known: the engine, the bucket reader, the progress
 * output. Imported while the first CloudTrail calls are answered, not before them (~40-60 ms of CPU
 * of module loading that no longer delays the first request: docs/performance.md "validate-logs,
 * fourth round"); the filesystem reader only for --bucket-root.
 */
async function loadRun(bucketRoot: string | undefined) {
  const [engine, arn, progress, bucket, reader] = await Promise.all([
    import('../integrity/validate.ts'), import('../core/arn.ts'), import('./progress.ts'), import('../stores/bucket-reader.ts'),
    bucketRoot === undefined ? import('../stores/s3/s3-bucket-reader.ts') : import('../stores/fs/fs-bucket-reader.ts'),
  ]);
  return { engine, arn, progress, bucket, reader };
}

/** `3/24 digests, 95.1 MB read, 31.2 MB/s`. */
function progressDetail(formatMB: (bytes: number) => string, p: ValidationProgress, seconds: number): string {
  return `${p.digestsChecked}/${p.digestsPlanned} digests, ${formatMB(p.bytesRead)} read, ${seconds > 0 ? (p.bytesRead / 1e6 / seconds).toFixed(1) : '0.0'} MB/s`;
}

/** Organizations DescribeOrganization (JSON 1.1), signed with the caller's credentials: the `o-` id of an organization trail's keys. */
async function describeOrganizationId(ct: TrailApi, env: NodeJS.ProcessEnv): Promise<string> {
  const endpoint = new URL(env.AWS_ENDPOINT_URL_ORGANIZATIONS ?? env.AWS_ENDPOINT_URL ?? 'https://organizations.us-east-1.amazonaws.com');
  const credentials = await ct.credentials();
  const body = '{}';
  const headers = signRequest({
    method: 'POST', host: endpoint.host, path: endpoint.pathname || '/', body,
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSOrganizationsV20161128.DescribeOrganization' },
  }, { credentials, region: 'us-east-1', service: 'organizations' });
  const res = await fetch(endpoint, { method: 'POST', headers, body });
  const json = (await res.json().catch(() => ({}))) as { Organization?: { Id?: string }; __type?: string; message?: string; Message?: string };
  if (!res.ok || !json.Organization?.Id) {
    const code = (json.__type ?? `HTTP ${res.status}`).split('#').at(-1);
    throw new CommandError(`An error occurred (${code}) when calling the DescribeOrganization operation: ${json.message ?? json.Message ?? ''}`);
  }
  return json.Organization.Id;
}

/** The CloudTrail calls validate-logs makes, by our JSON client or the SDK's. */
interface TrailApi {
  /** The Region the digests are validated in; throws when none is configured. */
  region(): Promise<string>;
  credentials(): Promise<AwsCredentialIdentity>;
  describeTrails(): Promise<TrailInfo[]>;
  getTrailStatus(name: string): Promise<TrailStatusInfo>;
  listPublicKeys(startMs: number, endMs: number): Promise<PublicKeyInfo[]>;
  close(): void;
}

/** Our signed JSON requests: the endpoint is given, the Region known, the credentials static. */
function lightTrailApi(endpoint: string, region: string, credentials: StaticCredentials): TrailApi {
  const client = new CloudTrailJsonClient({ endpoint, region, credentials });
  return {
    region: async () => region,
    credentials: async () => credentials,
    describeTrails: () => client.describeTrails(),
    getTrailStatus: (name) => client.getTrailStatus(name),
    listPublicKeys: (s, e) => client.listPublicKeys(s, e),
    close: () => client.close(),
  };
}

/** @aws-sdk/client-cloudtrail, loaded here only: for the default credential chain, a Region from a profile, AWS's endpoint rules. */
async function sdkTrailApi(region: string | undefined, endpoint: string | undefined): Promise<TrailApi> {
  const { CloudTrailClient, DescribeTrailsCommand, GetTrailStatusCommand, ListPublicKeysCommand } = await import('@aws-sdk/client-cloudtrail');
  const ct = new CloudTrailClient({ region, endpoint, maxAttempts: 3 });
  return {
    region: () => ct.config.region(),
    credentials: () => ct.config.credentials(),
    describeTrails: async () => (await ct.send(new DescribeTrailsCommand({}))).trailList ?? [],
    getTrailStatus: (name) => ct.send(new GetTrailStatusCommand({ Name: name })),
    listPublicKeys: (startMs, endMs) => allPages('ListPublicKeys', async (token) => {
      const out = await ct.send(new ListPublicKeysCommand({ StartTime: new Date(startMs), EndTime: new Date(endMs), NextToken: token }));
      const keys: PublicKeyInfo[] = [];
      for (const k of out.PublicKeyList ?? []) {
        if (k.Fingerprint && k.Value) keys.push({ fingerprint: k.Fingerprint, value: Buffer.from(k.Value) });
      }
      return { items: keys, next: out.NextToken };
    }),
    close: () => ct.destroy(),
  };
}

function sdkMessage(e: unknown, operation: string): string {
  const err = e as { name?: string; message?: string; $metadata?: unknown };
  if (err.$metadata && err.name) return `An error occurred (${err.name}) when calling the ${operation} operation: ${err.message ?? ''}`;
  return err.message ?? String(e);
}

/**
 * Said after "No digests found" (not by the AWS CLI): when the trail's first digest is due, and
 * the server setting that decides it. The period is the server's, unknown here: the default's
 * time is given, and the rule for any other.
 */
export function noDigestHint(latestDigestDeliveryMs: number | undefined, startLoggingMs: number | undefined, nowMs: number): string {
  if (latestDigestDeliveryMs !== undefined) {
    return `The trail's latest digest was delivered at ${digestTime(latestDigestDeliveryMs)}: none covers the requested range (digests cover the time before their delivery).`;
  }
  const rule = 'Digest files are written at the end of each period of integrity.digestPeriodMs (server config, default 3600000 ms: every hour, on the hour UTC), the first at the end of the period in which logging started';
  if (startLoggingMs === undefined) return `The trail has not delivered a digest yet. ${rule}.`;
  const HOUR = 3_600_000;
  const due = Math.floor(startLoggingMs / HOUR) * HOUR + HOUR;
  return `The trail has not delivered a digest yet. ${rule} (${digestTime(startLoggingMs)}): with the default, at ${digestTime(due)}${due <= nowMs ? ', which has passed: check the trail\'s LatestDigestDeliveryError (aws cloudtrail get-trail-status)' : ''}.`;
}

/**
 * On the fallback path of src/integrity/validate.ts (a Node where log files cannot be inflated in
 * place) every log file inflates into a new buffer outside V8's heap (200 MB for a day of 144k records);
 * by default V8 runs a full collection each time such memory grows by 64 MB, a fifth of this
 * command's CPU on a large bucket. Counting it in the heap's global limit instead cuts those
 * collections from 13 to 5 there (docs/validate-logs.md "Speed"). A V8 flag, checked on the V8
 * of Node 24 only: on another V8 it is left alone.
 */
function fewerCollectionsForBuffers(): void {
  if (process.versions.v8.startsWith('13.')) setFlagsFromString('--external-memory-accounted-in-global-limit');
}

export async function validateLogsCommand(argv: string[], io: ValidateCommandIo = defaultIo): Promise<number> {
  if (io === defaultIo) fewerCollectionsForBuffers();
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        'trail-arn': { type: 'string' }, 'start-time': { type: 'string' }, 'end-time': { type: 'string' },
        's3-bucket': { type: 'string' }, 's3-prefix': { type: 'string' }, 'account-id': { type: 'string' },
        verbose: { type: 'boolean' }, region: { type: 'string' }, 'endpoint-url': { type: 'string' },
        's3-endpoint-url': { type: 'string' }, 'bucket-root': { type: 'string' }, 'aws-compatible': { type: 'boolean' },
        concurrency: { type: 'string' }, progress: { type: 'boolean' }, 'no-progress': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    // As the AWS CLI: an unknown option is an error (255), a malformed one a usage error (2).
    const unknown = (e as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /'([^']+)'/.exec((e as Error).message)?.[1] : undefined;
    if (unknown) {
      io.stderr(`\nUnknown options: ${unknown}\n`);
      return 255;
    }
    io.stderr(`${VALIDATE_USAGE}\nopentrail validate-logs: error: ${(e as Error).message}\n`);
    return 2;
  }
  if (values.help) {
    io.stdout(`${VALIDATE_USAGE}\n`);
    return 0;
  }
  const missing = [['trail-arn', values['trail-arn']], ['start-time', values['start-time']]].filter(([, v]) => v === undefined).map(([n]) => `--${n}`);
  if (missing.length) {
    io.stderr(`${VALIDATE_USAGE}\nopentrail validate-logs: error: the following arguments are required: ${missing.join(', ')}\n`);
    return 2;
  }
  const concurrency = values.concurrency === undefined ? 16 : Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1024) {
    io.stderr(`opentrail validate-logs: error: --concurrency must be 1-1024, not ${values.concurrency}\n`);
    return 2;
  }

  const env = io.env;
  const trailArn = values['trail-arn']!;
  let reader: BucketReader | undefined;
  let ct: TrailApi | undefined;
  let started = false;
  let progress: Progress | undefined;
  /** The error classes the command reports as fatal (255 and the message), once their modules are loaded. */
  const fatal: (abstract new (...args: never[]) => Error)[] = [CommandError];
  try {
    const startMs = parseCliTime(values['start-time']!);
    const endMs = values['end-time'] ? parseCliTime(values['end-time']) : io.nowMs();
    if (startMs > endMs) throw new CommandError('Invalid time range specified: start-time must occur before end-time');

    const region = values.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
    // Our own signed requests where finding the endpoint and credentials needs no SDK (~0.2 s of CPU less at start-up).
    const credentials = staticCredentials(env);
    const light = values['endpoint-url'] !== undefined && region !== undefined && region !== '' && credentials !== undefined;
    ct = light ? lightTrailApi(values['endpoint-url']!, region, credentials) : await sdkTrailApi(region, values['endpoint-url']);
    let sourceRegion: string;
    try {
      sourceRegion = await ct.region();
    } catch {
      throw new CommandError('You must specify a region. You can also configure your region by running "aws configure".');
    }
    if (!ARN_RE.test(trailArn)) throw new CommandError(`Invalid trail ARN provided: ${trailArn}`);

    const extended = !values['aws-compatible'];
    let bucket = values['s3-bucket'];
    // The trail's calls go out first, then the rest of the command loads while they are answered.
    const described = bucket === undefined ? ct.describeTrails() : undefined;
    described?.catch(() => undefined);
    // Not asked by the AWS CLI: tells how far digests should go (a deleted newest digest). Asked
    // while the trail is described: one round trip less before the first GET.
    const status = extended ? ct.getTrailStatus(trailArn).catch(() => undefined) : undefined;
    const loading = loadRun(values['bucket-root']);
    loading.catch(() => undefined);

    let prefix = values['s3-prefix'];
    let organizationId: string | undefined;
    let accountId = values['account-id'];
    if (bucket === undefined) {
      let trails: TrailInfo[];
      try {
        trails = await described!;
      } catch (e) {
        throw new CommandError(sdkMessage(e, 'DescribeTrails'));
      }
      const trail = trails.find((t) => t.TrailARN === trailArn);
      if (!trail) throw new CommandError(`A trail could not be found for ${trailArn}`);
      bucket = trail.S3BucketName ?? '';
      prefix = trail.S3KeyPrefix;
      if (trail.IsOrganizationTrail) {
        if (!accountId) throw new CommandError("Missing required parameter for organization trail: '--account-id'");
        organizationId = await describeOrganizationId(ct, env);
      }
    }
    const run = await loading;
    fatal.push(run.engine.ValidationFatalError, run.bucket.BucketReadError);
    accountId ||= run.arn.parseArn(trailArn)?.accountId;

    const st = await status;
    const latestDigestDeliveryMs = st?.LatestDigestDeliveryTime?.getTime();
    const startLoggingMs = st?.StartLoggingTime?.getTime();
    const stopLoggingMs = st?.IsLogging === false ? st.StopLoggingTime?.getTime() : undefined;

    if ('FsBucketReader' in run.reader) {
      reader = new run.reader.FsBucketReader(values['bucket-root']!);
    } else {
      const endpoint = values['s3-endpoint-url'] ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
      reader = new run.reader.S3BucketReader({ region: sourceRegion, endpoint, maxSockets: Math.max(concurrency, 4), ...(credentials ? { credentials } : {}) });
    }

    const mode: ProgressMode = values['no-progress'] || !io.progress ? 'never' : values.progress ? 'always' : 'auto';
    const progressStarted = performance.now();
    progress = new run.progress.Progress({ label: 'validate-logs', unit: 'files', stream: io.progress ?? { write: () => true }, mode, term: env.TERM });
    const shown = progress;
    // The command's lines go around the bar (on a terminal) and stay byte for byte what they are without it.
    const printer = new Printer(Boolean(values.verbose), (t) => shown.print(io.stdout, t), (t) => shown.print(io.stderr, t));
    printer.startup(trailArn, startMs, endMs);
    started = true;
    const client = ct;
    const summary = await run.engine.validateLogs({
      trailArn, startMs, endMs, bucket, prefix, accountId, organizationId, sourceRegion,
      reader, extended, latestDigestDeliveryMs, stopLoggingMs, concurrency,
      onProgress: (p) => shown.update({
        done: p.digestsChecked + p.logsChecked, total: p.digestsPlanned + p.logsPlanned,
        detail: progressDetail(run.progress.formatMB, p, (performance.now() - progressStarted) / 1000),
      }),
      keys: {
        listPublicKeys: async (s, e) => {
          try {
            return await client.listPublicKeys(s, e);
          } catch (err) {
            throw new CommandError(sdkMessage(err, 'ListPublicKeys'));
          }
        },
      },
    }, (e) => printer.event(e));
    progress.stop();
    printer.summary(summary, startMs, endMs, extended ? noDigestHint(latestDigestDeliveryMs, startLoggingMs, io.nowMs()) : undefined);
    const invalid = summary.invalidDigests + summary.invalidBackfillDigests + summary.invalidLogs;
    return invalid > 0 ? 1 : 0;
  } catch (e) {
    progress?.stop();
    if (fatal.some((c) => e instanceof c)) {
      io.stderr(`\n${(e as Error).message}\n`);
      return 255;
    }
    if (started || (e as { $metadata?: unknown }).$metadata || (e as { code?: unknown }).code) {
      io.stderr(`\n${(e as Error).message ?? String(e)}\n`);
      return 255;
    }
    throw e;
  } finally {
    reader?.close?.();
    ct?.close();
  }
}
