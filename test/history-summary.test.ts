/**
 * The Event history summary (AppendInput.summary, built at ingest from the normalised record) and
 * LookupEvents' answer built from it without parsing the record: for every record of the fixture
 * corpora and of the bench generator, the answer equals, byte for byte, the one built by parsing
 * the stored record, and decodes to what LookupEvents answered before summaries existed (the
 * oracle below is that code, kept unchanged).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  historyCategory, lookupUsername, normalizeRecord, resourceName, summaryCategory, summaryMembers,
  type CloudTrailRecord, type IdSource, type NormalizedRecord,
} from '../src/core/index.ts';
import { toAppendInput } from '../src/ingest/index.ts';
import { lookupEvents, NextTokenCodec } from '../src/history/index.ts';
import type { LookupEventsRequest } from '../src/aws/protocol/index.ts';
import type { EventStore, HistoryQuery, HistoryRow } from '../src/stores/index.ts';
import { selfAuditRecord, type ApiCall } from '../src/capture/self-audit.ts';
import { record as genRecord } from '../bench/gen.ts';

/** LookupEvents' entry before issue 11 item 6 (src/history/lookup-events.ts toLookupEvent), the oracle. */
function oracleEvent(json: string): Record<string, unknown> {
  const r = JSON.parse(json) as CloudTrailRecord;
  const ev: Record<string, any> = { Resources: [], CloudTrailEvent: json };
  ev.EventId = r.eventID;
  const insight = r.insightDetails as { eventName?: string; eventSource?: string } | undefined;
  ev.EventName = r.eventName ?? insight?.eventName;
  if (typeof r.readOnly === 'boolean') ev.ReadOnly = String(r.readOnly);
  if (r.userIdentity?.accessKeyId) ev.AccessKeyId = r.userIdentity.accessKeyId;
  ev.EventTime = Date.parse(r.eventTime) / 1000;
  ev.EventSource = r.eventSource ?? insight?.eventSource;
  const username = lookupUsername(r.userIdentity);
  if (username !== undefined) ev.Username = username;
  for (const res of Array.isArray(r.resources) ? r.resources : []) {
    const item: { ResourceType?: string; ResourceName?: string } = {};
    if (typeof res.type === 'string') item.ResourceType = res.type;
    const name = resourceName(res);
    if (name !== undefined) item.ResourceName = name;
    ev.Resources.push(item);
  }
  // As the wire carried it: JSON.stringify of the output object, decoded by the client.
  return JSON.parse(JSON.stringify(ev)) as Record<string, unknown>;
}

