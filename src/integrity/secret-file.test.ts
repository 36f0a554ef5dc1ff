import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecretFile, loadOrCreateSecretFile, readSecretFile, SecretFileError } from './secret-file.ts';

test('secret files: made once with mode 0600, read back; loose modes, other sizes and non-files are refused, never fixed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opentrail-secret-'));
  try {
    const path = join(dir, 'k');
    assert.equal(readSecretFile(path, 32, 'key file k'), undefined, 'missing is undefined');
    const made = loadOrCreateSecretFile(path, 32, 'key file k');
    assert.equal(made.length, 32);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(loadOrCreateSecretFile(path, 32, 'key file k'), made, 'read back, not remade');
    assert.throws(() => createSecretFile(path, 32, 'key file k'), SecretFileError, 'never overwrites');

    chmodSync(path, 0o644);
    assert.throws(() => readSecretFile(path, 32, 'key file k'), /key file k is accessible to group or others \(mode 0644\); run chmod 600 on it/);
    assert.deepEqual(readFileSync(path), made, 'the file is left as it was');

    writeFileSync(path, Buffer.alloc(31), { mode: 0o600 });
    chmodSync(path, 0o600);
    assert.throws(() => readSecretFile(path, 32, 'key file k'), /must hold exactly 32 bytes, not 31/);
    assert.throws(() => readSecretFile(dir, 32, 'key file k'), /is not a regular file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
