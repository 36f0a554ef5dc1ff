import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteControlStore } from '../stores/sqlite/index.ts';
import { fingerprintOf, publicKeyDerOf, SigningKeyStore, SIGNING_KEY_KIND, type KeyPair } from './signing-keys.ts';
import { ephemeralKek } from './key-encryption.ts';
import { signDigest, verifyDigestSignature } from './digest.ts';

const DAY = 24 * 60 * 60 * 1000;
const T0 = Date.UTC(2024, 0, 1);

/** Key pairs made once: RSA 2048 generation is the slow part of these tests. */
const POOL: KeyPair[] = Array.from({ length: 4 }, () => generateKeyPairSync('rsa', { modulusLength: 2048 }));
function pool(): { generate: () => KeyPair; count: () => number } {
  let n = 0;
  return { generate: () => POOL[n++ % POOL.length]!, count: () => n };
}

/** The three public keys of the AWS documentation's ListPublicKeys sample and the CLI example, with their fingerprints. */
const DOCS_KEYS: [string, string][] = [
  [
    '8eba5db5bea9b640d1c96a77256fe7f2',
    'MIIBCgKCAQEAn11L2YZ9h7onug2ILi1MWyHiMRsTQjfWE+pHVRLk1QjfWhirG+lpOa8NrwQ/r7Ah5bNL6HepznOU9XTDSfmmnP97mqyc7z/upfZdS/AHhYcGaz7n6Wc/RRBU6VmiPCrAUojuSk6/GjvA8iOPFsYDuBtviXarvuLPlrT9kAd4Lb+rFfR5peEgBEkhlzc5HuWO7S0y+KunqxX6jQBnXGMtxmPBPP0FylgWGNdFtks/4YSKcgqwH0YDcawP9GGGDAeCIqPWIXDLG1jOjRRzWfCmD0iJUkz8vTsn4hq/5ZxRFE7UBAUiVcGbdnDdvVfhF9C3dQiDq3k7adQIziLT0cShgQIDAQAB',
  ],
  [
    '8933b39ddc64d26d8e14ffbf6566fee4',
    'MIIBCgKCAQEApfYL2FiZhpN74LNWVUzhR+VheYhwhYm8w0n5Gf6i95ylW5kBAWKVEmnAQG7BvS5g9SMqFDQx52fW7NWV44IvfJ2xGXT+wT+DgR6ZQ+6yxskQNqV5YcXj4Aa5Zz4jJfsYjDuO2MDTZNIzNvBNzaBJ+r2WIWAJ/Xq54kyF63B6WE38vKuDE7nSd1FqQuEoNBFLPInvgggYe2Ym1Refe2z71wNcJ2kY+q0h1BSHrSM8RWuJIw7MXwF9iQncg9jYzUlNJomozQzAG5wSRfbplcCYNY40xvGd/aAmO0m+Y+XFMrKwtLCwseHPvj843qVno6x4BJN9bpWnoPo9sdsbGoiK3QIDAQAB',
  ],
  [
    // Printed in the docs in SPKI form (the AWS CLI cannot load that one); the fingerprint is the MD5 of the bytes as given.
    '31e8b5433410dfb61a9dc45cc65b22ff',
    'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqlzPJbvZJ42UdcmLfPUqXYNfOs6I8lCfao/tOs8CmzPOEdtLWugB9xoIUz78qVHdKIqxbaG4jWHfJBiOSSFBM0lt8cdVo4TnRa7oG9io5pysS6DJhBBAeXsicufsiFJR+wrUNh8RSLxL4k6G1+BhLX20tJkZ/erT97tDGBujAelqseGg3vPZbTx9SMfOLN65PdLFudLP7Gat0Z9p5jw/rjpclKfo9Bfc3heeBxWGKwBBOKnFAaN9V57pOaosCvPKmHd9bg7jsQkI9Xp22IzGLsTFJZYVA3KiTAElDMu80iFXPHEq9hKNbt9e4URFam+1utKVEiLkR2disdCmPTK0VQIDAQAB',
  ],
  [
    '7f3f401420072e50a65a141430817ab3',
    'MIIBCgKCAQEAlSS3cl92HDycr/MTj0moOhas8habjrraXw+KzlWF0axSI2tcF+3iJ9BKQAVSKxGwxwu3m0wG3J+kUl1xboEcEPHYoIYMbgfSw7KGnuDKwkLzsQWhUJ0cIbOHASox1vv/5fNXkrHhGbDCHeVXm804c83nvHUEFYThr1PfyP/8HwrCtR3FX5OANtQCP61C1nJtSSkC8JSQUOrIP4CuwJjc+4WGDk+BGH5m9iuiAKkipEHWmUl8/P7XpfpWQuk4h8g3pXZOrNXr08lbh4d39svj7UqdhvOXoBISp9t/EXYuePGEtBdrKD9Dz+VHwyUPtBQvYr9BnkF88qBnaPNhS44rzwIDAQAB',
  ],
];

