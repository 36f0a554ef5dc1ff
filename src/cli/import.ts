/**
 * `opentrail import`: starts a CloudTrail Lake import on a running server (StartImport, signed with
 * the AWS SDK's credentials as any CloudTrail call) and follows it (GetImport) with a progress bar
 * (prefixes done of found, events/s, ETA; plain lines when stderr is not a terminal) until it ends.
 * docs/lake.md "Imports".
 *
 * Exit status: 0 completed with no failed file; 3 completed with failed files (listed on stderr);
 * 1 the import failed or was stopped, or the server refused it; 2 a usage error.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CloudTrailClient, GetImportCommand, ListImportFailuresCommand, StartImportCommand, type GetImportCommandOutput } from '@aws-sdk/client-cloudtrail';
import type { LockHolder } from '../config/index.ts';
import { formatDuration, Progress, type ProgressMode, type ProgressStream } from './progress.ts';

export const IMPORT_USAGE = `usage: opentrail import <s3://bucket/prefix | file:///path> --store <id or ARN>
         [--start TIME] [--end TIME] [--import-id ID] [--url URL] [--data-dir DIR] [--region REGION]
         [--role-arn ARN] [--interval SECONDS] [--progress | --no-progress]

  Imports the trail log files (AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz) below
  the location into a CloudTrail Lake event data store and shows its progress until it ends.
  s3:// names a bucket of the server's object store; file:// a folder of the server's machine
  under its lakeImports.fileRoots. Credentials: the AWS SDK's (AWS_ACCESS_KEY_ID..., AWS_PROFILE).

  --store        the destination event data store (its id or ARN)
  --start/--end  only events from/to this time (ISO 8601, or epoch seconds)
  --import-id    restart this stopped or failed import instead of starting a new one
  --url          the server's API URL (default: the one in DIR/opentrail.lock.json)
  --data-dir     the server's data dir, to find its URL (env OPENTRAIL_DATA_DIR; default .opentrail)
  --region       the Region to call (env AWS_REGION / AWS_DEFAULT_REGION; default us-east-1); also
                 the source bucket's Region
  --role-arn     S3BucketAccessRoleArn as AWS requires it (OpenTrail does not assume it)
  --interval     seconds between GetImport calls (default 1)
  --progress     progress lines on stderr from the start even when it is not a terminal
  --no-progress  no progress output
Exit status: 0 completed, 3 completed with failed files, 1 failed or stopped, 2 usage error.`;

export interface ImportIo {
  out: (s: string) => void;
  err: (s: string) => void;
  progress?: ProgressStream;
  env: NodeJS.ProcessEnv;
}

const defaultIo: ImportIo = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  progress: process.stderr,
  env: process.env,
};

function parseTime(v: string | undefined, flag: string): Date | undefined {
  if (v === undefined) return undefined;
  const ms = /^\d+(\.\d+)?$/.test(v) ? Number(v) * 1000 : Date.parse(v);
  if (!Number.isFinite(ms)) throw new UsageError(`${flag} ${v} is not a time (ISO 8601, or epoch seconds)`);
  return new Date(ms);
}

class UsageError extends Error {}

/** The server's URL: --url, else the one its data dir's lock file holds. */
function serverUrl(url: string | undefined, dataDir: string): string {
  if (url !== undefined) return url.replace(/\/+$/, '');
  const file = join(dataDir, 'opentrail.lock.json');
  let holder: LockHolder;
  try {
    holder = JSON.parse(readFileSync(file, 'utf8')) as LockHolder;
  } catch {
    throw new UsageError(`no server found: ${file} is missing (give --url, or --data-dir of the server)`);
  }
  if (!holder.url) throw new UsageError(`the server of ${dataDir} (pid ${holder.pid}) has not said its URL yet; give --url`);
  return holder.url;
}

const n = (x: number | undefined) => (x ?? 0).toLocaleString('en-US');

