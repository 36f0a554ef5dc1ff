/**
 * The ten detection queries of docs/lake.md "Detection queries", run as written (only the store id
 * put in) through the translator and the query engine against a store of the Stratus Red Team
 * detonation records and AWS's KMS examples (test/fixtures/corpus), each answer compared with one
 * computed here from the same records. The SQL is kept in one table here and in the docs; a test
 * checks the docs hold the same text.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { LakeQueryEngine, type LakeQueryRecord } from '../src/lake/query/engine.ts';
import { SqliteControlStore } from '../src/stores/sqlite/sqlite-control-store.ts';
import { corpusRecords, TestLakeCatalog } from './helpers/lake.ts';
import { tempDir } from './helpers/server.ts';

type Rec = Record<string, any>;
const ACCOUNT = '111111111111';
const STORE = 'd1e2c3d4-0000-4000-8000-00000000000d';
const { lines, records } = corpusRecords('stratus-red-team.jsonl', 'awsdocs-kms.jsonl');

/** The queries as docs/lake.md prints them, with `$EDS_ID` for the store. */
const DETECTIONS: Record<string, string> = {
  'cloudtrail-disabled': `SELECT eventTime, eventName, userIdentity.arn AS actor, element_at(requestParameters, 'name') AS trail
FROM $EDS_ID
WHERE eventSource = 'cloudtrail.amazonaws.com'
  AND eventName IN ('StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors')
ORDER BY eventTime`,
  'flow-logs-deleted': `SELECT eventTime, userIdentity.arn AS actor, sourceIPAddress, element_at(requestParameters, 'DeleteFlowLogsRequest') AS request
FROM $EDS_ID
WHERE eventSource = 'ec2.amazonaws.com' AND eventName = 'DeleteFlowLogs' AND errorCode IS NULL`,
  'access-key-for-another-user': `SELECT eventTime, userIdentity.arn AS actor,
       json_extract_scalar(element_at(responseElements, 'accessKey'), '$.userName') AS keyOwner
FROM $EDS_ID
WHERE eventSource = 'iam.amazonaws.com' AND eventName = 'CreateAccessKey'
  AND strpos(userIdentity.arn, json_extract_scalar(element_at(responseElements, 'accessKey'), '$.userName')) = 0
ORDER BY eventTime`,
  'instance-user-data-changed': `SELECT eventTime, userIdentity.arn AS actor, element_at(requestParameters, 'instanceId') AS instance
FROM $EDS_ID
WHERE eventName = 'ModifyInstanceAttribute' AND element_at(requestParameters, 'userData') IS NOT NULL`,
  'snapshot-or-image-shared': `SELECT eventName, count(*) AS calls, approx_distinct(userIdentity.arn) AS actors
FROM $EDS_ID
WHERE eventName IN ('ModifySnapshotAttribute', 'ModifyDBSnapshotAttribute', 'ModifyImageAttribute') AND errorCode IS NULL
GROUP BY eventName
ORDER BY eventName`,
  'secrets-mass-retrieval': `SELECT userIdentity.arn AS actor, count(*) AS calls, count(DISTINCT element_at(requestParameters, 'secretId')) AS secrets,
       date_diff('second', min(eventTime), max(eventTime)) AS seconds
FROM $EDS_ID
WHERE eventSource = 'secretsmanager.amazonaws.com' AND eventName IN ('GetSecretValue', 'BatchGetSecretValue')
GROUP BY userIdentity.arn
HAVING count(*) >= 5
ORDER BY calls DESC, actor`,
  'console-login-without-mfa': `SELECT eventTime, userIdentity.arn AS actor, sourceIPAddress
FROM $EDS_ID
WHERE eventSource = 'signin.amazonaws.com' AND eventName = 'ConsoleLogin'
  AND element_at(additionalEventData, 'MFAUsed') = 'No'
  AND element_at(responseElements, 'ConsoleLogin') = 'Success'`,
  'top-errors': `SELECT errorCode, count(*) AS eventCount
FROM $EDS_ID
WHERE errorCode IS NOT NULL
GROUP BY errorCode
ORDER BY eventCount DESC, errorCode
LIMIT 10`,
  'password-data-probing': `SELECT userIdentity.arn AS actor, count_if(errorCode IS NOT NULL) AS denied, count(*) AS calls,
       to_unixtime(max(eventTime)) - to_unixtime(min(eventTime)) AS spanSeconds
FROM $EDS_ID
WHERE eventSource = 'ec2.amazonaws.com' AND eventName = 'GetPasswordData'
GROUP BY userIdentity.arn
HAVING count_if(errorCode IS NOT NULL) >= 10`,
  'key-deletion-scheduled': `SELECT eventTime, userIdentity.arn AS actor, element_at(requestParameters, 'keyId') AS keyId,
       element_at(requestParameters, 'pendingWindowInDays') AS days,
       row_number() OVER (PARTITION BY userIdentity.arn ORDER BY eventTime) AS nthByActor
FROM $EDS_ID
WHERE eventSource = 'kms.amazonaws.com' AND eventName = 'ScheduleKeyDeletion'
ORDER BY eventTime, keyId`,
};

