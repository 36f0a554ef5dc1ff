/**
 * Holds the layer rule of docs/architecture.md: imports point down only, and drivers are picked
 * only by the composition roots (src/server.ts, src/cli).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const SRC = resolve(import.meta.dirname, '../src');

/** What each folder of src/ may import besides itself. */
const ALLOWED: Record<string, string[]> = {
  core: [],
  aws: ['core'],
  stores: ['core'],
  'stores/sqlite': ['core', 'stores'],
  ingest: ['core', 'stores'],
  history: ['core', 'aws', 'stores'],
  capture: ['core', 'aws', 'stores', 'ingest'],
  integrity: ['core', 'stores'],
  delivery: ['core', 'stores', 'integrity'],
  services: ['core', 'aws', 'ingest', 'history', 'stores', 'integrity'],
  http: ['core', 'aws', 'ingest', 'history', 'capture', 'services', 'stores', 'integrity'],
  config: ['core'],
};

function layerOf(file: string): string {
  const rel = relative(SRC, file);
  if (rel.startsWith('stores/sqlite/')) return 'stores/sqlite';
  return rel.includes('/') ? rel.split('/')[0]! : rel;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.suite.ts') ? [p] : [];
  });
}

test('src/ imports follow the layer rule', () => {
  const violations: string[] = [];
  for (const file of sources(SRC)) {
    const from = layerOf(file);
    const allowed = ALLOWED[from];
    if (!allowed) continue; // composition roots: server.ts, cli/
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"](\.[^'"]+)['"]/gm)) {
      const target = resolve(dirname(file), m[1]!);
      if (!target.startsWith(SRC)) continue;
      const to = layerOf(target);
      if (to !== from && !allowed.includes(to)) violations.push(`${relative(SRC, file)} imports ${relative(SRC, target)} (${from} -> ${to})`);
    }
  }
  assert.deepEqual(violations, []);
});

test('the layer checker sees a violation when there is one', () => {
  // core must not import anything else of src/: prove the matcher recognises such an import.
  const sample = "import { x } from '../stores/index.ts';";
  const m = /^\s*(?:import|export)\b[^'"]*?from\s+['"](\.[^'"]+)['"]/m.exec(sample);
  assert.equal(m?.[1], '../stores/index.ts');
  assert.equal(layerOf(resolve(SRC, 'core', m![1]!)), 'stores');
});
