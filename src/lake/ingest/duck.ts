/**
 * The DuckDB that Lake ingestion writes its files with: made on first use (a server without event
 * data stores never loads it), in memory, with bounded memory and threads so that writing a batch
 * never crowds out the API (DuckDB runs its work on its own threads, off the event loop).
 */
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';

export interface LazyDuckDB {
  connection(): Promise<DuckDBConnection>;
  close(): void;
}

export function lazyDuckDB(settings: Record<string, string> = { memory_limit: '512MB', threads: '2' }): LazyDuckDB {
  let instance: DuckDBInstance | undefined;
  let conn: Promise<DuckDBConnection> | undefined;
  return {
    connection: () =>
      (conn ??= (async () => {
        // Loaded here, not at start: the native engine is large, and a server without stores never needs it.
        const { DuckDBInstance: Instance } = await import('@duckdb/node-api');
        instance = await Instance.create(':memory:', settings);
        return instance.connect();
      })()),
    close: () => {
      const c = conn;
      conn = undefined;
      void c?.then((x) => x.closeSync(), () => undefined).finally(() => instance?.closeSync());
    },
  };
}
