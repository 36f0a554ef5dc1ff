/**
 * Issue 10, item 9: signing keys at rest. Someone who gets a copy of control.db (a backup, a
 * stolen disk image) must not be able to forge digests with the keys in it.
 *
 * The data dir starts as an older version left it: control.db holds a us-east-1 signing key with
 * its private key in the clear. The real server (2 s digests) upgrades it, then:
 * - control.db and its WAL hold no private key material (rows parsed, and the raw bytes searched),
 *   while the digests go on being signed with the same key (one chain, no new key);
 * - control.db copied alone into a fresh data dir cannot sign: the server refuses to start with a
 *   one-line error naming the missing key file, and makes neither a key file nor a key;
 * - after a restart, `opentrail validate-logs` validates the digests of both runs as one chain.
 * The same with the key-encryption key wrapped by moto's KMS instead of a key file.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { createHash, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import { gunzipSync } from 'node:zlib';
import { CreateTrailCommand, GetTrailStatusCommand, ListPublicKeysCommand, StartLoggingCommand, StopLoggingCommand, type CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, BIN, cliEnv, cloudTrailClient, startServer, tempDir, type StartedServer, type TestConfig } from '../helpers/server.ts';
import { filesBelow, ingest, iso, sleep, traffic, waitFor } from '../helpers/delivery.ts';
import type { CliResult } from '../helpers/cli.ts';
import { whileProbing } from './liveness.ts';
import { MOTO_CREDENTIALS, MOTO_REGION, startMoto, type StartedMoto } from '../helpers/moto.ts';
import { signedFetch } from '../helpers/signed-fetch.ts';
import { KmsDataKeys } from '../../src/stores/kms/index.ts';

const ALICE = ACCOUNT_A.identities[1]!;
const A = ACCOUNT_A.id;
const REGION = 'us-east-1';
const BUCKET = 'ot-keys-at-rest';
const ARN = `arn:aws:cloudtrail:${REGION}:${A}:trail/audit`;
const PERIOD_MS = 2000;
const CONFIG = {
  regions: [REGION], accounts: [ACCOUNT_A],
  delivery: { maxAgeMs: 300, pollMs: 50 },
  integrity: { digestPeriodMs: PERIOD_MS },
} as TestConfig;

/** The key an older version made and stored in the clear. */
const PAIR = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PEM = PAIR.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const PUBLIC_DER = PAIR.publicKey.export({ type: 'pkcs1', format: 'der' });
let fingerprint: string;

let server: StartedServer;
let dataDir: string;
let ct: CloudTrailClient;
let startMs: number;

/**
 * The private half of PAIR as it could appear in bytes: PEM lines and base64 / raw DER (PKCS#8 and
 * PKCS#1) from past the public modulus.
 */
function privateForms(): string[] {
  const pkcs8 = PAIR.privateKey.export({ type: 'pkcs8', format: 'der' });
  const pkcs1 = PAIR.privateKey.export({ type: 'pkcs1', format: 'der' });
  const lines = PEM.split('\n').filter((l) => l && !l.startsWith('-----'));
  return ['PRIVATE KEY', lines[10]!, lines[16]!, pkcs8.toString('base64').slice(600, 664), pkcs1.toString('base64').slice(600, 664), pkcs8.subarray(450, 500).toString('latin1'), pkcs8.subarray(800, 850).toString('latin1')];
}

function digestFiles(dir = dataDir): string[] {
  const root = join(dir, 'buckets', BUCKET);
  return filesBelow(join(root, 'AWSLogs', A, 'CloudTrail-Digest')).filter((p) => p.endsWith('.json.gz')).map((p) => relative(root, p)).sort();
}

function readDigest(key: string, dir = dataDir): { digestPublicKeyFingerprint: string; digestEndTime: string } {
  return JSON.parse(gunzipSync(readFileSync(join(dir, 'buckets', BUCKET, key))).toString('utf8'));
}

function signingKeyRows(path: string): { key: string; doc: string }[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return db.prepare("SELECT key, doc FROM documents WHERE kind = 'signing-key' ORDER BY key").all() as { key: string; doc: string }[];
  } finally {
    db.close();
  }
}

/** Whether a string is, read any way we can, a private key. */
function isPrivateKey(s: string): boolean {
  const tries = [
    () => createPrivateKey(s),
    () => createPrivateKey({ key: Buffer.from(s, 'base64'), format: 'der', type: 'pkcs8' }),
    () => createPrivateKey({ key: Buffer.from(s, 'base64'), format: 'der', type: 'pkcs1' }),
  ];
  return tries.some((t) => {
    try {
      t();
      return true;
    } catch {
      return false;
    }
  });
}

