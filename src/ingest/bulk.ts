/**
 * The bulk ingest endpoint's logic: a CloudTrail log-file body `{"Records":[...]}` or NDJSON, each
 * record validated on its own; the valid ones appended durably in one group commit.
 */
import { normalizeRecord, type IdSource, type Identity } from '../core/index.ts';
import { toAppendInput } from './prepare.ts';
import type { Ingester } from './ingester.ts';
import type { AppendInput } from '../stores/index.ts';

export type BulkResult =
  | { status: 'accepted' | 'duplicate'; eventID: string }
  | { status: 'rejected'; errorCode: string; errorMessage: string };

export interface BulkOutput {
  accepted: number;
  duplicates: number;
  rejected: number;
  results: BulkResult[];
}

export class BulkBodyError extends Error {
  override name = 'BulkBodyError';
}

/**
 * Splits a body into records: a JSON object with a Records list (a CloudTrail log file), a JSON
 * array, or one JSON value per line. A line that is not JSON becomes a rejected entry, not an error.
 */
export function splitBody(text: string): unknown[] {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('[') || (trimmed.startsWith('{') && /^\{\s*"Records"\s*:/.test(trimmed))) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new BulkBodyError(`the body is not valid JSON: ${(e as Error).message}`);
    }
    if (Array.isArray(doc)) return doc;
    const records = (doc as { Records?: unknown }).Records;
    if (!Array.isArray(records)) throw new BulkBodyError('a log-file body needs "Records" to be a list');
    return records;
  }
  const out: unknown[] = [];
  for (const line of text.split('\n')) {
    if (line.trim().length === 0) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      out.push(new SyntaxError('the line is not valid JSON'));
    }
  }
  return out;
}

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
  for (let i = 0; i < records.length; i++) {
    const raw = records[i];
    if (raw instanceof SyntaxError) {
      results[i] = { status: 'rejected', errorCode: 'InvalidJson', errorMessage: raw.message };
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
