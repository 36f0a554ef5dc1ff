/**
 * The bulk ingest endpoint's logic: a CloudTrail log-file body `{"Records":[...]}` or NDJSON, each
 * record validated on its own; the valid ones appended durably in one group commit.
 */
import { historyCategory, type CloudTrailRecord, type IdSource, type Identity } from '../core/index.ts';
import { admit, admitAll, append, type Admission, type Refusal, type ResultOf } from './front-door.ts';
import type { Ingester } from './ingester.ts';
import type { EntryMap } from './stream-parse.ts';
import type { AppendInput } from '../stores/index.ts';

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

export { BulkBodyError, BulkLimitError, RecordTooLargeEntry, splitBody, parseBulkChunks, DEFAULT_PARSE_LIMITS, type BulkParseLimits, type EntryMap } from './stream-parse.ts';

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
 * What a bulk call keeps of an admitted record until its commit: the append input and the Event
 * history note (worked out at admit), not the parsed or normalised record's objects, which so die
 * young instead of being promoted while the group commit runs (docs/storage.md "Memory").
 */
export type BulkAdmitted = { ok: true; input: AppendInput; note: EventHistoryNote | undefined } | ({ ok: false } & Refusal);

const frontDoorContext = (ctx: BulkContext) => ({ defaultAccountId: ctx.identity.accountId, defaultRegion: ctx.region, nowMs: ctx.nowMs, ids: ctx.ids, servedRegions: ctx.servedRegions, anyAccount: ctx.identity.isTrustedProducer === true });

const keepFor = (ctx: BulkContext) => (a: Admission): BulkAdmitted => (a.ok ? { ok: true, input: a.input, note: eventHistoryNote(a.normalized.record, a.normalized.eventTimeSec, ctx.nowMs, ctx.retentionDays) } : a);

/**
 * normalise -> route for one parsed entry, keeping only what the commit and the answer need: the
 * map to give parseBulkChunks, so each record is admitted as soon as it is parsed.
 */
export function bulkAdmitter(ctx: BulkContext, arena = new RequestRecordBuffers()): EntryMap<BulkAdmitted> {
  const fctx = frontDoorContext(ctx);
  const keep = keepFor(ctx);
  return (raw, text) => {
    const a = admit(raw, fctx, text);
    // Kept as its UTF-8 bytes, written once into the request's buffers (what the store copies into
    // its block), not as a string: the record's text is often a slice of the body's text, which
    // would keep its whole 64 KB piece alive until the commit, and a string kept that long is
    // copied by every young-generation GC on the way (docs/performance.md, "Issue 11, seventh round").
    if (a.ok) a.input = new Utf8Input(a.input, arena.encode(a.input.json));
    return keep(a);
  };
}

/**
 * The UTF-8 bytes of a request's records, written one after another into buffers of ARENA_BYTES
 * (off the JS heap: the young-generation GC never copies them); a record's bytes are a view.
 * `release()` gives the buffers back for the next requests' arenas: a buffer allocated per request
 * lives until its commit, so it is promoted and, being external memory, is freed only by (and
 * hastens) a full GC. After `release()` no record of the arena may be read: the bulk endpoint
 * releases once its append settled (src/http/app.ts).
 */
export class RequestRecordBuffers {
  private buf: Buffer = EMPTY;
  private off = 0;
  private readonly taken: Buffer[] = [];

  encode(text: string): Uint8Array {
    // A UTF-16 code unit takes at most 3 bytes in UTF-8 (a surrogate pair: 4 for 2).
    const most = text.length * 3;
    if (this.buf.length - this.off < most) {
      this.buf = most <= ARENA_BYTES ? (spare.pop() ?? Buffer.allocUnsafeSlow(ARENA_BYTES)) : Buffer.allocUnsafeSlow(most);
      this.taken.push(this.buf);
      this.off = 0;
    }
    const start = this.off;
    this.off += this.buf.write(text, start, 'utf8');
    return this.buf.subarray(start, this.off);
  }

  release(): void {
    for (const b of this.taken) if (b.length === ARENA_BYTES && spare.length < MAX_SPARE) spare.push(b);
    this.taken.length = 0;
    this.buf = EMPTY;
    this.off = 0;
  }
}

const EMPTY = Buffer.alloc(0);
/** Arena buffers given back, for the next requests (at most MAX_SPARE: 8 MiB). */
const spare: Buffer[] = [];
const MAX_SPARE = 32;
const ARENA_BYTES = 256 * 1024;

/**
 * An admitted record's AppendInput whose record is kept as UTF-8 bytes (`utf8`); `json` is decoded
 * from them when asked (the SQLite store never asks: it copies the bytes). The text is well formed
 * (JSON.parse's source proved canonical, or JSON.stringify's output), so the round trip is exact.
 */
class Utf8Input implements AppendInput {
  readonly accountId: string;
  readonly region: string;
  readonly eventId: string;
  readonly eventTimeSec: number;
  readonly utf8: Uint8Array;
  readonly history: AppendInput['history'];
  readonly summary: string | undefined;
  private text: string | undefined;

  constructor(input: AppendInput, utf8: Uint8Array) {
    this.accountId = input.accountId;
    this.region = input.region;
    this.eventId = input.eventId;
    this.eventTimeSec = input.eventTimeSec;
    this.utf8 = utf8;
    this.history = input.history;
    this.summary = input.summary;
  }

  get json(): string {
    this.text ??= Buffer.from(this.utf8.buffer, this.utf8.byteOffset, this.utf8.byteLength).toString('utf8');
    return this.text;
  }
}

/**
 * Validates and appends the records through the front door (normalise -> route -> append). `audit`,
 * when given, builds the call's self-audit record from the counts; it is stored in the same
 * transaction as the records: both or neither. (The HTTP endpoint admits while parsing instead:
 * `bulkAdmitter`, then `ingestAdmitted`.)
 */
export async function ingestBulk(ingester: Pick<Ingester, 'submit' | 'observer'>, ctx: BulkContext, records: unknown[], audit?: (counts: BulkCounts) => readonly AppendInput[]): Promise<BulkOutput> {
  return ingestAdmitted(ingester, await admitAll(records, frontDoorContext(ctx), { keep: keepFor(ctx) }), audit);
}

/** `ingestBulk` for entries already admitted (`bulkAdmitter`, while parsing): append and answer. */
export async function ingestAdmitted(ingester: Pick<Ingester, 'submit' | 'observer'>, admitted: readonly BulkAdmitted[], audit?: (counts: BulkCounts) => readonly AppendInput[]): Promise<BulkOutput> {
  const counts = (stored: readonly ResultOf<BulkAdmitted>[]): BulkCounts => {
    let accepted = 0;
    let duplicates = 0;
    for (const r of stored) {
      if (!r.ok) continue;
      if (r.duplicate) duplicates++;
      else accepted++;
    }
    return { accepted, duplicates, rejected: admitted.length - accepted - duplicates };
  };
  const stored = await append(ingester, admitted, { durability: 'disk', follow: audit && ((r) => audit(counts(r))), path: 'bulk' });
  let notInEventHistory = 0;
  const results = stored.map((r): BulkResult => {
    if (!r.ok) return { status: 'rejected', errorCode: r.errorCode, errorMessage: r.errorMessage };
    if (r.note?.appears === 'never') notInEventHistory++;
    return { status: r.duplicate ? 'duplicate' : 'accepted', eventID: r.input.eventId, ...(r.note ? { eventHistory: r.note } : {}) };
  });
  return { ...counts(stored), notInEventHistory, results };
}
