import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, defaultConfig, readConfigFile, resolveConfig } from './config.ts';
import { userIdentityOf } from '../core/index.ts';

const STARTED = '2026-11-21T10:00:00Z';

test('a YAML config declares regions, accounts and identities', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ot-config-'));
  const file = join(dir, 'opentrail.yaml');
  writeFileSync(file, `
regions: [us-east-1, eu-west-1]
eventHistory: { retentionDays: 30 }
accounts:
  - id: "123456789012"
    alias: prod
    identities:
      - { type: Root, accessKeyId: AKIAROOT000000000000, secretAccessKey: s1 }
      - { type: IAMUser, userName: alice, accessKeyId: AKIAALICE00000000000, secretAccessKey: s2, trustedProducer: true }
      - { type: AssumedRole, roleName: Admin, sessionName: bob, accessKeyId: ASIABOB0000000000000, secretAccessKey: s3, mfaAuthenticated: true }
`);
  const cfg = resolveConfig(readConfigFile(file), defaultConfig(), STARTED);
  assert.deepEqual(cfg.regions, ['us-east-1', 'eu-west-1']);
  assert.equal(cfg.eventHistory.retentionDays, 30);
  const [root, alice, bob] = cfg.accounts[0]!.identities;
  assert.deepEqual(userIdentityOf(root!), { type: 'Root', principalId: '123456789012', arn: 'arn:aws:iam::123456789012:root', accountId: '123456789012', accessKeyId: 'AKIAROOT000000000000', userName: 'prod' });
  assert.equal(alice!.isTrustedProducer, true);
  assert.match(alice!.principalId, /^AIDA[A-Z2-7]{17}$/);
  const ui = userIdentityOf(bob!);
  assert.match(ui.principalId!, /^AROA[A-Z2-7]{17}:bob$/);
  assert.equal(ui.arn, 'arn:aws:sts::123456789012:assumed-role/Admin/bob');
  assert.deepEqual(ui.sessionContext?.sessionIssuer, { type: 'Role', principalId: ui.principalId!.split(':')[0], arn: 'arn:aws:iam::123456789012:role/Admin', accountId: '123456789012', userName: 'Admin' });
  assert.deepEqual(ui.sessionContext?.attributes, { creationDate: STARTED, mfaAuthenticated: 'true' });
});

test('the same principal keeps the same unique id across loads', () => {
  const doc = { accounts: [{ id: '123456789012', identities: [{ type: 'IAMUser', userName: 'alice', accessKeyId: 'AKIAALICE00000000000', secretAccessKey: 's' }] }] };
  const a = resolveConfig(doc, defaultConfig(), STARTED).accounts[0]!.identities[0]!.principalId;
  const b = resolveConfig(doc, defaultConfig(), '2030-01-01T00:00:00Z').accounts[0]!.identities[0]!.principalId;
  assert.equal(a, b);
});

test('invalid configs name the offending key', () => {
  const bad: [unknown, RegExp][] = [
    [{ regions: [] }, /config\.regions/],
    [{ regions: ['US East'] }, /config\.regions/],
    [{ regions: ['us-east-1', 'us-east-7', 'moon-1'] }, /^config\.regions: "us-east-7", "moon-1" are not AWS Region names/],
    [{ regions: ['local'] }, /^config\.regions: "local" is not an AWS Region name \(such as us-east-1/],
    [{ port: -1 }, /config\.port/],
    [{ accounts: [{ id: '12', identities: [] }] }, /accounts\[0\]\.id/],
    [{ accounts: [{ id: '123456789012', identities: [{ type: 'Admin', accessKeyId: 'AKIAX000000000000000', secretAccessKey: 's' }] }] }, /identities\[0\]\.type/],
    [{ accounts: [{ id: '123456789012', identities: [{ type: 'IAMUser', accessKeyId: 'AKIAX000000000000000', secretAccessKey: 's' }] }] }, /identities\[0\]\.userName is required/],
    [{ accounts: [{ id: '123456789012', identities: [{ type: 'Root', accessKeyId: 'lower', secretAccessKey: 's' }] }] }, /accessKeyId/],
    [{ accounts: [
      { id: '123456789012', identities: [{ type: 'Root', accessKeyId: 'AKIASAME000000000000', secretAccessKey: 's' }] },
      { id: '210987654321', identities: [{ type: 'Root', accessKeyId: 'AKIASAME000000000000', secretAccessKey: 't' }] },
    ] }, /declared twice/],
  ];
  for (const [doc, message] of bad) {
    assert.throws(() => resolveConfig(doc, defaultConfig(), STARTED), (e: unknown) => e instanceof ConfigError && message.test(e.message), JSON.stringify(doc));
  }
});

test('an unreadable or malformed config file is a ConfigError', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ot-config-'));
  assert.throws(() => readConfigFile(join(dir, 'missing.json')), ConfigError);
  writeFileSync(join(dir, 'bad.json'), '{"regions": [');
  assert.throws(() => readConfigFile(join(dir, 'bad.json')), /not valid JSON/);
});

