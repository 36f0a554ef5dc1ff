/**
 * What the light HTTP clients (the S3 bucket reader, validate-logs' CloudTrail client) share when
 * they read an answer: the network errors worth one more attempt, and a body read whole into text
 * with a bound, the stream destroyed past it.
 */

/** Connection failures retried as the AWS SDKs retry them. */
export const RETRYABLE_NET_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ECONNABORTED']);

/** The body as UTF-8 text; past `max` bytes the stream is destroyed and `tooLarge()` is thrown. */
export async function readBoundedText(body: AsyncIterable<unknown> & { destroy(): void }, max: number, tooLarge: () => Error): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += (c as Buffer).length;
    if (n > max) {
      body.destroy();
      throw tooLarge();
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks, n).toString('utf8');
}
