/**
 * Keeps the linter of `npm test` able to fail (docs/linting.md): the project's own ESLint config,
 * run on small fixtures, rejects a dropped promise, a promise used as a condition and an unused
 * import, and passes the same code written properly. Also checks that `tsc` is TypeScript 7 while
 * `typescript` (what typescript-eslint loads) is the TypeScript 6 JS API: both packages ship a
 * `tsc` binary, and only the install layout decides which one npm scripts run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const ESLINT = join(ROOT, 'node_modules/eslint/bin/eslint.js');

interface Message { ruleId: string | null; line: number; message: string }
interface Result { filePath: string; messages: Message[] }

/** Lints `files` (name to source) in a fresh project that uses the repository's ESLint config. */
async function lint(files: Record<string, string>): Promise<{ code: number; messages: Record<string, Message[]> }> {
  const dir = mkdtempSync(join(tmpdir(), 'opentrail-lint-'));
  try {
    const config = pathToFileURL(join(ROOT, 'eslint.config.js')).href;
    writeFileSync(join(dir, 'eslint.config.js'), `export { default } from ${JSON.stringify(config)};\n`);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      extends: join(ROOT, 'tsconfig.json'),
      compilerOptions: { typeRoots: [join(ROOT, 'node_modules/@types')] },
      include: ['*.ts'],
    }));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    let code = 0;
    let stdout: string;
    try {
      ({ stdout } = await run(process.execPath, [ESLINT, '--format', 'json', ...Object.keys(files)], { cwd: dir }));
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      if (typeof err.code !== 'number' || err.code !== 1) throw e; // 2 is a crash of ESLint itself
      code = err.code;
      stdout = err.stdout ?? '';
    }
    const results = JSON.parse(stdout) as Result[];
    return { code, messages: Object.fromEntries(results.map((r) => [relative(dir, r.filePath), r.messages])) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const BAD = `import { readFile, writeFile } from 'node:fs/promises';

export function save(path: string, text: string): void {
  writeFile(path, text);
}

export async function has(path: string): Promise<boolean> {
  const pending = Promise.resolve(path.length);
  if (pending) return true;
  return false;
}
`;

const GOOD = `import { writeFile } from 'node:fs/promises';

export async function save(path: string, text: string): Promise<void> {
  await writeFile(path, text);
}

export async function has(path: string): Promise<boolean> {
  const pending = Promise.resolve(path.length);
  if ((await pending) > 0) return true;
  return false;
}
`;

test('the linter fails on a dropped promise, a promise as a condition and an unused import, and passes them fixed', async () => {
  const { code, messages } = await lint({ 'bad.ts': BAD, 'good.ts': GOOD });
  assert.equal(code, 1, JSON.stringify(messages));
  assert.deepEqual(messages['bad.ts']?.map((m) => `${m.line} ${m.ruleId}`).sort(), [
    '1 @typescript-eslint/no-unused-vars',
    '4 @typescript-eslint/no-floating-promises',
    '9 @typescript-eslint/no-misused-promises',
  ], JSON.stringify(messages));
  assert.deepEqual(messages['good.ts'], []);
});

test('tsc is TypeScript 7; the typescript package typescript-eslint loads is TypeScript 6', async () => {
  const { stdout } = await run(process.execPath, [join(ROOT, 'node_modules/.bin/tsc'), '--version']);
  assert.match(stdout, /^Version 7\./);
  const fromEstree = createRequire(createRequire(join(ROOT, 'package.json')).resolve('@typescript-eslint/typescript-estree'));
  const ts = fromEstree('typescript') as { version: string };
  assert.match(ts.version, /^6\./);
});
