/**
 * ControlStore on PostgreSQL: one table of JSON documents, `control_documents`.
 *
 *   account  text   the account a document belongs to, derived from its key (`accountOfKey`):
 *                   the distribution column for Citus (docs/scale-out.md), '' for documents of
 *                   the deployment (signing keys, ...)
 *   kind     bytea  the kind's text as UTF-8 (WTF-8: see `encodeText`)
 *   key      bytea  the key's text, likewise: any text round trips (NUL, lone surrogates), and
 *                   bytes order as code points, as SQLite's BINARY collation orders UTF-8 text
 *   doc      text   JSON.stringify of the document, byte for byte as it was written
 *   PRIMARY KEY (account, kind, key), and an index on (kind, key) for lists that name no account.
 *
 * Every write is one statement or one transaction, committed with synchronous_commit on before it
 * resolves; failures of the database reject with StoreUnavailableError (db.ts). A fenced write
 * checks its lease (`opentrail_leases`) in the same statement (`fencedStatement`, pg-lease-store.ts).
 */
import type { ControlStore, PutManyOptions } from '../control-store.ts';
import { LeaseLostError, type WriteOptions } from '../lease-store.ts';
import { fenceHeld, fencedStatement } from './pg-lease-store.ts';
import { openPool, query, storeFailure, withTransaction, type Pool, type PoolOptions } from './db.ts';
import { migrate } from './migrations.ts';

/** The control store's schema, by version (append-only: see migrations.ts). */
export const CONTROL_MIGRATIONS: string[] = [
  `CREATE TABLE control_documents (
     account text NOT NULL,
     kind bytea NOT NULL,
     key bytea NOT NULL,
     doc text NOT NULL,
     PRIMARY KEY (account, kind, key)
   );
   CREATE INDEX control_documents_kind_key ON control_documents (kind, key)`,
];

const ACCOUNT_KEY = /^(\d{12})(?:\/|$)/;
const ARN_KEY = /^arn:[^:]*:[^:]*:[^:]*:(\d{12})(?::|$)/;

/**
 * The account a key belongs to: its first segment when the key is `<12 digits>/...` (trails,
 * channels), the account field of an ARN key (`arn:aws:cloudtrail:REGION:ACCOUNT:trail/...`:
 * delivery state, delivered files), else '' (the deployment's own documents).
 */
export function accountOfKey(key: string): string {
  return ACCOUNT_KEY.exec(key)?.[1] ?? ARN_KEY.exec(key)?.[1] ?? '';
}

/** The account every key starting with `prefix` belongs to, when the prefix decides it. */
export function accountOfPrefix(prefix: string): string | undefined {
  const a = /^(\d{12})\//.exec(prefix) ?? /^arn:[^:]*:[^:]*:[^:]*:(\d{12}):/.exec(prefix);
  return a?.[1];
}

/**
 * Text as WTF-8: UTF-8, with a lone surrogate encoded as the three bytes UTF-8 would give its code
 * point. Well-formed text (nearly always) is plain UTF-8. Byte order is code point order.
 */
export function encodeText(s: string): Buffer {
  if (s.isWellFormed()) return Buffer.from(s, 'utf8');
  const parts: Buffer[] = [];
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    parts.push(cp >= 0xd800 && cp <= 0xdfff ? Buffer.from([0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)]) : Buffer.from(ch, 'utf8'));
  }
  return Buffer.concat(parts);
}

/** The inverse of encodeText. In UTF-8, 0xED is always a lead byte; followed by 0xA0-0xBF it is a surrogate. */
export function decodeText(b: Buffer): string {
  let out = '';
  let from = 0;
  for (let i = b.indexOf(0xed); i !== -1 && i + 2 < b.length; i = b.indexOf(0xed, i + 1)) {
    if (b[i + 1]! < 0xa0) continue;
    out += b.toString('utf8', from, i) + String.fromCharCode(((b[i]! & 0x0f) << 12) | ((b[i + 1]! & 0x3f) << 6) | (b[i + 2]! & 0x3f));
    from = i + 3;
    i += 2;
  }
  return out + b.toString('utf8', from);
}

