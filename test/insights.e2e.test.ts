/**
 * CloudTrail Insights end to end, on a real server with a 1 s interval and a 5-minute baseline window:
 * steady traffic gives no Insights event; a burst of one write API gives one ApiCallRateInsight
 * Start and End with the injected rates, an error burst one ApiErrorRateInsight pair attributed to
 * its error code; the server is killed (-9) while both are open and still emits exactly one End of
 * each; the records are in Event history (SDK and AWS CLI lookup-events), in the trail's bucket
 * under CloudTrail-Insight/ (listed in digests; validate-logs passes; webhook notified), and
 * counted by ListInsightsMetricData.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  CreateTrailCommand, ListInsightsDataCommand, ListInsightsMetricDataCommand, LookupEventsCommand, PutInsightSelectorsCommand, StartLoggingCommand, GetInsightSelectorsCommand, type CloudTrailClient,
} from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, BIN, cliEnv, cloudTrailClient, startServer, type StartedServer, type TestConfig } from './helpers/server.ts';
import { ingest, sleep, waitFor, type Json } from './helpers/delivery.ts';
import { runAws, type CliResult } from './helpers/cli.ts';
import { fails } from './helpers/aws-errors.ts';
import { execFile } from 'node:child_process';

const ALICE = ACCOUNT_A.identities[1]!;
const A = ACCOUNT_A.id;
const REGION = 'us-east-1';
const BUCKET = 'ot-insights';
const TRAIL_ARN = `arn:aws:cloudtrail:${REGION}:${A}:trail/audit`;
const SOURCE = 'widgets.amazonaws.com';
const STEADY_ARN = `arn:aws:iam::${A}:user/alice`;
const BURST_ARN = `arn:aws:iam::${A}:user/burster`;

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** A webhook receiver: the notification bodies it was sent. */
const hooks: Json[] = [];
const hookServer: Server = createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    try {
      hooks.push(JSON.parse(body) as Json);
    } catch { /* not a notification */ }
    res.end('ok');
  });
});
let server: StartedServer | undefined;
after(async () => {
  await server?.stop();
  hookServer.close();
});

function widget(name: string, second: number, arn: string, agent: string, errorCode?: string): Json {
  return {
    eventVersion: '1.08', eventTime: iso(second * 1000), eventSource: SOURCE, eventName: name, awsRegion: REGION,
    userIdentity: { type: 'IAMUser', arn, accountId: A, userName: arn.split('/').pop() }, userAgent: agent,
    sourceIPAddress: '192.0.2.1', recipientAccountId: A, readOnly: name.startsWith('Get'), eventType: 'AwsApiCall', eventCategory: 'Management', managementEvent: true,
    ...(errorCode ? { errorCode, errorMessage: 'denied' } : {}),
  };
}

/** Waits until the next whole second; returns it (epoch seconds). */
async function nextSecond(): Promise<number> {
  const now = Date.now();
  await sleep(1000 - (now % 1000) + 5);
  return Math.floor(Date.now() / 1000);
}

function bucketFiles(root: string, dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? bucketFiles(root, p) : n.endsWith('.json.gz') ? [relative(root, p)] : [];
  }).sort();
}

async function insightEvents(ct: CloudTrailClient): Promise<Json[]> {
  const out = await ct.send(new LookupEventsCommand({ EventCategory: 'insight', MaxResults: 50 }));
  return (out.Events ?? []).map((e) => JSON.parse(e.CloudTrailEvent!) as Json);
}

