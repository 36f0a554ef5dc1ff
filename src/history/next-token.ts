/**
 * LookupEvents NextToken: opaque, tamper-evident and bound to the caller.
 *
 * The token is AES-256-GCM over the page position, with the caller's account, region and query
 * fingerprint as associated data: a token is unreadable, any change to it fails authentication,
 * and a token presented by another account, in another region or with other parameters fails too.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import type { HistoryPosition } from '../stores/index.ts';

export interface TokenBinding {
  accountId: string;
  region: string;
  /** A stable text of the query parameters the token is valid for. */
  query: string;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

export class NextTokenCodec {
  /** A KeyObject, made once: a raw Buffer key is imported again by every cipher (half of an encode's CPU). */
  private readonly key: KeyObject;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('NextToken key must be 32 bytes');
    this.key = createSecretKey(key);
  }

  static randomKey(): Buffer {
    return randomBytes(32);
  }

  private aad(b: TokenBinding): Buffer {
    return Buffer.from(JSON.stringify([b.accountId, b.region, b.query]));
  }

  encode(pos: HistoryPosition, binding: TokenBinding): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(this.aad(binding));
    const body = Buffer.concat([cipher.update(`${pos.t}.${pos.seq}`, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
  }

  /** The position, or undefined for any token that was not issued for this binding. */
  decode(token: string, binding: TokenBinding): HistoryPosition | undefined {
    if (!/^[A-Za-z0-9_-]{1,512}$/.test(token)) return undefined;
    const raw = Buffer.from(token, 'base64url');
    // Base64 decoding forgives stray trailing bits: only the canonical spelling is the token.
    if (raw.length <= IV_BYTES + TAG_BYTES || raw.toString('base64url') !== token) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
      decipher.setAAD(this.aad(binding));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      const text = Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
      const m = /^(-?\d+)\.(\d+)$/.exec(text);
      return m ? { t: Number(m[1]), seq: Number(m[2]) } : undefined;
    } catch {
      return undefined;
    }
  }
}
