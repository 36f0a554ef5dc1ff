/** The LeaseStore contract on SQLite: two connections to one control.db, and its control store's fenced writes. */
import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLeaseStoreContract } from '../lease-store.suite.ts';
import { SqliteControlStore } from './sqlite-control-store.ts';
import { SqliteLeaseStore } from './sqlite-lease-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'opentrail-sqlite-lease-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

runLeaseStoreContract('SqliteLeaseStore', async () => {
  const path = join(dir, `db-${++n}`, 'control.db');
  const a = new SqliteLeaseStore(path);
  const b = new SqliteLeaseStore(path);
  const control = new SqliteControlStore(path);
  return { a, b, control, close: async () => { await a.close(); await b.close(); await control.close(); } };
});
