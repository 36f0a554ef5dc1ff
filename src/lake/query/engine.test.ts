import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { SqliteControlStore } from '../../stores/sqlite/sqlite-control-store.ts';
import { corpusRecords, TestLakeCatalog } from '../../../test/helpers/lake.ts';
import { LakeQueryEngine, lockedQueryInstance, MAX_ACTIVE_PER_ACCOUNT } from './engine.ts';

test('the query instance is locked: it reads below the Lake root only, and no statement unlocks it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lake-lock-'));
  const root = join(dir, 'lake');
  const results = join(dir, 'results');
  mkdirSync(root);
  mkdirSync(results);
  writeFileSync(join(root, 'inside.csv'), 'a\n1\n');
  writeFileSync(join(dir, 'outside.csv'), 'a\n2\n');
  const db = await lockedQueryInstance(root, results, { threads: 1, memoryLimit: '256MB' });
  const conn = await db.connect();
  try {
    // The translator refuses these statements; this is what stands behind it.
    assert.deepEqual((await conn.runAndReadAll(`SELECT a FROM read_csv('${join(root, 'inside.csv')}')`)).getRows(), [[1n]]);
    for (const q of [
      "SELECT * FROM read_text('/etc/passwd')",
      "SELECT * FROM read_csv('/etc/passwd')",
      `SELECT * FROM read_csv('${join(dir, 'outside.csv')}')`,
      `SELECT * FROM read_csv('${join(root, '..', 'outside.csv')}')`,
      `COPY (SELECT 1) TO '${join(dir, 'x.csv')}'`,
      "ATTACH '/tmp/lake-lock-x.db'",
      'INSTALL httpfs',
    ]) {
      await assert.rejects(conn.run(q), /Permission Error|disabled|not allowed|locked|Cannot|Failed|IO Error/i, q);
    }
    await assert.rejects(conn.run('SET enable_external_access = true'), /locked/);
    await assert.rejects(conn.run(`SET allowed_directories = ['/']`), /locked/);
    await assert.rejects(conn.run('RESET lock_configuration'), /locked/);
  } finally {
    conn.closeSync();
    db.closeSync();
  }
});

test('many concurrent StartQuery calls of one account: 10 are taken, the others MaxConcurrentQueriesException', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lake-race-'));
  const catalog = new TestLakeCatalog(join(dir, 'lake'));
  const store = 'c0c0c0c0-0000-4000-8000-00000000000c';
  await catalog.addStore('111122223333', store, corpusRecords('awsdocs-kms.jsonl').lines);
  const control = new SqliteControlStore(':memory:');
  const engine = new LakeQueryEngine(
    { catalog, control, resultsDir: join(dir, 'results'), nowMs: () => Date.now(), newId: () => randomUUID(), logError: () => undefined },
    { maxConcurrent: 1, timeoutMs: 120_000, memoryLimit: '256MB', threads: 1 },
  );
  try {
    // A cross join that runs until stopped, so no accepted query ends (and frees a slot) during the test.
    const heavy = `SELECT count(DISTINCT a.eventID || b.eventID || c.eventID || d.eventID) FROM ${store} a, ${store} b, ${store} c, ${store} d`;
    const outcomes = await Promise.allSettled(Array.from({ length: 200 }, () => engine.start('111122223333', 'us-east-1', heavy)));
    const taken = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    assert.equal(taken.length, MAX_ACTIVE_PER_ACCOUNT);
    assert.ok(refused.every((o) => (o.reason as { name?: string }).name === 'MaxConcurrentQueriesException'), String(refused[0]?.reason));
    // Another account is not limited by this one's queries.
    await assert.rejects(engine.start('444455556666', 'us-east-1', heavy), { name: 'EventDataStoreNotFoundException' });
  } finally {
    await engine.close();
    await control.close();
  }
});

test('a query interrupted by a stopped server is FAILED, and so is its delivery (not PENDING for ever)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lake-interrupted-'));
  const control = new SqliteControlStore(':memory:');
  const now = Date.now();
  const engine = new LakeQueryEngine(
    { catalog: new TestLakeCatalog(join(dir, 'lake')), control, resultsDir: join(dir, 'results'), nowMs: () => now, newId: () => randomUUID(), logError: () => undefined },
    { maxConcurrent: 1, timeoutMs: 1000, memoryLimit: '256MB', threads: 1 },
  );
  try {
    // What StartQuery stored before a kill -9: QUEUED, its delivery PENDING, ten minutes ago.
    const base = { accountId: '111122223333', statement: 'SELECT 1', storeArns: [], status: 'QUEUED', creationTimeMs: now - 600_000, columns: [], eventsScanned: 0, bytesScanned: 0, resultsCount: 0, executionTimeMs: 0 };
    await control.put('lake-query', `111122223333/q-delivered`, { ...base, queryId: 'q-delivered', deliveryS3Uri: 's3://bucket/p', deliveryStatus: 'PENDING' });
    await control.put('lake-query', `111122223333/q-plain`, { ...base, queryId: 'q-plain' });
    const delivered = await engine.get('111122223333', 'q-delivered');
    assert.equal(delivered?.status, 'FAILED');
    assert.equal(delivered?.deliveryStatus, 'FAILED');
    const plain = await engine.get('111122223333', 'q-plain');
    assert.equal(plain?.status, 'FAILED');
    assert.equal(plain?.deliveryStatus, undefined, 'a query without DeliveryS3Uri gets no DeliveryStatus');
    assert.deepEqual((await engine.list('111122223333')).map((q) => [q.queryId, q.status, q.deliveryStatus]).sort(), [['q-delivered', 'FAILED', 'FAILED'], ['q-plain', 'FAILED', undefined]]);
  } finally {
    await engine.close();
    await control.close();
  }
});

