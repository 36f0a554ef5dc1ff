/** Starts lake-import-server-main.ts as a child process: a real server with a temp-folder LakeCatalog. */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { startServer, type StartedServer } from './server.ts';

export interface LakeServerSpec {
  config: Record<string, unknown>;
  dataDir: string;
  /** The catalog's stores: ids the test chose. */
  stores: { accountId: string; storeId: string }[];
}

const MAIN = new URL('./lake-import-server-main.ts', import.meta.url).pathname;

export function lakeStore(accountId: string): { accountId: string; storeId: string; arn: string } {
  const storeId = randomUUID();
  return { accountId, storeId, arn: `arn:aws:cloudtrail:us-east-1:${accountId}:eventdatastore/${storeId}` };
}

/** The server of `spec`; its Lake root is `<dataDir>/lake`. */
export function startLakeServer(spec: LakeServerSpec): Promise<StartedServer> {
  return startServer({ accounts: [] }, { dataDir: spec.dataDir, argv: [MAIN, JSON.stringify({ ...spec, lakeRoot: join(spec.dataDir, 'lake') })] });
}
