/**
 * What the config schema generates is committed and current: opentrail.schema.json and the key
 * table of docs/configuration.md (`node scripts/gen-config-docs.ts` rewrites both). The JSON Schema
 * accepts what the server accepts: every config example in the docs passes both.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { SCHEMA_FILE, configTableRows, schemaFileText, withCurrentTable } from './config-docs.ts';
import { defaultConfig, resolveConfig } from './config.ts';

const ROOT = join(import.meta.dirname, '../..');
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

test('opentrail.schema.json is the JSON Schema the config schema generates now', () => {
  assert.equal(read(SCHEMA_FILE), schemaFileText(), 'out of date: run node scripts/gen-config-docs.ts');
  const schema = JSON.parse(read(SCHEMA_FILE));
  assert.equal(schema.additionalProperties, false, 'unknown keys are flagged by editors too');
  assert.equal(schema.properties.eventHistory.properties.retentionDays.default, 90);
  assert.equal(schema.properties.objectStore.default.type, 'filesystem');
});

test('docs/configuration.md\'s key table is the one the config schema generates now', () => {
  const doc = read('docs/configuration.md');
  assert.equal(doc, withCurrentTable(doc), 'out of date: run node scripts/gen-config-docs.ts');
  const rows = configTableRows();
  for (const key of ['port', 'eventHistory.retentionDays', 'integrity.keyEncryption.keyId', 'accounts[].identities[].type', 'gateway.services.<name>.endpoint', 'logLevel', 'metrics.port']) {
    assert.ok(rows.some((r) => r.startsWith(`| \`${key}\` |`)), key);
  }
  assert.ok(rows.includes('| `ingest.maxBodyBytes` | `52428800` (50 MiB) | largest `/ingest` body from a caller that signs its payload hash (hex `x-amz-content-sha256`; verified before the body is read) |'));
});

test('every JSON and YAML config example in README.md and docs/configuration.md is a valid config', () => {
  const examples = ['README.md', 'docs/configuration.md'].flatMap((f) => [...read(f).matchAll(/```(json|yaml)\n([\s\S]*?)```/g)].map((m) => [f, m[1]!, m[2]!] as const));
  assert.ok(examples.filter(([, lang]) => lang === 'yaml').length >= 1 && examples.length >= 4);
  for (const [file, lang, text] of examples) {
    assert.doesNotThrow(() => resolveConfig(lang === 'json' ? JSON.parse(text) : parseYaml(text), defaultConfig(), '2026-01-01T00:00:00Z'), `${file}: ${text}`);
  }
});
