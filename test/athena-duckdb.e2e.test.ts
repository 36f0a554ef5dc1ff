/**
 * The delivered bucket is readable by the tools people point at CloudTrail buckets: a trail delivers
 * to a filesystem bucket, then DuckDB runs the view and queries of docs/athena.md (taken from the
 * page itself) over the files, and every answer is compared with the same question answered here
 * over the ingested data (the event log as stored).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { CreateTrailCommand, PutEventSelectorsCommand, StartLoggingCommand } from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, ACCOUNT_B, cloudTrailClient, startServer, tempDir } from './helpers/server.ts';
import { corpusRecords, eventLog, idOf, ingest, readFsBucket, sleep, traffic, waitFor, type Json } from './helpers/delivery.ts';

const A = ACCOUNT_A.id;
const ALICE = ACCOUNT_A.identities[1]!;
const REGIONS = ['us-east-1', 'eu-west-1'];
const DOC = readFileSync(new URL('../docs/athena.md', import.meta.url), 'utf8');
const DOC_BUCKET_PATH = '/var/lib/opentrail/buckets/my-trail-bucket';

/** The SQL of the page's code block that starts with `-- opentrail:<marker>`. */
function docSql(marker: string): string {
  const re = /```sql\n([\s\S]*?)```/g;
  for (const m of DOC.matchAll(re)) if (m[1]!.startsWith(`-- opentrail:${marker}\n`)) return m[1]!;
  throw new Error(`docs/athena.md has no sql block marked ${marker}`);
}

/** The trail's scope: account A, both regions, management events and S3 object data events. */
const admitted = (r: Json) =>
  r.recipientAccountId === A && REGIONS.includes(r.awsRegion) &&
  (r.eventCategory === 'Management' || (r.eventCategory === 'Data' && (r.resources ?? []).some((x: Json) => x.type === 'AWS::S3::Object')));

