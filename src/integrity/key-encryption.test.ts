/**
 * Signing keys at rest: sealed private keys (round trip, associated data binding, wrong key-encryption
 * key), the key file's checks, and the migration of keys an older version stored in the clear.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteControlStore } from '../stores/sqlite/index.ts';
import { fingerprintOf, publicKeyDerOf, SigningKeyStore, SIGNING_KEY_KIND, type KeyPair } from './signing-keys.ts';
import { ephemeralKek, KeyEncryptionError, KeyFile, KmsWrappedKey, seal, unseal, WRAPPED_KEK_KIND } from './key-encryption.ts';
import type { DataKeyService } from '../stores/index.ts';
import { signDigest, verifyDigestSignature } from './digest.ts';

const DAY = 24 * 60 * 60 * 1000;
const T0 = Date.UTC(2024, 0, 1);
const POOL: KeyPair[] = Array.from({ length: 3 }, () => generateKeyPairSync('rsa', { modulusLength: 2048 }));

function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'opentrail-kek-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

/**
 * Ways the private half of a pair could appear in stored bytes: PEM lines, base64 of PKCS#8 and
 * PKCS#1 DER and raw DER, each taken from past the modulus (the private exponent and the primes),
 * since the modulus is public and rightly stored.
 */
function privateKeyForms(pair: KeyPair): string[] {
  const pem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const pkcs8 = pair.privateKey.export({ type: 'pkcs8', format: 'der' });
  const pkcs1 = pair.privateKey.export({ type: 'pkcs1', format: 'der' });
  const body = pem.split('\n').filter((l) => l && !l.startsWith('-----'));
  return [
    'PRIVATE KEY', body[10]!, body[16]!, pkcs8.toString('base64').slice(600, 664), pkcs1.toString('base64').slice(600, 664),
    pkcs8.subarray(450, 500).toString('latin1'), pkcs8.subarray(800, 850).toString('latin1'),
  ];
}

/** A key row as versions before encryption at rest stored it (privateKeyPem in the clear). */
function clearRow(pair: KeyPair, region: string, startMs: number) {
  const der = publicKeyDerOf(pair.publicKey);
  return {
    region, fingerprint: fingerprintOf(der), publicKeyDer: der.toString('base64'),
    privateKeyPem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    validityStartMs: startMs, validityEndMs: startMs + 30 * DAY,
  };
}

function rawFiles(path: string): string {
  return [path, `${path}-wal`].filter(existsSync).map((p) => readFileSync(p).toString('latin1')).join('\n');
}

test('seal/unseal: round trip; the associated data, the nonce, the tag and the key all count', () => {
  const kek = ephemeralKek();
  const secret = Buffer.from('the private key');
  const a = seal(kek, secret, 'us-east-1|f1');
  const b = seal(kek, secret, 'us-east-1|f1');
  assert.notEqual(a.nonce, b.nonce, 'a fresh nonce per seal');
  assert.notEqual(a.ciphertext, b.ciphertext);
  assert.equal(a.kek, kek.id);
  assert.match(kek.id, /^[0-9a-f]{16}$/);
  assert.ok(unseal(kek, a, 'us-east-1|f1', 'k').equals(secret));
  assert.throws(() => unseal(kek, a, 'us-west-2|f1', 'k'), (e: Error) => e instanceof KeyEncryptionError && /k does not decrypt .*altered or moved/.test(e.message));
  const flipped = Buffer.from(a.ciphertext, 'base64');
  flipped[0]! ^= 1;
  assert.throws(() => unseal(kek, { ...a, ciphertext: flipped.toString('base64') }, 'us-east-1|f1', 'k'), KeyEncryptionError);
  assert.throws(() => unseal(kek, { ...a, tag: '' }, 'us-east-1|f1', 'k'), /damaged/);
  const other = ephemeralKek();
  assert.throws(() => unseal(other, a, 'us-east-1|f1', 'k'), (e: Error) => e.message.includes(`encrypted with key-encryption key ${kek.id}`) && e.message.includes(`is key ${other.id}`));
  // Same id claimed, different key bytes: still refused by the tag.
  assert.throws(() => unseal({ ...other, id: kek.id }, a, 'us-east-1|f1', 'k'), /does not decrypt/);
});

