/**
 * The bulk ingest endpoint's logic: a CloudTrail log-file body `{"Records":[...]}` or NDJSON, each
 * record validated on its own; the valid ones appended durably in one group commit.
 */
import { normalizeRecord, type IdSource, type Identity } from '../core/index.ts';
import { toAppendInput } from './prepare.ts';
import type { Ingester } from './ingester.ts';
import type { AppendInput } from '../stores/index.ts';
import { RecordTooLargeEntry } from './stream-parse.ts';

export type BulkResult =
  | { status: 'accepted' | 'duplicate'; eventID: string }
  | { status: 'rejected'; errorCode: string; errorMessage: string };

export interface BulkOutput {
  accepted: number;
  duplicates: number;
  rejected: number;
  results: BulkResult[];
}

export { BulkBodyError, BulkLimitError, RecordTooLargeEntry, splitBody, parseBulkChunks, DEFAULT_PARSE_LIMITS, type BulkParseLimits } from './stream-parse.ts';

/** Work done between yields to the event loop while normalising, ms. */
const SLICE_MS = 8;

export interface BulkContext {
  identity: Identity;
  region: string;
  nowMs: number;
  ids: IdSource;
  /** Regions the server serves: records for others are refused (InvalidRegion). */
  servedRegions?: ReadonlySet<string>;
}

/** The counts of a bulk call's answer (what its self-audit record states). */
export type BulkCounts = Pick<BulkOutput, 'accepted' | 'duplicates' | 'rejected'>;

/**
 * Validates and appends the records. `audit`, when given, builds the call's self-audit record from
 * the counts; it is stored in the same transaction as the records: both or neither.
 */
export async function ingestBulk(ingester: Ingester, ctx: BulkContext, records: unknown[], audit?: (counts: BulkCounts) => readonly AppendInput[]): Promise<BulkOutput> {
  const results: BulkResult[] = new Array(records.length);
  const inputs: AppendInput[] = [];
  const at: number[] = [];
  const nctx = { defaultAccountId: ctx.identity.accountId, defaultRegion: ctx.region, nowMs: ctx.nowMs, ids: ctx.ids, servedRegions: ctx.servedRegions };
  let sliceStart = performance.now();
  for (let i = 0; i < records.length; i++) {
    // Normalising is synchronous: give the event loop a turn every SLICE_MS so that a large
    // request never holds up other callers.
    if ((i & 63) === 63 && performance.now() - sliceStart > SLICE_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
    const raw = records[i];
    if (raw instanceof SyntaxError) {
      results[i] = { status: 'rejected', errorCode: 'InvalidJson', errorMessage: raw.message };
      continue;
    }
    if (raw instanceof RecordTooLargeEntry) {
      results[i] = { status: 'rejected', errorCode: 'RecordTooLarge', errorMessage: raw.message };
      continue;
    }
    const n = normalizeRecord(raw, nctx);
    if (!n.ok) {
      results[i] = { status: 'rejected', errorCode: n.errorCode, errorMessage: n.errorMessage };
      continue;
    }
    if (n.value.record.recipientAccountId !== ctx.identity.accountId && !ctx.identity.isTrustedProducer) {
      results[i] = { status: 'rejected', errorCode: 'AccessDenied', errorMessage: `the caller may write only to its own account ${ctx.identity.accountId}; mark it trustedProducer to write to ${n.value.record.recipientAccountId}` };
      continue;
    }
    inputs.push(toAppendInput(n.value));
    at.push(i);
  }
  const counts = (outcomes: readonly { duplicate: boolean }[]): BulkCounts => {
    const duplicates = outcomes.filter((o) => o.duplicate).length;
    return { accepted: outcomes.length - duplicates, duplicates, rejected: records.length - outcomes.length };
  };
  const outcomes = await ingester.submit(inputs, 'disk', audit && ((out) => audit(counts(out))));
  let accepted = 0;
  let duplicates = 0;
  outcomes.forEach((o, j) => {
    results[at[j]!] = { status: o.duplicate ? 'duplicate' : 'accepted', eventID: inputs[j]!.eventId };
    if (o.duplicate) duplicates++;
    else accepted++;
  });
  return { accepted, duplicates, rejected: records.length - accepted - duplicates, results };
}
