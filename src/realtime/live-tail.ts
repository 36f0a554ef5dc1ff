/**
 * The live tail (GET /events/stream; docs/realtime.md "Live tail"): a caller's Event history as it
 * is written, as server-sent events. Each stream reads the event log by seq from its own position
 * (`readAfter` of every account: a page is bounded by rows scanned, not by rows the caller sees, and
 * the position moves over every row read, so a quiet account's stream never re-reads the log after
 * its start at each commit; tailEntry keeps the caller's rows), so it is resumable from any event it sent
 * (`Last-Event-ID`), and it shows what LookupEvents would show the caller: management events of
 * its account in its Region, with LookupEvents' attribute filter, each message one `Events[]`
 * entry of a LookupEvents answer with the same bytes.
 *
 * MUST: a slow reader never makes the server buffer without limit: a stream holds one page of the
 *   log at most and reads the next only once the socket took the last one (it pauses at its
 *   cursor); a reader that takes nothing for `stallMs` is ended (it resumes with Last-Event-ID).
 * MUST: streams are bounded per caller and in total (refused beyond, before anything is read).
 * The stream is not self-audited (as GET /events): docs/realtime.md says why.
 */
import type { ServerResponse } from 'node:http';
import { ALL_MANAGEMENT, historyAttributes, historyCategory, historyEntry, historyEntryText, type CloudTrailRecord } from '../core/index.ts';
import type { EventStore, LookupAttribute, StoredEvent } from '../stores/index.ts';

/** Wakes whoever waits for new events in the log (the ingester's commit hook calls notify). */
export class LogSignal {
  private readonly waiters = new Set<() => void>();

  notify(): void {
    if (this.waiters.size === 0) return;
    const w = [...this.waiters];
    this.waiters.clear();
    for (const f of w) f();
  }

  /** Resolves at the next notify, or after ms. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.waiters.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }
}

export interface TailCaller {
  accountId: string;
  region: string;
  /** Who it is, for the per-caller bound (an access key, a console session). */
  principal: string;
}

export interface LiveTailOptions {
  maxStreams: number;
  maxStreamsPerCaller: number;
  /** A comment line when nothing was sent for this long (proxies keep the connection). */
  keepAliveMs: number;
  /** How often a stream looks at the log when no commit woke it (commits of other nodes). */
  pollMs: number;
  /** Events and bytes read per page. */
  readBatch: number;
  readBytes: number;
  /** A reader that takes nothing for this long is ended. */
  stallMs: number;
}

export const LIVE_TAIL_DEFAULTS: LiveTailOptions = {
  maxStreams: 64, maxStreamsPerCaller: 4, keepAliveMs: 15_000, pollMs: 1000, readBatch: 200, readBytes: 512 * 1024, stallMs: 30_000,
};

/** Why a stream was refused. */
export class TailLimitError extends Error {
  override name = 'TailLimitError';
}

/** The LookupEvents entry of a stored event if the caller's LookupEvents would show it with this attribute, else undefined. */
export function tailEntry(row: StoredEvent, caller: TailCaller, attribute: LookupAttribute): string | undefined {
  if (row.accountId !== caller.accountId || row.region !== caller.region) return undefined;
  const r = JSON.parse(row.json) as CloudTrailRecord;
  if (historyCategory(r) !== 'management') return undefined;
  const [key, value] = attribute;
  if (key === 'EventId' ? r.eventID !== value : !historyAttributes(r)!.some(([k, v]) => k === key && v === value)) return undefined;
  return historyEntryText(JSON.stringify(historyEntry(r)).slice(1, -1), row.json);
}

export class LiveTail {
  private readonly events: EventStore;
  private readonly signal: LogSignal;
  private readonly opts: LiveTailOptions;
  private readonly open = new Map<string, number>();
  private readonly streams = new Set<ServerResponse>();
  private total = 0;
  private closing = false;

  constructor(events: EventStore, signal: LogSignal, opts: LiveTailOptions = LIVE_TAIL_DEFAULTS) {
    this.events = events;
    this.signal = signal;
    this.opts = opts;
  }

  /** Streams open now (metrics, tests). */
  get size(): number {
    return this.total;
  }

