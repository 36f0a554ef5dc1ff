/**
 * GET /metrics and `opentrail status` on a real server delivering to moto S3, with the recording
 * gateway in front of moto: counters move as the work does (requests, ingest by path and result,
 * group commits, the event log, bucket writes, gateway calls), a trail whose bucket refuses writes
 * shows a growing lag and its failures by code, and once the bucket is back the lag drains and the
 * failure series goes. `opentrail status` prints the same from the running server.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, DeleteBucketCommand, ListBucketsCommand, S3Client, type S3Client as S3 } from '@aws-sdk/client-s3';
import { CreateTrailCommand, StartLoggingCommand, type CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, ACCOUNT_B, cloudTrailClient, startServer, type StartedServer } from './helpers/server.ts';
import { motoS3, startMoto, type StartedMoto } from './helpers/moto.ts';
import { ingest, sleep, traffic, waitFor, type Json } from './helpers/delivery.ts';
import { parseMetrics, type Sample } from '../src/cli/status.ts';
import { runOpentrail } from './helpers/cli.ts';

const A = ACCOUNT_A.id;
const ALICE = ACCOUNT_A.identities[1]!;

let moto: StartedMoto;
let s3: S3;
let server: StartedServer;
let ct: CloudTrailClient;

before(async () => {
  moto = await startMoto();
  s3 = motoS3(moto);
  server = await startServer({
    regions: ['us-east-1'],
    accounts: [ACCOUNT_A, ACCOUNT_B],
    delivery: { maxAgeMs: 300, pollMs: 50 },
    objectStore: { type: 's3', endpoint: moto.url, region: 'us-east-1', forcePathStyle: true, accessKeyId: 'testing', secretAccessKey: 'testing' },
    gateway: { port: 0, upstream: { endpoint: moto.url } },
  });
  ct = cloudTrailClient(server.url, ALICE);
});

after(async () => {
  ct?.destroy();
  s3?.destroy();
  await server?.stop();
  await moto?.kill();
});

async function scrape(): Promise<Sample[]> {
  const res = await fetch(`${server.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseMetrics(await res.text());
}

/** The value of one series (0 when absent); `labels` must all match. */
function value(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  const s = samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value ?? 0;
}

const has = (samples: readonly Sample[], name: string, labels: Record<string, string>) => samples.some((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));

const management = (n: number): Json[] => traffic(n * 3, { accounts: [A], regions: ['us-east-1'] }).filter((r) => r.eventCategory === undefined).slice(0, n);

const trailArn = (name: string) => `arn:aws:cloudtrail:us-east-1:${A}:trail/${name}`;

test('the metrics move with ingest: requests, events by path and result, group commits, the event log', async () => {
  const before = await scrape();
  assert.ok(has(before, 'process_resident_memory_bytes', {}), 'process memory (default metrics)');
  assert.ok(has(before, 'nodejs_eventloop_lag_p99_seconds', {}), 'event-loop delay (default metrics)');

  const records = management(40);
  const first = await ingest(server.url, ALICE, records);
  assert.equal(first.accepted, 40);
  // Again, two of them, and one that is not a record: 2 duplicates, 1 rejected.
  const again = await ingest(server.url, ALICE, [records[0]!, records[1]!, { eventName: 42 }]);
  assert.deepEqual([again.accepted, again.duplicates, again.rejected], [0, 2, 1]);

  const after = await scrape();
  const d = (name: string, labels: Record<string, string> = {}) => value(after, name, labels) - value(before, name, labels);
  assert.equal(d('opentrail_events_ingested_total', { path: 'bulk', result: 'accepted' }), 40);
  assert.equal(d('opentrail_events_ingested_total', { path: 'bulk', result: 'duplicate' }), 2);
  assert.equal(d('opentrail_events_ingested_total', { path: 'bulk', result: 'rejected' }), 1);
  // Each /ingest stores its own record with its events: two self-audit records (the scrape is not recorded).
  assert.equal(d('opentrail_events_ingested_total', { path: 'self-audit', result: 'accepted' }), 2);
  assert.equal(d('opentrail_http_requests_total', { operation: 'IngestEvents', status: '200' }), 2);
  assert.equal(d('opentrail_http_request_duration_seconds_count', { operation: 'IngestEvents' }), 2);
  assert.ok(d('opentrail_group_commit_events_count') >= 2, 'group commits observed');
  assert.ok(d('opentrail_group_commit_events_sum') >= 42, 'every stored event counted in a commit');
  assert.equal(d('opentrail_event_log_events'), 42, 'the log holds the 40 events and the two calls\' records');
  assert.ok(value(after, 'opentrail_event_log_oldest_event_age_seconds') >= 0);
  assert.equal(value(after, 'opentrail_event_store_writable'), 1);
  assert.ok(value(after, 'opentrail_data_dir_free_bytes') > 0 && value(after, 'opentrail_event_store_file_bytes') > 0);

  // A request nobody knows is counted under one name, whatever it says.
  await fetch(`${server.url}/nothing-here/${'x'.repeat(50)}`);
  await fetch(server.url, { method: 'POST', headers: { 'x-amz-target': 'CloudTrail_20131101.MadeUp' } });
  const later = await scrape();
  assert.equal(value(later, 'opentrail_http_requests_total', { operation: 'NotFound', status: '404' }) - value(after, 'opentrail_http_requests_total', { operation: 'NotFound', status: '404' }), 1);
  assert.ok(value(later, 'opentrail_http_requests_total', { operation: 'UnknownOperation', status: '400' }) >= 1);
  assert.ok(!later.some((s) => s.name === 'opentrail_http_requests_total' && /MadeUp|nothing-here/.test(JSON.stringify(s.labels))), 'no label from the request itself');
});

