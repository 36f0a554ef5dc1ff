/**
 * CloudTrail Lake queries through a real server over HTTP with the SDK: the server is started in
 * this process (src/server.ts) with a real `LakeCatalog` over Parquet files written from fixture
 * records by the writer ingestion uses (test/helpers/lake.ts), since CreateEventDataStore is not
 * on this branch. Every answer is compared with one computed here from the same records.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CancelQueryCommand, CloudTrailClient, DescribeQueryCommand, GetQueryResultsCommand, ListQueriesCommand, LookupEventsCommand, StartQueryCommand,
  type GetQueryResultsCommandOutput,
} from '@aws-sdk/client-cloudtrail';
import { defaultConfig, resolveConfig } from '../src/config/index.ts';
import { startServer, type RunningServer } from '../src/server.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ACCOUNT_A, ACCOUNT_B, BIN, cliEnv, cloudTrailClient, tempDir } from './helpers/server.ts';
import { fails } from './helpers/aws-errors.ts';
import { corpusRecords, TestLakeCatalog } from './helpers/lake.ts';
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';
import { join } from 'node:path';

const STORE_A = 'a1b2c3d4-0000-4000-8000-00000000000a';
const STORE_A2 = 'a1b2c3d4-0000-4000-8000-0000000000a2';
const STORE_B = 'b1b2c3d4-0000-4000-8000-00000000000b';
const { lines, records } = corpusRecords('stratus-red-team.jsonl', 'awsdocs-kms.jsonl');
const kms = corpusRecords('awsdocs-kms.jsonl');

type Rec = Record<string, any>;

let server: RunningServer;
let ct: CloudTrailClient;
let ctB: CloudTrailClient;

async function waitFor(queryId: string, client = ct): Promise<string> {
  for (;;) {
    const d = await client.send(new DescribeQueryCommand({ QueryId: queryId }));
    if (d.QueryStatus !== 'QUEUED' && d.QueryStatus !== 'RUNNING') return d.QueryStatus!;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs a statement to the end and returns every row (following NextToken) as objects. */
async function query(statement: string, pageSize?: number): Promise<{ rows: Record<string, string>[]; pages: GetQueryResultsCommandOutput[] }> {
  const { QueryId } = await ct.send(new StartQueryCommand({ QueryStatement: statement }));
  assert.match(QueryId!, /^[a-f0-9-]{36}$/);
  const status = await waitFor(QueryId!);
  if (status !== 'FINISHED') {
    const d = await ct.send(new DescribeQueryCommand({ QueryId }));
    assert.fail(`query ${status}: ${d.ErrorMessage}`);
  }
  const pages: GetQueryResultsCommandOutput[] = [];
  let token: string | undefined;
  do {
    const page = await ct.send(new GetQueryResultsCommand({ QueryId, NextToken: token, MaxQueryResults: pageSize }));
    pages.push(page);
    token = page.NextToken;
  } while (token);
  const rows = pages.flatMap((p) => p.QueryResultRows!.map((row) => Object.assign({}, ...row) as Record<string, string>));
  return { rows, pages };
}

