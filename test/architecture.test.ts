/**
 * Holds the layer rule of docs/architecture.md: imports point down only, and drivers are picked
 * only by the composition roots (src/server.ts, src/cli).
 *
 * Every folder under src/stores/ is a driver folder (sqlite, fs, s3, http, kms, and any new one):
 * it may import core and stores (the interfaces), never another driver and never a layer above.
 * No list of drivers is kept here: a file's driver is the folder it lives in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const SRC = resolve(import.meta.dirname, '../src');

/** What each layer of src/ may import besides itself. */
const ALLOWED: Record<string, string[]> = {
  core: [],
  aws: ['core'],
  stores: ['core'],
  ingest: ['core', 'stores'],
  history: ['core', 'aws', 'stores'],
  capture: ['core', 'aws', 'stores', 'ingest'],
  integrity: ['core', 'stores'],
  delivery: ['core', 'stores', 'integrity'],
  lake: ['core', 'stores'],
  services: ['core', 'aws', 'ingest', 'history', 'stores', 'integrity', 'lake'],
  http: ['core', 'aws', 'ingest', 'history', 'capture', 'services', 'stores', 'integrity'],
  config: ['core'],
  observability: ['core', 'stores', 'ingest', 'delivery'],
};
/** What a driver folder (`stores/<driver>`) may import besides itself: the interfaces and core. */
const DRIVER_ALLOWED = ['core', 'stores'];

/** The layer of a file of src/: its top folder, or `stores/<driver>` for a file in a driver folder. */
function layerOf(file: string): string {
  const parts = relative(SRC, file).split(sep);
  if (parts[0] === 'stores' && parts.length > 2) return `stores/${parts[1]}`;
  return parts.length > 1 ? parts[0]! : parts.join('/');
}

function allowedFor(layer: string): string[] | undefined {
  return layer.startsWith('stores/') ? DRIVER_ALLOWED : ALLOWED[layer];
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.suite.ts') ? [p] : [];
  });
}

/** Relative specifiers a source imports: `import ... from`, `export ... from`, `import '...'`, `import('...')`. */
function importsOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"](\.[^'"]+)['"]/gm)) out.push(m[1]!);
  for (const m of text.matchAll(/^\s*import\s+['"](\.[^'"]+)['"]/gm)) out.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}

/** The layer rule's violations in one source file of src/ (its path and text). */
function violationsIn(file: string, text: string): string[] {
  const from = layerOf(file);
  const allowed = allowedFor(from);
  if (!allowed) return []; // composition roots: server.ts, cli/
  const out: string[] = [];
  for (const spec of importsOf(text)) {
    const target = resolve(dirname(file), spec);
    if (!target.startsWith(SRC + sep)) continue;
    const to = layerOf(target);
    if (to !== from && !allowed.includes(to)) out.push(`${relative(SRC, file)} imports ${relative(SRC, target)} (${from} -> ${to})`);
  }
  return out;
}

test('src/ imports follow the layer rule', () => {
  const violations = sources(SRC).flatMap((file) => violationsIn(file, readFileSync(file, 'utf8')));
  assert.deepEqual(violations, []);
});

test('every folder under src/stores is a driver folder held to the driver rule', () => {
  const drivers = readdirSync(join(SRC, 'stores'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  assert.ok(drivers.length > 0, 'src/stores has driver folders');
  for (const d of drivers) {
    const files = sources(join(SRC, 'stores', d));
    assert.ok(files.length > 0, `stores/${d} has sources the rule checks`);
    for (const f of files) assert.equal(layerOf(f), `stores/${d}`, relative(SRC, f));
    assert.deepEqual(allowedFor(`stores/${d}`), DRIVER_ALLOWED);
  }
});

test('the layer checker sees a violation when there is one', () => {
  const at = (path: string) => join(SRC, ...path.split('/'));
  // core must not import anything else of src/.
  assert.deepEqual(violationsIn(at('core/x.ts'), "import { x } from '../stores/index.ts';"), ['core/x.ts imports stores/index.ts (core -> stores)']);
  // A layer above must not pick a driver, whichever driver folder it is (a new one included).
  for (const driver of ['sqlite', 's3', 'fs', 'http', 'kms', 'some-new-driver']) {
    assert.equal(violationsIn(at('delivery/x.ts'), `import type { X } from '../stores/${driver}/x.ts';`).length, 1, driver);
    assert.equal(violationsIn(at('services/cloudtrail/x.ts'), `export * from '../../stores/${driver}/index.ts';`).length, 1, driver);
  }
  // A driver must not import another driver (in a folder it has not seen before too), nor a layer above.
  assert.deepEqual(violationsIn(at('stores/fs/x.ts'), "import { S3ObjectStore } from '../s3/s3-object-store.ts';"), ['stores/fs/x.ts imports stores/s3/s3-object-store.ts (stores/fs -> stores/s3)']);
  assert.equal(violationsIn(at('stores/some-new-driver/x.ts'), "import {\n  a,\n  b,\n} from '../sqlite/index.ts';").length, 1);
  assert.equal(violationsIn(at('stores/s3/x.ts'), "import '../../delivery/worker.ts';").length, 1);
  assert.equal(violationsIn(at('stores/kms/x.ts'), "type T = import('../../http/app.ts').App;").length, 1);
  // ... while the interfaces, core and its own folder are fine, and composition roots pick drivers.
  assert.deepEqual(violationsIn(at('stores/some-new-driver/x.ts'), "import { a } from '../object-store.ts';\nimport { b } from '../../core/time.ts';\nimport { c } from './y.ts';"), []);
  assert.deepEqual(violationsIn(at('server.ts'), "import { FsObjectStore } from './stores/fs/index.ts';"), []);
  assert.deepEqual(violationsIn(at('cli/x.ts'), "import { S3BucketReader } from '../stores/s3/s3-bucket-reader.ts';"), []);
});
