import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { iniSection, staticCredentials } from './static-credentials.ts';

test('iniSection: one section\'s top-level keys, comments and nested values left out', () => {
  const text = '# top\n[default]\naws_access_key_id = AKIA1\n; note\n[profile dev]\nregion=eu-west-1\ns3 =\n  addressing_style = path\nAWS_Secret_Access_Key= s  \n';
  assert.deepEqual(iniSection(text, 'default'), { aws_access_key_id: 'AKIA1' });
  assert.deepEqual(iniSection(text, 'profile dev'), { region: 'eu-west-1', s3: '', aws_secret_access_key: 's' });
  assert.equal(iniSection(text, 'other'), undefined);
});

test('staticCredentials: the environment, else the profile\'s keys; a profile with another source is left to the SDK', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ot-creds-'));
  try {
    const creds = join(dir, 'credentials');
    const config = join(dir, 'config');
    writeFileSync(creds, '[default]\naws_access_key_id = AKIADEF\naws_secret_access_key = sdef\n[dev]\naws_access_key_id = AKIADEV\naws_secret_access_key = sdev\naws_session_token = tdev\n[role]\naws_access_key_id = AKIAR\naws_secret_access_key = sr\n');
    writeFileSync(config, '[profile role]\nrole_arn = arn:aws:iam::111111111111:role/x\n[profile cfg]\naws_access_key_id = AKIACFG\naws_secret_access_key = scfg\n');
    const files = { AWS_SHARED_CREDENTIALS_FILE: creds, AWS_CONFIG_FILE: config, HOME: dir };
    // Environment keys win without AWS_PROFILE.
    assert.deepEqual(staticCredentials({ ...files, AWS_ACCESS_KEY_ID: 'AKIAENV', AWS_SECRET_ACCESS_KEY: 'senv', AWS_SESSION_TOKEN: 'tenv' }),
      { accessKeyId: 'AKIAENV', secretAccessKey: 'senv', sessionToken: 'tenv' });
    // As the SDK: AWS_PROFILE set, the profile wins over the environment's keys.
    assert.deepEqual(staticCredentials({ ...files, AWS_PROFILE: 'dev', AWS_ACCESS_KEY_ID: 'AKIAENV', AWS_SECRET_ACCESS_KEY: 'senv' }),
      { accessKeyId: 'AKIADEV', secretAccessKey: 'sdev', sessionToken: 'tdev' });
    assert.deepEqual(staticCredentials({ ...files }), { accessKeyId: 'AKIADEF', secretAccessKey: 'sdef' });
    assert.deepEqual(staticCredentials({ ...files, AWS_PROFILE: 'cfg' }), { accessKeyId: 'AKIACFG', secretAccessKey: 'scfg' });
    // Keys plus a role in the config file: the SDK assumes the role, so no static credentials here.
    assert.equal(staticCredentials({ ...files, AWS_PROFILE: 'role' }), undefined);
    assert.equal(staticCredentials({ ...files, AWS_PROFILE: 'missing' }), undefined);
    // Only half the environment's pair: the SDK goes on to the profile.
    assert.deepEqual(staticCredentials({ ...files, AWS_ACCESS_KEY_ID: 'AKIAENV' }), { accessKeyId: 'AKIADEF', secretAccessKey: 'sdef' });
    assert.equal(staticCredentials({ AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'), AWS_CONFIG_FILE: join(dir, 'none'), HOME: dir }), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