const countBy = <T,>(xs: T[], key: (x: T) => string | undefined): Map<string, number> => {
  const m = new Map<string, number>();
  for (const x of xs) {
    const k = key(x);
    if (k !== undefined) m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
};

/** A statement that runs for minutes (a four-way cross join of the store) unless stopped. */
const HEAVY = `SELECT count(DISTINCT a.eventID || b.eventID || c.eventID || d.eventID) FROM ${STORE_A} a CROSS JOIN ${STORE_A} b CROSS JOIN ${STORE_A} c CROSS JOIN ${STORE_A} d`;

let catalog: TestLakeCatalog;
let config: ReturnType<typeof resolveConfig>;

before(async () => {
  catalog = new TestLakeCatalog();
  await catalog.addStore(ACCOUNT_A.id, STORE_A, lines);
  await catalog.addStore(ACCOUNT_A.id, STORE_A2, kms.lines);
  await catalog.addStore(ACCOUNT_B.id, STORE_B, lines.slice(0, 10));
  config = resolveConfig({
    dataDir: tempDir(), port: 0, accounts: [ACCOUNT_A, ACCOUNT_B], logLevel: 'silent',
    lakeQueries: { maxConcurrent: 2, timeoutMs: 5000, memoryLimit: '512MB', threads: 1, maxResultRows: 10_000, maxResultMiB: 1 },
  }, defaultConfig(), new Date().toISOString());
  server = await startServer(config, { lakeCatalog: catalog, logError: process.env.LAKE_DEBUG ? (m, e) => console.error(m, e) : () => undefined });
  ct = cloudTrailClient(server.url, ACCOUNT_A.identities[0]!);
  ctB = cloudTrailClient(server.url, ACCOUNT_B.identities[0]!);
});

after(async () => {
  await server?.close();
});

describe('answers compared with the fixture records', () => {
  test('count, and the statistics', async () => {
    const { QueryId } = await ct.send(new StartQueryCommand({ QueryStatement: `SELECT count(*) AS n FROM ${STORE_A}` }));
    assert.equal(await waitFor(QueryId!), 'FINISHED');
    const d = await ct.send(new DescribeQueryCommand({ QueryId }));
    assert.equal(d.QueryString, `SELECT count(*) AS n FROM ${STORE_A}`);
    assert.equal(d.QueryStatistics!.EventsScanned, records.length);
    assert.ok(d.QueryStatistics!.BytesScanned! > 0);
    assert.ok(d.QueryStatistics!.CreationTime instanceof Date);
    const r = await ct.send(new GetQueryResultsCommand({ QueryId }));
    assert.deepEqual(r.QueryResultRows, [[{ n: String(records.length) }]]);
    assert.deepEqual(r.QueryStatistics, { ResultsCount: 1, TotalResultsCount: 1, BytesScanned: d.QueryStatistics!.BytesScanned });
  });

  test('GROUP BY eventSource, eventName with ORDER BY and the store named by its ARN', async () => {
    const { rows } = await query(`SELECT eventSource, eventName, count(*) AS n FROM arn:aws:cloudtrail:us-east-1:${ACCOUNT_A.id}:eventdatastore/${STORE_A} GROUP BY eventSource, eventName ORDER BY n DESC, eventSource, eventName`);
    const expected = [...countBy(records, (r) => `${r.eventSource}|${r.eventName}`)]
      .sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))
      .map(([k, n]) => ({ eventSource: k.split('|')[0]!, eventName: k.split('|')[1]!, n: String(n) }));
    assert.deepEqual(rows, expected);
  });

  test('nested fields: userIdentity, sessionIssuer, element_at on requestParameters, UNNEST of resources', async () => {
    const { rows } = await query(`SELECT userIdentity.sessionContext.sessionIssuer.userName AS issuer, count(*) AS n FROM ${STORE_A} WHERE userIdentity.type = 'AssumedRole' GROUP BY 1 ORDER BY 1`);
    const expected = [...countBy(records.filter((r: Rec) => r.userIdentity?.type === 'AssumedRole'), (r: Rec) => r.userIdentity?.sessionContext?.sessionIssuer?.userName ?? '\u0000')]
      .sort((x, y) => (x[0] < y[0] ? -1 : 1))
      .map(([k, n]) => (k === '\u0000' ? { n: String(n) } : { issuer: k, n: String(n) }));
    // NULL sorts last in DuckDB's ascending order (and Trino's).
    assert.deepEqual(rows, [...expected.filter((e) => 'issuer' in e), ...expected.filter((e) => !('issuer' in e))]);

    const keyIds = await query(`SELECT eventID, element_at(requestParameters, 'keyId') AS k FROM ${STORE_A} WHERE eventSource = 'kms.amazonaws.com' AND element_at(requestParameters, 'keyId') IS NOT NULL ORDER BY eventID, k`);
    const withKey = records.filter((r: Rec) => r.eventSource === 'kms.amazonaws.com' && r.requestParameters?.keyId !== undefined && r.requestParameters?.keyId !== null);
    assert.deepEqual(keyIds.rows, withKey.map((r: Rec) => ({ eventID: r.eventID, k: typeof r.requestParameters.keyId === 'string' ? r.requestParameters.keyId : JSON.stringify(r.requestParameters.keyId) }))
      .sort((x, y) => (x.eventID < y.eventID ? -1 : x.eventID > y.eventID ? 1 : x.k < y.k ? -1 : x.k > y.k ? 1 : 0)));

    const res = await query(`SELECT count(*) AS n, count(DISTINCT r.ARN) AS arns FROM ${STORE_A} CROSS JOIN UNNEST(resources) AS t(r)`);
    const all = records.flatMap((r: Rec) => (Array.isArray(r.resources) ? r.resources : []) as Rec[]);
    assert.deepEqual(res.rows, [{ n: String(all.length), arns: String(new Set(all.map((x) => x.ARN).filter((x) => x != null)).size) }]);
  });

  test('a time window against string literals, and times printed as Lake prints them', async () => {
    const from = '2024-07-30 21:00:00';
    const to = '2024-07-31 00:00:00';
    const { rows } = await query(`SELECT eventID, eventTime FROM ${STORE_A} WHERE eventTime >= '${from}' AND eventTime < '${to}' ORDER BY eventTime, eventID`);
    const inWindow = records.filter((r) => typeof r.eventTime === 'string' && Date.parse(r.eventTime) >= Date.parse(`${from}Z`) && Date.parse(r.eventTime) < Date.parse(`${to}Z`));
    assert.ok(inWindow.length > 0 && inWindow.length < records.length, 'the window holds some records, not all');
    const lake = (t: string) => new Date(t).toISOString().replace('T', ' ').replace('Z', '');
    assert.deepEqual(rows, inWindow.map((r) => ({ eventID: String(r.eventID), eventTime: lake(String(r.eventTime)) }))
      .sort((x, y) => (x.eventTime < y.eventTime ? -1 : x.eventTime > y.eventTime ? 1 : x.eventID < y.eventID ? -1 : 1)));
  });

  test('pages: MaxQueryResults and NextToken give every row once, in order', async () => {
    const all = await query(`SELECT eventID FROM ${STORE_A} ORDER BY eventID`);
    const paged = await query(`SELECT eventID FROM ${STORE_A} ORDER BY eventID`, 7);
    assert.equal(paged.pages.length, Math.ceil(records.length / 7));
    assert.ok(paged.pages.slice(0, -1).every((p) => p.QueryResultRows!.length === 7 && p.QueryStatistics!.ResultsCount === 7 && p.QueryStatistics!.TotalResultsCount === records.length));
    assert.deepEqual(paged.rows, all.rows);
    assert.deepEqual(all.rows.map((r) => r.eventID), records.map((r) => String(r.eventID)).sort());
  });

  test('a join between two of the caller\'s stores', async () => {
    const { rows } = await query(`SELECT count(*) AS n FROM ${STORE_A} a JOIN ${STORE_A2} b ON a.eventID = b.eventID`);
    const ids = countBy(records, (r) => String(r.eventID));
    const n = kms.records.reduce((s, r) => s + (ids.get(String(r.eventID)) ?? 0), 0);
    assert.deepEqual(rows, [{ n: String(n) }]);
  });
});

