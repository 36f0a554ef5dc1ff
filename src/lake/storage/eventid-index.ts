/**
 * The eventID sidecar of a store's Parquet file: `<file>.parquet.eventids`, a Parquet file of the
 * file's eventIDs, sorted, in small row groups, so that DuckDB's min/max statistics of each group
 * tell at once whether the file can hold a given eventID (eventIDs are random UUIDs: the data
 * file's own statistics cannot). The writer makes it with each file and renames it into place
 * before the file, so a data file written since has its sidecar; a query of `WHERE eventID = ...`
 * reads only the files whose sidecar holds the id, and every file that has no sidecar
 * (src/lake/query/engine.ts). The name does not end in `.parquet`: readers of the store's glob
 * (`*.parquet`) never take a sidecar for data. Retention drops it with its partition.
 */
import type { DuckDBConnection } from '@duckdb/node-api';

export const EVENT_ID_INDEX_SUFFIX = '.eventids';
/** Rows per row group of a sidecar (each group's min and max eventID narrow a lookup to one group). */
const INDEX_ROW_GROUP_SIZE = 4096;

const sqlString = (s: string): string => `'${s.replaceAll("'", "''")}'`;

export const eventIdIndexPath = (parquetPath: string): string => `${parquetPath}${EVENT_ID_INDEX_SUFFIX}`;

/** Writes the sidecar of the Parquet file `parquetPath` to `indexPath`. */
export async function writeEventIdIndex(conn: DuckDBConnection, parquetPath: string, indexPath: string): Promise<void> {
  await conn.run(
    `COPY (SELECT "eventID" FROM read_parquet(${sqlString(parquetPath)}) WHERE "eventID" IS NOT NULL ORDER BY "eventID")\n` +
      `TO ${sqlString(indexPath)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${INDEX_ROW_GROUP_SIZE})`,
  );
}

/** Of `files` (data files that have a sidecar), those whose sidecar holds `eventId`. */
export async function filesHoldingEventId(conn: DuckDBConnection, files: readonly string[], eventId: string): Promise<Set<string>> {
  if (files.length === 0) return new Set();
  const r = await conn.runAndReadAll(
    `SELECT DISTINCT filename FROM read_parquet([${files.map((f) => sqlString(eventIdIndexPath(f))).join(', ')}], filename = true) WHERE "eventID" = $1`,
    [eventId],
  );
  return new Set(r.getRows().map(([f]) => String(f).slice(0, -EVENT_ID_INDEX_SUFFIX.length)));
}
