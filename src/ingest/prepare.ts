/**
 * From a normalised record to what the store appends: routing (account, region), the Event
 * history attributes, and the summary LookupEvents answers with (built here from the record
 * object normalising already made, so neither ingest nor a lookup parses the record for it).
 */
import { historyAttributes, historySummary, type NormalizedRecord } from '../core/index.ts';
import type { AppendInput } from '../stores/index.ts';

export function toAppendInput(n: NormalizedRecord): AppendInput {
  const history = historyAttributes(n.record);
  const input: AppendInput = {
    accountId: n.record.recipientAccountId,
    region: n.record.awsRegion,
    eventId: n.record.eventID,
    eventTimeSec: n.eventTimeSec,
    json: n.json,
    history,
  };
  if (history) input.summary = historySummary(n.record);
  return input;
}
