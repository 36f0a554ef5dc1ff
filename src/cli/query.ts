/**
 * `opentrail query "SELECT ..."`: runs a CloudTrail Lake query through the server's API
 * (StartQuery, DescribeQuery until it ends, GetQueryResults page by page) with the AWS SDK's usual
 * credentials (environment, profile), and prints the rows as a table, JSON lines or CSV.
 * Exit status: 0 finished, 1 the query failed, was cancelled or timed out, or the call was refused,
 * 2 a usage error.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CloudTrailClient, DescribeQueryCommand, GetQueryResultsCommand, StartQueryCommand } from '@aws-sdk/client-cloudtrail';
import type { LockHolder } from '../config/index.ts';
import { Progress, type ProgressMode } from './progress.ts';

export const QUERY_USAGE = `usage: opentrail query "SELECT ... FROM <event data store id>" [--output table|json|csv] [--url URL] [--region REGION]
         [--data-dir DIR] [--progress | --no-progress]

  Runs a CloudTrail Lake query on a running server and prints its rows (docs/lake.md). Credentials
  are the AWS SDK's usual ones (AWS_ACCESS_KEY_ID..., AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE).

  --output    table (default), json (one object per row) or csv
  --url       the server's API URL (default: the one in DIR/opentrail.lock.json)
  --region    the Region to sign for (env AWS_REGION; default us-east-1)
  --data-dir  the server's data dir, to find its URL (env OPENTRAIL_DATA_DIR; default .opentrail)
  --progress     progress lines on stderr from the start even when it is not a terminal (the
                 query's state while it runs, then rows fetched of its total); by default a bar on
                 a terminal, and plain lines only for a run longer than 10 s
  --no-progress  no progress output`;

/** Rows as a plain-text table: a header, a rule, columns padded to their widest value. */
export function formatTable(columns: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((v, i) => v.padEnd(widths[i]!)).join(' | ').trimEnd();
  return [line(columns), widths.map((w) => '-'.repeat(w)).join('-+-'), ...rows.map(line)].join('\n');
}

export function formatCsv(columns: readonly string[], rows: readonly (readonly string[])[]): string {
  const cell = (v: string) => (/[",\n\r]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
  return [columns, ...rows].map((r) => r.map(cell).join(',')).join('\n');
}

export async function queryCommand(argv: string[]): Promise<number> {
  let values: { output?: string; url?: string; region?: string; 'data-dir'?: string; help?: boolean; progress?: boolean; 'no-progress'?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: {
        output: { type: 'string' }, url: { type: 'string' }, region: { type: 'string' }, 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' },
        progress: { type: 'boolean' }, 'no-progress': { type: 'boolean' },
      },
      allowPositionals: true,
      strict: true,
    }));
  } catch (e) {
    console.error(`opentrail query: ${(e as Error).message}\n${QUERY_USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(QUERY_USAGE);
    return 0;
  }
  const output = values.output ?? 'table';
  if (positionals.length !== 1 || !['table', 'json', 'csv'].includes(output)) {
    console.error(QUERY_USAGE);
    return 2;
  }
  let url = values.url;
  if (url === undefined) {
    const file = join(values['data-dir'] ?? process.env.OPENTRAIL_DATA_DIR ?? '.opentrail', 'opentrail.lock.json');
    try {
      url = (JSON.parse(readFileSync(file, 'utf8')) as LockHolder).url;
    } catch {
      // reported below
    }
    if (!url) {
      console.error(`opentrail query: no server found in ${file} (give --url, or --data-dir of the server)`);
      return 2;
    }
  }
  const client = new CloudTrailClient({ endpoint: url, region: values.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1', maxAttempts: 3 });
  const mode: ProgressMode = values['no-progress'] ? 'never' : values.progress ? 'always' : 'auto';
  const progress = new Progress({ label: 'query', unit: 'rows', stream: process.stderr, mode, term: process.env.TERM });
  progress.update({ done: 0, total: 0, phase: 'starting' });
  try {
    const { QueryId } = await client.send(new StartQueryCommand({ QueryStatement: positionals[0] }));
    let delay = 50;
    for (;;) {
      const d = await client.send(new DescribeQueryCommand({ QueryId }));
      if (d.QueryStatus === 'FINISHED') break;
      if (d.QueryStatus !== 'QUEUED' && d.QueryStatus !== 'RUNNING') {
        progress.stop();
        console.error(`opentrail query: the query ${QueryId} is ${d.QueryStatus}${d.ErrorMessage ? `: ${d.ErrorMessage}` : ''}`);
        return 1;
      }
      progress.update({ done: 0, total: 0, phase: d.QueryStatus.toLowerCase() });
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 1000);
    }
    const columns: string[] = [];
    const rows: Record<string, string>[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new GetQueryResultsCommand({ QueryId, NextToken: token }));
      for (const row of page.QueryResultRows ?? []) {
        const obj: Record<string, string> = Object.assign({}, ...row) as Record<string, string>;
        for (const k of Object.keys(obj)) if (!columns.includes(k)) columns.push(k);
        rows.push(obj);
      }
      progress.update({ done: rows.length, total: page.QueryStatistics?.TotalResultsCount ?? rows.length });
      token = page.NextToken;
    } while (token);
    progress.stop();
    if (output === 'json') for (const r of rows) console.log(JSON.stringify(r));
    else {
      const cells = rows.map((r) => columns.map((c) => r[c] ?? ''));
      console.log(output === 'csv' ? formatCsv(columns, cells) : formatTable(columns, cells));
      if (output === 'table') console.log(`(${rows.length} row${rows.length === 1 ? '' : 's'})`);
    }
    return 0;
  } catch (e) {
    const err = e as Error;
    progress.stop();
    console.error(`opentrail query: ${err.name}: ${err.message}`);
    return 1;
  } finally {
    client.destroy();
  }
}
