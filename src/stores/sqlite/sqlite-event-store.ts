/**
 * EventStore on SQLite (node:sqlite), the embedded default: events.db layout 2 (docs/storage.md).
 *
 * Threads: every write (append, probe, each step of prune, import) runs on the store's writer
 * thread (event-writer-worker.ts), one at a time in call order; reads (lookup, readAfter, count,
 * lastSeq) run on the calling thread on a second connection, each in one read transaction, so they
 * see a committed snapshot and never wait for a commit; a third thread checkpoints the WAL
 * (event-checkpointer-worker.ts), so no commit pays for a checkpoint; delivery's reads of the log
 * (readAfterShared) run on a log-reader thread with a connection of its own
 * (event-log-reader-worker.ts), started by the first of them.
 *
 * Durability: WAL; an append is one transaction committed with synchronous=NORMAL (the WAL
 * reaches the OS, which survives kill -9); a `process` append resolves then, a `disk` one only
 * after the syncer thread (wal-syncer-worker.ts) fdatasynced the WAL after its COMMIT, so the
 * writer commits the next group while that sync runs (two appends in flight: parallelAppends).
 * A `disk` append's sync covers every earlier commit too.
 *
 * `path` ':memory:' is kept for tests: a worker cannot share an in-memory database with the
 * reader, so it means a private file in a temporary directory, removed at close().
 */
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { getHeapStatistics, getHeapSpaceStatistics, type HeapInfo } from 'node:v8';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { storeFailure } from './errors.ts';
import { StoreUnavailableError } from '../errors.ts';
import { HASH_BITS } from './event-format.ts';
import { LAYOUT, prepareFile } from './event-schema.ts';
import { EventReader } from './event-reader.ts';
import { packBatch } from './append-batch.ts';
import type { ImportEvent, ImportOptions, WriterOptions } from './event-writer.ts';
import type { SerializedError, WriterReply, WriterRequestBody } from './event-writer-worker.ts';
import { askSyncFor, STOP, SYNC_CELLS_BYTES, SyncWaiters, takeTicket, WANT, type SyncerMessage, type SyncerOptions, type SyncTraceStep } from './wal-sync.ts';
import type { LogReadReply, LogReadRequest } from './event-log-reader-worker.ts';
import type { CheckpointerOptions } from './event-checkpointer-worker.ts';
import type { ReaderOptions } from './event-reader.ts';
import type {
  AppendFollow, AppendInput, AppendOutcome, Durability, EventStore, HistoryQuery, HistoryRow, LookupAttribute, SharedEventRows, StoredEvent,
} from '../event-store.ts';

export type { ImportEvent, ImportOptions };

/** The on-disk layout of events.db this store reads and writes (docs/storage.md); bump with every change of what is on disk. */
export const EVENT_STORE_LAYOUT = LAYOUT;