test('a delivering trail catches up; a trail whose bucket refuses writes shows a growing lag and its failures by code', async () => {
  await s3.send(new CreateBucketCommand({ Bucket: 'ot-metrics-ok' }));
  await s3.send(new CreateBucketCommand({ Bucket: 'ot-metrics-refused' }));
  await ct.send(new CreateTrailCommand({ Name: 'fine', S3BucketName: 'ot-metrics-ok' }));
  await ct.send(new CreateTrailCommand({ Name: 'refused', S3BucketName: 'ot-metrics-refused' }));
  await ct.send(new StartLoggingCommand({ Name: 'fine' }));
  await ct.send(new StartLoggingCommand({ Name: 'refused' }));
  await s3.send(new DeleteBucketCommand({ Bucket: 'ot-metrics-refused' }));
  const start = await scrape();

  await ingest(server.url, ALICE, management(60));
  const lag = (m: readonly Sample[], trail: string, unit: 'events' | 'seconds') => value(m, `opentrail_consumer_lag_${unit}`, { consumer: 'delivery', resource: trailArn(trail) });

  // The delivering trail's lag drains to 0 while its files are written.
  let m = start;
  await waitFor(async () => {
    m = await scrape();
    return lag(m, 'fine', 'events') === 0 && value(m, 'opentrail_bucket_objects_written_total', { job: 'log_files' }) > value(start, 'opentrail_bucket_objects_written_total', { job: 'log_files' });
  }, 15_000, 'the delivering trail caught up');
  assert.ok(has(m, 'opentrail_consumer_lag_seconds', { consumer: 'delivery', resource: trailArn('fine') }));
  assert.equal(lag(m, 'fine', 'seconds'), 0);

  // The refused trail: failures by code, its latest failure, and a lag that grows.
  await waitFor(async () => {
    m = await scrape();
    return value(m, 'opentrail_bucket_write_failures_total', { job: 'log_files', code: 'NoSuchBucket' }) > 0;
  }, 15_000, 'NoSuchBucket counted');
  assert.ok(has(m, 'opentrail_consumer_last_failure_timestamp_seconds', { consumer: 'delivery', resource: trailArn('refused'), code: 'NoSuchBucket' }), 'the failing trail is named with its code');
  assert.ok(!has(m, 'opentrail_consumer_last_failure_timestamp_seconds', { resource: trailArn('fine') }), 'the delivering trail is not failing');
  const events1 = lag(m, 'refused', 'events');
  const seconds1 = lag(m, 'refused', 'seconds');
  const failures1 = value(m, 'opentrail_bucket_write_failures_total', { job: 'log_files', code: 'NoSuchBucket' });
  assert.ok(events1 >= 60, `lag of the refused trail: ${events1} events`);
  await ingest(server.url, ALICE, management(10));
  await sleep(2500);
  m = await scrape();
  assert.ok(lag(m, 'refused', 'events') >= events1 + 10, 'the lag in events grows with the log');
  assert.ok(lag(m, 'refused', 'seconds') >= seconds1 + 2, `the lag in seconds grows: ${seconds1} then ${lag(m, 'refused', 'seconds')}`);
  assert.ok(value(m, 'opentrail_bucket_write_failures_total', { job: 'log_files', code: 'NoSuchBucket' }) > failures1, 'the retries fail and are counted');
  assert.ok(value(m, 'opentrail_background_errors_total', { component: 'delivery' }) === 0, 'a refused write is a failure by code, not a logged bug');
  // ... but the log says why the trail stalls: a warn line with the trail and the bucket's code.
  const refusedLine = server.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: string; component?: string; msg: string })
    .find((l) => l.component === 'delivery' && l.msg.includes(trailArn('refused')));
  assert.ok(refusedLine, 'a log line names the refused trail');
  assert.equal(refusedLine.level, 'warn');
  assert.match(refusedLine.msg, /the bucket refused a log file \(NoSuchBucket: /);

  // `opentrail status` says so, from the running server.
  const status = await runOpentrail(['status', '--url', server.url]);
  assert.equal(status.code, 3, status.stdout);
  assert.match(status.stdout, /^OpenTrail at http:\/\/127\.0\.0\.1:\d+: healthy$/m);
  assert.match(status.stdout, new RegExp(`delivery +${trailArn('refused').replace(/[/.]/g, '\\$&')}: [\\d,]+ events, \\d+ s +FAILING NoSuchBucket \\(last attempt \\d+ s ago\\)`));
  assert.match(status.stdout, new RegExp(`delivery +${trailArn('fine').replace(/[/.]/g, '\\$&')}: 0 events, 0 s$`, 'm'));
  assert.match(status.stdout, /bucket writes \(log_files\): NoSuchBucket x\d+/);
  assert.match(status.stdout, /^ingested since start: .*bulk 1[01]\d/m);

  // The bucket is back: the lag drains and the failure series goes.
  await s3.send(new CreateBucketCommand({ Bucket: 'ot-metrics-refused' }));
  await waitFor(async () => {
    m = await scrape();
    return lag(m, 'refused', 'events') === 0;
  }, 20_000, 'the refused trail caught up');
  assert.ok(!has(m, 'opentrail_consumer_last_failure_timestamp_seconds', { resource: trailArn('refused') }));
  const healthy = await runOpentrail(['status', '--url', server.url]);
  assert.equal(healthy.code, 0, healthy.stdout);
});