test('a stored key holds no private key material in the clear, and reopens with the same key-encryption key', () => withDir(async (dir) => {
  const path = join(dir, 'control.db');
  const kek = ephemeralKek();
  const c1 = new SqliteControlStore(path);
  const a = await new SigningKeyStore(c1, { kek, generate: () => POOL[0]! }).currentKey('us-east-1', T0);
  const [row] = await c1.list<Record<string, unknown>>(SIGNING_KEY_KIND, '');
  assert.equal(row!.doc.privateKeyPem, undefined);
  assert.deepEqual(Object.keys(row!.doc.privateKey as object).sort(), ['alg', 'ciphertext', 'kek', 'nonce', 'tag']);
  const text = JSON.stringify(row!.doc) + rawFiles(path);
  for (const form of privateKeyForms(POOL[0]!)) assert.ok(!text.includes(form), `no ${form.slice(0, 20)}... in the row or the files`);
  await c1.close();
  for (const form of privateKeyForms(POOL[0]!)) assert.ok(!rawFiles(path).includes(form), 'nor after close');

  const c2 = new SqliteControlStore(path);
  const b = await new SigningKeyStore(c2, { kek, generate: () => assert.fail('must not generate') }).keyByFingerprint('us-east-1', a.fingerprint);
  assert.equal(b?.privateKeyPem, a.privateKeyPem);
  assert.equal(verifyDigestSignature(a.publicKeyDer, 's', signDigest(b!.privateKeyPem, 's')), true);
  // Another key-encryption key cannot read it, and says so.
  await assert.rejects(new SigningKeyStore(c2, { kek: ephemeralKek() }).keyByFingerprint('us-east-1', a.fingerprint), /encrypted with key-encryption key/);
  await c2.close();
}));

test('a sealed private key moved to another row does not open (associated data: Region, fingerprint, validity start)', () => withDir(async (dir) => {
  const control = new SqliteControlStore(join(dir, 'control.db'));
  const source = new KeyFile(join(dir, 'signing-keys.kek'));
  const { keys } = await SigningKeyStore.open(control, source, { rotationMs: DAY, generate: (() => { let n = 0; return () => POOL[n++]!; })() });
  const k1 = await keys.currentKey('us-east-1', T0);
  await keys.currentKey('eu-west-1', T0);
  const rows = await control.list<Record<string, unknown>>(SIGNING_KEY_KIND, '');
  const east = rows.find((r) => r.key.startsWith('us-east-1/'))!;
  const west = rows.find((r) => r.key.startsWith('eu-west-1/'))!;
  // Swap the sealed private keys between the two rows.
  await control.put(SIGNING_KEY_KIND, east.key, { ...east.doc, privateKey: west.doc.privateKey });
  await assert.rejects(SigningKeyStore.open(control, source), (e: Error) => e instanceof KeyEncryptionError && new RegExp(`signing key ${k1.fingerprint} of us-east-1 does not decrypt`).test(e.message));
  // The same row with another validity start (a key "re-dated") does not open either.
  await control.put(SIGNING_KEY_KIND, east.key, { ...east.doc, validityStartMs: T0 - DAY });
  await assert.rejects(SigningKeyStore.open(control, source), /does not decrypt/);
  await control.put(SIGNING_KEY_KIND, east.key, east.doc);
  await SigningKeyStore.open(control, source);
  await control.close();
}));

