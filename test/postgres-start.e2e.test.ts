/**
 * `opentrail serve` on PostgreSQL (issue 12), through bin/opentrail.js against a real PostgreSQL:
 * a start-up failure of the database is one line and exit 2, never a stack trace. And in process
 * (startServer): a start that fails after the database was opened closes it again.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { defaultConfig, resolveConfig } from '../src/config/index.ts';
import { startServer } from '../src/server.ts';
import { FIRST_START_LOCK } from '../src/server-database.ts';
import { freePort } from './helpers/moto.ts';
import { tempDir } from './helpers/server.ts';
import { APP_PASSWORD, assertOneLine, failedStart, startAppPostgres, type AppPostgres } from './helpers/postgres-app.ts';

let pgs: AppPostgres;
before(async () => {
  pgs = await startAppPostgres();
});
after(() => pgs.server.destroy());

describe('start-up failures: one line, exit 2', () => {
  test('nothing listens on the port', async () => {
    const port = await freePort();
    assertOneLine(await failedStart({ OPENTRAIL_DATABASE_URL: `postgres://otapp:app-password@127.0.0.1:${port}/opentrail` }), new RegExp(`cannot connect to PostgreSQL database opentrail at 127\\.0\\.0\\.1:${port}: connection refused`));
  });

  test('a wrong password, an unknown user', async () => {
    const url = await pgs.appDatabase();
    assertOneLine(await failedStart({ OPENTRAIL_DATABASE_URL: url.replace(APP_PASSWORD, 'wrong-password') }), /password authentication failed for user otapp$/m, [APP_PASSWORD, 'wrong-password']);
    assertOneLine(await failedStart({ OPENTRAIL_DATABASE_URL: url.replace('otapp:', 'mallory:') }), /password authentication failed for user mallory$/m);
  });

  test('a database that does not exist, given in the config file', async () => {
    const r = await failedStart({}, { database: { type: 'postgres', url: `postgres://otapp:app-password@127.0.0.1:${pgs.server.port}/nothing_here` } });
    assertOneLine(r, /the database does not exist \(create it: CREATE DATABASE nothing_here OWNER otapp\)/);
  });

  test('a user without the privilege to create the schema', async () => {
    const url = await pgs.appDatabase();
    const admin = new pg.Client({ connectionString: url.replace('otapp:app-password', 'opentrail') });
    await admin.connect();
    await admin.query("CREATE ROLE guest LOGIN PASSWORD 'guest-password'");
    await admin.query('ALTER SCHEMA public OWNER TO opentrail');
    await admin.query('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
    await admin.end();
    assertOneLine(await failedStart({ OPENTRAIL_DATABASE_URL: url.replace('otapp:app-password', 'guest:guest-password') }), /user guest lacks a privilege OpenTrail needs \(permission denied for schema public\); see docs\/scale-out\.md/);
  });
});

describe('a start that fails after the database is open', () => {
  test('a gateway port taken while the node waited for the database: the start fails and leaves no connection open', async () => {
    const url = await pgs.appDatabase();
    const gatewayPort = await freePort();
    const config = resolveConfig({
      dataDir: tempDir(), port: 0, database: { type: 'postgres', url },
      gateway: { port: gatewayPort, upstream: { endpoint: 'http://127.0.0.1:9' } },
    }, defaultConfig(), new Date().toISOString());
    // The first-start lock held by "another node": the start checks its ports, opens the
    // database and waits; meanwhile another process takes the gateway's port.
    const other = new pg.Client({ connectionString: url, application_name: 'test' });
    await other.connect();
    const taker = createServer();
    try {
      await other.query('SELECT pg_advisory_lock($1)', [FIRST_START_LOCK.toString()]);
      const start = startServer(config, { logError: () => undefined }).then(() => undefined, (e: unknown) => e);
      for (let i = 0; ; i++) {
        const waiting = await other.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted");
        if (waiting.rowCount) break;
        assert.ok(i < 300, 'the start never waited for the first-start lock');
        await sleep(50);
      }
      await new Promise<void>((resolve) => taker.listen(gatewayPort, '127.0.0.1', resolve));
      await other.query('SELECT pg_advisory_unlock($1)', [FIRST_START_LOCK.toString()]);
      const err = await start;
      assert.match(String((err as Error | undefined)?.message), /EADDRINUSE/);
      // A closed connection's server process leaves pg_stat_activity a moment after the client
      // closed its socket (seen in CI under load: one 'idle' row just after the start failed), so
      // look for up to 2 s; a connection the start left open stays there.
      let left = await other.query("SELECT pid, application_name, state FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
      for (let i = 0; i < 20 && left.rows.length > 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        left = await other.query("SELECT pid, application_name, state FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
      }
      assert.deepEqual(left.rows, [], 'every connection of the failed start is closed');
    } finally {
      await other.end();
      await new Promise((resolve) => taker.close(resolve));
    }
  });
});
