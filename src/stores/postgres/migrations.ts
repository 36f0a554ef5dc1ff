/**
 * Versioned schema migrations, per component (`control`, `events`, `leases`, ...).
 *
 * The table `opentrail_schema(component, version)` records the version each component's schema is
 * at. `migrate(pool, component, migrations)` applies the migrations after the recorded version, in
 * order, in ONE transaction that first takes a transaction-scoped advisory lock: nodes starting
 * together wait for each other, the first applies the migrations and the others then find the
 * schema current, so each migration runs exactly once; a migration that fails leaves nothing
 * behind (PostgreSQL's DDL is transactional). A database whose recorded version is newer than the
 * code's last migration (written by a newer OpenTrail) is refused, never rebuilt.
 *
 * A component's migrations are append-only: once released, a migration's text never changes, and
 * a change to the schema is a new migration at the end of the list.
 */
import type { Pool, PoolClient } from './db.ts';
import { PostgresStartError, describeStartError, untimed, withTransaction } from './db.ts';

/** One migration: its SQL (one or more statements), or a function for what SQL alone cannot say. */
export type MigrationStep = string | ((client: PoolClient) => Promise<void>);
/** A component's migrations: a list whose item i is version i + 1, or explicit versions 1, 2, 3, ... */
export type Migrations = MigrationStep[] | { version: number; sql: MigrationStep }[];

/** The advisory lock every migration takes (one for all components: migrations are rare and short). */
export const MIGRATION_LOCK = 0x6f74_7363_6865_6d61n; // "otschema"

/** The refusal of a database written by a newer OpenTrail, or a migration that could not be applied. */
export class MigrationError extends PostgresStartError {
  override name = 'MigrationError';
}

function normalise(component: string, migrations: Migrations): MigrationStep[] {
  return migrations.map((m, i) => {
    if (typeof m === 'string' || typeof m === 'function') return m;
    if (m.version !== i + 1) throw new Error(`${component} migrations must be numbered 1, 2, 3, ... in order (item ${i} has version ${m.version})`);
    return m.sql;
  });
}

/** The version `component`'s schema is at (0: never migrated). */
export async function schemaVersion(client: PoolClient | Pool, component: string): Promise<number> {
  const exists = await client.query<{ t: string | null }>("SELECT to_regclass('opentrail_schema')::text AS t");
  if (!exists.rows[0]?.t) return 0;
  const r = await client.query<{ version: number }>('SELECT version FROM opentrail_schema WHERE component = $1', [component]);
  return r.rows[0]?.version ?? 0;
}

/**
 * Brings `component`'s schema to the last of `migrations`; returns the version found and the
 * version now. Failures of the database reject with StoreUnavailableError; a newer schema, a
 * missing privilege or a migration that fails reject with MigrationError (one line).
 */
export async function migrate(pool: Pool, component: string, migrations: Migrations): Promise<{ from: number; to: number }> {
  const steps = normalise(component, migrations);
  const latest = steps.length;
  return withTransaction(pool, async (client) => {
    // Migrations may take longer than the pool's statement_timeout, and waiting for the lock
    // while another node migrates is expected.
    await client.query('SET LOCAL statement_timeout = 0');
    await client.query(untimed('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK.toString()]));
    await client.query('CREATE TABLE IF NOT EXISTS opentrail_schema (component text PRIMARY KEY, version int NOT NULL)').catch((err: unknown) => {
      throw asMigrationError(err, pool, `creating the table opentrail_schema`);
    });
    const from = await schemaVersion(client, component);
    if (from > latest) {
      throw new MigrationError(`the ${component} schema of this PostgreSQL database is at version ${from}, newer than this OpenTrail knows (${latest}): it was written by a newer OpenTrail; run that version (or newer), never an older one, on this database`);
    }
    for (let v = from + 1; v <= latest; v++) {
      const step = steps[v - 1]!;
      try {
        if (typeof step === 'string') await client.query(untimed(step));
        else await step(client);
      } catch (err) {
        throw asMigrationError(err, pool, `migrating ${component} to version ${v}`);
      }
    }
    if (latest > from) {
      await client.query('INSERT INTO opentrail_schema(component, version) VALUES ($1, $2) ON CONFLICT (component) DO UPDATE SET version = excluded.version', [component, latest]);
    }
    return { from, to: Math.max(from, latest) };
  }, { operation: `migrate ${component}` });
}

/** A failed migration statement as MigrationError, unless the database failed (kept for storeFailure). */
function asMigrationError(err: unknown, pool: Pool, what: string): unknown {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code) || /^(08|53|57|58|40)/.test(code)) return err;
  const url = connectionUrl(pool);
  if (code === '42501') return new MigrationError(`${what}: ${describeStartError(err, url)}`, { cause: err });
  return new MigrationError(`PostgreSQL: ${what} failed: ${(err as Error).message} (SQLSTATE ${code})`, { cause: err });
}

function connectionUrl(pool: Pool): string {
  const o = pool.options as { connectionString?: string };
  return o.connectionString ?? '';
}