test('open: creates the key file (0600, 32 bytes) on first start, then reuses it', () => withDir(async (dir) => {
  const control = new SqliteControlStore(join(dir, 'control.db'));
  const file = join(dir, 'signing-keys.kek');
  const first = await SigningKeyStore.open(control, new KeyFile(file), { generate: () => POOL[0]! });
  assert.equal(first.createdKek, true);
  assert.equal(first.migrated, 0);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(statSync(file).size, 32);
  const key = await first.keys.currentKey('us-east-1', T0);
  const bytes = readFileSync(file);
  const again = await SigningKeyStore.open(control, new KeyFile(file));
  assert.equal(again.createdKek, false);
  assert.ok(readFileSync(file).equals(bytes));
  assert.equal((await again.keys.keyByFingerprint('us-east-1', key.fingerprint))?.privateKeyPem, key.privateKeyPem);
  await control.close();
}));

test('open: refuses a key file with group/other permissions, of the wrong size, or not a file; never rewrites it', () => withDir(async (dir) => {
  const control = new SqliteControlStore(join(dir, 'control.db'));
  const file = join(dir, 'signing-keys.kek');
  writeFileSync(file, Buffer.alloc(32, 7), { mode: 0o644 });
  chmodSync(file, 0o644);
  await assert.rejects(SigningKeyStore.open(control, new KeyFile(file)), (e: Error) => e instanceof KeyEncryptionError && e.message === `the key file ${file} is accessible to group or others (mode 0644); run chmod 600 on it`);
  chmodSync(file, 0o640);
  await assert.rejects(SigningKeyStore.open(control, new KeyFile(file)), /mode 0640/);
  chmodSync(file, 0o600);
  writeFileSync(file, Buffer.alloc(31, 7));
  await assert.rejects(SigningKeyStore.open(control, new KeyFile(file)), new RegExp(`the key file ${file} must hold exactly 32 bytes, not 31`));
  writeFileSync(file, Buffer.alloc(33, 7));
  await assert.rejects(SigningKeyStore.open(control, new KeyFile(file)), /not 33/);
  assert.ok(readFileSync(file).equals(Buffer.alloc(33, 7)), 'the file is left as it was');
  const sub = join(dir, 'a-dir');
  mkdirSync(sub, { mode: 0o700 });
  await assert.rejects(SigningKeyStore.open(control, new KeyFile(sub)), /is not a regular file/);
  assert.deepEqual(await control.list(SIGNING_KEY_KIND, ''), []);
  await control.close();
}));

test('open: encrypted keys and no key file: refuses with a clear error, creates neither a key file nor a key', () => withDir(async (dir) => {
  const path = join(dir, 'control.db');
  const control = new SqliteControlStore(path);
  const file = join(dir, 'signing-keys.kek');
  const { keys } = await SigningKeyStore.open(control, new KeyFile(file), { generate: () => POOL[0]! });
  await keys.currentKey('us-east-1', T0);
  rmSync(file);
  await assert.rejects(SigningKeyStore.open(control, new KeyFile(file), { generate: () => assert.fail('must not generate') }), (e: Error) =>
    e instanceof KeyEncryptionError && !e.message.includes('\n') &&
    e.message.startsWith(`the control store (control.db) holds 1 encrypted signing key but the key file ${file} is missing: restore it`));
  assert.equal(existsSync(file), false);
  assert.equal((await control.list(SIGNING_KEY_KIND, '')).length, 1);
  // Another key file (say, of a fresh data dir) is refused as the wrong key.
  writeFileSync(file, Buffer.alloc(32, 1), { mode: 0o600 });
  await assert.rejects(SigningKeyStore.open(control, new KeyFile(file)), /was encrypted with key-encryption key [0-9a-f]{16}, but key file .* is key [0-9a-f]{16}: restore/);
  await control.close();
}));