export interface SqliteEventStoreOptions {
  /** Path of the database file, or ':memory:' (a private temporary file, removed at close). */
  path: string;
  /** The clock of commit times (committed_ms, for pruning by ingestion age); read on the calling thread. */
  nowMs?: () => number;
  /** Page cache of each connection in MiB (kept small: SQLite walks the writer's cache at every COMMIT). */
  cacheMiB?: number;
  /** Decoded blocks the reader keeps between lookups, MiB (default 16). */
  blockCacheMiB?: number;
  /** Events per block (default 8; docs/storage.md says why). */
  blockEvents?: number;
  /** Events gathered in pending rows before they are merged into one bucket (default 65,536). */
  bucketEvents?: number;
  /** Bits of the key hashes (default 53); tests inject a few to force collisions. */
  hashBits?: number;
  /** zstd level of the blocks and pending rows written (default 1; a bench knob, not configuration: frames of any level read the same). */
  zstdLevel?: number;
  /** WAL size that makes the checkpointer run a PASSIVE checkpoint (default 4 MiB). */
  checkpointBytes?: number;
  /** WAL size that makes it TRUNCATE the WAL (default 64 MiB). */
  truncateBytes?: number;
  /** How often the checkpointer looks at the WAL, ms (default 50). */
  checkpointIntervalMs?: number;
  /**
   * Old-generation heap cap of the writer thread, MiB (default 384). Its steady live data is small
   * (the id table is off-heap), but a merge of a bucket of events with many distinct Event history
   * values holds every posting of the bucket for a while: with 128 MiB the thread died of heap
   * exhaustion building the bench's 10M dataset (after ~550k events). Without a cap V8 let the
   * heap grow past 200 MiB of garbage (measured), which counts toward the process RSS.
   */
  writerHeapMiB?: number;
  /**
   * Young-generation size of the writer thread, MiB (default 32; 96 before 2026-12-04). A group
   * commit's records (~3 MB for 2,000 events) live until its COMMIT; with V8's default young
   * generation they were promoted and the old generation needed a full mark-compact every ~16 MB.
   * 96 MiB was chosen for that (writer 41-46 -> 34-36 µs CPU per event); with 32 the bench's memory
   * trace showed the writer's heap no smaller and its CPU no higher within the noise of a shared
   * machine, and 32 is the bound that counts toward the process RSS (docs/storage.md "Memory").
   */
  writerYoungMiB?: number;
  /** Tests: keep the order of replies, syncs and answers of `disk` requests (syncStats().trace). */
  traceSync?: boolean;
  /**
   * Measurements (bench/proto/gateway-stages.ts): the writer, syncer and checkpointer threads say
   * when each request, fdatasync and checkpoint began and ended, and `onStages` is told of each
   * request and fdatasync as its reply or report arrives (checkpoints: `checkpointerStats().spans`).
   * Default: off (the threads take no timestamps).
   */
  onStages?: (s: StoreStages) => void;
  /** Tests: the syncer waits this long before each fdatasync (default env OPENTRAIL_TEST_FSYNC_STALL_MS, else 0). */
  syncStallMs?: number;
  /** Accepted for compatibility with layout 1 (no longer used: writes run on their own thread). */
  mmapMiB?: number;
  sliceMs?: number;
  sliceRows?: number;
}

/** One traced step of the store's threads, times in ms since the epoch (SqliteEventStoreOptions.onStages). */
export type StoreStages =
  | { kind: 'writer'; id: number; received: number; began: number; done: number; mergingAtArrival: boolean; replyAt: number; ticket?: number }
  | { kind: 'sync'; upTo: number; began: number; ms: number; reportAt: number };

interface Waiting {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  onOutcomes?: (outcomes: AppendOutcome[]) => void;
}

function rebuild(e: SerializedError): Error {
  const cause = e.cause ? Object.assign(new Error(e.cause.message), { code: e.cause.code, errcode: e.cause.errcode, errstr: e.cause.errstr }) : undefined;
  if (e.name === 'StoreUnavailableError') return new StoreUnavailableError(e.message, cause ? { cause } : undefined);
  const err = e.name === 'RangeError' ? new RangeError(e.message) : new Error(e.message, cause ? { cause } : undefined);
  if (e.name !== 'Error' && e.name !== 'RangeError') err.name = e.name;
  if (cause && e.name === 'Error') Object.assign(err, { code: cause.code, errcode: cause.errcode, errstr: cause.errstr });
  return err;
}

/**
 * Bulk requests parsed and committed at once on SQLite (EventStore.admission): one commits, one
 * waits for the fdatasync of its commit or its turn on the writer, one parses (docs/storage.md "Memory").
 */
export const SQLITE_BULK_ADMISSION = 3;