let engine: LakeQueryEngine;
let control: SqliteControlStore;

before(async () => {
  const catalog = new TestLakeCatalog();
  await catalog.addStore(ACCOUNT, STORE, lines);
  const dir = tempDir('lake-detections-');
  control = new SqliteControlStore(join(dir, 'control.db'));
  engine = new LakeQueryEngine(
    { catalog, control, resultsDir: join(dir, 'results'), nowMs: () => Date.now(), newId: () => randomUUID(), logError: () => undefined },
    { maxConcurrent: 2, timeoutMs: 60_000, memoryLimit: '512MB', threads: 1 },
  );
});

after(async () => {
  await engine?.close();
  await control?.close();
});

async function run(name: string): Promise<Record<string, string>[]> {
  const started = await engine.start(ACCOUNT, 'us-east-1', DETECTIONS[name]!.replaceAll('$EDS_ID', STORE));
  let r: LakeQueryRecord | undefined;
  for (;;) {
    r = await engine.get(ACCOUNT, started.queryId);
    if (r && r.status !== 'QUEUED' && r.status !== 'RUNNING') break;
    await new Promise((res) => setTimeout(res, 10));
  }
  assert.equal(r.status, 'FINISHED', r.errorMessage);
  const rows = await engine.page(r, 0, 1000);
  return rows.map((row) => Object.fromEntries(row.flatMap((v, i) => (v === null ? [] : [[r.columns![i]!, v]]))));
}

const lakeTime = (t: string) => new Date(t).toISOString().replace('T', ' ').replace('Z', '');
const by = <T,>(f: (x: T) => string) => (a: T, b: T) => (f(a) < f(b) ? -1 : f(a) > f(b) ? 1 : 0);
const str = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

test('docs/lake.md holds the detection queries as tested', () => {
  const doc = readFileSync(new URL('../docs/lake.md', import.meta.url), 'utf8');
  for (const [name, sql] of Object.entries(DETECTIONS)) assert.ok(doc.includes(sql), `docs/lake.md has ${name} as tested`);
});

test('cloudtrail-disabled', async () => {
  const expected = records.filter((r: Rec) => r.eventSource === 'cloudtrail.amazonaws.com' && ['StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors'].includes(r.eventName))
    .sort(by((r: Rec) => r.eventTime))
    .map((r: Rec) => ({ eventTime: lakeTime(r.eventTime), eventName: r.eventName, actor: r.userIdentity.arn, ...(r.requestParameters?.name ? { trail: str(r.requestParameters.name) } : {}) }));
  assert.equal(expected.length, 3);
  assert.deepEqual(await run('cloudtrail-disabled'), expected);
});

test('flow-logs-deleted', async () => {
  const expected = records.filter((r: Rec) => r.eventSource === 'ec2.amazonaws.com' && r.eventName === 'DeleteFlowLogs' && r.errorCode == null)
    .map((r: Rec) => ({ eventTime: lakeTime(r.eventTime), actor: r.userIdentity.arn, sourceIPAddress: r.sourceIPAddress, request: str(r.requestParameters.DeleteFlowLogsRequest) }));
  assert.equal(expected.length, 1);
  assert.deepEqual(await run('flow-logs-deleted'), expected);
});

test('access-key-for-another-user', async () => {
  const expected = records.filter((r: Rec) => r.eventSource === 'iam.amazonaws.com' && r.eventName === 'CreateAccessKey' && !String(r.userIdentity.arn).includes(r.responseElements.accessKey.userName))
    .sort(by((r: Rec) => r.eventTime))
    .map((r: Rec) => ({ eventTime: lakeTime(r.eventTime), actor: r.userIdentity.arn, keyOwner: r.responseElements.accessKey.userName }));
  assert.equal(expected.length, 2);
  assert.deepEqual(await run('access-key-for-another-user'), expected);
});

test('instance-user-data-changed', async () => {
  const expected = records.filter((r: Rec) => r.eventName === 'ModifyInstanceAttribute' && r.requestParameters?.userData != null)
    .map((r: Rec) => ({ eventTime: lakeTime(r.eventTime), actor: r.userIdentity.arn, instance: r.requestParameters.instanceId }));
  assert.equal(expected.length, 1);
  assert.deepEqual(await run('instance-user-data-changed'), expected);
});

test('snapshot-or-image-shared', async () => {
  const hits = records.filter((r: Rec) => ['ModifySnapshotAttribute', 'ModifyDBSnapshotAttribute', 'ModifyImageAttribute'].includes(r.eventName) && r.errorCode == null);
  const names = [...new Set(hits.map((r: Rec) => r.eventName as string))].sort();
  const expected = names.map((n) => ({ eventName: n, calls: String(hits.filter((r: Rec) => r.eventName === n).length), actors: String(new Set(hits.filter((r: Rec) => r.eventName === n).map((r: Rec) => r.userIdentity.arn)).size) }));
  assert.equal(expected.length, 3);
  assert.deepEqual(await run('snapshot-or-image-shared'), expected);
});