/** The smallest byte string greater than every string starting with `p` (UTF-8 has no 0xFF byte). */
function afterPrefix(p: Buffer): Buffer {
  const next = Buffer.from(p);
  next[next.length - 1]! += 1;
  return next;
}

function jsonOf(kind: string, key: string, doc: unknown): string {
  const text = JSON.stringify(doc) as string | undefined;
  if (text === undefined) throw new TypeError(`control document ${kind}/${key} is not JSON (${typeof doc})`);
  return text;
}

export class PgControlStore implements ControlStore {
  private readonly pool: Pool;
  private readonly ownsPool: boolean;
  private closed = false;

  private constructor(pool: Pool, ownsPool: boolean) {
    this.pool = pool;
    this.ownsPool = ownsPool;
  }

  /**
   * The store on `pool` (which stays the caller's to end) or on a pool of its own opened from a
   * URL (ended by close); migrates the schema first (migrations.ts).
   */
  static async open(db: Pool | string, poolOptions: PoolOptions = {}): Promise<PgControlStore> {
    const owns = typeof db === 'string';
    const pool = typeof db === 'string' ? openPool(db, { max: 4, ...poolOptions }) : db;
    try {
      await migrate(pool, 'control', CONTROL_MIGRATIONS);
    } catch (e) {
      if (owns) await pool.end().catch(() => undefined);
      throw e;
    }
    return new PgControlStore(pool, owns);
  }

  async get<T>(kind: string, key: string): Promise<T | undefined> {
    const r = await query<{ doc: string }>(this.pool, 'SELECT doc FROM control_documents WHERE account = $1 AND kind = $2 AND key = $3', [accountOfKey(key), encodeText(kind), encodeText(key)], 'control get');
    const row = r.rows[0];
    return row ? (JSON.parse(row.doc) as T) : undefined;
  }

  async put(kind: string, key: string, doc: unknown, opts: WriteOptions = {}): Promise<void> {
    const text = jsonOf(kind, key, doc);
    if (opts.fence) {
      await fencedStatement(this.pool, opts.fence, 'INSERT INTO control_documents(account, kind, key, doc) SELECT $1::text, $2::bytea, $3::bytea, $4::text WHERE EXISTS (SELECT 1 FROM fence) ON CONFLICT (account, kind, key) DO UPDATE SET doc = excluded.doc RETURNING 1', [accountOfKey(key), encodeText(kind), encodeText(key), text], 'control put');
      return;
    }
    await query(this.pool, 'INSERT INTO control_documents(account, kind, key, doc) VALUES ($1, $2, $3, $4) ON CONFLICT (account, kind, key) DO UPDATE SET doc = excluded.doc', [accountOfKey(key), encodeText(kind), encodeText(key), text], 'control put');
  }

