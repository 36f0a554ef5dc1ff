/**
 * CloudTrail Lake queries: started, run, described, paged, listed and cancelled.
 *
 * A query is translated and bound when it is started (so a bad statement is refused at StartQuery,
 * as AWS does), then waits its turn: at most `maxConcurrent` run at once on this node, the rest are
 * QUEUED; an account has at most `MAX_ACTIVE_PER_ACCOUNT` queued or running
 * (MaxConcurrentQueriesException). Each runs in a DuckDB instance of its own, made for it: DuckDB
 * executes on its own threads, so the event loop only waits on a promise; the instance has the
 * query's memory limit and threads, reads only the Parquet files of the stores the statement names
 * (views over the files present when it starts) and the folder its results go to, and its
 * configuration is locked before the statement runs (no other file, no setting can be reached). A
 * timer interrupts it at the time limit (TIMED_OUT); CancelQuery interrupts it (CANCELLED).
 *
 * Results are written by DuckDB as one Parquet file per query, every value already the string
 * GetQueryResults answers; pages are read from it. Query records are control-store documents
 * (kind `lake-query`, key `<account>/<queryId>`), so DescribeQuery and ListQueries answer after a
 * restart (a query its server stopped is then FAILED) and, on PostgreSQL, from every node; results
 * files live in the data dir of the node that ran the query. Records and results are kept 7 days.
 */
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { cloudTrailError, ServiceError } from '../../aws/errors.ts';
import type { ControlStore } from '../../stores/control-store.ts';
import type { LakeCatalog, LakeStoreRef } from '../catalog.ts';
import { storeDir } from '../layout.ts';
import { EVENT_ID_INDEX_SUFFIX, eventIdHash, eventIdHits } from '../storage/eventid-index.ts';
import { liveDataFiles } from '../storage/live-files.ts';
import { lakeTableColumnsSql } from '../schema.ts';
import { LAKE_MACROS } from '../sql/functions.ts';
import { invalidQuery, storeView, translateLakeSql, type TranslatedQuery } from '../sql/translate.ts';
import { EventIdSummaries } from './eventid-summaries.ts';
import { EMPTY_STORE_SQL, PointReader, type PointFile } from './point-read.ts';

export type QueryStatus = 'QUEUED' | 'RUNNING' | 'FINISHED' | 'FAILED' | 'CANCELLED' | 'TIMED_OUT';

export interface LakeQueryRecord {
  queryId: string;
  accountId: string;
  statement: string;
  /** The stores the statement reads (ARNs). */
  storeArns: string[];
  status: QueryStatus;
  creationTimeMs: number;
  endTimeMs?: number;
  /** The result's column names, in order. */
  columns?: string[];
  eventsScanned: number;
  bytesScanned: number;
  resultsCount: number;
  executionTimeMs: number;
  errorMessage?: string;
  /** StartQuery's `DeliveryS3Uri`: the results are copied there once the query ends (src/services/cloudtrail/query-delivery.ts). */
  deliveryS3Uri?: string;
  /** DescribeQuery's `DeliveryStatus`, with a `deliveryS3Uri`. */
  deliveryStatus?: DeliveryStatus;
  /** StartQuery's `QueryAlias`, when the statement came from a query template. */
  queryAlias?: string;
  /** The Region StartQuery was called in. */
  region?: string;
}

export type DeliveryStatus = 'SUCCESS' | 'FAILED' | 'FAILED_SIGNING_FILE' | 'PENDING' | 'RESOURCE_NOT_FOUND' | 'ACCESS_DENIED' | 'ACCESS_DENIED_SIGNING_FILE' | 'CANCELLED' | 'UNKNOWN';

/** What StartQuery records besides the statement. */
export interface StartQueryOptions {
  deliveryS3Uri?: string;
  queryAlias?: string;
}

