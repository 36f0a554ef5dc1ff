/**
 * The import engine: copies the events of existing trail log files into event data stores
 * (StartImport and its kin; the API's handlers are src/services/cloudtrail/imports.ts).
 *
 * An import is a control document (kind `lake-import`) and its failures (kind
 * `lake-import-failure`, one per source file that could not be read). Imports run one at a time,
 * off the event loop: the source's keys are read in S3's order, in batches of `batchFiles` files;
 * each batch is one DuckDB COPY per destination store (`writeLakeFiles`, which reads the gzip JSON
 * files itself), named from the import id and the batch's keys.
 *
 * Exactly once across crashes: before a batch is written its keys and name are saved in the
 * import's document (`pending`); when it is written, the cursor (its last key), the statistics and
 * the batch's failures are saved in one transaction and `pending` cleared. An import found running
 * at start resumes: the pending batch is written again under the same name (so it replaces what a
 * crashed run wrote, never doubles it), then the keys after the cursor.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Clock, IdSource } from '../../core/index.ts';
import type { ControlStore } from '../../stores/control-store.ts';
import { LeaseLostError, type Fence } from '../../stores/index.ts';
import type { LakeCatalog, LakeStoreRef } from '../catalog.ts';
import { writeLakeFiles } from '../storage/writer.ts';
import { batchName, keyPrefix, wantsKey } from './keys.ts';
import type { LogSource, StagedFile } from './source.ts';

export const IMPORT_KIND = 'lake-import';
export const IMPORT_FAILURE_KIND = 'lake-import-failure';

export type ImportStatus = 'INITIALIZING' | 'IN_PROGRESS' | 'FAILED' | 'STOPPED' | 'COMPLETED';

export interface ImportSourceSpec {
  S3: { S3LocationUri: string; S3BucketRegion: string; S3BucketAccessRoleArn: string };
}

export interface ImportStats {
  PrefixesFound: number;
  PrefixesCompleted: number;
  FilesCompleted: number;
  EventsCompleted: number;
  FailedEntries: number;
}

/** An import as stored. Times are epoch ms. */
export interface ImportDoc {
  ImportId: string;
  /** The account that started it (and owns the destination stores' rows it writes). */
  accountId: string;
  /**
   * The accounts whose log files and events it reads: the starting account, and for an
   * organization's management account its member accounts. Absent (imports saved before): only
   * `accountId`.
   */
  accounts?: string[];
  /** The Region it was started in (its destinations'); absent (imports saved before): each destination ARN's. */
  region?: string;
  /** The destination stores' ARNs, as answered. */
  Destinations: string[];
  ImportSource: ImportSourceSpec;
  StartEventTime?: number;
  EndEventTime?: number;
  ImportStatus: ImportStatus;
  CreatedTimestamp: number;
  UpdatedTimestamp: number;
  stats: ImportStats;
  /** The last source key whose batch is written. */
  cursor?: string;
  /** The prefix of the last key written (PrefixesCompleted counts a prefix when the next one begins). */
  currentPrefix?: string;
  /** The batch being written: written again under this name if the run stopped before it was saved. */
  pending?: { name: string; keys: string[] };
  /** Why the import FAILED, when it did. */
  error?: string;
}

export interface ImportFailureDoc {
  Location: string;
  Status: 'FAILED' | 'RETRY' | 'SUCCEEDED';
  ErrorType: string;
  ErrorMessage: string;
  /** epoch ms */
  LastUpdatedTime: number;
}

/** A source URI the engine cannot read (answered as InvalidImportSourceException). */
export class ImportSourceError extends Error {
  override name = 'ImportSourceError';
}

export interface ImportEngineDeps {
  control: ControlStore;
  catalog: LakeCatalog;
  /** The source a StartImport names; throws ImportSourceError when it cannot be read by this server. */
  openSource(uri: string, region: string): LogSource;
  /** A DuckDB connection for the engine's writes (asked once). */
  connect(): Promise<DuckDBConnection>;
  clock: Clock;
  ids: IdSource;
  logError(message: string, err?: unknown): void;
  /**
   * Several nodes on one database (src/stores/lease-keeper.ts): an import runs only on the node
   * holding its lease (`lake-import/<ImportId>`), every write of its state fenced by it, and a
   * node looks for imports to take over every `ttlMs / 3`. Absent: one node.
   */
  leases?: ImportLeases;
}

