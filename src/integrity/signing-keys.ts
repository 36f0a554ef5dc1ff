/**
 * Digest signing keys: one RSA 2048 key pair per Region at a time, rotated on a schedule, old keys
 * kept so that older digests still validate (reference §5.2, §5.3).
 *
 * Keys live in the control store, kind `signing-key`, key `<region>/<validityStartMs, 16 digits>`,
 * so a Region's keys list in validity order. The public key is kept as PKCS#1 DER (what
 * ListPublicKeys returns); its fingerprint is the lowercase hex MD5 of those bytes.
 *
 * The private key is never stored in the clear: it is sealed (AES-256-GCM, key-encryption.ts)
 * under a key-encryption key kept outside the control store, with the key's Region, fingerprint
 * and validity start as associated data. `SigningKeyStore.open` checks that key against the stored
 * keys and encrypts in place, in one transaction, keys an older version stored in the clear.
 *
 * Rotation with several nodes on one database: a node makes a Region's next key only while it holds
 * the lease `signing-key/<region>`, reads the keys again under it, and stores the key with a write
 * fenced by it; the others wait for that key and use it. So a deployment makes one key per Region
 * and rotation, never one per node.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ControlStore, Fence } from '../stores/index.ts';
import type { LeaseKeeper } from '../stores/lease-keeper.ts';
import { ephemeralKek, KeyEncryptionError, seal, unseal, type KeyEncryptionKey, type KeyEncryptionKeySource, type SealedKey } from './key-encryption.ts';

export interface SigningKey {
  region: string;
  /** Lowercase hex MD5 of publicKeyDer. */
  fingerprint: string;
  /** PKCS#1 `RSAPublicKey` DER. */
  publicKeyDer: Buffer;
  /** PKCS#8 PEM. */
  privateKeyPem: string;
  validityStartMs: number;
  validityEndMs: number;
}

export interface KeyPair {
  publicKey: KeyObject;
  privateKey: KeyObject;
}

export interface SigningKeyStoreOptions {
  /** Validity of each key; a new key is made when the current one's validity ends. Default 30 days. */
  rotationMs?: number;
  /** Makes a key pair (tests inject a fixed or fast one). Default: RSA 2048 off the main thread. */
  generate?: () => KeyPair | Promise<KeyPair>;
  /**
   * The key-encryption key private keys are sealed under. Default: a random in-memory key, so keys
   * made are readable by this object only (tests); the server uses `SigningKeyStore.open`.
   */
  kek?: KeyEncryptionKey;
  /** Several nodes on one database: a new key is made only under the Region's rotation lease. */
  leases?: LeaseKeeper;
}

export interface OpenedSigningKeys {
  keys: SigningKeyStore;
  /** The key-encryption key was created now (first start, or first start after an upgrade). */
  createdKek: boolean;
  /** Keys found stored in the clear and encrypted in place now. */
  migrated: number;
}

export const SIGNING_KEY_KIND = 'signing-key';
export const DEFAULT_KEY_ROTATION_MS = 30 * 24 * 60 * 60 * 1000;

/** What is stored per key (Buffers as base64). */
interface StoredKey {
  region: string;
  fingerprint: string;
  publicKeyDer: string;
  /** The PKCS#8 DER private key, sealed. */
  privateKey?: SealedKey;
  /** Before encryption at rest: the PKCS#8 PEM in the clear (migrated by `open`). */
  privateKeyPem?: string;
  validityStartMs: number;
  validityEndMs: number;
}

/** The associated data of a sealed key: its identity, so a sealed key only opens in its own row. */
function sealingAad(k: { region: string; fingerprint: string; validityStartMs: number }): string {
  return `opentrail signing-key v1\n${k.region}\n${k.fingerprint}\n${k.validityStartMs}`;
}

function describeKey(k: { region: string; fingerprint: string }): string {
  return `signing key ${k.fingerprint} of ${k.region}`;
}

function sealKey(kek: KeyEncryptionKey, key: SigningKey): StoredKey {
  const der = createPrivateKey(key.privateKeyPem).export({ type: 'pkcs8', format: 'der' });
  const { privateKeyPem: _clear, ...pub } = key;
  return { ...pub, publicKeyDer: key.publicKeyDer.toString('base64'), privateKey: seal(kek, der, sealingAad(key)) };
}

