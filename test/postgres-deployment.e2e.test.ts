/**
 * Several `opentrail serve` nodes on one PostgreSQL database (issue 12), through bin/opentrail.js:
 * the first start makes the schema; what the nodes share (NextToken key, first-start account, the
 * signing keys' key-encryption key) lives in the database, made once when nodes start together;
 * a node with another key-encryption key is refused; GET /health reports node and database.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { assertOneLine, failedStart, startAppPostgres, type AppPostgres } from './helpers/postgres-app.ts';
import { ACCOUNT_A, cloudTrailClient, startServer, tempDir, type StartedServer, type TestConfig } from './helpers/server.ts';
import { ingest, waitFor } from './helpers/delivery.ts';

let pgs: AppPostgres;
const servers: StartedServer[] = [];
before(async () => {
  pgs = await startAppPostgres();
});
after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await pgs.server.destroy();
});

describe('a deployment on one database', () => {
  test('the first start makes the schema; a second node shares events, NextTokens, the key chain; a node with another key is refused', async () => {
    const url = await pgs.appDatabase();
    const dir = tempDir();
    const kek = join(dir, 'shared.kek');
    const config = { accounts: [ACCOUNT_A], integrity: { keyEncryption: { type: 'file', path: kek } } } as TestConfig;
    const env = { OPENTRAIL_DATABASE_URL: url };
    const [n1, n2] = await Promise.all([startServer(config, { env }), startServer(config, { env })]);
    servers.push(n1, n2);
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      assert.deepEqual((await db.query('SELECT component, version FROM opentrail_schema ORDER BY component')).rows.map((r) => r.component), ['control', 'events', 'leases']);
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
    const url = await pgs.appDatabase();
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
      await Promise.all(nodes.map((n) => waitFor(() => /\n {2}database: .*\n/.test(n.output()), 10_000, 'the start lines')));
      const files = nodes.map((n) => readFileSync(join(n.dataDir, 'aws-credentials'), 'utf8'));
      assert.equal(new Set(files).size, 1, 'the same credentials on every node');
      assert.equal(nodes.filter((n) => /\(profile opentrail; created now\)/.test(n.output())).length, 1, 'created once');
      const key = /aws_access_key_id = (\S+)\naws_secret_access_key = (\S+)/.exec(files[0]!)!;
      const account = /account (\d{12}): Root/.exec(nodes[2]!.output())![1]!;
      for (const n of nodes) assert.match(n.output(), new RegExp(`account ${account}: Root \\(${key[1]}\\)`));
      for (const n of nodes) assert.match(n.output(), /\n {2}database: postgres:\/\/otapp:\*\*\*@127\.0\.0\.1:\d+\/app_\w+ \(PostgreSQL\)\n/, 'the database, without its password');
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
