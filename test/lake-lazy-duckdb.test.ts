/**
 * A server start does not load DuckDB's native engine: Lake ingestion, queries and imports load it
 * when first used. Checked in a child process (a fresh module graph) by the shared objects mapped
 * into it (/proc/self/maps, Linux).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { tempDir } from './helpers/server.ts';

const CHILD = `
import { readFileSync } from 'node:fs';
import { defaultConfig, resolveConfig } from './src/config/index.ts';
import { startServer } from './src/server.ts';
const config = resolveConfig({ dataDir: process.argv[1], port: 0, logLevel: 'silent' }, defaultConfig(), new Date().toISOString());
const server = await startServer(config, { logError: () => undefined });
const res = await fetch(server.url + '/');
await res.arrayBuffer();
const loaded = readFileSync('/proc/self/maps', 'utf8').split('\\n').some((l) => /duckdb[^/]*\\.node$|libduckdb/i.test(l));
await server.close();
console.log(JSON.stringify({ loaded }));
`;

test('a server start (and a request) does not load the DuckDB native engine', { skip: !existsSync('/proc/self/maps') && 'no /proc/self/maps' }, async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', CHILD, tempDir('lazy-engine-')], { cwd: new URL('..', import.meta.url).pathname });
  assert.deepEqual(JSON.parse(stdout.trim().split('\n').at(-1)!), { loaded: false });
});