export interface LakeQueryLimits {
  /** Queries running at once on this node; the others wait (QUEUED). */
  maxConcurrent: number;
  /** A query still running after this long is interrupted (TIMED_OUT). */
  timeoutMs: number;
  /** DuckDB `memory_limit` of each query, e.g. `1GB`. */
  memoryLimit: string;
  /** DuckDB threads of each query. */
  threads: number;
  /** The most result rows a query may have (more: FAILED). Default DEFAULT_MAX_RESULT_ROWS. */
  maxResultRows?: number;
  /** The largest results file in MiB (past it the query is interrupted, FAILED). Default DEFAULT_MAX_RESULT_MIB. */
  maxResultMiB?: number;
  /** Memory for the in-memory summaries of eventID sidecars, MiB (eventid-summaries.ts; 0: none). Default DEFAULT_EVENT_ID_SUMMARY_MIB. */
  eventIdSummaryMiB?: number;
}

export const DEFAULT_MAX_RESULT_ROWS = 1_000_000;
export const DEFAULT_MAX_RESULT_MIB = 1024;
export const DEFAULT_EVENT_ID_SUMMARY_MIB = 64;
/**
 * A DescribeQuery of a query running on this node answers when its status changes, or after this
 * long at most: a client polling every few tens of milliseconds then sees FINISHED the moment it
 * is, not up to one polling interval later.
 */
export const DESCRIBE_WAIT_MS = 100;
/** How often a running query's results file size is checked. */
const RESULT_SIZE_CHECK_MS = 250;

export interface LakeQueryDeps {
  catalog: LakeCatalog;
  control: ControlStore;
  /** Where results files are written (`<dataDir>/lake-query-results`). */
  resultsDir: string;
  nowMs: () => number;
  newId: () => string;
  logError: (message: string, err?: unknown) => void;
  /** Copies a finished query's results to its `deliveryS3Uri` and answers the DeliveryStatus (absent: such a query's delivery FAILED). */
  deliver?: (record: LakeQueryRecord) => Promise<DeliveryStatus>;
}

export const MAX_ACTIVE_PER_ACCOUNT = 10;
export const RETENTION_MS = 7 * 24 * 60 * 60 * 1000;
const KIND = 'lake-query';
const ACTIVE: ReadonlySet<QueryStatus> = new Set(['QUEUED', 'RUNNING']);

interface Active {
  record: LakeQueryRecord;
  translated: TranslatedQuery;
  outputSql: string;
  conn?: DuckDBConnection;
  /** Why it was interrupted. */
  stop?: 'CANCELLED' | 'TIMED_OUT' | 'TOO_LARGE';
  /** Resolved once it ended (its record written). */
  ended: Promise<void>;
  end: () => void;
}

const sqlString = (s: string): string => `'${s.replaceAll("'", "''")}'`;
const ident = (s: string): string => `"${s.replaceAll('"', '""')}"`;

/** An in-memory DuckDB instance; the native engine is loaded on the first query, not at the server's start. */
async function createInstance(settings: Record<string, string>): Promise<DuckDBInstance> {
  const { DuckDBInstance: Instance } = await import('@duckdb/node-api');
  return Instance.create(':memory:', settings);
}

/** DuckDB settings every query instance starts with (no extension is ever installed or loaded). */
const INSTANCE_OPTIONS = { autoinstall_known_extensions: 'false', autoload_known_extensions: 'false' };

export class LakeQueryEngine {
  private readonly active = new Map<string, Active>();
  /** Per account, StartQuery calls past the limit check that are not yet active (their slots are reserved). */
  private readonly starting = new Map<string, number>();
  private readonly queue: Active[] = [];
  private running = 0;
  private closed = false;
  private parser?: Promise<DuckDBInstance>;
  private runner?: Promise<DuckDBInstance>;
  private readonly rowCounts = new Map<string, number>();
  private lastPruneMs = 0;
  /** Deliveries under way (DeliveryS3Uri), awaited by close(). */
  private readonly deliveries = new Set<Promise<void>>();
  private readonly deps: LakeQueryDeps;
  private readonly limits: LakeQueryLimits;
  private readonly summaries: EventIdSummaries;
  private readonly pointReader = new PointReader();

  constructor(deps: LakeQueryDeps, limits: LakeQueryLimits) {
    this.deps = deps;
    this.limits = limits;
    this.summaries = new EventIdSummaries({
      maxBytes: (limits.eventIdSummaryMiB ?? DEFAULT_EVENT_ID_SUMMARY_MIB) * 1024 * 1024,
      connect: async () => (await this.queryInstance()).connect(),
      logError: deps.logError,
    });
  }

