/**
 * What a node does with its leases (docs/scale-out.md, "Several nodes"): a heartbeat lease per node
 * (`node/<holder>`), the node's share of a group of leases (`share`: a trail's delivery, a trail's
 * digests), single leases held while a node is the one that runs a job (`claim`: the retention job)
 * or while it does one thing (`take`/`give`: a Region's signing-key rotation), every one renewed in
 * the background every ttl/3 while held.
 *
 * A lease counts as held here only until `ttlMs` after the request that took or last renewed it was
 * SENT (this node's monotonic clock): the database granted it later than that, so the node stops
 * relying on a lease before the database lets anyone else take it (as long as the two clocks run
 * at the same rate). What a lease protects in the database is protected by fenced writes
 * (lease-store.ts), whatever this node believes.
 */
import { performance } from 'node:perf_hooks';
import { createHash } from 'node:crypto';
import type { Fence, LeaseStore } from './lease-store.ts';
import { DeadlineError, withDeadline } from '../core/index.ts';

export interface LeaseKeeperOptions {
  /** This node's name in the lease table: unique per running process (a restarted node may reuse its own). */
  holder: string;
  /** How long a lease runs without renewal: a dead node's work is taken over after at most this (plus a pass). */
  ttlMs: number;
  logError(msg: string, err?: unknown): void;
}

interface Held {
  fence: Fence;
  /** performance.now() until which this node relies on the lease. */
  until: number;
}

/** How long a lease runs unrenewed by default (config `database.leaseTtlMs`). */
export const DEFAULT_LEASE_TTL_MS = 30_000;

/** The lease group of the nodes' heartbeats. */
export const NODE_LEASES = 'node';

/** Rendezvous score: which holder prefers which key, the same on every node, spread evenly. */
function score(holder: string, key: string): string {
  return createHash('sha256').update(holder).update('\n').update(key).digest('hex');
}

export class LeaseKeeper {
  readonly holder: string;
  readonly ttlMs: number;
  private readonly store: LeaseStore;
  private readonly logError: LeaseKeeperOptions['logError'];
  private readonly held = new Map<string, Held>();
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> | undefined;
  private stopped = false;

  constructor(store: LeaseStore, opts: LeaseKeeperOptions) {
    if (!(opts.ttlMs > 0)) throw new Error('ttlMs must be positive');
    this.store = store;
    this.holder = opts.holder;
    this.ttlMs = opts.ttlMs;
    this.logError = opts.logError;
  }

