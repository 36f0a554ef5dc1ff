/**
 * What every PostgreSQL driver shares: the connection pool, transactions, and which failures pass
 * by themselves.
 *
 * - `openPool(url)` opens a bounded `pg.Pool` (application_name `opentrail`, connection and
 *   statement timeouts, synchronous_commit on for every session); `connectPool(url)` also checks
 *   that the database answers, and turns a failure into one line (`PostgresStartError`).
 * - `withTransaction(pool, fn)` runs `fn` in one transaction (BEGIN ... COMMIT, ROLLBACK when it
 *   throws); `query(pool, ...)` runs one statement. Both report failures of the database (connection
 *   lost, shut down, too many connections, disk full: `unavailableReason`) as StoreUnavailableError
 *   with the original error as its cause; any other error (a bug, a constraint) is thrown as it is.
 *
 * A COMMIT whose connection broke has an unknown outcome: the transaction may or may not have
 * committed. Its caller gets StoreUnavailableError (the client retries) and must therefore write
 * in a way that a retry of the same work is harmless (upserts, ids chosen before the write).
 */
import pg from 'pg';
import { StoreUnavailableError } from '../errors.ts';
import { withDeadline } from '../../core/index.ts';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export interface PoolOptions {
  /** Most connections the pool opens (default 10). */
  max?: number;
  /** How long opening a connection, or waiting for a free one, may take (default 5000 ms). */
  connectionTimeoutMs?: number;
  /**
   * PostgreSQL's statement_timeout for every statement of the pool (default 30000 ms); the client
   * gives up on an answer QUERY_TIMEOUT_MARGIN_MS after it (pg's query_timeout).
   */
  statementTimeoutMs?: number;
  /** A session idle inside a transaction longer than this is ended by the server (default 60000 ms). */
  idleInTransactionTimeoutMs?: number;
  /** How long an idle connection stays open (default 30000 ms). */
  idleTimeoutMs?: number;
  /** application_name of the sessions (default `opentrail`), as pg_stat_activity shows it. */
  applicationName?: string;
  /** Called with errors of idle connections (the database went away while nothing was asked). */
  onIdleError?: (err: Error) => void;
}

/** How much longer than statement_timeout the client waits for an answer before it gives up on the connection. */
export const QUERY_TIMEOUT_MARGIN_MS = 5_000;

/**
 * A statement that may legitimately outlast the client's query_timeout (waiting for a lock another
 * node holds, a migration: run with statement_timeout 0), as pg's query config without a client
 * limit (the longest timer Node has, ~24 days).
 */
export function untimed(text: string, values?: unknown[]): pg.QueryConfig {
  return { text, values, query_timeout: 2 ** 31 - 1 } as pg.QueryConfig;
}

/**
 * A pool on `url` (not connected yet: connections open on first use). Errors of idle connections
 * are handed to `onIdleError` (default: ignored) instead of crashing the process; the pool drops
 * such a connection and opens a new one when next asked.
 */
export function openPool(url: string, opts: PoolOptions = {}): Pool {
  const statementTimeoutMs = opts.statementTimeoutMs ?? 30_000;
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    connectionTimeoutMillis: opts.connectionTimeoutMs ?? 5000,
    idleTimeoutMillis: opts.idleTimeoutMs ?? 30_000,
    statement_timeout: statementTimeoutMs,
    // The client's own limit, a little above the server's: in a silent network partition the
    // server's statement_timeout never reaches us, and a query (and every append queued behind
    // it, and the lease renewals) would wait for TCP to give up (~15 min). pg then ends the
    // connection and rejects with "Query read timeout" (StoreUnavailableError).
    query_timeout: statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS,
    idle_in_transaction_session_timeout: opts.idleInTransactionTimeoutMs ?? 60_000,
    application_name: opts.applicationName ?? 'opentrail',
    // Acknowledged means committed and flushed: whatever the server's or the role's default is.
    options: '-c synchronous_commit=on',
    keepAlive: true,
    // Probes start after 10 s idle (not the OS default of 2 h): a dead peer is noticed in time.
    keepAliveInitialDelayMillis: 10_000,
  });
  pool.on('error', (err) => opts.onIdleError?.(err));
  return pool;
}