function strings(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap(strings);
  if (v && typeof v === 'object') return Object.values(v).flatMap(strings);
  return [];
}

function validate(s: StartedServer, range: string[]): Promise<CliResult> {
  const args = [BIN, 'validate-logs', '--endpoint-url', s.url, '--region', REGION, '--bucket-root', join(s.dataDir, 'buckets'), '--trail-arn', ARN, ...range];
  return new Promise((resolve) => {
    execFile(process.execPath, args, { env: cliEnv(ALICE, REGION), timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code) : 0, stdout, stderr });
    });
  });
}

describe('key file (the default)', () => {
  before(async () => {
    dataDir = tempDir('opentrail-keys-');
    // control.db as an older version wrote it: the key's private half as PKCS#8 PEM in the row.
    const nowSec = Math.floor(Date.now() / 1000) * 1000;
    fingerprint = createHash('md5').update(PUBLIC_DER).digest('hex');
    const db = new DatabaseSync(join(dataDir, 'control.db'));
    db.exec('PRAGMA journal_mode=WAL; CREATE TABLE documents (kind TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (kind, key)) WITHOUT ROWID');
    const validityStartMs = nowSec - 10 * 60_000;
    db.prepare('INSERT INTO documents VALUES (?, ?, ?)').run('signing-key', `${REGION}/${String(validityStartMs).padStart(16, '0')}`, JSON.stringify({
      region: REGION, fingerprint, publicKeyDer: PUBLIC_DER.toString('base64'), privateKeyPem: PEM,
      validityStartMs, validityEndMs: validityStartMs + 30 * 24 * 3600_000,
    }));
    db.close();
    assert.ok(readFileSync(join(dataDir, 'control.db')).toString('latin1').includes('PRIVATE KEY'), 'precondition: a key in the clear on disk');

    server = await startServer(CONFIG, { dataDir });
    mkdirSync(join(dataDir, 'buckets', BUCKET), { recursive: true });
    ct = cloudTrailClient(server.url, ALICE, REGION);
    startMs = Date.now() - 60_000;
    await ct.send(new CreateTrailCommand({ Name: 'audit', S3BucketName: BUCKET, EnableLogFileValidation: true }));
    await ct.send(new StartLoggingCommand({ Name: 'audit' }));
    await ingest(server.url, ALICE, traffic(20, { accounts: [A], regions: [REGION] }));
    await waitFor(() => digestFiles().length >= 2, 30_000, 'two digests');
  });

  after(async () => {
    ct?.destroy();
    await server?.stop();
  });

  test('while the server runs, control.db and its WAL hold no private key material; digests are signed with the key as before', async () => {
    const path = join(dataDir, 'control.db');
    const raw = [path, `${path}-wal`].filter(existsSync).map((p) => readFileSync(p).toString('latin1')).join('\n');
    for (const form of privateForms()) assert.ok(!raw.includes(form), `no "${form.slice(0, 24)}..." in control.db or control.db-wal`);

    const rows = signingKeyRows(path);
    assert.equal(rows.length, 1, 'the one key, not a new one');
    for (const r of rows) {
      const doc = JSON.parse(r.doc) as Record<string, unknown>;
      assert.equal(doc.privateKeyPem, undefined);
      assert.deepEqual(strings(doc).filter(isPrivateKey), [], `no field of ${r.key} reads as a private key`);
    }

    const kek = statSync(join(dataDir, 'signing-keys.kek'));
    assert.equal(kek.mode & 0o777, 0o600);
    assert.equal(kek.size, 32);

    // Same key before and after the upgrade: the digests name it, ListPublicKeys serves it.
    const digests = digestFiles();
    assert.ok(digests.length >= 2);
    assert.deepEqual([...new Set(digests.map((k) => readDigest(k).digestPublicKeyFingerprint))], [fingerprint]);
    const listed = await ct.send(new ListPublicKeysCommand({}));
    assert.deepEqual(listed.PublicKeyList?.map((k) => k.Fingerprint), [fingerprint]);
    assert.ok(Buffer.from(listed.PublicKeyList![0]!.Value!).equals(PUBLIC_DER));
  });

  test('control.db copied alone to a fresh data dir cannot sign: the server refuses to start, with one line, and makes no key', async () => {
    await server.stop();
    const before = signingKeyRows(join(dataDir, 'control.db'));
    const fresh = tempDir('opentrail-keys-copy-');
    copyFileSync(join(dataDir, 'control.db'), join(fresh, 'control.db'));

    async function startFails(what: string): Promise<string> {
      const started = await startServer(CONFIG, { dataDir: fresh }).then((s) => s, (e: Error) => e);
      if (!(started instanceof Error)) {
        await started.stop();
        assert.fail(`a server started on control.db without its key file (${what})`);
      }
      const out = started.message;
      assert.match(out, /server exited with 2 before listening/);
      assert.doesNotMatch(out, /^\s+at /m, 'no stack trace');
      return out;
    }

    const missing = await startFails('no key file');
    assert.ok(missing.includes(`opentrail: the control store (control.db) holds 1 encrypted signing key but the key file ${join(fresh, 'signing-keys.kek')} is missing: restore it`), missing);
    assert.equal(existsSync(join(fresh, 'signing-keys.kek')), false, 'no key file made');

    // Another key file (say, the fresh dir's own) is the wrong key, and is said to be.
    writeFileSync(join(fresh, 'signing-keys.kek'), Buffer.alloc(32, 9), { mode: 0o600 });
    assert.match(await startFails('another key file'), /opentrail: signing key [0-9a-f]{32} of us-east-1 was encrypted with key-encryption key [0-9a-f]{16}, but key file .* is key [0-9a-f]{16}: restore/);

    // The right key file, readable by others, is refused until chmod 600.
    copyFileSync(join(dataDir, 'signing-keys.kek'), join(fresh, 'signing-keys.kek'));
    chmodSync(join(fresh, 'signing-keys.kek'), 0o644);
    assert.match(await startFails('a key file mode 0644'), /accessible to group or others \(mode 0644\); run chmod 600 on it/);

    assert.deepEqual(signingKeyRows(join(fresh, 'control.db')), before, 'the copy holds the same key rows: no new key was made');

    // The NextToken key is held to the same rules: readable by others, or of another size, is refused.
    chmodSync(join(fresh, 'signing-keys.kek'), 0o600);
    writeFileSync(join(fresh, 'next-token.key'), Buffer.alloc(32, 7), { mode: 0o644 });
    chmodSync(join(fresh, 'next-token.key'), 0o644);
    assert.match(await startFails('a NextToken key mode 0644'), /opentrail: the NextToken key file .*next-token\.key is accessible to group or others \(mode 0644\)/);
    writeFileSync(join(fresh, 'next-token.key'), Buffer.alloc(16, 7));
    chmodSync(join(fresh, 'next-token.key'), 0o600);
    assert.match(await startFails('a NextToken key of 16 bytes'), /must hold exactly 32 bytes, not 16/);
    assert.deepEqual(readFileSync(join(fresh, 'next-token.key')), Buffer.alloc(16, 7), 'the key file is not replaced');
  });

  test('after a restart, opentrail validate-logs validates the digests of both runs as one chain', async () => {
    const kekBefore = readFileSync(join(dataDir, 'signing-keys.kek'));
    const digestsBefore = digestFiles().length;
    server = await startServer(CONFIG, { dataDir });
    ct.destroy();
    ct = cloudTrailClient(server.url, ALICE, REGION);
    await ingest(server.url, ALICE, traffic(20, { accounts: [A], regions: [REGION] }));
    await waitFor(() => digestFiles().length >= digestsBefore + 2, 30_000, 'digests after the restart');
    await ct.send(new StopLoggingCommand({ Name: 'audit' }));
    const stopMs = (await ct.send(new GetTrailStatusCommand({ Name: 'audit' }))).StopLoggingTime!.getTime();
    await waitFor(() => digestFiles().some((k) => Date.parse(readDigest(k).digestEndTime) >= stopMs - 1000), 20_000, 'the final digest');
    await sleep(PERIOD_MS);

    assert.ok(readFileSync(join(dataDir, 'signing-keys.kek')).equals(kekBefore), 'the key file is kept across the restart');
    const digests = digestFiles();
    assert.deepEqual([...new Set(digests.map((k) => readDigest(k).digestPublicKeyFingerprint))], [fingerprint], 'one key signed both runs');
    const { result } = await whileProbing(server, () => validate(server, ['--start-time', iso(startMs), '--end-time', iso(Date.now())]));
    assert.equal(result.code, 0, result.stderr + result.stdout);
    assert.equal(result.stderr, '');
    assert.match(result.stdout, new RegExp(`\\n${digests.length}/${digests.length} digest files valid\\n`));
  });
});

