/** The EventStore contract on SQLite: file-backed (with reopening) and in memory. */
import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runEventStoreContract } from '../event-store.suite.ts';
import { SqliteEventStore } from './sqlite-event-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'opentrail-sqlite-events-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

runEventStoreContract('SqliteEventStore (file)', async () => new SqliteEventStore({ path: join(dir, `store-${++n}.db`) }), {
  persistent: async () => {
    const path = join(dir, `persistent-${++n}`, 'events.db'); // a directory that does not exist yet
    return async () => new SqliteEventStore({ path });
  },
});

runEventStoreContract('SqliteEventStore (:memory:)', async () => new SqliteEventStore({ path: ':memory:' }), { modelRuns: 80 });