  /** Translates and binds the statement, records the query QUEUED, and schedules it. */
  async start(accountId: string, region: string, statement: string, opts: StartQueryOptions = {}): Promise<LakeQueryRecord> {
    if (this.closed) throw new ServiceError('ServiceUnavailableException', 'The server is shutting down.', 503);
    // The slot is taken before the first await (and given back in finally, or kept by the query
    // once it is active): concurrent StartQuery calls of one account cannot all pass the check.
    const activeHere = [...this.active.values()].filter((a) => a.record.accountId === accountId).length + (this.starting.get(accountId) ?? 0);
    if (activeHere >= MAX_ACTIVE_PER_ACCOUNT) {
      throw cloudTrailError('MaxConcurrentQueriesException', `You already have ${MAX_ACTIVE_PER_ACCOUNT} queries queued or running; wait for one to finish or cancel one.`);
    }
    this.starting.set(accountId, (this.starting.get(accountId) ?? 0) + 1);
    try {
      return await this.startReserved(accountId, region, statement, opts);
    } finally {
      const n = (this.starting.get(accountId) ?? 1) - 1;
      if (n > 0) this.starting.set(accountId, n);
      else this.starting.delete(accountId);
    }
  }

  /** StartQuery once the account's slot is reserved (`starting`). */
  private async startReserved(accountId: string, region: string, statement: string, opts: StartQueryOptions): Promise<LakeQueryRecord> {
    const conn = await (await this.parserInstance()).connect();
    let translated: TranslatedQuery;
    let columns: { name: string; type: string }[];
    try {
      translated = await translateLakeSql(conn, statement, (name) => this.deps.catalog.resolve(accountId, region, name));
      // Binding against the stores' schema (empty tables) finds unknown columns and functions and
      // type errors now, as AWS's StartQuery does.
      columns = await describe(conn, translated);
    } finally {
      conn.closeSync();
    }
    const record: LakeQueryRecord = {
      queryId: this.deps.newId(),
      accountId,
      statement,
      storeArns: translated.stores.map((s) => s.arn),
      status: 'QUEUED',
      creationTimeMs: this.deps.nowMs(),
      region,
      columns: columns.map((c) => c.name),
      eventsScanned: 0,
      bytesScanned: 0,
      resultsCount: 0,
      executionTimeMs: 0,
      ...(opts.deliveryS3Uri !== undefined ? { deliveryS3Uri: opts.deliveryS3Uri, deliveryStatus: 'PENDING' as const } : {}),
      ...(opts.queryAlias !== undefined ? { queryAlias: opts.queryAlias } : {}),
    };
    await this.deps.control.put(KIND, key(record), record);
    let end = () => {};
    const ended = new Promise<void>((resolve) => (end = resolve));
    const a: Active = { record, translated, outputSql: outputSql(translated.sql, columns), ended, end };
    this.active.set(record.queryId, a);
    this.queue.push(a);
    this.pump();
    void this.pruneSometimes();
    return { ...record };
  }

  /** The query's record (live while it runs on this node), or undefined when the account has no such query. */
  async get(accountId: string, queryId: string): Promise<LakeQueryRecord | undefined> {
    const a = this.active.get(queryId);
    if (a) return a.record.accountId === accountId ? { ...a.record } : undefined;
    const r = await this.deps.control.get<LakeQueryRecord>(KIND, `${accountId}/${queryId}`);
    if (!r || this.deps.nowMs() - r.creationTimeMs > RETENTION_MS) return undefined;
    // Active in the store but not here: another node runs it, or the node that ran it stopped (this
    // one before a restart, or another). A query cannot be active past its time limit: past that
    // (and a minute), it is reported FAILED.
    if (ACTIVE.has(r.status) && this.deps.nowMs() - r.creationTimeMs > this.limits.timeoutMs + 60_000) {
      // Its results were never delivered either (as finish() records for a query that did not finish).
      return { ...r, status: 'FAILED', errorMessage: 'The query was interrupted: the server that ran it stopped.', ...(r.deliveryS3Uri !== undefined ? { deliveryStatus: 'FAILED' as const } : {}) };
    }
    return r;
  }

