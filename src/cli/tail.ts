/**
 * `opentrail tail`: a running server's live tail (GET /events/stream; docs/realtime.md), one line
 * per event as it is stored, or the LookupEvents entry as JSON (`--output json`). Signs its GET
 * with SigV4 and the AWS SDK's credentials (environment, AWS_PROFILE / shared files, ...), as the
 * AWS CLI would; reconnects with Last-Event-ID when the connection drops, so nothing is missed or
 * repeated. Runs until interrupted.
 *
 * Exit status: 0 interrupted; 1 the server refused the stream (the AWS error is printed); 2 a usage error.
 */
import { parseArgs } from 'node:util';
import { SignatureV4 } from '@smithy/signature-v4';
import { CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { NodeSha256 } from '../aws/sigv4.ts';
import { serverOfDataDir } from './status.ts';

export const TAIL_USAGE = `usage: opentrail tail [--filter KEY=VALUE] [--region REGION] [--output text|json] [--url URL] [--data-dir DIR] [--after SEQ]

  Prints the caller's events as they are stored: what LookupEvents shows it (management events of its
  account in the Region), one line each. Credentials as the AWS CLI's (AWS_ACCESS_KEY_ID, AWS_PROFILE,
  ...). See docs/realtime.md.

  --filter    a LookupEvents attribute: EventName=..., Username=..., EventSource=..., ResourceType=...,
              ResourceName=..., ReadOnly=true|false, AccessKeyId=..., EventId=...
  --region    the Region (env AWS_REGION / AWS_DEFAULT_REGION; default us-east-1)
  --output    text (default): time, event name, source, user, event id; json: the LookupEvents entry
  --url       the server's API URL (alias --endpoint-url; default the one in DIR/opentrail.lock.json)
  --data-dir  the server's data dir, to find its URL (env OPENTRAIL_DATA_DIR; default .opentrail)
  --after     start after this sequence number (a message's id) instead of now`;

interface Entry {
  EventId?: string;
  EventName?: string;
  EventTime?: number;
  EventSource?: string;
  Username?: string;
}

/** One event's text line: time, name, source, user, id. */
export function tailLine(entry: Entry): string {
  const time = typeof entry.EventTime === 'number' ? new Date(entry.EventTime * 1000).toISOString().replace(/\.000Z$/, 'Z') : '-';
  return [time, entry.EventName ?? '-', entry.EventSource ?? '-', entry.Username ?? '-', entry.EventId ?? '-'].join('  ');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function tailCommand(argv: string[], io: { stdout(s: string): void; stderr(s: string): void } = { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) }): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        filter: { type: 'string' }, region: { type: 'string' }, output: { type: 'string' }, url: { type: 'string' }, 'endpoint-url': { type: 'string' },
        'data-dir': { type: 'string' }, after: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    io.stderr(`opentrail tail: ${(e as Error).message}\n${TAIL_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    io.stdout(`${TAIL_USAGE}\n`);
    return 0;
  }
  const output = values.output ?? 'text';
  if (output !== 'text' && output !== 'json') {
    io.stderr('opentrail tail: --output is text or json\n');
    return 2;
  }
  const query = new URLSearchParams();
  if (values.filter !== undefined) {
    const eq = values.filter.indexOf('=');
    if (eq <= 0 || eq === values.filter.length - 1) {
      io.stderr('opentrail tail: --filter is KEY=VALUE, e.g. EventName=CreateTrail\n');
      return 2;
    }
    query.set('attributeKey', values.filter.slice(0, eq));
    query.set('attributeValue', values.filter.slice(eq + 1));
  }
  if (values.after !== undefined && !/^\d+$/.test(values.after)) {
    io.stderr('opentrail tail: --after is a sequence number\n');
    return 2;
  }
  let url = values.url ?? values['endpoint-url'];
  if (url === undefined) {
    const found = serverOfDataDir('tail', values['data-dir']);
    if (typeof found === 'string') {
      io.stderr(`${found}\n`);
      return 2;
    }
    url = found.url;
  }
  const endpoint = new URL(`${url.replace(/\/+$/, '')}/events/stream`);
  const region = values.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const ct = new CloudTrailClient({ region });
  let credentials;
  try {
    credentials = await ct.config.credentials();
  } catch (e) {
    io.stderr(`opentrail tail: no AWS credentials: ${(e as Error).message}\n`);
    return 2;
  } finally {
    ct.destroy();
  }
  const signer = new SignatureV4({ credentials, region, service: 'cloudtrail', sha256: NodeSha256 });

  let lastId = values.after;
  let stop = false;
  const ctrl = new AbortController();
  const onSignal = () => {
    stop = true;
    ctrl.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let announced = false;
  try {
    while (!stop) {
      const headers: Record<string, string> = { host: endpoint.host, accept: 'text/event-stream' };
      if (lastId !== undefined) headers['last-event-id'] = lastId;
      const signed = await signer.sign({
        method: 'GET', protocol: endpoint.protocol, hostname: endpoint.hostname, port: endpoint.port ? Number(endpoint.port) : undefined,
        path: endpoint.pathname, query: Object.fromEntries(query), headers,
      });
      let res: Response;
      try {
        res = await fetch(`${endpoint.href}${query.size > 0 ? `?${query}` : ''}`, { headers: signed.headers as Record<string, string>, signal: ctrl.signal });
      } catch (e) {
        if (stop) break;
        io.stderr(`opentrail tail: ${endpoint.origin} did not answer (${((e as Error).cause as Error | undefined)?.message ?? (e as Error).message}); retrying\n`);
        await sleep(2000);
        continue;
      }
      if (res.status !== 200) {
        const body = (await res.json().catch(() => ({}))) as { __type?: string; message?: string };
        if (res.status >= 500 || res.status === 429) {
          io.stderr(`opentrail tail: ${body.__type ?? `HTTP ${res.status}`}: ${body.message ?? ''}; retrying\n`);
          await sleep(2000);
          continue;
        }
        io.stderr(`An error occurred (${body.__type ?? `HTTP ${res.status}`}) when opening the live tail: ${body.message ?? ''}\n`);
        return 1;
      }
      if (!announced) {
        io.stderr(`tailing ${endpoint.origin} in ${region}${values.filter ? ` (${values.filter})` : ''}; Ctrl-C to stop\n`);
        announced = true;
      }
      try {
        for await (const msg of serverSentEvents(res.body!)) {
          if (msg.id !== undefined) lastId = msg.id;
          if (msg.event === 'end' || msg.data === undefined) continue;
          io.stdout(`${output === 'json' ? msg.data : tailLine(JSON.parse(msg.data) as Entry)}\n`);
        }
      } catch (e) {
        if (stop) break;
        io.stderr(`opentrail tail: the stream broke (${(e as Error).message}); resuming after ${lastId ?? 'now'}\n`);
      }
      if (!stop) await sleep(500);
    }
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The messages of a text/event-stream body (the WHATWG format: fields up to a blank line; comments skipped). */
export async function* serverSentEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<{ id?: string; event?: string; data?: string }> {
  const decoder = new TextDecoder();
  let buf = '';
  let msg: { id?: string; event?: string; data?: string } = {};
  for await (const chunk of body) {
    buf += decoder.decode(chunk, { stream: true });
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl).replace(/\r$/, '');
      buf = buf.slice(nl + 1);
      if (line === '') {
        if (msg.id !== undefined || msg.data !== undefined || msg.event !== undefined) yield msg;
        msg = {};
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') msg.id = value;
      else if (field === 'event') msg.event = value;
      else if (field === 'data') msg.data = msg.data === undefined ? value : `${msg.data}\n${value}`;
    }
  }
}
