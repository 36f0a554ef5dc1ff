/**
 * `opentrail status`: a running server's health, event counts, consumer lags and failures, in
 * plain text, read from its GET /health and GET /metrics (the same numbers Prometheus scrapes:
 * docs/operations.md). The server's URL comes from --url, else from the data dir's lock file,
 * which the server writes when it starts (src/config/data-dir-lock.ts).
 *
 * Exit status: 0 healthy, every consumer delivering; 3 answering but degraded (the event store
 * refuses writes, a store the scrape could not read, or a consumer fails); 1 no healthy answer;
 * 2 a usage error.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { LockHolder } from '../config/index.ts';

export const STATUS_USAGE = `usage: opentrail status [--url URL] [--metrics-url URL] [--data-dir DIR]

  Prints a running server's health, event counts, consumer lags and failures (from its /health
  and /metrics). Exit status: 0 healthy, 3 degraded (store refusing writes or not answering, a
  consumer failing), 1 no healthy answer, 2 usage error. See docs/operations.md.

  --url          the server's API URL (default: the one in DIR/opentrail.lock.json)
  --metrics-url  where its metrics are (default: from the lock file, else URL/metrics)
  --data-dir     the server's data dir, to find its URL (env OPENTRAIL_DATA_DIR; default .opentrail)`;

/** One sample of the Prometheus text format. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format (comments skipped; label values unescaped). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

const count = (n: number) => Math.round(n).toLocaleString('en-US');

function ago(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} d`;
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

/** The status report of a scrape; `degraded` when the store refuses writes or a consumer fails. */
export function formatStatus(url: string, samples: readonly Sample[], nowMs: number): { text: string; degraded: boolean } {
  const all = (name: string) => samples.filter((s) => s.name === name);
  const one = (name: string) => all(name)[0]?.value;
  const lines: string[] = [];
  const writable = one('opentrail_event_store_writable') !== 0;
  // Sources the scrape could not read (a store that failed or did not answer in time): their
  // numbers are missing, not zero.
  const unread = new Set(all('opentrail_metrics_source_up').filter((s) => s.value === 0).map((s) => s.labels.source!));
  const notRead = (source: string) => `not read (the ${source} source failed or did not answer in time; see the server's log)`;
  lines.push(`OpenTrail at ${url}: ${writable ? (unread.size > 0 ? `DEGRADED: the metrics could not read ${[...unread].sort().join(', ')}` : 'healthy') : 'DEGRADED: the event store refuses writes (answers are 503)'}`);
  const events = one('opentrail_event_log_events');
  if (unread.has('event_log')) lines.push(`events: ${notRead('event_log')}`);
  else if (events !== undefined) {
    const oldest = one('opentrail_event_log_oldest_event_age_seconds') ?? 0;
    lines.push(`events: ${count(events)} stored (last seq ${count(one('opentrail_event_log_last_seq') ?? 0)})${events > 0 ? `, oldest committed ${ago(oldest)} ago` : ''}`);
  }
  const free = one('opentrail_data_dir_free_bytes');
  const size = one('opentrail_data_dir_size_bytes');
  const file = one('opentrail_event_store_file_bytes');
  if (free !== undefined && size !== undefined) lines.push(`disk: ${bytes(free)} free of ${bytes(size)}${file ? `; events.db ${bytes(file)}` : ''}`);

  const ingested = new Map<string, Record<string, number>>();
  for (const s of all('opentrail_events_ingested_total')) {
    const per = ingested.get(s.labels.path!) ?? {};
    per[s.labels.result!] = s.value;
    ingested.set(s.labels.path!, per);
  }
  lines.push(`ingested since start: ${ingested.size === 0 ? 'nothing' : [...ingested].map(([path, r]) => `${path} ${count(r.accepted ?? 0)}${r.duplicate ? ` (+${count(r.duplicate)} duplicate)` : ''}${r.rejected ? ` (${count(r.rejected)} rejected)` : ''}`).join(', ')}`);
  const byClass = new Map<string, number>();
  for (const s of all('opentrail_http_requests_total')) byClass.set(`${s.labels.status![0]}xx`, (byClass.get(`${s.labels.status![0]}xx`) ?? 0) + s.value);
  lines.push(`requests since start: ${[...byClass].sort().map(([k, v]) => `${k} ${count(v)}`).join(', ') || 'none'}`);

  lines.push('consumers (lag: events after its position, and how long the oldest has waited):');
  const lagEvents = new Map(all('opentrail_consumer_lag_events').map((s) => [`${s.labels.consumer}|${s.labels.resource}`, s.value]));
  const failures = new Map(all('opentrail_consumer_last_failure_timestamp_seconds').map((s) => [`${s.labels.consumer}|${s.labels.resource}`, s]));
  const consumers = all('opentrail_consumer_lag_seconds');
  const unreadConsumers = [...unread].filter((c) => c !== 'event_log' && c !== 'disk').sort();
  for (const c of unreadConsumers) lines.push(`  ${c.padEnd(9)} ${notRead(c)}`);
  if (consumers.length === 0 && unreadConsumers.length === 0) lines.push('  none (no trails)');
  let failing = 0;
  for (const s of consumers) {
    const key = `${s.labels.consumer}|${s.labels.resource}`;
    const ev = lagEvents.get(key);
    const f = failures.get(key);
    if (f) failing++;
    lines.push(`  ${s.labels.consumer!.padEnd(9)} ${s.labels.resource}: ${ev !== undefined ? `${count(ev)} events, ` : ''}${ago(s.value)}${f ? `  FAILING ${f.labels.code} (last attempt ${ago(Math.max(0, nowMs / 1000 - f.value))} ago)` : ''}`);
  }

  const failureLines: string[] = [];
  for (const s of all('opentrail_bucket_write_failures_total')) failureLines.push(`  bucket writes (${s.labels.job}): ${s.labels.code} x${count(s.value)}`);
  for (const s of all('opentrail_notification_failures_total')) failureLines.push(`  notifications (${s.labels.target}): ${s.labels.code} x${count(s.value)}`);
  for (const s of all('opentrail_eventbridge_entries_total')) if (s.labels.outcome !== 'sent' && s.value > 0) failureLines.push(`  eventbridge entries: ${s.labels.outcome} x${count(s.value)}`);
  for (const s of all('opentrail_rule_target_calls_total')) if (s.labels.outcome !== 'sent') failureLines.push(`  rule targets (${s.labels.target}): ${s.labels.outcome} x${count(s.value)}`);
  const commits = one('opentrail_group_commit_failures_total');
  if (commits) failureLines.push(`  event store commits: x${count(commits)}`);
  for (const s of all('opentrail_background_errors_total')) failureLines.push(`  logged errors (${s.labels.component}): x${count(s.value)}`);
  lines.push(`failures since start:${failureLines.length === 0 ? ' none' : ''}`, ...failureLines);
  return { text: lines.join('\n'), degraded: !writable || failing > 0 || unread.size > 0 };
}