describe('point queries (WHERE eventID = ...) and the eventID sidecars', () => {
  const STORE_P = 'c1b2c3d4-0000-4000-8000-00000000000c';
  const storeFiles = (): string[] => {
    const dir = join(catalog.root, ACCOUNT_A.id, STORE_P);
    return readdirSync(dir).filter((p) => p.startsWith('eventDate=')).flatMap((p) => readdirSync(join(dir, p)).map((f) => join(dir, p, f)));
  };
  /** The eventIDs of a data file, from the records: one file per UTC day of eventTime. */
  const idsIn = (file: string): string[] => records.filter((r: Rec) => file.includes(`/eventDate=${String(r.eventTime).slice(0, 10)}/`)).map((r: Rec) => String(r.eventID));
  const bytesScanned = async (statement: string): Promise<number> => {
    const { QueryId } = await ct.send(new StartQueryCommand({ QueryStatement: statement }));
    assert.equal(await waitFor(QueryId!), 'FINISHED');
    return (await ct.send(new DescribeQueryCommand({ QueryId }))).QueryStatistics!.BytesScanned!;
  };

  test('only the files whose sidecar holds the id are read, files without a sidecar always are, and other forms read every file', async () => {
    await catalog.addStore(ACCOUNT_A.id, STORE_P, lines);
    const data = storeFiles().filter((f) => f.endsWith('.parquet'));
    assert.ok(data.length >= 2, `the fixture spans ${data.length} files`);
    for (const f of data) assert.ok(existsSync(`${f}.eventids`), `${f} has its sidecar`);
    const all = data.reduce((n, f) => n + statSync(f).size, 0);
    const expected = (id: string) => records.filter((r: Rec) => r.eventID === id).map((r: Rec) => ({ eventID: r.eventID, eventName: r.eventName }));

    const target = records[Math.floor(records.length / 2)] as Rec;
    const point = `SELECT eventID, eventName FROM ${STORE_P} WHERE eventID = '${target.eventID}'`;
    assert.deepEqual((await query(point)).rows, expected(target.eventID));
    const narrowed = await bytesScanned(point);
    assert.ok(narrowed > 0 && narrowed < all, `read ${narrowed} of ${all} bytes`);
    // The AND form and a qualified column narrow too; an id no file holds reads no file.
    assert.equal(await bytesScanned(`SELECT count(*) FROM ${STORE_P} AS s WHERE s.eventName IS NOT NULL AND '${target.eventID}' = s.eventID`), narrowed);
    assert.deepEqual((await query(`SELECT count(*) AS n FROM ${STORE_P} WHERE eventID = 'no-such-event'`)).rows, [{ n: '0' }]);
    assert.equal(await bytesScanned(`SELECT count(*) AS n FROM ${STORE_P} WHERE eventID = 'no-such-event'`), 0);
    // OR, or the store read twice: every file.
    const other = records.find((r: Rec) => r.eventName !== target.eventName) as Rec;
    const either = `SELECT eventID, eventName FROM ${STORE_P} WHERE eventID = '${target.eventID}' OR eventName = '${other.eventName}' ORDER BY eventID`;
    const want = records.filter((r: Rec) => r.eventID === target.eventID || r.eventName === other.eventName).map((r: Rec) => ({ eventID: r.eventID, eventName: r.eventName }));
    assert.deepEqual((await query(either)).rows, want.sort((a, b) => (a.eventID < b.eventID ? -1 : a.eventID > b.eventID ? 1 : 0)));
    assert.equal(await bytesScanned(either), all);
    assert.equal(await bytesScanned(`SELECT count(*) FROM ${STORE_P} WHERE eventID = '${target.eventID}' AND eventName IN (SELECT eventName FROM ${STORE_P})`), all);

    // A file without its sidecar (written before sidecars, or a crash between the renames) is read.
    const orphan = data.find((f) => !idsIn(f).includes(target.eventID))!;
    const orphanId = idsIn(orphan)[0]!;
    rmSync(`${orphan}.eventids`);
    assert.deepEqual((await query(`SELECT eventID, eventName FROM ${STORE_P} WHERE eventID = '${orphanId}'`)).rows, expected(orphanId));
    assert.equal(await bytesScanned(point), narrowed + statSync(orphan).size);
  });

  test('SELECT * of a point query answers what reading every file answers, with sidecars of format 2, of format 1 (no times), and none', async () => {
    const STORE_S = 'c1b2c3d4-0000-4000-8000-0000000000c5';
    await catalog.addStore(ACCOUNT_A.id, STORE_S, lines);
    const dir = join(catalog.root, ACCOUNT_A.id, STORE_S);
    const data = readdirSync(dir).filter((p) => p.startsWith('eventDate=')).flatMap((p) => readdirSync(join(dir, p)).filter((f) => f.endsWith('.parquet')).map((f) => join(dir, p, f)));
    const ids = [3, 90, 180, 300, records.length - 2].map((i) => String((records[i] as Rec).eventID));
    const same = async () => {
      for (const id of ids) {
        // IN is not a point lookup: it reads every file as it is.
        const whole = (await query(`SELECT * FROM ${STORE_S} WHERE eventID IN ('${id}')`)).rows;
        assert.equal(whole.length, records.filter((r: Rec) => r.eventID === id).length);
        assert.deepEqual((await query(`SELECT * FROM ${STORE_S} WHERE eventID = '${id}'`)).rows, whole, id);
      }
    };
    await same();
    // Sidecars as written before format 2 (eventID only), and one file without any.
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      for (const f of data) await conn.run(`COPY (SELECT "eventID" FROM read_parquet('${f}.eventids')) TO '${f}.eventids.v1' (FORMAT parquet)`);
    } finally {
      conn.closeSync();
      db.closeSync();
    }
    for (const f of data) renameSync(`${f}.eventids.v1`, `${f}.eventids`);
    rmSync(`${data[0]}.eventids`);
    await same();
  });
});