let n = 0;
const ids: IdSource = { uuid: () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}` };
const NOW_MS = Date.UTC(2026, 11, 1);
const nctx = { defaultAccountId: '111111111111', defaultRegion: 'us-east-1', nowMs: NOW_MS, ids };

function fixtureLines(dir: string): unknown[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.jsonl')).sort().flatMap((f) =>
    readFileSync(join(dir, f), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as unknown));
}

/** Insights records (none are in the corpora): by eventType, by eventCategory, with and without details. */
const INSIGHTS: unknown[] = [
  {
    eventVersion: '1.08', eventTime: '2026-06-01T10:00:00Z', awsRegion: 'us-east-1', eventID: 'insight-start-1', eventType: 'AwsCloudTrailInsight',
    recipientAccountId: '111111111111', sharedEventID: 'shared-1', eventCategory: 'Insight',
    insightDetails: { state: 'Start', eventSource: 'ssm.amazonaws.com', eventName: 'UpdateInstanceAssociationStatus', insightType: 'ApiCallRateInsight' },
  },
  {
    eventVersion: '1.08', eventTime: '2026-06-01T10:05:00Z', awsRegion: 'us-east-1', eventID: 'insight-end-1', eventType: 'AwsCloudTrailInsight',
    recipientAccountId: '111111111111', insightDetails: { state: 'End', eventSource: 'iam.amazonaws.com', eventName: 'ListUsers' },
  },
  { eventVersion: '1.08', eventTime: '2026-06-01T10:06:00Z', awsRegion: 'us-east-1', eventID: 'insight-bare', eventType: 'AwsCloudTrailInsight', recipientAccountId: '111111111111' },
];

/** Self-audit records (built as objects, not parsed from JSON): a read, a write, a failure, a data event. */
const CALL: Omit<ApiCall, 'eventId'> = {
  identity: { accountId: '111111111111', type: 'IAMUser', userName: 'alice', principalId: 'AIDAEXAMPLE', accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'x', mfaAuthenticated: false, isTrustedProducer: false },
  region: 'us-east-1', eventSource: 'cloudtrail.amazonaws.com', eventName: 'LookupEvents', eventTimeMs: NOW_MS - 1000, requestId: 'req-1',
  sourceIPAddress: '192.0.2.1', userAgent: 'test', requestParameters: { MaxResults: 5 }, responseElements: undefined, category: 'Management',
};
const SELF_AUDIT: unknown[] = [
  selfAuditRecord({ ...CALL, eventId: 'audit-read' }),
  selfAuditRecord({ ...CALL, eventId: 'audit-write', eventName: 'CreateTrail', requestParameters: { Name: 't' }, responseElements: { Name: 't' }, resources: [{ ARN: 'arn:aws:cloudtrail:us-east-1:111111111111:trail/t', type: 'AWS::CloudTrail::Trail' }] }),
  selfAuditRecord({ ...CALL, eventId: 'audit-failed', eventName: 'GetTrail', error: { code: 'TrailNotFoundException', message: 'no' } }),
  selfAuditRecord({ ...CALL, eventId: 'audit-data', eventSource: 'cloudtrail-data.amazonaws.com', eventName: 'PutAuditEvents', category: 'Data' }),
];

const SOURCES: Record<string, unknown[]> = {
  'test/fixtures': fixtureLines(new URL('./fixtures/', import.meta.url).pathname),
  'bench/gen.ts': Array.from({ length: 2000 }, (_, i) => genRecord({ seed: 20260101, count: 2000, endMs: NOW_MS, spanMs: 30 * 86_400_000 }, i)),
  insights: INSIGHTS,
  'self-audit': SELF_AUDIT,
};

function normalised(raws: unknown[]): NormalizedRecord[] {
  return raws.flatMap((raw) => {
    const r = normalizeRecord(raw, nctx);
    return r.ok ? [r.value] : [];
  });
}

/** A store answering every lookup with the given rows (the part under test is lookupEvents, not a driver). */
function storeOf(rows: HistoryRow[]): EventStore {
  return { lookup: async (q: HistoryQuery) => rows.slice(0, q.limit) } as unknown as EventStore;
}

/** The same text, else a short message at the first difference (the answers are ~100 KB). */
function sameText(a: string, b: string): void {
  if (a === b) return;
  let i = 0;
  while (a[i] === b[i]) i++;
  assert.fail(`answers differ at ${i}: ${JSON.stringify(a.slice(Math.max(0, i - 80), i + 80))} vs ${JSON.stringify(b.slice(Math.max(0, i - 80), i + 80))}`);
}

/** The answer without its NextToken (a token is encrypted with a fresh nonce each time). */
const withoutToken = (text: string) => text.replace(/,"NextToken":"[A-Za-z0-9_-]+"}$/, '}');

const deps = (rows: HistoryRow[]) => ({ store: storeOf(rows), tokens: new NextTokenCodec(Buffer.alloc(32, 3)), retentionDays: 36500 });
const ctx = { accountId: '111111111111', region: 'us-east-1', nowMs: NOW_MS };

for (const [name, raws] of Object.entries(SOURCES)) {
  describe(`Event history summary: ${name}`, () => {
    const records = normalised(raws);
    const history = records.filter((r) => historyCategory(r.record) !== undefined);

    test('the corpus has Event history records to check', () => {
      assert.ok(history.length >= ({ insights: 3, 'self-audit': 3 }[name] ?? 50), `${history.length} of ${raws.length}`);
    });

    test('every Event history record gets a summary equal to the entry LookupEvents answered, and no other record does', () => {
      for (const r of records) {
        const input = toAppendInput(r);
        const category = historyCategory(r.record);
        if (!category) {
          assert.equal(input.summary, undefined, r.json);
          continue;
        }
        assert.ok(input.summary !== undefined, r.json);
        assert.equal(summaryCategory(input.summary), category, r.json);
        const { CloudTrailEvent, ...expected } = oracleEvent(r.json);
        assert.equal(CloudTrailEvent, r.json);
        assert.deepEqual(JSON.parse(`{${summaryMembers(input.summary)}}`), expected, r.json);
      }
    });

    test('LookupEvents answers the same bytes from summaries as from parsing, and what it answered before', async () => {
      for (let i = 0; i < history.length; i += 50) {
        const inputs = history.slice(i, i + 50).map(toAppendInput);
        const withSummary = inputs.map((a, k) => ({ t: a.eventTimeSec, seq: i + k + 1, json: a.json, summary: a.summary }));
        const parsed = withSummary.map(({ t, seq, json }) => ({ t, seq, json }));
        for (const input of [{ MaxResults: 50 }, { MaxResults: 49 }, { MaxResults: 50, EventCategory: 'insight' }] satisfies LookupEventsRequest[]) {
          const a = (await lookupEvents(deps(withSummary), ctx, input)).text;
          const b = (await lookupEvents(deps(parsed), ctx, input)).text;
          sameText(withoutToken(a), withoutToken(b));
          const out = JSON.parse(a) as { Events: unknown[]; NextToken?: string };
          const expected = parsed.slice(0, input.MaxResults).map((row) => oracleEvent(row.json));
          assert.deepEqual(out.Events, expected);
          assert.equal(out.NextToken !== undefined, parsed.length > input.MaxResults);
        }
      }
    });

    test('an EventId lookup answers a record only in its own category, with or without a summary', async () => {
      for (const r of records) {
        const a = toAppendInput(r);
        const row = { t: a.eventTimeSec, seq: 1, json: a.json };
        for (const category of ['management', 'insight'] as const) {
          const input: LookupEventsRequest = { LookupAttributes: [{ AttributeKey: 'EventId', AttributeValue: r.record.eventID }], ...(category === 'insight' ? { EventCategory: 'insight' as const } : {}) };
          const fromSummary = (await lookupEvents(deps([{ ...row, summary: a.summary }]), ctx, input)).text;
          const fromRecord = (await lookupEvents(deps([row]), ctx, input)).text;
          sameText(fromSummary, fromRecord);
          // A driver may hand back a missing summary as SQL NULL: the parse path answers.
          sameText((await lookupEvents(deps([{ ...row, summary: null as unknown as undefined }]), ctx, input)).text, fromRecord);
          const expected = historyCategory(r.record) === category ? [oracleEvent(r.json)] : [];
          assert.deepEqual(JSON.parse(fromSummary), { Events: expected }, r.json);
        }
      }
    });
  });
}
