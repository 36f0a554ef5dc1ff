/**
 * The write path's group commit: callers submit batches of normalised events; the ingester
 * appends whatever has queued up in one store transaction and resolves every caller once that
 * transaction is durable.
 *
 * MUST: a submit() promise resolves only after the store confirmed its events durable (at the
 * durability asked for, or stronger when the group holds a `disk` submit), and
 * rejects (never resolves) when they could not be stored, and then stored none of them (nor what
 * its `follow` added). Order of appends follows submit order; with a store that takes several
 * appends at once (EventStore.parallelAppends), groups in flight together may commit in either order.
 *
 * Failures: a failed transaction rejects every submit of its group and stores none of them; the
 * next group is tried as usual, so the ingester never stays stuck. When the failure passes by
 * itself (StoreUnavailableError: disk full, I/O error, ...), the ingester remembers it until a
 * commit succeeds again (`unavailable()`), so callers about to make a change that must be audited
 * can refuse early; `probe()` asks the store whether it takes writes again.
 */
import { StoreUnavailableError, type AppendInput, type AppendOutcome, type Durability, type EventStore } from '../stores/index.ts';

/** Events to append in the same transaction as a submit's own, built from its outcomes. */
export type SubmitFollow = (outcomes: readonly AppendOutcome[]) => readonly AppendInput[];

interface Pending {
  items: readonly AppendInput[];
  durability: Durability;
  follow: SubmitFollow | undefined;
  resolve(outcomes: AppendOutcome[]): void;
  reject(err: unknown): void;
}

/** A submit's follow threw: only that submit fails; the rest of its group is tried again. */
class FollowFailed extends Error {
  readonly pending: Pending;
  constructor(pending: Pending, cause: unknown) {
    super('a submit\'s follow failed', { cause });
    this.pending = pending;
  }
}

/** The capture path a call's records came by (metrics label, docs/operations.md). */
export type IngestPath = 'bulk' | 'PutAuditEvents' | 'self-audit' | 'gateway';

/**
 * Told what the write path did, for metrics (src/observability): read-only, called once per call
 * and once per group commit (never per event), and must not throw.
 */
export interface IngestObserver {
  /** One call's entries once its transaction committed: stored, already stored (duplicates), refused. */
  appended(path: IngestPath, accepted: number, duplicates: number, rejected: number): void;
  /** One group commit (or failed attempt): its events and how long the store took, seconds. */
  committed(events: number, seconds: number, ok: boolean): void;
}

export interface IngesterOptions {
  /** Soft cap on events per transaction; one submit is never split. */
  maxBatchEvents: number;
  /** Told when the store takes writes again after failing (default: nothing). */
  log?: (message: string) => void;
  /** Metrics hooks (default: none). */
  observer?: IngestObserver;
}

export interface IngesterStats {
  commits: number;
  events: number;
}

export class Ingester {
  private queue: Pending[] = [];
  private flushing = false;
  /** Groups being appended now (at most the store's parallelAppends). */
  private lanes = 0;
  private scheduled = false;
  private idleWaiters: (() => void)[] = [];
  /** Set while the store is failing: the last commit failed for a reason that passes by itself. */
  private failure: StoreUnavailableError | undefined;
  private failingSinceMs = 0;
  readonly stats: IngesterStats = { commits: 0, events: 0 };
  /** The metrics hooks the front door reports each call's counts to (IngesterOptions.observer). */
  readonly observer?: IngestObserver;

  private readonly store: EventStore;
  private readonly opts: IngesterOptions;

  constructor(store: EventStore, opts: IngesterOptions) {
    this.store = store;
    this.opts = opts;
    if (opts.observer) this.observer = opts.observer;
  }