test('integrity.keyEncryption: absent means the key file in the data dir; a file path; a KMS key; anything else is refused', () => {
  assert.equal(resolveConfig({ integrity: { digestPeriodMs: 5000 } }, defaultConfig(), STARTED).integrity.keyEncryption, undefined);
  assert.deepEqual(resolveConfig({ integrity: { keyEncryption: { type: 'file', path: '/secrets/kek' } } }, defaultConfig(), STARTED).integrity.keyEncryption, { type: 'file', path: '/secrets/kek' });
  assert.deepEqual(resolveConfig({ integrity: { keyEncryption: { type: 'kms', endpoint: 'http://127.0.0.1:5000', region: 'eu-west-1', keyId: 'alias/ot', accessKeyId: 'K', secretAccessKey: 'S' } } }, defaultConfig(), STARTED).integrity.keyEncryption,
    { type: 'kms', endpoint: 'http://127.0.0.1:5000', region: 'eu-west-1', keyId: 'alias/ot', accessKeyId: 'K', secretAccessKey: 'S' });
  const bad = [
    [[], /keyEncryption must be an object/], [{ type: 'vault' }, /keyEncryption\.type must be file or kms/], [{ type: 'file', path: '' }, /keyEncryption\.path must be a non-empty string/],
    [{ type: 'kms', region: 'us-east-1' }, /keyEncryption\.keyId is required/], [{ type: 'kms', keyId: 'k', endpoint: 'ftp://x' }, /endpoint must be an http\(s\) URL/],
    [{ type: 'kms', keyId: 'k', accessKeyId: 'K' }, /accessKeyId and secretAccessKey go together/],
  ] as const;
  for (const [ke, message] of bad) {
    assert.throws(() => resolveConfig({ integrity: { keyEncryption: ke } }, defaultConfig(), STARTED), (e: unknown) => e instanceof ConfigError && message.test(e.message));
  }
});

test('ingest limits of the HTTP edge: defaults, overrides, and out-of-range values refused', () => {
  const d = defaultConfig().ingest;
  assert.deepEqual(
    { u: d.maxUnverifiedBodyBytes, dec: d.maxDecodedBytes, f: d.maxInFlightBodyBytes, r: d.maxRecordsPerRequest, p: d.maxEventsPageBytes },
    { u: 2 * 1024 * 1024, dec: 200 * 1024 * 1024, f: 256 * 1024 * 1024, r: 5000, p: 8 * 1024 * 1024 },
  );
  const cfg = resolveConfig({ ingest: { maxUnverifiedBodyBytes: 65536, maxDecodedBytes: 1048576, maxInFlightBodyBytes: 4194304, maxRecordsPerRequest: 10, maxEventsPageBytes: 4096 } }, defaultConfig(), STARTED);
  assert.equal(cfg.ingest.maxUnverifiedBodyBytes, 65536);
  assert.equal(cfg.ingest.maxDecodedBytes, 1048576);
  assert.equal(cfg.ingest.maxInFlightBodyBytes, 4194304);
  assert.equal(cfg.ingest.maxRecordsPerRequest, 10);
  assert.equal(cfg.ingest.maxEventsPageBytes, 4096);
  assert.equal(cfg.ingest.maxBodyBytes, d.maxBodyBytes, 'others keep their defaults');
  for (const [key, bad] of [['maxRecordsPerRequest', 0], ['maxInFlightBodyBytes', 10], ['maxEventsPageBytes', 'big']] as const) {
    assert.throws(() => resolveConfig({ ingest: { [key]: bad } }, defaultConfig(), STARTED), (e: unknown) => e instanceof ConfigError && e.message.includes(`config.ingest.${key}`));
  }
});

test('config.regions accepts the Region names of every partition, as given', () => {
  const regions = ['us-east-1', 'ap-southeast-5', 'cn-north-1', 'cn-northwest-1', 'us-gov-west-1', 'us-gov-east-1', 'mx-central-1'];
  assert.deepEqual(resolveConfig({ regions }, defaultConfig(), STARTED).regions, regions);
});

test('allowNonAwsRegions: true accepts other region names (of the form only), for private clouds and anonymised data', () => {
  assert.deepEqual(resolveConfig({ regions: ['us-north-2r', 'local'], allowNonAwsRegions: true }, defaultConfig(), STARTED).regions, ['us-north-2r', 'local']);
  assert.throws(() => resolveConfig({ regions: ['US East'], allowNonAwsRegions: true }, defaultConfig(), STARTED), /"US East": a region name is/);
  assert.throws(() => resolveConfig({ regions: ['us-east-1'], allowNonAwsRegions: 'yes' }, defaultConfig(), STARTED), /allowNonAwsRegions must be true or false/);
});

test('config.database: SQLite by default; PostgreSQL by URL; a malformed URL or type is refused', () => {
  assert.deepEqual(defaultConfig().database, { type: 'sqlite' });
  const url = 'postgres://ot:secret@db.example:5432/opentrail';
  assert.deepEqual(resolveConfig({ database: { type: 'postgres', url } }, defaultConfig(), STARTED).database, { type: 'postgres', url });
  for (const [database, message] of [
    [{ type: 'postgres' }, /config\.database\.url is required/],
    [{ type: 'postgres', url: 'mysql://h/db' }, /postgres:\/\//],
    [{ type: 'postgres', url: 'postgres://host' }, /name a host and a database/],
    [{ type: 'mongo' }, /sqlite or postgres/],
    ['postgres', /must be an object/],
  ] as const) {
    assert.throws(() => resolveConfig({ database }, defaultConfig(), STARTED), (e: unknown) => e instanceof ConfigError && message.test(e.message), JSON.stringify(database));
  }
});