/** What the engine needs of the node's LeaseKeeper. */
export interface ImportLeases {
  readonly ttlMs: number;
  take(name: string): Promise<Fence | undefined>;
  give(name: string): Promise<void>;
  lost(name: string): void;
}

/** The lease of one import. */
export const importLease = (importId: string): string => `lake-import/${importId}`;

export interface ImportEngineOptions {
  /** Source files per COPY (default 64). */
  batchFiles?: number;
  /** Largest JSON document DuckDB reads (a whole log file, uncompressed; default 128 MiB; DuckDB reserves twice this per thread). */
  maxFileBytes?: number;
  /** Called after each batch is saved (tests: to stop a run at a chosen point). */
  onBatch?: (doc: ImportDoc) => void | Promise<void>;
}

const RUNNABLE = new Set<ImportStatus>(['INITIALIZING', 'IN_PROGRESS']);
const sqlString = (s: string): string => `'${s.replaceAll("'", "''")}'`;

/** The accounts whose log files and events an import reads (see ImportDoc.accounts). */
export function readableAccounts(doc: Pick<ImportDoc, 'accountId' | 'accounts'>): string[] {
  return doc.accounts ?? [doc.accountId];
}

const emptyStats = (): ImportStats => ({ PrefixesFound: 0, PrefixesCompleted: 0, FilesCompleted: 0, EventsCompleted: 0, FailedEntries: 0 });

interface ActiveRun {
  id: string;
  /** `elsewhere`: StopImport on another node changed the import's status (nothing more is saved). */
  stop?: 'stop' | 'shutdown' | 'elsewhere';
  done: Promise<void>;
  /** The import's lease, with several nodes: every write of its state is fenced by it. */
  fence?: Fence;
}

export class ImportEngine {
  private readonly deps: ImportEngineDeps;
  private readonly batchFiles: number;
  private readonly maxFileBytes: number;
  private readonly onBatch?: ImportEngineOptions['onBatch'];
  private conn?: Promise<DuckDBConnection>;
  private loop?: Promise<void>;
  private wanted = false;
  private closed = false;
  private active?: ActiveRun;
  /** Status changes (start, stop, restart, a run taking its import) one at a time. */
  private lock: Promise<unknown> = Promise.resolve();
  private takeoverTimer?: NodeJS.Timeout;