  async putMany(docs: { kind: string; key: string; doc: unknown }[], opts: PutManyOptions = {}): Promise<void> {
    // Serialised before anything is sent: a document that is not JSON stores none of them. A key
    // given twice keeps its last document, as the same puts one after another would.
    const rows = new Map<string, [string, Buffer, Buffer, string]>();
    for (const d of docs) rows.set(JSON.stringify([d.kind, d.key]), [accountOfKey(d.key), encodeText(d.kind), encodeText(d.key), jsonOf(d.kind, d.key, d.doc)]);
    const deletes = opts.deletes ?? [];
    if (deletes.length > 0) {
      // Deletes and puts in one transaction, after the fence is checked (its lease row locked FOR
      // SHARE until the commit, as fencedStatement does).
      const cols = [...rows.values()];
      await withTransaction(this.pool, async (c) => {
        if (opts.fence && !(await fenceHeld(c, opts.fence))) throw new LeaseLostError(opts.fence);
        await c.query(
          'DELETE FROM control_documents d USING unnest($1::text[], $2::bytea[], $3::bytea[]) AS x(account, kind, key) WHERE d.account = x.account AND d.kind = x.kind AND d.key = x.key',
          [deletes.map((d) => accountOfKey(d.key)), deletes.map((d) => encodeText(d.kind)), deletes.map((d) => encodeText(d.key))],
        );
        if (cols.length > 0) {
          await c.query('INSERT INTO control_documents(account, kind, key, doc) SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::text[]) ON CONFLICT (account, kind, key) DO UPDATE SET doc = excluded.doc',
            [cols.map((r) => r[0]), cols.map((r) => r[1]), cols.map((r) => r[2]), cols.map((r) => r[3])]);
        }
      }, { operation: 'control putMany' });
    } else if (rows.size > 0) {
      const cols = [...rows.values()];
      const columns = [cols.map((r) => r[0]), cols.map((r) => r[1]), cols.map((r) => r[2]), cols.map((r) => r[3])];
      const upsert = 'INSERT INTO control_documents(account, kind, key, doc) SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::text[])';
      const onConflict = 'ON CONFLICT (account, kind, key) DO UPDATE SET doc = excluded.doc';
      if (opts.fence) {
        await fencedStatement(this.pool, opts.fence, `${upsert} WHERE EXISTS (SELECT 1 FROM fence) ${onConflict} RETURNING 1`, columns, 'control putMany');
      } else {
        await withTransaction(this.pool, async (c) => {
          await c.query(`${upsert} ${onConflict}`, columns);
        }, { operation: 'control putMany' });
      }
    }
    if (opts.eraseReplaced) await this.eraseReplaced();
  }

  /**
   * What PostgreSQL can do to forget replaced documents: VACUUM FULL rewrites the table (and its
   * TOAST table) into new files holding only the live rows and drops the old files (truncated at
   * commit, unlinked at the next checkpoint). The old row versions stay in WAL segments until
   * they are recycled, and in WAL archives, replicas' and backups' copies: docs/storage.md.
   */
  private async eraseReplaced(): Promise<void> {
    try {
      await this.pool.query('VACUUM FULL control_documents');
    } catch (err) {
      throw storeFailure(err, 'control putMany (erase)');
    }
  }

  async delete(kind: string, key: string, opts: WriteOptions = {}): Promise<boolean> {
    if (opts.fence) return (await fencedStatement(this.pool, opts.fence, 'DELETE FROM control_documents WHERE account = $1 AND kind = $2 AND key = $3 AND EXISTS (SELECT 1 FROM fence) RETURNING 1', [accountOfKey(key), encodeText(kind), encodeText(key)], 'control delete')) > 0;
    const r = await query(this.pool, 'DELETE FROM control_documents WHERE account = $1 AND kind = $2 AND key = $3', [accountOfKey(key), encodeText(kind), encodeText(key)], 'control delete');
    return (r.rowCount ?? 0) > 0;
  }

  async list<T>(kind: string, keyPrefix: string): Promise<{ key: string; doc: T }[]> {
    const where = ['kind = $1'];
    const values: unknown[] = [encodeText(kind)];
    const account = accountOfPrefix(keyPrefix);
    if (account !== undefined) {
      values.push(account);
      where.push(`account = $${values.length}`);
    }
    if (keyPrefix !== '') {
      const p = encodeText(keyPrefix);
      values.push(p, afterPrefix(p));
      where.push(`key >= $${values.length - 1}`, `key < $${values.length}`);
    }
    const r = await query<{ key: Buffer; doc: string }>(this.pool, `SELECT key, doc FROM control_documents WHERE ${where.join(' AND ')} ORDER BY key`, values, 'control list');
    return r.rows.map((row) => ({ key: decodeText(row.key), doc: JSON.parse(row.doc) as T }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsPool) await this.pool.end();
  }
}
