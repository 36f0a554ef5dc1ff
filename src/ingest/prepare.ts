/**
 * From a normalised record to what the store appends: routing (account, region) and the Event
 * history attributes.
 */
import { historyAttributes, type NormalizedRecord } from '../core/index.ts';
import type { AppendInput } from '../stores/index.ts';

export function toAppendInput(n: NormalizedRecord): AppendInput {
  return {
    accountId: n.record.recipientAccountId,
    region: n.record.awsRegion,
    eventId: n.record.eventID,
    eventTimeSec: n.eventTimeSec,
    json: n.json,
    history: historyAttributes(n.record),
  };
}
