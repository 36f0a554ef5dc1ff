/**
 * What the Lake benches share (bench/lakequery.ts, bench/lakecompact.ts): an in-process server whose
 * Lake catalog is one store under a given root, an SDK client of its account, and a DuckDB beside it
 * for the floor (the same files read directly, with the same threads).
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import type { LakeCatalog, LakeStoreRef } from '../src/lake/catalog.ts';
import { defaultConfig, resolveConfig } from '../src/config/index.ts';
import { startServer } from '../src/server.ts';

export const LAKE_BENCH_ACCOUNT = '111111111111';
const IDENTITY = { type: 'IAMUser' as const, userName: 'alice', accessKeyId: 'AKIAALICEAAAAAAAAAAA', secretAccessKey: 'alice-secret' };

export interface LakeBenchServer {
  store: LakeStoreRef;
  ct: CloudTrailClient;
  floor: DuckDBConnection;
  close(): Promise<void>;
}

/** The server (queries on `threads` threads, 4 GB, one at a time) over the store `storeId` of `root`; `dataDir` must exist. */
export async function startLakeBenchServer(o: { root: string; storeId: string; dataDir: string; threads: number; config?: Record<string, unknown> }): Promise<LakeBenchServer> {
  const store: LakeStoreRef = { accountId: LAKE_BENCH_ACCOUNT, storeId: o.storeId, arn: `arn:aws:cloudtrail:us-east-1:${LAKE_BENCH_ACCOUNT}:eventdatastore/${o.storeId}`, status: 'ENABLED' };
  const catalog: LakeCatalog = { root: o.root, resolve: (a, region, id) => Promise.resolve(a === LAKE_BENCH_ACCOUNT && region === 'us-east-1' && (id === o.storeId || id === store.arn) ? store : undefined) };
  const config = resolveConfig({
    dataDir: o.dataDir, port: 0, logLevel: 'silent', accounts: [{ id: LAKE_BENCH_ACCOUNT, identities: [IDENTITY] }],
    lakeQueries: { maxConcurrent: 1, timeoutMs: 600_000, memoryLimit: '4GB', threads: o.threads },
    ...o.config,
  }, defaultConfig(), new Date().toISOString());
  const server = await startServer(config, { lakeCatalog: catalog, logError: () => undefined });
  const ct = new CloudTrailClient({ endpoint: server.url, region: 'us-east-1', credentials: IDENTITY, maxAttempts: 1 });
  const floorDb = await DuckDBInstance.create(':memory:', { threads: String(o.threads), memory_limit: '4GB' });
  const floor = await floorDb.connect();
  return {
    store, ct, floor,
    close: async () => {
      floor.closeSync();
      floorDb.closeSync();
      ct.destroy();
      await server.close();
    },
  };
}
