/**
 * LeaseStore on PostgreSQL: one row per lease in `opentrail_leases` (migration component `leases`),
 * expiring by the database's clock (`clock_timestamp()`), never a node's.
 *
 * Why rows that expire, not advisory locks: a session-level advisory lock dies with its connection,
 * which makes takeover after kill -9 automatic, but it belongs to one pooled connection (the pool
 * may close it when idle, or hand another connection to the next query, which then does not hold
 * the lock), a connection that hangs without closing (a partition) keeps it for the TCP keepalive
 * time, and it carries no token a later write can be checked against. A row with an expiry gives
 * all three: any connection of any node sees and checks it, it ends after `ttlMs` of the database's
 * time whatever the network does, and its `token` fences writes (`fencedStatement`: the control
 * store's write and the check of the lease in one statement, the lease row locked `FOR SHARE`, so a
 * takeover waits for that write to commit and then sees it).
 *
 * Taking a lease is one upsert: `INSERT ... ON CONFLICT (name) DO UPDATE ... WHERE expires_at <=
 * clock_timestamp() OR holder = excluded.holder`, which bumps the token; two nodes asking at once
 * serialise on the row, and the second finds it unexpired. Rows are never deleted, so a token is
 * never handed out twice for one name. Citus: a reference table (small, read and written by every
 * node): docs/scale-out.md.
 */
import { LeaseLostError, type Fence, type LeaseInfo, type LeaseStore } from '../lease-store.ts';
import { query, type Pool, type PoolClient } from './db.ts';
import { migrate } from './migrations.ts';

export const LEASE_MIGRATIONS = [
  `CREATE TABLE opentrail_leases (
     name text PRIMARY KEY,
     holder text NOT NULL,
     token bigint NOT NULL,
     expires_at timestamptz NOT NULL
   )`,
];

/**
 * Runs one data-modifying statement only while the fence's lease is held (same holder and token,
 * unexpired), in ONE statement (one round trip, its own transaction): `sql` is an INSERT, UPDATE or
 * DELETE with `$1..$n` for `values`, that writes only `WHERE EXISTS (SELECT 1 FROM fence)` and ends
 * with `RETURNING 1`. The lease row is locked `FOR SHARE` until the statement commits, so a node
 * taking the lease over waits for this write and then sees it. Returns the rows written; rejects
 * with LeaseLostError (nothing written) when the lease is not held.
 */
export async function fencedStatement(pool: Pool, fence: Fence, sql: string, values: unknown[], operation: string): Promise<number> {
  const n = values.length;
  const r = await query<{ held: number; written: number }>(pool,
    `WITH fence AS (
       SELECT 1 FROM opentrail_leases WHERE name = $${n + 1} AND holder = $${n + 2} AND token = $${n + 3} AND expires_at > clock_timestamp() FOR SHARE
     ), w AS (${sql})
     SELECT (SELECT count(*) FROM fence)::int AS held, (SELECT count(*) FROM w)::int AS written`,
    [...values, fence.name, fence.holder, String(fence.token)], operation);
  if (r.rows[0]!.held === 0) throw new LeaseLostError(fence);
  return r.rows[0]!.written;
}

/**
 * Inside a transaction of `client`: whether the fence's lease is held now (same holder and token,
 * unexpired); its row is locked FOR SHARE until the transaction ends, so a takeover waits for the
 * transaction's writes and then sees them.
 */
export async function fenceHeld(client: PoolClient, fence: Fence): Promise<boolean> {
  const r = await client.query('SELECT 1 FROM opentrail_leases WHERE name = $1 AND holder = $2 AND token = $3 AND expires_at > clock_timestamp() FOR SHARE', [fence.name, fence.holder, String(fence.token)]);
  return (r.rowCount ?? 0) > 0;
}

export class PgLeaseStore implements LeaseStore {
  private readonly pool: Pool;
  private readonly ownsPool: boolean;

  private constructor(pool: Pool, ownsPool: boolean) {
    this.pool = pool;
    this.ownsPool = ownsPool;
  }

  /** The lease store on `pool` (its schema migrated first); `ownsPool`: close() ends the pool. */
  static async open(pool: Pool, opts: { ownsPool?: boolean } = {}): Promise<PgLeaseStore> {
    await migrate(pool, 'leases', LEASE_MIGRATIONS);
    return new PgLeaseStore(pool, opts.ownsPool ?? false);
  }

  async acquire(holder: string, names: readonly string[], ttlMs: number): Promise<Fence[]> {
    if (names.length === 0) return [];
    // Sorted, so that two nodes taking overlapping sets lock the rows in the same order.
    const sorted = [...new Set(names)].sort();
    const r = await query<{ name: string; token: string }>(this.pool,
      `INSERT INTO opentrail_leases AS l (name, holder, token, expires_at)
       SELECT n, $2, 1, clock_timestamp() + $3 * interval '1 millisecond' FROM unnest($1::text[]) AS n ORDER BY n
       ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = l.token + 1, expires_at = excluded.expires_at
       WHERE l.expires_at <= clock_timestamp() OR l.holder = excluded.holder
       RETURNING l.name, l.token`,
      [sorted, holder, Math.ceil(ttlMs)], 'lease acquire');
    const tokens = new Map(r.rows.map((row) => [row.name, Number(row.token)]));
    return sorted.flatMap((name) => (tokens.has(name) ? [{ name, holder, token: tokens.get(name)! }] : []));
  }

  async renew(leases: readonly Fence[], ttlMs: number): Promise<Fence[]> {
    if (leases.length === 0) return [];
    const sorted = [...leases].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const r = await query<{ name: string; holder: string; token: string }>(this.pool,
      `UPDATE opentrail_leases AS l SET expires_at = clock_timestamp() + $4 * interval '1 millisecond'
       FROM unnest($1::text[], $2::text[], $3::bigint[]) AS h(name, holder, token)
       WHERE l.name = h.name AND l.holder = h.holder AND l.token = h.token AND l.expires_at > clock_timestamp()
       RETURNING l.name, l.holder, l.token`,
      [sorted.map((l) => l.name), sorted.map((l) => l.holder), sorted.map((l) => String(l.token)), Math.ceil(ttlMs)], 'lease renew');
    const kept = new Set(r.rows.map((row) => `${row.name}\n${row.holder}\n${row.token}`));
    return sorted.filter((l) => kept.has(`${l.name}\n${l.holder}\n${l.token}`)).map((l) => ({ name: l.name, holder: l.holder, token: l.token }));
  }

  async release(leases: readonly Fence[]): Promise<void> {
    if (leases.length === 0) return;
    // The row stays (with its token), so the next holder's token is higher than every earlier one.
    await query(this.pool,
      `UPDATE opentrail_leases AS l SET expires_at = '-infinity'
       FROM unnest($1::text[], $2::text[], $3::bigint[]) AS h(name, holder, token)
       WHERE l.name = h.name AND l.holder = h.holder AND l.token = h.token`,
      [leases.map((l) => l.name), leases.map((l) => l.holder), leases.map((l) => String(l.token))], 'lease release');
  }

  async list(prefix: string): Promise<LeaseInfo[]> {
    const r = await query<{ name: string; holder: string; token: string; live: boolean }>(this.pool,
      `SELECT name, holder, token, expires_at > clock_timestamp() AS live FROM opentrail_leases
       WHERE left(name, char_length($1)) = $1 ORDER BY name COLLATE "C"`,
      [prefix], 'lease list');
    return r.rows.map((row) => ({ name: row.name, holder: row.holder, token: Number(row.token), live: row.live }));
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }
}