async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text() };
}

/**
 * The URL of the server running on a data dir (DIR/opentrail.lock.json, written at its start), or
 * the message saying why there is none. Also `opentrail tail`'s default.
 */
export function serverOfDataDir(command: string, dir: string | undefined): { url: string; metricsUrl?: string } | string {
  const dataDir = dir ?? process.env.OPENTRAIL_DATA_DIR ?? '.opentrail';
  const file = join(dataDir, 'opentrail.lock.json');
  let holder: LockHolder;
  try {
    holder = JSON.parse(readFileSync(file, 'utf8')) as LockHolder;
  } catch {
    return `opentrail ${command}: no server found: ${file} is missing (give --url, or --data-dir of the server)`;
  }
  if (!holder.url) return `opentrail ${command}: the server of ${dataDir} (pid ${holder.pid}) has not said its URL yet; give --url`;
  return { url: holder.url, metricsUrl: holder.metricsUrl };
}

export async function statusCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { url: { type: 'string' }, 'metrics-url': { type: 'string' }, 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    console.log(STATUS_USAGE);
    return 0;
  }
  let url = values.url;
  let metricsUrl = values['metrics-url'];
  if (url === undefined) {
    const found = serverOfDataDir('status', values['data-dir']);
    if (typeof found === 'string') {
      console.error(found);
      return 2;
    }
    url = found.url;
    metricsUrl ??= found.metricsUrl;
  }
  url = url.replace(/\/+$/, '');
  metricsUrl ??= `${url}/metrics`;

  try {
    const health = await get(`${url}/health`);
    if (health.status !== 200) {
      console.log(`OpenTrail at ${url}: NOT HEALTHY (/health answered ${health.status})`);
      return 1;
    }
  } catch (e) {
    console.log(`OpenTrail at ${url}: NO ANSWER (${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message}); is the server running?`);
    return 1;
  }
  let metrics: { status: number; text: string };
  try {
    metrics = await get(metricsUrl);
  } catch (e) {
    console.log(`OpenTrail at ${url}: healthy; its metrics at ${metricsUrl} did not answer (${(e as Error).message})`);
    return 3;
  }
  if (metrics.status === 404) {
    console.log(`OpenTrail at ${url}: healthy (metrics are off: config metrics.enabled is false, so nothing more to show)`);
    return 0;
  }
  if (metrics.status === 403) {
    console.log(`OpenTrail at ${url}: healthy; ${metricsUrl} answers local callers only (run this on the server's machine, give --metrics-url of its metrics.port listener, or see metrics.apiPortCallers in docs/operations.md)`);
    return 3;
  }
  if (metrics.status !== 200) {
    console.log(`OpenTrail at ${url}: healthy; ${metricsUrl} answered ${metrics.status}`);
    return 3;
  }
  const report = formatStatus(url, parseMetrics(metrics.text), Date.now());
  console.log(report.text);
  return report.degraded ? 3 : 0;
}
