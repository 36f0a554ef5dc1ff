/**
 * Log files built off the main thread: a small pool of worker threads, each assembling a file from
 * the shared record bytes of a batch (RecordArena: written once for every trail), compressing it
 * and hashing it (log-file-worker.ts). The main thread only lists each file's records as ranges.
 * Same bytes as building in process (logFileJson, logFileBody), which is what `buildLogFile` does
 * when the pool cannot run (a worker that fails to start or dies): delivery never depends on it.
 *
 * Threads: as many as the machine's cores, at most 4 (a file is 16 MiB at most; compressing is
 * CPU-bound); started on first use, one job each at a time; an idle thread does not keep the
 * process alive. A small file (under 1 MiB of records: light traffic, batches closed by age) is
 * built in process, assembled here and compressed on libuv's thread pool: a hop to a thread (and
 * starting one) would cost it more latency than it saves.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { createHash } from 'node:crypto';
import { assembleLogFile, logFileBody, recordRanges, type RecordRanges, type RecordRef } from './log-file.ts';

export interface PoolJob extends RecordRanges {
  id: number;
  hash: boolean;
}

export type PoolReply = { id: number; body: Uint8Array; sha256: string | undefined; error?: undefined } | { id: number; error: string };

export interface BuiltBody {
  /** gzip of the uncompressed file. */
  body: Buffer;
  /** Hex SHA-256 of the uncompressed file, when asked for. */
  sha256?: string;
}

interface Pending {
  job: PoolJob;
  resolve(b: BuiltBody): void;
  reject(e: Error): void;
}

/** Consecutive thread failures (start or crash) after which the pool is not used any more. */
const MAX_FAILURES = 3;

export class LogFilePool {
  private readonly size: number;
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Pending>();
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private failures = 0;
  /** Files built by the threads / in process (small, or the pool could not) (for tests and measurements). */
  readonly stats = { pooled: 0, inProcess: 0 };

  private readonly newThread: () => Worker;
  private readonly inProcessBelow: number;

  /**
   * `size`: threads; `inProcessBelow`: files whose records take fewer bytes are built in process;
   * `newThread`: how a thread is started (tests give one that fails).
   */
  constructor(opts: { size?: number; inProcessBelow?: number; newThread?: () => Worker } = {}) {
    this.size = opts.size ?? Math.max(1, Math.min(4, availableParallelism()));
    this.inProcessBelow = opts.inProcessBelow ?? 1 << 20;
    // Named: the thread's name in the OS too (/proc/<pid>/task/*/comm), which the bench's CPU by thread reads.
    this.newThread = opts.newThread ?? (() => new Worker(new URL('./log-file-worker.ts', import.meta.url), { name: 'log-file' }));
  }

  /** Whether jobs go to the threads (false after repeated thread failures). */
  get usable(): boolean {
    return this.failures < MAX_FAILURES;
  }

  /** The file of these records (in this order): gzip body and, with `hash`, the SHA-256 of the uncompressed file. */
  async build(refs: readonly RecordRef[], hash: boolean): Promise<BuiltBody> {
    const ranges = recordRanges(refs);
    let bytes = 0;
    for (const r of refs) bytes += r.len;
    if (this.usable && bytes >= this.inProcessBelow) {
      try {
        const out = await this.run({ id: this.nextId++, hash, ...ranges });
        this.stats.pooled++;
        return out;
      } catch {
        // A thread that failed: built here instead (the same bytes).
      }
    }
    this.stats.inProcess++;
    const json = assembleLogFile(ranges);
    return { body: await logFileBody(json), ...(hash ? { sha256: createHash('sha256').update(json).digest('hex') } : {}) };
  }

  private run(job: PoolJob): Promise<BuiltBody> {
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let w = this.idle.pop();
      if (!w) {
        if (this.busy.size >= this.size) return;
        try {
          w = this.spawn();
        } catch (e) {
          this.failures++;
          const p = this.queue.shift()!;
          p.reject(e instanceof Error ? e : new Error(String(e)));
          if (!this.usable) for (const q of this.queue.splice(0)) q.reject(new Error('log file workers unavailable'));
          continue;
        }
      }
      const p = this.queue.shift()!;
      this.busy.set(w, p);
      w.ref();
      w.postMessage(p.job);
    }
  }

  private spawn(): Worker {
    const w = this.newThread();
    w.on('message', (m: PoolReply) => {
      const p = this.busy.get(w);
      if (!p || p.job.id !== m.id) return;
      this.busy.delete(w);
      this.failures = 0;
      if (m.error !== undefined) p.reject(new Error(`log file worker: ${m.error}`));
      else p.resolve({ body: Buffer.from(m.body.buffer, m.body.byteOffset, m.body.length), ...(m.sha256 !== undefined ? { sha256: m.sha256 } : {}) });
      w.unref();
      this.idle.push(w);
      this.dispatch();
    });
    const gone = (why: string) => {
      const at = this.idle.indexOf(w);
      if (at >= 0) this.idle.splice(at, 1);
      const p = this.busy.get(w);
      if (!this.busy.delete(w) && at < 0) return;
      this.failures++;
      p?.reject(new Error(`log file worker stopped: ${why}`));
      if (!this.usable) for (const q of this.queue.splice(0)) q.reject(new Error('log file workers unavailable'));
      this.dispatch();
    };
    w.on('error', (e) => gone(e.message));
    w.on('exit', (code) => gone(`exit code ${code}`));
    return w;
  }

  /** Stops the threads (tests); jobs in flight are rejected and built in process by their callers. */
  async close(): Promise<void> {
    const all = [...this.idle, ...this.busy.keys()];
    this.idle.length = 0;
    await Promise.all(all.map((w) => w.terminate()));
  }
}

/** The process's pool, shared by every delivery worker (like libuv's thread pool). */
let shared: LogFilePool | undefined;
export function logFilePool(): LogFilePool {
  return (shared ??= new LogFilePool());
}
