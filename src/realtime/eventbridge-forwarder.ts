/**
 * CloudTrail events to an EventBridge-compatible endpoint (config `eventBridge`; docs/realtime.md):
 * a consumer of the event log with its own cursor (log-consumer.ts) that puts every event CloudTrail
 * would send (envelope.ts) on the event bus of the event's Region, in PutEvents calls of up to 10
 * entries and 256 KB.
 *
 * MUST: at least once: the cursor passes an event only after PutEvents accepted it; a call that
 *   fails, or an entry the bus refused, is tried again (with the consumer's backoff) from that
 *   entry on, so the entries after it are sent again too.
 * MUST: in order per account and Region: the log is read in seq order and calls are made one after
 *   the other, each only after the one before it was accepted.
 */
import { compileTrailScope, scopeOfTrail, TRAIL_KIND, type CloudTrailRecord, type OrganizationConfig, type TrailDoc } from '../core/index.ts';
import { DeliveryTargetError, type ControlStore, type EventPublisher, type PutEventsRequestEntry } from '../stores/index.ts';
import { forwardsToEventBridge, putEventsEntry } from './envelope.ts';
import type { PageHandler } from './log-consumer.ts';

/** PutEvents limits (EventBridge API reference): 10 entries, 256 KB per request. */
export const PUT_EVENTS_MAX_ENTRIES = 10;
export const PUT_EVENTS_MAX_BYTES = 256 * 1024;

/** An entry's size as EventBridge counts it ("Calculating PutEvents event entry size"). */
export function entrySize(e: PutEventsRequestEntry): number {
  let n = 14 + Buffer.byteLength(e.Source) + Buffer.byteLength(e.DetailType) + Buffer.byteLength(e.Detail);
  for (const r of e.Resources) n += Buffer.byteLength(r);
  return n;
}

export interface ForwarderDeps {
  publisher: EventPublisher;
  control: ControlStore;
  logError(msg: string, err?: unknown): void;
  /** For metrics: entries accepted, refused or left out as too large (never throws). */
  onOutcome?(outcome: 'sent' | 'failed' | 'too_large', count: number): void;
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
      const failedAt = out.entries.findIndex((e) => e.errorCode !== undefined);
      if (failedAt >= 0 || out.entries.length < batch.length) {
        const k = failedAt >= 0 ? failedAt : out.entries.length;
        deps.onOutcome?.('sent', k);
        deps.onOutcome?.('failed', batch.length - k);
        // Everything before the refused entry is on the bus; it and the rest are sent again.
        done(batch[k]!.seq - 1);
        const err = out.entries[k];
        throw new DeliveryTargetError(err?.errorCode ?? 'InternalFailure', `PutEvents refused an entry: ${err?.errorMessage ?? 'no result'}`);
      }
      deps.onOutcome?.('sent', batch.length);
      done(batch[batch.length - 1]!.seq);
      i = j;
    }
  };
}
