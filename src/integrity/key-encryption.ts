/**
 * Encryption of the digest-signing private keys at rest (issue 10, item 9).
 *
 * Each private key is sealed with AES-256-GCM under a 32-byte key-encryption key (KEK) that is
 * kept apart from the control store: by default a key file in the data dir (mode 0600). A fresh
 * random 96-bit nonce is used per seal, and the key's identity (Region, fingerprint, validity
 * start) is the associated data, so a sealed key moved to another row does not open.
 *
 * With `integrity.keyEncryption` type `kms`, the KEK is instead a data key made by a KMS-compatible
 * service (`GenerateDataKey`), stored in the control store only as the service's ciphertext, and
 * opened with `Decrypt` at each start: access to the KMS key is then what signing needs.
 *
 * The KEK has an id (a keyed hash of it, not the key): stored with every sealed key, it tells
 * "this is the wrong key file" apart from "this row was tampered with".
 */
import { createSecretFile, readSecretFile, SecretFileError } from './secret-file.ts';
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import type { ControlStore, DataKeyService } from '../stores/index.ts';

export const KEK_BYTES = 32;

/** Runs a secret-file step, reporting its failure as a KeyEncryptionError. */
function secretFile<T>(step: () => T): T {
  try {
    return step();
  } catch (e) {
    throw e instanceof SecretFileError ? new KeyEncryptionError(e.message) : e;
  }
}
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const SEAL_ALGORITHM = 'AES-256-GCM';

/** A startup problem with the key-encryption key or the sealed keys; its message is one line for the operator. */
export class KeyEncryptionError extends Error {
  override name = 'KeyEncryptionError';
}

export interface KeyEncryptionKey {
  /** 16 hex digits identifying the key (HMAC-SHA256 of a constant under it); safe to store and print. */
  id: string;
  key: Buffer;
  /** Where it comes from, for messages ("key file /data/signing-keys.kek"). */
  source: string;
}

export function kekOf(key: Buffer, source: string): KeyEncryptionKey {
  if (key.length !== KEK_BYTES) throw new KeyEncryptionError(`${source} must hold exactly ${KEK_BYTES} bytes, not ${key.length}`);
  const id = createHmac('sha256', key).update('opentrail signing-keys kek id v1').digest('hex').slice(0, 16);
  return { id, key: Buffer.from(key), source };
}

/** A random KEK that lives only in memory (tests; keys sealed with it are unreadable by anyone else). */
export function ephemeralKek(): KeyEncryptionKey {
  return kekOf(randomBytes(KEK_BYTES), 'an in-memory key');
}

/** What a sealed private key is stored as (Buffers as base64). */
export interface SealedKey {
  alg: typeof SEAL_ALGORITHM;
  /** Id of the KEK it was sealed under. */
  kek: string;
  nonce: string;
  ciphertext: string;
  tag: string;
}

export function seal(kek: KeyEncryptionKey, plaintext: Buffer, aad: string): SealedKey {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', kek.key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { alg: SEAL_ALGORITHM, kek: kek.id, nonce: nonce.toString('base64'), ciphertext: ciphertext.toString('base64'), tag: cipher.getAuthTag().toString('base64') };
}

/** Opens a sealed key; throws KeyEncryptionError (`what` names the key) on a wrong KEK, a moved or altered row. */
export function unseal(kek: KeyEncryptionKey, sealed: SealedKey, aad: string, what: string): Buffer {
  if (sealed?.alg !== SEAL_ALGORITHM) throw new KeyEncryptionError(`${what} is sealed with an unknown algorithm (${String(sealed?.alg)})`);
  if (sealed.kek !== kek.id) {
    throw new KeyEncryptionError(`${what} was encrypted with key-encryption key ${sealed.kek}, but ${kek.source} is key ${kek.id}: restore the key file that was backed up with control.db (docs/storage.md)`);
  }
  const nonce = Buffer.from(sealed.nonce ?? '', 'base64');
  const tag = Buffer.from(sealed.tag ?? '', 'base64');
  if (nonce.length !== NONCE_BYTES || tag.length !== TAG_BYTES) throw new KeyEncryptionError(`${what} is damaged (bad nonce or tag length)`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek.key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext ?? '', 'base64')), decipher.final()]);
  } catch {
    throw new KeyEncryptionError(`${what} does not decrypt with ${kek.source} (key ${kek.id}): the row was altered or moved from another key`);
  }
}

