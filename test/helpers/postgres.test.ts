/** The PostgreSQL harness itself: a real server starts, hands out empty databases, survives kill -9 and restarts. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startPostgres, type StartedPostgres } from './postgres.ts';

let server: StartedPostgres;
before(async () => {
  server = await startPostgres();
});
after(async () => {
  await server.destroy();
});

async function query(url: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

test('each database is new and empty, and commits survive kill -9 of the server', async () => {
  const a = await server.createDatabase();
  const b = await server.createDatabase();
  assert.notEqual(a, b);
  await query(a, 'CREATE TABLE t (v int); INSERT INTO t VALUES (42)');
  const inB = await query(b, "SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 't'");
  assert.equal(inB.rows[0].n, 0);
  const sync = await query(a, 'SHOW synchronous_commit');
  assert.equal(sync.rows[0].synchronous_commit, 'on');
  await server.kill();
  await assert.rejects(query(a, 'SELECT 1'));
  await server.restart();
  const back = await query(a, 'SELECT v FROM t');
  assert.deepEqual(back.rows, [{ v: 42 }]);
});