  /** Renews every held lease every ttl/3 (the timer does not keep the process alive). */
  start(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => {
      this.renewNow().catch((e: unknown) => this.logError('lease renewal failed', e));
    }, Math.max(10, Math.floor(this.ttlMs / 3)));
    this.timer.unref();
  }

  /** Stops renewing and releases every lease held, so that other nodes take over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.renewing?.catch(() => undefined);
    const all = [...this.held.values()].map((h) => h.fence);
    this.held.clear();
    await this.store.release(all).catch((e: unknown) => this.logError('releasing leases failed', e));
  }

  /** Stops renewing and forgets every lease without releasing it: what a node killed with kill -9 leaves behind (tests). */
  abandon(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    this.held.clear();
  }

  /** The fence of a lease this node holds now, or undefined. */
  fence(name: string): Fence | undefined {
    const h = this.held.get(name);
    if (!h) return undefined;
    if (performance.now() < h.until) return h.fence;
    this.held.delete(name);
    return undefined;
  }

  /** A fenced write said the lease is gone: this node no longer relies on it. */
  lost(name: string): void {
    this.held.delete(name);
  }

  /** Renews every lease held now (the timer's work); the ones lost are forgotten. */
  renewNow(): Promise<void> {
    this.renewing ??= (async () => {
      const fences = [...this.held.values()].map((h) => h.fence);
      if (fences.length === 0) return;
      const sent = performance.now();
      // A renewal that cannot finish within the lease time (a database that does not answer: a
      // partition) counts as lost: every lease it renews has run out by then anyway, and the next
      // renewal must not wait behind it.
      const kept = await withDeadline(this.store.renew(fences, this.ttlMs), this.ttlMs).catch((e: unknown) => {
        if (e instanceof DeadlineError) return undefined;
        throw e;
      });
      if (kept === undefined) {
        for (const f of fences) if (this.held.get(f.name)?.fence.token === f.token) this.held.delete(f.name);
        this.logError(`lease renewal got no answer within the lease time (${this.ttlMs} ms): ${fences.length} lease(s) counted as lost`);
        return;
      }
      const keep = new Set(kept.map((f) => `${f.name}\n${f.token}`));
      for (const f of fences) {
        const h = this.held.get(f.name);
        if (!h || h.fence.token !== f.token) continue;
        if (keep.has(`${f.name}\n${f.token}`)) h.until = sent + this.ttlMs;
        else this.held.delete(f.name);
      }
    })().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  private async acquire(names: string[]): Promise<Fence[]> {
    if (this.stopped || names.length === 0) return [];
    const sent = performance.now();
    const got = await this.store.acquire(this.holder, names, this.ttlMs);
    for (const f of got) this.held.set(f.name, { fence: f, until: sent + this.ttlMs });
    return got;
  }

  private async giveBack(names: string[]): Promise<void> {
    const fences = names.flatMap((n) => {
      const h = this.held.get(n);
      this.held.delete(n);
      return h ? [h.fence] : [];
    });
    await this.store.release(fences);
  }

  /** This node's heartbeat: other nodes count the live ones to size their share. */
  private async heartbeat(): Promise<void> {
    const name = `${NODE_LEASES}/${this.holder}`;
    if (!this.fence(name)) await this.acquire([name]);
  }

  /**
   * This node's share of `keys` in the lease group `group` (leases `<group>/<key>`): at most
   * ceil(keys / live nodes), preferring the keys whose rendezvous score for this node is highest,
   * taking only leases nobody live holds, and giving back what is beyond the share or no longer in
   * `keys`. Returns key -> fence of the leases held now. Call it when no work under these leases is
   * in flight (at the start of a pass).
   */
  async share(group: string, keys: readonly string[]): Promise<Map<string, Fence>> {
    const prefix = `${group}/`;
    await this.heartbeat();
    const wanted = new Set(keys);
    const [nodes, leases] = await Promise.all([this.store.list(`${NODE_LEASES}/`), this.store.list(prefix)]);
    const live = Math.max(1, nodes.filter((n) => n.live).length);
    const quota = Math.ceil(wanted.size / live);
    const mine: string[] = [];
    const drop: string[] = [];
    for (const name of this.held.keys()) {
      if (!name.startsWith(prefix)) continue;
      const key = name.slice(prefix.length);
      if (wanted.has(key) && this.fence(name)) mine.push(key);
      else drop.push(name);
    }
    const prefer = (a: string, b: string) => (score(this.holder, a) < score(this.holder, b) ? 1 : -1);
    mine.sort(prefer);
    while (mine.length > quota) drop.push(prefix + mine.pop()!);
    if (drop.length > 0) await this.giveBack(drop);
    if (mine.length < quota) {
      const busy = new Set(leases.filter((l) => l.live && l.holder !== this.holder).map((l) => l.name));
      const free = [...wanted].filter((k) => !busy.has(prefix + k) && !this.held.has(prefix + k)).sort(prefer);
      await this.acquire(free.slice(0, quota - mine.length).map((k) => prefix + k));
    }
    const out = new Map<string, Fence>();
    for (const key of wanted) {
      const f = this.fence(prefix + key);
      if (f) out.set(key, f);
    }
    return out;
  }

  /**
   * The lease `name` for as long as this node keeps running the job it protects (kept and renewed
   * until stop): its fence, or undefined while another node holds it.
   */
  async claim(name: string): Promise<Fence | undefined> {
    await this.heartbeat();
    return this.fence(name) ?? (await this.acquire([name]))[0];
  }

  /** The lease `name` for one piece of work: its fence, or undefined while another node holds it; `give` it back after. */
  async take(name: string): Promise<Fence | undefined> {
    return this.fence(name) ?? (await this.acquire([name]))[0];
  }

  async give(name: string): Promise<void> {
    await this.giveBack([name]);
  }
}