/**
 * Where the KEK lives. `load` returns undefined when there is none yet and throws
 * KeyEncryptionError when there is one that must not be used; `create` makes and durably stores one.
 */
export interface KeyEncryptionKeySource {
  readonly description: string;
  /** What to do when stored keys are encrypted but `load` finds no key (one sentence). */
  readonly whenMissing: string;
  load(): Promise<KeyEncryptionKey | undefined>;
  create(): Promise<KeyEncryptionKey>;
}

/**
 * A KEK in a file of exactly 32 random bytes, mode 0600. A file readable or writable by group or
 * others, of another size, or not a regular file is refused, never "fixed".
 */
export class KeyFile implements KeyEncryptionKeySource {
  readonly path: string;
  readonly description: string;
  readonly whenMissing = 'restore it from the backup taken with control.db';

  constructor(path: string) {
    this.path = path;
    this.description = `key file ${path}`;
  }

  async load(): Promise<KeyEncryptionKey | undefined> {
    const bytes = secretFile(() => readSecretFile(this.path, KEK_BYTES, this.description));
    return bytes && kekOf(bytes, this.description);
  }

  /** Creates the file (never overwrites one), fsyncs it and its directory. */
  async create(): Promise<KeyEncryptionKey> {
    return kekOf(secretFile(() => createSecretFile(this.path, KEK_BYTES, this.description)), this.description);
  }
}

/** Control-store kind of the KMS-wrapped data key (key `kms`). */
export const WRAPPED_KEK_KIND = 'signing-key-kek';
/** The encryption context of the wrapped data key: the service opens it only for this purpose. */
export const KEK_ENCRYPTION_CONTEXT: Readonly<Record<string, string>> = { 'opentrail:purpose': 'digest-signing-keys' };

interface StoredWrappedKek {
  /** The service's ciphertext of the data key, base64. */
  ciphertextBlob: string;
  /** Id of the data key (as in sealed keys). */
  kek: string;
  /** Which service and key wrapped it, for messages. */
  wrappedBy: string;
}

/** A KEK that is a data key of a KMS-compatible service, stored wrapped in the control store. */
export class KmsWrappedKey implements KeyEncryptionKeySource {
  readonly description: string;
  readonly whenMissing = 'control.db has no KMS-wrapped data key, so its keys were encrypted under a key file: configure that key file (integrity.keyEncryption type file)';
  private readonly control: ControlStore;
  private readonly service: DataKeyService;

  constructor(control: ControlStore, service: DataKeyService) {
    this.control = control;
    this.service = service;
    this.description = `data key wrapped by ${service.description}`;
  }

  async load(): Promise<KeyEncryptionKey | undefined> {
    const doc = await this.control.get<StoredWrappedKek>(WRAPPED_KEK_KIND, 'kms');
    if (!doc) return undefined;
    let plaintext: Buffer;
    try {
      plaintext = await this.service.decrypt(Buffer.from(doc.ciphertextBlob, 'base64'), { ...KEK_ENCRYPTION_CONTEXT });
    } catch (e) {
      throw new KeyEncryptionError(`cannot decrypt the signing keys' data key (wrapped by ${doc.wrappedBy}) with ${this.service.description}: ${(e as Error).message}`);
    }
    const kek = kekOf(plaintext, this.description);
    if (kek.id !== doc.kek) throw new KeyEncryptionError(`${this.service.description} decrypted the signing keys' data key to key ${kek.id}, not ${doc.kek}`);
    return kek;
  }

  async create(): Promise<KeyEncryptionKey> {
    let made: { plaintext: Buffer; ciphertextBlob: Buffer };
    try {
      made = await this.service.generateDataKey({ ...KEK_ENCRYPTION_CONTEXT });
    } catch (e) {
      throw new KeyEncryptionError(`cannot make the signing keys' data key with ${this.service.description}: ${(e as Error).message}`);
    }
    const kek = kekOf(made.plaintext, this.description);
    await this.control.put(WRAPPED_KEK_KIND, 'kms', { ciphertextBlob: made.ciphertextBlob.toString('base64'), kek: kek.id, wrappedBy: this.service.description } satisfies StoredWrappedKek);
    return kek;
  }
}
