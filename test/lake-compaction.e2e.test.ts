/**
 * Lake compaction end to end (docs/lake.md "Compaction"): a real server ingests events sent to
 * POST /ingest into an event data store, a file per batch, and compacts them in the background.
 *
 * - Queries through the SDK while ingestion and compaction run: every answer counts each event once
 *   (count(*) = count(DISTINCT eventID), never fewer than the answer before), a point query finds
 *   its event once; at the end only compaction outputs are left and the AWS CLI counts every event.
 * - kill -9 in the middle of compactions (the server stalls at a step: env
 *   OPENTRAIL_TEST_COMPACTION_STALL): with the output written and its manifest published (not yet
 *   swapped in), and while the replaced files are deleted. After each kill the files on disk hold every
 *   event once (as the query engine lists them), and after the last restart every acknowledged
 *   event is in the store once and the replaced files are gone.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CreateEventDataStoreCommand, DescribeQueryCommand, GetQueryResultsCommand, StartQueryCommand, type CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { ACCOUNT_A, cliEnv, cloudTrailClient, startServer, tempDir, type StartedServer, type TestConfig } from './helpers/server.ts';
import { runAws } from './helpers/cli.ts';
import { signedFetch } from './helpers/signed-fetch.ts';
import { liveDataFiles, readManifest } from '../src/lake/storage/live-files.ts';

const ROOT_A = ACCOUNT_A.identities[0]!;
const ALICE = ACCOUNT_A.identities[1]!;
const A = ACCOUNT_A.id;
const START_MS = 60_000;
/** Small files fast (a batch every 50 ms), compaction every 200 ms, replaced files deleted 1 s after the swap. */
const CONFIG: TestConfig = {
  accounts: [ACCOUNT_A],
  lake: { maxAgeMs: 50, pollMs: 20, compaction: { intervalMs: 200, minFiles: 4, settleMs: 800, graceMs: 0 } },
  lakeQueries: { timeoutMs: 1000 },
};
const SELECTORS = [{ FieldSelectors: [{ Field: 'eventCategory', Equals: ['Management'] }, { Field: 'eventSource', Equals: ['ec2.amazonaws.com'] }] }];

let duck: DuckDBConnection;
let closeDuck: () => void;
before(async () => {
  const db = await DuckDBInstance.create(':memory:', { threads: '1' });
  duck = await db.connect();
  closeDuck = () => {
    duck.closeSync();
    db.closeSync();
  };
});
after(() => closeDuck?.());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function record(eventID: string): Record<string, unknown> {
  return {
    eventVersion: '1.11', eventTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'), eventSource: 'ec2.amazonaws.com', eventName: 'RunInstances', awsRegion: 'us-east-1',
    recipientAccountId: A, eventID, userIdentity: { type: 'IAMUser', principalId: 'AIDAEXAMPLE', arn: `arn:aws:iam::${A}:user/alice`, accountId: A, userName: 'alice' },
    requestParameters: { instanceType: 't3.micro' }, readOnly: false, managementEvent: true, eventCategory: 'Management', eventType: 'AwsApiCall',
  };
}

/** Sends `batches` bodies of `per` events to POST /ingest, `gapMs` apart (each lands in a file of its own); answers the acknowledged ids. */
async function ingest(url: string, batches: number, per: number, gapMs = 80): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < batches; i++) {
    const batch = Array.from({ length: per }, () => randomUUID());
    const res = await signedFetch(`${url}/ingest`, ALICE, { body: JSON.stringify({ Records: batch.map(record) }), headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200, await res.text());
    ids.push(...batch);
    await sleep(gapMs);
  }
  return ids;
}

async function query(ct: CloudTrailClient, statement: string): Promise<Record<string, string>[]> {
  const { QueryId } = await ct.send(new StartQueryCommand({ QueryStatement: statement }));
  for (;;) {
    const d = await ct.send(new DescribeQueryCommand({ QueryId }));
    if (d.QueryStatus === 'FINISHED') break;
    assert.ok(d.QueryStatus === 'QUEUED' || d.QueryStatus === 'RUNNING', `${d.QueryStatus}: ${d.ErrorMessage}`);
    await sleep(20);
  }
  const r = await ct.send(new GetQueryResultsCommand({ QueryId }));
  return (r.QueryResultRows ?? []).map((row) => Object.assign({}, ...row) as Record<string, string>);
}

