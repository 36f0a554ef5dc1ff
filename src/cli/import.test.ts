import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importCommand, type ImportIo } from './import.ts';

function io(): ImportIo & { text: () => string } {
  let text = '';
  return { out: (s) => (text += s), err: (s) => (text += s), env: { OPENTRAIL_DATA_DIR: join(mkdtempSync(join(tmpdir(), 'import-cli-')), 'none') }, text: () => text };
}

test('opentrail import: usage errors exit 2 with what is wrong, before any call', async () => {
  const cases: [string[], RegExp][] = [
    [['s3://b/'], /--store is required/],
    [['--store', 'x'], /give one source location/],
    [['s3://b/', 'file:///x', '--store', 'x'], /give one source location/],
    [['s3://b/', '--store', 'x', '--start', 'yesterday'], /--start yesterday is not a time/],
    [['s3://b/', '--store', 'x', '--interval', '0'], /--interval must be/],
    [['--import-id', '0b9d3a3e-6f0e-4a3c-9a55-2f1c8f1d7e11', '--store', 'x'], /give no location or --store/],
    [['s3://b/', '--store', 'x'], /no server found: .*opentrail\.lock\.json is missing/],
    [['s3://b/', '--store', 'x', '--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [args, want] of cases) {
    const o = io();
    assert.equal(await importCommand(args, o), 2, args.join(' '));
    assert.match(o.text(), want);
  }
});

test('opentrail import: a server that does not answer is exit 1 with the cause', async () => {
  const o = io();
  // The SDK reads its credentials from the process's environment.
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIAX', AWS_SECRET_ACCESS_KEY: 'x', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' });
  const code = await importCommand(['s3://b/', '--store', 'x', '--url', 'http://127.0.0.1:9', '--no-progress'], o);
  assert.equal(code, 1);
  assert.match(o.text(), /opentrail import: .*(ECONNREFUSED|connect)/);
});
