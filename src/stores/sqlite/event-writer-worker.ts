/**
 * The event store's writer thread: owns the write connection (EventWriter) and runs requests from
 * SqliteEventStore one at a time, in the order they were posted. An append with a `follow` posts
 * its outcomes back mid-transaction and waits for the follow's events (or its failure) before
 * committing. Errors go back as plain data (name, message, SQLite codes) and are rebuilt with their
 * class on the calling thread (see sqlite-event-store.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { EventWriter, type WriterOptions } from './event-writer.ts';
import { storeFailure } from './errors.ts';
import type { Durability } from '../event-store.ts';
import type { PackedBatch } from './append-batch.ts';
import { askSyncFor, SYNCED, takeTicket } from './wal-sync.ts';

export type WriterRequest =
  | { id: number; op: 'append'; batch: PackedBatch; durability: Durability; committedMs: number; follow: boolean }
  | { id: number; op: 'follow'; events?: PackedBatch; failed?: boolean }
  | { id: number; op: 'probe'; nowMs: number }
  | { id: number; op: 'pruneCutoff'; cutoffSec: number }
  | { id: number; op: 'pruneHistory'; cutoffSec: number }
  | { id: number; op: 'logBoundary'; cutoffIngestMs: number }
  | { id: number; op: 'pruneLog'; boundary: number }
  | { id: number; op: 'import'; events: import('./event-writer.ts').ImportEvent[]; opts?: import('./event-writer.ts').ImportOptions }
  | { id: number; op: 'stats' }
  | { id: number; op: 'crash' }
  | { id: number; op: 'close' };

/** A request as posted, without its id (distributes Omit over the union). */
export type WriterRequestBody = WriterRequest extends infer R ? (R extends WriterRequest ? Omit<R, 'id'> : never) : never;

export interface SerializedError {
  name: string;
  message: string;
  cause?: { message: string; code?: unknown; errcode?: unknown; errstr?: unknown };
}

export type WriterReply =
  /**
   * ticket: the request's commit must be durable; the calling thread answers once the syncer covered it.
   * stages (only when the store asked for them, workerData.traceStages): when this thread received the request, began it
   * and finished it, in ms since the epoch (performance.timeOrigin + now), and whether a merge was
   * being prepared when it arrived.
   */
  | { id: number; ok: true; result: unknown; ticket?: number; stages?: [number, number, number, number] }
  | { id: number; ok: false; error: SerializedError }
  | { id: number; outcomes: unknown };

function serialize(err: unknown): SerializedError {
  const e = err as Error & { cause?: unknown };
  const out: SerializedError = { name: e?.name ?? 'Error', message: e?.message ?? String(err) };
  const cause = e?.cause as { message?: string; code?: unknown; errcode?: unknown; errstr?: unknown } | undefined;
  if (cause && typeof cause === 'object') out.cause = { message: String(cause.message), code: cause.code, errcode: cause.errcode, errstr: cause.errstr };
  else if ((e as { code?: unknown }).code !== undefined) {
    out.cause = { message: e.message, code: (e as { code?: unknown }).code, errcode: (e as { errcode?: unknown }).errcode, errstr: (e as { errstr?: unknown }).errstr };
  }
  return out;
}

const threadCpuMs = (): number => {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1000;
};

const port = parentPort!;
const opts = workerData as WriterOptions & { syncShared?: SharedArrayBuffer; traceStages?: boolean };
/** Now in ms since the epoch, comparable across threads (tracing only). */
const epochMs = (): number => performance.timeOrigin + performance.now();
/** The syncer thread's cells (wal-syncer-worker.ts): absent, `disk` commits sync inside COMMIT. */
const syncCells = opts.syncShared ? new BigInt64Array(opts.syncShared) : undefined;
/** The last ticket this thread asked the syncer for. */
let asked = 0;

/**
 * After a commit that must be durable: a new ticket, asked of the syncer thread, which fdatasyncs
 * the WAL after this point (so after this COMMIT wrote its frames) and reports it covered.
 */
function askSync(): number | undefined {
  if (!syncCells) return undefined;
  asked = takeTicket(syncCells);
  askSyncFor(syncCells, asked);
  return asked;
}

/**
 * Before the connection closes: waits (at most 30 s) until the syncer has synced every ticket
 * asked for. Closing may checkpoint and remove the WAL, which a sync still to come would not find.
 */
function awaitSyncs(): void {
  if (!syncCells) return;
  const deadline = Date.now() + 30_000;
  for (let seen = Atomics.load(syncCells, SYNCED); seen < BigInt(asked) && Date.now() < deadline; seen = Atomics.load(syncCells, SYNCED)) {
    Atomics.wait(syncCells, SYNCED, seen, 100);
  }
}

/** Whether a request that succeeded must be durable before it is answered. */
function needsSync(req: WriterRequest, result: unknown): boolean {
  if (req.op === 'append') return req.durability === 'disk' && result !== undefined;
  return req.op === 'probe' || req.op === 'import';
}
let writer: EventWriter;
let openError: unknown;
try {
  writer = new EventWriter(opts);
} catch (err) {
  openError = err;
}

/** The follow reply an append in progress waits for. */
let awaitingFollow: { id: number; resolve: (m: { events?: PackedBatch; failed?: boolean }) => void } | undefined;
let queue: Promise<void> = Promise.resolve();
let closed = false;

