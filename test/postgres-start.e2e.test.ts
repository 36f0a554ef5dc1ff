/**
 * `opentrail serve` on PostgreSQL (issue 12), through bin/opentrail.js against a real PostgreSQL:
 * start-up failures are one line and exit 2; the schema is made on the first start; what the nodes
 * of a deployment share (NextToken key, first-start account, the signing keys' key-encryption key)
 * lives in the database, made once when nodes start together; a node with another key is refused.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { freePort } from './helpers/moto.ts';
import { startPostgres, type StartedPostgres } from './helpers/postgres.ts';
import { ACCOUNT_A, BIN, cloudTrailClient, startServer, tempDir, type StartedServer, type TestConfig } from './helpers/server.ts';
import { ingest, waitFor } from './helpers/delivery.ts';

let pgServer: StartedPostgres;
const servers: StartedServer[] = [];
/** A database owned by a role that is not a superuser, as docs/scale-out.md asks for. */
async function appDatabase(): Promise<string> {
  const admin = new pg.Client({ connectionString: pgServer.adminUrl });
  await admin.connect();
  const name = `app_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  try {
    await admin.query(`CREATE DATABASE ${name} OWNER otapp`);
  } finally {
    await admin.end();
  }
  return `postgres://otapp:app-password@127.0.0.1:${pgServer.port}/${name}`;
}

before(async () => {
  pgServer = await startPostgres();
  const admin = new pg.Client({ connectionString: pgServer.adminUrl });
  await admin.connect();
  await admin.query("CREATE ROLE otapp LOGIN PASSWORD 'app-password'");
  // Passwords are checked for every role but the harness's own superuser.
  const file = (await admin.query('SHOW hba_file')).rows[0].hba_file as string;
  await admin.query(`COPY (SELECT 'host all opentrail 127.0.0.1/32 trust' UNION ALL SELECT 'host all all 127.0.0.1/32 scram-sha-256') TO '${file}'`);
  await admin.query('SELECT pg_reload_conf()');
  await admin.end();
});
after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await pgServer.destroy();
});

/** Runs `opentrail serve` expecting it to fail at start; its exit code and output. */
function failedStart(env: Record<string, string>, config?: object): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const dir = tempDir();
  const args = [BIN, 'serve', '--port', '0', '--data-dir', join(dir, 'data')];
  if (config) {
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    args.push('--config', join(dir, 'config.json'));
  }
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function assertOneLine(r: { code: number | null; stdout: string; stderr: string }, pattern: RegExp): void {
  assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^opentrail: [^\n]+\n$/, 'one line');
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at |app-password|wrong-password/, 'no stack trace, no password');
}

