/**
 * Bulk loader of a PostgreSQL event store dataset (issue 12): the bench's generated events
 * (bench/gen.ts, same seed and count as bench/dataset.ts's SQLite datasets, normalised and mapped
 * exactly as POST /ingest maps them) written with COPY into exactly the layout PgEventStore.append
 * writes (src/stores/postgres/pg-event-schema.ts, read-only here): the log row of each event (its
 * record compressed by the store's own codec, its summary, in_history), its Event history rows
 * (keys as the store's keyText gives them, each (attribute, value) once, by the store's own
 * forEachHistoryPair), its id row, and migration 3's counters: event_seq set to N (as N appends
 * leave it), the count in event_counts' 16 slots, the state row's last_seq and events left at 0 (as
 * appends leave them). Seqs are 1..N in generator order, as appending the dataset in order gives
 * them; every row of the load has one ingest_ms (the load's start), where appends stamp each batch
 * with its own, and one xid (below): the two differences, and the lookups read neither.
 *
 * The xid column (migration 3): readers take a log row only when its xid is below the oldest
 * running transaction's (pg_snapshot_xmin). The loader writes 2, FrozenTransactionId, on every
 * row. Why not the loading transaction's own id: a transaction older than the load that is still
 * running when the load commits would hold the rows back until it ends (not "at once"), and a
 * value taken from this cluster's counter means nothing after a dump and restore into another.
 * Why not NULL: NULL is the v2 rows' exception in the readers' filter, not a value of v3's layout.
 * 2 is below every normal transaction id (3 and up) of every cluster, so the rows are settled for
 * every reader from the COMMIT of the load on. Wraparound does not touch it: xid8 is the 64-bit,
 * epoch-extended id (it never wraps), and the comparison is of a stored value, not of the tuple's
 * xmin; the tuples themselves are written frozen by COPY FREEZE (their xmin FrozenTransactionId
 * too), so neither VACUUM's freezing nor the 32-bit xid horizon ever changes their visibility.
 * Loaded rows are "written by the frozen transaction", which is what they are.
 *
 * Why COPY this way: building 10M events through the write path takes about an hour on a 2-core
 * machine (the serial section of an append, docs/performance.md "Issue 12, part 4"). COPY runs
 * through node-pg itself, as a Submittable (`CopyIn` below: COPY ... FROM STDIN, the data sent with
 * the connection's CopyData/CopyDone messages): no copy library is installed (pg-copy-streams is
 * not), and `psql \copy` from a generated file would need the whole dataset on disk a second time
 * (~3 KB an event as COPY text, 30 GB at 10M). Each COPY is one chunk of up to COPY_CHUNK bytes;
 * a connection has at most two chunks queued, so memory stays bounded whatever the count.
 *
 * How: the store's schema is made by PgEventStore.open (its migrations, nothing of our own); the
 * partitions are created as the store creates them (a table LIKE the parent) but attached only
 * after their rows are in, so their indexes are built once, by sorting, at ATTACH, instead of
 * row by row; event_ids' primary key is dropped for the load and added back after (same name,
 * same columns). Rows go in with COPY FREEZE (each connection's tables are created or truncated
 * in its own transaction), then VACUUM ANALYZE, as the bench did after building through append.
 * Worker threads generate, normalise, compress and format the rows (the CPU of the load); three
 * connections copy the log, Event history and ids in parallel.
 *
 * The cache (ensurePgDataset): a PostgreSQL data directory per dataset under
 * bench/out/datasets/<key>-pg<layout>/, manifest.json written last. 10M events are ~30 GB: no
 * scratch copy is made; runs use the cached database and rewindPgDataset() takes it back to the
 * loaded state afterwards (the self-audit events a run appended deleted, tables the server
 * created besides the event store's dropped, the state row, event_seq and event_counts restored).
 * The manifest records the events schema version (migrations) and the loader's version; a dataset
 * of another version (a migration-2 one) is loaded again, never reused (staleManifest).
 *
 *   node bench/pg-bulk-load.ts 1000000      (builds or reuses the cached 1M dataset)
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { appendInputOf, datasetKey, datasetParams, normalizeContext, OUT_DIR } from './dataset.ts';
import { GENERATOR_VERSION, type GenParams } from './gen.ts';
import { startPostgres, type StartedPostgres } from '../test/helpers/postgres.ts';
import { COUNT_SLOTS, PgEventStore, forEachHistoryPair, keyText } from '../src/stores/postgres/index.ts';
import { encodeText } from '../src/stores/postgres/pg-record-codec.ts';
import { MIN_T, PARTITION_OPTIONS, ensurePartitions, eventMigrations, partitionName, partitionStart, type PartitionedTable } from '../src/stores/postgres/pg-event-schema.ts';

/** Bytes of COPY text per COPY statement. */
const COPY_CHUNK = 16 << 20;
/** Events per worker message. */
const BATCH = 2000;
/** Bump when what the loader writes changes: part of the cache key. */
export const LOADER_VERSION = 2;