async function run(req: WriterRequest): Promise<unknown> {
  if (openError) throw openError;
  switch (req.op) {
    case 'append': {
      writer.begin(req.durability);
      try {
        const out = writer.add(req.batch, req.committedMs);
        if (req.follow) {
          const reply = await new Promise<{ events?: PackedBatch; failed?: boolean }>((resolve) => {
            awaitingFollow = { id: req.id, resolve };
            port.postMessage({ id: req.id, outcomes: out } satisfies WriterReply);
            // While the calling thread builds the follow (when its event loop gets to it).
            writer.writeReadyBlocks();
          });
          if (reply.failed) {
            writer.rollback();
            return undefined;
          }
          if (reply.events) out.push(...writer.add(reply.events, req.committedMs));
        }
        writer.commit();
        startMergeIfDue();
        return out;
      } catch (err) {
        writer.rollback();
        throw err;
      }
    }
    case 'probe':
      return writer.probe(req.nowMs);
    case 'pruneCutoff':
      return writer.pruneCutoff(req.cutoffSec);
    case 'pruneHistory':
      return writer.pruneHistoryStep(req.cutoffSec);
    case 'logBoundary':
      return writer.logBoundary(req.cutoffIngestMs);
    case 'pruneLog':
      return writer.pruneLogStep(req.boundary);
    case 'import': {
      writer.importEvents(req.events, req.opts);
      startMergeIfDue();
      return undefined;
    }
    case 'stats':
      // cpuMs: the writer thread's own CPU time (user + system) since it started.
      return { ...writer.stats, tableCapacity: writer.tableCapacity, cpuMs: threadCpuMs() };
    case 'crash':
      // Test hook: the thread dies as a native crash would take it, without replying.
      process.exit(70);
      return undefined;
    case 'close':
      closed = true;
      awaitSyncs();
      writer.close();
      return undefined;
    default:
      throw new Error(`unknown request ${(req as { op: string }).op}`);
  }
}

/** Whether a merge is being prepared or waits in the queue to be written. */
let merging = false;

/**
 * Starts a merge when the pending rows are due one: its CPU part runs in slices between requests
 * (appends are not held up by it), its write is queued like a request.
 */
function startMergeIfDue(): void {
  if (merging || closed || !writer.mergeDue) return;
  merging = true;
  void writer.prepareMerge(() => new Promise((resolve) => setImmediate(resolve))).then((prepared) => {
    enqueue(() => {
      merging = false;
      if (prepared && !closed) writer.commitMerge(prepared);
      startMergeIfDue();
    });
  }, () => {
    merging = false;
  });
}

/**
 * Queues `work` behind every request received so far (a merge runs after the append that made it
 * due has replied). A merge that fails is retried by the next append that finds it due; it never
 * fails an append.
 */
function enqueue(work: () => void): void {
  queue = queue.then(() => {
    try {
      work();
    } catch {
      // Left pending; the next due merge tries again.
    }
  });
}

/**
 * Test door (SqliteEventStore.db): runs one statement on the write connection at once, outside
 * the queue, and answers through shared memory while the calling thread waits (Atomics.wait).
 */
function syncSql(m: { sql: string; args: unknown[]; mode: 'exec' | 'get' | 'isTransaction'; shared: SharedArrayBuffer }): void {
  let answer: unknown;
  try {
    if (openError) throw openError;
    if (m.mode === 'exec') answer = { ok: writer.db.exec(m.sql) ?? null };
    else if (m.mode === 'get') answer = { ok: writer.db.prepare(m.sql).get(...(m.args as never[])) ?? null };
    else answer = { ok: writer.db.isTransaction };
  } catch (err) {
    answer = { error: serialize(err) };
  }
  const bytes = Buffer.from(JSON.stringify(answer));
  const view = new Int32Array(m.shared);
  new Uint8Array(m.shared, 8).set(bytes.subarray(0, m.shared.byteLength - 8));
  Atomics.store(view, 1, bytes.length);
  Atomics.store(view, 0, 1);
  Atomics.notify(view, 0);
}

port.on('message', (req: WriterRequest) => {
  if ((req as { op: string }).op === 'syncSql') {
    syncSql(req as unknown as Parameters<typeof syncSql>[0]);
    return;
  }
  if (req.op === 'follow') {
    const waiting = awaitingFollow;
    if (waiting && waiting.id === req.id) {
      awaitingFollow = undefined;
      waiting.resolve(req);
    }
    return;
  }
  const received = opts.traceStages ? epochMs() : 0;
  const mergingAtArrival = merging ? 1 : 0;
  queue = queue.then(async () => {
    try {
      const began = opts.traceStages ? epochMs() : 0;
      const result = await run(req);
      const ticket = needsSync(req, result) ? askSync() : undefined;
      const reply: WriterReply = ticket === undefined ? { id: req.id, ok: true, result } : { id: req.id, ok: true, result, ticket };
      if (opts.traceStages) reply.stages = [received, began, epochMs(), mergingAtArrival];
      port.postMessage(reply);
    } catch (err) {
      port.postMessage({ id: req.id, ok: false, error: serialize(storeFailure(err, 'events.db', req.op === 'pruneHistory' || req.op === 'pruneLog' || req.op === 'pruneCutoff' || req.op === 'logBoundary' ? 'prune' : req.op)) } satisfies WriterReply);
    }
    if (req.op === 'close') port.close();
  });
});