test('gateway calls are counted by service and outcome, and their records by path', async () => {
  const before = await scrape();
  const gw = new S3Client({ endpoint: server.gatewayUrl, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: ALICE.accessKeyId, secretAccessKey: ALICE.secretAccessKey }, maxAttempts: 1 });
  try {
    await gw.send(new ListBucketsCommand({}));
    await assert.rejects(gw.send(new DeleteBucketCommand({ Bucket: 'ot-no-such-bucket' })));
  } finally {
    gw.destroy();
  }
  await fetch(`${server.gatewayUrl}/`, { method: 'POST' });
  const m = await scrape();
  const d = (labels: Record<string, string>) => value(m, 'opentrail_gateway_calls_total', labels) - value(before, 'opentrail_gateway_calls_total', labels);
  assert.equal(d({ service: 's3', outcome: '200' }), 1);
  assert.equal(d({ service: 's3', outcome: '404' }), 1);
  assert.equal(d({ service: 'none', outcome: '403' }), 1, 'an unsigned call');
  assert.equal(value(m, 'opentrail_events_ingested_total', { path: 'gateway', result: 'accepted' }) - value(before, 'opentrail_events_ingested_total', { path: 'gateway', result: 'accepted' }), 2);
  // And one log line each.
  const lines = server.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'gateway call');
  assert.ok(lines.some((l) => l.service === 's3' && l.operation === 'ListBuckets' && l.outcome === '200' && l.account === A && typeof l.ms === 'number'), JSON.stringify(lines));
  assert.ok(lines.some((l) => l.service === 'none' && l.outcome === '403' && l.account === undefined), JSON.stringify(lines));
});

test('`opentrail status` finds the server through its data dir', async () => {
  const r = await runOpentrail(['status', '--data-dir', server.dataDir]);
  assert.match(r.stdout, new RegExp(`^OpenTrail at ${server.url.replace(/[/.]/g, '\\$&')}: healthy$`, 'm'));
  assert.match(r.stdout, /^events: [\d,]+ stored/m);
  const none = await runOpentrail(['status', '--data-dir', `${server.dataDir}-nowhere`]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no server found/);
});

test('the API port answers /metrics to local callers only: one that came through a proxy gets 403 AccessDeniedException', async () => {
  for (const headers of [{ 'x-forwarded-for': '203.0.113.7' }, { forwarded: 'for=203.0.113.7' }] as Record<string, string>[]) {
    const res = await fetch(`${server.url}/metrics`, { headers });
    assert.equal(res.status, 403);
    assert.equal(res.headers.get('x-amzn-errortype'), 'AccessDeniedException');
    const body = await res.json() as { __type: string; message: string };
    assert.equal(body.__type, 'AccessDeniedException');
    assert.match(body.message, /metrics\.port/);
  }
  assert.equal((await fetch(`${server.url}/metrics`)).status, 200, 'from this machine, directly');
  // /health tells anyone whether the server answers (on SQLite there is nothing more to say).
  assert.deepEqual(await (await fetch(`${server.url}/health`, { headers: { 'x-forwarded-for': '203.0.113.7' } })).json(), { status: 'ok' });
});
