/** The ControlStore contract on SQLite: file-backed (with reopening) and in memory. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runControlStoreContract } from '../control-store.suite.ts';
import { SqliteControlStore } from './sqlite-control-store.ts';
import { StoreUnavailableError } from '../errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'opentrail-sqlite-control-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

runControlStoreContract('SqliteControlStore (file)', async () => new SqliteControlStore(join(dir, `control-${++n}.db`)), {
  persistent: async () => {
    const path = join(dir, `persistent-${++n}`, 'control.db'); // a directory that does not exist yet
    return async () => new SqliteControlStore(path);
  },
  modelRuns: 10,
});

runControlStoreContract('SqliteControlStore (:memory:)', async () => new SqliteControlStore(':memory:'), { modelRuns: 100 });

test('putMany with eraseReplaced leaves no byte of the replaced documents in the database file or its WAL', async () => {
  const path = join(dir, 'erase', 'control.db');
  const secret = (i: number) => `SECRET-${i}-${'s'.repeat(6000)}`; // overflow pages, as a PEM key would need
  // Written as a store without secure_delete would have (an older version), then rewritten twice.
  mkdirSync(join(dir, 'erase'));
  const old = new DatabaseSync(path);
  old.exec("PRAGMA journal_mode=WAL; CREATE TABLE documents (kind TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (kind, key)) WITHOUT ROWID");
  for (let i = 0; i < 3; i++) old.prepare('INSERT OR REPLACE INTO documents VALUES (?, ?, ?)').run('secret', `k${i}`, JSON.stringify({ s: secret(i) }));
  old.prepare('UPDATE documents SET doc = ? WHERE key = ?').run(JSON.stringify({ s: `${secret(0)}-v2` }), 'k0');
  const raw = () => [path, `${path}-wal`].filter(existsSync).map((p) => readFileSync(p).toString('latin1')).join('');
  assert.ok(raw().includes('SECRET-'), 'precondition: the secrets are in the files');
  const s = new SqliteControlStore(path); // while the old connection is still open, as a copy's WAL might be
  old.close();
  await s.putMany([0, 1, 2].map((i) => ({ kind: 'secret', key: `k${i}`, doc: { sealed: 'x'.repeat(100) } })), { eraseReplaced: true });
  assert.equal(raw().includes('SECRET-'), false);
  assert.deepEqual((await s.list('secret', '')).map((r) => r.doc), [0, 1, 2].map(() => ({ sealed: 'x'.repeat(100) })));
  await s.close();
  assert.equal(raw().includes('SECRET-'), false);
});

describe('SqliteControlStore: failures that pass by themselves', () => {
  test('a put on a full database rejects with StoreUnavailableError and changes nothing; the next put succeeds', async () => {
    const store = new SqliteControlStore(join(dir, `full-${++n}.db`));
    try {
      await store.put('trail', 'a', { v: 1 });
      const db = (store as unknown as { db: DatabaseSync }).db;
      const pages = (db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count;
      db.exec(`PRAGMA max_page_count = ${pages}`);
      const err = await store.put('trail', 'a', { v: 2, pad: 'x'.repeat(50_000) }).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof StoreUnavailableError, `rejected with ${String(err)}`);
      assert.match(err.message, /^control\.db: put failed: SQLITE_FULL/);
      assert.equal(db.isTransaction, false);
      assert.deepEqual(await store.get('trail', 'a'), { v: 1 });
      db.exec('PRAGMA max_page_count = 1073741823');
      await store.put('trail', 'a', { v: 3, pad: 'x'.repeat(50_000) });
      assert.equal((await store.get<{ v: number }>('trail', 'a'))!.v, 3);
    } finally {
      await store.close();
    }
  });

  test('putMany on a full database stores none of the documents, leaves no transaction open, and names the cause', async () => {
    const store = new SqliteControlStore(join(dir, `full-${++n}.db`));
    try {
      await store.put('k', 'a', { v: 1 });
      const db = (store as unknown as { db: DatabaseSync }).db;
      const pages = (db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count;
      db.exec(`PRAGMA max_page_count = ${pages}`);
      const docs = ['a', 'b', 'c'].map((key) => ({ kind: 'k', key, doc: { v: 2, pad: 'x'.repeat(20_000) } }));
      const err = await store.putMany(docs).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof StoreUnavailableError, `rejected with ${String(err)}`);
      assert.match(err.message, /SQLITE_FULL/);
      assert.equal(db.isTransaction, false);
      assert.deepEqual((await store.list('k', '')).map((r) => [r.key, (r.doc as { v: number }).v]), [['a', 1]]);
      db.exec('PRAGMA max_page_count = 1073741823');
      await store.putMany(docs);
      assert.equal((await store.list('k', '')).length, 3);
    } finally {
      await store.close();
    }
  });
});
