/**
 * From a normalised record to what the store appends: routing (account, region), the Event
 * history attributes, and the summary LookupEvents answers with (built here from the record
 * object normalising already made, so neither ingest nor a lookup parses the record for it).
 */
import { historyIndex, type NormalizedRecord } from '../core/index.ts';
import type { AppendInput } from '../stores/index.ts';

export function toAppendInput(n: NormalizedRecord): AppendInput {
  const index = historyIndex(n.record);
  const input: AppendInput = {
    accountId: n.record.recipientAccountId,
    region: n.record.awsRegion,
    eventId: n.record.eventID,
    eventTimeSec: n.eventTimeSec,
    json: n.json,
    history: index?.history,
  };
  if (index) input.summary = index.summary;
  return input;
}