const LOG_COLS = 'account_id, seq, ingest_ms, region, event_id, event_time, in_history, summary, zrecord, record_bytes, xid';
/**
 * The xid of every loaded log row: 2, FrozenTransactionId (see the header: visible to every
 * reader at once and forever).
 */
export const LOADED_XID = '2';
const HISTORY_COLS = 'account_id, region, attr, value, t, seq, ingest_ms';
const IDS_COLS = 'account_id, event_id, seq, ingest_ms';

function log(msg: string): void {
  process.stderr.write(`[pg-bulk-load] ${msg}\n`);
}

/** The narrow part of node-pg's Connection a COPY FROM STDIN needs (not in @types/pg). */
interface CopyConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

/**
 * COPY ... FROM STDIN through node-pg as a Submittable: the client hands it the connection when
 * the statement's turn comes; on CopyInResponse it sends `data` (in 1 MiB CopyData messages) and
 * CopyDone; it settles at ReadyForQuery, or at the first error.
 */
class CopyIn implements pg.Submittable {
  readonly done: Promise<number>;
  private resolve!: (rows: number) => void;
  private reject!: (err: Error) => void;
  private error: Error | undefined;
  private rows = 0;
  private readonly text: string;
  private readonly data: Buffer;
  constructor(text: string, data: Buffer) {
    this.text = text;
    this.data = data;
    this.done = new Promise((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
  }
  submit(connection: unknown): void {
    (connection as CopyConnection).query(this.text);
  }
  handleCopyInResponse(connection: unknown): void {
    const c = connection as CopyConnection;
    for (let at = 0; at < this.data.length; at += 1 << 20) c.sendCopyFromChunk(this.data.subarray(at, at + (1 << 20)));
    c.endCopyFrom();
  }
  handleCommandComplete(msg: { text?: string; command?: string; rowCount?: number }): void {
    this.rows = msg.rowCount ?? Number(/(\d+)$/.exec(msg.text ?? '')?.[1] ?? 0);
  }
  handleError(err: Error): void {
    // node-pg drops the active query before this call, so ReadyForQuery will not reach it: settle
    // now (the client sends the next statement after ReadyForQuery, as for its own queries).
    this.error ??= err;
    this.reject(err);
  }
  handleReadyForQuery(): void {
    if (this.error) this.reject(this.error);
    else this.resolve(this.rows);
  }
  // Not sent for COPY FROM; present because the client may call them on any active query.
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
}

/** Runs `COPY <into> FROM STDIN [WITH (<options>)]` with `data` (COPY text format) on `client`; the rows copied. */
export function copyIn(client: pg.Client, into: string, data: Buffer, options?: string): Promise<number> {
  const q = new CopyIn(`COPY ${into} FROM STDIN${options ? ` WITH (${options})` : ''}`, data);
  client.query(q);
  return q.done;
}

/** A field of COPY's text format: backslash, tab, newline and carriage return escaped. */
function field(s: string): string {
  return /[\\\t\n\r]/.test(s) ? s.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : s;
}

interface Rows {
  /** First event index of the batch. */
  from: number;
  log: string;
  ids: string;
  /** Event history rows by partition start (seconds). */
  history: [number, string][];
}

/**
 * The COPY rows of events [from, to): what PgEventStore.append writes for them when appended in
 * order into an empty store (seq = index + 1, no Event history cut-off, no window), at ingestMs.
 */
export function rowsOf(params: GenParams, from: number, to: number, ingestMs: number, historyWidth: number, ctx = normalizeContext(params)): Rows {
  let logText = '', idsText = '';
  const history = new Map<number, string>();
  for (let i = from; i < to; i++) {
    const e = appendInputOf(params, i, ctx);
    const seq = i + 1;
    const acct = field(e.accountId);
    const id = field(keyText(e.eventId));
    const summary = e.summary ? field(e.summary) : '\\N';
    logText += `${acct}\t${seq}\t${ingestMs}\t${field(e.region)}\t${id}\t${e.eventTimeSec}\t${e.history !== undefined ? 't' : 'f'}\t${summary}\t\\\\x${encodeText(e.json).toString('hex')}\t${Buffer.byteLength(e.json)}\t${LOADED_XID}\n`;
    idsText += `${acct}\t${id}\t${seq}\t${ingestMs}\n`;
    if (!e.history?.length || e.eventTimeSec < MIN_T) continue;
    const start = partitionStart(e.eventTimeSec, historyWidth);
    let h = history.get(start) ?? '';
    forEachHistoryPair(e.history, (attr, v) => {
      h += `${acct}\t${field(e.region)}\t${field(attr)}\t${field(v)}\t${e.eventTimeSec}\t${seq}\t${ingestMs}\n`;
    });
    history.set(start, h);
  }
  return { from, log: logText, ids: idsText, history: [...history] };
}

/** One connection's COPY target tables, each with text waiting, COPYs run one after another. */
class Copier {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;
  private readonly waiting = new Map<string, { parts: string[]; bytes: number }>();
  rows = 0;
  private readonly client: pg.Client;
  private readonly cols: string;
  constructor(client: pg.Client, cols: string) {
    this.client = client;
    this.cols = cols;
  }

  /** Adds COPY text for `table`; sends a chunk when one is full (waiting while two are queued). */
  async add(table: string, text: string): Promise<void> {
    if (!text) return;
    let w = this.waiting.get(table);
    if (!w) this.waiting.set(table, (w = { parts: [], bytes: 0 }));
    w.parts.push(text);
    w.bytes += text.length;
    if (w.bytes >= COPY_CHUNK) await this.send(table);
  }

  private async send(table: string): Promise<void> {
    const w = this.waiting.get(table);
    if (!w || w.bytes === 0) return;
    const data = Buffer.from(w.parts.join(''), 'utf8');
    this.waiting.delete(table);
    while (this.pending >= 2) await this.tail;
    this.pending++;
    const run = this.tail.then(() => copyIn(this.client, `${table} (${this.cols})`, data, 'FREEZE'));
    this.tail = run.then((n) => {
      this.rows += n;
      this.pending--;
    });
  }

  /** Runs `sql` on the connection after the COPYs queued before it (one statement at a time). */
  exec(sql: string): Promise<void> {
    const run = this.tail.then(() => this.client.query(sql));
    this.tail = run;
    return run.then(() => undefined);
  }

  /** Sends what waits and waits for every COPY. */
  async flush(): Promise<void> {
    for (const table of [...this.waiting.keys()]) await this.send(table);
    await this.tail;
  }
}

export interface BulkLoadResult {
  events: number;
  ingestMs: number;
  seconds: number;
  /** Seconds of each phase: copy (generation and COPY), index (ATTACH and the ids' key), vacuum. */
  phases: { copy: number; index: number; vacuum: number };
  rows: { log: number; history: number; ids: number };
  historyPartitions: number;
}

/**
 * Loads `params`' events into the empty event store of the database at `url` (created by
 * PgEventStore.open if the database is empty). Refuses a store that holds events.
 */
export async function bulkLoad(url: string, params: GenParams, opts: { workers?: number; ingestMs?: number; vacuum?: boolean } = {}): Promise<BulkLoadResult> {
  const t0 = performance.now();
  const ingestMs = opts.ingestMs ?? Date.now();
  // The schema: the store's own migrations.
  await (await PgEventStore.open({ url })).close();
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const conns: pg.Client[] = [];
  try {
    // Empty: no count (the state row's and event_counts'), no seq given out (the sequence's high-water mark, and v2's last_seq), no log row.
    const st = (await admin.query<{ events: string; last_seq: string; seq: string; rows: boolean; log_partition_ms: string; history_partition_sec: string }>(`
      SELECT events + (SELECT coalesce(sum(events), 0) FROM event_counts) AS events, last_seq, (SELECT last_value FROM event_seq) AS seq,
        EXISTS (SELECT 1 FROM event_log) AS rows, log_partition_ms, history_partition_sec FROM event_state WHERE id = 1`)).rows[0]!;
    if (Number(st.events) !== 0 || Number(st.last_seq) !== 0 || Number(st.seq) !== 0 || st.rows) {
      throw new Error(`bulkLoad: the event store at ${url} holds events (${st.events} counted, last seq ${Math.max(Number(st.seq), Number(st.last_seq))}): load only into an empty one`);
    }
    const logWidth = Number(st.log_partition_ms);
    const historyWidth = Number(st.history_partition_sec);
    const idsKey = (await admin.query<{ conname: string; def: string }>("SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'event_ids'::regclass AND contype = 'p'")).rows[0];
    if (!idsKey) throw new Error('bulkLoad: event_ids has no primary key: not the schema this loader knows');

    for (let k = 0; k < 3; k++) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      conns.push(c);
      await c.query("SET maintenance_work_mem = '512MB'");
      await c.query('BEGIN');
    }
    const [logConn, histConn, idsConn] = conns as [pg.Client, pg.Client, pg.Client];
    const logStart = partitionStart(ingestMs, logWidth);
    const logPart = partitionName('event_log', logStart);
    const like = (table: PartitionedTable) => `(LIKE ${table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMPRESSION) ${PARTITION_OPTIONS[table]}`;
    await logConn.query(`CREATE TABLE ${logPart} ${like('event_log')}`);
    // The ids' key is dropped for the load (and the table truncated, for FREEZE) in this transaction.
    await idsConn.query(`ALTER TABLE event_ids DROP CONSTRAINT ${idsKey.conname}`);
    await idsConn.query('TRUNCATE event_ids');
    const logCopier = new Copier(logConn, LOG_COLS);
    const histCopier = new Copier(histConn, HISTORY_COLS);
    const idsCopier = new Copier(idsConn, IDS_COLS);
    const histParts = new Set<number>();

    // Workers: worker k formats batches k, k + W, ...; the main thread copies them in order.
    const workers = Math.max(1, opts.workers ?? availableParallelism());
    const batches = Math.ceil(params.count / BATCH);
    const ready = new Map<number, Rows>();
    let wake: (() => void) | undefined;
    let failed: unknown;
    const pool: Worker[] = [];
    for (let k = 0; k < workers; k++) {
      const w = new Worker(new URL(import.meta.url), { workerData: { kind: 'pgload', params, ingestMs, historyWidth, first: k, step: workers, batches } });
      w.on('message', (m: Rows) => {
        ready.set(Math.floor(m.from / BATCH), m);
        wake?.();
      });
      w.on('error', (e) => {
        failed = e;
        wake?.();
      });
      pool.push(w);
    }
    let lastLog = performance.now();
    try {
      for (let b = 0; b < batches; b++) {
        let m: Rows | undefined;
        while (!(m = ready.get(b))) {
          if (failed) throw failed;
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
        }
        ready.delete(b);
        pool[b % workers]!.postMessage('more');
        await logCopier.add(logPart, m.log);
        await idsCopier.add('event_ids', m.ids);
        for (const [start, text] of m.history) {
          const name = partitionName('event_history', start);
          if (!histParts.has(start)) {
            histParts.add(start);
            await histCopier.exec(`CREATE TABLE ${name} ${like('event_history')}`);
          }
          await histCopier.add(name, text);
        }
        if (performance.now() - lastLog > 10_000) {
          lastLog = performance.now();
          const done = Math.min(params.count, (b + 1) * BATCH);
          log(`${done} of ${params.count} events formatted, ${(done / ((lastLog - t0) / 1000)).toFixed(0)} ev/s`);
        }
      }
    } finally {
      await Promise.all(pool.map((w) => w.terminate()));
    }
    await Promise.all([logCopier.flush(), histCopier.flush(), idsCopier.flush()]);
    for (const c of conns) await c.query('COMMIT');
    const tCopy = performance.now();
    log(`copied ${logCopier.rows} log, ${histCopier.rows} Event history, ${idsCopier.rows} id rows in ${((tCopy - t0) / 1000).toFixed(0)} s; building indexes`);

    // Indexes: built at ATTACH (each partition's, by sorting) and the ids' key, in parallel.
    const attach = async (c: pg.Client, table: string, name: string, from: number, width: number) =>
      c.query(`ALTER TABLE ${table} ATTACH PARTITION ${name} FOR VALUES FROM (${from}) TO (${from + width})`);
    await Promise.all([
      attach(logConn, 'event_log', logPart, logStart, logWidth),
      (async () => {
        for (const start of [...histParts].sort((a, b) => a - b)) await attach(histConn, 'event_history', partitionName('event_history', start), start, historyWidth);
      })(),
      idsConn.query(`ALTER TABLE event_ids ADD CONSTRAINT ${idsKey.conname} ${idsKey.def}`),
    ]);
    // The partitions an append creates ahead of need (the next log partition, history's today and tomorrow).
    const pgPool = new pg.Pool({ connectionString: url, max: 1 });
    try {
      const c = await pgPool.connect();
      try {
        await c.query('BEGIN');
        await ensurePartitions(c, 'event_log', [logStart + logWidth], logWidth);
        const histNow = partitionStart(Math.floor(ingestMs / 1000), historyWidth);
        await ensurePartitions(c, 'event_history', [histNow, histNow + historyWidth].filter((s) => !histParts.has(s)), historyWidth);
        // Migration 3's counters: the sequence at the last seq (as N appends leave it: last_value N,
        // is_called), the count in event_counts (spread over its slots, as appends spread theirs);
        // the state row's last_seq and events stay 0, as appends leave them.
        await c.query("SELECT setval('event_seq', $1, true)", [logCopier.rows]);
        await c.query(`INSERT INTO event_counts (slot, events) SELECT s, $1::int8 / ${COUNT_SLOTS} + (s < $1::int8 % ${COUNT_SLOTS})::int FROM generate_series(0, ${COUNT_SLOTS - 1}) s`, [logCopier.rows]);
        await c.query('COMMIT');
      } finally {
        c.release();
      }
    } finally {
      await pgPool.end();
    }
    const tIndex = performance.now();
    if (opts.vacuum !== false) await admin.query('VACUUM ANALYZE');
    const tEnd = performance.now();
    const result: BulkLoadResult = {
      events: logCopier.rows, ingestMs, seconds: (tEnd - t0) / 1000,
      phases: { copy: (tCopy - t0) / 1000, index: (tIndex - tCopy) / 1000, vacuum: (tEnd - tIndex) / 1000 },
      rows: { log: logCopier.rows, history: histCopier.rows, ids: idsCopier.rows },
      historyPartitions: histParts.size,
    };
    log(`loaded ${result.events} events in ${result.seconds.toFixed(0)} s (copy ${result.phases.copy.toFixed(0)}, indexes ${result.phases.index.toFixed(0)}, vacuum ${result.phases.vacuum.toFixed(0)})`);
    if (result.events !== params.count) throw new Error(`bulkLoad: ${result.events} log rows copied, not ${params.count}`);
    return result;
  } finally {
    for (const c of conns) await c.end().catch(() => undefined);
    await admin.end();
  }
}

/** Worker: formats its batches (first, first + step, ...), at most four ahead of the main thread. */
function workerMain(): void {
  const { params, ingestMs, historyWidth, first, step, batches } = workerData as { params: GenParams; ingestMs: number; historyWidth: number; first: number; step: number; batches: number };
  const ctx = normalizeContext(params);
  let next = first;
  let credit = 4;
  const produce = () => {
    while (credit > 0 && next < batches) {
      const from = next * BATCH;
      parentPort!.postMessage(rowsOf(params, from, Math.min(params.count, from + BATCH), ingestMs, historyWidth, ctx));
      next += step;
      credit--;
    }
  };
  parentPort!.on('message', () => {
    credit++;
    produce();
  });
  produce();
}

// ---- The cache ----

export interface PgDatasetManifest {
  key: string;
  params: GenParams;
  generatorVersion: number;
  loaderVersion: number;
  /** The events schema version (its migrations) the dataset was loaded at. */
  schemaVersion: number;
  database: string;
  events: number;
  load: BulkLoadResult;
  /** pg_database_size after the load and VACUUM ANALYZE, and per event. */
  bytes: number;
  bytesPerEvent: number;
  /** Per table (with its partitions, indexes and TOAST). */
  tableBytes: Record<string, number>;
  /** Tables of the database after the load: a run's server adds its own, which the rewind drops. */
  tables: string[];
  /** The state row after the load, with the sequence's last value and the event_counts rows (migration 3). */
  state: PgDatasetState;
  /** The highest eventTime of the dataset (seconds): Event history rows above it were added by a run. */
  maxEventTimeSec: number;
  builtAt: string;
  /** Set when the dataset was loaded at an older schema version and migrated in place (migrateOlderPgDataset). */
  migrated?: { from: number; ms: number; at: string };
}

export interface PgDatasetState {
  last_seq: string;
  events: string;
  history_cutoff_sec: string;
  probe_ms: string;
  /** event_seq's last_value. */
  seq: string;
  /** event_counts' rows, by slot. */
  counts: { slot: number; events: string }[];
}

/** The state a rewind restores: the state row, the sequence and the counts. */
export async function readPgDatasetState(c: pg.Client): Promise<PgDatasetState> {
  const row = (await c.query<Omit<PgDatasetState, 'counts'>>('SELECT last_seq::text, events::text, history_cutoff_sec::text, probe_ms::text, (SELECT last_value::text FROM event_seq) AS seq FROM event_state WHERE id = 1')).rows[0]!;
  const counts = (await c.query<{ slot: number; events: string }>('SELECT slot::int, events::text FROM event_counts ORDER BY slot')).rows;
  return { ...row, counts };
}

export const PG_DATABASE = 'opentrail';

/** The events schema version this code writes (the count of the store's migrations). */
export function eventsSchemaVersion(): number {
  return eventMigrations({ logPartitionMs: 1, historyPartitionSec: 1 }).length;
}

export function pgDatasetDir(count: number): string {
  return join(OUT_DIR, 'datasets', `${datasetKey(datasetParams(count))}-pg${eventsSchemaVersion()}-l${LOADER_VERSION}`);
}

/** PostgreSQL settings of the bench's server (docs/scale-out.md's deployment advice scaled down). */
export function benchPgSettings(): Record<string, string> {
  return {
    shared_buffers: process.env.BENCH_PG_SHARED_BUFFERS ?? '256MB',
    max_wal_size: '4GB',
    ...(process.env.BENCH_PG_EFFECTIVE_CACHE ? { effective_cache_size: process.env.BENCH_PG_EFFECTIVE_CACHE } : {}),
  };
}

/**
 * Why a cached dataset's manifest cannot be used by this code (undefined when it can): loaded at
 * another events schema version (a migration-2 dataset has no xid column, no sequence position,
 * no event_counts rows: a server would migrate it and misread its counts), by another loader or
 * generator version, or of other events. The directory name carries the versions too; this
 * guards a directory renamed or copied.
 */
export function staleManifest(m: Partial<PgDatasetManifest>, count: number): string | undefined {
  if (m.schemaVersion !== eventsSchemaVersion()) return `loaded at events schema version ${m.schemaVersion}, this code writes ${eventsSchemaVersion()}`;
  if (m.loaderVersion !== LOADER_VERSION) return `loader version ${m.loaderVersion}, this code is ${LOADER_VERSION}`;
  if (m.generatorVersion !== GENERATOR_VERSION) return `generator version ${m.generatorVersion}, this code is ${GENERATOR_VERSION}`;
  if (m.key !== datasetKey(datasetParams(count)) || m.events !== count) return `dataset ${m.key} of ${m.events} events, not ${count}`;
  if (typeof m.state?.seq !== 'string' || !Array.isArray(m.state.counts)) return 'its state has no sequence position or counts';
  return undefined;
}

/**
 * Starts PostgreSQL on the cached dataset of `count` events, loading it first if there is none
 * (an unfinished one, without manifest.json, or a stale one (staleManifest), is removed and
 * loaded again). The caller stops it.
 */
export async function ensurePgDataset(count: number, settings = benchPgSettings()): Promise<{ server: StartedPostgres; url: string; manifest: PgDatasetManifest; reused: boolean }> {
  const dir = pgDatasetDir(count);
  const manifestFile = join(dir, 'manifest.json');
  const dataDir = join(dir, 'pgdata');
  if (!existsSync(manifestFile)) await migrateOlderPgDataset(count, dir, settings);
  const stale = existsSync(manifestFile) ? staleManifest(JSON.parse(readFileSync(manifestFile, 'utf8')) as Partial<PgDatasetManifest>, count) : undefined;
  if (stale) log(`not reusing ${dir}: ${stale}; loading it again`);
  if (existsSync(manifestFile) && !stale) {
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as PgDatasetManifest;
    const server = await startPostgres({ dataDir, settings });
    log(`reusing ${dir} (${manifest.events} events, ${(manifest.bytes / 2 ** 30).toFixed(2)} GiB)`);
    return { server, url: server.urlOf(manifest.database), manifest, reused: true };
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // During the load: no fsync (a crashed load is loaded again from scratch) and wal_level minimal
  // (COPY into a table created or truncated in its transaction, and the index builds, then write
  // no WAL: the dataset is not written twice); the cluster is then stopped cleanly (a checkpoint),
  // and every later start runs with the settings given (fsync on, wal_level replica).
  let server = await startPostgres({ dataDir, settings: { ...settings, fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', wal_level: 'minimal', max_wal_senders: '0', checkpoint_timeout: '30min' } });
  try {
    const params = datasetParams(count);
    const admin = new pg.Client({ connectionString: server.adminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${PG_DATABASE}`);
    await admin.end();
    const url = server.urlOf(PG_DATABASE);
    log(`loading ${count} events into ${dataDir}`);
    const load = await bulkLoad(url, params);
    const manifest = await describe(url, params, load);
    await server.stop();
    server = await startPostgres({ dataDir, settings });
    writeFileSync(manifestFile, JSON.stringify(manifest, null, 2));
    log(`cached ${dir}: ${(manifest.bytes / 2 ** 30).toFixed(2)} GiB (${manifest.bytesPerEvent} B/event)`);
    return { server, url, manifest, reused: false };
  } catch (err) {
    await server.stop().catch(() => undefined);
    throw err;
  }
}

/** The oldest events schema version a cached dataset is migrated from (v3 gave the state its sequence and counts). */
const MIGRATABLE_FROM = 4;

/**
 * When no dataset of this schema version is cached but one of an older version (at least
 * MIGRATABLE_FROM) is, of the same events, loader and generator: migrates it in place, as a
 * user's database is migrated on upgrade (PgEventStore.open runs the migrations it lacks, with
 * the bench's settings: fsync on, WAL written), and renames its directory to this version's, its
 * manifest saying so. Instead of loading again: a 10M dataset is ~27 GB and an hour to load.
 */
export async function migrateOlderPgDataset(count: number, dir: string, settings: Record<string, string>): Promise<void> {
  const version = eventsSchemaVersion();
  for (let from = version - 1; from >= MIGRATABLE_FROM; from--) {
    const old = dir.replace(/-pg\d+(-l\d+)$/, `-pg${from}$1`);
    const file = join(old, 'manifest.json');
    if (old === dir || !existsSync(file)) continue;
    const m = JSON.parse(readFileSync(file, 'utf8')) as PgDatasetManifest;
    const stale = m.schemaVersion === from ? staleManifest({ ...m, schemaVersion: version }, count) : `its manifest says version ${m.schemaVersion}`;
    if (stale) {
      log(`not migrating ${old}: ${stale}`);
      continue;
    }
    log(`migrating ${old} from events schema version ${from} to ${version} in place`);
    const server = await startPostgres({ dataDir: join(old, 'pgdata'), settings });
    let ms: number, bytes: number, tableBytes: Record<string, number>;
    try {
      const t0 = performance.now();
      await (await PgEventStore.open({ url: server.urlOf(m.database) })).close();
      ms = Math.round(performance.now() - t0);
      const c = new pg.Client({ connectionString: server.urlOf(m.database) });
      await c.connect();
      try {
        bytes = Number((await c.query<{ b: string }>('SELECT pg_database_size(current_database())::int8 AS b')).rows[0]!.b);
        tableBytes = await tableSizes(c);
      } finally {
        await c.end();
      }
    } finally {
      await server.stop();
    }
    renameSync(old, dir);
    const manifest: PgDatasetManifest = { ...m, schemaVersion: version, bytes, tableBytes, bytesPerEvent: Math.round(bytes / m.events), migrated: { from, ms, at: new Date().toISOString() } };
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
    log(`migrated ${dir} in ${(ms / 1000).toFixed(1)} s: ${(bytes / 2 ** 30).toFixed(2)} GiB`);
    return;
  }
}

/** Bytes per table, with its partitions, indexes and TOAST. */
async function tableSizes(c: pg.Client): Promise<Record<string, number>> {
  const tableBytes: Record<string, number> = {};
  for (const t of ['event_log', 'event_history', 'event_ids']) {
    // pg_partition_tree has no rows for a table that is not partitioned (event_ids).
    const r = await c.query<{ b: string }>(`SELECT greatest(pg_total_relation_size($1::regclass), (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree($1::regclass)))::int8 AS b`, [t]);
    tableBytes[t] = Number(r.rows[0]!.b);
  }
  return tableBytes;
}

async function describe(url: string, params: GenParams, load: BulkLoadResult): Promise<PgDatasetManifest> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const bytes = Number((await c.query<{ b: string }>('SELECT pg_database_size(current_database())::int8 AS b')).rows[0]!.b);
    const tableBytes = await tableSizes(c);
    const tables = (await c.query<{ t: string }>("SELECT relname AS t FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p') ORDER BY 1")).rows.map((r) => r.t);
    const state = await readPgDatasetState(c);
    const maxT = Number((await c.query<{ t: string }>('SELECT max(t)::int8 AS t FROM event_history')).rows[0]!.t);
    return {
      key: datasetKey(params), params, generatorVersion: GENERATOR_VERSION, loaderVersion: LOADER_VERSION, schemaVersion: eventsSchemaVersion(),
      database: PG_DATABASE, events: load.events, load, bytes, bytesPerEvent: Math.round(bytes / load.events), tableBytes, tables, state,
      maxEventTimeSec: maxT, builtAt: new Date().toISOString(),
    };
  } finally {
    await c.end();
  }
}

/**
 * Takes a cached dataset's database back to its loaded state after a run: the events appended
 * since (seq above the load's: the run's self-audit) deleted from the log, their ids and their
 * Event history rows (eventTimes after the dataset's: only the partitions a run added are read),
 * partitions and tables the run created dropped, the state row, the sequence's position and the
 * event_counts rows restored.
 */
export async function rewindPgDataset(url: string, manifest: PgDatasetManifest): Promise<{ events: number }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('BEGIN');
    const n = Number(manifest.state.seq);
    const r = await c.query(`
      WITH d AS (DELETE FROM event_log WHERE seq > $1 RETURNING account_id, event_id, seq)
      DELETE FROM event_ids x USING d WHERE x.account_id = d.account_id AND x.event_id = d.event_id AND x.seq = d.seq`, [n]);
    await c.query('DELETE FROM event_history WHERE t > $1 AND seq > $2', [manifest.maxEventTimeSec, n]);
    const tables = (await c.query<{ t: string }>("SELECT relname AS t FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p')")).rows.map((x) => x.t);
    const keep = new Set(manifest.tables);
    for (const t of tables) if (!keep.has(t)) await c.query(`DROP TABLE IF EXISTS ${t} CASCADE`);
    await c.query("DELETE FROM opentrail_schema WHERE component <> 'events'");
    const s = manifest.state;
    await c.query('UPDATE event_state SET last_seq = $1, events = $2, history_cutoff_sec = $3, probe_ms = $4 WHERE id = 1', [s.last_seq, s.events, s.history_cutoff_sec, s.probe_ms]);
    await c.query("SELECT setval('event_seq', $1, true)", [s.seq]);
    await c.query('DELETE FROM event_counts');
    await c.query('INSERT INTO event_counts (slot, events) SELECT * FROM unnest($1::int2[], $2::int8[])', [s.counts.map((x) => x.slot), s.counts.map((x) => x.events)]);
    await c.query('COMMIT');
    log(`rewound ${url.replace(/^.*\//, '')}: ${r.rowCount} events of the run removed`);
    return { events: r.rowCount ?? 0 };
  } finally {
    await c.end();
  }
}

if (!isMainThread) {
  if ((workerData as { kind?: string }).kind === 'pgload') workerMain();
} else if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const { server, manifest } = await ensurePgDataset(Number(process.argv[2] ?? 1_000_000));
  await server.stop();
  process.stdout.write(`${JSON.stringify({ dir: pgDatasetDir(manifest.events), bytes: manifest.bytes, bytesPerEvent: manifest.bytesPerEvent, load: manifest.load, tableBytes: manifest.tableBytes }, null, 2)}\n`);
}