  /** Waits until the query, when it is queued or running on this node, ends, or `maxMs` passed. */
  async settled(accountId: string, queryId: string, maxMs: number): Promise<void> {
    const a = this.active.get(queryId);
    if (!a || a.record.accountId !== accountId) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([a.ended, new Promise<void>((resolve) => (timer = setTimeout(resolve, maxMs)))]);
    clearTimeout(timer);
  }

  /** The in-memory eventID summaries: how many, their bytes, files waiting for one; `idle` resolves once none waits. */
  eventIdSummaries(): { files: number; bytes: number; pending: number; idle: () => Promise<void> } {
    return { ...this.summaries.stats(), idle: () => this.summaries.idle() };
  }

  /** The account's queries of the last 7 days, newest first. */
  async list(accountId: string): Promise<LakeQueryRecord[]> {
    const docs = await this.deps.control.list<LakeQueryRecord>(KIND, `${accountId}/`);
    const now = this.deps.nowMs();
    const out: LakeQueryRecord[] = [];
    for (const { doc } of docs) {
      if (now - doc.creationTimeMs > RETENTION_MS) continue;
      out.push((await this.get(accountId, doc.queryId)) ?? doc);
    }
    return out.sort((x, y) => y.creationTimeMs - x.creationTimeMs || (x.queryId < y.queryId ? -1 : 1));
  }

  /** Stops a queued or running query; InactiveQueryException when it already ended. */
  async cancel(accountId: string, queryId: string): Promise<LakeQueryRecord> {
    const a = this.active.get(queryId);
    if (!a || a.record.accountId !== accountId) {
      const r = await this.get(accountId, queryId);
      if (!r) throw queryNotFound(queryId);
      throw cloudTrailError('InactiveQueryException', `The query ${queryId} is ${r.status} and cannot be cancelled.`);
    }
    if (a.record.status === 'QUEUED') {
      this.queue.splice(this.queue.indexOf(a), 1);
      await this.finish(a, { status: 'CANCELLED' });
    } else {
      a.stop = 'CANCELLED';
      a.conn?.interrupt();
    }
    return { ...a.record, status: 'CANCELLED' };
  }

  /** Rows `offset` to `offset + limit` of a finished query's results, each value a string or null. */
  async page(record: LakeQueryRecord, offset: number, limit: number): Promise<(string | null)[][]> {
    if (record.resultsCount === 0 || offset >= record.resultsCount) return [];
    const conn = await (await this.queryInstance()).connect();
    try {
      const file = this.resultsFile(record);
      const r = await conn.runAndReadAll(`SELECT * FROM read_parquet(${sqlString(file)}) LIMIT ${Math.floor(limit)} OFFSET ${Math.floor(offset)}`);
      return r.getRows().map((row) => row.map((v) => (v === null ? null : String(v))));
    } catch (e) {
      if (/No files found|does not exist|Cannot open file/i.test(String(e))) {
        throw cloudTrailError('QueryIdNotFoundException', `The results of query ${record.queryId} are no longer available on this server.`);
      }
      throw e;
    } finally {
      conn.closeSync();
    }
  }

  /** Stops the queued and running queries (recorded FAILED: the server stopped) and closes DuckDB. */
  async close(): Promise<void> {
    this.closed = true;
    for (const a of this.queue.splice(0)) await this.finish(a, { status: 'FAILED', errorMessage: 'The server stopped before the query ran.' }).catch(() => undefined);
    for (const a of this.active.values()) a.conn?.interrupt();
    while (this.running > 0) await new Promise((r) => setTimeout(r, 10));
    await Promise.allSettled([...this.deliveries]);
    await this.summaries.close();
    for (const p of [this.parser, this.runner]) if (p) (await p).closeSync();
  }

