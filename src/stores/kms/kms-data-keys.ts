/**
 * DataKeyService on AWS KMS or any KMS-compatible endpoint: `GenerateDataKey` and `Decrypt`, AWS
 * JSON 1.1, SigV4 service `kms`, signed with @smithy/signature-v4 as validate-logs signs its one
 * Organizations call (two calls do not justify a client package: docs/dependencies.md).
 * Answers are read up to 64 KiB and each call times out.
 */
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from '../../core/sha256.ts';
import { KeyServiceError, type DataKeyService } from '../key-service.ts';

export interface KmsDataKeysConfig {
  /** Default `https://kms.<region>.amazonaws.com`. */
  endpoint?: string;
  region: string;
  keyId: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  timeoutMs?: number;
}

const MAX_ANSWER_BYTES = 64 * 1024;


async function readBounded(res: Response): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_ANSWER_BYTES) {
      await reader.cancel();
      throw new KeyServiceError('AnswerTooLarge', `the answer is larger than ${MAX_ANSWER_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export class KmsDataKeys implements DataKeyService {
  readonly description: string;
  private readonly endpoint: URL;
  private readonly keyId: string;
  private readonly signer: SignatureV4;
  private readonly timeoutMs: number;

  constructor(cfg: KmsDataKeysConfig) {
    this.endpoint = new URL(cfg.endpoint ?? `https://kms.${cfg.region}.amazonaws.com`);
    this.keyId = cfg.keyId;
    this.timeoutMs = cfg.timeoutMs ?? 10_000;
    this.description = `KMS key ${cfg.keyId} at ${this.endpoint.origin}`;
    const accessKeyId = cfg.accessKeyId ?? process.env.AWS_ACCESS_KEY_ID;
    const secretAccessKey = cfg.secretAccessKey ?? process.env.AWS_SECRET_ACCESS_KEY;
    const sessionToken = cfg.accessKeyId ? cfg.sessionToken : (cfg.sessionToken ?? process.env.AWS_SESSION_TOKEN);
    this.signer = new SignatureV4({
      credentials: async () => {
        if (!accessKeyId || !secretAccessKey) throw new KeyServiceError('MissingCredentials', 'no credentials: set accessKeyId and secretAccessKey, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
        return { accessKeyId, secretAccessKey, sessionToken };
      },
      region: cfg.region,
      service: 'kms',
      sha256: NodeSha256,
    });
  }

  private async call(operation: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const body = JSON.stringify(input);
    const u = this.endpoint;
    const signed = await this.signer.sign({
      method: 'POST', protocol: u.protocol, hostname: u.hostname, port: u.port ? Number(u.port) : undefined, path: u.pathname || '/',
      headers: { host: u.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `TrentService.${operation}` },
      body,
    });
    let res: Response;
    let text: string;
    try {
      res = await fetch(u, { method: 'POST', headers: signed.headers as Record<string, string>, body, signal: AbortSignal.timeout(this.timeoutMs), redirect: 'error' });
      text = await readBounded(res);
    } catch (e) {
      if (e instanceof KeyServiceError) throw e;
      const cause = (e as Error & { cause?: { message?: string } }).cause?.message;
      throw new KeyServiceError('Unreachable', `${operation} failed: ${(e as Error).message}${cause ? ` (${cause})` : ''}`);
    }
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // an answer that is not JSON: reported by status below
    }
    if (!res.ok) {
      const code = String(json.__type ?? `HTTP ${res.status}`).split('#').at(-1)!;
      throw new KeyServiceError(code, `${operation}: ${code}${json.message ?? json.Message ? `: ${String(json.message ?? json.Message)}` : ''}`);
    }
    return json;
  }

  private static bytes(json: Record<string, unknown>, field: string, operation: string): Buffer {
    const v = json[field];
    if (typeof v !== 'string' || v.length === 0) throw new KeyServiceError('BadAnswer', `${operation} answered without ${field}`);
    return Buffer.from(v, 'base64');
  }

  async generateDataKey(encryptionContext: Record<string, string>): Promise<{ plaintext: Buffer; ciphertextBlob: Buffer }> {
    const out = await this.call('GenerateDataKey', { KeyId: this.keyId, KeySpec: 'AES_256', EncryptionContext: encryptionContext });
    return { plaintext: KmsDataKeys.bytes(out, 'Plaintext', 'GenerateDataKey'), ciphertextBlob: KmsDataKeys.bytes(out, 'CiphertextBlob', 'GenerateDataKey') };
  }

  async decrypt(ciphertextBlob: Buffer, encryptionContext: Record<string, string>): Promise<Buffer> {
    const out = await this.call('Decrypt', { KeyId: this.keyId, CiphertextBlob: ciphertextBlob.toString('base64'), EncryptionContext: encryptionContext });
    return KmsDataKeys.bytes(out, 'Plaintext', 'Decrypt');
  }
}