const storeDirOf = (dataDir: string, arn: string) => join(dataDir, 'lake', A, arn.split('/').pop()!);
const partitions = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((p) => p.startsWith('eventDate=')).map((p) => join(dir, p)) : []);

/** The store's events as the query engine lists its files (live files only), read with DuckDB. */
async function onDisk(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const p of partitions(dir)) for (const f of await liveDataFiles(p, readdirSync(p))) files.push(join(p, f));
  if (files.length === 0) return [];
  const r = await duck.runAndReadAll(`SELECT eventID FROM read_parquet([${files.map((f) => `'${f}'`).join(', ')}], hive_partitioning = false, union_by_name = true)`);
  return r.getRows().map(([x]) => String(x));
}

function assertOnce(got: string[], acknowledged: readonly string[], msg: string, all = false): void {
  assert.equal(new Set(got).size, got.length, `${msg}: an event is there twice`);
  const known = new Set(acknowledged);
  assert.deepEqual(got.filter((x) => !known.has(x)), [], `${msg}: an unknown event`);
  if (all) assert.equal(got.length, acknowledged.length, `${msg}: ${acknowledged.length - got.length} acknowledged events missing`);
}

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await sleep(50);
  }
}

const names = (dir: string) => partitions(dir).flatMap((p) => readdirSync(p));
const inputsLeft = (dir: string) => names(dir).filter((n) => n.startsWith('ingest-') && n.endsWith('.parquet')).length;

test('queries while ingestion and compaction run count every event once; afterwards only merged files are left', async () => {
  const server: StartedServer = await startServer(CONFIG, { startTimeoutMs: START_MS, env: { OPENTRAIL_TEST_COMPACTION_STALL: 'published:150,swapped:150' } });
  try {
    const ct = cloudTrailClient(server.url, ROOT_A);
    const arn = (await ct.send(new CreateEventDataStoreCommand({ Name: 'compacting', AdvancedEventSelectors: SELECTORS, TerminationProtectionEnabled: false }))).EventDataStoreArn!;
    const id = arn.split('/').pop()!;
    const dir = storeDirOf(server.dataDir, arn);
    let done = false;
    const sent: string[] = [];
    const load = (async () => {
      try {
        sent.push(...(await ingest(server.url, 12, 20)));
      } finally {
        done = true;
      }
    })();
    let last = 0;
    let queries = 0;
    let sawSwap = false;
    // Queries until ingestion ended, everything was merged and the replaced files deleted.
    for (let settled = false; !settled;) {
      const ackBefore = done ? sent.length : 0;
      const [row] = await query(ct, `SELECT count(*) AS n, count(DISTINCT eventID) AS d FROM ${id}`);
      queries++;
      const n = Number(row!.n);
      assert.equal(n, Number(row!.d), `query ${queries}: an event counted twice`);
      assert.ok(n >= last, `query ${queries}: ${n} events after ${last} (an event disappeared)`);
      last = n;
      if (sent.length > 0 && n > 0) {
        // Ingestion writes the log in order: the first n events sent are the ones counted.
        const pick = sent[Math.floor(Math.random() * Math.min(sent.length, n))]!;
        const point = await query(ct, `SELECT eventID FROM ${id} WHERE eventID = '${pick}'`);
        assert.equal(point.length, 1, `point query: ${point.length} rows for ${pick}`);
      }
      sawSwap ||= names(dir).some((x) => x.endsWith('.replaces'));
      settled = done && n >= ackBefore && ackBefore > 0 && inputsLeft(dir) === 0;
      assert.ok(queries < 400, 'compaction did not finish');
    }
    await load;
    assert.ok(sawSwap, 'a compaction happened while the queries ran');
    // The AWS CLI reads the answer over the merged store: every event, once (one CLI call: each is slow on a busy machine).
    const { QueryId } = await ct.send(new StartQueryCommand({ QueryStatement: `SELECT count(*) AS n, count(DISTINCT eventID) AS d FROM ${id}` }));
    await until('the query', async () => (await ct.send(new DescribeQueryCommand({ QueryId }))).QueryStatus === 'FINISHED');
    const cli = await runAws(['--endpoint-url', server.url, 'cloudtrail', 'get-query-results', '--query-id', QueryId!, '--output', 'json'], cliEnv(ROOT_A));
    assert.equal(cli.code, 0, cli.stderr);
    assert.deepEqual((JSON.parse(cli.stdout) as { QueryResultRows: unknown }).QueryResultRows, [[{ n: String(sent.length) }, { d: String(sent.length) }]]);
    const data = names(dir).filter((n) => n.endsWith('.parquet'));
    assert.ok(data.every((n) => n.startsWith('compact-')), `only merged files are left: ${data.join(', ')}`);
    // Each output merges several files (groups of minFiles while the partition is written, of two or
    // more once it settles), so at most half as many files as batches are left; how many exactly
    // depends on how the batches fell across compaction rounds (4 seen on an idle CI machine).
    assert.ok(data.length <= 6, `${data.length} files for 12 batches`);
    assert.equal((await query(ct, `SELECT eventID FROM ${id} WHERE eventID = '${sent[7]}'`)).length, 1);
  } finally {
    await server.stop();
  }
});