/** A start-up failure of the database, as one line that says what to fix (see `describeStartError`). */
export class PostgresStartError extends Error {
  override name = 'PostgresStartError';
}

/**
 * `openPool`, then one round trip to check that the database is there and answers; a failure
 * closes the pool and throws PostgresStartError with one clear line.
 */
export async function connectPool(url: string, opts: PoolOptions = {}): Promise<Pool> {
  let pool: Pool;
  try {
    pool = openPool(url, opts);
  } catch (err) {
    throw new PostgresStartError(describeStartError(err, url), { cause: err });
  }
  try {
    await pool.query('SELECT 1');
    return pool;
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new PostgresStartError(describeStartError(err, url), { cause: err });
  }
}

/** Query parameters of a database URL whose values are secrets: password, sslpassword, sslkey, any *password*, *secret*, *token* or *key*. */
const SECRET_PARAMETER = /password|secret|token|key/i;

/** `url` without its secrets (the userinfo password, and secret query parameters), for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    for (const name of new Set(u.searchParams.keys())) {
      if (SECRET_PARAMETER.test(name)) u.searchParams.set(name, '***');
    }
    return u.toString();
  } catch {
    return '(a database URL that does not parse)';
  }
}

function where(url: string): { at: string; user: string; database: string } {
  try {
    const u = new URL(url);
    return { at: `${u.hostname}:${u.port || '5432'}`, user: decodeURIComponent(u.username) || '(default user)', database: decodeURIComponent(u.pathname.slice(1)) || '(default database)' };
  } catch {
    return { at: '(unknown host)', user: '(unknown user)', database: '(unknown database)' };
  }
}

const codeOf = (err: unknown): string | undefined => {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
};
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * One line saying why the database could not be used at start and what to check: the URL does
 * not parse, nothing listens, the host is unknown, the password or user is wrong, the database
 * does not exist, the user lacks a privilege, the server is full or starting. Never the password.
 */
export function describeStartError(err: unknown, url: string): string {
  const w = where(url);
  const db = `PostgreSQL database ${w.database} at ${w.at}`;
  // The first error that names a cause: pg wraps connection timeouts in an Error with `cause`.
  let e: unknown = err;
  while (e instanceof Error && codeOf(e) === undefined && e.cause !== undefined) e = e.cause;
  const code = codeOf(e);
  const msg = messageOf(e).replace(/\s+/g, ' ');
  switch (code) {
    case 'ECONNREFUSED':
      return `cannot connect to ${db}: connection refused (is PostgreSQL running and listening on ${w.at}?)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot connect to ${db}: host ${w.at.replace(/:\d+$/, '')} not found`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `cannot connect to ${db}: ${code} (check the host, the port and the network between them)`;
    case '28P01':
      return `cannot connect to ${db}: password authentication failed for user ${w.user}`;
    case '28000':
      return `cannot connect to ${db}: user ${w.user} is not allowed to connect (${msg}; check the role and pg_hba.conf)`;
    case '3D000':
      return `cannot connect to ${db}: the database does not exist (create it: CREATE DATABASE ${w.database} OWNER ${w.user})`;
    case '42501':
      return `${db}: user ${w.user} lacks a privilege OpenTrail needs (${msg}); see docs/scale-out.md, "Privileges"`;
    case '53300':
      return `cannot connect to ${db}: the server has no connection left (${msg}); raise max_connections or lower the nodes' pool size`;
    case '57P03':
      return `cannot connect to ${db}: the server is starting or shutting down; try again`;
    default:
      break;
  }
  if (/timeout/i.test(msg)) return `cannot connect to ${db}: no answer within the connection timeout (check the host, the port and the network)`;
  if (code && /^[0-9A-Z]{5}$/.test(code)) return `${db}: ${msg} (SQLSTATE ${code})`;
  if (e instanceof TypeError || /invalid url|url/i.test(msg)) return `the database URL ${redactUrl(url)} is not valid: ${msg}`;
  return `cannot use ${db}: ${msg}${code ? ` (${code})` : ''}`;
}