test('secrets-mass-retrieval', async () => {
  const hits = records.filter((r: Rec) => r.eventSource === 'secretsmanager.amazonaws.com' && ['GetSecretValue', 'BatchGetSecretValue'].includes(r.eventName));
  const actors = [...new Set(hits.map((r: Rec) => r.userIdentity.arn as string))];
  const expected = actors.map((a) => {
    const mine = hits.filter((r: Rec) => r.userIdentity.arn === a);
    const times = mine.map((r: Rec) => Date.parse(r.eventTime));
    return { actor: a, calls: mine.length, secrets: new Set(mine.map((r: Rec) => r.requestParameters?.secretId).filter((s) => s != null).map(str)).size, seconds: Math.floor((Math.max(...times) - Math.min(...times)) / 1000) };
  }).filter((x) => x.calls >= 5).sort((x, y) => y.calls - x.calls || (x.actor < y.actor ? -1 : 1))
    .map((x) => ({ actor: x.actor, calls: String(x.calls), secrets: String(x.secrets), seconds: String(x.seconds) }));
  assert.ok(expected.length >= 1);
  assert.deepEqual(await run('secrets-mass-retrieval'), expected);
});

test('console-login-without-mfa', async () => {
  const expected = records.filter((r: Rec) => r.eventSource === 'signin.amazonaws.com' && r.eventName === 'ConsoleLogin' && r.additionalEventData?.MFAUsed === 'No' && r.responseElements?.ConsoleLogin === 'Success')
    .map((r: Rec) => ({ eventTime: lakeTime(r.eventTime), actor: r.userIdentity.arn, sourceIPAddress: r.sourceIPAddress }));
  assert.equal(expected.length, 1);
  assert.deepEqual(await run('console-login-without-mfa'), expected);
});

test('top-errors', async () => {
  const counts = new Map<string, number>();
  for (const r of records as Rec[]) if (r.errorCode != null) counts.set(r.errorCode, (counts.get(r.errorCode) ?? 0) + 1);
  const expected = [...counts].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1)).slice(0, 10).map(([errorCode, n]) => ({ errorCode, eventCount: String(n) }));
  assert.ok(expected.length >= 3);
  assert.deepEqual(await run('top-errors'), expected);
});

test('password-data-probing', async () => {
  const hits = records.filter((r: Rec) => r.eventSource === 'ec2.amazonaws.com' && r.eventName === 'GetPasswordData');
  const actors = [...new Set(hits.map((r: Rec) => r.userIdentity.arn as string))];
  const expected = actors.map((a) => {
    const mine = hits.filter((r: Rec) => r.userIdentity.arn === a);
    const times = mine.map((r: Rec) => Date.parse(r.eventTime) / 1000);
    return { actor: a, denied: String(mine.filter((r: Rec) => r.errorCode != null).length), calls: String(mine.length), spanSeconds: String(Math.max(...times) - Math.min(...times)), n: mine.filter((r: Rec) => r.errorCode != null).length };
  }).filter((x) => x.n >= 10).map(({ n: _n, ...x }) => x);
  assert.equal(expected.length, 1);
  const rows = await run('password-data-probing');
  assert.deepEqual(rows.map((r) => ({ ...r, spanSeconds: String(Number(r.spanSeconds)) })), expected);
});

test('key-deletion-scheduled', async () => {
  const hits = records.filter((r: Rec) => r.eventSource === 'kms.amazonaws.com' && r.eventName === 'ScheduleKeyDeletion')
    .sort((x: Rec, y: Rec) => (x.eventTime < y.eventTime ? -1 : x.eventTime > y.eventTime ? 1 : str(x.requestParameters.keyId) < str(y.requestParameters.keyId) ? -1 : 1));
  const nth = new Map<string, number>();
  const byActorTime = [...hits].sort(by((r: Rec) => r.eventTime));
  const rank = new Map<Rec, number>();
  for (const r of byActorTime as Rec[]) {
    const k = String(r.userIdentity?.arn);
    nth.set(k, (nth.get(k) ?? 0) + 1);
    rank.set(r, nth.get(k)!);
  }
  const expected = hits.map((r: Rec) => ({
    eventTime: lakeTime(r.eventTime),
    ...(r.userIdentity?.arn ? { actor: r.userIdentity.arn } : {}),
    keyId: str(r.requestParameters.keyId),
    ...(r.requestParameters.pendingWindowInDays != null ? { days: str(r.requestParameters.pendingWindowInDays) } : {}),
    nthByActor: String(rank.get(r)),
  }));
  assert.equal(expected.length, 3);
  const rows = await run('key-deletion-scheduled');
  // Rows with equal times may be numbered either way within an actor: compare without the rank, then the ranks as a multiset.
  assert.deepEqual(rows.map(({ nthByActor: _n, ...r }) => r), expected.map(({ nthByActor: _n, ...r }) => r));
  assert.deepEqual(rows.map((r) => r.nthByActor).sort(), expected.map((r) => r.nthByActor).sort());
});