  /** The rows of these files (their Parquet footers; remembered per file, size and time, as files are only ever replaced whole). */
  private async rowsIn(conn: DuckDBConnection, files: readonly StoreFile[]): Promise<number> {
    const id = (f: StoreFile) => `${f.path}|${f.bytes}|${f.mtimeMs}`;
    const unknown = files.filter((f) => !this.rowCounts.has(id(f)));
    if (unknown.length > 0) {
      const r = await conn.runAndReadAll(`SELECT file_name, any_value(num_rows) FROM parquet_file_metadata([${unknown.map((f) => sqlString(f.path)).join(', ')}]) GROUP BY file_name`);
      const byPath = new Map(r.getRows().map(([p, n]) => [String(p), Number(n)]));
      if (this.rowCounts.size > 100_000) this.rowCounts.clear();
      for (const f of unknown) this.rowCounts.set(id(f), byPath.get(f.path) ?? 0);
    }
    return files.reduce((n, f) => n + (this.rowCounts.get(id(f)) ?? 0), 0);
  }

  /**
   * Writes a finished query's results as gzip CSV files of at most `rowsPerFile` rows each (a header
   * line of the column names first) into a new folder beside its results, and answers their paths
   * in order; the caller removes the folder (`removeExport`).
   */
  async exportCsv(record: LakeQueryRecord, rowsPerFile: number): Promise<string[]> {
    const dir = this.exportDir(record);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const conn = await (await this.queryInstance()).connect();
    try {
      const src = sqlString(this.resultsFile(record));
      const cols = (record.columns ?? []).map((c, i) => `${ident(`c${i}`)} AS ${ident(c)}`).join(', ') || '*';
      const files: string[] = [];
      for (let offset = 0, n = 1; n === 1 || offset < record.resultsCount; offset += rowsPerFile, n++) {
        const file = join(dir, `result_${n}.csv.gz`);
        const rows = record.resultsCount === 0 ? `SELECT ${cols} FROM read_parquet(${src}) LIMIT 0` : `SELECT ${cols} FROM read_parquet(${src}) LIMIT ${Math.floor(rowsPerFile)} OFFSET ${offset}`;
        await conn.run(`COPY (${rows}) TO ${sqlString(file)} (FORMAT csv, HEADER true, COMPRESSION gzip)`);
        files.push(file);
        if (record.resultsCount === 0) break;
      }
      return files;
    } finally {
      conn.closeSync();
    }
  }

  /** Removes what exportCsv wrote. */
  async removeExport(record: LakeQueryRecord): Promise<void> {
    await rm(this.exportDir(record), { recursive: true, force: true });
  }

  private exportDir(r: LakeQueryRecord): string {
    return join(this.deps.resultsDir, r.accountId, `${r.queryId}.delivery`);
  }

  private resultsFile(r: LakeQueryRecord): string {
    return join(this.deps.resultsDir, r.accountId, `${r.queryId}.parquet`);
  }

  private pump(): void {
    while (!this.closed && this.running < this.limits.maxConcurrent && this.queue.length > 0) {
      const a = this.queue.shift()!;
      this.running++;
      void this.run(a)
        .catch((e: unknown) => this.deps.logError(`query ${a.record.queryId} failed to finish`, e))
        .finally(() => {
          this.running--;
          this.pump();
        });
    }
  }

