/** The ControlStore contract on SQLite: file-backed (with reopening) and in memory. */
import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runControlStoreContract } from '../control-store.suite.ts';
import { SqliteControlStore } from './sqlite-control-store.ts';

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