test('Insights: a call-rate and an error-rate pair, exactly once across kill -9, looked up, delivered, validated and counted', async () => {
  await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', r));
  const hookUrl = `http://127.0.0.1:${(hookServer.address() as { port: number }).port}/hook`;
  const config = {
    regions: [REGION], accounts: [ACCOUNT_A],
    delivery: { maxAgeMs: 200, pollMs: 50 },
    integrity: { digestPeriodMs: 2000 },
    insights: { intervalMs: 1000, baselineWindowMs: 300_000, minimumBaselineMs: 3000 },
    webhooks: [{ url: hookUrl, trailArns: [TRAIL_ARN] }],
  } as TestConfig;
  server = await startServer(config);
  const root = join(server.dataDir, 'buckets');
  mkdirSync(join(root, BUCKET), { recursive: true });
  let ct = cloudTrailClient(server.url, ALICE, REGION);
  const startMs = Date.now() - 5000;
  await ct.send(new CreateTrailCommand({ Name: 'audit', S3BucketName: BUCKET, EnableLogFileValidation: true }));
  await ct.send(new StartLoggingCommand({ Name: 'audit' }));
  const selectors = [{ InsightType: 'ApiCallRateInsight' as const }, { InsightType: 'ApiErrorRateInsight' as const }];
  await ct.send(new PutInsightSelectorsCommand({ TrailName: 'audit', InsightSelectors: selectors }));
  assert.deepEqual((await ct.send(new GetInsightSelectorsCommand({ TrailName: 'audit' }))).InsightSelectors, selectors.map((s) => ({ ...s, EventCategories: ['Management'] })));

  // Steady: 2 CreateWidget and 1 GetWidget AccessDenied every second.
  let created = 0;
  let denied = 0;
  const steady = async (second: number, url: string) => {
    await ingest(url, ALICE, [widget('CreateWidget', second, STEADY_ARN, 'steady-agent'), widget('CreateWidget', second, STEADY_ARN, 'steady-agent'), widget('GetWidget', second, STEADY_ARN, 'steady-agent', 'AccessDenied')]);
    created += 2;
    denied += 1;
  };
  const STEADY_SECONDS = 6;
  for (let k = 0; k < STEADY_SECONDS; k++) await steady(await nextSecond(), server.url);
  await sleep(2500);
  assert.deepEqual(await insightEvents(ct), [], 'steady traffic gives no Insights event');

  // Burst: 20 CreateWidget and 12 GetWidget AccessDenied per second, until both Starts are stored.
  const BURST_CREATE = 20;
  const BURST_DENIED = 12;
  let burstSeconds = 0;
  for (;;) {
    const second = await nextSecond();
    const records = [
      ...Array.from({ length: BURST_CREATE }, () => widget('CreateWidget', second, BURST_ARN, 'burst-agent')),
      ...Array.from({ length: BURST_DENIED }, () => widget('GetWidget', second, BURST_ARN, 'burst-agent', 'AccessDenied')),
    ];
    await ingest(server.url, ALICE, records);
    created += BURST_CREATE;
    denied += BURST_DENIED;
    burstSeconds++;
    const starts = (await insightEvents(ct)).filter((r) => r.insightDetails.state === 'Start');
    if (starts.length >= 2) break;
    assert.ok(burstSeconds < 8, 'both Starts within 8 burst seconds');
  }

  // kill -9 while both insights are open; the restarted server ends each exactly once.
  await server.kill();
  ct.destroy();
  server = await startServer(config, { dataDir: server.dataDir });
  ct = cloudTrailClient(server.url, ALICE, REGION);
  for (let k = 0; k < 3; k++) await steady(await nextSecond(), server.url);
  await waitFor(async () => (await insightEvents(ct)).length >= 4, 15_000, 'the End records');
  await sleep(2500);
  const records = await insightEvents(ct);
  assert.equal(records.length, 4, JSON.stringify(records.map((r) => r.insightDetails)));
  const pair = (name: string) => {
    const mine = records.filter((r) => r.insightDetails.eventName === name);
    assert.deepEqual(mine.map((r) => r.insightDetails.state).sort(), ['End', 'Start'], `${name}: one Start and one End`);
    const start = mine.find((r) => r.insightDetails.state === 'Start')!;
    const end = mine.find((r) => r.insightDetails.state === 'End')!;
    assert.equal(start.sharedEventID, end.sharedEventID);
    assert.notEqual(start.eventID, end.eventID);
    for (const r of mine) {
      assert.deepEqual(Object.keys(r).sort(), ['awsRegion', 'eventCategory', 'eventID', 'eventTime', 'eventType', 'eventVersion', 'insightDetails', 'recipientAccountId', 'sharedEventID']);
      assert.equal(r.eventType, 'AwsCloudTrailInsight');
      assert.equal(r.eventCategory, 'Insight');
      assert.equal(r.recipientAccountId, A);
      assert.equal(r.insightDetails.eventSource, SOURCE);
    }
    return { start, end };
  };

  // ApiCallRateInsight on CreateWidget: the Start reports the first burst second, the End the whole burst.
  const call = pair('CreateWidget');
  assert.equal(call.start.insightDetails.insightType, 'ApiCallRateInsight');
  const cs = call.start.insightDetails.insightContext.statistics;
  assert.equal(cs.insight.average, BURST_CREATE);
  assert.equal(cs.insightDuration, 1);
  // Baseline: the 2 per second of the steady seconds, over the baseline's length (seconds analysed
  // before the Start). The analysis starts at the end of the log at its first pass after Insights
  // are turned on (docs/insights.md), so the first steady second, stored just after
  // PutInsightSelectors, may come before that pass and not be counted (seen in CI under load).
  const firstMissed = Math.abs(cs.baseline.average - (2 * STEADY_SECONDS) / cs.baselineDuration) >= 1e-9;
  assert.ok(Math.abs(cs.baseline.average - (2 * (STEADY_SECONDS - (firstMissed ? 1 : 0))) / cs.baselineDuration) < 1e-9, JSON.stringify(cs));
  const ce = call.end.insightDetails.insightContext.statistics;
  assert.equal(ce.insight.average, BURST_CREATE);
  assert.equal(ce.insightDuration, burstSeconds);
  assert.equal(ce.baselineDuration, cs.baselineDuration);
  assert.equal(Date.parse(call.end.eventTime) - Date.parse(call.start.eventTime), burstSeconds * 1000);
  const attribution = (r: Json, attribute: string) => r.insightDetails.insightContext.attributions.find((a: Json) => a.attribute === attribute);
  assert.deepEqual(attribution(call.start, 'userIdentityArn').insight, [{ value: BURST_ARN, average: BURST_CREATE }]);
  assert.equal(attribution(call.start, 'userIdentityArn').baseline[0].value, STEADY_ARN);
  assert.deepEqual(attribution(call.start, 'userAgent').insight, [{ value: 'burst-agent', average: BURST_CREATE }]);
  assert.deepEqual(attribution(call.start, 'errorCode').insight, [{ value: 'null', average: BURST_CREATE }]);

  // ApiErrorRateInsight on GetWidget, attributed to AccessDenied.
  const err = pair('GetWidget');
  assert.equal(err.start.insightDetails.insightType, 'ApiErrorRateInsight');
  assert.equal(err.start.insightDetails.insightContext.statistics.insight.average, BURST_DENIED);
  assert.deepEqual(attribution(err.start, 'errorCode').insight, [{ value: 'AccessDenied', average: BURST_DENIED }]);
  assert.deepEqual(attribution(err.end, 'errorCode').insight, [{ value: 'AccessDenied', average: BURST_DENIED }]);
  assert.equal(err.end.insightDetails.insightContext.statistics.insightDuration, burstSeconds);

  // The AWS CLI finds them by EventName.
  const cli = await runAws(['cloudtrail', 'lookup-events', '--endpoint-url', server.url, '--region', REGION, '--event-category', 'insight', '--lookup-attributes', 'AttributeKey=EventName,AttributeValue=CreateWidget'], cliEnv(ALICE, REGION));
  assert.equal(cli.code, 0, cli.stderr);
  const cliEvents = (JSON.parse(cli.stdout) as { Events: Json[] }).Events;
  assert.deepEqual(cliEvents.map((e) => e.EventId).sort(), [call.start.eventID, call.end.eventID].sort());
  assert.ok(cliEvents.every((e) => e.EventSource === SOURCE && e.EventName === 'CreateWidget'));

  // ListInsightsMetricData counts what was sent (per minute, with and without the empty periods).
  const metric = await ct.send(new ListInsightsMetricDataCommand({ EventSource: SOURCE, EventName: 'CreateWidget', InsightType: 'ApiCallRateInsight', StartTime: new Date(startMs - 60_000), EndTime: new Date(), Period: 60 }));
  assert.equal(metric.Values!.reduce((a, b) => a + b, 0), created - (firstMissed ? 2 : 0));
  assert.equal(metric.Timestamps!.length, metric.Values!.length);
  const errors = await ct.send(new ListInsightsMetricDataCommand({ EventSource: SOURCE, EventName: 'GetWidget', InsightType: 'ApiErrorRateInsight', ErrorCode: 'AccessDenied', StartTime: new Date(startMs - 60_000), Period: 60, DataType: 'NonZeroData' }));
  assert.equal(errors.Values!.reduce((a, b) => a + b, 0), denied - (firstMissed ? 1 : 0));
  assert.ok(errors.Values!.every((v) => v > 0));
  const cliMetric = await runAws(['cloudtrail', 'list-insights-metric-data', '--endpoint-url', server.url, '--region', REGION, '--event-source', SOURCE, '--event-name', 'GetWidget', '--insight-type', 'ApiErrorRateInsight', '--error-code', 'AccessDenied', '--period', '60', '--data-type', 'NonZeroData'], cliEnv(ALICE, REGION));
  assert.equal(cliMetric.code, 0, cliMetric.stderr);
  assert.equal((JSON.parse(cliMetric.stdout) as { Values: number[] }).Values.reduce((a, b) => a + b, 0), denied - (firstMissed ? 1 : 0));

  // Paging, ListInsightsData, refusals.
  const base = { EventSource: SOURCE, EventName: 'CreateWidget', InsightType: 'ApiCallRateInsight' as const, StartTime: new Date(startMs - 60_000), EndTime: new Date(), Period: 60 };
  const first = await ct.send(new ListInsightsMetricDataCommand({ ...base, MaxResults: 1 }));
  assert.equal(first.Timestamps!.length, 1);
  assert.ok(first.NextToken);
  const second = await ct.send(new ListInsightsMetricDataCommand({ ...base, MaxResults: 1, NextToken: first.NextToken }));
  assert.equal(second.Timestamps![0]!.getTime() - first.Timestamps![0]!.getTime(), 60_000);
  await fails(ct.send(new ListInsightsMetricDataCommand({ ...base, Period: 120 })), 'InvalidParameterException', 400);
  await fails(ct.send(new ListInsightsMetricDataCommand({ ...base, ErrorCode: 'AccessDenied' })), 'InvalidParameterException', 400);
  await fails(ct.send(new ListInsightsMetricDataCommand({ ...base, NextToken: 'not-ours' })), 'InvalidParameterException', 400);
  await fails(ct.send(new ListInsightsMetricDataCommand({ ...base, TrailName: 'nope' })), 'TrailNotFoundException', 404);
  const data = await ct.send(new ListInsightsDataCommand({ InsightSource: TRAIL_ARN, DataType: 'InsightsEvents', Dimensions: { EventName: 'GetWidget' } }));
  assert.deepEqual(data.Events!.map((e) => e.EventId).sort(), [err.start.eventID, err.end.eventID].sort());
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(metrics, /opentrail_consumer_lag_events\{consumer="insights",resource="analysis"\} \d+/);

  // Delivered to CloudTrail-Insight/, in Insights files only; listed by a digest; notified.
  const insightDir = join(root, BUCKET, 'AWSLogs', A, 'CloudTrail-Insight', REGION);
  await waitFor(() => {
    const ids = bucketFiles(join(root, BUCKET), insightDir).flatMap((k) => (JSON.parse(gunzipSync(readFileSync(join(root, BUCKET, k))).toString()) as { Records: Json[] }).Records.map((r) => r.eventID));
    return ids.length >= 4;
  }, 10_000, 'the Insights files');
  const insightKeys = bucketFiles(join(root, BUCKET), insightDir);
  for (const k of insightKeys) assert.match(k, new RegExp(`^AWSLogs/${A}/CloudTrail-Insight/${REGION}/\\d{4}/\\d{2}/\\d{2}/${A}_CloudTrail-Insight_${REGION}_\\d{8}T\\d{4}Z_[A-Za-z0-9]{16}\\.json\\.gz$`));
  const delivered = insightKeys.flatMap((k) => (JSON.parse(gunzipSync(readFileSync(join(root, BUCKET, k))).toString()) as { Records: Json[] }).Records);
  assert.deepEqual(delivered.map((r) => r.eventID).sort(), records.map((r) => r.eventID).sort(), 'each Insights record delivered once');
  const logRecords = bucketFiles(join(root, BUCKET), join(root, BUCKET, 'AWSLogs', A, 'CloudTrail')).flatMap((k) => (JSON.parse(gunzipSync(readFileSync(join(root, BUCKET, k))).toString()) as { Records: Json[] }).Records);
  assert.ok(logRecords.length > 0 && logRecords.every((r) => r.eventType !== 'AwsCloudTrailInsight'), 'no Insights record in a log file');
  await waitFor(() => {
    const digests = bucketFiles(join(root, BUCKET), join(root, BUCKET, 'AWSLogs', A, 'CloudTrail-Digest'));
    const listed = new Set(digests.flatMap((k) => (JSON.parse(gunzipSync(readFileSync(join(root, BUCKET, k))).toString()) as { logFiles: Json[] }).logFiles.map((f) => f.s3Object)));
    return insightKeys.every((k) => listed.has(k));
  }, 10_000, 'digests listing the Insights files');
  await waitFor(() => insightKeys.every((k) => hooks.some((h) => (h.s3ObjectKey as string[]).includes(k))), 10_000, 'webhook notifications of the Insights files');
  const url = server.url;
  const validate = await new Promise<CliResult>((resolve) => {
    const args = [BIN, 'validate-logs', '--endpoint-url', url, '--region', REGION, '--bucket-root', root, '--trail-arn', TRAIL_ARN, '--start-time', iso(startMs - 60_000), '--end-time', iso(Date.now()), '--verbose'];
    execFile(process.execPath, args, { env: cliEnv(ALICE, REGION), timeout: 60_000 }, (e, stdout, stderr) => resolve({ code: e ? Number((e as { code?: unknown }).code) : 0, stdout, stderr }));
  });
  assert.equal(validate.code, 0, validate.stdout + validate.stderr);
  for (const k of insightKeys) assert.ok(validate.stdout.includes(`Log file\ts3://${BUCKET}/${k}\tvalid`), `validate-logs checked ${k}:\n${validate.stdout}`);
});
