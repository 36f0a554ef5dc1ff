/**
 * An unknown or misspelt key stops the start naming the key and the closest known one, at every
 * nesting level, in JSON and in YAML; and through `opentrail serve`, as one line with exit code 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { ConfigError, defaultConfig, readConfigFile, resolveConfig } from './config.ts';
import { closestKey } from './schema.ts';

const STARTED = '2026-11-21T10:00:00Z';
const ROOT_ID = { type: 'Root', accessKeyId: 'AKIAROOT000000000000', secretAccessKey: 's' };
const UP = { endpoint: 'http://127.0.0.1:5000' };

/** A config with one misspelt key, and the message that must name it. */
const LEVELS: [string, Record<string, unknown>, string][] = [
  ['top level', { retentionDays: 30, regions: ['us-east-1'] }, 'config.retentionDays is not a known key (it is a key of `eventHistory`)'],
  ['top level, a key of several sections', { endpoint: 'http://x' }, 'config.endpoint is not a known key (it is a key of `objectStore`, `integrity.keyEncryption`, `sns`, `cloudWatchLogs`, `eventBridge`, `sqs`, `gateway.upstream`, `gateway.services.<name>`)'],
  ['top level, a typo', { regoins: ['us-east-1'] }, 'config.regoins is not a known key (did you mean regions?)'],
  ['a section', { eventHistory: { retentionDay: 30 } }, 'config.eventHistory.retentionDay is not a known key (did you mean retentionDays?)'],
  ['a section, case', { ingest: { MaxBodyBytes: 4096 } }, 'config.ingest.MaxBodyBytes is not a known key (did you mean maxBodyBytes?)'],
  ['a section chosen by type', { objectStore: { type: 's3', endpont: 'http://x' } }, 'config.objectStore.endpont is not a known key (did you mean endpoint?)'],
  ['a key of another type', { objectStore: { type: 'filesystem', endpoint: 'http://x' } }, 'config.objectStore.endpoint is not a known key (a key of type s3, not filesystem; known keys: type, root)'],
  ['two levels down', { integrity: { keyEncryption: { type: 'kms', keyId: 'k', regoin: 'eu-west-1' } } }, 'config.integrity.keyEncryption.regoin is not a known key (did you mean region?)'],
  ['an optional section', { sns: { endpoint: 'http://x', maxAttempt: 2 } }, 'config.sns.maxAttempt is not a known key (did you mean maxAttempts?)'],
  ['a list item', { webhooks: [{ url: 'http://x', timeout: 100 }] }, 'config.webhooks[0].timeout is not a known key (did you mean timeoutMs?)'],
  ['a list item in a list item', { accounts: [{ id: '123456789012', identities: [{ ...ROOT_ID, trustedProducers: true }] }] }, 'config.accounts[0].identities[0].trustedProducers is not a known key (did you mean trustedProducer?)'],
  ['a list item\'s own keys', { accounts: [{ id: '123456789012', alais: 'prod', identities: [ROOT_ID] }] }, 'config.accounts[0].alais is not a known key (did you mean alias?)'],
  ['a map value', { gateway: { services: { xray: { ...UP, accesKeyId: 'K', secretAccessKey: 'S' } } } }, 'config.gateway.services.xray.accesKeyId is not a known key (did you mean accessKeyId?)'],
  ['the gateway\'s upstream', { gateway: { upstream: { endpiont: 'http://x' } } }, 'config.gateway.upstream.endpiont is not a known key (did you mean endpoint?)'],
  ['organization', { organization: { id: 'o-exampleorgid', managementAccountId: '111111111111', memberAccounts: [] } }, 'config.organization.memberAccounts is not a known key (did you mean memberAccountIds?)'],
  ['metrics', { metrics: { enable: false } }, 'config.metrics.enable is not a known key (did you mean enabled?)'],
  ['database', { database: { type: 'postgres', url: 'postgres://h/db', uri: 'x' } }, 'config.database.uri is not a known key (did you mean url?)'],
];

