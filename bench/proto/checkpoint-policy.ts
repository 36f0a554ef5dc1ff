/**
 * Prototype (not used by `npm run bench`): lone `disk` appends of a recorded write-1k call, 1 ms
 * apart, through an Ingester into a SqliteEventStore of the tree given (this one, or a `git archive`
 * of another commit beside it, so two checkpointer policies run back to back): checkpoints run,
 * times the WAL started over (the wal-index header's mxFrame going down, sampled every 20 appends),
 * the WAL file's size, the syncer's fdatasync p50/p90/p99 and the append's p50/p99.
 *
 * The tree must have the store's stage trace (17d5b6a or later) for the fdatasync figures.
 *
 *   node bench/proto/checkpoint-policy.ts [tree=.] [seconds=4]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
const tree = new URL(process.argv[2] ?? '.', `file://${process.cwd()}/`).pathname.replace(/\/$/, '');
const secs = Number(process.argv[3] ?? 4);
const { SqliteEventStore } = await import(`${tree}/src/stores/sqlite/index.ts`);
const { Ingester } = await import(`${tree}/src/ingest/index.ts`);
const { apiCallRecorder } = await import(`${tree}/src/capture/self-audit.ts`);
const { randomIds } = await import(`${tree}/src/core/index.ts`);
const dir = mkdtempSync(join(tmpdir(), 'checkpoint-policy-'));
const syncs: number[] = [];
const store = new SqliteEventStore({ path: join(dir, 'events.db'), onStages: (s: { kind: string; ms: number }) => { if (s.kind === 'sync') syncs.push(s.ms); } });
const rec = apiCallRecorder(new Ingester(store, { maxBatchEvents: 5000 }), randomIds);
const identity = { type: 'IAMUser', accountId: '111111111111', accessKeyId: 'AKIAEXAMPLE000000001', secretAccessKey: 'x', userName: 'b', path: '/', principalId: 'AIDA1', mfaAuthenticated: false, isTrustedProducer: false };
let restarts = 0, lastMx = 0, n = 0;
const t0 = performance.now();
const lat: number[] = [];
while (performance.now() - t0 < secs * 1000) {
  const t = performance.now();
  await rec({ identity, region: 'us-east-1', eventTimeMs: Date.now(), requestId: randomIds.uuid(), sourceIPAddress: '127.0.0.1', userAgent: 'x', category: 'Management', keysAsGiven: true, eventSource: 'monitoring.amazonaws.com', eventName: 'PutMetricAlarm', readOnly: false, requestParameters: { a: 'x'.repeat(900) }, responseElements: null });
  lat.push(performance.now() - t);
  await new Promise((r) => setTimeout(r, 1));
  n++;
  if (n % 20 === 0) { const mx = readFileSync(join(dir, 'events.db-shm')).readUInt32LE(16); if (mx < lastMx) restarts++; lastMx = mx; }
}
const st = await store.checkpointerStats();
const p = (x: number[], q: number) => [...x].sort((a, b) => a - b)[Math.floor(x.length * q)]!.toFixed(3);
console.log(tree.split('/').pop(), 'appends', n, 'checkpoints', st.checkpoints, 'WAL restarts seen', restarts, 'WAL bytes', st.walBytes, 'fdatasync p50/p90/p99', p(syncs, .5), p(syncs, .9), p(syncs, .99), 'append p50/p99', p(lat, .5), p(lat, .99));
await store.close();
rmSync(dir, { recursive: true, force: true });