  private async run(a: Active): Promise<void> {
    const r = a.record;
    r.status = 'RUNNING';
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    let sizeWatch: NodeJS.Timeout | undefined;
    try {
      const files = await Promise.all(a.translated.stores.map((s) => storeFiles(this.deps.catalog.root, s)));
      const conn = await (await this.queryInstance()).connect();
      a.conn = conn;
      const lookup = a.translated.pointLookup;
      const narrowed = lookup ? a.translated.stores.findIndex((_, i) => storeView(i) === lookup.view) : -1;
      let pointSql: string | undefined;
      if (lookup && narrowed >= 0) {
        const point = await this.pointFiles(conn, files[narrowed]!, lookup.eventId);
        files[narrowed] = point;
        pointSql = await this.pointReader.storeSql(conn, point, lookup.eventId);
      }
      r.bytesScanned = files.flat().reduce((n, f) => n + f.bytes, 0);
      const outDir = join(this.deps.resultsDir, r.accountId);
      await mkdir(outDir, { recursive: true });
      if (a.stop || this.closed) throw new Error('interrupted');
      timer = setTimeout(() => {
        a.stop ??= 'TIMED_OUT';
        conn.interrupt();
      }, this.limits.timeoutMs);
      // The results file may not grow past maxResultMiB (a cross join would fill the disk until the time limit).
      const maxBytes = (this.limits.maxResultMiB ?? DEFAULT_MAX_RESULT_MIB) * 1024 * 1024;
      sizeWatch = setInterval(() => {
        void stat(this.resultsFile(r)).then((st) => {
          if (st.size > maxBytes && !a.stop) {
            a.stop = 'TOO_LARGE';
            conn.interrupt();
          }
        }, () => undefined);
      }, RESULT_SIZE_CHECK_MS);
      r.eventsScanned = await this.rowsIn(conn, files.flat());
      // Each store is a CTE over the files it has now (the statement itself may have CTEs of its
      // own: it is a subquery here, and sees these). One row past the cap is asked for, to tell
      // "exactly the cap" from "more".
      const maxRows = this.limits.maxResultRows ?? DEFAULT_MAX_RESULT_ROWS;
      const stores = files.map((list, i) => `${storeView(i)} AS (${i === narrowed && pointSql !== undefined ? pointSql : list.length === 0 ? EMPTY_STORE_SQL : `SELECT * FROM read_parquet([${list.map((f) => sqlString(f.path)).join(', ')}], hive_partitioning = false, union_by_name = true)`})`);
      const out = await conn.run(`COPY (WITH ${stores.join(', ')} SELECT * FROM (${a.outputSql}) AS lake_capped LIMIT ${maxRows + 1}) TO ${sqlString(this.resultsFile(r))} (FORMAT parquet, COMPRESSION zstd)`);
      r.resultsCount = Number(out.rowsChanged);
      r.executionTimeMs = Math.round(performance.now() - started);
      if (r.resultsCount > maxRows) {
        await this.finish(a, { status: 'FAILED', errorMessage: `The query's results have more than ${maxRows} rows (lakeQueries.maxResultRows); add a LIMIT or narrow the query.` });
        return;
      }
      if (((await stat(this.resultsFile(r)).catch(() => undefined))?.size ?? 0) > maxBytes) a.stop = 'TOO_LARGE';
      if (a.stop === 'TOO_LARGE') throw new Error('results too large');
      await this.finish(a, { status: 'FINISHED' });
    } catch (e) {
      r.executionTimeMs = Math.round(performance.now() - started);
      if (a.stop === 'CANCELLED') await this.finish(a, { status: 'CANCELLED' });
      else if (this.closed) await this.finish(a, { status: 'FAILED', errorMessage: 'The query was interrupted: the server stopped.' });
      else if (a.stop === 'TIMED_OUT') await this.finish(a, { status: 'TIMED_OUT', errorMessage: `The query ran longer than ${this.limits.timeoutMs} ms and was stopped.` });
      else if (a.stop === 'TOO_LARGE') await this.finish(a, { status: 'FAILED', errorMessage: `The query's results grew past ${this.limits.maxResultMiB ?? DEFAULT_MAX_RESULT_MIB} MiB (lakeQueries.maxResultMiB) and it was stopped; add a LIMIT or narrow the query.` });
      else await this.finish(a, { status: 'FAILED', errorMessage: failureMessage(e) });
    } finally {
      clearTimeout(timer);
      clearInterval(sizeWatch);
      a.conn?.closeSync();
    }
  }

  private async finish(a: Active, end: { status: QueryStatus; errorMessage?: string }): Promise<void> {
    const r = a.record;
    r.status = end.status;
    r.endTimeMs = this.deps.nowMs();
    if (end.errorMessage) r.errorMessage = end.errorMessage.slice(0, 1000);
    if (end.status !== 'FINISHED') {
      r.resultsCount = 0;
      await rm(this.resultsFile(r), { force: true });
      // A query that did not finish delivers nothing.
      if (r.deliveryS3Uri !== undefined) r.deliveryStatus = end.status === 'CANCELLED' ? 'CANCELLED' : 'FAILED';
    }
    try {
      await this.deps.control.put(KIND, key(r), r);
    } finally {
      this.active.delete(r.queryId);
      a.end();
    }
    if (end.status === 'FINISHED' && r.deliveryS3Uri !== undefined) this.startDelivery(r);
  }

