/**
 * Prototype (not used by `npm run bench`): the store's append path re-implemented on node:sqlite
 * with knobs, to measure what each proposed change to src/stores/sqlite/sqlite-event-store.ts
 * would buy. Each variant appends the same N pre-normalised events (generated once, in memory)
 * to a fresh database in transactions of BATCH events, as the group commit does, and reports
 * wall us/event, CPU us/event, and bytes that reached the disk per event (/proc/self/io).
 *
 *   node bench/proto/store-variants.ts [N=300000] [variant,variant,...]
 */
import { DatabaseSync } from 'node:sqlite';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { deflateRawSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { record, type GenParams } from '../gen.ts';
import { normalizeRecord } from '../../src/core/index.ts';
import { toAppendInput } from '../../src/ingest/prepare.ts';
import { SqliteEventStore } from '../../src/stores/sqlite/index.ts';
import type { AppendInput } from '../../src/stores/index.ts';

interface Variant {
  sync?: 'FULL' | 'NORMAL' | 'OFF';
  history?: 'json_each' | 'prepared' | 'none' | 'no-readonly-eventsource';
  eventIdIndex?: 'text' | 'none' | 'int-hash';
  pageSize?: number;
  cacheMiB?: number;
  compress?: boolean;
  autocheckpoint?: number;
  batch?: number;
}

const VARIANTS: Record<string, Variant> = {
  baseline: {},
  'sync-normal': { sync: 'NORMAL' },
  'sync-off': { sync: 'OFF' },
  'history-prepared': { history: 'prepared' },
  'history-none': { history: 'none' },
  'history-5rows': { history: 'no-readonly-eventsource' },
  'no-eventid-index': { eventIdIndex: 'none' },
  'eventid-int-hash': { eventIdIndex: 'int-hash' },
  'page-16k': { pageSize: 16384 },
  'cache-1g': { cacheMiB: 1024 },
  'cache-32m': { cacheMiB: 32 },
  'checkpoint-10k': { autocheckpoint: 10000 },
  compress: { compress: true },
  'batch-20k': { batch: 20000 },
  combined: { history: 'prepared', eventIdIndex: 'int-hash', pageSize: 16384, compress: true, cacheMiB: 1024 },
  'combined-normal': { history: 'prepared', eventIdIndex: 'int-hash', pageSize: 16384, compress: true, cacheMiB: 1024, sync: 'NORMAL' },
};

const SCHEMA = (v: Variant) => `
CREATE TABLE events (seq INTEGER PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, event_id TEXT NOT NULL,
  ${v.eventIdIndex === 'int-hash' ? 'id_hash INTEGER NOT NULL,' : ''} event_time INTEGER NOT NULL, in_history INTEGER NOT NULL, record ${v.compress ? 'BLOB' : 'TEXT'} NOT NULL);
${v.eventIdIndex === 'text' || v.eventIdIndex === undefined ? 'CREATE UNIQUE INDEX events_by_id ON events(account, event_id);' : ''}
${v.eventIdIndex === 'int-hash' ? 'CREATE INDEX events_by_id_hash ON events(id_hash);' : ''}
CREATE TABLE history_keys (id INTEGER PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, attr TEXT NOT NULL, value TEXT NOT NULL, UNIQUE (account, region, attr, value));
CREATE TABLE history (k INTEGER NOT NULL, t INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (k, t, seq)) WITHOUT ROWID;
CREATE TABLE batches (first_seq INTEGER PRIMARY KEY, committed_ms INTEGER NOT NULL);
`;

function ioWriteBytes(): number {
  const text = readFileSync('/proc/self/io', 'utf8');
  return Number(/^write_bytes:\s+(\d+)/m.exec(text)?.[1] ?? 0);
}

/** 63-bit hash of (account, eventId) as a SQLite integer. */
function idHash(account: string, id: string): bigint {
  return createHash('sha256').update(account).update('\0').update(id).digest().readBigInt64BE(0);
}

async function runVariant(name: string, v: Variant, inputs: AppendInput[], dir: string) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const path = `${dir}/events.db`;
  const db = new DatabaseSync(path);
  if (v.pageSize) db.exec(`PRAGMA page_size=${v.pageSize}`);
  db.exec(`PRAGMA journal_mode=WAL; PRAGMA synchronous=${v.sync ?? 'FULL'}; PRAGMA cache_size=-${(v.cacheMiB ?? 256) * 1024}; PRAGMA temp_store=MEMORY;`);
  if (v.autocheckpoint) db.exec(`PRAGMA wal_autocheckpoint=${v.autocheckpoint}`);
  db.exec(SCHEMA(v));
  const hashCol = v.eventIdIndex === 'int-hash';
  const insertEvent = db.prepare(
    hashCol
      ? 'INSERT INTO events(account, region, event_id, id_hash, event_time, in_history, record) VALUES (?, ?, ?, ?, ?, ?, ?)'
      : `INSERT INTO events(account, region, event_id, event_time, in_history, record) VALUES (?, ?, ?, ?, ?, ?)${v.eventIdIndex === 'none' ? '' : ' ON CONFLICT(account, event_id) DO NOTHING'}`,
  );
  const findByHash = hashCol ? db.prepare('SELECT seq FROM events WHERE id_hash = ? AND account = ? AND event_id = ?') : undefined;
  const insertHistoryJson = db.prepare('INSERT OR IGNORE INTO history(k, t, seq) SELECT value->>0, value->>1, value->>2 FROM json_each(?)');
  const insertHistoryRow = db.prepare('INSERT OR IGNORE INTO history(k, t, seq) VALUES (?, ?, ?)');
  const findKey = db.prepare('SELECT id FROM history_keys WHERE account = ? AND region = ? AND attr = ? AND value = ?');
  const insertKey = db.prepare('INSERT INTO history_keys(account, region, attr, value) VALUES (?, ?, ?, ?)');
  const insertBatch = db.prepare('INSERT OR REPLACE INTO batches(first_seq, committed_ms) VALUES (?, ?)');
  const keyIds = new Map<string, number>();
  const keyId = (a: string, r: string, attr: string, value: string) => {
    const ck = `${a}\u0000${r}\u0000${attr}\u0000${value}`;
    let id = keyIds.get(ck);
    if (id !== undefined) return id;
    const row = findKey.get(a, r, attr, value) as { id: number } | undefined;
    id = row?.id ?? Number(insertKey.run(a, r, attr, value).lastInsertRowid);
    keyIds.set(ck, id);
    return id;
  };
  const batch = v.batch ?? 5000;
  const io0 = ioWriteBytes();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let start = 0; start < inputs.length; start += batch) {
    const items = inputs.slice(start, start + batch);
    const hist: number[][] = [];
    db.exec('BEGIN IMMEDIATE');
    let first = -1;
    for (const e of items) {
      const rec: string | Uint8Array = v.compress ? deflateRawSync(e.json, { level: 1 }) : e.json;
      let r;
      if (hashCol) {
        const h = idHash(e.accountId, e.eventId);
        if (findByHash!.get(h, e.accountId, e.eventId)) continue;
        r = insertEvent.run(e.accountId, e.region, e.eventId, h, e.eventTimeSec, e.history ? 1 : 0, rec);
      } else {
        r = insertEvent.run(e.accountId, e.region, e.eventId, e.eventTimeSec, e.history ? 1 : 0, rec);
      }
      if (r.changes === 0) continue;
      const seq = Number(r.lastInsertRowid);
      if (first < 0) first = seq;
      if (!e.history || v.history === 'none') continue;
      for (const [attr, value] of e.history) {
        if (v.history === 'no-readonly-eventsource' && (attr === 'ReadOnly' || attr === 'EventSource')) continue;
        const k = keyId(e.accountId, e.region, attr, value);
        if (v.history === 'prepared') insertHistoryRow.run(k, e.eventTimeSec, seq);
        else hist.push([k, e.eventTimeSec, seq]);
      }
    }
    if (hist.length > 0) insertHistoryJson.run(JSON.stringify(hist));
    if (first >= 0) insertBatch.run(first, Date.now());
    db.exec('COMMIT');
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const written = ioWriteBytes() - io0;
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  db.close();
  const n = inputs.length;
  const out = {
    variant: name,
    eventsPerSecond: Math.round(n / (wallMs / 1000)),
    wallUsPerEvent: Math.round((wallMs * 1000) / n),
    cpuUsPerEvent: Math.round((cpu.user + cpu.system) / n),
    sysUsPerEvent: Math.round(cpu.system / n),
    diskBytesPerEvent: Math.round(written / n),
    dbBytesPerEvent: Math.round(statSync(path).size / n),
  };
  rmSync(dir, { recursive: true, force: true });
  return out;
}

