// `npm pack`'s prepack step: compiles src/ (tests and contract suites left out) to JavaScript in
// dist/, for the npm package. Node runs our TypeScript sources directly, but never under
// node_modules (ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING), which is where an installed package
// lives; bin/opentrail.js runs dist/ when src/ is not there (docs/install.md). postpack removes dist/.
//   node scripts/build-package.ts          build dist/
//   node scripts/build-package.ts --clean  remove it
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
if (process.argv.includes('--clean')) process.exit(0);

execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
// What the code reads at run time beside itself: the service models of the gateway.
cpSync(join(root, 'src/aws/protocol/models'), join(dist, 'aws/protocol/models'), { recursive: true });

// tsc rewrites the extensions of imports, not of module URLs built by hand (worker threads):
// `new URL('./x.ts', import.meta.url)` becomes './x.js'. Any other relative `.ts` string left
// in the output would fail at run time, so it fails the build.
const files = (dir: string): string[] => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : [join(dir, f)]));
const left: string[] = [];
for (const file of files(dist).filter((f) => f.endsWith('.js'))) {
  const text = readFileSync(file, 'utf8');
  const out = text.replace(/new URL\((['"`])(\.{1,2}\/[^'"`]+)\.ts\1, import\.meta\.url\)/g, 'new URL($1$2.js$1, import.meta.url)');
  if (out !== text) writeFileSync(file, out);
  for (const m of out.matchAll(/(['"`])\.{1,2}\/[^'"`\s]*\.ts\1/g)) left.push(`${relative(root, file)}: ${m[0]}`);
}
if (left.length > 0) {
  console.error(`dist/ still names TypeScript files at run time:\n${left.join('\n')}`);
  process.exit(1);
}
console.log(`dist/: ${files(dist).length} files`);
