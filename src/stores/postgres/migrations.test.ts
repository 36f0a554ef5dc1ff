/** Versioned migrations against a real PostgreSQL (test/helpers/postgres.ts): one server, a database per test. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startPostgres, type StartedPostgres } from '../../../test/helpers/postgres.ts';
import { openPool, type Pool } from './db.ts';
import { migrate, MigrationError, schemaVersion } from './migrations.ts';

let server: StartedPostgres;
const pools: Pool[] = [];
before(async () => {
  server = await startPostgres();
});
after(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await server.destroy();
});

async function freshPool(): Promise<Pool> {
  const p = openPool(await server.createDatabase('mig'));
  pools.push(p);
  return p;
}

/** Migration 1 makes a table; 2 counts how often it ran; 3 adds a column. */
const MIGRATIONS = [
  'CREATE TABLE widgets (id int PRIMARY KEY); CREATE TABLE runs (n serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())',
  "INSERT INTO runs DEFAULT VALUES",
  'ALTER TABLE widgets ADD COLUMN name text',
];

describe('migrate', () => {
  test('a fresh database migrates to the last version; a second run is a no-op', async () => {
    const pool = await freshPool();
    assert.equal(await schemaVersion(pool, 'widgets'), 0);
    assert.deepEqual(await migrate(pool, 'widgets', MIGRATIONS), { from: 0, to: 3 });
    assert.equal(await schemaVersion(pool, 'widgets'), 3);
    await pool.query("INSERT INTO widgets(id, name) VALUES (1, 'a')");
    assert.deepEqual(await migrate(pool, 'widgets', MIGRATIONS), { from: 3, to: 3 });
    assert.equal((await pool.query('SELECT count(*)::int AS n FROM runs')).rows[0].n, 1);
    assert.equal((await pool.query('SELECT count(*)::int AS n FROM widgets')).rows[0].n, 1, 'data kept');
  });

  test('a later version applies only the new migrations, in order', async () => {
    const pool = await freshPool();
    assert.deepEqual(await migrate(pool, 'widgets', MIGRATIONS.slice(0, 2)), { from: 0, to: 2 });
    await pool.query('INSERT INTO widgets(id) VALUES (7)');
    assert.deepEqual(await migrate(pool, 'widgets', MIGRATIONS), { from: 2, to: 3 });
    assert.deepEqual((await pool.query('SELECT id, name FROM widgets')).rows, [{ id: 7, name: null }]);
    assert.equal((await pool.query('SELECT count(*)::int AS n FROM runs')).rows[0].n, 1);
  });

  test('components are versioned separately; explicit versions and functions work', async () => {
    const pool = await freshPool();
    await migrate(pool, 'widgets', MIGRATIONS);
    assert.deepEqual(await migrate(pool, 'gadgets', [
      { version: 1, sql: 'CREATE TABLE gadgets (id int)' },
      { version: 2, sql: async (c) => { await c.query('INSERT INTO gadgets VALUES ($1)', [42]); } },
    ]), { from: 0, to: 2 });
    assert.deepEqual((await pool.query('SELECT component, version FROM opentrail_schema ORDER BY component')).rows, [{ component: 'gadgets', version: 2 }, { component: 'widgets', version: 3 }]);
    assert.deepEqual((await pool.query('SELECT id FROM gadgets')).rows, [{ id: 42 }]);
    await assert.rejects(migrate(pool, 'bad', [{ version: 2, sql: 'SELECT 1' }]), /numbered 1, 2, 3/);
  });

  test('nodes migrating at once: each migration runs exactly once', async () => {
    const url = await server.createDatabase('mig');
    const nodes = Array.from({ length: 6 }, () => openPool(url, { max: 2 }));
    pools.push(...nodes);
    const results = await Promise.all(nodes.map((p) => migrate(p, 'widgets', MIGRATIONS)));
    assert.equal(results.filter((r) => r.from === 0).length, 1, JSON.stringify(results));
    assert.ok(results.every((r) => r.to === 3 && (r.from === 0 || r.from === 3)), JSON.stringify(results));
    assert.equal((await nodes[0]!.query('SELECT count(*)::int AS n FROM runs')).rows[0].n, 1);
    // Two components created at once on a fresh database also meet on the one lock.
    const url2 = await server.createDatabase('mig');
    const two = [openPool(url2), openPool(url2)];
    pools.push(...two);
    await Promise.all([migrate(two[0]!, 'a', ['CREATE TABLE a (x int)']), migrate(two[1]!, 'b', ['CREATE TABLE b (x int)'])]);
    assert.equal(await schemaVersion(two[0]!, 'a'), 1);
    assert.equal(await schemaVersion(two[0]!, 'b'), 1);
  });

  test('a database migrated by a newer version is refused and left as it is', async () => {
    const pool = await freshPool();
    await migrate(pool, 'widgets', MIGRATIONS);
    const err = await migrate(pool, 'widgets', MIGRATIONS.slice(0, 2)).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof MigrationError, String(err));
    assert.match(err.message, /widgets schema .* at version 3, newer than this OpenTrail knows \(2\)/);
    assert.doesNotMatch(err.message, /\n/);
    assert.equal(await schemaVersion(pool, 'widgets'), 3);
    assert.deepEqual((await pool.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'widgets' ORDER BY column_name")).rows.map((r) => r.column_name), ['id', 'name']);
  });

  test('a migration that fails leaves nothing of itself and the version where it was', async () => {
    const pool = await freshPool();
    await migrate(pool, 'widgets', MIGRATIONS.slice(0, 1));
    const err = await migrate(pool, 'widgets', [...MIGRATIONS.slice(0, 1), 'CREATE TABLE half (x int); SELECT no_such_function()']).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof MigrationError, String(err));
    assert.match(err.message, /migrating widgets to version 2 failed: .*no_such_function.*SQLSTATE 42883/);
    assert.equal(await schemaVersion(pool, 'widgets'), 1);
    assert.equal((await pool.query("SELECT to_regclass('half') AS t")).rows[0].t, null);
  });

  test('a user without the privilege to create tables gets one line naming the privilege', async () => {
    const url = await server.createDatabase('mig');
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query("CREATE ROLE reader LOGIN PASSWORD 'pw'").catch(() => undefined);
      await admin.query('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
    } finally {
      await admin.end();
    }
    const u = new URL(url);
    u.username = 'reader';
    u.password = 'pw';
    const pool = openPool(u.toString());
    pools.push(pool);
    const err = await migrate(pool, 'widgets', MIGRATIONS).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof MigrationError, String(err));
    assert.match(err.message, /user reader lacks a privilege OpenTrail needs \(permission denied for schema public\)/);
    assert.doesNotMatch(err.message, /pw/);
  });
});
