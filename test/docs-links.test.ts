/**
 * Every link a reader can follow resolves: markdown links (and their #anchors) and the repository
 * paths named in README.md and docs/ (docs/x.md, src/..., test/...), and the docs that
 * `opentrail --help` texts point to. docs/configuration.md names every config key and Region.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { defaultConfig } from '../src/config/index.ts';
import { AWS_REGIONS } from '../src/core/index.ts';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin/opentrail.js');

function markdownFiles(): string[] {
  const docs = (dir: string): string[] => readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? docs(p) : e.name.endsWith('.md') ? [p] : [];
  });
  return ['README.md', ...docs('docs')];
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const m of markdown.matchAll(/^#{1,6}\s+(.+)$/gm)) out.add(m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-'));
  for (const m of markdown.matchAll(/<a name="([^"]+)"/g)) out.add(m[1]!);
  return out;
}

/**
 * The broken links and path mentions of one markdown text (`file` relative to `root`). A path git
 * ignores (`bench/out/...`: what a command writes) is output, not a link.
 */
export function brokenLinks(root: string, file: string, text: string, read: (path: string) => string | undefined, ignored: (path: string) => boolean = () => false): string[] {
  const broken: string[] = [];
  const prose = text.replace(/```[\s\S]*?```/g, '');
  for (const m of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = m[1]!;
    if (/^[a-z]+:/i.test(target)) continue; // http:, https:, mailto:
    const [path, anchor] = target.split('#') as [string, string | undefined];
    const abs = path ? resolve(root, dirname(file), path) : resolve(root, file);
    const body = read(abs);
    if (body === undefined) broken.push(`${file}: link ${target}`);
    else if (anchor && abs.endsWith('.md') && !anchors(body).has(anchor)) broken.push(`${file}: anchor ${target}`);
  }
  for (const m of text.matchAll(/(?<![\w./-])((?:docs|src|test|bench|scripts|bin)\/[\w./-]+\.(?:md|ts|js|json|py))\b/g)) {
    if (read(resolve(root, m[1]!)) === undefined && !ignored(m[1]!)) broken.push(`${file}: path ${m[1]}`);
  }
  return broken;
}

