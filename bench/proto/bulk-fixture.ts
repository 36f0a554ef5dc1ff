/**
 * What the ingest-path prototypes (ingest-main.ts, pg-append-main.ts) share: the bench's bulk
 * bodies for a number of events, a trusted caller, the front door's limits, and a body cut into
 * 64 KiB chunks as a socket would hand it over.
 */
import { prepareBodies } from '../ingest.ts';
import type { Identity } from '../../src/core/index.ts';

export const identity = { type: 'IAMUser', accountId: '111111111111', accessKeyId: 'AKIAEXAMPLE000000001', principalId: 'AIDAEXAMPLE', isTrustedProducer: true } as unknown as Identity;
export const limits = { maxRecords: 5000, maxRecordChars: 1024 * 1024 };

/** The bodies of `events` records, 1,000 a body. */
export function bulkBodies(events: number): Buffer[] {
  return prepareBodies(events, 1000).bodies;
}

export async function* chunks(b: Buffer): AsyncIterable<Uint8Array> {
  for (let off = 0; off < b.length; off += 65536) yield b.subarray(off, Math.min(b.length, off + 65536));
}