describe('start-up failures: one line, exit 2', () => {
  test('nothing listens on the port', async () => {
    const port = await freePort();
    assertOneLine(await failedStart({ OPENTRAIL_DATABASE_URL: `postgres://otapp:app-password@127.0.0.1:${port}/opentrail` }), new RegExp(`cannot connect to PostgreSQL database opentrail at 127\\.0\\.0\\.1:${port}: connection refused`));
  });

  test('a wrong password, an unknown user', async () => {
    const url = await appDatabase();
    assertOneLine(await failedStart({ OPENTRAIL_DATABASE_URL: url.replace('app-password', 'wrong-password') }), /password authentication failed for user otapp$/m);
    assertOneLine(await failedStart({ OPENTRAIL_DATABASE_URL: url.replace('otapp:', 'mallory:') }), /password authentication failed for user mallory$/m);
  });

  test('a database that does not exist, given in the config file', async () => {
    const r = await failedStart({}, { database: { type: 'postgres', url: `postgres://otapp:app-password@127.0.0.1:${pgServer.port}/nothing_here` } });
    assertOneLine(r, /the database does not exist \(create it: CREATE DATABASE nothing_here OWNER otapp\)/);
  });

  test('a user without the privilege to create the schema', async () => {
    const url = await appDatabase();
    const admin = new pg.Client({ connectionString: url.replace('otapp:app-password', 'opentrail') });
    await admin.connect();
    await admin.query("CREATE ROLE guest LOGIN PASSWORD 'guest-password'");
    await admin.query('ALTER SCHEMA public OWNER TO opentrail');
    await admin.query('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
    await admin.end();
    assertOneLine(await failedStart({ OPENTRAIL_DATABASE_URL: url.replace('otapp:app-password', 'guest:guest-password') }), /user guest lacks a privilege OpenTrail needs \(permission denied for schema public\); see docs\/scale-out\.md/);
  });
});

describe('a deployment on one database', () => {
  test('the first start makes the schema; a second node shares events, NextTokens, the key chain; a node with another key is refused', async () => {
    const url = await appDatabase();
    const dir = tempDir();
    const kek = join(dir, 'shared.kek');
    const config = { accounts: [ACCOUNT_A], integrity: { keyEncryption: { type: 'file', path: kek } } } as TestConfig;
    const env = { OPENTRAIL_DATABASE_URL: url };
    const [n1, n2] = await Promise.all([startServer(config, { env }), startServer(config, { env })]);
    servers.push(n1, n2);
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      assert.deepEqual((await db.query('SELECT component, version FROM opentrail_schema ORDER BY component')).rows.map((r) => r.component), ['control', 'events']);
      // Ingested through node 1, looked up through node 2, a page at a time: the token of one works on the other.
      const alice = ACCOUNT_A.identities[1]!;
      const records = Array.from({ length: 5 }, (_, i) => ({
        eventVersion: '1.09', eventTime: new Date(Date.now() - i * 1000).toISOString().replace(/\.\d+Z$/, 'Z'), eventSource: 'ec2.amazonaws.com', eventName: 'RunInstances',
        awsRegion: 'us-east-1', sourceIPAddress: '198.51.100.1', userAgent: 'test', eventID: randomUUID(), eventType: 'AwsApiCall', recipientAccountId: ACCOUNT_A.id,
        userIdentity: { type: 'IAMUser', principalId: 'AIDAX', arn: `arn:aws:iam::${ACCOUNT_A.id}:user/x`, accountId: ACCOUNT_A.id, accessKeyId: 'AKIAX', userName: 'x' },
      }));
      assert.equal((await ingest(n1.url, alice, records)).accepted, 5);
      const lookup = { LookupAttributes: [{ AttributeKey: 'EventName' as const, AttributeValue: 'RunInstances' }], MaxResults: 2 };
      const p1 = await cloudTrailClient(n2.url, alice).send(new LookupEventsCommand(lookup));
      assert.equal(p1.Events?.length, 2);
      assert.ok(p1.NextToken);
      const p2 = await cloudTrailClient(n1.url, alice).send(new LookupEventsCommand({ ...lookup, NextToken: p1.NextToken }));
      const p3 = await cloudTrailClient(n2.url, alice).send(new LookupEventsCommand({ ...lookup, NextToken: p2.NextToken }));
      assert.deepEqual([...p1.Events!, ...p2.Events!, ...p3.Events!].map((e) => e.EventId).sort(), records.map((r) => r.eventID).sort());
      // The deployment recorded one key-encryption key; a node with another one is refused.
      const recorded = await db.query("SELECT doc FROM control_documents WHERE kind = convert_to('deployment', 'UTF8') ORDER BY key");
      assert.equal(recorded.rows.length, 2, 'the key-encryption key and the NextToken key');
      assert.doesNotMatch(JSON.stringify(recorded.rows), new RegExp(readFileSync(kek).toString('base64').slice(0, 20).replace(/[+/]/g, '.')), 'the key is not stored');
      const other = join(dir, 'other.kek');
      writeFileSync(other, randomBytes(32), { mode: 0o600 });
      const r = await failedStart(env, { ...config, integrity: { keyEncryption: { type: 'file', path: other } } });
      assertOneLine(r, /this deployment's digest-signing keys are sealed under key-encryption key [0-9a-f]{16} \(key file .*shared\.kek\), but on this node the key file .*other\.kek is key [0-9a-f]{16}: give every node the same integrity\.keyEncryption/);
      const health = await fetch(`${n2.url}/health`);
      assert.equal(health.status, 200);
      const body = await health.json() as { status: string; node: { url: string; pid: number }; database: { type: string; status: string } };
      assert.deepEqual({ status: body.status, url: body.node.url, database: body.database }, { status: 'ok', url: n2.url, database: { type: 'postgres', status: 'ok' } });
      assert.equal(body.node.pid, n2.process.pid);
    } finally {
      await db.end();
      await Promise.all([n1.stop(), n2.stop()]);
    }
  });

  test('nodes starting together on an empty database make one first-start account; each writes the same credentials file', async () => {
    const url = await appDatabase();
    const kek = join(tempDir(), 'shared.kek');
    const config = { integrity: { keyEncryption: { type: 'file', path: kek } } } as TestConfig;
    const writeConfig = (dir: string) => {
      const f = join(dir, 'config.json');
      writeFileSync(f, JSON.stringify(config));
      return f;
    };
    const nodes = await Promise.all([1, 2, 3].map(() => {
      const dir = tempDir();
      return startServer({}, { noConfig: true, dataDir: join(dir, 'data'), env: { OPENTRAIL_DATABASE_URL: url, OPENTRAIL_CONFIG: writeConfig(dir) } });
    }));
    servers.push(...nodes);
    try {
      await Promise.all(nodes.map((n) => waitFor(() => /\n  data: /.test(n.output()), 10_000, 'the start lines')));
      const files = nodes.map((n) => readFileSync(join(n.dataDir, 'aws-credentials'), 'utf8'));
      assert.equal(new Set(files).size, 1, 'the same credentials on every node');
      assert.equal(nodes.filter((n) => /\(profile opentrail; created now\)/.test(n.output())).length, 1, 'created once');
      const key = /aws_access_key_id = (\S+)\naws_secret_access_key = (\S+)/.exec(files[0]!)!;
      const account = /account (\d{12}): Root/.exec(nodes[2]!.output())![1]!;
      for (const n of nodes) assert.match(n.output(), new RegExp(`account ${account}: Root \\(${key[1]}\\)`));
      // The key works on every node.
      const root = { type: 'Root' as const, accessKeyId: key[1]!, secretAccessKey: key[2]! };
      for (const n of nodes) await cloudTrailClient(n.url, root).send(new LookupEventsCommand({ MaxResults: 1 }));
      // The secret key is not in the database in the clear.
      const db = new pg.Client({ connectionString: url });
      await db.connect();
      const dump = JSON.stringify((await db.query('SELECT doc FROM control_documents')).rows);
      await db.end();
      assert.equal(dump.includes(key[2]!), false);
    } finally {
      await Promise.all(nodes.map((n) => n.stop()));
    }
  });
});