  constructor(deps: ImportEngineDeps, opts: ImportEngineOptions = {}) {
    this.deps = deps;
    this.batchFiles = opts.batchFiles ?? 64;
    this.maxFileBytes = opts.maxFileBytes ?? 128 * 1024 * 1024;
    this.onBatch = opts.onBatch;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** Resumes the imports a previous run left INITIALIZING or IN_PROGRESS. */
  start(): void {
    this.kick();
    // Several nodes: an import whose node died is taken over once its lease expires.
    if (this.deps.leases && !this.takeoverTimer) {
      this.takeoverTimer = setInterval(() => this.kick(), Math.max(100, this.deps.leases.ttlMs / 3));
      this.takeoverTimer.unref();
    }
  }

  /** Stops the running import at its next batch boundary, leaving it to resume at the next start. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.takeoverTimer);
    if (this.active) this.active.stop ??= 'shutdown';
    await this.loop;
  }

  /** Throws ImportSourceError when this server cannot read `uri` (nothing is read). */
  checkSource(uri: string, region: string): void {
    this.deps.openSource(uri, region).close();
  }

  get(importId: string): Promise<ImportDoc | undefined> {
    return this.deps.control.get<ImportDoc>(IMPORT_KIND, importId);
  }

  async list(): Promise<ImportDoc[]> {
    return (await this.deps.control.list<ImportDoc>(IMPORT_KIND, '')).map((d) => d.doc);
  }

  /** The failures of an import, in location order, from `afterKey` on. */
  async failures(importId: string): Promise<{ key: string; doc: ImportFailureDoc }[]> {
    return this.deps.control.list<ImportFailureDoc>(IMPORT_FAILURE_KIND, `${importId}/`);
  }

  /**
   * A new import, INITIALIZING; undefined when the account already has one running (AWS allows one
   * import in progress per account).
   */
  async create(p: { accountId: string; accounts?: readonly string[]; region?: string; destinations: readonly LakeStoreRef[]; source: ImportSourceSpec; startMs?: number; endMs?: number }): Promise<ImportDoc | undefined> {
    const doc = await this.exclusive(async () => {
      if ((await this.list()).some((d) => d.accountId === p.accountId && RUNNABLE.has(d.ImportStatus))) return undefined;
      const now = this.deps.clock.nowMs();
      const created: ImportDoc = {
        ImportId: this.deps.ids.uuid(),
        accountId: p.accountId,
        accounts: [...new Set([p.accountId, ...(p.accounts ?? [])])],
        ...(p.region !== undefined ? { region: p.region } : {}),
        Destinations: p.destinations.map((d) => d.arn),
        ImportSource: p.source,
        ...(p.startMs !== undefined ? { StartEventTime: p.startMs } : {}),
        ...(p.endMs !== undefined ? { EndEventTime: p.endMs } : {}),
        ImportStatus: 'INITIALIZING',
        CreatedTimestamp: now,
        UpdatedTimestamp: now,
        stats: emptyStats(),
      };
      await this.deps.control.put(IMPORT_KIND, created.ImportId, created);
      return created;
    });
    if (doc) this.kick();
    return doc;
  }

  /**
   * Starts a STOPPED or FAILED import again from where it was. Answers the import as it now is,
   * `'not-restartable'` when it is running or completed, `'ongoing'` when the account has another
   * import running, undefined when there is none.
   */
  async restart(importId: string): Promise<ImportDoc | 'not-restartable' | 'ongoing' | undefined> {
    const out = await this.exclusive(async (): Promise<ImportDoc | 'not-restartable' | 'ongoing' | undefined> => {
      const doc = await this.get(importId);
      if (!doc) return undefined;
      if (doc.ImportStatus !== 'STOPPED' && doc.ImportStatus !== 'FAILED') return 'not-restartable';
      if ((await this.list()).some((d) => d.accountId === doc.accountId && d.ImportId !== importId && RUNNABLE.has(d.ImportStatus))) return 'ongoing';
      const { error: _error, ...rest } = doc;
      const next: ImportDoc = { ...rest, ImportStatus: doc.stats.PrefixesFound > 0 || doc.cursor !== undefined ? 'IN_PROGRESS' : 'INITIALIZING', UpdatedTimestamp: this.deps.clock.nowMs() };
      await this.deps.control.put(IMPORT_KIND, importId, next);
      return next;
    });
    if (typeof out === 'object') this.kick();
    return out;
  }

  /** Stops an import (a running one at its next batch boundary); answers it as it then is. */
  async stop(importId: string): Promise<ImportDoc | undefined> {
    const active = this.active;
    if (active?.id === importId) {
      active.stop = 'stop';
      await active.done;
      return this.get(importId);
    }
    return this.exclusive(async () => {
      if (this.active?.id === importId) {
        const run = this.active;
        run.stop = 'stop';
        // The run saves STOPPED itself; its end is awaited outside the lock (below).
        return run;
      }
      const doc = await this.get(importId);
      if (!doc || !RUNNABLE.has(doc.ImportStatus)) return doc;
      const next: ImportDoc = { ...doc, ImportStatus: 'STOPPED', UpdatedTimestamp: this.deps.clock.nowMs() };
      await this.deps.control.put(IMPORT_KIND, importId, next);
      return next;
    }).then(async (r) => {
      if (r && 'done' in r) {
        await r.done;
        return this.get(importId);
      }
      return r;
    });
  }

  private kick(): void {
    this.wanted = true;
    if (this.closed || this.loop) return;
    this.loop = this.runAll().finally(() => {
      this.loop = undefined;
    });
  }

  private async runAll(): Promise<void> {
    while (!this.closed) {
      this.wanted = false;
      let run: { doc: ImportDoc; run: ActiveRun; finish: () => void } | undefined;
      try {
        run = await this.exclusive(async () => {
          const runnable = (await this.list()).filter((d) => RUNNABLE.has(d.ImportStatus)).sort((a, b) => a.CreatedTimestamp - b.CreatedTimestamp);
          for (const candidate of runnable) {
            // With several nodes, the oldest import whose lease this node gets (another node runs the others).
            const fence = this.deps.leases ? await this.deps.leases.take(importLease(candidate.ImportId)) : undefined;
            if (this.deps.leases && !fence) continue;
            // Read again under the lease: the node that held it may have moved it meanwhile.
            const next = this.deps.leases ? await this.get(candidate.ImportId) : candidate;
            if (!next || !RUNNABLE.has(next.ImportStatus)) {
              if (fence) await this.deps.leases!.give(importLease(candidate.ImportId));
              continue;
            }
            let finish!: () => void;
            const done = new Promise<void>((resolve) => (finish = resolve));
            const active: ActiveRun = { id: next.ImportId, done, ...(fence ? { fence } : {}) };
            this.active = active;
            return { doc: next, run: active, finish };
          }
          return undefined;
        });
      } catch (e) {
        this.deps.logError('imports: the control store could not be read', e);
        return;
      }
      if (!run) {
        if (this.wanted) continue;
        return;
      }
      try {
        await this.runOne(run.doc, run.run);
      } catch (e) {
        if (e instanceof LeaseLostError) {
          // Another node took the import over (this one was too slow to renew): it goes on there.
          this.deps.leases?.lost(importLease(run.doc.ImportId));
          this.deps.logError(`import ${run.doc.ImportId}: its lease was lost; another node goes on with it`, e);
        } else {
          // The control store or the Lake folder failed: the import stays as it was saved and is
          // tried again at the next start (or restarted with StartImport once FAILED).
          this.deps.logError(`import ${run.doc.ImportId} failed`, e);
          await this.save({ ...run.doc, ImportStatus: 'FAILED', error: (e as Error).message, UpdatedTimestamp: this.deps.clock.nowMs() }).catch(() => undefined);
        }
      } finally {
        this.active = undefined;
        if (run.run.fence) await this.deps.leases?.give(importLease(run.doc.ImportId)).catch((e: unknown) => this.deps.logError('imports: giving a lease back failed', e));
        run.finish();
      }
    }
  }

  private async save(doc: ImportDoc, failures: ImportFailureDoc[] = []): Promise<void> {
    const run = this.active?.id === doc.ImportId ? this.active : undefined;
    if (run?.fence && RUNNABLE.has(doc.ImportStatus)) {
      // StopImport answered by another node wrote STOPPED: keep it (this run ends at its next boundary).
      const stored = await this.get(doc.ImportId);
      if (stored?.ImportStatus === 'STOPPED') {
        doc = { ...doc, ImportStatus: 'STOPPED' };
        run.stop ??= 'elsewhere';
      }
    }
    const docs = [
      { kind: IMPORT_KIND, key: doc.ImportId, doc },
      ...failures.map((f) => ({ kind: IMPORT_FAILURE_KIND, key: `${doc.ImportId}/${f.Location}`, doc: f })),
    ];
    // The running import's writes are fenced by its lease (several nodes).
    await this.deps.control.putMany(docs, run?.fence ? { fence: run.fence } : undefined);
  }

  private failure(location: string, type: string, message: string): ImportFailureDoc {
    return { Location: location, Status: 'FAILED', ErrorType: type, ErrorMessage: message.slice(0, 1000), LastUpdatedTime: this.deps.clock.nowMs() };
  }

  private async runOne(initial: ImportDoc, run: ActiveRun): Promise<void> {
    let doc = initial;
    const fail = async (message: string, failure?: ImportFailureDoc) => {
      doc = { ...doc, ImportStatus: 'FAILED', error: message, UpdatedTimestamp: this.deps.clock.nowMs(), stats: { ...doc.stats, FailedEntries: doc.stats.FailedEntries + (failure ? 1 : 0) } };
      await this.save(doc, failure ? [failure] : []);
    };
    const stores: LakeStoreRef[] = [];
    for (const arn of doc.Destinations) {
      const ref = await this.deps.catalog.resolve(doc.accountId, doc.region ?? arn.split(':')[3] ?? '', arn);
      if (!ref || ref.status === 'PENDING_DELETION') return fail(`The destination event data store ${arn} no longer exists.`);
      stores.push(ref);
    }
    const s3 = doc.ImportSource.S3;
    let source: LogSource;
    try {
      source = this.deps.openSource(s3.S3LocationUri, s3.S3BucketRegion);
    } catch (e) {
      return fail((e as Error).message, this.failure(s3.S3LocationUri, 'InvalidImportSource', (e as Error).message));
    }
    try {
      const listFailed = (e: unknown) => fail((e as Error).message, this.failure(s3.S3LocationUri, (e as { code?: string }).code ?? 'ListError', (e as Error).message));
      const accounts = new Set(readableAccounts(doc));
      const wants = (key: string) => wantsKey(key, doc.StartEventTime, doc.EndEventTime, accounts);
      if (doc.ImportStatus === 'INITIALIZING') {
        // PrefixesFound: one listing of the whole source before anything is written.
        const prefixes = new Set<string>();
        try {
          for await (const key of source.list()) if (wants(key)) prefixes.add(keyPrefix(key));
        } catch (e) {
          return await listFailed(e);
        }
        doc = { ...doc, ImportStatus: 'IN_PROGRESS', UpdatedTimestamp: this.deps.clock.nowMs(), stats: { ...doc.stats, PrefixesFound: prefixes.size } };
        await this.save(doc);
      }
      if (doc.pending) doc = await this.writeBatch(doc, stores, source, doc.pending.keys);
      let batch: string[] = [];
      const keys = source.list(doc.cursor)[Symbol.asyncIterator]();
      try {
        for (;;) {
          if (run.stop) break;
          let next: IteratorResult<string>;
          try {
            next = await keys.next();
          } catch (e) {
            return await listFailed(e);
          }
          if (next.done) break;
          if (!wants(next.value)) continue;
          batch.push(next.value);
          if (batch.length < this.batchFiles) continue;
          // StopImport may have been answered by another node: its status is the stored one. And
          // a node that no longer holds the lease (paused past the ttl) starts no further batch.
          if (this.deps.leases) {
            const held = await this.deps.leases.take(importLease(doc.ImportId));
            if (!held || held.token !== run.fence?.token) {
              run.stop = 'elsewhere';
              break;
            }
            const now = await this.get(doc.ImportId);
            if (!now || !RUNNABLE.has(now.ImportStatus)) {
              run.stop = 'elsewhere';
              break;
            }
          }
          doc = await this.writeBatch(doc, stores, source, batch);
          batch = [];
        }
      } finally {
        await keys.return?.();
      }
      if (run.stop) {
        if (run.stop === 'stop') await this.save((doc = { ...doc, ImportStatus: 'STOPPED', UpdatedTimestamp: this.deps.clock.nowMs() }));
        return;
      }
      if (batch.length > 0) doc = await this.writeBatch(doc, stores, source, batch);
      const stats = { ...doc.stats, PrefixesCompleted: doc.stats.PrefixesCompleted + (doc.currentPrefix !== undefined ? 1 : 0) };
      await this.save({ ...doc, ImportStatus: 'COMPLETED', stats, currentPrefix: undefined, UpdatedTimestamp: this.deps.clock.nowMs() });
    } finally {
      source.close();
    }
  }

  /** The relation of the events of `paths` within the import's time range, one record per row in `json`. */
  private recordsSql(doc: ImportDoc, paths: readonly string[]): string {
    const files = `[${paths.map(sqlString).join(', ')}]`;
    const read = `read_json_objects(${files}, format = 'unstructured', maximum_object_size = ${this.maxFileBytes})`;
    const range: string[] = [];
    const t = `TRY_CAST(json ->> 'eventTime' AS TIMESTAMPTZ)`;
    if (doc.StartEventTime !== undefined) range.push(`${t} >= make_timestamptz(${doc.StartEventTime * 1000})`);
    if (doc.EndEventTime !== undefined) range.push(`${t} <= make_timestamptz(${doc.EndEventTime * 1000})`);
    // Only the events of the import's accounts, whatever folder their file was in.
    const account = `coalesce(json ->> 'recipientAccountId', json -> 'userIdentity' ->> 'accountId')`;
    range.push(`${account} IN (${readableAccounts(doc).map(sqlString).join(', ')})`);
    const records = `(SELECT unnest(json_extract(json, '$.Records[*]')) AS json FROM ${read})`;
    return `(SELECT json FROM ${records} WHERE ${range.join(' AND ')})`;
  }

  private connection(): Promise<DuckDBConnection> {
    this.conn ??= this.deps.connect();
    return this.conn;
  }

  /** Writes the batch into every destination; the rows written (of the first). */
  private async writeAll(doc: ImportDoc, stores: readonly LakeStoreRef[], paths: readonly string[], name: string): Promise<number> {
    const conn = await this.connection();
    let rows = 0;
    for (const [i, s] of stores.entries()) {
      const w = await writeLakeFiles(conn, { root: this.deps.catalog.root, accountId: s.accountId, storeId: s.storeId, source: this.recordsSql(doc, paths), name });
      if (i === 0) rows = w.rows;
    }
    return rows;
  }

  /** Why DuckDB cannot read one staged file as a trail log file, or undefined when it can. */
  private async probe(path: string): Promise<{ type: string; message: string } | undefined> {
    const conn = await this.connection();
    try {
      const r = await conn.runAndReadAll(`SELECT json_type(json, '$.Records') AS t FROM read_json_objects(${sqlString(path)}, format = 'unstructured', maximum_object_size = ${this.maxFileBytes})`);
      const types = r.getRowObjectsJson().map((x) => x.t);
      if (types.length !== 1 || types[0] !== 'ARRAY') return { type: 'InvalidLogFile', message: 'The file is not a CloudTrail log file: no Records array.' };
      return undefined;
    } catch (e) {
      return { type: 'InvalidLogFile', message: (e as Error).message };
    }
  }

  private async writeBatch(doc: ImportDoc, stores: readonly LakeStoreRef[], source: LogSource, keys: readonly string[]): Promise<ImportDoc> {
    const name = doc.pending?.name ?? batchName(doc.ImportId, keys);
    if (!doc.pending) {
      doc = { ...doc, pending: { name, keys: [...keys] }, UpdatedTimestamp: this.deps.clock.nowMs() };
      await this.save(doc);
    }
    const staging = join(this.deps.catalog.root, '.import-staging', name);
    await rm(staging, { recursive: true, force: true });
    try {
      const staged: StagedFile[] = await source.stage(keys, staging);
      const failures: ImportFailureDoc[] = [];
      let good: { key: string; path: string }[] = [];
      for (const f of staged) {
        if ('error' in f) failures.push(this.failure(source.locationBase + f.key, f.error.type, f.error.message));
        else good.push(f);
      }
      let rows = 0;
      if (good.length > 0) {
        try {
          rows = await this.writeAll(doc, stores, good.map((f) => f.path), name);
        } catch (e) {
          // One COPY reads the whole batch: find the files DuckDB cannot read, then write the others.
          const ok: typeof good = [];
          for (const f of good) {
            const bad = await this.probe(f.path);
            if (bad) failures.push(this.failure(source.locationBase + f.key, bad.type, bad.message));
            else ok.push(f);
          }
          if (ok.length === good.length) throw e;
          good = ok;
          rows = good.length > 0 ? await this.writeAll(doc, stores, good.map((f) => f.path), name) : 0;
        }
      }
      let { PrefixesCompleted: completed } = doc.stats;
      let current = doc.currentPrefix;
      for (const k of keys) {
        const p = keyPrefix(k);
        if (p === current) continue;
        if (current !== undefined) completed++;
        current = p;
      }
      const { pending: _pending, ...rest } = doc;
      const next: ImportDoc = {
        ...rest,
        cursor: keys.at(-1),
        currentPrefix: current,
        UpdatedTimestamp: this.deps.clock.nowMs(),
        stats: {
          ...doc.stats,
          PrefixesCompleted: completed,
          FilesCompleted: doc.stats.FilesCompleted + good.length,
          EventsCompleted: doc.stats.EventsCompleted + rows,
          FailedEntries: doc.stats.FailedEntries + failures.length,
        },
      };
      await this.save(next, failures);
      await this.onBatch?.(next);
      return next;
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
}
