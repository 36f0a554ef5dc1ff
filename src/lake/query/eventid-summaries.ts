/**
 * In-memory summaries of the stores' eventID sidecars (src/lake/storage/eventid-index.ts), so that
 * a point query (`WHERE eventID = '...'`) rules out most files without opening them: opening a
 * sidecar, even to read one row group, costs DuckDB about a millisecond of CPU, and a store has
 * tens of files (hundreds before compaction).
 *
 * A summary is made the first time a point query meets a file (the query itself reads that file's
 * sidecar as before): one background task reads each such sidecar whole, one file at a time, on a
 * connection of its own, and keeps a Bloom filter of its eventIDs (12 bits per event: 15 MB for
 * 10M events). Summaries are kept while their total stays under `maxBytes`
 * (`lakeQueries.eventIdSummaryMiB`), the least recently used dropped first; a file without a
 * summary is simply checked through its sidecar. A file is known by its path, size and
 * modification time (store files are only ever replaced whole).
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { eventIdIndexPath, EventIdSummary } from '../storage/eventid-index.ts';

export interface SummarizedFile {
  readonly path: string;
  readonly bytes: number;
  readonly mtimeMs: number;
}

export interface EventIdSummariesOptions {
  /** The most bytes all summaries may take together (0: none are made). */
  maxBytes: number;
  /** A connection for the builder (closed by it when idle). */
  connect: () => Promise<DuckDBConnection>;
  logError: (message: string, err?: unknown) => void;
}

/** Files waiting for a summary, at most (more are dropped: a later query queues them again). */
const MAX_PENDING = 100_000;
/** Bits per eventID of a summary (EventIdSummary), to tell in advance whether one fits. */
const BYTES_PER_ID = 1.5;

const keyOf = (f: SummarizedFile): string => `${f.path}|${f.bytes}|${f.mtimeMs}`;

export class EventIdSummaries {
  /** Summaries by file key, least recently used first. */
  private readonly summaries = new Map<string, EventIdSummary>();
  private readonly pending = new Map<string, SummarizedFile>();
  /** Files whose summary could not be made, or would not fit (not tried again). */
  private readonly skipped = new Set<string>();
  private bytes = 0;
  private building?: Promise<void>;
  private closed = false;
  private readonly opts: EventIdSummariesOptions;

  constructor(opts: EventIdSummariesOptions) {
    this.opts = opts;
  }

  /**
   * Of `files` (each with a sidecar), those that may hold the eventID whose hash is `hash`
   * (`eventIdHash`): the summarized ones whose summary says maybe, and every one without a
   * summary (queued for one).
   */
  mayHold<F extends SummarizedFile>(files: readonly F[], hash: readonly [number, number]): F[] {
    const out: F[] = [];
    for (const f of files) {
      const key = keyOf(f);
      const s = this.summaries.get(key);
      if (s) {
        this.summaries.delete(key);
        this.summaries.set(key, s);
        if (s.mayHold(hash)) out.push(f);
        continue;
      }
      out.push(f);
      if (this.opts.maxBytes > 0 && !this.skipped.has(key) && this.pending.size < MAX_PENDING) this.pending.set(key, f);
    }
    if (this.pending.size > 0 && !this.closed) this.building ??= this.build().finally(() => (this.building = undefined));
    return out;
  }

  /** Summaries held, their bytes, and files waiting for one. */
  stats(): { files: number; bytes: number; pending: number } {
    return { files: this.summaries.size, bytes: this.bytes, pending: this.pending.size };
  }

  /** Resolves once no file waits for a summary (or the builder stopped). */
  async idle(): Promise<void> {
    while (this.building) await this.building;
  }

  /** Stops the builder (the file it reads is finished first). */
  async close(): Promise<void> {
    this.closed = true;
    this.pending.clear();
    await this.building;
  }

  private async build(): Promise<void> {
    let conn: DuckDBConnection | undefined;
    try {
      conn = await this.opts.connect();
      for (const [key, f] of this.pending) {
        if (this.closed) break;
        this.pending.delete(key);
        if (this.summaries.has(key)) continue;
        try {
          const ids = await sidecarRows(conn, f.path);
          if (ids * BYTES_PER_ID > this.opts.maxBytes) {
            this.skip(key);
            continue;
          }
          this.add(key, await EventIdSummary.build(conn, f.path, ids));
        } catch (e) {
          // A file deleted meanwhile (retention, compaction) is not an error worth a log line.
          if (!/No files found|does not exist|Cannot open file/i.test(String(e))) this.opts.logError(`summarizing the eventID sidecar of ${f.path} failed`, e);
          this.skip(key);
        }
        // Queries go first: the builder yields between files.
        await new Promise((r) => setImmediate(r));
      }
    } catch (e) {
      this.opts.logError('the eventID summary builder stopped', e);
      this.pending.clear();
    } finally {
      conn?.closeSync();
    }
  }

  private add(key: string, s: EventIdSummary): void {
    this.summaries.set(key, s);
    this.bytes += s.bytes;
    for (const [k, old] of this.summaries) {
      if (this.bytes <= this.opts.maxBytes) break;
      this.summaries.delete(k);
      this.bytes -= old.bytes;
    }
  }

  private skip(key: string): void {
    if (this.skipped.size >= MAX_PENDING) this.skipped.clear();
    this.skipped.add(key);
  }
}

/** Rows of a data file's sidecar, from its footer. */
async function sidecarRows(conn: DuckDBConnection, dataPath: string): Promise<number> {
  const r = await conn.runAndReadAll(`SELECT coalesce(sum(num_rows), 0) FROM parquet_file_metadata('${eventIdIndexPath(dataPath).replaceAll("'", "''")}')`);
  return Number(r.getRows()[0]![0]);
}