for (const [level, doc, message] of LEVELS) {
  test(`an unknown key is refused at ${level}, in JSON and in YAML`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'ot-unknown-'));
    writeFileSync(join(dir, 'c.json'), JSON.stringify(doc));
    writeFileSync(join(dir, 'c.yaml'), toYaml(doc));
    for (const file of ['c.json', 'c.yaml']) {
      assert.throws(() => resolveConfig(readConfigFile(join(dir, file)), defaultConfig(), STARTED),
        (e: unknown) => e instanceof ConfigError && e.message.includes(message), `${file}: ${message}`);
    }
  });
}

test('every unknown key is named, and a key far from every known one gets no guess', () => {
  assert.throws(() => resolveConfig({ colour: 'blue', eventHistory: { retentionDayz: 1, zzz: 2 } }, defaultConfig(), STARTED), (e: Error) => {
    assert.match(e.message, /config\.colour is not a known key \(every key is listed in docs\/configuration\.md\)/);
    assert.match(e.message, /config\.eventHistory\.retentionDayz is not a known key \(did you mean retentionDays\?\)/);
    assert.match(e.message, /config\.eventHistory\.zzz is not a known key \(known keys: retentionDays, pruneIntervalMs\)/);
    return true;
  });
});

test('the keys the code reads stay known: $schema, allowNonAwsRegions, logLevel, metrics, database.leaseTtlMs, gateway: null', () => {
  assert.deepEqual(resolveConfig({ database: { type: 'sqlite', leaseTtlMs: 1000 } }, defaultConfig(), STARTED).database, { type: 'sqlite', leaseTtlMs: 1000 });
  assert.throws(() => resolveConfig({ database: { type: 'postgres', url: 'postgres://h/db', leaseTtlMs: 100 } }, defaultConfig(), STARTED), (e: Error) => e.message === 'config.database.leaseTtlMs must be a number >= 500');
  const cfg = resolveConfig({ $schema: './opentrail.schema.json', regions: ['local'], allowNonAwsRegions: true, logLevel: 'debug', metrics: { enabled: false, port: 9464 }, gateway: null }, defaultConfig(), STARTED);
  assert.deepEqual([cfg.regions, cfg.logLevel, cfg.metrics, cfg.gateway], [['local'], 'debug', { enabled: false, apiPortCallers: 'loopback', port: 9464 }, undefined]);
  assert.equal('$schema' in cfg || 'allowNonAwsRegions' in cfg, false);
  assert.deepEqual([defaultConfig().logLevel, defaultConfig().metrics], ['info', { enabled: true, apiPortCallers: 'loopback' }]);
  assert.throws(() => resolveConfig({ logLevel: 'verbose' }, defaultConfig(), STARTED), /config\.logLevel must be one of fatal, error, warn, info, debug, trace, silent/);
  assert.throws(() => resolveConfig({ metrics: { port: 70000 } }, defaultConfig(), STARTED), /config\.metrics\.port must be a whole number from 0 to 65535/);
});

test('closestKey: case, typos and transpositions; nothing for an unrelated word', () => {
  const keys = ['retentionDays', 'pruneIntervalMs'];
  assert.equal(closestKey('RetentionDays', keys), 'retentionDays');
  assert.equal(closestKey('retentoinDays', keys), 'retentionDays');
  assert.equal(closestKey('pruneInterval', keys), 'pruneIntervalMs');
  assert.equal(closestKey('colour', keys), undefined);
});

test('opentrail serve with a misspelt key: one line naming it, exit code 2, nothing written', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ot-unknown-'));
  writeFileSync(join(dir, 'c.yaml'), 'eventHistory:\n  retentionDay: 30\n');
  const bin = new URL('../../bin/opentrail.js', import.meta.url).pathname;
  const r = spawnSync(process.execPath, [bin, 'serve', '--port', '0', '--data-dir', join(dir, 'data'), '--config', join(dir, 'c.yaml')], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr, 'opentrail: config.eventHistory.retentionDay is not a known key (did you mean retentionDays?)\n');
  assert.equal(r.stdout, '');
  assert.equal(existsSync(join(dir, 'data')), false);
});