test('fingerprints of the AWS documentation sample keys are the MD5 of their DER bytes', () => {
  for (const [fp, value] of DOCS_KEYS) assert.equal(fingerprintOf(Buffer.from(value, 'base64')), fp);
});

test('our DER of a docs PKCS#1 key is byte-identical to it (also through the JWK path)', () => {
  for (const [, value] of DOCS_KEYS) {
    const der = Buffer.from(value, 'base64');
    if (!value.startsWith('MIIBCgKCAQEA')) continue;
    const key = createPublicKey({ key: der, format: 'der', type: 'pkcs1' });
    assert.ok(publicKeyDerOf(key).equals(der));
  }
});

test('a generated key: PKCS#1 DER (MIIBCgKCAQEA...), loads back as PKCS#1, 32-hex fingerprint', () => {
  const { publicKey, privateKey } = POOL[0]!;
  const der = publicKeyDerOf(publicKey);
  assert.ok(der.toString('base64').startsWith('MIIBCgKCAQEA'));
  assert.equal(der.length, 270);
  const loaded = createPublicKey({ key: der, format: 'der', type: 'pkcs1' });
  assert.ok(publicKeyDerOf(loaded).equals(der));
  assert.ok(publicKeyDerOf(privateKey).equals(der), 'the DER of a private key is that of its public half');
  assert.match(fingerprintOf(der), /^[0-9a-f]{32}$/);
  assert.equal(verifyDigestSignature(der, 'abc', signDigest(privateKey, 'abc')), true);
});

