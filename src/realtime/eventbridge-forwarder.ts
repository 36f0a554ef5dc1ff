/**
 * CloudTrail events to an EventBridge-compatible endpoint (config `eventBridge`; docs/realtime.md):
 * a consumer of the event log with its own cursor (log-consumer.ts) that puts every event CloudTrail
 * would send (envelope.ts) on the event bus of the event's Region, in PutEvents calls of up to 10
 * entries and 256 KB.
 *
 * MUST: at least once: the cursor passes an event only after PutEvents accepted it; a call that
 *   fails, or an entry the bus refused with a retryable code (InternalFailure, ThrottlingException),
 *   is tried again (with the consumer's backoff) from that entry on, so the entries after it are
 *   sent again too.
 * MUST: one refused event never blocks the others: an entry refused with any other code (the
 *   PutEventsResultEntry reference calls them non-retryable: AccessDeniedException,
 *   MalformedDetail, ...) would be refused forever, so it is counted (`refused`), logged and passed,
 *   as an entry over 256 KB is.
 * MUST: in order per account and Region: the log is read in seq order and calls are made one after
 *   the other, each only after the one before it was accepted.
 */
import { compileTrailScope, scopeOfTrail, TRAIL_KIND, type CloudTrailRecord, type OrganizationConfig, type TrailDoc } from '../core/index.ts';
import { DeliveryTargetError, type ControlStore, type EventPublisher, type PutEventsRequestEntry } from '../stores/index.ts';
import { forwardsToEventBridge, putEventsEntry } from './envelope.ts';
import type { PageHandler } from './log-consumer.ts';

/**
 * The per-entry error codes worth sending again (PutEventsResultEntry's "Retryable errors"); every
 * other code is permanent for that entry.
 */
export const RETRYABLE_ENTRY_ERRORS: ReadonlySet<string> = new Set(['InternalFailure', 'ThrottlingException']);

/** PutEvents limits (EventBridge API reference): 10 entries, 256 KB per request. */
export const PUT_EVENTS_MAX_ENTRIES = 10;
export const PUT_EVENTS_MAX_BYTES = 256 * 1024;

/** An entry's size as EventBridge counts it ("Calculating PutEvents event entry size"). */
export function entrySize(e: PutEventsRequestEntry): number {
  let n = 14 + Buffer.byteLength(e.Source) + Buffer.byteLength(e.DetailType) + Buffer.byteLength(e.Detail);
  for (const r of e.Resources) n += Buffer.byteLength(r);
  return n;
}

export type EventBridgeOutcome = 'sent' | 'failed' | 'refused' | 'too_large';

export interface ForwarderDeps {
  publisher: EventPublisher;
  control: ControlStore;
  logError(msg: string, err?: unknown): void;
  /**
   * For metrics (never throws): entries accepted (sent), not taken and sent again (failed), refused
   * for good with a non-retryable code (refused), left out as too large (too_large).
   */
  onOutcome?(outcome: EventBridgeOutcome, count: number): void;
}

export interface ForwarderOptions {
  eventBusName: string;
  readOnlyManagementEvents: boolean;
  regions: string[];
  organization?: OrganizationConfig;
}

/**
 * Which data events a logging trail logs: every logging trail's scope, compiled once per page
 * that has data events (trails change rarely; a page is read in one pass).
 */
export async function loggedByTrails(control: ControlStore, regions: string[], org: OrganizationConfig | undefined): Promise<(r: CloudTrailRecord) => boolean> {
  const scopes = (await control.list<TrailDoc>(TRAIL_KIND, '')).map((x) => x.doc).filter((t) => t.isLogging).map((t) => compileTrailScope(scopeOfTrail(t, regions, org)));
  return (r) => scopes.some((admits) => admits(r));
}

/** The page handler of the EventBridge consumer. */
export function eventBridgeHandler(deps: ForwarderDeps, opts: ForwarderOptions): PageHandler {
  return async (rows, done) => {
    let dataLogged: ((r: CloudTrailRecord) => boolean) | undefined;
    const pending: { seq: number; region: string; entry: PutEventsRequestEntry; size: number }[] = [];
    for (const row of rows) {
      const r = JSON.parse(row.json) as CloudTrailRecord;
      if (r.eventCategory === 'Data' && !dataLogged) dataLogged = await loggedByTrails(deps.control, opts.regions, opts.organization);
      if (!forwardsToEventBridge(r, { readOnlyManagementEvents: opts.readOnlyManagementEvents, dataEventLogged: (x) => dataLogged!(x) })) continue;
      const entry = putEventsEntry(r, row.json, opts.eventBusName);
      const size = entrySize(entry);
      if (size > PUT_EVENTS_MAX_BYTES) {
        // EventBridge refuses it whatever we do (AWS drops such events too: docs/compatibility.md).
        deps.onOutcome?.('too_large', 1);
        deps.logError(`eventbridge: event ${r.eventID} (${size} bytes) is over PutEvents' 256 KB and is not sent`);
        continue;
      }
      pending.push({ seq: row.seq, region: row.region, entry, size });
    }
    let i = 0;
    while (i < pending.length) {
      // The next call: consecutive entries of one Region, within PutEvents' limits.
      const region = pending[i]!.region;
      let j = i;
      let bytes = 0;
      while (j < pending.length && j - i < PUT_EVENTS_MAX_ENTRIES && pending[j]!.region === region && bytes + pending[j]!.size <= PUT_EVENTS_MAX_BYTES) bytes += pending[j++]!.size;
      const batch = pending.slice(i, j);
      let out;
      try {
        out = await deps.publisher.putEvents(region, batch.map((p) => p.entry));
      } catch (e) {
        deps.onOutcome?.('failed', batch.length);
        throw e;
      }
      let sent = 0;
      for (let k = 0; k < batch.length; k++) {
        const res = out.entries[k];
        if (res !== undefined && res.errorCode === undefined) {
          sent++;
          continue;
        }
        if (res !== undefined && !RETRYABLE_ENTRY_ERRORS.has(res.errorCode!)) {
          // Refused for good (the entry itself is wrong for this bus): sending it again cannot help.
          deps.onOutcome?.('refused', 1);
          deps.logError(`eventbridge: PutEvents refused the entry of event seq ${batch[k]!.seq} with ${res.errorCode} (not retryable; not sent again): ${res.errorMessage ?? ''}`);
          continue;
        }
        deps.onOutcome?.('sent', sent);
        deps.onOutcome?.('failed', batch.length - k);
        // Everything before this entry is on the bus or refused for good; it and the rest are sent again.
        done(batch[k]!.seq - 1);
        throw new DeliveryTargetError(res?.errorCode ?? 'InternalFailure', `PutEvents refused an entry: ${res?.errorMessage ?? 'no result'}`);
      }
      deps.onOutcome?.('sent', sent);
      done(batch[batch.length - 1]!.seq);
      i = j;
    }
  };
}
