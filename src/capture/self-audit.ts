/**
 * Self-audit: every call to OpenTrail's own API becomes a CloudTrail record, written as AWS writes
 * CloudTrail's own events (eventSource cloudtrail.amazonaws.com, lowerCamelCase requestParameters
 * and responseElements, responseElements null for reads and failures).
 */
import { CURRENT_EVENT_VERSION, formatEventTime, isReadOnlyCall, partitionForRegion, userIdentityOf, type IdSource, type Identity, type RecordResource } from '../core/index.ts';
import { admit, append, type Admitted, type Ingester, type IngestPath } from '../ingest/index.ts';
import { StoreUnavailableError, type AppendInput, type Durability } from '../stores/index.ts';

export interface ApiCall {
  identity: Identity;
  region: string;
  eventSource: string;
  eventName: string;
  eventTimeMs: number;
  requestId: string;
  eventId: string;
  sourceIPAddress: string;
  userAgent: string | undefined;
  requestParameters: unknown;
  responseElements: unknown;
  error?: { code: string; message: string };
  /** Management (Event history) or data event. */
  category: 'Management' | 'Data';
  resources?: RecordResource[];
  additionalEventData?: Record<string, unknown>;
  /** Member names are already spelled as CloudTrail writes them (else: lowerCamelCase, as for CloudTrail's own API). */
  keysAsGiven?: boolean;
  /** readOnly when the caller knows better than the eventName's verb (the gateway: a REST GET). */
  readOnly?: boolean;
}

const MAX_ELEMENT_BYTES = 100 * 1024;
const MAX_TEXT = 1024;

/** Deeper request members than this are not recorded (the element becomes null). */
const MAX_DEPTH = 64;

class TooDeep extends Error {}

/** `S3BucketName` -> `s3BucketName`, recursively, as CloudTrail's own events spell members. */
export function lowerCamelKeys(v: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) throw new TooDeep();
  if (Array.isArray(v)) return v.map((x) => lowerCamelKeys(x, depth + 1));
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v)) out[k.charAt(0).toLowerCase() + k.slice(1)] = lowerCamelKeys(val, depth + 1);
  return out;
}

/**
 * requestParameters / responseElements as CloudTrail records them: null when empty, and omitted
 * (null) when larger than 100 KB or nested deeper than CloudTrail would keep.
 */
function element(v: unknown, keysAsGiven: boolean): Record<string, unknown> | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.keys(v).length === 0) return null;
  try {
    const camel = (keysAsGiven ? v : lowerCamelKeys(v)) as Record<string, unknown>;
    return Buffer.byteLength(JSON.stringify(camel)) > MAX_ELEMENT_BYTES ? null : camel;
  } catch (e) {
    if (e instanceof TooDeep) return null;
    throw e;
  }
}

const clip = (s: string) => (s.length > MAX_TEXT ? s.slice(0, MAX_TEXT) : s);

/** The CloudTrail record for one call to our API. */
export function selfAuditRecord(call: ApiCall): Record<string, unknown> {
  const readOnly = call.readOnly ?? isReadOnlyCall(call.eventSource, call.eventName);
  const rec: Record<string, unknown> = {
    eventVersion: CURRENT_EVENT_VERSION,
    userIdentity: userIdentityOf(call.identity, partitionForRegion(call.region)),
    eventTime: formatEventTime(call.eventTimeMs),
    eventSource: call.eventSource,
    eventName: call.eventName,
    awsRegion: call.region,
    sourceIPAddress: call.sourceIPAddress,
    userAgent: clip(call.userAgent ?? ''),
  };
  if (call.error) {
    rec.errorCode = clip(call.error.code);
    rec.errorMessage = clip(call.error.message);
  }
  rec.requestParameters = element(call.requestParameters, call.keysAsGiven === true);
  rec.responseElements = readOnly || call.error ? null : element(call.responseElements, call.keysAsGiven === true);
  if (call.additionalEventData) rec.additionalEventData = call.additionalEventData;
  rec.requestID = clip(call.requestId);
  rec.eventID = call.eventId;
  rec.readOnly = readOnly;
  if (call.resources) rec.resources = call.resources;
  rec.eventType = 'AwsApiCall';
  rec.managementEvent = call.category === 'Management';
  rec.recipientAccountId = call.identity.accountId;
  rec.eventCategory = call.category;
  return rec;
}

