import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { storeGlob } from '../layout.ts';
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
      if (p.endsWith('.parquet')) assert.match(p, /\/\.tmp-batch-1\//);
      await fsyncPath(p);
    },
  };
  const out = await writeLakeFiles(conn, w);
  assert.deepEqual(out.files, ['111122223333/abc/eventDate=2026-12-01/batch-1-0.parquet', '111122223333/abc/eventDate=2026-12-02/batch-1-0.parquet']);
  const files = synced.filter((p) => p.endsWith('.parquet'));
  assert.equal(files.length, 2);
  assert.deepEqual(synced.filter((p) => !p.endsWith('.parquet')), [
    '111122223333/abc/eventDate=2026-12-01', '111122223333/abc', '111122223333/abc/eventDate=2026-12-02', '111122223333/abc', '111122223333', '',
  ]);
  // Again into existing folders: the files and their partitions only.
  synced.length = 0;
  await writeLakeFiles(conn, w);
  assert.deepEqual(synced.filter((p) => !p.endsWith('.parquet')), ['111122223333/abc/eventDate=2026-12-01', '111122223333/abc/eventDate=2026-12-02']);
});
