/**
 * Durability after COMMIT (docs/storage.md "Durability"): what the writer thread, the syncer
 * thread (wal-syncer-worker.ts) and the calling thread share, and the calling thread's side.
 *
 * A `disk` request's reply from the writer carries a ticket, taken after its COMMIT returned; the
 * syncer reports "synced up to w" after an fdatasync of the WAL that started after ticket w was
 * asked for; a reply is answered only when its ticket is covered. Tickets come from one counter
 * shared by every thread (`takeTicket`), so a ticket covers every commit that returned before it
 * was taken: a reader that took one after its read knows, once it is synced, that what it read is
 * durable (SqliteEventStore.readAfter).
 */

export interface SyncerOptions {
  /** The database file (its WAL is `${path}-wal`). */
  path: string;
  /** [WANT, STOP, SYNCED, TICKETS] as BigInt64: the ticket asked for, 1 to stop, the ticket last synced (or failed), the last ticket taken. */
  shared: SharedArrayBuffer;
  /** Test hook: ms to wait before each fdatasync (an ack that did not wait for it shows up). */
  stallMs?: number;
  /** Measurements: each report says when its fdatasync began (`at`, ms since the epoch). */
  traceStages?: boolean;
}

/** What the calling thread is told after each sync. */
export type SyncerMessage =
  | { synced: number; ms: number; at?: number }
  | { failed: number; message: string; code?: string };

/** Cells of the shared BigInt64Array. */
export const WANT = 0;
export const STOP = 1;
export const SYNCED = 2;
export const TICKETS = 3;
/** The shared cells' size in bytes. */
export const SYNC_CELLS_BYTES = 4 * 8;

/** A new ticket, above every ticket any thread took before. */
export function takeTicket(cells: BigInt64Array): number {
  return Number(Atomics.add(cells, TICKETS, 1n) + 1n);
}

/** Asks the syncer for an fdatasync covering `ticket` (WANT only goes up, whoever raises it). */
export function askSyncFor(cells: BigInt64Array, ticket: number): void {
  const t = BigInt(ticket);
  for (let cur = Atomics.load(cells, WANT); cur < t; cur = Atomics.load(cells, WANT)) {
    if (Atomics.compareExchange(cells, WANT, cur, t) === cur) break;
  }
  Atomics.notify(cells, WANT);
}

/** One step of the order of events the calling thread saw (SyncWaiters' trace, for tests). */
export type SyncTraceStep = { step: 'reply'; ticket: number } | { step: 'synced'; upTo: number } | { step: 'ack'; ticket: number };

interface Waiter {
  ticket: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * The calling thread's side: replies waiting for their ticket to be synced, answered in ticket
 * order. Counts what it did (`stats`) and, when asked, keeps the order of replies, syncs and
 * answers (`trace`) so a test can check that no answer came before the sync covering it.
 */
export class SyncWaiters {
  private synced = 0;
  /** The syncer's failure: for good (it fails every later ticket too, wal-syncer-worker.ts). */
  private failed: Error | undefined;
  private readonly waiting: Waiter[] = [];
  readonly stats = { syncs: 0, syncMsTotal: 0, syncMsMax: 0, acks: 0, acksThatWaited: 0 };
  readonly trace: SyncTraceStep[] | undefined;

  constructor(trace = false) {
    if (trace) this.trace = [];
  }

  get pending(): number {
    return this.waiting.length;
  }

  private idle: (() => void)[] = [];

  /** Resolves when no reply waits for a sync. */
  whenIdle(): Promise<void> {
    if (this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private checkIdle(): void {
    if (this.waiting.length > 0 || this.idle.length === 0) return;
    for (const r of this.idle.splice(0)) r();
  }

  /** A reply with `ticket`: runs `resolve` once the ticket is synced (at once if it already is). */
  wait(ticket: number, resolve: () => void, reject: (err: unknown) => void): void {
    this.trace?.push({ step: 'reply', ticket });
    if (ticket <= this.synced) {
      this.ack(ticket, false);
      resolve();
      return;
    }
    // A reply may come after the syncer's report on its ticket (two threads, two ports).
    if (this.failed) {
      reject(this.failed);
      return;
    }
    // In ticket order: a reader's ticket may be taken before a writer's reply with a lower one arrives.
    let at = this.waiting.length;
    while (at > 0 && this.waiting[at - 1]!.ticket > ticket) at--;
    this.waiting.splice(at, 0, { ticket, resolve, reject });
  }

  /** The syncer's report. */
  onMessage(m: SyncerMessage, failure: (message: string, code?: string) => Error): void {
    if ('synced' in m) {
      this.stats.syncs++;
      this.stats.syncMsTotal += m.ms;
      this.stats.syncMsMax = Math.max(this.stats.syncMsMax, m.ms);
      this.synced = Math.max(this.synced, m.synced);
      this.trace?.push({ step: 'synced', upTo: m.synced });
      while (this.waiting.length > 0 && this.waiting[0]!.ticket <= this.synced) {
        const w = this.waiting.shift()!;
        this.ack(w.ticket, true);
        w.resolve();
      }
      this.checkIdle();
      return;
    }
    this.failed ??= failure(m.message, m.code);
    for (const w of this.waiting.splice(0)) w.reject(this.failed);
    this.checkIdle();
  }

  /**
   * Rejects every reply still waiting (the syncer stopped), and every reply still to come whose
   * ticket was not synced: the writer may answer requests posted before the syncer stopped after
   * it did, and no sync will ever cover them.
   */
  failAll(err: () => Error): void {
    this.failed ??= err();
    for (const w of this.waiting.splice(0)) w.reject(this.failed);
    this.checkIdle();
  }

  private ack(ticket: number, waited: boolean): void {
    this.stats.acks++;
    if (waited) this.stats.acksThatWaited++;
    this.trace?.push({ step: 'ack', ticket });
  }
}
