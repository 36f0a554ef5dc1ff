#!/usr/bin/env node
// The package's `prepare` step (run by `npm install` and `npm ci` in a checkout, and before `npm
// pack`): builds the web console into console/dist with Vite (docs/console.md). Plain JavaScript,
// so that any Node runs it. Where the dev dependencies are not installed (`npm ci --omit=dev`, as
// the Dockerfile's dependency stage does) there is nothing to build with: it says so and succeeds;
// the server then answers /console/ with a page saying how to build it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const vite = join(root, 'node_modules', 'vite', 'bin', 'vite.js');
if (!existsSync(vite) || !existsSync(join(root, 'console', 'vite.config.ts'))) {
  console.log('build-console: Vite or the console sources are not here (dev dependencies not installed); the console is not built.');
  process.exit(0);
}
const started = Date.now();
const out = spawnSync(process.execPath, [vite, 'build', '--config', join(root, 'console', 'vite.config.ts')], { cwd: root, stdio: 'inherit' });
if (out.status !== 0) {
  console.error('build-console: the console build failed (see above).');
  process.exit(out.status ?? 1);
}
console.log(`build-console: console/dist built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
