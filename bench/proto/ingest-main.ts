/**
 * Prototype (not used by `npm run bench`): the main thread's CPU per event of POST /ingest's
 * record path without HTTP, stage by stage, on the bench's bodies (bench/ingest.ts prepareBodies):
 * the body split and JSON.parse (parseBulkChunks alone), then with each record admitted
 * (bulkAdmitter: normalise, route, history keys and summary), then with the batch packed for the
 * writer (packBatch). CPU of this thread (process.threadCpuUsage), µs per event, best of rounds.
 *
 *   node bench/proto/ingest-main.ts [events=100000] [rounds=5]
 */
import { bulkBodies, chunks, identity, limits } from './bulk-fixture.ts';
import { bulkAdmitter, parseBulkChunks, type BulkAdmitted } from '../../src/ingest/index.ts';
import { packBatch } from '../../src/stores/sqlite/append-batch.ts';
import { randomIds } from '../../src/core/index.ts';

const events = Number(process.argv[2] ?? 100_000);
const rounds = Number(process.argv[3] ?? 5);
const bodies = bulkBodies(events);
const cpu = () => { const u = process.threadCpuUsage(); return u.user + u.system; };
const stages: Record<string, (b: Buffer) => Promise<unknown>> = {
  parse: (b) => parseBulkChunks(chunks(b), limits),
  'parse+admit': (b) => parseBulkChunks(chunks(b), limits, bulkAdmitter({ identity, region: 'us-east-1', nowMs: Date.now(), ids: randomIds })),
  'parse+admit+pack': async (b) => {
    const admitted: BulkAdmitted[] = await parseBulkChunks(chunks(b), limits, bulkAdmitter({ identity, region: 'us-east-1', nowMs: Date.now(), ids: randomIds }));
    return packBatch(admitted.flatMap((a) => (a.ok ? [a.input] : [])));
  },
};
const best: Record<string, number> = {};
for (let r = 0; r < rounds; r++) {
  for (const [name, run] of Object.entries(stages)) {
    const c0 = cpu();
    for (const b of bodies) await run(b);
    const us = (cpu() - c0) / events;
    best[name] = Math.min(best[name] ?? Infinity, us);
  }
}
console.log(JSON.stringify({ events, rounds, cpuUsPerEventBest: Object.fromEntries(Object.entries(best).map(([k, v]) => [k, Math.round(v * 10) / 10])) }));
