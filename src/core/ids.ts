import { createHash, randomUUID } from 'node:crypto';

/** Where new identifiers come from; injected so tests can pin them. */
export interface IdSource {
  uuid(): string;
}

export const randomIds: IdSource = { uuid: () => randomUUID() };

/**
 * A name-based UUID (version 5 layout over SHA-1) for ids that must come out the same every
 * time for the same input, e.g. an eventID derived from a channel and the caller's UID.
 */
export function stableUuid(...parts: string[]): string {
  const h = createHash('sha1').update(parts.join('\u0000')).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}
