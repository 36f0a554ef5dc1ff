/**
 * How a point query (`WHERE eventID = '...'`, src/lake/sql/point-lookup.ts) reads the files of its
 * store that can hold the id: the relation the statement sees as that store.
 *
 * Two things make it cheap, neither changing a row:
 *
 * - **The matched row group only.** When the file's eventID sidecar knows the eventTimes of the
 *   rows with that id (format 2, src/lake/storage/eventid-index.ts), the read also asks for
 *   `eventTime BETWEEN` their least and greatest: every row with the id passes it, and DuckDB skips
 *   each row group whose eventTime statistics exclude that range (the writer's row groups cover
 *   narrow windows of time), instead of reading the eventID column of all of them.
 * - **One column decoded, not all.** A row's columns are all derived from its `eventJson` by the
 *   one writer (`lakeRowsSql`, src/lake/schema.ts): reading that one column of the matched row
 *   group and deriving the rest again costs a fraction of decoding every nested column of 8,192
 *   rows (docs/performance.md, "Issue 13: Lake queries, third round"). This is done only for a
 *   file whose columns are exactly the store's (`LAKE_COLUMNS`, names and types; checked once per
 *   file); any other file, and every file without a sidecar, is read as it is.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { duckType, LAKE_COLUMNS, lakeRowsSql } from '../schema.ts';
import type { EventIdHit } from '../storage/eventid-index.ts';

/** A file of the store a point query may read, with what its sidecar said (absent: it has none). */
export interface PointFile {
  readonly path: string;
  readonly bytes: number;
  readonly mtimeMs: number;
  readonly hit?: EventIdHit | undefined;
}

const sqlString = (s: string): string => `'${s.replaceAll("'", "''")}'`;

/** A relation with the stores' columns and no row: a store without files yet. */
export const EMPTY_STORE_SQL = `SELECT ${Object.entries(LAKE_COLUMNS).map(([k, t]) => `CAST(NULL AS ${duckType(t)}) AS "${k}"`).join(', ')} WHERE false`;

/** Files remembered as having (or not) exactly the store's columns, at most. */
const MAX_REMEMBERED = 100_000;

export class PointReader {
  /** The store's columns as DuckDB describes them (name and type, in order), once known. */
  private expected?: string;
  private readonly lakeSchema = new Map<string, boolean>();

  /** The SELECT whose rows are those of `files` with this eventID (and possibly others: the statement's WHERE still applies). */
  async storeSql(conn: DuckDBConnection, files: readonly PointFile[], eventId: string): Promise<string> {
    if (files.length === 0) return EMPTY_STORE_SQL;
    const id = `"eventID" = ${sqlString(eventId)}`;
    const parts: string[] = [];
    const unindexed = files.filter((f) => !f.hit);
    if (unindexed.length > 0) parts.push(`SELECT * FROM read_parquet([${unindexed.map((f) => sqlString(f.path)).join(', ')}], hive_partitioning = false, union_by_name = true) WHERE ${id}`);
    for (const f of files) {
      if (!f.hit) continue;
      const t = f.hit.times;
      const where = t ? `${id} AND "eventTime" BETWEEN TIMESTAMP ${sqlString(t.min)} AND TIMESTAMP ${sqlString(t.max)}` : id;
      const file = `read_parquet([${sqlString(f.path)}], hive_partitioning = false)`;
      parts.push(await this.hasLakeSchema(conn, f) ? lakeRowsSql(`(SELECT "eventJson" AS json FROM ${file} WHERE ${where})`) : `SELECT * FROM ${file} WHERE ${where}`);
    }
    return parts.map((p) => `(${p})`).join(' UNION ALL BY NAME ');
  }

  private async hasLakeSchema(conn: DuckDBConnection, f: PointFile): Promise<boolean> {
    const key = `${f.path}|${f.bytes}|${f.mtimeMs}`;
    const known = this.lakeSchema.get(key);
    if (known !== undefined) return known;
    this.expected ??= await columnsOf(conn, EMPTY_STORE_SQL);
    const ok = (await columnsOf(conn, `SELECT * FROM read_parquet([${sqlString(f.path)}], hive_partitioning = false)`)) === this.expected;
    if (this.lakeSchema.size >= MAX_REMEMBERED) this.lakeSchema.clear();
    this.lakeSchema.set(key, ok);
    return ok;
  }
}

async function columnsOf(conn: DuckDBConnection, sql: string): Promise<string> {
  const r = await conn.runAndReadAll(`DESCRIBE ${sql}`);
  return JSON.stringify(r.getRowObjectsJson().map((c) => [c.column_name, c.column_type]));
}