  /** Copies the results to the query's DeliveryS3Uri, then records the DeliveryStatus (PENDING until then). */
  private startDelivery(r: LakeQueryRecord): void {
    const p = (async () => {
      let status: DeliveryStatus = 'FAILED';
      try {
        if (this.deps.deliver) status = await this.deps.deliver({ ...r });
      } catch (e) {
        this.deps.logError(`delivering the results of query ${r.queryId} failed`, e);
      }
      const latest = (await this.deps.control.get<LakeQueryRecord>(KIND, key(r))) ?? r;
      await this.deps.control.put(KIND, key(r), { ...latest, deliveryStatus: status });
    })().catch((e: unknown) => this.deps.logError(`recording the delivery of query ${r.queryId} failed`, e));
    this.deliveries.add(p);
    void p.finally(() => this.deliveries.delete(p));
  }

  /**
   * The files of a point query's store that can hold `eventId`: those the in-memory summaries do
   * not rule out and whose sidecar holds it (with the times of its rows), and every file without a
   * sidecar.
   */
  private async pointFiles(conn: DuckDBConnection, files: readonly StoreFile[], eventId: string): Promise<(StoreFile & PointFile)[]> {
    const indexed = files.filter((f) => f.indexed);
    const maybe = indexed.length === 0 ? [] : this.summaries.mayHold(indexed, await eventIdHash(conn, eventId));
    const hits = await eventIdHits(conn, maybe.map((f) => f.path), eventId);
    return files.filter((f) => !f.indexed || hits.has(f.path)).map((f) => ({ ...f, hit: hits.get(f.path) }));
  }

  /** Drops records and results older than 7 days, at most once an hour. */
  private async pruneSometimes(): Promise<void> {
    const now = this.deps.nowMs();
    if (now - this.lastPruneMs < 3_600_000) return;
    this.lastPruneMs = now;
    try {
      for (const { key: k, doc } of await this.deps.control.list<LakeQueryRecord>(KIND, '')) {
        if (now - doc.creationTimeMs <= RETENTION_MS || ACTIVE.has(doc.status)) continue;
        await rm(this.resultsFile(doc), { force: true });
        await this.removeExport(doc);
        await this.deps.control.delete(KIND, k);
      }
    } catch (e) {
      this.deps.logError('pruning old Lake queries failed', e);
    }
  }

  private queryInstance(): Promise<DuckDBInstance> {
    return (this.runner ??= (async () => {
      await mkdir(this.deps.resultsDir, { recursive: true });
      await mkdir(this.deps.catalog.root, { recursive: true });
      return lockedQueryInstance(this.deps.catalog.root, this.deps.resultsDir, this.limits);
    })());
  }

  private parserInstance(): Promise<DuckDBInstance> {
    return (this.parser ??= (async () => {
      const db = await createInstance({ ...INSTANCE_OPTIONS, threads: '1' });
      const c = await db.connect();
      await c.run(`SET TimeZone='UTC'`);
      for (const m of LAKE_MACROS) await c.run(m);
      // Empty tables with the stores' columns, to bind a statement against (never read).
      for (let i = 0; i < MAX_STORES_PER_QUERY; i++) await c.run(`CREATE TABLE ${storeView(i)} (${lakeTableColumnsSql()})`);
      await c.run('SET enable_external_access = false');
      await c.run('SET lock_configuration = true');
      c.closeSync();
      return db;
    })());
  }
}

/**
 * The DuckDB instance queries run in, each on a connection of its own with its stores as temporary
 * views: the Lake macros, then locked: it reads and writes only below the Lake root and the results
 * folder, loads no extension, and no statement can change a setting (memory and threads are the
 * instance's, shared by the queries running at once).
 */
