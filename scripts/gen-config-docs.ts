// Writes what the config schema (src/config/schema.ts) generates: opentrail.schema.json, the
// published JSON Schema of config files, and the table of every key in docs/configuration.md.
// src/config/config-docs.test.ts fails when either is out of date: run `node scripts/gen-config-docs.ts`.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SCHEMA_FILE, schemaFileText, withCurrentTable } from '../src/config/config-docs.ts';

const root = join(import.meta.dirname, '..');
writeFileSync(join(root, SCHEMA_FILE), schemaFileText());
const doc = join(root, 'docs/configuration.md');
writeFileSync(doc, withCurrentTable(readFileSync(doc, 'utf8')));
console.log(`wrote ${SCHEMA_FILE} and the key table of docs/configuration.md`);
