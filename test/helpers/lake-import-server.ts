/** Starts lake-import-server-main.ts as a child process: a real server with a temp-folder LakeCatalog. */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { StartedServer } from './server.ts';

export interface LakeServerSpec {
  config: Record<string, unknown>;
  dataDir: string;
  /** The catalog's stores: ids the test chose. */
  stores: { accountId: string; storeId: string }[];
}

const MAIN = new URL('./lake-import-server-main.ts', import.meta.url).pathname;

/** The Lake root of a spec's server. */
export const lakeRootOf = (spec: LakeServerSpec): string => join(spec.dataDir, 'lake');

export function lakeStore(accountId: string): { accountId: string; storeId: string; arn: string } {
  const storeId = randomUUID();
  return { accountId, storeId, arn: `arn:aws:cloudtrail:us-east-1:${accountId}:eventdatastore/${storeId}` };
}

export async function startLakeServer(spec: LakeServerSpec): Promise<Pick<StartedServer, 'url' | 'dataDir' | 'process' | 'output' | 'stop' | 'kill'>> {
  const child = spawn(process.execPath, [MAIN, JSON.stringify({ ...spec, lakeRoot: lakeRootOf(spec) })], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 20_000);
    const onData = () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      resolve(m[1]!);
    };
    child.stdout.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${out}`));
    });
  });
  return {
    url, dataDir: spec.dataDir, process: child, output: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