export async function lockedQueryInstance(lakeRoot: string, resultsDir: string, limits: Pick<LakeQueryLimits, 'threads' | 'memoryLimit'>): Promise<DuckDBInstance> {
  const instance = await createInstance({ ...INSTANCE_OPTIONS, threads: String(limits.threads), memory_limit: limits.memoryLimit });
  try {
    const conn = await instance.connect();
    await conn.run(`SET TimeZone='UTC'`);
    for (const m of LAKE_MACROS) await conn.run(m);
    // Parquet footers are cached between queries (DuckDB checks each file's modification time;
    // store files are only ever replaced whole, by rename).
    await conn.run('SET parquet_metadata_cache = true');
    await conn.run(`SET allowed_directories = [${[lakeRoot, resultsDir].map((d) => sqlString(`${d.replace(/\/+$/, '')}/`)).join(', ')}]`);
    await conn.run('SET enable_external_access = false');
    await conn.run('SET lock_configuration = true');
    conn.closeSync();
    return instance;
  } catch (e) {
    instance.closeSync();
    throw e;
  }
}

/** Stores one statement may read. */
export const MAX_STORES_PER_QUERY = 10;

const key = (r: LakeQueryRecord): string => `${r.accountId}/${r.queryId}`;

export const queryNotFound = (queryId: string) => cloudTrailError('QueryIdNotFoundException', `The query ${queryId} was not found.`);

/** The result's columns (names and DuckDB types), by binding the statement against empty stores. */
async function describe(conn: DuckDBConnection, t: TranslatedQuery): Promise<{ name: string; type: string }[]> {
  if (t.stores.length > MAX_STORES_PER_QUERY) throw invalidQuery(`A query may read at most ${MAX_STORES_PER_QUERY} event data stores.`);
  try {
    const r = await conn.runAndReadAll(`DESCRIBE ${t.sql}`);
    return r.getRowObjectsJson().map((row) => ({ name: String(row.column_name), type: String(row.column_type) }));
  } catch (e) {
    throw invalidQuery(`The query statement is not valid: ${failureMessage(e)}`);
  }
}

/** The SELECT whose rows are the results as GetQueryResults gives them: one string per value, times as Lake prints them. */
function outputSql(sql: string, columns: readonly { name: string; type: string }[]): string {
  const positional = columns.map((_, i) => `c${i}`);
  const values = columns.map((c, i) => {
    const col = ident(positional[i]!);
    if (c.type === 'VARCHAR') return `${col} AS ${col}`;
    if (c.type === 'TIMESTAMP' || c.type === 'TIMESTAMP WITH TIME ZONE' || c.type.startsWith('TIMESTAMP_')) return `strftime(CAST(${col} AS TIMESTAMP), '%Y-%m-%d %H:%M:%S.%g') AS ${col}`;
    return `CAST(${col} AS VARCHAR) AS ${col}`;
  });
  return `SELECT ${values.join(', ') || '*'} FROM (${sql}) AS lake_result(${positional.map(ident).join(', ')})`;
}

interface StoreFile {
  path: string;
  bytes: number;
  mtimeMs: number;
  /** It has an eventID sidecar (src/lake/storage/eventid-index.ts). */
  indexed: boolean;
}

/** Every Parquet file of a store now, with its size (a `.tmp-*` folder of a writer is not a partition). */
async function storeFiles(root: string, s: LakeStoreRef): Promise<StoreFile[]> {
  const dir = join(root, storeDir(s.accountId, s.storeId));
  const parts = (await readdir(dir).catch(() => [] as string[])).filter((p) => p.startsWith('eventDate=')).sort();
  const out: StoreFile[] = [];
  for (const p of parts) {
    const names = await readdir(join(dir, p)).catch(() => [] as string[]);
    const indexes = new Set(names.filter((n) => n.endsWith(EVENT_ID_INDEX_SUFFIX)));
    // Compaction outputs replace their inputs as one rename (src/lake/storage/live-files.ts).
    for (const f of await liveDataFiles(join(dir, p), names)) {
      const path = join(dir, p, f);
      const st = await stat(path).catch(() => undefined);
      if (st) out.push({ path, bytes: st.size, mtimeMs: st.mtimeMs, indexed: indexes.has(f + EVENT_ID_INDEX_SUFFIX) });
    }
  }
  return out;
}

/** DuckDB's message without its internal detail, for ErrorMessage (4..1000 characters). */
function failureMessage(e: unknown): string {
  const m = (e instanceof Error ? e.message : String(e)).split('\n')[0]!.trim();
  return m.length >= 4 ? m.slice(0, 900) : 'The query failed.';
}