describe('refusals', () => {
  test('malformed SQL, not a SELECT, several statements, unknown column: InvalidQueryStatementException at StartQuery', async () => {
    await fails(ct.send(new StartQueryCommand({ QueryStatement: `SELEC eventName FROM ${STORE_A}` })), 'InvalidQueryStatementException', 400, /not valid SQL: syntax error/);
    await fails(ct.send(new StartQueryCommand({ QueryStatement: `DELETE FROM ${STORE_A}` })), 'InvalidQueryStatementException', 400, /Only SELECT/);
    await fails(ct.send(new StartQueryCommand({ QueryStatement: `SELECT 1 FROM ${STORE_A}; SELECT 2 FROM ${STORE_A}` })), 'InvalidQueryStatementException', 400, /exactly one SELECT/);
    await fails(ct.send(new StartQueryCommand({ QueryStatement: `SELECT noSuchColumn FROM ${STORE_A}` })), 'InvalidQueryStatementException', 400, /noSuchColumn/);
    await fails(ct.send(new StartQueryCommand({ QueryStatement: 'SELECT 1' })), 'InvalidQueryStatementException', 400, /at least one event data store/);
  });

  test('a store of another account, and one that does not exist: EventDataStoreNotFoundException', async () => {
    await fails(ct.send(new StartQueryCommand({ QueryStatement: `SELECT count(*) FROM ${STORE_B}` })), 'EventDataStoreNotFoundException', 404, new RegExp(STORE_B));
    await fails(ct.send(new StartQueryCommand({ QueryStatement: `SELECT count(*) FROM ${STORE_A} JOIN ${STORE_B} USING (eventID)` })), 'EventDataStoreNotFoundException', 404);
    // A's own store, asked from another Region: not found either.
    const west = cloudTrailClient(server.url, ACCOUNT_A.identities[0]!, 'eu-west-1');
    await fails(west.send(new StartQueryCommand({ QueryStatement: `SELECT count(*) FROM ${STORE_A}` })), 'EventDataStoreNotFoundException', 404, new RegExp(STORE_A));
    await fails(west.send(new ListQueriesCommand({ EventDataStore: STORE_A })), 'EventDataStoreNotFoundException', 404);
    // B reads its own store.
    const { QueryId } = await ctB.send(new StartQueryCommand({ QueryStatement: `SELECT count(*) AS n FROM ${STORE_B}` }));
    assert.equal(await waitFor(QueryId!, ctB), 'FINISHED');
    assert.deepEqual((await ctB.send(new GetQueryResultsCommand({ QueryId }))).QueryResultRows, [[{ n: '10' }]]);
    // ... and A cannot see B's query.
    await fails(ct.send(new DescribeQueryCommand({ QueryId })), 'QueryIdNotFoundException', 404);
  });

  test('/etc/passwd and other files, settings and the engine\'s catalog cannot be reached', async () => {
    for (const q of [
      "SELECT * FROM read_csv('/etc/passwd')",
      "SELECT * FROM '/etc/passwd'",
      `SELECT * FROM ${STORE_A} CROSS JOIN read_text('/etc/passwd')`,
      `SELECT * FROM ${STORE_A} WHERE eventName IN (SELECT content FROM read_text('/etc/passwd'))`,
      `SELECT * FROM ${STORE_A} CROSS JOIN glob('/etc/*')`,
      `SELECT current_setting('allowed_directories') FROM ${STORE_A}`,
      `SELECT * FROM ${STORE_A} CROSS JOIN query('SELECT 1')`,
      `SELECT * FROM information_schema.tables CROSS JOIN ${STORE_A}`,
      "COPY (SELECT 1) TO '/tmp/x.csv'",
      "ATTACH '/tmp/x.db'",
      'PRAGMA version',
      "SET enable_external_access = true",
      "INSTALL httpfs",
    ]) {
      await fails(ct.send(new StartQueryCommand({ QueryStatement: q })), 'InvalidQueryStatementException', 400, undefined);
    }
  });

  test('size-taking functions with large or non-literal sizes: InvalidQueryStatementException naming the function', async () => {
    for (const [q, fn] of [
      [`SELECT length(repeat(eventName, 2000000000)) FROM ${STORE_A}`, 'repeat'],
      [`SELECT length(repeat('ab', 2000000000)) FROM ${STORE_A}`, 'repeat'],
      [`SELECT lpad(eventName, 2000000000, 'x') FROM ${STORE_A}`, 'lpad'],
      [`SELECT rpad(eventName, length(eventJson) * 100000, 'x') FROM ${STORE_A}`, 'rpad'],
      [`SELECT x FROM ${STORE_A} CROSS JOIN UNNEST(sequence(1, 100000000)) AS t(x)`, 'sequence'],
      [`SELECT len(range(0, 100000000)) FROM ${STORE_A}`, 'range'],
      [`SELECT len(generate_series(1, 20000)) FROM ${STORE_A}`, 'generate_series'],
      [`SELECT len(list_resize([1], 100000000)) FROM ${STORE_A}`, 'list_resize'],
      [`SELECT format('{:>2000000000}', eventName) FROM ${STORE_A}`, 'format'],
      [`SELECT transform(sequence(1, 100), x -> repeat('a', 100)) FROM ${STORE_A}`, 'repeat'],
      [`SELECT len(sequence(1, 6000)) + len(sequence(1, 6000)) FROM ${STORE_A}`, 'sequence'],
    ] as const) {
      await fails(ct.send(new StartQueryCommand({ QueryStatement: q })), 'InvalidQueryStatementException', 400, new RegExp(`function ${fn}\\b`));
    }
    // Small literal sizes run as before.
    const { rows } = await query(`SELECT lpad('7', 3, '0') AS p, repeat('-', 5) AS r, cardinality(sequence(1, 100)) AS n FROM ${STORE_A} LIMIT 1`);
    assert.deepEqual(rows, [{ p: '007', r: '-----', n: '100' }]);
  });

  test('results past lakeQueries.maxResultRows or maxResultMiB: FAILED with a message naming the limit', async () => {
    // One row past the cap (an unbounded cross join could reach the 5 s time limit first on a loaded machine).
    const { QueryId } = await ct.send(new StartQueryCommand({ QueryStatement: `SELECT a.eventID AS x, b.eventID AS y FROM ${STORE_A} a, ${STORE_A} b LIMIT 10001` }));
    assert.equal(await waitFor(QueryId!), 'FAILED');
    assert.match((await ct.send(new DescribeQueryCommand({ QueryId }))).ErrorMessage!, /more than 10000 rows \(lakeQueries\.maxResultRows\)/);
    // 9,000 rows of about 2 KB of hex each (distinct, so little compression): more than 1 MiB.
    const wide = Array.from({ length: 60 }, (_, i) => `md5(a.eventID || b.eventID || '${i}')`).join(' || ');
    const big = await ct.send(new StartQueryCommand({ QueryStatement: `SELECT ${wide} AS w FROM ${STORE_A} a, ${STORE_A} b LIMIT 9000` }));
    assert.equal(await waitFor(big.QueryId!), 'FAILED');
    assert.match((await ct.send(new DescribeQueryCommand({ QueryId: big.QueryId }))).ErrorMessage!, /1 MiB \(lakeQueries\.maxResultMiB\)/);
    // At the cap, not past it: FINISHED.
    assert.equal((await query(`SELECT a.eventID AS x FROM ${STORE_A} a, ${STORE_A} b LIMIT 10000`)).rows.length, 10_000);
  });

  test('QueryAlias, DeliveryS3Uri and unknown query ids', async () => {
    await fails(ct.send(new StartQueryCommand({ QueryAlias: 'x' })), 'InvalidParameterException', 400);
    // DeliveryS3Uri to a bucket that does not exist (deliveries themselves: test/lake-query-delivery.e2e.test.ts).
    await fails(ct.send(new StartQueryCommand({ QueryStatement: `SELECT 1 FROM ${STORE_A}`, DeliveryS3Uri: 's3://bucket/prefix' })), 'S3BucketDoesNotExistException', 404);
    await fails(ct.send(new DescribeQueryCommand({ QueryId: '00000000-0000-4000-8000-000000000000' })), 'QueryIdNotFoundException', 404);
    await fails(ct.send(new GetQueryResultsCommand({ QueryId: '00000000-0000-4000-8000-000000000000' })), 'QueryIdNotFoundException', 404);
  });
});

