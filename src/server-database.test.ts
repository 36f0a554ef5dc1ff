/**
 * openDatabase on a real PostgreSQL: two nodes whose host, port and pid are alike (two containers
 * with a fixed hostname, both pid 1 on the same port; here: two opens in one process) are two
 * nodes in the lease table, and share the work instead of taking each other's leases.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, type StartedPostgres } from '../test/helpers/postgres.ts';
import { defaultConfig, type OpenTrailConfig } from './config/index.ts';
import { openDatabase } from './server-database.ts';

let server: StartedPostgres;
const dir = mkdtempSync(join(tmpdir(), 'opentrail-server-database-'));
before(async () => {
  server = await startPostgres();
});
after(async () => {
  await server.destroy();
  rmSync(dir, { recursive: true, force: true });
});

test('two nodes alike in host, port and pid have different lease holders and split a group between them', async () => {
  const config: OpenTrailConfig = { ...defaultConfig(), dataDir: dir, database: { type: 'postgres', url: await server.createDatabase('holders') } };
  const opts = { clock: { nowMs: () => Date.now() }, logError: () => undefined };
  const a = await openDatabase(config, opts);
  const b = await openDatabase(config, opts);
  try {
    assert.notEqual(a.leases.holder, b.leases.holder);
    assert.match(a.leases.holder, new RegExp(`:${config.port}:[0-9a-f-]{36}:${process.pid}$`));
    const keys = ['t1', 't2', 't3', 't4'];
    await a.leases.share('delivery', keys);
    await b.leases.share('delivery', keys);
    const sa = await a.leases.share('delivery', keys);
    const sb = await b.leases.share('delivery', keys);
    assert.equal(sa.size, 2);
    assert.equal(sb.size, 2);
    assert.deepEqual([...sa.keys(), ...sb.keys()].sort(), keys, 'each trail has one node');
  } finally {
    await a.close();
    await b.close();
  }
});