async function storeBaseline(inputs: AppendInput[], dir: string) {
  rmSync(dir, { recursive: true, force: true });
  const store = new SqliteEventStore({ path: `${dir}/events.db` });
  const io0 = ioWriteBytes();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let s = 0; s < inputs.length; s += 5000) await store.append(inputs.slice(s, s + 5000));
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const n = inputs.length;
  await store.close();
  const out = {
    variant: 'SqliteEventStore (src, as is)',
    eventsPerSecond: Math.round(n / (wallMs / 1000)),
    wallUsPerEvent: Math.round((wallMs * 1000) / n),
    cpuUsPerEvent: Math.round((cpu.user + cpu.system) / n),
    sysUsPerEvent: Math.round(cpu.system / n),
    diskBytesPerEvent: Math.round((ioWriteBytes() - io0) / n),
    dbBytesPerEvent: Math.round(statSync(`${dir}/events.db`).size / n),
  };
  rmSync(dir, { recursive: true, force: true });
  return out;
}

const N = Number(process.argv[2] ?? 300_000);
const names = process.argv[3] ? process.argv[3].split(',') : ['store', ...Object.keys(VARIANTS)];
const p: GenParams = { seed: 4242, count: N, endMs: Date.UTC(2026, 9, 1), spanMs: 3 * 24 * 3600 * 1000 };
const ctx = { defaultAccountId: '111111111111', defaultRegion: 'us-east-1', nowMs: p.endMs, ids: { uuid: () => crypto.randomUUID() } };
const inputs: AppendInput[] = [];
for (let i = 0; i < N; i++) {
  const n = normalizeRecord(record(p, i), ctx);
  if (!n.ok) throw new Error(n.errorMessage);
  inputs.push(toAppendInput(n.value));
}
const dir = new URL('../out/proto-db', import.meta.url).pathname;
const results = [];
for (const name of names) {
  const r = name === 'store' ? await storeBaseline(inputs, dir) : await runVariant(name, VARIANTS[name]!, inputs, dir);
  process.stderr.write(`${JSON.stringify(r)}\n`);
  results.push(r);
}
console.log(JSON.stringify({ events: N, batch: 5000, results }, null, 2));
