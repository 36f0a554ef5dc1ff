/**
 * The write path's group commit: callers submit batches of normalised events; the ingester
 * appends whatever has queued up in one store transaction and resolves every caller once that
 * transaction is durable.
 *
 * MUST: a submit() promise resolves only after the store confirmed its events durable (at the
 * durability asked for, or stronger when the group holds a `disk` submit), and
 * rejects (never resolves) when they could not be stored. Order of appends follows submit order.
 */
import type { AppendInput, AppendOutcome, Durability, EventStore } from '../stores/index.ts';

interface Pending {
  items: readonly AppendInput[];
  durability: Durability;
  resolve(outcomes: AppendOutcome[]): void;
  reject(err: unknown): void;
}

export interface IngesterOptions {
  /** Soft cap on events per transaction; one submit is never split. */
  maxBatchEvents: number;
}

export interface IngesterStats {
  commits: number;
  events: number;
}

export class Ingester {
  private queue: Pending[] = [];
  private flushing = false;
  private scheduled = false;
  private idleWaiters: (() => void)[] = [];
  readonly stats: IngesterStats = { commits: 0, events: 0 };

  private readonly store: EventStore;
  private readonly opts: IngesterOptions;

  constructor(store: EventStore, opts: IngesterOptions) {
    this.store = store;
    this.opts = opts;
  }

  /**
   * Appends the events durably; resolves with one outcome per event, in order. `process`
   * durability (kill -9 safe, power-safe at the next `disk` commit) is for records nobody is
   * waiting to see acknowledged, such as the self-audit of read-only calls.
   */
  submit(items: readonly AppendInput[], durability: Durability = 'disk'): Promise<AppendOutcome[]> {
    if (items.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ items, durability, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves once nothing is queued or being written. */
  drain(): Promise<void> {
    if (!this.flushing && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    // setImmediate lets every request already read off the sockets join this commit.
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
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
        try {
          const durability = group.some((p) => p.durability === 'disk') ? 'disk' : 'process';
          const outcomes = await this.store.append(all, durability);
          this.stats.commits++;
          this.stats.events += all.length;
          let at = 0;
          for (const p of group) {
            p.resolve(outcomes.slice(at, at + p.items.length));
            at += p.items.length;
          }
        } catch (err) {
          for (const p of group) p.reject(err);
        }
      }
    } finally {
      this.flushing = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