/** A call's record past the ingest front door (normalise -> route), and how durable it must be before the answer. */
export interface ApiCallInput {
  input: AppendInput;
  admitted: Admitted;
  durability: Durability;
}

/**
 * The append input for one call: its record through the front door's normalise and route (a call
 * too large to record in full is recorded without its parameters, as CloudTrail omits them). A
 * read's record need not wait for the disk flush: it survives kill -9 at once and is flushed with
 * the next write (docs/architecture.md).
 */
export function apiCallInput(call: Omit<ApiCall, 'eventId'>, ids: IdSource): ApiCallInput {
  const ctx = { defaultAccountId: call.identity.accountId, defaultRegion: call.region, nowMs: call.eventTimeMs, ids };
  const eventId = ids.uuid();
  let a = admit(selfAuditRecord({ ...call, eventId }), ctx);
  if (!a.ok) a = admit(selfAuditRecord({ ...call, eventId, requestParameters: null, responseElements: null, additionalEventData: undefined }), ctx);
  if (!a.ok) throw new Error(`API call record rejected: ${a.errorMessage}`);
  return { input: a.input, admitted: a, durability: a.normalized.record.readOnly === true ? 'process' : 'disk' };
}

/**
 * Records API calls through the ingest front door: `record(call)` resolves once the record is
 * appended (reads at `process` durability, writes at `disk`; see apiCallInput). `path` names the
 * capture path in metrics (the recording gateway's calls: `gateway`).
 */
export function apiCallRecorder(ingester: Pick<Ingester, 'submit' | 'observer'>, ids: IdSource, path: IngestPath = 'self-audit'): (call: Omit<ApiCall, 'eventId'>) => Promise<void> {
  return async (call) => {
    const { admitted, durability } = apiCallInput(call, ids);
    await append(ingester, [admitted], { durability, path });
  };
}

export interface AuditBacklogOptions {
  /** Records held at most; beyond it a record is written to the log instead (default 1000). */
  maxRecords?: number;
  /** Bytes of records (their JSON) held at most, likewise (default 16 MiB). */
  maxBytes?: number;
  /** Time between attempts while records wait (default 2000 ms). */
  retryMs?: number;
  log(message: string): void;
}

/**
 * Self-audit records of calls whose change was applied (and answered as applied) while the event
 * store could not take the record: held in memory and appended as soon as the store takes writes
 * again. Bounded: when full, and for whatever is still held when the process closes, each record
 * is written whole to the log (so an operator can still ingest it), never silently dropped. A
 * process that dies (kill -9, power loss) while records wait loses them: docs/storage.md.
 */
