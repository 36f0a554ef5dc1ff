import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { LAKE_ROW_GROUP_SIZE, storeGlob } from '../layout.ts';
import { eventIdHits, eventIdIndexPath } from './eventid-index.ts';
import { fsyncPath, writeLakeFiles } from './writer.ts';

const record = (id: string, time: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({
    eventVersion: '1.09',
    userIdentity: { type: 'IAMUser', arn: 'arn:aws:iam::111122223333:user/alice', sessionContext: { sessionIssuer: { userName: 'r' } }, unknownMember: 1 },
    eventTime: time,
    eventSource: 's3.amazonaws.com',
    eventName: 'PutBucketPolicy',
    requestParameters: { bucketName: 'b', policy: { Statement: [] }, n: 3 },
    resources: [{ ARN: 'arn:aws:s3:::b', accountId: '111122223333', type: 'AWS::S3::Bucket' }],
    readOnly: false,
    eventID: id,
    ...extra,
  });

test('writeLakeFiles: one file per event day, nested members queryable, a rerun replaces rather than doubles', async () => {
  const root = mkdtempSync(join(tmpdir(), 'lake-writer-'));
  const src = join(root, 'in.jsonl');
  writeFileSync(src, [record('e1', '2026-12-01T23:59:59Z'), record('e2', '2026-12-02T00:00:00Z'), record('e3', '2026-12-02T10:00:00Z')].join('\n') + '\n');
  const conn = await (await DuckDBInstance.create(':memory:')).connect();
  const w = { root, accountId: '111122223333', storeId: 'abc', source: `read_json_objects('${src}', format='newline_delimited')`, name: 'batch-1' };
  const first = await writeLakeFiles(conn, w);
  assert.equal(first.rows, 3);
  assert.deepEqual(first.files, ['111122223333/abc/eventDate=2026-12-01/batch-1-0.parquet', '111122223333/abc/eventDate=2026-12-02/batch-1-0.parquet']);
  await writeLakeFiles(conn, w);
  const r = await conn.runAndReadAll(
    `SELECT eventID, userIdentity.sessionContext.sessionIssuer.userName AS u, requestParameters['policy'] AS p, requestParameters['n'] AS n, resources[1].ARN AS arn, readOnly
     FROM read_parquet('${join(root, storeGlob('111122223333', 'abc'))}', hive_partitioning = false) ORDER BY eventID`,
  );
  assert.deepEqual(r.getRowObjectsJson(), [
    { eventID: 'e1', u: 'r', p: '{"Statement":[]}', n: '3', arn: 'arn:aws:s3:::b', readOnly: false },
    { eventID: 'e2', u: 'r', p: '{"Statement":[]}', n: '3', arn: 'arn:aws:s3:::b', readOnly: false },
    { eventID: 'e3', u: 'r', p: '{"Statement":[]}', n: '3', arn: 'arn:aws:s3:::b', readOnly: false },
  ]);
  await assert.rejects(writeLakeFiles(conn, { ...w, name: '../x' }), /bad file name/);
});

test('writeLakeFiles fsyncs each file before its rename, then each partition folder and the folders it made', async () => {
  const root = mkdtempSync(join(tmpdir(), 'lake-writer-sync-'));
  const src = join(root, 'in.jsonl');
  writeFileSync(src, [record('e1', '2026-12-01T10:00:00Z'), record('e2', '2026-12-02T10:00:00Z')].join('\n') + '\n');
  const conn = await (await DuckDBInstance.create(':memory:')).connect();
  const synced: string[] = [];
  const w = {
    root, accountId: '111122223333', storeId: 'abc', source: `read_json_objects('${src}', format='newline_delimited')`, name: 'batch-1',
    sync: async (p: string) => {
      synced.push(p.slice(root.length + 1));
      // A file is synced where DuckDB wrote it (before it is renamed into place).
      if (p.endsWith('.parquet') || p.endsWith('.eventids')) assert.match(p, /\/\.tmp-batch-1\//);
      await fsyncPath(p);
    },
  };
  const out = await writeLakeFiles(conn, w);
  assert.deepEqual(out.files, ['111122223333/abc/eventDate=2026-12-01/batch-1-0.parquet', '111122223333/abc/eventDate=2026-12-02/batch-1-0.parquet']);
  const files = synced.filter((p) => p.endsWith('.parquet'));
  assert.equal(files.length, 2);
  // Each file's eventID sidecar is synced before it, where it was written.
  assert.deepEqual(synced.filter((p) => p.endsWith('.parquet') || p.endsWith('.eventids')), files.flatMap((f) => [`${f}.eventids`, f]));
  const isFolder = (p: string) => !p.endsWith('.parquet') && !p.endsWith('.eventids');
  assert.deepEqual(synced.filter(isFolder), [
    '111122223333/abc/eventDate=2026-12-01', '111122223333/abc', '111122223333/abc/eventDate=2026-12-02', '111122223333/abc', '111122223333', '',
  ]);
  // Again into existing folders: the files and their partitions only.
  synced.length = 0;
  await writeLakeFiles(conn, w);
  assert.deepEqual(synced.filter(isFolder), ['111122223333/abc/eventDate=2026-12-01', '111122223333/abc/eventDate=2026-12-02']);
});

test('writeLakeFiles writes with each file its eventID sidecar: the file\'s eventIDs, sorted, and row groups of LAKE_ROW_GROUP_SIZE', async () => {
  const root = mkdtempSync(join(tmpdir(), 'lake-writer-index-'));
  const src = join(root, 'in.jsonl');
  const ids = Array.from({ length: 3 * LAKE_ROW_GROUP_SIZE }, (_, i) => `id-${(i * 7919) % 100_003}`);
  writeFileSync(src, ids.map((id, i) => record(id, i % 3 === 0 ? '2026-12-01T10:00:00Z' : '2026-12-02T10:00:00Z')).join('\n') + '\n');
  const conn = await (await DuckDBInstance.create(':memory:')).connect();
  const out = await writeLakeFiles(conn, { root, accountId: '111122223333', storeId: 'abc', source: `read_json_objects('${src}', format='newline_delimited')`, name: 'b' });
  for (const f of out.files) {
    const path = join(root, f);
    const inFile = (await conn.runAndReadAll(`SELECT eventID FROM read_parquet('${path}')`)).getRows().map(([v]) => String(v));
    const inIndex = (await conn.runAndReadAll(`SELECT eventID FROM read_parquet('${eventIdIndexPath(path)}')`)).getRows().map(([v]) => String(v));
    assert.deepEqual(inIndex, [...inFile].sort());
    assert.deepEqual(new Set(inFile), new Set(ids.filter((_, i) => (i % 3 === 0) === f.includes('2026-12-01'))));
    assert.deepEqual(new Set((await eventIdHits(conn, [path], inFile[5]!)).keys()), new Set([path]));
    assert.deepEqual(new Set((await eventIdHits(conn, [path], 'not-there')).keys()), new Set());
  }
  // The second day's 2 * LAKE_ROW_GROUP_SIZE records are two full row groups.
  const [largest, groups] = (await conn.runAndReadAll(`SELECT max(row_group_num_rows), count(DISTINCT row_group_id) FROM parquet_metadata('${join(root, out.files[1]!)}')`)).getRows()[0]!;
  assert.deepEqual([Number(largest), Number(groups)], [LAKE_ROW_GROUP_SIZE, 2]);
});