  /** Takes a place for the caller's stream, or throws TailLimitError; `release` gives it back. */
  admit(caller: TailCaller): () => void {
    if (this.closing) throw new TailLimitError('The server is shutting down.');
    if (this.total >= this.opts.maxStreams) throw new TailLimitError(`This server has ${this.opts.maxStreams} live tails open, its limit; try again later.`);
    const mine = this.open.get(caller.principal) ?? 0;
    if (mine >= this.opts.maxStreamsPerCaller) throw new TailLimitError(`You have ${mine} live tails open, the limit per caller; close one first.`);
    this.open.set(caller.principal, mine + 1);
    this.total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const n = (this.open.get(caller.principal) ?? 1) - 1;
      if (n > 0) this.open.set(caller.principal, n);
      else this.open.delete(caller.principal);
    };
  }

  /**
   * Streams to `res` (headers not yet sent) from after seq `after` (undefined: from the end of the
   * log, only what comes next) until the client goes away, the reader stalls, or close().
   */
  async serve(res: ServerResponse, caller: TailCaller, attribute: LookupAttribute = ALL_MANAGEMENT, after?: number): Promise<void> {
    this.streams.add(res);
    let gone = false;
    const onClose = () => {
      gone = true;
      this.signal.notify();
    };
    res.once('close', onClose);
    try {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no', connection: 'keep-alive' });
      let cursor = after ?? (await this.events.lastSeq());
      // The position the stream starts at: a client that resumes from it misses nothing.
      if (!(await this.send(res, `retry: 1000\nid: ${cursor}\n\n`))) return;
      let quietSince = performance.now();
      let idSent = cursor;
      while (!gone && !this.closing) {
        const rows = await this.events.readAfter(cursor, this.opts.readBatch, undefined, this.opts.readBytes);
        let out = '';
        for (const row of rows) {
          const entry = tailEntry(row, caller, attribute);
          if (entry !== undefined) {
            out += `id: ${row.seq}\ndata: ${entry}\n\n`;
            idSent = row.seq;
          }
          cursor = row.seq;
        }
        if (out === '' && cursor !== idSent && (rows.length < this.opts.readBatch || performance.now() - quietSince >= this.opts.keepAliveMs)) {
          // Only events the caller does not see: the position moves on all the same (an id without
          // data sets the client's Last-Event-ID and dispatches nothing).
          out = `id: ${cursor}\n\n`;
          idSent = cursor;
        }
        if (out !== '') {
          if (!(await this.send(res, out))) return;
          quietSince = performance.now();
        }
        if (rows.length < this.opts.readBatch && !gone && !this.closing) {
          await this.signal.wait(Math.min(this.opts.pollMs, Math.max(1, this.opts.keepAliveMs - (performance.now() - quietSince))));
          if (performance.now() - quietSince >= this.opts.keepAliveMs) {
            if (!(await this.send(res, ': keep-alive\n\n'))) return;
            quietSince = performance.now();
          }
        }
      }
      if (!gone && !res.writableEnded) res.end(this.closing ? 'event: end\ndata: {"reason":"ServerShuttingDown"}\n\n' : undefined);
    } finally {
      res.off('close', onClose);
      this.streams.delete(res);
    }
  }

  /** Writes one chunk; waits (up to stallMs) for a full socket to drain. False: the stream ended. */
  private async send(res: ServerResponse, chunk: string): Promise<boolean> {
    if (res.destroyed || res.writableEnded) return false;
    if (res.write(chunk)) return true;
    const drained = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => finish(false), this.opts.stallMs);
      const onDrain = () => finish(true);
      const onClose = () => finish(false);
      function finish(ok: boolean) {
        clearTimeout(t);
        res.off('drain', onDrain);
        res.off('close', onClose);
        resolve(ok);
      }
      res.once('drain', onDrain);
      res.once('close', onClose);
    });
    if (!drained && !res.destroyed) {
      // A reader that takes nothing: ended here (its buffer is one page), it resumes from its Last-Event-ID.
      res.destroy();
    }
    return drained;
  }

  /** Shutdown: every stream ends (its client may resume elsewhere with Last-Event-ID). */
  close(): void {
    this.closing = true;
    this.signal.notify();
    for (const res of this.streams) if (!res.writableEnded) res.end('event: end\ndata: {"reason":"ServerShuttingDown"}\n\n');
  }
}