export class AuditBacklog {
  private readonly waiting: AppendInput[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private readonly ingester: Pick<Ingester, 'submit'>;
  private readonly max: number;
  private readonly maxBytes: number;
  private readonly retryMs: number;
  private readonly log: (message: string) => void;

  constructor(ingester: Pick<Ingester, 'submit'>, opts: AuditBacklogOptions) {
    this.ingester = ingester;
    this.max = opts.maxRecords ?? 1000;
    this.maxBytes = opts.maxBytes ?? 16 * 1024 * 1024;
    this.retryMs = opts.retryMs ?? 2000;
    this.log = opts.log;
  }

  get size(): number {
    return this.waiting.length;
  }

  /** Holds a record for a later append. */
  add(input: AppendInput): void {
    if (this.waiting.length >= this.max || this.bytes + Buffer.byteLength(input.json) > this.maxBytes) {
      this.log(`self-audit backlog full (${this.waiting.length} records, ${this.bytes} bytes): this record is not stored, only logged: ${input.json}`);
      return;
    }
    this.waiting.push(input);
    this.bytes += Buffer.byteLength(input.json);
    this.log(`self-audit record ${input.eventId} waits in memory until the event store takes writes again (${this.waiting.length} waiting)`);
    this.timer ??= setInterval(() => void this.flush(), this.retryMs).unref();
  }

  /** One attempt to append every waiting record (in one transaction). */
  flush(): Promise<void> {
    this.flushing ??= this.attempt().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async attempt(): Promise<void> {
    const batch = this.waiting.slice();
    try {
      if (batch.length === 0) return;
      await this.ingester.submit(batch, 'disk');
      this.waiting.splice(0, batch.length);
      this.bytes = this.waiting.reduce((n, r) => n + Buffer.byteLength(r.json), 0);
      this.log(`self-audit backlog: stored ${batch.length} record(s) that waited for the event store`);
    } catch (err) {
      // Still failing: the next attempt follows; the store's failure is logged where it is answered.
      // A failure that will not pass by itself (a bug) would be retried forever, holding up every
      // mutating call behind it: those records go to the log instead.
      if (!(err instanceof StoreUnavailableError)) {
        this.waiting.splice(0, batch.length);
        this.bytes = this.waiting.reduce((n, r) => n + Buffer.byteLength(r.json), 0);
        for (const r of batch) this.log(`self-audit record not stored (${(err as Error).message}), logged instead: ${r.json}`);
      }
    } finally {
      if (this.waiting.length === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    }
  }

  /** A last attempt; what still cannot be stored is written whole to the log. */
  async close(): Promise<void> {
    await this.flush();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.bytes = 0;
    for (const r of this.waiting.splice(0)) this.log(`self-audit record not stored before shutdown, logged instead: ${r.json}`);
  }
}

export interface ReadRecordGroupOptions {
  /** How long the first record of a group waits for others before the group is appended (ms); 0: each record at once, alone. */
  lingerMs: number;
  /** Records a group holds at most: the one that fills it appends the group at once. */
  maxRecords: number;
  /** Told of each record of a group whose append failed (it is not stored). */
  onFailure(input: AppendInput, err: unknown): void;
}

/**
 * The self-audit records of reads answered before their commit (`selfAudit.readRecords`
 * `after-answer`), appended in groups: one append (one commit on the store's writer thread, one
 * event-history pending row) for the reads of up to `lingerMs`, instead of one per read. A burst
 * of LookupEvents no longer makes one commit per answer beside it (docs/performance.md "Issue 11,
 * fifth round: lookups"). Order: `flush()` hands the group to the ingester at once, so a caller
 * that appends any other record calls it first and the records stay in the order of the calls.
 * Durability: a record waits at most `lingerMs` plus its commit; a `kill -9` meanwhile loses it,
 * as `after-answer` already allowed (docs/architecture.md "Self-audit").
 */
export class ReadRecordGroup {
  private held: Admitted[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly ingester: Pick<Ingester, 'submit' | 'observer'>;
  private readonly opts: ReadRecordGroupOptions;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(ingester: Pick<Ingester, 'submit' | 'observer'>, opts: ReadRecordGroupOptions) {
    this.ingester = ingester;
    this.opts = opts;
  }

  /** Records held, not yet handed to the ingester. */
  get size(): number {
    return this.held.length;
  }

  add(record: Admitted): void {
    this.held.push(record);
    if (this.held.length >= this.opts.maxRecords || this.opts.lingerMs <= 0) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.opts.lingerMs).unref();
  }

  /** Hands the held records to the ingester now (synchronously, in one append); never rejects. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.held.length === 0) return;
    const group = this.held;
    this.held = [];
    const done = append(this.ingester, group, { durability: 'process', path: 'self-audit' }).then(
      () => undefined,
      (err: unknown) => {
        for (const r of group) this.opts.onFailure(r.input, err);
      },
    );
    this.inFlight.add(done);
    void done.finally(() => this.inFlight.delete(done));
  }

  /** Appends what is held and waits for every group handed over. */
  async close(): Promise<void> {
    this.flush();
    await Promise.all([...this.inFlight]);
  }
}