test('migration: keys stored in the clear are encrypted in place at open, nothing of them is left in the files, and old signatures still verify', () => withDir(async (dir) => {
  const path = join(dir, 'control.db');
  const old = new SqliteControlStore(path);
  const rows = [clearRow(POOL[0]!, 'us-east-1', T0), clearRow(POOL[1]!, 'us-east-1', T0 + 30 * DAY), clearRow(POOL[2]!, 'eu-west-1', T0)];
  for (const r of rows) await old.put(SIGNING_KEY_KIND, `${r.region}/${String(r.validityStartMs).padStart(16, '0')}`, r);
  await old.put('trail', 'x', { unrelated: true });
  // A digest signed before the upgrade, with the key in the clear.
  const signature = signDigest(rows[0]!.privateKeyPem, 'digest signed before');
  await old.close();
  assert.ok(rawFiles(path).includes('PRIVATE KEY'), 'the precondition: keys in the clear on disk');

  const control = new SqliteControlStore(path);
  const opened = await SigningKeyStore.open(control, new KeyFile(join(dir, 'signing-keys.kek')), { generate: () => assert.fail('must not generate') });
  assert.equal(opened.createdKek, true);
  assert.equal(opened.migrated, 3);
  for (const pair of POOL) for (const form of privateKeyForms(pair)) assert.ok(!rawFiles(path).includes(form), `no ${form.slice(0, 20)}... left in control.db or its WAL`);
  const stored = await control.list<Record<string, unknown>>(SIGNING_KEY_KIND, '');
  assert.ok(stored.every((r) => r.doc.privateKeyPem === undefined && typeof r.doc.privateKey === 'object'));
  assert.deepEqual(await control.get('trail', 'x'), { unrelated: true });
  // Same keys: public keys, fingerprints and validity unchanged; old signatures verify; the key signs on.
  const k = await opened.keys.keyByFingerprint('us-east-1', rows[0]!.fingerprint);
  assert.equal(k?.publicKeyDer.toString('base64'), rows[0]!.publicKeyDer);
  assert.equal(verifyDigestSignature(k!.publicKeyDer, 'digest signed before', signature), true);
  assert.equal((await opened.keys.currentKey('us-east-1', T0 + DAY)).fingerprint, rows[0]!.fingerprint);
  assert.deepEqual((await opened.keys.allKeys()).map((x) => [x.region, x.fingerprint, x.validityStartMs, x.validityEndMs]),
    rows.map((r) => [r.region, r.fingerprint, r.validityStartMs, r.validityEndMs]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))));
  // Nothing left to migrate the next time.
  assert.equal((await SigningKeyStore.open(control, new KeyFile(join(dir, 'signing-keys.kek')))).migrated, 0);
  await control.close();
}));