/** Node network errors of a connection to the database. */
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED']);

/** pg's own errors for a connection that broke or could not be had in time. */
const PG_CONNECTION_MESSAGES = [
  'Connection terminated',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
  'timeout exceeded when trying to connect',
  'Query read timeout',
  'timeout expired',
];

/**
 * Why `err` is a failure of the database that passes by itself, or undefined when it is not:
 * - SQLSTATE class 08 (connection exception), 53 (insufficient resources: disk full, out of
 *   memory, too many connections), 58 (system error: I/O), 57P01-57P03 (admin shutdown, crash
 *   shutdown, cannot connect now), 57014 (statement_timeout: the server is too slow now),
 *   25006 (read-only transaction: a standby during a failover), 40001 / 40P01 (serialization
 *   failure, deadlock: the same work succeeds when tried again);
 * - a network error (ECONNREFUSED, ECONNRESET, ...), or pg's "Connection terminated ..." and
 *   pool timeouts.
 */
export function unavailableReason(err: unknown): string | undefined {
  const code = codeOf(err);
  if (code) {
    if (/^(08|53|58)/.test(code) || ['57P01', '57P02', '57P03', '57014', '25006', '40001', '40P01'].includes(code)) return `SQLSTATE ${code}`;
    if (NETWORK.has(code)) return code;
  }
  const msg = messageOf(err);
  if (err instanceof Error && PG_CONNECTION_MESSAGES.some((m) => msg.startsWith(m))) return msg;
  if (err instanceof Error && err.cause !== undefined && err.cause !== err) return unavailableReason(err.cause);
  return undefined;
}

/**
 * `err` as the stores report it: StoreUnavailableError naming the operation and the reason, with
 * `err` as its cause, when the database failed in a way that passes by itself; else `err`.
 */
export function storeFailure(err: unknown, operation: string): unknown {
  if (err instanceof StoreUnavailableError) return err;
  const reason = unavailableReason(err);
  if (!reason) return err;
  return new StoreUnavailableError(`PostgreSQL: ${operation} failed: ${reason} (${messageOf(err)})`, { cause: err });
}

export interface TransactionOptions {
  /**
   * false: this transaction's COMMIT returns before its WAL is flushed (SET LOCAL
   * synchronous_commit = off): for writes that may be lost in a crash of the database server
   * (never for an acknowledged event). Default true.
   */
  synchronousCommit?: boolean;
  isolation?: 'read committed' | 'repeatable read' | 'serializable';
  /** Named in error messages (default `transaction`). */
  operation?: string;
  /**
   * A statement without parameters sent in the same message as BEGIN (one round trip instead of
   * two); its rows (those of its last SELECT, when it is several statements) are `tx.first` for `fn`.
   */
  withBegin?: string;
}

/** What `fn` of withTransaction may use besides its connection. */
export interface TransactionContext {
  /** The rows of `TransactionOptions.withBegin`. */
  first: Record<string, unknown>[];
  /** A statement without parameters `fn` leaves to be sent in the same message as COMMIT. */
  beforeCommit?: string;
}

/**
 * Runs `fn` on a connection of the pool. A connection that breaks between statements emits
 * 'error' on its client; while it is checked out nothing else listens (an unheard 'error' would
 * end the process), so it is heard here, and a broken connection (or one `fn` marks broken) is
 * destroyed instead of given back.
 */
async function withConnection<T>(pool: Pool, operation: string, fn: (client: PoolClient, markBroken: (err: unknown) => void) => Promise<T>): Promise<T> {
  let client: PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw storeFailure(err, operation);
  }
  let broken: Error | undefined;
  const markBroken = (err: unknown) => {
    broken ??= err instanceof Error ? err : new Error(String(err));
  };
  client.on('error', markBroken);
  try {
    return await fn(client, markBroken);
  } finally {
    client.off('error', markBroken);
    client.release(broken);
  }
}