/** DER length octets. */
function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** A DER INTEGER from unsigned big-endian bytes (minimal, with a 0 byte when the top bit is set). */
function derUnsignedInteger(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  let body = bytes.subarray(i);
  if (body.length === 0) body = Buffer.from([0]);
  if (body[0]! & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return Buffer.concat([Buffer.from([0x02]), derLength(body.length), body]);
}

/**
 * The PKCS#1 `RSAPublicKey` DER of an RSA public (or private) key: base64 starts `MIIBCgKCAQEA`
 * for 2048-bit keys with exponent 65537.
 */
export function publicKeyDerOf(keyObject: KeyObject): Buffer {
  if (keyObject.asymmetricKeyType !== 'rsa') throw new Error(`signing keys are RSA, not ${keyObject.asymmetricKeyType ?? keyObject.type}`);
  const key = keyObject.type === 'private' ? createPublicKey(keyObject) : keyObject;
  try {
    return key.export({ type: 'pkcs1', format: 'der' }) as Buffer;
  } catch {
    // Node 24 (OpenSSL 3.5) cannot re-export as PKCS#1 a public key that was itself loaded from
    // PKCS#1: encode SEQUENCE { modulus INTEGER, publicExponent INTEGER } from the JWK instead.
    const jwk = key.export({ format: 'jwk' });
    if (typeof jwk.n !== 'string' || typeof jwk.e !== 'string') throw new Error('not an RSA key');
    const body = Buffer.concat([derUnsignedInteger(Buffer.from(jwk.n, 'base64url')), derUnsignedInteger(Buffer.from(jwk.e, 'base64url'))]);
    return Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]);
  }
}

/** Lowercase hex MD5 of the public key DER (ListPublicKeys' Fingerprint, digestPublicKeyFingerprint). */
export function fingerprintOf(der: Buffer): string {
  return createHash('md5').update(der).digest('hex');
}

function defaultGenerate(): Promise<KeyPair> {
  return new Promise((resolve, reject) => {
    generateKeyPair('rsa', { modulusLength: 2048, publicExponent: 0x10001 }, (err, publicKey, privateKey) => {
      if (err) reject(err);
      else resolve({ publicKey, privateKey });
    });
  });
}

function storageKey(region: string, validityStartMs: number): string {
  return `${region}/${String(Math.max(0, validityStartMs)).padStart(16, '0')}`;
}

/** A stored key, its private key opened and checked against its public key. */
function fromStored(s: StoredKey, kek: KeyEncryptionKey): SigningKey {
  const what = describeKey(s);
  let privateKey: KeyObject;
  try {
    if (s.privateKey) {
      const der = unseal(kek, s.privateKey, sealingAad(s), what);
      privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    } else if (typeof s.privateKeyPem === 'string') {
      privateKey = createPrivateKey(s.privateKeyPem);
    } else {
      throw new KeyEncryptionError(`${what} has no private key`);
    }
  } catch (e) {
    if (e instanceof KeyEncryptionError) throw e;
    throw new KeyEncryptionError(`${what} holds no readable private key: ${(e as Error).message}`);
  }
  const publicKeyDer = Buffer.from(s.publicKeyDer, 'base64');
  if (!publicKeyDerOf(privateKey).equals(publicKeyDer) || fingerprintOf(publicKeyDer) !== s.fingerprint) {
    throw new KeyEncryptionError(`${what}: its private key does not match its public key`);
  }
  return {
    region: s.region,
    fingerprint: s.fingerprint,
    publicKeyDer,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    validityStartMs: s.validityStartMs,
    validityEndMs: s.validityEndMs,
  };
}

export class SigningKeyStore {
  private readonly store: ControlStore;
  private readonly rotationMs: number;
  private readonly generate: () => KeyPair | Promise<KeyPair>;
  private readonly kek: KeyEncryptionKey;
  private readonly leases: LeaseKeeper | undefined;
  /** Serializes key creation so that concurrent callers never make two keys. */
  private chain: Promise<unknown> = Promise.resolve();
  /** Keys per Region in validity-start order, loaded once from the store. */
  private readonly cache = new Map<string, SigningKey[]>();

  constructor(store: ControlStore, opts: SigningKeyStoreOptions = {}) {
    this.store = store;
    this.rotationMs = opts.rotationMs ?? DEFAULT_KEY_ROTATION_MS;
    if (!(this.rotationMs > 0)) throw new Error('rotationMs must be positive');
    this.generate = opts.generate ?? defaultGenerate;
    this.kek = opts.kek ?? ephemeralKek();
    this.leases = opts.leases;
  }