export class SqliteEventStore implements EventStore {
  /** See SQLITE_BULK_ADMISSION. */
  readonly admission = SQLITE_BULK_ADMISSION;
  /**
   * Two appends in flight: the writer inserts and commits the second while the first one's
   * fdatasync runs on the syncer thread. The writer runs them in the order posted, so they
   * commit (and take their seqs) in that order.
   */
  readonly parallelAppends = 2;
  private readonly path: string;
  private readonly tempDir: string | undefined;
  private readonly nowMs: () => number;
  private readonly writer: Worker;
  private readonly checkpointer: Worker;
  /** The `-shm` file's descriptor the checkpointer reads (-1: none); closed after every connection. */
  private readonly shmFd: number;
  private readonly syncer: Worker;
  private readonly syncCells: BigInt64Array;
  /** The highest seq readAfter has seen covered by an fdatasync (what it may hand out without one). */
  private durableSeq = 0;
  private readonly syncWaiters: SyncWaiters;
  private readonly reader: EventReader;
  private readonly readerOptions: ReaderOptions;
  /**
   * The log-reader thread (event-log-reader-worker.ts), started by the first readAfterShared;
   * undefined before, and after it stopped (reads then run on the calling thread).
   */
  private logReader: Worker | undefined;
  /** The log-reader thread failed to start or stopped: readAfterShared reads on the calling thread. */
  private logReaderGone = false;
  /** The log-reader thread has opened its connection: reads go to it from now on. */
  private logReaderReady = false;
  private readonly logReads = new Map<number, { req: LogReadRequest; resolve: (r: SharedEventRows) => void; reject: (e: unknown) => void }>();
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  /** Set when the writer thread has stopped: every call rejects as unavailable. */
  private dead: string | undefined;
  private closing = false;
  private closed: Promise<void> | undefined;