describe('running queries', () => {
  test('a heavy query runs while LookupEvents calls answer; it is cancelled; ListQueries and CancelQuery of an ended query', async () => {
    const { QueryId } = await ct.send(new StartQueryCommand({ QueryStatement: HEAVY }));
    for (;;) {
      const d = await ct.send(new DescribeQueryCommand({ QueryId }));
      if (d.QueryStatus === 'RUNNING') break;
      assert.equal(d.QueryStatus, 'QUEUED');
      await new Promise((r) => setTimeout(r, 10));
    }
    for (let i = 0; i < 5; i++) {
      const page = await ct.send(new LookupEventsCommand({ MaxResults: 5 }));
      assert.ok(Array.isArray(page.Events));
    }
    assert.equal((await ct.send(new DescribeQueryCommand({ QueryId }))).QueryStatus, 'RUNNING', 'the query was still running while LookupEvents answered');
    const c = await ct.send(new CancelQueryCommand({ QueryId }));
    assert.deepEqual([c.QueryId, c.QueryStatus], [QueryId, 'CANCELLED']);
    assert.equal(await waitFor(QueryId!), 'CANCELLED');
    const r = await ct.send(new GetQueryResultsCommand({ QueryId }));
    assert.equal(r.QueryStatus, 'CANCELLED');
    assert.deepEqual(r.QueryResultRows, []);
    await fails(ct.send(new CancelQueryCommand({ QueryId })), 'InactiveQueryException', 400);

    const cancelled = await ct.send(new ListQueriesCommand({ EventDataStore: STORE_A, QueryStatus: 'CANCELLED' }));
    assert.ok(cancelled.Queries!.some((q) => q.QueryId === QueryId && q.QueryStatus === 'CANCELLED' && q.CreationTime instanceof Date));
    assert.ok(cancelled.Queries!.every((q) => q.QueryStatus === 'CANCELLED'));
    const onA2 = await ct.send(new ListQueriesCommand({ EventDataStore: `arn:aws:cloudtrail:us-east-1:${ACCOUNT_A.id}:eventdatastore/${STORE_A2}` }));
    assert.ok(!onA2.Queries!.some((q) => q.QueryId === QueryId), 'a query is listed under the stores it read only');
    const first = await ct.send(new ListQueriesCommand({ EventDataStore: STORE_A, MaxResults: 2 }));
    assert.equal(first.Queries!.length, 2);
    const second = await ct.send(new ListQueriesCommand({ EventDataStore: STORE_A, MaxResults: 2, NextToken: first.NextToken }));
    assert.ok(second.Queries!.every((q) => !first.Queries!.some((f) => f.QueryId === q.QueryId)));
    await fails(ct.send(new ListQueriesCommand({ EventDataStore: STORE_B })), 'EventDataStoreNotFoundException', 404);
  });

  test('a query past the time limit is TIMED_OUT, with its message', async () => {
    const { QueryId } = await ct.send(new StartQueryCommand({ QueryStatement: HEAVY }));
    assert.equal(await waitFor(QueryId!), 'TIMED_OUT');
    const d = await ct.send(new DescribeQueryCommand({ QueryId }));
    assert.match(d.ErrorMessage!, /longer than 5000 ms/);
    assert.ok(d.QueryStatistics!.ExecutionTimeInMillis! >= 5000);
  });

  test('a query that fails while running (a bad cast) is FAILED with DuckDB\'s message', async () => {
    const { QueryId } = await ct.send(new StartQueryCommand({ QueryStatement: `SELECT CAST(eventName AS INTEGER) FROM ${STORE_A}` }));
    assert.equal(await waitFor(QueryId!), 'FAILED');
    const d = await ct.send(new DescribeQueryCommand({ QueryId }));
    assert.match(d.ErrorMessage!, /Conversion Error|Could not convert/);
  });
});

