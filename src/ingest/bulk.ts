/**
 * The bulk ingest endpoint's logic: a CloudTrail log-file body `{"Records":[...]}` or NDJSON, each
 * record validated on its own; the valid ones appended durably in one group commit.
 */
import { historyCategory, normalizeRecord, type CloudTrailRecord, type IdSource, type Identity } from '../core/index.ts';
import { toAppendInput } from './prepare.ts';
import type { Ingester } from './ingester.ts';
import type { AppendInput } from '../stores/index.ts';
import { RecordTooLargeEntry } from './stream-parse.ts';

export type BulkResult =
  | { status: 'accepted' | 'duplicate'; eventID: string; eventHistory?: EventHistoryNote }
  | { status: 'rejected'; errorCode: string; errorMessage: string };

/**
 * Said of a stored record that LookupEvents will not return now: `never` (not an Event history
 * category, older than the retention, or so far ahead that the log drops it before its time comes)
 * or `later` (an eventTime in the future: from then on). docs/ingest.md.
 */
export interface EventHistoryNote {
  appears: 'never' | 'later';
  reason: 'NotInEventHistory' | 'OlderThanRetention' | 'TooFarInFuture' | 'FutureEventTime';
  message: string;
}

export interface BulkOutput {
  accepted: number;
  duplicates: number;
  rejected: number;
  /** Stored records (accepted or duplicate) that Event history will never show. */
  notInEventHistory: number;
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
  /** Event history's retention (config eventHistory.retentionDays): records outside it are said to never appear. */
  retentionDays?: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Whether (and when) LookupEvents will return a stored record; undefined: it does now. */
export function eventHistoryNote(record: CloudTrailRecord, eventTimeSec: number, nowMs: number, retentionDays?: number): EventHistoryNote | undefined {
  if (!historyCategory(record)) {
    return {
      appears: 'never', reason: 'NotInEventHistory',
      message: `Event history holds management and Insights events only (as on AWS), not eventCategory ${record.eventCategory}${record.managementEvent === false ? ' with managementEvent false' : ''}; read it with GET /events or from a trail's log files`,
    };
  }
  const t = record.eventTime;
  if (retentionDays !== undefined) {
    const window = `${retentionDays} days (eventHistory.retentionDays)`;
    if (eventTimeSec * 1000 < nowMs - retentionDays * DAY_MS) {
      return { appears: 'never', reason: 'OlderThanRetention', message: `eventTime ${t} is more than ${window} ago: LookupEvents never returns it; it is in GET /events and trails' log files` };
    }
    if (eventTimeSec * 1000 > nowMs + retentionDays * DAY_MS) {
      return { appears: 'never', reason: 'TooFarInFuture', message: `eventTime ${t} is more than ${window} ahead: the event log drops it ${window} after it was stored, before that time comes, so LookupEvents never returns it` };
    }
  }
  if (eventTimeSec * 1000 > nowMs) {
    return { appears: 'later', reason: 'FutureEventTime', message: `eventTime ${t} is in the future: LookupEvents returns it from then on (its EndTime is at most now)` };
  }
  return undefined;
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
  const notes: (EventHistoryNote | undefined)[] = [];
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
    notes.push(eventHistoryNote(n.value.record, n.value.eventTimeSec, ctx.nowMs, ctx.retentionDays));
  }
  const counts = (outcomes: readonly { duplicate: boolean }[]): BulkCounts => {
    const duplicates = outcomes.filter((o) => o.duplicate).length;
    return { accepted: outcomes.length - duplicates, duplicates, rejected: records.length - outcomes.length };
  };
  const outcomes = await ingester.submit(inputs, 'disk', audit && ((out) => audit(counts(out))));
  let accepted = 0;
  let duplicates = 0;
  let notInEventHistory = 0;
  outcomes.forEach((o, j) => {
    const note = notes[j];
    results[at[j]!] = { status: o.duplicate ? 'duplicate' : 'accepted', eventID: inputs[j]!.eventId, ...(note ? { eventHistory: note } : {}) };
    if (o.duplicate) duplicates++;
    else accepted++;
    if (note?.appears === 'never') notInEventHistory++;
  });
  return { accepted, duplicates, rejected: records.length - accepted - duplicates, notInEventHistory, results };
}
