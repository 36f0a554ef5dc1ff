/**
 * `opentrail serve` on PostgreSQL (issue 12), through bin/opentrail.js against a real PostgreSQL:
 * a start-up failure of the database is one line and exit 2, never a stack trace.
 */
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { freePort } from './helpers/moto.ts';
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