  constructor(opts: SqliteEventStoreOptions) {
    if (opts.path === ':memory:') {
      this.tempDir = mkdtempSync(join(tmpdir(), 'opentrail-events-'));
      this.path = join(this.tempDir, 'events.db');
    } else {
      this.path = opts.path;
      mkdirSync(dirname(opts.path), { recursive: true });
    }
    this.nowMs = opts.nowMs ?? Date.now;
    prepareFile(this.path, dirname(this.path));
    const hashBits = opts.hashBits ?? HASH_BITS;
    const writerOptions: WriterOptions = {
      path: this.path,
      blockEvents: opts.blockEvents ?? 8,
      bucketEvents: opts.bucketEvents ?? 65_536,
      hashBits,
      cacheMiB: opts.cacheMiB ?? 8,
      zstdLevel: opts.zstdLevel,
      commitStallMs: Number(process.env.OPENTRAIL_TEST_COMMIT_STALL_MS ?? 0) || 0,
      syncAtCommit: false,
    };
    const syncShared = new SharedArrayBuffer(SYNC_CELLS_BYTES);
    this.syncCells = new BigInt64Array(syncShared);
    this.syncWaiters = new SyncWaiters(opts.traceSync ?? false);
    this.onStages = opts.onStages;
    const traceStages = this.onStages !== undefined;
    const syncerOptions: SyncerOptions = { path: this.path, shared: syncShared, stallMs: opts.syncStallMs ?? (Number(process.env.OPENTRAIL_TEST_FSYNC_STALL_MS ?? 0) || 0), traceStages };
    this.syncer = new Worker(new URL('./wal-syncer-worker.ts', import.meta.url), { name: 'events-syncer', workerData: syncerOptions, resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 } });
    this.syncer.unref();
    this.syncer.on('message', (m: SyncerMessage) => {
      if (this.onStages && 'synced' in m && m.at !== undefined) this.onStages({ kind: 'sync', upTo: m.synced, began: m.at, ms: m.ms, reportAt: performance.timeOrigin + performance.now() });
      this.syncWaiters.onMessage(m, (message, code) => new StoreUnavailableError(message, { cause: Object.assign(new Error(message), { code }) }));
    });
    let syncerError = '';
    this.syncer.on('error', (err) => (syncerError = `: ${err.message}`));
    this.syncer.on('exit', (code) => {
      if (this.closing && this.syncWaiters.pending === 0) return;
      const reason = `events.db: the store's syncer thread stopped (exit code ${code}${syncerError})`;
      this.dead ??= reason;
      this.syncWaiters.failAll(() => new StoreUnavailableError(reason));
    });
    this.readerOptions = { path: this.path, hashBits, cacheMiB: opts.cacheMiB ?? 8, blockCacheBytes: (opts.blockCacheMiB ?? 16) * 1024 * 1024 };
    this.reader = new EventReader(this.readerOptions);
    // Named threads (Node gives a Worker's name to its OS thread, 15 characters): `top -H` and the
    // bench's CPU per thread (/proc/<pid>/task/*/comm) tell the writer from the checkpointer.
    this.writer = new Worker(new URL('./event-writer-worker.ts', import.meta.url), { name: 'events-writer', workerData: { ...writerOptions, syncShared, traceStages }, resourceLimits: { maxOldGenerationSizeMb: opts.writerHeapMiB ?? 384, maxYoungGenerationSizeMb: opts.writerYoungMiB ?? 32 } });
    this.writer.unref();
    this.writer.on('message', (m: WriterReply) => this.onReply(m));
    let lastError = '';
    this.writer.on('error', (err) => (lastError = `: ${err.message}`));
    this.writer.on('exit', (code) => this.onWriterExit(`events.db: the store's writer thread stopped (exit code ${code}${lastError})`));
    const checkpoint = opts.checkpointBytes ?? 4 * 1024 * 1024;
    // The checkpointer reads the wal-index header through a descriptor of this thread's, closed by
    // close() after the last connection: a descriptor closed while SQLite connections of this
    // process are open would drop their POSIX locks on the file (event-checkpointer-worker.ts).
    // The reader's connection has opened the WAL, so the file exists.
    try {
      this.shmFd = openSync(`${realpathSync(this.path)}-shm`, 'r');
    } catch {
      this.shmFd = -1;
    }
    const checkpointerOptions: CheckpointerOptions = {
      path: this.path, intervalMs: opts.checkpointIntervalMs ?? 50, passiveBytes: checkpoint, truncateBytes: opts.truncateBytes ?? Math.max(64 * 1024 * 1024, 16 * checkpoint), shmFd: this.shmFd, traceStages,
    };
    this.checkpointer = new Worker(new URL('./event-checkpointer-worker.ts', import.meta.url), { name: 'events-ckpt', workerData: checkpointerOptions });
    this.checkpointer.unref();
    this.checkpointer.on('error', () => undefined);
    const traceMs = Number(process.env.OPENTRAIL_MEMORY_TRACE_MS ?? 0);
    if (traceMs > 0) {
      const timer = setInterval(() => {
        void this.memoryReport().then((r) => process.stderr.write(`opentrail-memory ${JSON.stringify(r)}\n`), () => undefined);
      }, traceMs);
      timer.unref();
      this.traceTimer = timer;
    }
  }

  private traceTimer: NodeJS.Timeout | undefined;
  private readonly onStages: ((s: StoreStages) => void) | undefined;

  /**
   * Where the process's memory is, MiB (docs/performance.md "What bounds memory"): the process
   * (/proc/self/status), the calling thread's V8 heap by space and its ArrayBuffers, each store
   * thread's V8 heap. Debug and bench only (env OPENTRAIL_MEMORY_TRACE_MS prints one every N ms).
   */
  async memoryReport(): Promise<Record<string, unknown>> {
    const mib = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
    const status = readFileSync('/proc/self/status', 'utf8');
    const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) / 1024;
    const heap = (h: HeapInfo) => ({ physical: mib(h.total_physical_size), used: mib(h.used_heap_size), malloced: mib(h.malloced_memory), external: mib(h.external_memory) });
    const mu = process.memoryUsage();
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name.replace(/_space$/, ''), mib(s.physical_space_size)]));
    const worker = async (w: Worker) => {
      try {
        return heap(await (w as Worker & { getHeapStatistics(): Promise<HeapInfo> }).getHeapStatistics());
      } catch {
        return undefined;
      }
    };
    const [writer, checkpointer] = await Promise.all([worker(this.writer), worker(this.checkpointer)]);
    return {
      t: Date.now(),
      rss: Math.round(kib('VmRSS')), hwm: Math.round(kib('VmHWM')), anon: Math.round(kib('RssAnon')), file: Math.round(kib('RssFile')), shmem: Math.round(kib('RssShmem')),
      main: { ...heap(getHeapStatistics()), spaces, arrayBuffers: mib(mu.arrayBuffers), externalAll: mib(mu.external) },
      writer, checkpointer,
    };
  }

  private onReply(m: WriterReply): void {
    if (this.onStages && 'ok' in m && m.ok && m.stages) {
      const [received, began, done, merging] = m.stages;
      this.onStages({ kind: 'writer', id: m.id, received, began, done, mergingAtArrival: merging === 1, replyAt: performance.timeOrigin + performance.now(), ...(m.ticket !== undefined ? { ticket: m.ticket } : {}) });
    }
    const w = this.waiting.get(m.id);
    if (!w) return;
    if ('outcomes' in m) {
      w.onOutcomes?.(m.outcomes as AppendOutcome[]);
      return;
    }
    if (m.ok && m.ticket !== undefined) {
      // Committed; answered once the syncer's fdatasync covers it (the request stays pending).
      const result = m.result;
      this.syncWaiters.wait(m.ticket, () => {
        this.settle(m.id);
        w.resolve(result);
      }, (err) => {
        this.settle(m.id);
        w.reject(err);
      });
      return;
    }
    this.settle(m.id);
    if (m.ok) w.resolve(m.result);
    else w.reject(rebuild(m.error));
  }

  private settle(id: number): void {
    this.waiting.delete(id);
    if (this.waiting.size === 0) this.writer.unref();
  }

  private onWriterExit(reason: string): void {
    if (!this.closing || this.waiting.size > 0) this.dead = reason;
    for (const [id, w] of [...this.waiting]) {
      this.settle(id);
      w.reject(new StoreUnavailableError(reason));
    }
  }

  /** Posts a request to the writer thread; resolves with its result. */
  private request<T>(req: WriterRequestBody, onOutcomes?: (id: number, outcomes: AppendOutcome[]) => void, transfer?: ArrayBuffer[]): Promise<T> {
    if (this.dead) return Promise.reject(new StoreUnavailableError(this.dead));
    if (this.closed && (req as { op: string }).op !== 'close') return Promise.reject(new StoreUnavailableError('events.db: write after close'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      if (this.waiting.size === 0) this.writer.ref();
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject, onOutcomes: onOutcomes && ((o) => onOutcomes(id, o)) });
      this.writer.postMessage({ ...req, id }, transfer);
    });
  }

  async append(batch: readonly AppendInput[], durability: Durability = 'disk', follow?: AppendFollow): Promise<AppendOutcome[]> {
    if (batch.length === 0 && !follow) return [];
    let followError: { err: unknown } | undefined;
    // The records travel as one transferred buffer of their UTF-8 bytes (append-batch.ts).
    const { packed, transfer } = packBatch(batch);
    const out = await this.request<AppendOutcome[] | undefined>(
      { op: 'append', batch: packed, durability, committedMs: this.nowMs(), follow: follow !== undefined },
      (id, outcomes) => {
        let more: ReturnType<typeof packBatch>;
        try {
          more = packBatch(follow!(outcomes));
        } catch (err) {
          followError = { err };
          this.writer.postMessage({ id, op: 'follow', failed: true });
          return;
        }
        this.writer.postMessage({ id, op: 'follow', events: more.packed }, more.transfer);
      },
      transfer,
    );
    if (followError) throw followError.err;
    return out!;
  }

  async probe(): Promise<void> {
    await this.request({ op: 'probe', nowMs: this.nowMs() });
  }

  /** Runs a read on the calling thread's connection. */
  private async read<T>(operation: string, work: () => T | Promise<T>): Promise<T> {
    // A read that arrives while the store shuts down (a handler still running) is unavailable, not a bug.
    if (this.closing) throw new StoreUnavailableError(`events.db: ${operation} after close`);
    try {
      return await work();
    } catch (err) {
      throw storeFailure(err, 'events.db', operation);
    }
  }

  lookup(q: HistoryQuery): Promise<HistoryRow[]> {
    return this.read('lookup', () => this.reader.lookup(q));
  }

  /**
   * Consumers (delivery, Lake, Insights, streams) get only events on disk: a commit is readable as
   * soon as COMMIT returns, before the syncer's fdatasync, and an event delivered and then lost to
   * a power cut would leave its seq to another event after recovery, which the consumer's cursor,
   * already past it, would skip. So rows beyond what is known durable wait for a sync begun after
   * the read (one fdatasync serves every waiter; under ingest one is always under way).
   */
  async readAfter(afterSeq: number, limit: number, accountId?: string, maxBytes?: number): Promise<StoredEvent[]> {
    const rows = await this.read('readAfter', () => this.reader.readAfter(afterSeq, limit, accountId, maxBytes));
    await this.durableUpTo(rows[rows.length - 1]?.seq);
    return rows;
  }

  /**
   * Waits, when `last` (the highest seq a read just returned) is beyond what is known durable, for
   * an fdatasync begun after that read: the ticket is taken here, after the read's answer.
   */
  private async durableUpTo(last: number | undefined): Promise<void> {
    if (last === undefined || last <= this.durableSeq) return;
    const ticket = takeTicket(this.syncCells);
    askSyncFor(this.syncCells, ticket);
    await new Promise<void>((resolve, reject) => this.syncWaiters.wait(ticket, resolve, reject));
    this.durableSeq = Math.max(this.durableSeq, last);
  }

  /**
   * readAfter's rows with their records' bytes in shared memory (EventStore.readAfterShared), read
   * on the log-reader thread: its own connection decodes the blocks and copies the records' bytes
   * once; this thread gets columns and one shared buffer. The same rule as readAfter for what is
   * handed out: rows beyond what is known durable wait for a sync begun after the read (the ticket
   * is taken here, once the answer arrived, so after the read). When the thread cannot run, the
   * read runs here (the same rows and bytes).
   */
  async readAfterShared(afterSeq: number, limit: number): Promise<SharedEventRows> {
    const rows = await this.read('readAfter', () => this.readOnLogReader({ id: this.nextLogRead++, afterSeq, limit }));
    await this.durableUpTo(rows.n > 0 ? rows.seq[rows.n - 1]! : undefined);
    return rows;
  }

  private nextLogRead = 1;
  /** readAfterShared calls answered by the log-reader thread / on the calling thread (tests, measurements). */
  readonly logReadStats = { onThread: 0, here: 0 };

  private readOnLogReader(req: LogReadRequest): Promise<SharedEventRows> {
    const w = this.logReaderThread();
    // Until the thread is ready (it loads its code and opens its connection: a second or more on a
    // busy machine), reads run here, so that starting it never delays delivery.
    if (!w || !this.logReaderReady) {
      this.logReadStats.here++;
      return Promise.resolve().then(() => this.reader.readAfterShared(req.afterSeq, req.limit));
    }
    this.logReadStats.onThread++;
    return new Promise((resolve, reject) => {
      if (this.logReads.size === 0) w.ref();
      this.logReads.set(req.id, { req, resolve, reject });
      w.postMessage(req);
    });
  }

  private logReaderThread(): Worker | undefined {
    if (this.logReader || this.logReaderGone) return this.logReader;
    let w: Worker;
    try {
      // Its page cache is small: it reads blocks once, in order, from the end of the log.
      w = new Worker(new URL('./event-log-reader-worker.ts', import.meta.url), { name: 'events-logread', workerData: { ...this.readerOptions, cacheMiB: 2 }, resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16 } });
    } catch {
      this.logReaderGone = true;
      return undefined;
    }
    w.unref();
    w.on('message', (m: LogReadReply | { ready: true }) => {
      if ('ready' in m) {
        this.logReaderReady = true;
        return;
      }
      const p = this.logReads.get(m.id);
      if (!p) return;
      this.logReads.delete(m.id);
      if (this.logReads.size === 0) w.unref();
      if (m.error === undefined) p.resolve(m.rows);
      else p.reject(Object.assign(new Error(m.error.message), { code: m.error.code, errcode: m.error.errcode, errstr: m.error.errstr }));
    });
    const gone = () => {
      if (this.logReader !== w) return;
      this.logReader = undefined;
      this.logReaderGone = true;
      this.logReaderReady = false;
      // Reads it had not answered run here instead.
      for (const [id, p] of [...this.logReads]) {
        this.logReads.delete(id);
        if (this.closing) p.reject(new StoreUnavailableError('events.db: readAfter after close'));
        else {
          try {
            p.resolve(this.reader.readAfterShared(p.req.afterSeq, p.req.limit));
          } catch (err) {
            p.reject(err);
          }
        }
      }
    };
    w.on('error', gone);
    w.on('exit', gone);
    this.logReader = w;
    return w;
  }

  lastSeq(): Promise<number> {
    return this.read('lastSeq', () => this.reader.lastSeq());
  }

  count(): Promise<number> {
    return this.read('count', () => this.reader.count());
  }

  committedMsAfter(afterSeq: number): Promise<number | undefined> {
    return this.read('committedMsAfter', () => this.reader.committedMsAfter(afterSeq));
  }

  /**
   * Removes in steps, each one short transaction on the writer thread, queued like any write (so
   * appends interleave with a long prune): first the history cut-off (from then on lookups hide
   * older entries, EventId included), then old postings, then whole blocks ingested before the
   * cut-off from the lowest seq up. Each step is complete on its own: a prune cut short leaves a
   * consistent store and the next prune finishes the work.
   */
  async prune(cutoffSec: number, cutoffIngestMs: number): Promise<{ historyRows: number; events: number }> {
    const step = <T>(req: WriterRequestBody): Promise<T> => {
      if (this.closing) return Promise.reject(new Error('events.db: closed while pruning (the next prune finishes the work)'));
      return this.request<T>(req);
    };
    await step({ op: 'pruneCutoff', cutoffSec });
    let historyRows = 0;
    for (;;) {
      const r = await step<{ removed: number; done: boolean }>({ op: 'pruneHistory', cutoffSec });
      historyRows += r.removed;
      if (r.done) break;
    }
    const boundary = await step<number>({ op: 'logBoundary', cutoffIngestMs });
    let events = 0;
    for (;;) {
      const r = await step<{ events: number; done: boolean }>({ op: 'pruneLog', boundary });
      events += r.events;
      if (r.done) break;
    }
    return { historyRows, events };
  }

  /**
   * Appends events with the seqs and commit times they had in another store (the migration from
   * layout 1): seqs strictly growing and above lastSeq (gaps allowed), in one durable transaction
   * (synchronous=FULL). Ids are not checked for duplicates (the source held each once per
   * account) but are added to the duplicate table, so later appends of them are duplicates.
   * `opts` (the migration's extras) raises the history cut-off and the seq high-water mark in the
   * same transaction.
   */
  importEvents(events: readonly ImportEvent[], opts?: ImportOptions): Promise<void> {
    return this.request({ op: 'import', events: events as ImportEvent[], opts });
  }

  /** For tests and measurements: the writer's id table capacity, merges (count, ms) and open time (ms, id table rebuild included). */
  writerStats(): Promise<{ tableCapacity: number; merges: number; mergeMsTotal: number; mergeMsMax: number; mergeWriteMsMax: number; openMs: number; cpuMs: number }> {
    return this.request({ op: 'stats' });
  }

  /**
   * For tests and measurements: the syncer's fdatasyncs (count, ms), the `disk` answers and how
   * many of them waited for a sync, and (with `traceSync`) the order of replies, syncs and answers.
   */
  syncStats(): SyncWaiters['stats'] & { trace?: SyncTraceStep[] } {
    return { ...this.syncWaiters.stats, ...(this.syncWaiters.trace ? { trace: [...this.syncWaiters.trace] } : {}) };
  }

  /** For tests and measurements: how many checkpoints the checkpointer thread has run, and the WAL's size now. */
  async checkpointerStats(): Promise<{ checkpoints: number; walBytes: number; spans?: [number, number][] }> {
    const reply = once(this.checkpointer, 'message') as Promise<[{ checkpoints: number; walBytes: number; spans?: [number, number][] }]>;
    this.checkpointer.postMessage({ op: 'stats' });
    return (await reply)[0];
  }

  /**
   * For tests: a synchronous door into the writer thread's connection (exec, prepare().get,
   * isTransaction), e.g. to cap it with PRAGMA max_page_count so writes fail with a real
   * SQLITE_FULL. Blocks the calling thread until the writer thread answers.
   */
  get db(): { exec(sql: string): void; prepare(sql: string): { get(...args: unknown[]): unknown }; readonly isTransaction: boolean } {
    const call = (mode: 'exec' | 'get' | 'isTransaction', sql = '', args: unknown[] = []): unknown => {
      if (this.dead) throw new StoreUnavailableError(this.dead);
      const shared = new SharedArrayBuffer(8 + 64 * 1024);
      this.writer.postMessage({ op: 'syncSql', sql, args, mode, shared });
      const view = new Int32Array(shared);
      while (Atomics.wait(view, 0, 0, 10_000) === 'timed-out') if (this.dead) throw new StoreUnavailableError(this.dead);
      const answer = JSON.parse(Buffer.from(new Uint8Array(shared, 8, Atomics.load(view, 1))).toString()) as { ok?: unknown; error?: SerializedError };
      if (answer.error) throw rebuild(answer.error);
      return answer.ok;
    };
    return {
      exec: (sql) => void call('exec', sql),
      prepare: (sql) => ({ get: (...args) => call('get', sql, args) }),
      get isTransaction() {
        return call('isTransaction') as boolean;
      },
    };
  }

  /** For tests: the writer thread dies without answering (as a native crash would take it). */
  crashWriterForTest(): void {
    this.writer.postMessage({ id: 0, op: 'crash' });
  }

  /** Closes the store once every queued write has settled. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.closing = true;
      if (this.traceTimer) clearInterval(this.traceTimer);
      try {
        if (!this.dead) await this.request({ op: 'close' }).catch(() => undefined);
        // The writes before close are committed; the `disk` ones are answered after their sync.
        if (!this.dead) await this.syncWaiters.whenIdle();
      } finally {
        await this.writer.terminate();
        Atomics.store(this.syncCells, STOP, 1n);
        Atomics.notify(this.syncCells, WANT);
        await this.syncer.terminate();
        // A checkpoint cut short is safe (SQLite resumes it at the next one).
        await this.checkpointer.terminate();
        const logReader = this.logReader;
        this.logReaderGone = true;
        if (logReader) await logReader.terminate();
        this.reader.close();
        if (this.shmFd >= 0) closeSync(this.shmFd);
        if (this.tempDir) rmSync(this.tempDir, { recursive: true, force: true });
      }
    })();
    return this.closed;
  }
}

export type { LookupAttribute };