test('point queries: the in-memory summaries rule files out without opening their sidecars; settled() answers when a query ends', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lake-summaries-'));
  const catalog = new TestLakeCatalog(join(dir, 'lake'));
  const store = 'c0c0c0c0-0000-4000-8000-0000000000d1';
  const { lines, records } = corpusRecords('stratus-red-team.jsonl', 'awsdocs-kms.jsonl');
  await catalog.addStore('111122223333', store, lines);
  const storeDir = join(catalog.root, '111122223333', store);
  const data = readdirSync(storeDir).flatMap((p) => readdirSync(join(storeDir, p)).filter((f) => f.endsWith('.parquet')).map((f) => join(storeDir, p, f)));
  const target = records[200] as { eventID: string; eventTime: string };
  const control = new SqliteControlStore(':memory:');
  const engines: LakeQueryEngine[] = [];
  const newEngine = (eventIdSummaryMiB?: number) => {
    const e = new LakeQueryEngine(
      { catalog, control, resultsDir: join(dir, 'results'), nowMs: () => Date.now(), newId: () => randomUUID(), logError: () => undefined },
      { maxConcurrent: 1, timeoutMs: 60_000, memoryLimit: '256MB', threads: 1, ...(eventIdSummaryMiB !== undefined ? { eventIdSummaryMiB } : {}) },
    );
    engines.push(e);
    return e;
  };
  const run = async (engine: LakeQueryEngine, statement: string) => {
    const { queryId } = await engine.start('111122223333', 'us-east-1', statement);
    for (;;) {
      await engine.settled('111122223333', queryId, 1000);
      const r = (await engine.get('111122223333', queryId))!;
      if (r.status !== 'QUEUED' && r.status !== 'RUNNING') return r;
    }
  };
  try {
    assert.ok(data.length >= 3, `${data.length} files`);
    const point = `SELECT eventID, eventTime FROM ${store} WHERE eventID = '${target.eventID}'`;
    const engine = newEngine();
    const first = await run(engine, point);
    assert.equal(first.status, 'FINISHED', first.errorMessage);
    assert.equal(first.resultsCount, 1);
    assert.deepEqual(await engine.page(first, 0, 10), [[target.eventID, `${target.eventTime.slice(0, 10)} ${target.eventTime.slice(11, 19)}.000`]]);
    await engine.eventIdSummaries().idle();
    assert.equal(engine.eventIdSummaries().files, data.length);
    assert.ok(engine.eventIdSummaries().bytes > 0);

    // Every sidecar but the one of the file holding the id made unreadable: the summaries rule
    // those files out, so they are never opened.
    const day = `/eventDate=${target.eventTime.slice(0, 10)}/`;
    for (const f of data.filter((x) => !x.includes(day))) writeFileSync(`${f}.eventids`, 'not parquet');
    const again = await run(engine, point);
    assert.equal(again.status, 'FINISHED', again.errorMessage);
    assert.deepEqual([again.resultsCount, again.bytesScanned], [1, first.bytesScanned]);
    // Without summaries the same query opens them all, and fails on one.
    const failed = await run(newEngine(0), point);
    assert.equal(failed.status, 'FAILED');

    // settled(): at most maxMs while the query runs; at once when it ended.
    const heavy = await engine.start('111122223333', 'us-east-1', `SELECT count(DISTINCT a.eventID || b.eventID || c.eventID) FROM ${store} a, ${store} b, ${store} c`);
    await engine.settled('111122223333', heavy.queryId, 50);
    assert.match((await engine.get('111122223333', heavy.queryId))!.status, /^(QUEUED|RUNNING)$/);
    await engine.cancel('111122223333', heavy.queryId);
    await engine.settled('111122223333', heavy.queryId, 60_000);
    assert.equal((await engine.get('111122223333', heavy.queryId))!.status, 'CANCELLED');
  } finally {
    for (const e of engines) await e.close();
    await control.close();
  }
});