/**
 * `integrity.keyEncryption` type `kms` against moto's KMS: the key-encryption key is a KMS data key,
 * stored in control.db only wrapped; there is no key file. A copy of control.db taken to a data dir
 * configured with another KMS (or none) cannot sign.
 */
describe('KMS-wrapped data key (moto)', () => {
  const MOTO_ID = { type: 'IAMUser' as const, ...MOTO_CREDENTIALS };
  let moto: StartedMoto;
  let otherMoto: StartedMoto | undefined;
  let kmsServer: StartedServer;
  let kmsCt: CloudTrailClient;
  let kmsStartMs: number;
  let config: TestConfig;
  let keyId: string;

  async function kmsCall(m: StartedMoto, operation: string, input: Record<string, unknown>): Promise<Record<string, any>> {
    const res = await signedFetch(m.url, MOTO_ID, { service: 'kms', body: JSON.stringify(input), headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `TrentService.${operation}` } });
    const json = (await res.json()) as Record<string, any>;
    assert.equal(res.status, 200, JSON.stringify(json));
    return json;
  }
  const kmsConfig = (m: StartedMoto, keyId: string): TestConfig => ({
    ...CONFIG,
    integrity: { digestPeriodMs: PERIOD_MS, keyEncryption: { type: 'kms', endpoint: m.url, region: MOTO_REGION, keyId, ...MOTO_CREDENTIALS } },
  } as TestConfig);

  /** The KMS-wrapped data key's row in control.db, as stored. */
  function wrappedKek(dir: string): string | undefined {
    const db = new DatabaseSync(join(dir, 'control.db'), { readOnly: true });
    try {
      return (db.prepare("SELECT doc FROM documents WHERE kind = 'signing-key-kek' AND key = 'kms'").get() as { doc: string } | undefined)?.doc;
    } finally {
      db.close();
    }
  }

  before(async () => {
    moto = await startMoto();
    keyId = (await kmsCall(moto, 'CreateKey', { Description: 'opentrail signing keys' })).KeyMetadata.KeyId as string;
    config = kmsConfig(moto, keyId);
    kmsServer = await startServer(config);
    mkdirSync(join(kmsServer.dataDir, 'buckets', BUCKET), { recursive: true });
    kmsCt = cloudTrailClient(kmsServer.url, ALICE, REGION);
    kmsStartMs = Date.now() - 60_000;
    await kmsCt.send(new CreateTrailCommand({ Name: 'audit', S3BucketName: BUCKET, EnableLogFileValidation: true }));
    await kmsCt.send(new StartLoggingCommand({ Name: 'audit' }));
    await ingest(kmsServer.url, ALICE, traffic(20, { accounts: [A], regions: [REGION] }));
    await waitFor(() => digestFiles(kmsServer.dataDir).length >= 2, 30_000, 'two digests');
  });

  after(async () => {
    kmsCt?.destroy();
    await kmsServer?.stop();
    await otherMoto?.stop();
    await moto?.stop();
  });

  test('control.db holds the signing key sealed and the data key only as KMS ciphertext; no key file', async () => {
    const path = join(kmsServer.dataDir, 'control.db');
    const raw = [path, `${path}-wal`].filter(existsSync).map((p) => readFileSync(p).toString('latin1')).join('\n');
    assert.ok(!raw.includes('PRIVATE KEY'));
    const rows = signingKeyRows(path);
    assert.equal(rows.length, 1);
    assert.deepEqual(strings(JSON.parse(rows[0]!.doc)).filter(isPrivateKey), []);
    assert.equal(existsSync(join(kmsServer.dataDir, 'signing-keys.kek')), false, 'no key file beside control.db');
    const wrapped = wrappedKek(kmsServer.dataDir);
    assert.ok(wrapped, 'the wrapped data key is stored');
    const blob = Buffer.from(JSON.parse(wrapped).ciphertextBlob, 'base64');
    // The blob opens with KMS, and only with the encryption context it was made with.
    const kms = new KmsDataKeys({ endpoint: moto.url, region: MOTO_REGION, keyId, ...MOTO_CREDENTIALS });
    assert.equal((await kms.decrypt(blob, { 'opentrail:purpose': 'digest-signing-keys' })).length, 32);
    await assert.rejects(kms.decrypt(blob, {}), /InvalidCiphertextException/);
    const digests = digestFiles(kmsServer.dataDir);
    const fps = [...new Set(digests.map((k) => readDigest(k, kmsServer.dataDir).digestPublicKeyFingerprint))];
    assert.equal(fps.length, 1);
    assert.deepEqual((await kmsCt.send(new ListPublicKeysCommand({}))).PublicKeyList?.map((k) => k.Fingerprint), fps);
  });

  test('control.db copied alone to a data dir with another KMS, or with the default key file, cannot sign', async () => {
    await kmsServer.stop();
    const fresh = tempDir('opentrail-keys-kms-copy-');
    copyFileSync(join(kmsServer.dataDir, 'control.db'), join(fresh, 'control.db'));
    const rowsBefore = signingKeyRows(join(fresh, 'control.db'));
    async function startFails(cfg: TestConfig): Promise<string> {
      const started = await startServer(cfg, { dataDir: fresh }).then((s) => s, (e: Error) => e);
      if (!(started instanceof Error)) {
        await started.stop();
        assert.fail('a server started and could sign with the copied keys');
      }
      assert.match(started.message, /server exited with 2 before listening/);
      assert.doesNotMatch(started.message, /^\s+at /m, 'no stack trace');
      return started.message;
    }
    // Another KMS (another account's, say) with a key of its own: the wrapped data key does not open.
    otherMoto = await startMoto();
    const otherKey = (await kmsCall(otherMoto, 'CreateKey', {})).KeyMetadata.KeyId as string;
    assert.match(await startFails(kmsConfig(otherMoto, otherKey)), /opentrail: cannot decrypt the signing keys' data key \(wrapped by KMS key .*\) with KMS key .*: Decrypt: \w+Exception/);
    // KMS out of reach.
    await otherMoto.stop();
    assert.match(await startFails(kmsConfig(otherMoto, otherKey)), /opentrail: cannot decrypt the signing keys' data key .*Decrypt failed: fetch failed/);
    // The default (a key file) is not the key either, and none is made.
    assert.match(await startFails(CONFIG), /opentrail: the control store \(control\.db\) holds 1 encrypted signing key but the key file .* is missing/);
    assert.equal(existsSync(join(fresh, 'signing-keys.kek')), false);
    assert.deepEqual(signingKeyRows(join(fresh, 'control.db')), rowsBefore, 'no new key was made');
  });

  test('after a restart with the same KMS key, opentrail validate-logs validates both runs', async () => {
    const wrappedBefore = wrappedKek(kmsServer.dataDir);
    assert.ok(wrappedBefore, 'the wrapped data key is stored');
    kmsServer = await startServer(config, { dataDir: kmsServer.dataDir });
    assert.equal(wrappedKek(kmsServer.dataDir), wrappedBefore, 'the same data key, opened again, not a new one');
    kmsCt.destroy();
    kmsCt = cloudTrailClient(kmsServer.url, ALICE, REGION);
    const before = digestFiles(kmsServer.dataDir).length;
    await ingest(kmsServer.url, ALICE, traffic(20, { accounts: [A], regions: [REGION] }));
    await waitFor(() => digestFiles(kmsServer.dataDir).length >= before + 2, 30_000, 'digests after the restart');
    await kmsCt.send(new StopLoggingCommand({ Name: 'audit' }));
    const stopMs = (await kmsCt.send(new GetTrailStatusCommand({ Name: 'audit' }))).StopLoggingTime!.getTime();
    await waitFor(() => digestFiles(kmsServer.dataDir).some((k) => Date.parse(readDigest(k, kmsServer.dataDir).digestEndTime) >= stopMs - 1000), 20_000, 'the final digest');
    await sleep(PERIOD_MS);
    const digests = digestFiles(kmsServer.dataDir);
    assert.equal(new Set(digests.map((k) => readDigest(k, kmsServer.dataDir).digestPublicKeyFingerprint)).size, 1, 'one key signed both runs');
    const { result } = await whileProbing(kmsServer, () => validate(kmsServer, ['--start-time', iso(kmsStartMs), '--end-time', iso(Date.now())]));
    assert.equal(result.code, 0, result.stderr + result.stdout);
    assert.match(result.stdout, new RegExp(`\\n${digests.length}/${digests.length} digest files valid\\n`));
  });
});
