/**
 * Prototype (not used by `npm run bench`): the node's CPU per event of POST /ingest's record path
 * on PostgreSQL without HTTP, stage by stage, on the bench's bodies (bench/ingest.ts
 * prepareBodies): parse + admit (bulkAdmitter, as the server), then the same with each body
 * appended to a PgEventStore (`disk`, awaited body by body) on a real PostgreSQL
 * (test/helpers/postgres.ts), a fresh database per round. With PG_BASELINE (the path of another
 * tree's src/stores/postgres/index.ts, e.g. main's copied out with `git archive`), that store is
 * measured too, the two alternated round by round: before/after in one process, one load.
 * Also the record encoding alone, both ways (from the record's text; from its admit-time UTF-8).
 * CPU of the main thread (process.threadCpuUsage), of the whole node process (process.cpuUsage:
 * the main thread, V8's GC helpers, libuv) and, for the appends, of PostgreSQL's processes (the
 * postmaster's children, /proc), µs per event, median of rounds.
 *
 *   PG_BASELINE=/tmp/main/src/stores/postgres/index.ts node bench/proto/pg-append-main.ts [events=30000] [rounds=5]
 */
import { bulkBodies, chunks, identity, limits } from './bulk-fixture.ts';
import { bulkAdmitter, parseBulkChunks, RequestRecordBuffers, type BulkAdmitted } from '../../src/ingest/index.ts';
import { randomIds } from '../../src/core/index.ts';
import { PgEventStore } from '../../src/stores/postgres/index.ts';
import { encodeRecord, encodeRecordBytes } from '../../src/stores/postgres/pg-record-codec.ts';
import type { AppendInput, EventStore } from '../../src/stores/index.ts';
import { startPostgres } from '../../test/helpers/postgres.ts';
import pg from 'pg';
import { postgresCpu } from './pg-cpu.ts';

const events = Number(process.argv[2] ?? 30_000);
const rounds = Number(process.argv[3] ?? 5);
const bodies = bulkBodies(events);
const threadCpu = () => { const u = process.threadCpuUsage(); return u.user + u.system; };
const processCpu = () => { const u = process.cpuUsage(); return u.user + u.system; };

async function admitted(b: Buffer, arena: RequestRecordBuffers): Promise<AppendInput[]> {
  const a: BulkAdmitted[] = await parseBulkChunks(chunks(b), limits, bulkAdmitter({ identity, region: 'us-east-1', nowMs: Date.now(), ids: randomIds }, arena));
  return a.flatMap((x) => (x.ok ? [x.input] : []));
}

const server = await startPostgres();
const admin = new pg.Client({ connectionString: server.adminUrl });
await admin.connect();
const cpu = await postgresCpu(admin);
const pgCpu = cpu.now;
const pgSince = cpu.since;
type Opener = (url: string) => Promise<EventStore>;
const openers: Record<string, Opener> = { branch: (url) => PgEventStore.open({ url }) };
if (process.env.PG_BASELINE) {
  const mod = await import(process.env.PG_BASELINE) as { PgEventStore: { open(o: { url: string }): Promise<EventStore> } };
  openers.baseline = (url) => mod.PgEventStore.open({ url });
}
const results: Record<string, { main: number[]; all: number[]; postgres: number[] }> = {};
const add = (name: string, main: number, all: number, postgres?: number) => {
  results[name] ??= { main: [], all: [], postgres: [] };
  results[name].main.push(main / events);
  results[name].all.push(all / events);
  if (postgres !== undefined) results[name].postgres.push(postgres / events);
};
try {
  for (let r = 0; r < rounds; r++) {
    {
      const t0 = threadCpu(), p0 = processCpu();
      for (const b of bodies) {
        const arena = new RequestRecordBuffers();
        await admitted(b, arena);
        arena.release();
      }
      add('parse+admit', threadCpu() - t0, processCpu() - p0);
    }
    const order = Object.entries(openers);
    if (r % 2) order.reverse();
    for (const [name, open] of order) {
      const store = await open(await server.createDatabase(`r${r}${name}`));
      try {
        const g0 = pgCpu(), t0 = threadCpu(), p0 = processCpu();
        for (const b of bodies) {
          const arena = new RequestRecordBuffers();
          const inputs = await admitted(b, arena);
          await store.append(inputs, 'disk');
          arena.release();
        }
        add(`parse+admit+append ${name}`, threadCpu() - t0, processCpu() - p0, pgSince(g0));
      } finally {
        await store.close();
      }
    }
    {
      // The record encoding alone, both ways, on the same admitted records.
      const arena = new RequestRecordBuffers();
      const inputs: AppendInput[] = [];
      for (const b of bodies.slice(0, 10)) inputs.push(...await admitted(b, arena));
      const scale = events / inputs.length;
      let t0 = threadCpu(), p0 = processCpu();
      for (const e of inputs) encodeRecord(e.json);
      add('encode from text', (threadCpu() - t0) * scale, (processCpu() - p0) * scale);
      t0 = threadCpu();
      p0 = processCpu();
      for (const e of inputs) encodeRecordBytes(e.utf8!);
      add('encode from utf8', (threadCpu() - t0) * scale, (processCpu() - p0) * scale);
      arena.release();
    }
  }
} finally {
  await admin.end();
  await server.destroy();
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const r1 = (x: number) => Math.round(x * 10) / 10;
console.log(JSON.stringify({ events, rounds, cpuUsPerEventMedian: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, { main: r1(median(v.main)), process: r1(median(v.all)), ...(v.postgres.length ? { postgres: r1(median(v.postgres)) } : {}) }])) }));