  /**
   * Appends the events durably; resolves with one outcome per event, in order. `process`
   * durability (kill -9 safe, power-safe at the next `disk` commit) is for records nobody is
   * waiting to see acknowledged, such as the self-audit of read-only calls.
   *
   * `follow`, when given, is called inside the transaction with this submit's outcomes; the events
   * it returns (a self-audit record that counts duplicates) are stored in the same transaction, so
   * they and `items` are stored together or not at all. The promise resolves with the outcomes of
   * `items` only. A follow that throws fails its own submit alone.
   */
  submit(items: readonly AppendInput[], durability: Durability = 'disk', follow?: SubmitFollow): Promise<AppendOutcome[]> {
    if (items.length === 0 && !follow) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ items, durability, follow, resolve, reject });
      // It waits behind the append in flight: the store may prepare it meanwhile.
      if (this.flushing) this.store.prepare?.(items);
      this.schedule();
    });
  }

  /** The store's failure while it is failing (its last commit failed, none succeeded since). */
  unavailable(): StoreUnavailableError | undefined {
    return this.failure;
  }

  /**
   * Resolves when the store takes writes: at once unless it is failing; else after a small probe
   * write succeeded (which ends the failing state). Rejects with the store's error otherwise.
   */
  async probe(): Promise<void> {
    if (!this.failure) return;
    try {
      await this.store.probe();
      this.recovered();
    } catch (err) {
      if (err instanceof StoreUnavailableError) this.failing(err);
      throw err;
    }
  }

  private failing(err: StoreUnavailableError): void {
    if (!this.failure) this.failingSinceMs = Date.now();
    this.failure = err;
  }

  private recovered(): void {
    if (!this.failure) return;
    this.opts.log?.(`event store takes writes again (failing since ${new Date(this.failingSinceMs).toISOString()}: ${this.failure.message})`);
    this.failure = undefined;
  }

  /** Resolves once nothing is queued or being written. */
  drain(): Promise<void> {
    if (!this.flushing && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** The follow-up events of a group, each submit's after its own outcomes are known. */
  private followAll(group: readonly Pending[], outcomes: readonly AppendOutcome[]): AppendInput[] {
    const more: AppendInput[] = [];
    let at = 0;
    for (const p of group) {
      const mine = outcomes.slice(at, at + p.items.length);
      at += p.items.length;
      if (!p.follow) continue;
      try {
        more.push(...p.follow(mine));
      } catch (err) {
        throw new FollowFailed(p, err);
      }
    }
    return more;
  }

  private schedule(): void {
    if (this.scheduled || this.lanes >= Math.max(1, Math.floor(this.store.parallelAppends ?? 1))) return;
    this.scheduled = true;
    // setImmediate lets every request already read off the sockets join this commit.
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  /**
   * Starts groups while the store takes more appends at once (EventStore.parallelAppends, default
   * 1: one group after another); `flushing` while any is in flight.
   */
  private flush(): Promise<void> {
    const lanes = Math.max(1, Math.floor(this.store.parallelAppends ?? 1));
    const starts: Promise<void>[] = [];
    while (this.lanes < lanes && this.queue.length > 0) starts.push(this.lane());
    return Promise.all(starts).then(() => undefined);
  }

  /** Appends queued groups one after another until the queue is empty. */
  private async lane(): Promise<void> {
    this.lanes++;
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const group: Pending[] = [];
        let count = 0;
        while (this.queue.length > 0 && (group.length === 0 || count + this.queue[0]!.items.length <= this.opts.maxBatchEvents)) {
          const p = this.queue.shift()!;
          group.push(p);
          count += p.items.length;
        }
        const all = group.length === 1 ? group[0]!.items : group.flatMap((p) => p.items);
        const follows = group.some((p) => p.follow) ? group : undefined;
        const startedAt = this.observer ? performance.now() : 0;
        try {
          const durability = group.some((p) => p.durability === 'disk') ? 'disk' : 'process';
          const outcomes = await this.store.append(all, durability, follows && ((out) => this.followAll(follows, out)));
          this.observer?.committed(outcomes.length, (performance.now() - startedAt) / 1000, true);
          this.recovered();
          this.stats.commits++;
          this.stats.events += outcomes.length;
          let at = 0;
          for (const p of group) {
            p.resolve(outcomes.slice(at, at + p.items.length));
            at += p.items.length;
          }
        } catch (err) {
          if (err instanceof FollowFailed) {
            // Nothing was stored: fail that submit alone and try the others again, in order.
            err.pending.reject(err.cause);
            this.queue.unshift(...group.filter((p) => p !== err.pending));
            continue;
          }
          this.observer?.committed(all.length, (performance.now() - startedAt) / 1000, false);
          if (err instanceof StoreUnavailableError) this.failing(err);
          for (const p of group) p.reject(err);
        }
      }
    } finally {
      this.lanes--;
      if (this.lanes === 0) {
        this.flushing = false;
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }
}
