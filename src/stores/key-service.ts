/**
 * A KMS-compatible key service that wraps data keys: the data key's plaintext is only ever in
 * memory; what is stored is the service's ciphertext, which only the service can open, and only
 * with the same encryption context.
 */
export interface DataKeyService {
  /** Names the key and endpoint, for messages (no secrets). */
  readonly description: string;
  /** A new 256-bit data key: its plaintext and the service's ciphertext of it. */
  generateDataKey(encryptionContext: Record<string, string>): Promise<{ plaintext: Buffer; ciphertextBlob: Buffer }>;
  /** The plaintext of a ciphertext made by `generateDataKey` with the same context. */
  decrypt(ciphertextBlob: Buffer, encryptionContext: Record<string, string>): Promise<Buffer>;
}

/** The service refused or could not be reached; `code` is its exception name when it answered. */
export class KeyServiceError extends Error {
  override name = 'KeyServiceError';
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}
