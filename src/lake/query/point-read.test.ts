import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { corpusRecords, TestLakeCatalog } from '../../../test/helpers/lake.ts';
import { lakeRowsSql } from '../schema.ts';
import { eventIdHits } from '../storage/eventid-index.ts';
import { PointReader, type PointFile } from './point-read.ts';

/** Every fixture file of CloudTrail records (test/fixtures/corpus; attribution in its README). */
const CORPUS = ['stratus-red-team.jsonl', 'awsdocs-kms.jsonl', 'awsdocs-iam.jsonl', 'awsdocs-s3.jsonl', 'awsdocs-cloudwatch.jsonl', 'awsdocs-cloudwatch-events.jsonl',
  'awsdocs-devops-guru.jsonl', 'awsdocs-eventbridge.jsonl', 'cloud-custodian.jsonl', 'cloud-custodian-eventbridge-envelopes.jsonl', 'plaso.jsonl'];
const ACCOUNT = '111122223333';
const STORE = 'd0d0d0d0-0000-4000-8000-00000000000d';

let corpusStore: Promise<{ files: PointFile[]; records: Record<string, unknown>[] }> | undefined;
/** One store of the corpus for the file's tests (written once). */
const storeOfCorpus = () => (corpusStore ??= writeCorpusStore());

async function writeCorpusStore(): Promise<{ files: PointFile[]; records: Record<string, unknown>[] }> {
  const { lines, records } = corpusRecords(...CORPUS);
  const catalog = new TestLakeCatalog();
  await catalog.addStore(ACCOUNT, STORE, lines);
  const dir = join(catalog.root, ACCOUNT, STORE);
  const files = readdirSync(dir).filter((p) => p.startsWith('eventDate=')).flatMap((p) => readdirSync(join(dir, p)).filter((f) => f.endsWith('.parquet')).map((f) => join(dir, p, f)))
    .map((path) => ({ path, bytes: statSync(path).size, mtimeMs: statSync(path).mtimeMs }));
  return { files, records };
}

const rows = async (conn: DuckDBConnection, sql: string): Promise<string[]> =>
  (await conn.runAndReadAll(`SELECT CAST(t AS VARCHAR) FROM (${sql}) AS t`)).getRows().map(([v]) => String(v)).sort();

test('every row the writer stored is derived again, value for value, from its eventJson (what a point query reads)', async () => {
  const { files, records } = await storeOfCorpus();
  assert.ok(files.length >= 5 && records.length > 400, `${records.length} records in ${files.length} files`);
  const db = await DuckDBInstance.create(':memory:', { threads: '1' });
  const conn = await db.connect();
  try {
    const list = `[${files.map((f) => `'${f.path}'`).join(', ')}]`;
    const stored = `SELECT * FROM read_parquet(${list}, hive_partitioning = false)`;
    const derived = lakeRowsSql(`(SELECT "eventJson" AS json FROM read_parquet(${list}, hive_partitioning = false))`);
    const [n, a, b] = (await conn.runAndReadAll(`SELECT (SELECT count(*) FROM (${stored})), (SELECT count(*) FROM ((${stored}) EXCEPT ALL (${derived}))), (SELECT count(*) FROM ((${derived}) EXCEPT ALL (${stored})))`)).getRows()[0]!;
    assert.deepEqual([Number(n), Number(a), Number(b)], [records.length, 0, 0]);
  } finally {
    conn.closeSync();
    db.closeSync();
  }
});

test('PointReader: the rows of an id are those of the file read whole, with and without the time range; a file of other columns is read as it is', async () => {
  const { files, records } = await storeOfCorpus();
  const db = await DuckDBInstance.create(':memory:', { threads: '1' });
  const conn = await db.connect();
  try {
    const reader = new PointReader();
    const ids = [0, 37, 120, 250, 330, records.length - 1].map((i) => String(records[i]!.eventID));
    for (const id of ids) {
      const hits = await eventIdHits(conn, files.map((f) => f.path), id);
      assert.ok(hits.size >= 1, id);
      const holding = files.filter((f) => hits.has(f.path));
      const whole = `SELECT * FROM read_parquet([${holding.map((f) => `'${f.path}'`).join(', ')}], hive_partitioning = false, union_by_name = true) WHERE "eventID" = '${id}'`;
      const expected = await rows(conn, whole);
      assert.ok(expected.length >= 1);
      // With the sidecar's times (format 2), and without them (format 1), derived or as stored.
      assert.deepEqual(await rows(conn, await reader.storeSql(conn, holding.map((f) => ({ ...f, hit: hits.get(f.path) })), id)), expected, id);
      assert.ok(holding.every((f) => hits.get(f.path)!.times), 'format-2 sidecars know the times');
      assert.deepEqual(await rows(conn, await reader.storeSql(conn, holding.map((f) => ({ ...f, hit: { rows: 1 } })), id)), expected, id);
      // A file without a sidecar (no hit) is read as it is.
      assert.deepEqual(await rows(conn, await reader.storeSql(conn, holding, id)), expected, id);
    }
    // The derived form reads eventJson only: a file whose stored columns were not derived from it
    // (here, eventName changed) must be read as it is, and is, once its columns differ.
    const id = ids[2]!;
    const holder = [...(await eventIdHits(conn, files.map((x) => x.path), id)).keys()][0];
    const f = files.find((x) => x.path === holder)!;
    const other = `${f.path}.other.parquet`;
    await conn.run(`COPY (SELECT * REPLACE ('changed' AS "eventName"), 1 AS "extra" FROM read_parquet('${f.path}', hive_partitioning = false)) TO '${other}' (FORMAT parquet)`);
    const hit = (await eventIdHits(conn, [f.path], id)).get(f.path);
    assert.ok(hit?.times, id);
    const read = await conn.runAndReadAll(await reader.storeSql(conn, [{ path: other, bytes: statSync(other).size, mtimeMs: statSync(other).mtimeMs, hit }], id));
    assert.deepEqual(read.getRowObjectsJson().map((r) => [r.eventName, r.extra]), [['changed', 1]]);
    assert.equal((await conn.runAndReadAll(await reader.storeSql(conn, [], id))).getRows().length, 0);
  } finally {
    conn.closeSync();
    db.closeSync();
  }
});