/**
 * Runs `fn` with one connection inside BEGIN ... COMMIT; rolls back when `fn` throws, or when the
 * statement sent with BEGIN (`withBegin`) or with COMMIT (`beforeCommit`) fails. A broken
 * connection is destroyed, not given back to the pool. Failures of the database reject with
 * StoreUnavailableError (see `storeFailure`); `fn`'s own errors are rethrown as they are.
 */
export async function withTransaction<T>(pool: Pool, fn: (client: PoolClient, tx: TransactionContext) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
  const operation = opts.operation ?? 'transaction';
  return withConnection(pool, operation, async (client, markBroken) => {
    let rolledBack = false;
    try {
      const begin = [`BEGIN${opts.isolation ? ` ISOLATION LEVEL ${opts.isolation.toUpperCase()}` : ''}`];
      if (opts.synchronousCommit === false) begin.push('SET LOCAL synchronous_commit = off');
      if (opts.withBegin) begin.push(opts.withBegin);
      const r = await client.query(begin.join('; ')) as pg.QueryResult | pg.QueryResult[];
      // The rows of withBegin's last SELECT (it may be several statements).
      const tx: TransactionContext = { first: opts.withBegin && Array.isArray(r) ? (r.findLast((x) => x.command === 'SELECT') ?? r.at(-1)!).rows : [] };
      let result: T;
      try {
        result = await fn(client, tx);
      } catch (err) {
        rolledBack = true;
        await client.query('ROLLBACK').catch(markBroken);
        throw err;
      }
      await client.query(tx.beforeCommit ? `${tx.beforeCommit}; COMMIT` : 'COMMIT');
      return result;
    } catch (err) {
      if (unavailableReason(err) && codeOf(err) !== '40001' && codeOf(err) !== '40P01') markBroken(err);
      else if (!rolledBack) {
        // The statement sent with BEGIN, or the one sent with COMMIT, failed: the transaction is
        // open and aborted (the rest of that message was skipped). It is rolled back before the
        // connection goes back to the pool (else the next borrower gets 25P02); if that fails the
        // connection is destroyed. (After a COMMIT that failed by itself, ROLLBACK only warns.)
        await client.query('ROLLBACK').catch(markBroken);
      }
      throw storeFailure(err, operation);
    }
  });
}

/** One statement on the pool (autocommit), with failures of the database as StoreUnavailableError. */
export async function query<R extends pg.QueryResultRow = Record<string, unknown>>(pool: Pool, text: string, values: unknown[] = [], operation = 'query'): Promise<pg.QueryResult<R>> {
  try {
    return await pool.query<R>(text, values);
  } catch (err) {
    throw storeFailure(err, operation);
  }
}

/** Whether the database answers now (for health checks): a round trip within `timeoutMs`. */
export async function ping(pool: Pool, timeoutMs = 2000): Promise<{ ok: true } | { ok: false; reason: string }> {
  try {
    await withDeadline(pool.query('SELECT 1'), timeoutMs);
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: unavailableReason(err) ?? messageOf(err) };
  }
}

/**
 * Runs `fn` while holding the session-level advisory lock `key` on a connection of its own: the
 * nodes of a deployment run such a section one at a time (first-start steps, work that must
 * happen once). The lock ends with its connection, so a node that dies while holding it frees it.
 */
export async function withAdvisoryLock<T>(pool: Pool, key: bigint, fn: () => Promise<T>, operation = 'advisory lock'): Promise<T> {
  return withConnection(pool, operation, async (client, markBroken) => {
    try {
      // No statement_timeout while waiting: another node may hold the lock for a while.
      await client.query('SET statement_timeout = 0');
      await client.query(untimed('SELECT pg_advisory_lock($1)', [key.toString()]));
      await client.query('RESET statement_timeout');
    } catch (err) {
      markBroken(err);
      throw storeFailure(err, operation);
    }
    try {
      return await fn();
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [key.toString()]).catch(markBroken);
    }
  });
}
