/**
 * Appends in parallel on PostgreSQL (issue 12, part 8; docs/storage.md, "Appends in parallel"):
 * the same bench batches of 1,000 events appended through PgEventStore by 4 callers at once, with
 * parallelAppends 1 (one after another: schema v2's behaviour) and 2, alternated, each into a fresh
 * database of one real PostgreSQL (test/helpers/postgres.ts). Prints JSON: per run the wall time,
 * the node's CPU per event (process.cpuUsage) and PostgreSQL's (its processes' /proc stat).
 * On a shared machine only the CPU and the same-run ratio of walls mean anything.
 *
 *   node bench/proto/pg-parallel.ts            # PGPAR_BATCHES=40 PGPAR_ROUNDS=2
 */
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { appendInputOf, datasetParams, normalizeContext } from '../dataset.ts';
import { startPostgres } from '../../test/helpers/postgres.ts';
import { PgEventStore } from '../../src/stores/postgres/index.ts';
import type { AppendInput } from '../../src/stores/index.ts';

const BATCHES = Number(process.env.PGPAR_BATCHES ?? 40);
const ROUNDS = Number(process.env.PGPAR_ROUNDS ?? 2);
const params = datasetParams(BATCHES * 1000);
const ctx = normalizeContext(params);
const batches: AppendInput[][] = Array.from({ length: BATCHES }, (_, b) => Array.from({ length: 1000 }, (_, i) => appendInputOf(params, b * 1000 + i, ctx)));

const ticks = (pid: number): number => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
};
/** CPU seconds of the postmaster and its children alive now. */
function pgCpu(postmaster: number): number {
  let t = ticks(postmaster);
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (Number(readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]) === postmaster) t += ticks(Number(d));
    } catch {
      // ended
    }
  }
  return t / 100;
}

const server = await startPostgres();
const out: Record<string, unknown>[] = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const parallel of round % 2 ? [2, 1] : [1, 2]) {
      const url = await server.createDatabase(`par${round}x${parallel}`);
      const store = await PgEventStore.open({ url, parallelAppends: parallel });
      const sql = new pg.Client({ connectionString: url });
      await sql.connect();
      const pid = (await sql.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const postmaster = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
      await sql.end();
      await store.append(batches[0]!.slice(0, 10).map((e) => ({ ...e, eventId: `warm-${e.eventId}` })));
      const cpu0 = process.cpuUsage();
      const pg0 = pgCpu(postmaster);
      const t0 = performance.now();
      let next = 0;
      await Promise.all(Array.from({ length: 4 }, async () => {
        while (next < batches.length) {
          const b = batches[next++]!;
          store.prepare(b);
          await store.append(b);
        }
      }));
      const wall = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const pgSec = pgCpu(postmaster) - pg0;
      const events = BATCHES * 1000;
      const row = { round, parallelAppends: parallel, events, wallSeconds: +wall.toFixed(2), eventsPerSecond: Math.round(events / wall),
        nodeCpuUsPerEvent: +(((cpu.user + cpu.system) / events)).toFixed(1), postgresCpuUsPerEvent: +((pgSec * 1e6) / events).toFixed(1), count: await store.count() };
      process.stderr.write(`${JSON.stringify(row)}\n`);
      out.push(row);
      await store.close();
    }
  }
} finally {
  await server.destroy();
}
process.stdout.write(`${JSON.stringify(out, null, 1)}\n`);
