/**
 * A CloudTrail Lake import on several nodes (issue 13 with issue 12's deployment): two real
 * `opentrail serve` processes on one PostgreSQL, one shared bucket folder and one shared Lake root.
 * The import runs on the node holding its lease (`lake-import/<id>` in opentrail_leases); that node
 * is killed with kill -9 in the middle; the other takes the import over once the lease expires and
 * completes it, every event in the store exactly once (read with DuckDB from the Parquet files).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { DuckDBInstance } from '@duckdb/node-api';
import { CreateEventDataStoreCommand, GetImportCommand, StartImportCommand, type GetImportCommandOutput } from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, cloudTrailClient, startServer, tempDir, type StartedServer, type TestConfig } from './helpers/server.ts';
import { startPostgres, type StartedPostgres } from './helpers/postgres.ts';
import { logKey, trailRecord, writeLogFile } from './helpers/trail-logs.ts';
import { storeGlob } from '../src/lake/layout.ts';

const ALICE = ACCOUNT_A.identities[1]!;
const A = ACCOUNT_A.id;
const FILES = 60;
const PER_FILE = 50;

let postgres: StartedPostgres;
let db: pg.Client;
let shared: string;
let config: TestConfig;
const nodes: StartedServer[] = [];
const want = new Set<string>();

before(async () => {
  postgres = await startPostgres();
  const url = await postgres.createDatabase('lakeimports');
  db = new pg.Client({ connectionString: url });
  await db.connect();
  shared = tempDir('ot-lake-multinode-');
  const kek = join(shared, 'signing-keys.kek');
  writeFileSync(kek, randomBytes(32), { mode: 0o600 });
  // The source: FILES trail log files of PER_FILE events, in the shared bucket folder `bulk`.
  for (let f = 0; f < FILES; f++) {
    const day = `2024-05-0${1 + (f % 3)}`;
    const recs = Array.from({ length: PER_FILE }, (_, i) => trailRecord(`mn-${f}-${i}`, `${day}T${String(f % 24).padStart(2, '0')}:00:00Z`, A));
    for (const r of recs) want.add(r.eventID as string);
    writeLogFile(join(shared, 'buckets', 'bulk'), logKey(`${day}T${String(f % 24).padStart(2, '0')}:05:00Z`, f, A), recs);
  }
  config = {
    regions: ['us-east-1'],
    accounts: [ACCOUNT_A],
    objectStore: { type: 'filesystem', root: join(shared, 'buckets') },
    lake: { root: join(shared, 'lake') },
    lakeImports: { batchFiles: 2 },
    integrity: { keyEncryption: { type: 'file', path: kek } },
    database: { type: 'postgres', url, leaseTtlMs: 3000 },
  } as TestConfig;
  nodes.push(...(await Promise.all([0, 1].map(() => startServer(config)))));
});

after(async () => {
  for (const n of nodes) await n.kill();
  await db?.end();
  await postgres?.destroy();
});

async function holderPid(importId: string): Promise<number | undefined> {
  const r = await db.query<{ holder: string }>('SELECT holder FROM opentrail_leases WHERE name = $1 AND expires_at > clock_timestamp()', [`lake-import/${importId}`]);
  const h = r.rows[0]?.holder;
  return h === undefined ? undefined : Number(h.split(':').at(-1));
}

test('an import runs on the node holding its lease; kill -9 of that node: the other completes it, every event once', async () => {
  const ct0 = cloudTrailClient(nodes[0]!.url, ALICE);
  const made = await ct0.send(new CreateEventDataStoreCommand({ Name: 'imported', StartIngestion: false, RetentionPeriod: 3653 }));
  const storeId = made.EventDataStoreArn!.split('/').pop()!;
  const { ImportId } = await ct0.send(new StartImportCommand({
    Destinations: [made.EventDataStoreArn!],
    ImportSource: { S3: { S3LocationUri: 's3://bulk/', S3BucketRegion: 'us-east-1', S3BucketAccessRoleArn: `arn:aws:iam::${A}:role/import` } },
  }));
  // Once some batches are written, kill -9 the node that holds the import's lease.
  const started = Date.now();
  let g: GetImportCommandOutput;
  let pid: number | undefined;
  for (;;) {
    g = await ct0.send(new GetImportCommand({ ImportId }));
    pid = await holderPid(ImportId!);
    if ((g.ImportStatistics?.FilesCompleted ?? 0) >= 4 && pid !== undefined) break;
    assert.ok(g.ImportStatus === 'IN_PROGRESS' || g.ImportStatus === 'INITIALIZING', `before the kill: ${JSON.stringify(g)}`);
    assert.ok(Date.now() - started < 60_000, `no batch written in 60 s: ${JSON.stringify(g)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const runner = nodes.find((n) => n.process.pid === pid);
  assert.ok(runner, `the lease holder (pid ${pid}) is one of the nodes`);
  await runner.kill();
  const survivor = nodes.find((n) => n !== runner)!;
  const ct1 = cloudTrailClient(survivor.url, ALICE);
  const killedAt = g.ImportStatistics!.FilesCompleted!;
  assert.ok(killedAt < FILES, `${killedAt} files done before the kill`);
  const t0 = Date.now();
  for (;;) {
    g = await ct1.send(new GetImportCommand({ ImportId }));
    if (g.ImportStatus === 'COMPLETED') break;
    assert.ok(g.ImportStatus === 'IN_PROGRESS' || g.ImportStatus === 'INITIALIZING', JSON.stringify(g));
    assert.ok(Date.now() - t0 < 60_000, `not completed by the other node: ${JSON.stringify(g)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(await holderPid(ImportId!), undefined, 'the lease is given back when the import completed');
  assert.equal(g.ImportStatistics?.FilesCompleted, FILES);
  assert.equal(g.ImportStatistics?.EventsCompleted, FILES * PER_FILE);
  const duck = await (await DuckDBInstance.create(':memory:')).connect();
  const rows = (await duck.runAndReadAll(`SELECT eventID, count(*) AS n FROM read_parquet('${join(shared, 'lake', storeGlob(A, storeId))}', hive_partitioning = false) GROUP BY eventID`)).getRowObjectsJson();
  duck.closeSync();
  assert.deepEqual(rows.map((r) => String(r.eventID)).sort(), [...want].sort());
  assert.deepEqual(rows.filter((r) => Number(r.n) !== 1), [], 'events stored more than once');
});
