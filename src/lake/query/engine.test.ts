import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lockedQueryInstance } from './engine.ts';

test('the query instance is locked: it reads below the Lake root only, and no statement unlocks it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lake-lock-'));
  const root = join(dir, 'lake');
  const results = join(dir, 'results');
  mkdirSync(root);
  mkdirSync(results);
  writeFileSync(join(root, 'inside.csv'), 'a\n1\n');
  writeFileSync(join(dir, 'outside.csv'), 'a\n2\n');
  const db = await lockedQueryInstance(root, results, { threads: 1, memoryLimit: '256MB' });
  const conn = await db.connect();
  try {
    // The translator refuses these statements; this is what stands behind it.
    assert.deepEqual((await conn.runAndReadAll(`SELECT a FROM read_csv('${join(root, 'inside.csv')}')`)).getRows(), [[1n]]);
    for (const q of [
      "SELECT * FROM read_text('/etc/passwd')",
      "SELECT * FROM read_csv('/etc/passwd')",
      `SELECT * FROM read_csv('${join(dir, 'outside.csv')}')`,
      `SELECT * FROM read_csv('${join(root, '..', 'outside.csv')}')`,
      `COPY (SELECT 1) TO '${join(dir, 'x.csv')}'`,
      "ATTACH '/tmp/lake-lock-x.db'",
      'INSTALL httpfs',
    ]) {
      await assert.rejects(conn.run(q), /Permission Error|disabled|not allowed|locked|Cannot|Failed|IO Error/i, q);
    }
    await assert.rejects(conn.run('SET enable_external_access = true'), /locked/);
    await assert.rejects(conn.run(`SET allowed_directories = ['/']`), /locked/);
    await assert.rejects(conn.run('RESET lock_configuration'), /locked/);
  } finally {
    conn.closeSync();
    db.closeSync();
  }
});
