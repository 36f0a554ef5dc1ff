/** db.ts against a real PostgreSQL: transactions, failures of the database, start-up errors. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { freePort } from '../../../test/helpers/moto.ts';
import { startPostgres, type StartedPostgres } from '../../../test/helpers/postgres.ts';
import { StoreUnavailableError } from '../errors.ts';
import { connectPool, describeStartError, openPool, ping, PostgresStartError, query, redactUrl, unavailableReason, withAdvisoryLock, withTransaction, type Pool } from './db.ts';

let server: StartedPostgres;
const pools: Pool[] = [];
before(async () => {
  server = await startPostgres();
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  await admin.query("CREATE ROLE alice LOGIN PASSWORD 'right-password'");
  await admin.end();
});
after(async () => {
  await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
  await server.destroy();
});

async function freshPool(): Promise<Pool> {
  const p = openPool(await server.createDatabase('db'));
  pools.push(p);
  return p;
}

const startError = (url: string) => connectPool(url, { connectionTimeoutMs: 3000 }).then(async (p) => {
  await p.end();
  return undefined;
}, (e: unknown) => e);

describe('connectPool: start-up failures are one line', () => {
  test('nothing listens on the port', async () => {
    const url = `postgres://alice:secret@127.0.0.1:${await freePort()}/opentrail`;
    const err = await startError(url);
    assert.ok(err instanceof PostgresStartError, String(err));
    assert.match(err.message, /^cannot connect to PostgreSQL database opentrail at 127\.0\.0\.1:\d+: connection refused/);
    assert.doesNotMatch(err.message, /secret|\n/);
  });

  test('a wrong password, an unknown user, a database that does not exist', async () => {
    const base = new URL(server.adminUrl);
    const as = (user: string, password: string, db: string) => {
      const u = new URL(base);
      u.username = user;
      u.password = password;
      u.pathname = `/${db}`;
      return u.toString();
    };
    // The harness trusts loopback connections; a password check needs a server that asks for one.
    const strict = await startPostgres({ settings: { password_encryption: 'scram-sha-256' } });
    try {
      const hba = new pg.Client({ connectionString: strict.adminUrl });
      await hba.connect();
      await hba.query("CREATE ROLE alice LOGIN PASSWORD 'right-password'");
      const file = (await hba.query('SHOW hba_file')).rows[0].hba_file as string;
      await hba.query(`COPY (SELECT 'host all opentrail 127.0.0.1/32 trust' UNION ALL SELECT 'host all all 127.0.0.1/32 scram-sha-256') TO '${file}'`);
      await hba.query('SELECT pg_reload_conf()');
      await hba.end();
      const strictAs = (user: string, password: string, db: string) => as(user, password, db).replace(`:${server.port}/`, `:${strict.port}/`);
      const wrong = await startError(strictAs('alice', 'wrong-password', 'postgres'));
      assert.ok(wrong instanceof PostgresStartError, String(wrong));
      assert.equal(wrong.message, `cannot connect to PostgreSQL database postgres at 127.0.0.1:${strict.port}: password authentication failed for user alice`);
      const nobody = await startError(strictAs('mallory', 'x', 'postgres'));
      assert.ok(nobody instanceof PostgresStartError);
      assert.match(nobody.message, /password authentication failed for user mallory/);
    } finally {
      await strict.destroy();
    }
    const missing = await startError(as('alice', 'right-password', 'no_such_db'));
    assert.ok(missing instanceof PostgresStartError);
    assert.equal(missing.message, `cannot connect to PostgreSQL database no_such_db at 127.0.0.1:${server.port}: the database does not exist (create it: CREATE DATABASE no_such_db OWNER alice)`);
  });

  test('an unknown host, and URLs never show their password', () => {
    const e = Object.assign(new Error('getaddrinfo ENOTFOUND db.invalid'), { code: 'ENOTFOUND' });
    assert.equal(describeStartError(e, 'postgres://u:p@db.invalid/x'), 'cannot connect to PostgreSQL database x at db.invalid:5432: host db.invalid not found');
    assert.equal(redactUrl('postgres://u:hunter2@h:5/d'), 'postgres://u:***@h:5/d');
    // libpq and pg also take the password (and the client key's passphrase) as query parameters.
    const redacted = redactUrl('postgres://u@h:5/d?sslmode=require&password=hunter2&sslpassword=s3cret&sslkey=%2Fk.pem&PassWord=x&application_name=a');
    for (const secret of ['hunter2', 's3cret', 'k.pem', 'PassWord=x']) assert.ok(!redacted.includes(secret), `${secret} in ${redacted}`);
    assert.equal(redacted, 'postgres://u@h:5/d?sslmode=require&password=***&sslpassword=***&sslkey=***&PassWord=***&application_name=a');
    const denied = Object.assign(new Error('permission denied for table t'), { code: '42501' });
    assert.match(describeStartError(denied, 'postgres://u:p@h/d'), /user u lacks a privilege OpenTrail needs \(permission denied for table t\)/);
  });
});

describe('withTransaction', () => {
  test('commits what fn did, and rolls all of it back when fn throws', async () => {
    const pool = await freshPool();
    await query(pool, 'CREATE TABLE t (k int PRIMARY KEY)');
    assert.equal(await withTransaction(pool, async (c) => {
      await c.query('INSERT INTO t VALUES (1), (2)');
      return 'done';
    }), 'done');
    const boom = new Error('boom');
    await assert.rejects(withTransaction(pool, async (c) => {
      await c.query('INSERT INTO t VALUES (3)');
      throw boom;
    }), (e) => e === boom);
    await assert.rejects(withTransaction(pool, async (c) => {
      await c.query('INSERT INTO t VALUES (4)');
      await c.query('INSERT INTO t VALUES (1)');
    }), (e: unknown) => !(e instanceof StoreUnavailableError) && (e as { code?: string }).code === '23505');
    assert.deepEqual((await query<{ k: number }>(pool, 'SELECT k FROM t ORDER BY k')).rows.map((r) => r.k), [1, 2]);
    assert.equal(pool.idleCount + pool.waitingCount <= pool.totalCount, true);
  });

  test('a failing withBegin or beforeCommit statement leaves no aborted transaction on a pooled connection', async () => {
    const url = await server.createDatabase('db');
    // One connection: the next borrower gets the very connection the failed transaction used.
    const pool = openPool(url, { max: 1 });
    pools.push(pool);
    await query(pool, 'CREATE TABLE t (k int PRIMARY KEY)');
    // The statement sent with BEGIN fails (division by zero): the transaction is aborted.
    await assert.rejects(withTransaction(pool, async () => 'unreached', { withBegin: 'SELECT 1/0' }), (e: unknown) => (e as { code?: string }).code === '22012');
    assert.equal((await query<{ n: number }>(pool, 'SELECT 1 AS n')).rows[0]!.n, 1, 'the next statement on the pool works (no 25P02)');
    // fn's work is done, the statement left for COMMIT's message fails: nothing of fn is committed.
    await assert.rejects(withTransaction(pool, async (c, tx) => {
      await c.query('INSERT INTO t VALUES (1)');
      tx.beforeCommit = 'SELECT 1/0';
    }), (e: unknown) => (e as { code?: string }).code === '22012');
    assert.equal(await withTransaction(pool, async (c) => (await c.query('SELECT count(*)::int AS n FROM t')).rows[0].n), 0, 'a transaction after it runs, and sees nothing of the failed one');
    assert.equal((await query<{ s: string }>(pool, "SELECT current_setting('synchronous_commit') AS s")).rows[0]!.s, 'on');
  });

  test('sessions commit synchronously unless a transaction asks otherwise', async () => {
    const pool = await freshPool();
    assert.equal((await query<{ s: string }>(pool, "SELECT current_setting('synchronous_commit') AS s")).rows[0]!.s, 'on');
    assert.equal((await query<{ a: string }>(pool, 'SELECT current_setting(\'application_name\') AS a')).rows[0]!.a, 'opentrail');
    assert.equal(await withTransaction(pool, async (c) => (await c.query('SHOW synchronous_commit')).rows[0].synchronous_commit, { synchronousCommit: false }), 'off');
    assert.equal(await withTransaction(pool, async (c) => (await c.query('SHOW synchronous_commit')).rows[0].synchronous_commit), 'on');
  });
});

describe('withAdvisoryLock', () => {
  test('sections of several pools ("nodes") under one lock never overlap; the lock is freed when fn throws', async () => {
    const url = await server.createDatabase('db');
    const nodes = [openPool(url, { max: 2 }), openPool(url, { max: 2 }), openPool(url, { max: 2 })];
    pools.push(...nodes);
    let inside = 0;
    let most = 0;
    const order: number[] = [];
    await Promise.all(nodes.flatMap((p, i) => [0, 1].map(() => withAdvisoryLock(p, 42n, async () => {
      inside++;
      most = Math.max(most, inside);
      await new Promise((r) => setTimeout(r, 30));
      order.push(i);
      inside--;
    }))));
    assert.equal(most, 1);
    assert.equal(order.length, 6);
    await assert.rejects(withAdvisoryLock(nodes[0]!, 42n, async () => {
      throw new Error('inside');
    }), /inside/);
    assert.equal(await withAdvisoryLock(nodes[1]!, 42n, async () => 'free again'), 'free again');
  });
});

describe('a database that goes away and comes back', () => {
  test('calls reject with StoreUnavailableError while it is down, and work again when it returns', async () => {
    const pool = await freshPool();
    await query(pool, 'CREATE TABLE t (k int)');
    assert.deepEqual(await ping(pool), { ok: true });
    await server.kill();
    const errs = [
      await query(pool, 'SELECT 1').then(() => undefined, (e: unknown) => e),
      await withTransaction(pool, async (c) => c.query('INSERT INTO t VALUES (1)')).then(() => undefined, (e: unknown) => e),
    ];
    for (const e of errs) {
      assert.ok(e instanceof StoreUnavailableError, String(e));
      assert.match(e.message, /^PostgreSQL: (query|transaction) failed: /);
      assert.ok(e.cause !== undefined);
    }
    const down = await ping(pool, 1000);
    assert.equal(down.ok, false);
    await server.restart();
    await withTransaction(pool, async (c) => c.query('INSERT INTO t VALUES (1)'));
    assert.equal((await query<{ n: number }>(pool, 'SELECT count(*)::int AS n FROM t')).rows[0]!.n, 1);
    assert.deepEqual(await ping(pool), { ok: true });
  });

  test('a silent network partition: a query gives up a little after statement_timeout instead of hanging', async () => {
    // A TCP relay to the server that, once frozen, forwards nothing either way and closes nothing:
    // what a partition (a dropped route, a paused VM) looks like to the client.
    let frozen = false;
    const sockets: Socket[] = [];
    const relay = createServer((client) => {
      const upstream = connect(server.port, '127.0.0.1');
      sockets.push(client, upstream);
      client.on('data', (d) => { if (!frozen) upstream.write(d); });
      upstream.on('data', (d) => { if (!frozen) client.write(d); });
      for (const s of [client, upstream]) s.on('error', () => undefined);
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    try {
      const url = new URL(await server.createDatabase('db'));
      url.host = `127.0.0.1:${(relay.address() as AddressInfo).port}`;
      const pool = openPool(url.toString(), { statementTimeoutMs: 300 });
      pools.push(pool);
      assert.equal((await query<{ one: number }>(pool, 'SELECT 1 AS one')).rows[0]!.one, 1);
      frozen = true;
      const err = await query(pool, 'SELECT 1').then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof StoreUnavailableError, String(err));
      assert.match(err.message, /Query read timeout/);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => relay.close(r));
    }
  });

  test('an administrator ending the session is a failure that passes by itself', async () => {
    const pool = await freshPool();
    const err = await withTransaction(pool, async (c) => {
      await c.query('SELECT pg_terminate_backend(pg_backend_pid())');
    }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof StoreUnavailableError, String(err));
    assert.match(err.message, /57P01|Connection terminated/);
    assert.equal((await query<{ one: number }>(pool, 'SELECT 1 AS one')).rows[0]!.one, 1, 'the broken connection was not given back');
  });

  test('which errors pass by themselves', () => {
    const withCode = (code: string) => Object.assign(new Error(code), { code });
    for (const c of ['08006', '08001', '53100', '53200', '53300', '57P01', '57P02', '57P03', '58030', 'ECONNREFUSED', 'ECONNRESET']) assert.ok(unavailableReason(withCode(c)), c);
    for (const c of ['23505', '42P01', '42501', '22P02', '3D000']) assert.equal(unavailableReason(withCode(c)), undefined, c);
    assert.ok(unavailableReason(new Error('Connection terminated unexpectedly')));
    assert.ok(unavailableReason(new Error('wrapped', { cause: withCode('57P01') })));
    assert.equal(unavailableReason(new Error('something else')), undefined);
  });
});