describe('opentrail query', () => {
  test('prints the rows (CSV here; the table and JSON forms: src/cli/query.test.ts); a refused statement exits 1 with the error', async () => {
    const run = (...args: string[]) => promisify(execFile)(process.execPath, [BIN, 'query', ...args, '--url', server.url], { env: cliEnv(ACCOUNT_A.identities[0]!) });
    const sql = `SELECT eventName, count(*) AS n FROM ${STORE_A} GROUP BY eventName ORDER BY n DESC, eventName LIMIT 3`;
    const counts = [...countBy(records, (r) => String(r.eventName))].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1)).slice(0, 3);
    const csv = await run(sql, '--output', 'csv');
    assert.equal(csv.stdout, ['eventName,n', ...counts.map(([k, n]) => `${k},${n}`)].join('\n') + '\n');
    // --progress: plain progress lines on stderr (not a terminal), the rows on stdout unchanged.
    const shown = await run(sql, '--output', 'csv', '--progress');
    assert.equal(shown.stdout, csv.stdout);
    assert.match(shown.stderr, new RegExp(`^query: ${counts.length}/${counts.length} rows \\(100%\\), done in \\d+s$`, 'm'));
    assert.equal(csv.stderr, '', 'no progress lines for a short run by default');
    const bad = await run(`SELECT * FROM read_csv('/etc/passwd')`).then(() => assert.fail('should exit 1'), (e: { code: number; stderr: string }) => e);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /InvalidQueryStatementException: The table function read_csv is not allowed/);
  });
});

describe('after a restart (last: it restarts the server)', () => {
  test('records survive: a finished query is described and paged again; one the stop interrupted is FAILED', async () => {
    const done = await ct.send(new StartQueryCommand({ QueryStatement: `SELECT count(*) AS n FROM ${STORE_A2}` }));
    assert.equal(await waitFor(done.QueryId!), 'FINISHED');
    const heavy = await ct.send(new StartQueryCommand({ QueryStatement: HEAVY }));
    await server.close();
    server = await startServer(config, { lakeCatalog: catalog, logError: () => undefined });
    ct = cloudTrailClient(server.url, ACCOUNT_A.identities[0]!);
    assert.deepEqual((await ct.send(new GetQueryResultsCommand({ QueryId: done.QueryId }))).QueryResultRows, [[{ n: String(kms.records.length) }]]);
    const d = await ct.send(new DescribeQueryCommand({ QueryId: heavy.QueryId }));
    assert.equal(d.QueryStatus, 'FAILED');
    assert.match(d.ErrorMessage!, /server stopped/);
  });
});
