/**
 * A real OpenTrail server (src/server.ts, HTTP on a free port) whose CloudTrail Lake stores come
 * from a `TestLakeCatalog`: for import tests before (or without) the event data store control
 * plane. Run as a child process by lake-import-server.ts, so a test can kill -9 it.
 *
 *   node lake-import-server-main.ts '{"config":{...},"dataDir":"...","lakeRoot":"...","stores":[{"accountId":"...","storeId":"..."}]}'
 */
import { defaultConfig, resolveConfig } from '../../src/config/index.ts';
import { startServer } from '../../src/server.ts';
import { TestLakeCatalog } from './lake.ts';

interface Spec {
  config: Record<string, unknown>;
  dataDir: string;
  lakeRoot: string;
  stores: { accountId: string; storeId: string }[];
}

const spec = JSON.parse(process.argv[2]!) as Spec;
const catalog = new TestLakeCatalog(spec.lakeRoot);
for (const s of spec.stores) catalog.add(s.accountId, { storeId: s.storeId });
const config = resolveConfig({ logLevel: 'warn', ...spec.config, dataDir: spec.dataDir, host: '127.0.0.1', port: 0 }, defaultConfig(), new Date().toISOString());
const server = await startServer(config, { lakeCatalog: catalog, logError: (m, e) => console.error(m, e) });
console.log(`listening on ${server.url}`);
process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