test('kill -9 mid-compaction (output written and its manifest published; replaced files half deleted): every event once after each, none lost', async () => {
  const dataDir = tempDir();
  const start = (step?: string) => startServer(CONFIG, { dataDir, startTimeoutMs: START_MS, ...(step ? { env: { OPENTRAIL_TEST_COMPACTION_STALL: `${step}:600000` } } : {}) });
  let server = await start('published');
  const ct0 = cloudTrailClient(server.url, ROOT_A);
  const arn = (await ct0.send(new CreateEventDataStoreCommand({ Name: 'crashing', AdvancedEventSelectors: SELECTORS, TerminationProtectionEnabled: false }))).EventDataStoreArn!;
  const dir = storeDirOf(dataDir, arn);
  const sent: string[] = [];
  try {
    // 1. Stalled with the manifest and sidecar in the partition, the output written in the store's
    // `.compact-*` folder and not yet swapped in.
    sent.push(...(await ingest(server.url, 5, 20)));
    await until('a published manifest', () => names(dir).some((n) => n.endsWith('.replaces') && !names(dir).includes(n.slice(0, -'.replaces'.length))));
    assert.ok(readdirSync(dir).some((d) => d.startsWith('.compact-') && readdirSync(join(dir, d)).some((f) => f.endsWith('.parquet'))), 'the output in its folder');
    await server.kill();
    assertOnce(await onDisk(dir), sent, 'killed with the manifest published');

    // 2. Ingestion goes on; stalled after the first replaced file was deleted.
    server = await start('deleting');
    sent.push(...(await ingest(server.url, 5, 20)));
    const halfDeleted = async () => {
      for (const p of partitions(dir)) {
        const here = readdirSync(p);
        for (const m of here.filter((n) => n.endsWith('.replaces'))) {
          const out = m.slice(0, -'.replaces'.length);
          const manifest = here.includes(out) ? await readManifest(join(p, out)) : undefined;
          if (manifest && manifest.inputs.some((i) => !here.includes(i)) && manifest.inputs.some((i) => here.includes(i))) return true;
        }
      }
      return false;
    };
    await until('replaced files half deleted', halfDeleted);
    await server.kill();
    assertOnce(await onDisk(dir), sent, 'killed while deleting replaced files');

    // 3. A clean run: every acknowledged event once, through the API, and the replaced files gone.
    server = await start();
    const ct = cloudTrailClient(server.url, ROOT_A);
    const id = arn.split('/').pop()!;
    let row: Record<string, string> = {};
    await until('every event in the store', async () => {
      [row = {}] = await query(ct, `SELECT count(*) AS n, count(DISTINCT eventID) AS d FROM ${id}`);
      return Number(row.n) >= sent.length;
    });
    assert.deepEqual(row, { n: String(sent.length), d: String(sent.length) });
    await until('the replaced files deleted', () => inputsLeft(dir) === 0);
    assertOnce(await onDisk(dir), sent, 'after the restarts', true);
    assert.equal(names(dir).filter((n) => n.endsWith('.parquet') && !n.startsWith('compact-')).length, 0);
    assert.deepEqual(readdirSync(dir).filter((d) => d.startsWith('.compact-')), [], 'the crashed compactions\' folders are gone');
  } finally {
    await server.stop();
  }
});