  /**
   * The server's way in: gets the key-encryption key from `source`, checks it opens every stored
   * key, and encrypts keys stored in the clear (an older version's) in place, in one transaction
   * that leaves no copy of the clear keys in the store's files. Creates the key-encryption key only
   * when no stored key is encrypted; when some are and the key is missing, throws
   * KeyEncryptionError rather than start a new key chain behind the operator's back.
   */
  static async open(store: ControlStore, source: KeyEncryptionKeySource, opts: Omit<SigningKeyStoreOptions, 'kek'> = {}): Promise<OpenedSigningKeys> {
    const rows = await store.list<StoredKey>(SIGNING_KEY_KIND, '');
    const sealed = rows.filter((r) => r.doc.privateKey !== undefined);
    const clear = rows.filter((r) => r.doc.privateKey === undefined);
    let kek = await source.load();
    let createdKek = false;
    if (!kek) {
      if (sealed.length > 0) {
        throw new KeyEncryptionError(
          `the control store (control.db) holds ${sealed.length} encrypted signing key${sealed.length === 1 ? '' : 's'} but the ${source.description} is missing: ` +
          `${source.whenMissing}; OpenTrail will not sign with new keys in their place by itself (docs/storage.md)`,
        );
      }
      kek = await source.create();
      createdKek = true;
    }
    const keys = new SigningKeyStore(store, { ...opts, kek });
    for (const r of sealed) fromStored(r.doc, kek);
    const migrated = clear.map((r) => ({ kind: SIGNING_KEY_KIND, key: r.key, doc: sealKey(kek, fromStored(r.doc, kek)) }));
    if (migrated.length > 0) await store.putMany(migrated, { eraseReplaced: true });
    return { keys, createdKek, migrated: migrated.length };
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async load(region: string, fresh = false): Promise<SigningKey[]> {
    const cached = fresh ? undefined : this.cache.get(region);
    if (cached) return cached;
    const rows = await this.store.list<StoredKey>(SIGNING_KEY_KIND, `${region}/`);
    const keys = rows.filter((r) => r.doc.region === region).map((r) => fromStored(r.doc, this.kek));
    keys.sort((a, b) => a.validityStartMs - b.validityStartMs);
    this.cache.set(region, keys);
    return keys;
  }

  /** The newest key whose validity [start, end) holds the time, if any. */
  private static validAt(keys: SigningKey[], ms: number): SigningKey | undefined {
    let found: SigningKey | undefined;
    for (const k of keys) if (k.validityStartMs <= ms && ms < k.validityEndMs) found = k;
    return found;
  }

  /**
   * The key to sign with at `nowMs` in the Region: the newest key valid then, or a new key valid
   * from `nowMs` (its whole second) for the rotation period (the Region's first key, or the next
   * one after rotation).
   */
  currentKey(region: string, nowMs: number): Promise<SigningKey> {
    return this.serialized(async () => {
      let keys = await this.load(region);
      let valid = SigningKeyStore.validAt(keys, nowMs);
      if (valid) return valid;
      // Before making a key, re-read: another process on the same store may have made one.
      keys = await this.load(region, true);
      valid = SigningKeyStore.validAt(keys, nowMs);
      if (valid) return valid;
      return this.leases ? this.rotateUnderLease(this.leases, region, nowMs) : this.makeKey(region, nowMs, keys);
    });
  }

  /**
   * Several nodes: the Region's next key, made by the node that holds its rotation lease; a node
   * that does not waits for that key (up to twice the lease time, after which the lease is free).
   */
  private async rotateUnderLease(leases: LeaseKeeper, region: string, nowMs: number): Promise<SigningKey> {
    const name = `signing-key/${region}`;
    const deadline = performance.now() + 2 * leases.ttlMs + 5000;
    for (;;) {
      const fence = await leases.take(name);
      if (fence) {
        try {
          const keys = await this.load(region, true);
          return SigningKeyStore.validAt(keys, nowMs) ?? (await this.makeKey(region, nowMs, keys, fence));
        } finally {
          await leases.give(name).catch(() => undefined);
        }
      }
      await sleep(100);
      const made = SigningKeyStore.validAt(await this.load(region, true), nowMs);
      if (made) return made;
      if (performance.now() > deadline) throw new Error(`no signing key of ${region}: another node holds its rotation lease and made none`);
    }
  }

  /** A new key valid from `nowMs` (its whole second), stored (fenced, under a lease) and cached. */
  private async makeKey(region: string, nowMs: number, keys: SigningKey[], fence?: Fence): Promise<SigningKey> {
    // Validity starts on a whole second (as AWS's keys do) unless that would end it before now.
    const second = Math.floor(nowMs / 1000) * 1000;
    const startMs = second + this.rotationMs > nowMs ? second : nowMs;
    const pair = await this.generate();
    const publicKeyDer = publicKeyDerOf(pair.publicKey);
    const key: SigningKey = {
      region,
      fingerprint: fingerprintOf(publicKeyDer),
      publicKeyDer,
      privateKeyPem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      validityStartMs: startMs,
      validityEndMs: startMs + this.rotationMs,
    };
    await this.store.put(SIGNING_KEY_KIND, storageKey(region, startMs), sealKey(this.kek, key), { fence });
    const next = [...keys, key].sort((a, b) => a.validityStartMs - b.validityStartMs);
    this.cache.set(region, next);
    return key;
  }

  /** The Region's key with this fingerprint (any age). */
  keyByFingerprint(region: string, fingerprint: string): Promise<SigningKey | undefined> {
    return this.serialized(async () => {
      const find = (keys: SigningKey[]) => keys.find((k) => k.fingerprint === fingerprint);
      return find(await this.load(region)) ?? find(await this.load(region, true));
    });
  }

  /** The Region's keys whose validity overlaps [startMs, endMs], oldest first. */
  keysBetween(region: string, startMs: number, endMs: number): Promise<SigningKey[]> {
    return this.serialized(async () => (await this.load(region)).filter((k) => k.validityStartMs <= endMs && k.validityEndMs >= startMs));
  }

  /** Every Region's keys, oldest first per Region (for tools that read without a Region). */
  async allKeys(): Promise<SigningKey[]> {
    return this.serialized(async () => {
      const rows = await this.store.list<StoredKey>(SIGNING_KEY_KIND, '');
      return rows.map((r) => fromStored(r.doc, this.kek));
    });
  }
}
