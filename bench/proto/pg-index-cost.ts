/**
 * Prototype (not used by `npm run bench`): what each table and index of the PostgreSQL event store
 * costs PostgreSQL per appended event. The bench's bodies (bulk-fixture.ts) are parsed and admitted
 * once, then appended body by body to a PgEventStore on a real PostgreSQL (test/helpers/postgres.ts),
 * a fresh database per variant and round; a variant is SQL run after the store's migrations (e.g. one
 * index dropped). Variants alternate round by round. Prints, per variant, the median of rounds of
 * PostgreSQL's processes' CPU (µs per event) and WAL bytes per event (pg_current_wal_lsn before and
 * after), and the node's main-thread CPU per event.
 *
 *   node bench/proto/pg-index-cost.ts [events=20000] [rounds=3] [variant,...]
 */
import { bulkBodies, chunks, identity, limits } from './bulk-fixture.ts';
import { bulkAdmitter, parseBulkChunks, RequestRecordBuffers, type BulkAdmitted } from '../../src/ingest/index.ts';
import { randomIds } from '../../src/core/index.ts';
import { PgEventStore } from '../../src/stores/postgres/index.ts';
import type { AppendInput } from '../../src/stores/index.ts';
import { startPostgres } from '../../test/helpers/postgres.ts';
import pg from 'pg';
import { postgresCpu } from './pg-cpu.ts';

const events = Number(process.argv[2] ?? 20_000);
const rounds = Number(process.argv[3] ?? 3);
const VARIANTS: Record<string, string> = {
  base: '',
  'no log seq index': 'DROP INDEX event_log_seq',
  'no log brin': 'DROP INDEX event_log_ingest',
  'no history brin': 'DROP INDEX event_history_t',
  'no log brins': 'DROP INDEX event_log_ingest; DROP INDEX event_history_t',
  'log pk seq first': 'DROP INDEX event_log_seq; ALTER TABLE event_log DROP CONSTRAINT event_log_pkey; ALTER TABLE event_log ADD PRIMARY KEY (seq, account_id, ingest_ms)',
  'log pk seq first, no brins': 'DROP INDEX event_log_seq; DROP INDEX event_log_ingest; DROP INDEX event_history_t; ALTER TABLE event_log DROP CONSTRAINT event_log_pkey; ALTER TABLE event_log ADD PRIMARY KEY (seq, account_id, ingest_ms)',
  'no log pk': 'ALTER TABLE event_log DROP CONSTRAINT event_log_pkey',
  'no history pk': 'ALTER TABLE event_history DROP CONSTRAINT event_history_pkey',
  'history key not unique': 'ALTER TABLE event_history DROP CONSTRAINT event_history_pkey; CREATE INDEX event_history_key ON event_history (account_id, region, attr, value, t, seq) INCLUDE (ingest_ms)',
  'history key without include': 'ALTER TABLE event_history DROP CONSTRAINT event_history_pkey; ALTER TABLE event_history ADD PRIMARY KEY (account_id, region, attr, value, t, seq)',
  'history one text key': "ALTER TABLE event_history DROP CONSTRAINT event_history_pkey; CREATE UNIQUE INDEX event_history_key ON event_history (account_id, (region || chr(1) || attr || chr(1) || value), t, seq) INCLUDE (ingest_ms)",
  'no ids pk': 'ALTER TABLE event_ids DROP CONSTRAINT event_ids_pkey',
};
/** Variants that change what is appended rather than the schema: Event history pairs left out. */
const LEAVE_OUT: Record<string, (attr: string) => boolean> = {
  'no ReadOnly rows': (a) => a === 'ReadOnly',
  'no catch-all rows': (a) => a === '*',
};
/** Variants run with a server setting changed (ALTER SYSTEM, reloaded; reset after). */
const SERVER: Record<string, string> = {
  'autovacuum off': 'autovacuum = off',
};
for (const k of [...Object.keys(LEAVE_OUT), ...Object.keys(SERVER)]) VARIANTS[k] = '';
const chosen = process.argv[4] ? process.argv[4].split(',') : Object.keys(VARIANTS);
const bodies = bulkBodies(events);
const threadCpu = () => { const u = process.threadCpuUsage(); return u.user + u.system; };

const server = await startPostgres();
const admin = new pg.Client({ connectionString: server.adminUrl });
await admin.connect();
const cpu = await postgresCpu(admin);
const lsn = async () => (await admin.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l')).rows[0]!.l;
const walBytes = async (a: string, b: string) => Number((await admin.query<{ d: string }>('SELECT pg_wal_lsn_diff($1, $2) AS d', [b, a])).rows[0]!.d);
// Admitted once: the same inputs go to every variant.
const inputs: AppendInput[][] = [];
const arenas: RequestRecordBuffers[] = [];
for (const b of bodies) {
  const arena = new RequestRecordBuffers();
  arenas.push(arena);
  const a: BulkAdmitted[] = await parseBulkChunks(chunks(b), limits, bulkAdmitter({ identity, region: 'us-east-1', nowMs: Date.now(), ids: randomIds }, arena));
  inputs.push(a.flatMap((x) => (x.ok ? [x.input] : [])));
}
const results: Record<string, { node: number[]; postgres: number[]; wal: number[] }> = {};
try {
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? [...chosen].reverse() : chosen;
    for (const [i, name] of order.entries()) {
      const url = await server.createDatabase(`r${r}v${i}`);
      const store = await PgEventStore.open({ url });
      try {
        // A first append creates the partitions; then the variant's SQL, then the measured appends.
        if (VARIANTS[name]) {
          const c = new pg.Client({ connectionString: url });
          await c.connect();
          await c.query(VARIANTS[name]!);
          await c.end();
        }
        const setting = SERVER[name]?.split(' = ');
        if (setting) await admin.query(`ALTER SYSTEM SET ${setting[0]} = '${setting[1]}'`);
        if (setting) await admin.query('SELECT pg_reload_conf()');
        const leave = LEAVE_OUT[name];
        const batches = leave ? inputs.map((b) => b.map((e) => (e.history ? { ...e, history: e.history.filter(([a]) => !leave(a)) } : e))) : inputs;
        await admin.query('CHECKPOINT');
        const l0 = await lsn(), g0 = cpu.now(), t0 = threadCpu();
        for (const batch of batches) await store.append(batch, 'disk');
        const node = threadCpu() - t0, postgres = cpu.since(g0), wal = await walBytes(l0, await lsn());
        if (setting) await admin.query(`ALTER SYSTEM RESET ${setting[0]}`);
        if (setting) await admin.query('SELECT pg_reload_conf()');
        (results[name] ??= { node: [], postgres: [], wal: [] });
        results[name].node.push(node / events);
        results[name].postgres.push(postgres / events);
        results[name].wal.push(wal / events);
      } finally {
        await store.close();
      }
    }
  }
} finally {
  for (const a of arenas) a.release();
  await admin.end();
  await server.destroy();
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const r1 = (x: number) => Math.round(x * 10) / 10;
console.log(JSON.stringify({ events, rounds }));
for (const [k, v] of Object.entries(results)) console.log(JSON.stringify({ variant: k, nodeMainUs: r1(median(v.node)), postgresUs: r1(median(v.postgres)), postgresAll: v.postgres.map(r1), walBytes: Math.round(median(v.wal)) }));