const gitIgnored = (p: string) => {
  try {
    execFileSync('git', ['check-ignore', '-q', p], { cwd: ROOT, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

const readReal = (p: string) => (existsSync(p) ? (p.endsWith('/') ? '' : readFileSync(p, 'utf8')) : undefined);

test('links and paths in README.md and docs/ resolve', () => {
  const broken = markdownFiles().flatMap((f) => brokenLinks(ROOT, f, readFileSync(join(ROOT, f), 'utf8'), (p) => {
    try {
      return readReal(p);
    } catch {
      return ''; // a directory
    }
  }, gitIgnored));
  assert.deepEqual(broken, []);
});

test('the link checker sees a broken link, anchor and path when there is one', () => {
  const files: Record<string, string> = { [join(ROOT, 'docs/a.md')]: '# Title here\n' };
  const read = (p: string) => files[p];
  const text = 'See [a](a.md), [b](b.md), [t](a.md#title-here), [x](a.md#nope), docs/a.md, src/none.ts, bench/out/x.json and [web](https://example.com).\n```\nsrc/in-code-block-still-counts.ts\n```';
  assert.deepEqual(brokenLinks(ROOT, 'docs/x.md', text, read, (p) => p.startsWith('bench/out/')), [
    'docs/x.md: link b.md',
    'docs/x.md: anchor a.md#nope',
    'docs/x.md: path src/none.ts',
    'docs/x.md: path src/in-code-block-still-counts.ts',
  ]);
});

test('opentrail --version and the --help texts of every command: the docs and files they name exist', () => {
  const run = (...args: string[]) => execFileSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  assert.equal(run('--version'), `opentrail ${version} (node ${process.version})\n`);
  const top = run('--help');
  // Every command the top-level usage lists (`opentrail <command>`), each with its own --help.
  const commands = [...new Set([...top.matchAll(/^\s*(?:usage: )?opentrail ([a-z][\w-]*)/gm)].map((m) => m[1]!))];
  assert.ok(['serve', 'validate-logs', 'migrate'].every((c) => commands.includes(c)), commands.join(' '));
  const helps = [top, ...commands.map((c) => {
    const h = run(c, '--help');
    assert.match(h, new RegExp(`^usage: opentrail ${c}\\b`), `opentrail ${c} --help`);
    return h;
  })];
  const named = helps.flatMap((h) => [...h.matchAll(/(?<![\w./-])((?:docs\/[\w./-]+|[\w-]+)\.(?:md|json))(#[\w-]+)?\b/g)].map((m) => [m[1]!, m[2]] as const));
  const paths = named.map(([p]) => p);
  assert.ok(paths.includes('docs/configuration.md') && paths.includes('docs/validate-logs.md'), paths.join(' '));
  assert.deepEqual(paths.filter((p) => !existsSync(join(ROOT, p))), []);
  // An #anchor after a doc names one of its headings.
  assert.deepEqual(named.filter(([p, a]) => a && p.endsWith('.md') && !anchors(readFileSync(join(ROOT, p), 'utf8')).has(a.slice(1))).map(([p, a]) => `${p}${a}`), []);
});

test('docs/configuration.md names every config key, with the default, and every accepted Region', () => {
  const doc = readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8');
  const keys: string[] = [];
  const walk = (o: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(o)) {
      if (v && typeof v === 'object' && !Array.isArray(v) && k !== 'objectStore') walk(v as Record<string, unknown>, `${prefix}${k}.`);
      else keys.push(`${prefix}${k}`);
    }
  };
  walk(defaultConfig() as unknown as Record<string, unknown>, '');
  // Keys without a default value in defaultConfig().
  keys.push('allowNonAwsRegions', 'integrity.keyEncryption', 'sns', 'cloudWatchLogs', 'webhooks', 'organization', 'gateway');
  const rows = new Map([...doc.matchAll(/^\| `([^`]+)`(?:, `[^`]+`)* \| ([^|]*) \|/gm)].map((m) => [m[1]!, m[2]!.trim()]));
  const missing = keys.filter((k) => k !== 'accounts' && !rows.has(k));
  assert.deepEqual(missing, [], 'keys without a row in docs/configuration.md');
  const cfg = defaultConfig();
  // The defaults stated are the defaults in force.
  const stated = (k: string) => rows.get(k)!.replace(/`/g, '').split(' ')[0];
  assert.equal(stated('port'), String(cfg.port));
  assert.equal(stated('eventHistory.retentionDays'), String(cfg.eventHistory.retentionDays));
  for (const k of ['maxBodyBytes', 'maxUnverifiedBodyBytes', 'maxDecodedBytes', 'maxInFlightBodyBytes', 'maxEventsPageBytes', 'maxRecordsPerRequest', 'maxBatchEvents'] as const) {
    assert.equal(stated(`ingest.${k}`), String(cfg.ingest[k]), k);
  }
  for (const k of ['maxAgeMs', 'maxBytes', 'pollMs', 'targetQueueLength', 'targetQueueBytes', 'drainTimeoutMs'] as const) {
    assert.equal(stated(`delivery.${k}`), String(cfg.delivery[k]), k);
  }
  assert.equal(stated('integrity.digestPeriodMs'), String(cfg.integrity.digestPeriodMs));
  assert.equal(stated('integrity.keyRotationMs'), String(cfg.integrity.keyRotationMs));
  assert.equal(rows.get('regions'), `\`${JSON.stringify(cfg.regions).replace(/,/g, ', ')}\``);
  const regionText = doc.slice(doc.indexOf('## AWS Region names'));
  assert.deepEqual(Object.values(AWS_REGIONS).flat().filter((r) => !new RegExp(`\\b${r}\\b`).test(regionText)), []);
});