export async function importCommand(argv: string[], io: ImportIo = defaultIo): Promise<number> {
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: {
        store: { type: 'string' }, start: { type: 'string' }, end: { type: 'string' }, 'import-id': { type: 'string' },
        url: { type: 'string' }, 'data-dir': { type: 'string' }, region: { type: 'string' }, 'role-arn': { type: 'string' },
        interval: { type: 'string' }, progress: { type: 'boolean' }, 'no-progress': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    }));
  } catch (e) {
    io.err(`opentrail import: ${(e as Error).message}\n${IMPORT_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    io.out(`${IMPORT_USAGE}\n`);
    return 0;
  }
  const env = io.env;
  const region = values.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';
  let url: string;
  let start: Date | undefined;
  let end: Date | undefined;
  let intervalMs: number;
  try {
    if (values['import-id'] === undefined) {
      if (positionals.length !== 1) throw new UsageError('give one source location (s3://bucket/prefix or file:///path)');
      if (values.store === undefined) throw new UsageError('--store is required');
    } else if (positionals.length > 0 || values.store !== undefined) {
      throw new UsageError('--import-id restarts an import as it was started: give no location or --store with it');
    }
    start = parseTime(values.start, '--start');
    end = parseTime(values.end, '--end');
    intervalMs = Number(values.interval ?? '1') * 1000;
    if (!Number.isFinite(intervalMs) || intervalMs < 50) throw new UsageError('--interval must be a number of seconds >= 0.05');
    url = serverUrl(values.url, values['data-dir'] ?? env.OPENTRAIL_DATA_DIR ?? '.opentrail');
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(`opentrail import: ${e.message}\n`);
    return 2;
  }

  const ct = new CloudTrailClient({ endpoint: url, region, maxAttempts: 3 });
  let progress: Progress | undefined;
  try {
    let id: string;
    try {
      const started = values['import-id'] !== undefined
        ? await ct.send(new StartImportCommand({ ImportId: values['import-id'] }))
        : await ct.send(new StartImportCommand({
          Destinations: [values.store!],
          ImportSource: { S3: { S3LocationUri: positionals[0]!, S3BucketRegion: region, S3BucketAccessRoleArn: values['role-arn'] ?? 'arn:aws:iam::000000000000:role/opentrail-import' } },
          StartEventTime: start,
          EndEventTime: end,
        }));
      id = started.ImportId!;
    } catch (e) {
      io.err(`opentrail import: ${(e as Error).name}: ${(e as Error).message}\n`);
      return 1;
    }
    io.err(`import ${id} started\n`);
    const mode: ProgressMode = values['no-progress'] || !io.progress ? 'never' : values.progress ? 'always' : 'auto';
    progress = new Progress({ label: 'import', unit: 'prefixes', stream: io.progress ?? { write: () => true }, mode, term: env.TERM });
    const t0 = performance.now();
    let firstEvents: number | undefined;
    let last: GetImportCommandOutput;
    for (;;) {
      last = await ct.send(new GetImportCommand({ ImportId: id }));
      const s = last.ImportStatistics ?? {};
      firstEvents ??= s.EventsCompleted ?? 0;
      const seconds = (performance.now() - t0) / 1000;
      const rate = seconds > 0 ? ((s.EventsCompleted ?? 0) - firstEvents) / seconds : 0;
      progress.update({
        done: s.PrefixesCompleted ?? 0,
        total: s.PrefixesFound ?? 0,
        detail: `${n(s.EventsCompleted)} events, ${n(Math.round(rate))} events/s, ${n(s.FilesCompleted)} files${s.FailedEntries ? `, ${n(s.FailedEntries)} failed` : ''}`,
      });
      if (last.ImportStatus !== 'INITIALIZING' && last.ImportStatus !== 'IN_PROGRESS') break;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
    progress.stop();
    const s = last.ImportStatistics ?? {};
    const seconds = (performance.now() - t0) / 1000;
    const rate = seconds > 0 ? ((s.EventsCompleted ?? 0) - (firstEvents ?? 0)) / seconds : 0;
    io.out(`import ${id} ${last.ImportStatus}: ${n(s.EventsCompleted)} events from ${n(s.FilesCompleted)} files in ${n(s.PrefixesCompleted)}/${n(s.PrefixesFound)} prefixes, ${n(s.FailedEntries)} failed; ${formatDuration(seconds)}, ${n(Math.round(rate))} events/s\n`);
    if (s.FailedEntries) {
      let token: string | undefined;
      do {
        const page = await ct.send(new ListImportFailuresCommand({ ImportId: id, NextToken: token }));
        for (const f of page.Failures ?? []) io.err(`failed: ${f.Location}: ${f.ErrorType}: ${f.ErrorMessage}\n`);
        token = page.NextToken;
      } while (token);
    }
    if (last.ImportStatus !== 'COMPLETED') return 1;
    return s.FailedEntries ? 3 : 0;
  } catch (e) {
    progress?.stop();
    io.err(`opentrail import: ${(e as Error).name}: ${(e as Error).message}\n`);
    return 1;
  } finally {
    ct.destroy();
  }
}