/** Counts by key, as sorted [key, n] pairs. */
function countBy<T>(items: readonly T[], key: (x: T) => string | null | undefined): [string | null, number][] {
  const m = new Map<string | null, number>();
  for (const x of items) {
    const k = key(x) ?? null;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return [...m].sort((a, b) => String(a[0]).localeCompare(String(b[0])));
}

test('DuckDB read_json over a delivered bucket answers like the ingested data (docs/athena.md)', async () => {
  const dataDir = tempDir();
  const bucketDir = join(dataDir, 'buckets', 'ot-athena');
  mkdirSync(bucketDir, { recursive: true });
  const server = await startServer({ regions: REGIONS, accounts: [ACCOUNT_A, ACCOUNT_B], delivery: { maxAgeMs: 300, pollMs: 50 } }, { dataDir });
  const ct = cloudTrailClient(server.url, ALICE, 'us-east-1');
  const duck = await DuckDBInstance.create(':memory:');
  const db = await duck.connect();
  try {
    await ct.send(new CreateTrailCommand({ Name: 'athena', S3BucketName: 'ot-athena', IsMultiRegionTrail: true }));
    await ct.send(new PutEventSelectorsCommand({
      TrailName: 'athena',
      EventSelectors: [{ ReadWriteType: 'All', IncludeManagementEvents: true, DataResources: [{ Type: 'AWS::S3::Object', Values: ['arn:aws:s3'] }] }],
    }));
    await ct.send(new StartLoggingCommand({ Name: 'athena' }));

    // The whole corpus (every shape of record it has) in account A, plus traffic over 2026-01-01..09.
    const corpus = corpusRecords().map((r, i) => ({ ...structuredClone(r), recipientAccountId: A, awsRegion: REGIONS[i % 2] }));
    const jan = Date.UTC(2026, 0, 1);
    const generated = traffic(900, { accounts: [A], regions: REGIONS, dataBuckets: ['src-a', 'src-b'], eventTimeMs: (i) => jan + i * 853_000 });
    for (const part of [corpus, generated.slice(0, 450), generated.slice(450)]) {
      await ingest(server.url, ALICE, part);
      await sleep(350);
    }

    // The ingested data as stored, and what the trail must have delivered of it.
    const log = await eventLog(server.url, ALICE);
    const start = log.find((e) => e.record.eventName === 'StartLogging' && e.record.requestParameters?.name === 'athena')!;
    const want = log.filter((e) => e.seq >= start.seq && admitted(e.record)).map((e) => e.record);
    const wantIds = new Set(want.map(idOf));
    assert.ok(want.length > 1000, `records to deliver: ${want.length}`);
    await waitFor(() => {
      const got = new Set(readFsBucket(bucketDir).flatMap((f) => f.records.map(idOf)));
      return [...wantIds].every((id) => got.has(id));
    }, 20_000, 'delivery to the filesystem bucket');
    await sleep(800);
    const files = readFsBucket(bucketDir);
    const delivered = files.flatMap((f) => f.records);
    assert.equal(delivered.length, want.length, 'delivered exactly the admitted records');
    assert.deepEqual(new Set(delivered.map(idOf)), wantIds);

    // The page's view, on this bucket.
    const view = docSql('duckdb-view');
    assert.ok(view.includes(DOC_BUCKET_PATH));
    await db.run(view.replace(DOC_BUCKET_PATH, bucketDir));
    // Result columns keep the case of the schema (eventName) unless aliased: read them case-insensitively.
    const rows = async (sql: string) => ((await db.runAndReadAll(sql)).getRowObjectsJson() as Json[])
      .map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k.toLowerCase(), v])));

    // Every record of every file, every shape of the corpus, read through the declared schema.
    const [{ n }] = (await rows('SELECT count(*)::INTEGER AS n FROM cloudtrail_logs')) as [{ n: number }];
    assert.equal(n, want.length);
    // Path partitions agree with the records.
    const [mismatch] = await rows(`SELECT count(*)::INTEGER AS n FROM cloudtrail_logs WHERE account <> recipientaccountid OR region <> awsregion
      OR "timestamp" <> strftime(current_date, '%Y/%m/%d') AND "timestamp" <> strftime(current_date - 1, '%Y/%m/%d')`);
    assert.equal(mismatch!.n, 0, 'account / region / timestamp from the path');
    // Fields come through with CloudTrail's values.
    const byId = new Map(want.map((r) => [r.eventID as string, r]));
    for (const r of await rows(`SELECT eventid, eventtime, eventsource, sourceipaddress, requestid, readonly, useridentity.type AS utype,
        useridentity.sessioncontext.sessionissuer.arn AS issuer, CAST(requestparameters AS VARCHAR) AS rp FROM cloudtrail_logs`)) {
      const w = byId.get(r.eventid as string)!;
      assert.ok(w, `unknown eventid ${r.eventid}`);
      assert.equal(r.eventtime, w.eventTime);
      assert.equal(r.eventsource, w.eventSource);
      assert.equal(r.sourceipaddress, w.sourceIPAddress ?? null);
      assert.equal(r.requestid, w.requestID ?? null);
      assert.equal(r.readonly, w.readOnly === undefined ? null : String(w.readOnly));
      assert.equal(r.utype, w.userIdentity?.type ?? null);
      assert.equal(r.issuer, w.userIdentity?.sessionContext?.sessionIssuer?.arn ?? null);
      assert.deepEqual(r.rp === null ? null : JSON.parse(r.rp as string), w.requestParameters ?? null);
    }

    // Calls per event name.
    const perName = await rows(docSql('duckdb-query calls-per-event-name'));
    assert.deepEqual(
      perName.map((r) => [r.eventname, Number(r.calls)]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
      countBy(want, (r) => r.eventName),
    );
    // userIdentity.arn, a struct member.
    const perUser = await rows(docSql('duckdb-query calls-per-user'));
    assert.deepEqual(perUser.map((r) => [r.arn, Number(r.calls)]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))), countBy(want, (r) => r.userIdentity?.arn));
    // eventTime window + a JSON member of requestParameters.
    const from = Date.UTC(2026, 0, 3);
    const to = Date.UTC(2026, 0, 6);
    const inWindow = want
      .filter((r) => r.eventName === 'RunInstances' && Date.parse(r.eventTime) >= from && Date.parse(r.eventTime) < to)
      .map((r) => [r.userIdentity?.arn ?? null, r.requestParameters?.instanceType ?? null, r.eventTime]);
    const runs = await rows(docSql('duckdb-query run-instances-in-window'));
    assert.ok(inWindow.length >= 10, `RunInstances in the window: ${inWindow.length}`);
    assert.deepEqual(
      runs.map((r) => [r.arn, r.instance_type, r.eventtime]).sort((a, b) => `${a[2]}${a[0]}`.localeCompare(`${b[2]}${b[0]}`)),
      inWindow.sort((a, b) => `${a[2]}${a[0]}`.localeCompare(`${b[2]}${b[0]}`)),
    );
    // resources, a list of structs.
    const objects = await rows(docSql('duckdb-query objects-touched'));
    const wantObjects = countBy(want.flatMap((r) => (r.resources ?? []).filter((x: Json) => x.type === 'AWS::S3::Object')), (x: Json) => x.ARN);
    assert.ok(wantObjects.length >= 100);
    assert.deepEqual(objects.map((r) => [r.arn, Number(r.n)]), wantObjects);
    // Partitions from the path: one account, both regions.
    const parts = await rows(docSql('duckdb-query per-partition'));
    assert.deepEqual(
      countBy(parts.flatMap((p) => Array.from({ length: Number(p.n) }, () => `${p.account}/${p.region}`)), (k) => k),
      countBy(want, (r) => `${r.recipientAccountId}/${r.awsRegion}`),
    );
  } finally {
    db.closeSync();
    duck.closeSync();
    ct.destroy();
    await server.stop();
  }
});
