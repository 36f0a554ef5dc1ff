/**
 * Leases: which node of a deployment does a piece of background work (a trail's delivery, a trail's
 * digests, the retention job, a Region's signing-key rotation) when several nodes share one
 * database (docs/scale-out.md, "Several nodes"; docs/design/delivery.md, "Several nodes").
 *
 * Contract (src/stores/lease-store.suite.ts):
 * - a lease is a row per name: who holds it (`holder`), its fencing `token`, and when it expires,
 *   in the DATABASE's time, never a node's;
 * - `acquire` takes each named lease that is free, expired, released, or already this holder's,
 *   and bumps its token every time it does: tokens of one name only ever grow (a lease is never
 *   deleted, so a token is never handed out twice);
 * - `renew` extends leases the holder still holds with the same token (the token stays), and
 *   leaves out the ones it lost (expired and taken by another holder, or released);
 * - `release` ends a lease at once (the next `acquire` by anyone takes it); its token stays;
 * - a control-store write with `{ fence }` (ControlStore.put/putMany/delete) happens only while the
 *   fence's lease is unexpired and still has the fence's holder and token, checked in the same
 *   transaction as the write: the one way a lease protects a document. Otherwise it rejects with
 *   LeaseLostError and writes nothing. The lease table therefore lives in the control store's
 *   database (SQLite: control.db; PostgreSQL: the deployment's database).
 */

/** A held lease: checked by fenced writes. */
export interface Fence {
  name: string;
  holder: string;
  /** Grows by one every time the lease changes hands (or is taken again after it ended). */
  token: number;
}

/** A lease as `list` sees it. */
export interface LeaseInfo extends Fence {
  /** Unexpired (and not released), by the database's clock. */
  live: boolean;
}

export interface LeaseStore {
  /**
   * Takes the named leases that are free, expired, released, or held by this holder already, for
   * `ttlMs` from now (the database's now); returns the ones it took, each with its new token.
   */
  acquire(holder: string, names: readonly string[], ttlMs: number): Promise<Fence[]>;
  /** Extends the leases still held with the same holder and token; returns those (same tokens). */
  renew(leases: readonly Fence[], ttlMs: number): Promise<Fence[]>;
  /** Ends the leases still held with the same holder and token (others are left alone). */
  release(leases: readonly Fence[]): Promise<void>;
  /** Every lease whose name starts with the prefix, in name order. */
  list(prefix: string): Promise<LeaseInfo[]>;
  close(): Promise<void>;
}

/** A fenced write whose lease is no longer this holder's (expired and taken, released, or never held). */
export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
  readonly fence: Fence;

  constructor(fence: Fence) {
    super(`lease ${fence.name} (token ${fence.token}) is no longer held by ${fence.holder}`);
    this.fence = fence;
  }
}

/** Options of a control-store write. */
export interface WriteOptions {
  /** Write only while this lease is held (same holder and token, unexpired); else LeaseLostError. */
  fence?: Fence;
}