test('migration is all or nothing: a key that cannot be read stops it before anything is written', () => withDir(async (dir) => {
  const control = new SqliteControlStore(join(dir, 'control.db'));
  const good = clearRow(POOL[0]!, 'us-east-1', T0);
  const bad = { ...clearRow(POOL[1]!, 'us-east-1', T0 + DAY), privateKeyPem: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' };
  await control.put(SIGNING_KEY_KIND, 'us-east-1/a', good);
  await control.put(SIGNING_KEY_KIND, 'us-east-1/b', bad);
  await assert.rejects(SigningKeyStore.open(control, new KeyFile(join(dir, 'signing-keys.kek'))), (e: Error) => e instanceof KeyEncryptionError && /holds no readable private key/.test(e.message));
  assert.deepEqual((await control.get(SIGNING_KEY_KIND, 'us-east-1/a')), good, 'the good key is not half-migrated');
  // A clear key whose private half is not its public key's is refused too.
  await control.put(SIGNING_KEY_KIND, 'us-east-1/b', { ...good, privateKeyPem: clearRow(POOL[2]!, 'us-east-1', 0).privateKeyPem });
  await assert.rejects(SigningKeyStore.open(control, new KeyFile(join(dir, 'signing-keys.kek'))), /does not match its public key/);
  await control.close();
}));

/** A stand-in KMS for the unit tests (the end-to-end test uses moto's): AES-GCM under its own key, the context as AAD. */
function fakeKms(): DataKeyService & { down: boolean; calls: string[] } {
  const master = ephemeralKek();
  const aad = (ctx: Record<string, string>) => JSON.stringify(Object.entries(ctx).sort());
  return {
    description: 'KMS key fake-1 at http://kms.test', down: false, calls: [],
    async generateDataKey(ctx) {
      this.calls.push('GenerateDataKey');
      if (this.down) throw new Error('GenerateDataKey failed: fetch failed');
      const plaintext = randomBytes(32);
      return { plaintext, ciphertextBlob: Buffer.from(JSON.stringify(seal(master, plaintext, aad(ctx)))) };
    },
    async decrypt(blob, ctx) {
      this.calls.push('Decrypt');
      if (this.down) throw new Error('Decrypt failed: fetch failed');
      return unseal(master, JSON.parse(blob.toString()), aad(ctx), 'blob');
    },
  };
}

test('KMS-wrapped data key: made once with GenerateDataKey, stored wrapped, opened with Decrypt at each open', () => withDir(async (dir) => {
  const control = new SqliteControlStore(join(dir, 'control.db'));
  const kms = fakeKms();
  const first = await SigningKeyStore.open(control, new KmsWrappedKey(control, kms), { generate: () => POOL[0]! });
  assert.equal(first.createdKek, true);
  const key = await first.keys.currentKey('us-east-1', T0);
  const wrapped = await control.get<Record<string, string>>(WRAPPED_KEK_KIND, 'kms');
  assert.deepEqual(Object.keys(wrapped!).sort(), ['ciphertextBlob', 'kek', 'wrappedBy']);
  assert.equal(wrapped!.wrappedBy, 'KMS key fake-1 at http://kms.test');
  const again = await SigningKeyStore.open(control, new KmsWrappedKey(control, kms));
  assert.equal(again.createdKek, false);
  assert.deepEqual(kms.calls, ['GenerateDataKey', 'Decrypt']);
  assert.equal((await again.keys.keyByFingerprint('us-east-1', key.fingerprint))?.privateKeyPem, key.privateKeyPem);
  // KMS unreachable, or another KMS: a clear error, nothing made.
  kms.down = true;
  await assert.rejects(SigningKeyStore.open(control, new KmsWrappedKey(control, kms)), (e: Error) => e instanceof KeyEncryptionError &&
    e.message === "cannot decrypt the signing keys' data key (wrapped by KMS key fake-1 at http://kms.test) with KMS key fake-1 at http://kms.test: Decrypt failed: fetch failed");
  await assert.rejects(SigningKeyStore.open(control, new KmsWrappedKey(control, fakeKms())), /cannot decrypt the signing keys' data key/);
  // Keys sealed under a key file are not opened by a KMS configuration, which says what to do.
  await control.delete(WRAPPED_KEK_KIND, 'kms');
  await assert.rejects(SigningKeyStore.open(control, new KmsWrappedKey(control, fakeKms())), /holds 1 encrypted signing key but the data key wrapped by KMS key fake-1 .* is missing: control.db has no KMS-wrapped data key/);
  assert.equal((await control.list(SIGNING_KEY_KIND, '')).length, 1);
  await control.close();
}));

test('KMS-wrapped data key: a failing GenerateDataKey on first start stores nothing', () => withDir(async (dir) => {
  const control = new SqliteControlStore(join(dir, 'control.db'));
  const kms = fakeKms();
  kms.down = true;
  await assert.rejects(SigningKeyStore.open(control, new KmsWrappedKey(control, kms)), /cannot make the signing keys' data key with KMS key fake-1 at http:\/\/kms.test: GenerateDataKey failed/);
  assert.equal(await control.get(WRAPPED_KEK_KIND, 'kms'), undefined);
  await control.close();
}));
