/**
 * Where an event data store's files live, relative to the Lake root (`<dataDir>/lake`, or a prefix
 * of the object store): one folder per store, Hive-style partitions by the event's UTC day, and
 * files named so that a writer can tell which events a file holds.
 *
 *   <accountId>/<storeId>/eventDate=YYYY-MM-DD/<name>.parquet
 *
 * `storeId` is the UUID at the end of the store's ARN. Retention deletes whole `eventDate=` folders.
 * Readers must not count `eventDate` as a column of the store (read with hive_partitioning off, or
 * drop it from the select list).
 */
export function storeDir(accountId: string, storeId: string): string {
  return `${accountId}/${storeId}`;
}

export function partitionDir(accountId: string, storeId: string, eventDate: string): string {
  return `${storeDir(accountId, storeId)}/eventDate=${eventDate}`;
}

/** Every Parquet file of a store, as a glob below the Lake root. */
export function storeGlob(accountId: string, storeId: string): string {
  return `${storeDir(accountId, storeId)}/eventDate=*/*.parquet`;
}

/**
 * Rows per Parquet row group of a store's files (the writer's `ROW_GROUP_SIZE`; DuckDB's default is
 * 122,880). A query that matches a few rows (`WHERE eventID = ...`) decodes every selected column
 * of each row group it matches, so smaller groups make point queries cheaper; 8,192 keeps the
 * per-group overhead of full scans (GROUP BY) small. Measured in docs/performance.md, "Issue 13:
 * Lake queries, second round".
 */
export const LAKE_ROW_GROUP_SIZE = 8_192;
