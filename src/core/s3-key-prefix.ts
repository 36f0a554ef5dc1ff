/**
 * Whether a trail's S3KeyPrefix can ever be delivered: every key OpenTrail writes under it is
 * `<prefix>/AWSLogs/...`, which must be a well-formed key that no object store maps outside the
 * bucket or refuses.
 */

/** CloudTrail's documented limit on S3KeyPrefix. */
export const MAX_S3_KEY_PREFIX_LENGTH = 200;

/**
 * Why the prefix could never be delivered, or undefined when it can. Refused: more than 200
 * characters; a leading `/`; an empty segment (`//`, or a trailing `/` that makes `prefix//AWSLogs`);
 * a `.` or `..` segment (filesystem buckets would resolve it, and S3 consoles and tools show such keys
 * as paths); control characters (U+0000-U+001F, U+007F); text that is not valid Unicode (a lone
 * surrogate has no UTF-8 form, and S3 keys are UTF-8).
 */
export function s3KeyPrefixProblem(prefix: string): string | undefined {
  if (prefix.length > MAX_S3_KEY_PREFIX_LENGTH) return `it is longer than ${MAX_S3_KEY_PREFIX_LENGTH} characters`;
  if (/[\u0000-\u001f\u007f]/.test(prefix)) return 'it contains a control character';
  if (!prefix.isWellFormed()) return 'it is not valid Unicode';
  if (prefix.startsWith('/')) return 'it starts with /';
  for (const segment of prefix.split('/')) {
    if (segment === '') return 'it contains an empty path segment (// or a trailing /)';
    if (segment === '.' || segment === '..') return `it contains a ${segment} path segment`;
  }
  return undefined;
}
