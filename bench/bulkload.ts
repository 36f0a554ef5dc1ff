/**
 * Bulk loader for the big datasets: the same rows SqliteEventStore.append would write (same
 * schema, same seq numbers, same history key ids, same records from normalizeRecord +
 * toAppendInput), loaded the way a database import would be: events appended in seq order
 * without the event-id index, history rows sorted by (k, t, seq) and inserted in index order, the
 * event-id index built at the end (by opening the store, whose schema creates it).
 *
 * Why: driving append() costs 100 us/event at the start and >300 us/event past ~1M events
 * (see docs/performance.md), so 10M events would take hours. The B-trees come out densely packed,
 * which a store grown by append() is not; the lookup measurements note this.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { DatabaseSync } from 'node:sqlite';
import { rmSync } from 'node:fs';
import { record, type GenParams } from './gen.ts';
import { normalizeRecord } from '../src/core/index.ts';
import { toAppendInput } from '../src/ingest/prepare.ts';
import { SqliteEventStore } from '../src/stores/sqlite/index.ts';
import type { AppendInput } from '../src/stores/index.ts';

const BATCH = 5000;

function log(msg: string): void {
  process.stderr.write(`[bulkload] ${msg}\n`);
}

interface Msg {
  index: number;
  items: AppendInput[];
}

export async function bulkLoad(dbPath: string, params: GenParams, workers = 2): Promise<void> {
  // The store creates the schema; then the event-id index goes away until the end.
  const created = new SqliteEventStore({ path: dbPath });
  await created.close();
  const db = new DatabaseSync(dbPath);
  db.exec('PRAGMA journal_mode=DELETE'); // leave WAL (the store set it) so OFF takes effect
  db.exec('PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-1048576; PRAGMA temp_store=MEMORY; DROP INDEX events_by_id;');
  const insertEvent = db.prepare('INSERT INTO events(seq, account, region, event_id, event_time, in_history, record) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const insertKey = db.prepare('INSERT INTO history_keys(id, account, region, attr, value) VALUES (?, ?, ?, ?, ?)');
  const insertBatch = db.prepare('INSERT INTO batches(first_seq, committed_ms) VALUES (?, ?)');
  const keyIds = new Map<string, number>();
  const batches = Math.ceil(params.count / BATCH);
  // History rows go to a scratch table in load order, then into `history` sorted by its key.
  const scratch = `${dbPath}.hload`;
  rmSync(scratch, { force: true });
  db.exec(`ATTACH '${scratch}' AS l; PRAGMA l.journal_mode=OFF; PRAGMA l.synchronous=OFF; CREATE TABLE l.h(k INTEGER, t INTEGER, seq INTEGER);`);
  const insertScratch = db.prepare('INSERT INTO l.h(k, t, seq) VALUES (?, ?, ?)');
  let nHistory = 0;

  const pool: Worker[] = [];
  const pending = new Map<number, AppendInput[]>();
  let wake: (() => void) | undefined;
  let failed: unknown;
  let nextToAsk = 0;
  const ask = (w: Worker) => {
    if (nextToAsk < batches) w.postMessage(nextToAsk++);
  };
  for (let i = 0; i < workers; i++) {
    const w = new Worker(new URL(import.meta.url), { workerData: { kind: 'bulk', params, batch: BATCH } });
    w.on('message', (m: Msg) => {
      pending.set(m.index, m.items);
      wake?.();
    });
    w.on('error', (e) => {
      failed = e;
      wake?.();
    });
    pool.push(w);
    for (let k = 0; k < 3; k++) ask(w);
  }
  const started = performance.now();
  let seq = 0;
  let lastLog = started;
  let waitMs = 0;
  db.exec('BEGIN');
  for (let b = 0; b < batches; b++) {
    let items = pending.get(b);
    const w0 = performance.now();
    while (!items) {
      if (failed) throw failed;
      await new Promise<void>((r) => (wake = r));
      wake = undefined;
      items = pending.get(b);
    }
    waitMs += performance.now() - w0;
    pending.delete(b);
    ask(pool[b % workers]!);
    insertBatch.run(seq + 1, params.endMs);
    for (const e of items) {
      seq++;
      insertEvent.run(seq, e.accountId, e.region, e.eventId, e.eventTimeSec, e.history ? 1 : 0, e.json);
      for (const [attr, value] of e.history ?? []) {
        const ck = `${e.accountId}\u0000${e.region}\u0000${attr}\u0000${value}`;
        let k = keyIds.get(ck);
        if (k === undefined) {
          k = keyIds.size + 1;
          keyIds.set(ck, k);
          insertKey.run(k, e.accountId, e.region, attr, value);
        }
        insertScratch.run(k, e.eventTimeSec, seq);
        nHistory++;
      }
    }
    if (b % 40 === 39) {
      db.exec('COMMIT');
      db.exec('BEGIN');
    }
    const now = performance.now();
    if (now - lastLog > 10_000) {
      lastLog = now;
      log(`events: ${seq} (${Math.round(seq / ((now - started) / 1000))} ev/s, ${Math.round(waitMs / 1000)} s waiting for generators)`);
    }
  }
  db.exec('COMMIT');
  for (const w of pool) await w.terminate();
  log(`events done in ${((performance.now() - started) / 1000).toFixed(0)} s (${Math.round(waitMs / 1000)} s waiting for generators); inserting ${nHistory} history rows in index order`);
  db.exec('BEGIN; INSERT INTO history(k, t, seq) SELECT k, t, seq FROM l.h ORDER BY k, t, seq; COMMIT;');
  db.exec('DETACH l');
  rmSync(scratch, { force: true });
  log(`history done at ${((performance.now() - started) / 1000).toFixed(0)} s`);
  db.exec('PRAGMA journal_mode=WAL');
  db.close();
  log(`building the event-id index (opening the store)`);
  const store = new SqliteEventStore({ path: dbPath });
  await store.close();
  log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

function workerMain(): void {
  const { params } = workerData as { params: GenParams; batch: number };
  const ctx = { defaultAccountId: '111111111111', defaultRegion: 'us-east-1', nowMs: params.endMs, ids: { uuid: () => crypto.randomUUID() } };
  parentPort!.on('message', (index: number) => {
    const out: AppendInput[] = [];
    for (let i = index * BATCH; i < Math.min(params.count, (index + 1) * BATCH); i++) {
      const n = normalizeRecord(record(params, i), ctx);
      if (!n.ok) throw new Error(`generator produced an invalid record ${i}: ${n.errorMessage}`);
      out.push(toAppendInput(n.value));
    }
    parentPort!.postMessage({ index, items: out } satisfies Msg);
  });
}

if (!isMainThread && (workerData as { kind?: string }).kind === 'bulk') workerMain();