test('first call creates the Region key; later calls in its validity return it; Regions are separate', async () => {
  const control = new SqliteControlStore(':memory:');
  const p = pool();
  const keys = new SigningKeyStore(control, { rotationMs: 30 * DAY, generate: p.generate });
  const a = await keys.currentKey('us-east-1', T0);
  assert.equal(a.validityStartMs, T0);
  assert.equal(a.validityEndMs, T0 + 30 * DAY);
  assert.equal(a.region, 'us-east-1');
  assert.equal(a.fingerprint, fingerprintOf(a.publicKeyDer));
  assert.match(a.privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
  assert.equal((await keys.currentKey('us-east-1', T0 + 29 * DAY)).fingerprint, a.fingerprint);
  const b = await keys.currentKey('eu-west-1', T0 + DAY);
  assert.notEqual(b.fingerprint, a.fingerprint);
  assert.equal(p.count(), 2);
  assert.deepEqual((await control.list(SIGNING_KEY_KIND, '')).map((r) => r.key), ['eu-west-1/0001704153600000', 'us-east-1/0001704067200000']);
  // The stored private key signs what the public key verifies.
  assert.equal(verifyDigestSignature(a.publicKeyDer, 'x', signDigest(a.privateKeyPem, 'x')), true);
  await control.close();
});

test('validity starts on the whole second of the first use', async () => {
  const control = new SqliteControlStore(':memory:');
  const keys = new SigningKeyStore(control, { rotationMs: DAY, generate: pool().generate });
  const k = await keys.currentKey('us-east-1', T0 + 1234);
  assert.equal(k.validityStartMs, T0 + 1000);
  assert.equal(k.validityEndMs, T0 + 1000 + DAY);
  assert.equal((await keys.currentKey('us-east-1', T0 + 1000)).fingerprint, k.fingerprint);
  await control.close();
});

test('rotation: a new key once the validity ended; the old one is kept and findable', async () => {
  const control = new SqliteControlStore(':memory:');
  const keys = new SigningKeyStore(control, { rotationMs: DAY, generate: pool().generate });
  const k1 = await keys.currentKey('us-east-1', T0);
  const k2 = await keys.currentKey('us-east-1', T0 + DAY); // end is exclusive
  assert.notEqual(k2.fingerprint, k1.fingerprint);
  assert.equal(k2.validityStartMs, T0 + DAY);
  const k3 = await keys.currentKey('us-east-1', T0 + 5 * DAY); // after a long pause: valid from now
  assert.equal(k3.validityStartMs, T0 + 5 * DAY);
  assert.equal((await keys.keyByFingerprint('us-east-1', k1.fingerprint))?.validityStartMs, T0);
  assert.equal(await keys.keyByFingerprint('eu-west-1', k1.fingerprint), undefined);
  assert.equal(await keys.keyByFingerprint('us-east-1', 'f'.repeat(32)), undefined);
  // A time inside an old key's validity still gets that key (a late digest signs with its period's key).
  assert.equal((await keys.currentKey('us-east-1', T0 + 1000)).fingerprint, k1.fingerprint);
  await control.close();
});

test('keysBetween returns keys whose validity overlaps the range, oldest first', async () => {
  const control = new SqliteControlStore(':memory:');
  const keys = new SigningKeyStore(control, { rotationMs: DAY, generate: pool().generate });
  const k1 = await keys.currentKey('us-east-1', T0);
  const k2 = await keys.currentKey('us-east-1', T0 + DAY);
  const k3 = await keys.currentKey('us-east-1', T0 + 3 * DAY);
  const fps = async (s: number, e: number) => (await keys.keysBetween('us-east-1', s, e)).map((k) => k.fingerprint);
  assert.deepEqual(await fps(T0, T0 + 4 * DAY), [k1, k2, k3].map((k) => k.fingerprint));
  assert.deepEqual(await fps(T0 + 1000, T0 + 2000), [k1.fingerprint]);
  assert.deepEqual(await fps(T0 + DAY + 1, T0 + 2 * DAY + 5), [k2.fingerprint]); // the gap between k2 and k3 holds no key
  assert.deepEqual(await fps(T0 + 2 * DAY + 1, T0 + 3 * DAY - 1), []);
  assert.deepEqual(await fps(T0 - 10 * DAY, T0 - 1), []);
  assert.deepEqual(await fps(T0 - DAY, T0), [k1.fingerprint]); // touching the start counts
  assert.deepEqual(await keys.keysBetween('eu-west-1', T0, T0 + 4 * DAY), []);
  await control.close();
});

test('concurrent calls never create two keys', async () => {
  const control = new SqliteControlStore(':memory:');
  let made = 0;
  const keys = new SigningKeyStore(control, {
    generate: async () => {
      made++;
      await new Promise((r) => setTimeout(r, 20));
      return POOL[made % POOL.length]!;
    },
  });
  const got = await Promise.all([
    ...Array.from({ length: 10 }, (_, i) => keys.currentKey('us-east-1', T0 + i)),
    keys.keysBetween('us-east-1', T0, T0 + 10),
    ...Array.from({ length: 5 }, () => keys.currentKey('us-west-2', T0)),
  ]);
  assert.equal(made, 2);
  const useast = got.slice(0, 10) as { fingerprint: string }[];
  assert.equal(new Set(useast.map((k) => k.fingerprint)).size, 1);
  assert.equal((await control.list(SIGNING_KEY_KIND, 'us-east-1/')).length, 1);
  await control.close();
});

test('a failed generation or store write does not poison later calls', async () => {
  const control = new SqliteControlStore(':memory:');
  let fail = true;
  const keys = new SigningKeyStore(control, {
    generate: () => {
      if (fail) throw new Error('boom');
      return POOL[0]!;
    },
  });
  await assert.rejects(keys.currentKey('us-east-1', T0), /boom/);
  fail = false;
  assert.equal((await keys.currentKey('us-east-1', T0)).validityStartMs, T0);
  await control.close();
});

test('keys persist through a reopened SqliteControlStore (default RSA generation)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'opentrail-keys-'));
  try {
    const path = join(dir, 'control.db');
    const kek = ephemeralKek();
    const c1 = new SqliteControlStore(path);
    const a = await new SigningKeyStore(c1, { kek }).currentKey('us-east-1', T0);
    assert.equal(a.validityEndMs - a.validityStartMs, 30 * DAY, 'default rotation is 30 days');
    assert.ok(a.publicKeyDer.toString('base64').startsWith('MIIBCgKCAQEA'));
    await c1.close();
    const c2 = new SqliteControlStore(path);
    const keys = new SigningKeyStore(c2, { kek, generate: () => assert.fail('must not generate') });
    const b = await keys.currentKey('us-east-1', T0 + DAY);
    assert.equal(b.fingerprint, a.fingerprint);
    assert.ok(b.publicKeyDer.equals(a.publicKeyDer));
    assert.equal(b.privateKeyPem, a.privateKeyPem);
    assert.equal(verifyDigestSignature(b.publicKeyDer, 's', signDigest(b.privateKeyPem, 's')), true);
    assert.deepEqual(await keys.keyByFingerprint('us-east-1', a.fingerprint), b);
    await c2.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two stores on one database: a key made by one is found, not duplicated, by the other', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'opentrail-keys-'));
  try {
    const path = join(dir, 'control.db');
    const [c1, c2] = [new SqliteControlStore(path), new SqliteControlStore(path)];
    const p = pool();
    const kek = ephemeralKek();
    const s1 = new SigningKeyStore(c1, { kek, rotationMs: DAY, generate: p.generate });
    const s2 = new SigningKeyStore(c2, { kek, rotationMs: DAY, generate: p.generate });
    await s2.keysBetween('us-east-1', 0, T0 * 2); // s2 caches "no keys"
    const a = await s1.currentKey('us-east-1', T0);
    assert.equal((await s2.keyByFingerprint('us-east-1', a.fingerprint))?.fingerprint, a.fingerprint);
    assert.equal((await s2.currentKey('us-east-1', T0 + 5)).fingerprint, a.fingerprint);
    assert.equal(p.count(), 1);
    await c1.close();
    await c2.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
