/**
 * The ingest front door: every capture path stores records the same way, here.
 *
 *   normalise -> route -> append
 *
 * - normalise: the record checked and completed (`normalizeRecord`, src/core/normalize.ts);
 * - route: where it is stored (its recipientAccountId and awsRegion) and whether the writer may
 *   write there (a caller writes to its own account unless it may write to any);
 * - append: what the store appends (`toAppendInput`: Event history attributes and summary),
 *   submitted to the group commit (`Ingester`) in one transaction per call, with whatever the
 *   caller's `follow` adds to that transaction (its own self-audit record).
 *
 * Used by the bulk endpoint (`ingestBulk`), PutAuditEvents, the self-audit of our API and the
 * recording gateway (both through `apiCallInput`/`apiCallRecorder`, src/capture/self-audit.ts), and
 * the self-audit backlog. The Node middleware posts to the bulk endpoint. The `Ingester` is only
 * the group commit.
 */
import { normalizeRecord, type NormalizeContext, type NormalizedRecord } from '../core/index.ts';
import type { AppendInput, AppendOutcome, Durability } from '../stores/index.ts';
import type { Ingester, IngestPath } from './ingester.ts';
import { toAppendInput } from './prepare.ts';
import { RecordTooLargeEntry } from './stream-parse.ts';

/** Why an entry is not stored. */
export interface Refusal {
  errorCode: string;
  errorMessage: string;
}

/** An entry its caller already refused (a check of its own): it stays refused, in its place. */
export class Refused implements Refusal {
  readonly errorCode: string;
  readonly errorMessage: string;
  constructor(errorCode: string, errorMessage: string) {
    this.errorCode = errorCode;
    this.errorMessage = errorMessage;
  }
}

/** A record past normalise and route: what the store appends. */
export interface Admitted {
  ok: true;
  normalized: NormalizedRecord;
  input: AppendInput;
}

export type Admission = Admitted | ({ ok: false } & Refusal);

/** One entry's result after the append: stored (new or a duplicate of a stored event) or refused. */
export type IngestResult = ResultOf<Admission>;

/** The result of an entry kept as `K` (see admitAll's `keep`). */
export type ResultOf<K extends Kept> = (Extract<K, { ok: true }> & { duplicate: boolean }) | ({ ok: false } & Refusal);

export interface FrontDoorContext extends NormalizeContext {
  /**
   * The route's check: a record for an account other than `defaultAccountId` is refused
   * (AccessDenied) unless this is true (a trusted producer). Undefined: not checked (the caller
   * built the record for its own account).
   */
  anyAccount?: boolean;
}

const refused = (errorCode: string, errorMessage: string): Admission => ({ ok: false, errorCode, errorMessage });

/**
 * normalise -> route, for one entry: its append input, or why it is refused (`sourceText`: the
 * JSON text a parser made `raw` from, see normalizeRecord). Synchronous, so a
 * `follow` can build its record inside the transaction. Entries a parser could not read
 * (`SyntaxError`, `RecordTooLargeEntry`) and entries refused upstream (`Refused`) stay refused.
 */
export function admit(raw: unknown, ctx: FrontDoorContext, sourceText?: string): Admission {
  if (raw instanceof SyntaxError) return refused('InvalidJson', raw.message);
  if (raw instanceof RecordTooLargeEntry) return refused('RecordTooLarge', raw.message);
  if (raw instanceof Refused) return refused(raw.errorCode, raw.errorMessage);
  const n = normalizeRecord(raw, ctx, sourceText);
  if (!n.ok) return refused(n.errorCode, n.errorMessage);
  const account = n.value.record.recipientAccountId;
  if (ctx.anyAccount === false && account !== ctx.defaultAccountId) {
    return refused('AccessDenied', `the caller may write only to its own account ${ctx.defaultAccountId}; mark it trustedProducer to write to ${account}`);
  }
  return { ok: true, normalized: n.value, input: toAppendInput(n.value) };
}

/** Work done between yields to the event loop while admitting, ms. */
const SLICE_MS = 8;

/** An admitted entry in whatever form its caller keeps until the commit: at least what the store appends. */
export type Kept = { ok: true; input: AppendInput } | ({ ok: false } & Refusal);

export interface AdmitAllOptions<K extends Kept> {
  /**
   * What is kept of each admission until the commit (default: all of it). A caller that needs
   * little of the normalised record after the commit keeps only that, so the record's objects die
   * young (the bulk endpoint: docs/storage.md "Memory").
   */
  keep?: (a: Admission) => K;
}

/** `admit` for each entry, in order, giving the event loop a turn every few ms (a large body never holds up other callers). */
export async function admitAll(raws: readonly unknown[], ctx: FrontDoorContext): Promise<Admission[]>;
export async function admitAll<K extends Kept>(raws: readonly unknown[], ctx: FrontDoorContext, opts: AdmitAllOptions<K>): Promise<K[]>;
export async function admitAll<K extends Kept>(raws: readonly unknown[], ctx: FrontDoorContext, opts: AdmitAllOptions<K> = {}): Promise<K[]> {
  const out: K[] = new Array(raws.length);
  const keep = opts.keep ?? ((a: Admission) => a as K);
  let sliceStart = performance.now();
  for (let i = 0; i < raws.length; i++) {
    if ((i & 63) === 63 && performance.now() - sliceStart > SLICE_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
    out[i] = keep(admit(raws[i], ctx));
  }
  return out;
}

export interface AppendOptions<K extends Kept = Admission> {
  /** Default `disk`; `process` for records nobody waits to see acknowledged (the self-audit of reads). */
  durability?: Durability;
  /**
   * Called inside the transaction with every entry's result; the records it returns (the call's
   * own self-audit record, which counts what was stored) are stored in the same transaction: all
   * or nothing.
   */
  follow?: (results: readonly ResultOf<K>[]) => readonly AppendInput[];
  /** The capture path, for the ingester's metrics hooks (counted once the transaction committed). */
  path?: IngestPath;
}

/**
 * append: the admitted entries in one transaction of the group commit; resolves once durable with
 * one result per entry (refused ones as they were), or rejects having stored none of them.
 */
export async function append<K extends Kept = Admission>(ingester: Pick<Ingester, 'submit' | 'observer'>, admissions: readonly K[], opts: AppendOptions<K> = {}): Promise<ResultOf<K>[]> {
  const inputs: AppendInput[] = [];
  for (const a of admissions) if (a.ok) inputs.push(a.input);
  const resultsOf = (outcomes: readonly AppendOutcome[]): ResultOf<K>[] => {
    let j = 0;
    return admissions.map((a) => (a.ok ? { ...a, duplicate: outcomes[j++]!.duplicate } : a) as ResultOf<K>);
  };
  const follow = opts.follow;
  const outcomes = await ingester.submit(inputs, opts.durability ?? 'disk', follow && ((out) => follow(resultsOf(out))));
  if (opts.path && ingester.observer) {
    let duplicates = 0;
    for (const o of outcomes) if (o.duplicate) duplicates++;
    ingester.observer.appended(opts.path, outcomes.length - duplicates, duplicates, admissions.length - inputs.length);
  }
  return resultsOf(outcomes);
}

/** The whole front door: normalise -> route -> append, for a call's entries. */
export async function ingest(ingester: Pick<Ingester, 'submit' | 'observer'>, raws: readonly unknown[], ctx: FrontDoorContext, opts: AppendOptions = {}): Promise<IngestResult[]> {
  return append(ingester, await admitAll(raws, ctx), opts);
}
