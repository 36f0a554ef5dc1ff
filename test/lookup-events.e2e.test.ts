/**
 * LookupEvents end to end, with the AWS SDK against the real server: the whole fixture corpus is
 * bulk-ingested, then Event history is queried per account, region and attribute and compared
 * with the answer this test computes on its own from the fixture files. Also: time boundaries,
 * the userIdentity written for our own callers, every validation error, NextToken binding, and
 * account isolation.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import {
  CreateChannelCommand, ListChannelsCommand, LookupEventsCommand,
  type CloudTrailClient, type Event as HistoryEvent, type LookupAttributeKey, type LookupEventsCommandInput, type LookupEventsCommandOutput,
} from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, ACCOUNT_B, cloudTrailClient, startServer, type StartedServer, type TestAccount, type TestIdentity } from './helpers/server.ts';
import { channelStore } from './helpers/lake.ts';
import { signedFetch } from './helpers/signed-fetch.ts';
import { waitFor } from './helpers/delivery.ts';

// ---------------------------------------------------------------------------------------------
// The corpus and what Event history must make of it, computed here without the server's code.
// ---------------------------------------------------------------------------------------------

type Json = Record<string, any>;

const CORPUS_DIR = new URL('./fixtures/corpus/', import.meta.url).pathname;
const RECORD_FILES = readdirSync(CORPUS_DIR)
  .filter((f) => f.endsWith('.jsonl') && !/-(envelopes|lookupevents|digest)\.jsonl$/.test(f))
  .sort();

interface CorpusLine {
  where: string;
  text: string;
  rec: Json;
}

const LINES: CorpusLine[] = RECORD_FILES.flatMap((f) =>
  readFileSync(CORPUS_DIR + f, 'utf8').split('\n').flatMap((text, i) => (text.trim() ? [{ where: `${f}:${i + 1}`, text, rec: JSON.parse(text) as Json }] : [])),
);

const ROOT_A = ACCOUNT_A.identities[0]!;
const ALICE = ACCOUNT_A.identities[1]!; // trustedProducer
const BOB = ACCOUNT_A.identities[2]!;
const CAROL = ACCOUNT_B.identities[0]!;
const PRODUCER = ALICE;
const INGEST_REGION = 'us-east-1';

const TEST_START_MS = Date.now();
/** Every corpus record is older than this; every call this test makes is newer. */
const END = new Date(Math.floor(TEST_START_MS / 1000) * 1000 - 1000);

/** Why a record must be refused, or undefined. */
function expectedRejection(rec: Json): { errorCode: string; mentions: string } | undefined {
  for (const f of ['eventSource', 'eventName']) {
    if (typeof rec[f] !== 'string' || rec[f] === '') return { errorCode: 'InvalidRecord', mentions: f };
  }
  if (rec.recipientAccountId !== undefined && !/^\d{12}$/.test(rec.recipientAccountId)) {
    return { errorCode: 'InvalidRecipient', mentions: String(rec.recipientAccountId) };
  }
  return undefined;
}

const isManagement = (rec: Json) => (rec.eventCategory === undefined || rec.eventCategory === 'Management') && rec.managementEvent !== false;

/** readOnly as AWS writes it for an action, learned from corpus records that carry it. */
const AWS_READ_ONLY = new Map<string, boolean>();
for (const { rec } of LINES) if (typeof rec.readOnly === 'boolean') AWS_READ_ONLY.set(`${rec.eventSource} ${rec.eventName}`, rec.readOnly);

function expectedReadOnly(rec: Json): boolean {
  if (typeof rec.readOnly === 'boolean') return rec.readOnly;
  const known = AWS_READ_ONLY.get(`${rec.eventSource} ${rec.eventName}`);
  if (known !== undefined) return known;
  return /^(Get|List|Describe|Lookup|Head)([A-Z]|$)/.test(String(rec.eventName));
}

/** Username as Event history shows it: IAM user name, `root`, the session name of a role. */
function expectedUsername(ui: Json | undefined): string | undefined {
  if (!ui || typeof ui !== 'object') return undefined;
  switch (ui.type) {
    case 'Root':
      return 'root';
    case 'IAMUser':
      return ui.userName;
    case 'AssumedRole':
    case 'FederatedUser':
      return typeof ui.arn === 'string' && ui.arn.includes('/') ? ui.arn.slice(ui.arn.lastIndexOf('/') + 1) : undefined;
    case 'AWSService':
      return ui.invokedBy;
    default:
      return ui.userName;
  }
}

interface Stored {
  index: number;
  where: string;
  rec: Json;
  account: string;
  region: string;
  eventID: string;
  /** eventTime in whole seconds; undefined for a record that came without one (ingestion time). */
  timeSec: number | undefined;
  management: boolean;
}

const expectedStatus: ('accepted' | 'duplicate' | 'rejected')[] = [];
const STORED: Stored[] = [];
{
  const seen = new Set<string>();
  LINES.forEach(({ rec, where }, index) => {
    if (expectedRejection(rec)) {
      expectedStatus.push('rejected');
      return;
    }
    const account = rec.recipientAccountId ?? ACCOUNT_A.id;
    const region = rec.awsRegion ?? INGEST_REGION;
    if (typeof rec.eventID === 'string') {
      const key = `${account}/${rec.eventID}`;
      if (seen.has(key)) {
        expectedStatus.push('duplicate');
        return;
      }
      seen.add(key);
    }
    expectedStatus.push('accepted');
    STORED.push({
      index, where, rec, account, region, eventID: rec.eventID ?? '',
      timeSec: typeof rec.eventTime === 'string' ? Math.floor(Date.parse(rec.eventTime) / 1000) : undefined,
      management: isManagement(rec),
    });
  });
}

/** Event history entries of one account and region, newest first (ties: later ingested first). */
function history(account: string, region: string, match: (s: Stored) => boolean = () => true, startSec = -Infinity, endSec = END.getTime() / 1000): Stored[] {
  return STORED.filter((s) => s.account === account && s.region === region && s.management && s.timeSec !== undefined && s.timeSec >= startSec && s.timeSec <= endSec && match(s))
    .sort((a, b) => b.timeSec! - a.timeSec! || b.index - a.index);
}

/** The values a record can be found by, per attribute key. */
function attributeValues(s: Stored, key: LookupAttributeKey): string[] {
  const r = s.rec;
  const nonEmpty = (v: unknown) => (typeof v === 'string' && v.length > 0 ? [v] : []);
  switch (key) {
    case 'EventId': return [s.eventID];
    case 'EventName': return nonEmpty(r.eventName);
    case 'EventSource': return nonEmpty(r.eventSource);
    case 'ReadOnly': return [String(expectedReadOnly(r))];
    case 'Username': return nonEmpty(expectedUsername(r.userIdentity));
    case 'AccessKeyId': return nonEmpty(r.userIdentity?.accessKeyId);
    case 'ResourceType': return [...new Set<string>((r.resources ?? []).flatMap((x: Json) => nonEmpty(x.type)))];
    case 'ResourceName': return [...new Set<string>((r.resources ?? []).flatMap((x: Json) => nonEmpty(x.ARN)))];
    default: throw new Error(`no such key ${key}`);
  }
}

const ATTRIBUTE_KEYS: LookupAttributeKey[] = ['EventId', 'EventName', 'ReadOnly', 'Username', 'ResourceType', 'ResourceName', 'EventSource', 'AccessKeyId'];

// ---------------------------------------------------------------------------------------------
// The server: every corpus region served, a root key for every corpus account.
// ---------------------------------------------------------------------------------------------

const CORPUS_ACCOUNTS = [...new Set(STORED.map((s) => s.account))].sort();
const ROOT_OF = new Map<string, TestIdentity>([[ACCOUNT_A.id, ROOT_A]]);
const extraAccounts: TestAccount[] = [];
for (const id of CORPUS_ACCOUNTS) {
  if (id === ACCOUNT_A.id || id === ACCOUNT_B.id) continue;
  const root: TestIdentity = { type: 'Root', accessKeyId: `AKIAC${id}`, secretAccessKey: `root-secret-${id}` };
  ROOT_OF.set(id, root);
  extraAccounts.push({ id, identities: [root] });
}
const REGIONS = [...new Set(['us-east-1', 'us-west-2', 'eu-west-1', ...STORED.map((s) => s.region)])];

let server: StartedServer;
let bulk: { accepted: number; duplicates: number; rejected: number; results: Json[] };
let ingestWindow: { fromSec: number; toSec: number };
const clients = new Map<string, CloudTrailClient>();

function clientFor(id: TestIdentity, region: string): CloudTrailClient {
  const key = `${id.accessKeyId}/${region}`;
  let c = clients.get(key);
  if (!c) {
    c = cloudTrailClient(server.url, id, region);
    clients.set(key, c);
  }
  return c;
}
const rootClient = (account: string, region: string) => clientFor(ROOT_OF.get(account)!, region);

/** Runs fn over items with at most `limit` in flight. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  }));
  return out;
}

/** Every page of a lookup; checks the paging contract on the way. */
async function lookupAll(client: CloudTrailClient, input: LookupEventsCommandInput): Promise<{ events: HistoryEvent[]; pages: number }> {
  const events: HistoryEvent[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const out = await client.send(new LookupEventsCommand({ ...input, NextToken: token }));
    pages++;
    assert.ok(out.Events, 'every page has an Events list');
    assert.ok(out.Events.length <= (input.MaxResults ?? 50), `a page holds at most MaxResults events, got ${out.Events.length}`);
    events.push(...out.Events);
    token = out.NextToken;
    assert.ok(pages < 500, 'pagination does not end');
  } while (token);
  return { events, pages };
}

const pageSizeFor = (n: number) => Math.min(50, Math.max(1, Math.ceil(n / 3)));

/** Field-by-field comparison of an answered event with the fixture record; returns the differences. */
function compareEvent(ev: HistoryEvent, s: Stored): string[] {
  const diffs: string[] = [];
  const r = s.rec;
  const check = (what: string, got: unknown, want: unknown) => {
    if (JSON.stringify(got) !== JSON.stringify(want)) diffs.push(`${s.where} ${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  };
  check('EventId', ev.EventId, s.eventID);
  check('EventName', ev.EventName, r.eventName);
  check('EventSource', ev.EventSource, r.eventSource);
  check('EventTime', ev.EventTime?.getTime(), s.timeSec! * 1000);
  check('AccessKeyId', ev.AccessKeyId, r.userIdentity?.accessKeyId || undefined);
  check('Username', ev.Username, expectedUsername(r.userIdentity));
  check('Resources', ev.Resources, (r.resources ?? []).map((x: Json) => ({ ResourceType: x.type, ResourceName: x.ARN })));
  let stored: Json;
  try {
    stored = JSON.parse(ev.CloudTrailEvent ?? '');
  } catch {
    return [...diffs, `${s.where} CloudTrailEvent is not JSON`];
  }
  for (const [k, v] of Object.entries(r)) check(`CloudTrailEvent.${k}`, stored[k], v);
  const filled = new Set(['eventVersion', 'eventTime', 'awsRegion', 'recipientAccountId', 'eventID', 'eventType', 'eventCategory', 'managementEvent', 'readOnly', 'requestID']);
  for (const k of Object.keys(stored)) if (!(k in r) && !filled.has(k)) diffs.push(`${s.where} CloudTrailEvent has an unexpected field ${k}`);
  check('CloudTrailEvent.recipientAccountId', stored.recipientAccountId, s.account);
  check('CloudTrailEvent.awsRegion', stored.awsRegion, s.region);
  check('CloudTrailEvent.eventCategory', stored.eventCategory, 'Management');
  check('CloudTrailEvent.managementEvent', stored.managementEvent, true);
  check('CloudTrailEvent.readOnly is a boolean', typeof stored.readOnly, 'boolean');
  // ReadOnly shows the stored record's readOnly (its derivation is checked by its own test below).
  check('ReadOnly', ev.ReadOnly, String(typeof r.readOnly === 'boolean' ? r.readOnly : stored.readOnly));
  return diffs;
}

interface Query {
  account: string;
  region: string;
  key?: LookupAttributeKey;
  value?: string;
}

/** Runs one query with several pages and compares it with the expected entries. */
async function checkQuery(q: Query, fullCompare: boolean): Promise<{ problems: string[]; pages: number; n: number }> {
  const expected = history(q.account, q.region, q.key ? (s) => attributeValues(s, q.key!).includes(q.value!) : undefined);
  const MaxResults = pageSizeFor(expected.length);
  const input: LookupEventsCommandInput = { EndTime: END, MaxResults };
  if (q.key) input.LookupAttributes = [{ AttributeKey: q.key, AttributeValue: q.value }];
  const { events, pages } = await lookupAll(rootClient(q.account, q.region), input);
  const label = `${q.account}/${q.region}${q.key ? ` ${q.key}=${q.value}` : ''}`;
  const got = events.map((e) => e.EventId);
  const want = expected.map((s) => s.eventID);
  const problems: string[] = [];
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    problems.push(`${label}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)} (${expected.map((s) => s.where).join(', ')})`);
  } else if (fullCompare) {
    events.forEach((e, i) => problems.push(...compareEvent(e, expected[i]!).map((d) => `${label}: ${d}`)));
  }
  return { problems, pages, n: expected.length };
}

const PAIRS = [...new Set(STORED.filter((s) => s.management).map((s) => `${s.account}/${s.region}`))].sort().map((p) => {
  const [account, region] = p.split('/') as [string, string];
  return { account, region, n: history(account, region).length };
});
/** The account/region pairs every attribute is checked in: the larger ones and the producer's own. */
const SAMPLE = PAIRS.filter((p) => p.n >= 5 || p.account === ACCOUNT_A.id || p.account === '644160558196');

describe('LookupEvents over the ingested corpus (SDK)', () => {
  before(async () => {
    server = await startServer({ regions: REGIONS, allowNonAwsRegions: true, accounts: [ACCOUNT_A, ACCOUNT_B, ...extraAccounts], eventHistory: { retentionDays: 36500 } });
    const from = Date.now();
    const res = await signedFetch(`${server.url}/ingest`, PRODUCER, {
      body: LINES.map((l) => l.text).join('\n') + '\n',
      headers: { 'content-type': 'application/x-ndjson' },
      region: INGEST_REGION,
    });
    const to = Date.now();
    assert.equal(res.status, 200, await res.clone().text());
    bulk = (await res.json()) as typeof bulk;
    ingestWindow = { fromSec: Math.floor(from / 1000), toSec: Math.ceil(to / 1000) };
    // Records that came without an eventID were given one: the answer names it.
    for (const s of STORED) if (s.eventID === '') s.eventID = bulk.results[s.index]?.eventID;
  });
  after(async () => {
    for (const c of clients.values()) c.destroy();
    await server?.stop();
  });

  test('the bulk answer: 429 records accepted or duplicate, the 4 invalid ones rejected with reasons', () => {
    assert.equal(LINES.length, 433, 'corpus size');
    assert.equal(bulk.results.length, LINES.length, 'one result per record, index-aligned');
    assert.equal(expectedStatus.filter((s) => s !== 'rejected').length, 429);
    assert.deepEqual(bulk.results.map((r) => r.status), expectedStatus);
    assert.equal(bulk.accepted, expectedStatus.filter((s) => s === 'accepted').length);
    assert.equal(bulk.duplicates, expectedStatus.filter((s) => s === 'duplicate').length);
    assert.equal(bulk.rejected, 4);
    assert.ok(bulk.duplicates > 0, 'the corpus reuses eventIDs within an account');
    const rejected = LINES.flatMap((l, i) => (expectedStatus[i] === 'rejected' ? [{ ...l, result: bulk.results[i]! }] : []));
    assert.deepEqual(rejected.map((r) => r.where.split(':')[0]).sort(), ['awsdocs-iam.jsonl', 'cloud-custodian.jsonl', 'cloud-custodian.jsonl', 'cloud-custodian.jsonl']);
    for (const r of rejected) {
      const want = expectedRejection(r.rec)!;
      assert.equal(r.result.errorCode, want.errorCode, r.where);
      assert.ok(String(r.result.errorMessage).includes(want.mentions), `${r.where}: ${r.result.errorMessage} names ${want.mentions}`);
      assert.equal(r.result.eventID, undefined);
    }
    LINES.forEach((l, i) => {
      const r = bulk.results[i]!;
      if (r.status === 'rejected') return;
      if (typeof l.rec.eventID === 'string') assert.equal(r.eventID, l.rec.eventID, l.where);
      else assert.match(r.eventID, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, `${l.where}: a generated eventID`);
    });
  });

  test('no attribute: every account and region holds exactly its management events, newest first, over several pages', async () => {
    assert.ok(PAIRS.length >= 40, `corpus spans many account/region pairs (${PAIRS.length})`);
    const results = await mapLimit(PAIRS, 8, (p) => checkQuery({ account: p.account, region: p.region }, true));
    assert.deepEqual(results.flatMap((r) => r.problems), []);
    assert.ok(results.some((r) => r.pages >= 3), 'paging was exercised');
    assert.equal(results.reduce((n, r) => n + r.n, 0), STORED.filter((s) => s.management && s.timeSec !== undefined).length, 'all management events were looked up');
  });

  test('data events are stored but not in Event history', async () => {
    const data = STORED.filter((s) => !s.management);
    assert.ok(data.length >= 1, 'the corpus has data events');
    for (const s of data) {
      const out = await rootClient(s.account, s.region).send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventId', AttributeValue: s.eventID }] }));
      assert.deepEqual(out.Events, [], `${s.where} (${s.rec.eventCategory ?? 'managementEvent=false'}) is not in Event history`);
    }
    // ...but they are in the account's log.
    const s = data[0]!;
    const res = await signedFetch(`${server.url}/events?after=0&limit=10000`, ROOT_OF.get(s.account)!);
    assert.equal(res.status, 200);
    const log = (await res.json()) as { events: { record: Json }[] };
    assert.ok(log.events.some((e) => e.record.eventID === s.eventID), `${s.where} is in the event log`);
  });

  for (const key of ATTRIBUTE_KEYS) {
    test(`attribute ${key}: exact matches in every sampled account and region, and none from elsewhere`, async () => {
      const queries: Query[] = [];
      for (const p of SAMPLE) {
        // Values from this account (any region: other regions must not leak in) and from others.
        const own = new Set(STORED.filter((s) => s.account === p.account && s.management).flatMap((s) => attributeValues(s, key)));
        const foreign = new Set(STORED.filter((s) => s.account !== p.account && s.management).flatMap((s) => attributeValues(s, key)).filter((v) => !own.has(v)).slice(0, 3));
        for (const value of [...own, ...foreign]) queries.push({ account: p.account, region: p.region, key, value });
      }
      const results = await mapLimit(queries, 12, (q) => checkQuery(q, key === 'EventId'));
      assert.deepEqual(results.flatMap((r) => r.problems), []);
      assert.ok(results.filter((r) => r.n > 0).length >= 5, 'queries found something');
      assert.ok(results.some((r) => r.n === 0), 'some queries must find nothing');
      if (key !== 'EventId') assert.ok(results.some((r) => r.pages >= 3), 'paging was exercised');
    });
  }

  test('records without readOnly get the readOnly AWS writes for that action', async () => {
    const derived = STORED.filter((s) => s.management && typeof s.rec.readOnly !== 'boolean' && s.timeSec !== undefined);
    assert.ok(derived.length >= 10);
    const problems: string[] = [];
    for (const s of derived) {
      const out = await rootClient(s.account, s.region).send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventId', AttributeValue: s.eventID }] }));
      const want = String(expectedReadOnly(s.rec));
      if (out.Events?.[0]?.ReadOnly !== want) problems.push(`${s.where} ${s.rec.eventSource} ${s.rec.eventName}: ReadOnly ${out.Events?.[0]?.ReadOnly}, AWS writes ${want}`);
    }
    assert.deepEqual(problems, []);
  });

  test('a record without eventTime and eventID is stored at its ingestion time under the eventID the answer named', async () => {
    const s = STORED.find((x) => x.timeSec === undefined && x.management);
    assert.ok(s, 'the corpus has such a record');
    assert.equal(s.rec.eventID, undefined);
    const client = rootClient(s.account, s.region);
    const byId = await client.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventId', AttributeValue: s.eventID }] }));
    assert.equal(byId.Events?.length, 1);
    const ev = byId.Events![0]!;
    const t = ev.EventTime!.getTime() / 1000;
    assert.ok(t >= ingestWindow.fromSec && t <= ingestWindow.toSec, `EventTime ${ev.EventTime!.toISOString()} is the ingestion time`);
    assert.match(JSON.parse(ev.CloudTrailEvent!).eventTime, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    // Found by its attributes too, but only when the time range reaches the ingestion time.
    const attr = [{ AttributeKey: 'EventSource' as const, AttributeValue: s.rec.eventSource }];
    const recent = await client.send(new LookupEventsCommand({ LookupAttributes: attr, StartTime: new Date(TEST_START_MS - 1000) }));
    assert.deepEqual(recent.Events?.map((e) => e.EventId), [s.eventID]);
    const old = await client.send(new LookupEventsCommand({ LookupAttributes: attr, EndTime: END }));
    assert.ok(!old.Events?.some((e) => e.EventId === s.eventID));
  });

  test('StartTime and EndTime are inclusive, to the second', async () => {
    // The largest pair, and a second in it that holds more than one event if there is one.
    const pair = [...PAIRS].sort((a, b) => b.n - a.n)[0]!;
    const all = history(pair.account, pair.region);
    const counts = new Map<number, number>();
    for (const s of all) counts.set(s.timeSec!, (counts.get(s.timeSec!) ?? 0) + 1);
    const times = [...counts.keys()].sort((a, b) => a - b);
    const T = [...counts.entries()].find(([t, n]) => n > 1 && t !== times[0] && t !== times[times.length - 1])?.[0] ?? times[Math.floor(times.length / 2)]!;
    const client = rootClient(pair.account, pair.region);
    const at = (sec: number) => new Date(sec * 1000);
    const cases: [string, Date | undefined, Date | undefined, number, number][] = [
      ['[T, T]', at(T), at(T), T, T],
      ['[T+1, T+1]', at(T + 1), at(T + 1), T + 1, T + 1],
      ['[T-1, T-1]', at(T - 1), at(T - 1), T - 1, T - 1],
      ['[T, END]', at(T), END, T, END.getTime() / 1000],
      ['[start, T]', undefined, at(T), -Infinity, T],
      ['(T, END] via T+0.5', at(T + 0.5), END, T + 1, END.getTime() / 1000],
      ['[start, T) via T-0.5', undefined, at(T - 0.5), -Infinity, T - 1],
      ['[T, T+0.999]', at(T), at(T + 0.999), T, T],
      ['first second only', at(times[0]!), at(times[0]!), times[0]!, times[0]!],
      ['last second only', at(times[times.length - 1]!), at(times[times.length - 1]!), times[times.length - 1]!, times[times.length - 1]!],
    ];
    for (const [name, StartTime, EndTime, lo, hi] of cases) {
      const want = history(pair.account, pair.region, undefined, lo, hi).map((s) => s.eventID);
      const { events } = await lookupAll(client, { StartTime, EndTime: EndTime ?? END, MaxResults: 7 });
      assert.deepEqual(events.map((e) => e.EventId), want, `${name} with T=${new Date(T * 1000).toISOString()}`);
    }
    assert.ok(counts.get(T)! >= 1);
    // StartTime == EndTime == an event's second returns exactly that second's events.
    const { events } = await lookupAll(client, { StartTime: at(T), EndTime: at(T) });
    assert.equal(events.length, counts.get(T));
  });

  test('userIdentity, Username and AccessKeyId of our own callers are written as AWS writes them', async () => {
    const region = 'eu-west-1';
    const calls: { id: TestIdentity; requestId: string; op: string; from: number; to: number }[] = [];
    for (const id of [ROOT_A, ALICE, BOB]) {
      const from = Date.now();
      const out = await clientFor(id, region).send(new ListChannelsCommand({}));
      calls.push({ id, requestId: out.$metadata.requestId!, op: 'ListChannels', from, to: Date.now() });
    }
    const eds = await channelStore(clientFor(BOB, region), 'identity-test-store');
    const from = Date.now();
    const created = await clientFor(BOB, region).send(new CreateChannelCommand({
      Name: 'identity-test', Source: 'Custom',
      Destinations: [{ Type: 'EVENT_DATA_STORE', Location: eds }],
    }));
    calls.push({ id: BOB, requestId: created.$metadata.requestId!, op: 'CreateChannel', from, to: Date.now() });

    const since = new Date(TEST_START_MS);
    const expectedUsernames = new Map([[ROOT_A.accessKeyId, 'root'], [ALICE.accessKeyId, 'alice'], [BOB.accessKeyId, 'bob']]);
    let aliceUnique: string | undefined;
    let roleUnique: string | undefined;
    for (const call of calls) {
      const username = expectedUsernames.get(call.id.accessKeyId)!;
      const byKey = await lookupAll(clientFor(ROOT_A, region), { StartTime: since, LookupAttributes: [{ AttributeKey: 'AccessKeyId', AttributeValue: call.id.accessKeyId }] });
      const byUser = await lookupAll(clientFor(ROOT_A, region), { StartTime: since, LookupAttributes: [{ AttributeKey: 'Username', AttributeValue: username }] });
      for (const list of [byKey.events, byUser.events]) {
        assert.ok(list.length >= 1);
        for (const e of list) {
          assert.equal(e.AccessKeyId, call.id.accessKeyId, 'no other caller is mixed in');
          assert.equal(e.Username, username);
        }
      }
      const matches = byKey.events.filter((e) => JSON.parse(e.CloudTrailEvent!).requestID === call.requestId);
      assert.equal(matches.length, 1, `the ${call.op} call by ${username} is in Event history once`);
      const ev = matches[0]!;
      assert.ok(byUser.events.some((e) => e.EventId === ev.EventId), 'found by Username too');
      assert.equal(ev.EventName, call.op);
      assert.equal(ev.EventSource, 'cloudtrail.amazonaws.com');
      assert.equal(ev.ReadOnly, call.op === 'ListChannels' ? 'true' : 'false');
      assert.deepEqual(ev.Resources, []);
      const t = ev.EventTime!.getTime();
      assert.ok(t >= Math.floor(call.from / 1000) * 1000 && t <= call.to, 'EventTime is the time of the call');
      const rec = JSON.parse(ev.CloudTrailEvent!);
      assert.equal(rec.eventID, ev.EventId);
      assert.equal(rec.eventVersion, '1.11');
      assert.equal(rec.eventSource, 'cloudtrail.amazonaws.com');
      assert.equal(rec.eventName, call.op);
      assert.equal(rec.awsRegion, region);
      assert.equal(rec.recipientAccountId, ACCOUNT_A.id);
      assert.equal(rec.eventType, 'AwsApiCall');
      assert.equal(rec.eventCategory, 'Management');
      assert.equal(rec.managementEvent, true);
      assert.equal(rec.sourceIPAddress, '127.0.0.1');
      assert.match(rec.userAgent, /aws-sdk-js/);
      assert.equal(rec.errorCode, undefined);
      assert.equal(new Date(rec.eventTime).getTime(), t);
      const ui = rec.userIdentity;
      switch (call.id.type) {
        case 'Root':
          assert.deepEqual(ui, { type: 'Root', principalId: ACCOUNT_A.id, arn: `arn:aws:iam::${ACCOUNT_A.id}:root`, accountId: ACCOUNT_A.id, accessKeyId: ROOT_A.accessKeyId });
          break;
        case 'IAMUser':
          assert.match(ui.principalId, /^AIDA[A-Z2-7]{17}$/);
          aliceUnique ??= ui.principalId;
          assert.equal(ui.principalId, aliceUnique, 'a stable principalId');
          assert.deepEqual(ui, { type: 'IAMUser', principalId: aliceUnique, arn: `arn:aws:iam::${ACCOUNT_A.id}:user/alice`, accountId: ACCOUNT_A.id, accessKeyId: ALICE.accessKeyId, userName: 'alice' });
          break;
        case 'AssumedRole': {
          const roleId = ui.sessionContext?.sessionIssuer?.principalId;
          assert.match(roleId, /^AROA[A-Z2-7]{17}$/);
          roleUnique ??= roleId;
          assert.equal(roleId, roleUnique, 'a stable role id');
          assert.deepEqual(ui, {
            type: 'AssumedRole', principalId: `${roleId}:bob`, arn: `arn:aws:sts::${ACCOUNT_A.id}:assumed-role/Admin/bob`,
            accountId: ACCOUNT_A.id, accessKeyId: BOB.accessKeyId,
            sessionContext: {
              sessionIssuer: { type: 'Role', principalId: roleId, arn: `arn:aws:iam::${ACCOUNT_A.id}:role/Admin`, accountId: ACCOUNT_A.id, userName: 'Admin' },
              webIdFederationData: {},
              attributes: { creationDate: '2026-01-02T03:04:05Z', mfaAuthenticated: 'false' },
            },
          });
          break;
        }
      }
      if (call.op === 'ListChannels') {
        assert.equal(rec.requestParameters, null, 'no parameters');
        assert.equal(rec.responseElements, null, 'reads have no responseElements');
        assert.equal(rec.readOnly, true);
      } else {
        assert.equal(rec.readOnly, false);
        assert.deepEqual(rec.requestParameters, {
          name: 'identity-test', source: 'Custom',
          destinations: [{ type: 'EVENT_DATA_STORE', location: eds }],
        });
        assert.equal(rec.responseElements?.channelArn, created.ChannelArn, 'lowerCamelCase responseElements of a write');
        assert.equal(rec.responseElements?.name, 'identity-test');
      }
    }
    // Event history answers the AssumedRole session by its session name, not the role name.
    const byRole = await clientFor(ROOT_A, region).send(new LookupEventsCommand({ StartTime: since, LookupAttributes: [{ AttributeKey: 'Username', AttributeValue: 'Admin' }] }));
    assert.deepEqual(byRole.Events, []);
  });

  describe('validation errors', () => {
    const region = 'us-west-2';
    const expectError = async (input: LookupEventsCommandInput, name: string, client = clientFor(ROOT_A, region)) => {
      const err = await client.send(new LookupEventsCommand(input)).then(
        () => assert.fail(`expected ${name} for ${JSON.stringify(input)}`),
        (e: any) => e,
      );
      assert.equal(err.name, name, `${JSON.stringify(input).slice(0, 200)}: ${err.message}`);
      assert.equal(err.$metadata?.httpStatusCode, 400);
      assert.ok(typeof err.message === 'string' && err.message.length > 0);
      return err as Error & { $metadata: { requestId?: string } };
    };

    test('InvalidLookupAttributesException: two attributes, bad key, empty or too long value, ReadOnly not true|false', async () => {
      await expectError({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'A' }, { AttributeKey: 'EventSource', AttributeValue: 'b' }] }, 'InvalidLookupAttributesException');
      await expectError({ LookupAttributes: [{ AttributeKey: 'Bogus' as LookupAttributeKey, AttributeValue: 'x' }] }, 'InvalidLookupAttributesException');
      await expectError({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: '' }] }, 'InvalidLookupAttributesException');
      await expectError({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'a'.repeat(2001) }] }, 'InvalidLookupAttributesException');
      await expectError({ LookupAttributes: [{ AttributeKey: 'ReadOnly', AttributeValue: 'TRUE' }] }, 'InvalidLookupAttributesException');
      await expectError({ LookupAttributes: [{ AttributeKey: 'ReadOnly', AttributeValue: 'yes' }] }, 'InvalidLookupAttributesException');
      // The limits themselves are fine.
      const ok = await clientFor(ROOT_A, region).send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'a'.repeat(2000) }] }));
      assert.deepEqual(ok.Events, []);
      for (const v of ['true', 'false']) {
        const r = await clientFor(ROOT_A, region).send(new LookupEventsCommand({ EndTime: END, LookupAttributes: [{ AttributeKey: 'ReadOnly', AttributeValue: v }] }));
        assert.ok(r.Events!.every((e) => e.ReadOnly === v));
      }
    });

    test('InvalidTimeRangeException, InvalidMaxResultsException, InvalidEventCategoryException', async () => {
      await expectError({ StartTime: new Date('2024-01-02T00:00:00Z'), EndTime: new Date('2024-01-01T00:00:00Z') }, 'InvalidTimeRangeException');
      await expectError({ MaxResults: 0 }, 'InvalidMaxResultsException');
      await expectError({ MaxResults: 51 }, 'InvalidMaxResultsException');
      await expectError({ EventCategory: 'management' as 'insight' }, 'InvalidEventCategoryException');
      // Limits that are valid.
      for (const MaxResults of [1, 50]) {
        const r = await clientFor(ROOT_A, region).send(new LookupEventsCommand({ MaxResults }));
        assert.ok(r.Events!.length <= MaxResults);
      }
      const t = new Date('2024-01-01T00:00:00Z');
      await clientFor(ROOT_A, region).send(new LookupEventsCommand({ StartTime: t, EndTime: t }));
      const insight = await clientFor(ROOT_A, region).send(new LookupEventsCommand({ EventCategory: 'insight' }));
      assert.deepEqual(insight.Events, [], 'no Insights events were ingested');
      await expectError({ EventCategory: 'insight', LookupAttributes: [{ AttributeKey: 'Username', AttributeValue: 'root' }] }, 'InvalidLookupAttributesException');
    });

    test('InvalidNextTokenException: forged, altered, reused with other parameters, from another account or region', async () => {
      const pair = [...PAIRS].sort((a, b) => b.n - a.n)[0]!;
      const owner = rootClient(pair.account, pair.region);
      const input: LookupEventsCommandInput = { EndTime: END, MaxResults: 2 };
      const first = await owner.send(new LookupEventsCommand(input));
      const token = first.NextToken;
      assert.ok(token, 'the first page has a NextToken');
      // The token works for its own query, as often as asked.
      const want = history(pair.account, pair.region).slice(2, 4).map((s) => s.eventID);
      for (let i = 0; i < 2; i++) {
        const second: LookupEventsCommandOutput = await owner.send(new LookupEventsCommand({ ...input, NextToken: token }));
        assert.deepEqual(second.Events?.map((e) => e.EventId), want);
      }
      const bad = async (client: CloudTrailClient, i: LookupEventsCommandInput, why: string) => {
        const err = await client.send(new LookupEventsCommand(i)).then(() => undefined, (e: any) => e);
        assert.ok(err, `${why}: the call must fail`);
        assert.equal(err.name, 'InvalidNextTokenException', why);
        assert.equal(err.$metadata.httpStatusCode, 400, why);
      };
      await bad(owner, { ...input, NextToken: 'abc' }, 'forged');
      await bad(owner, { ...input, NextToken: 'A'.repeat(80) }, 'forged, token-shaped');
      const flipped = token.slice(0, 20) + (token[20] === 'A' ? 'B' : 'A') + token.slice(21);
      await bad(owner, { ...input, NextToken: flipped }, 'one character changed');
      await bad(owner, { ...input, EndTime: new Date(END.getTime() - 1000), NextToken: token }, 'other EndTime');
      await bad(owner, { ...input, StartTime: new Date(0), NextToken: token }, 'added StartTime');
      await bad(owner, { ...input, LookupAttributes: [{ AttributeKey: 'ReadOnly', AttributeValue: 'true' }], NextToken: token }, 'added attribute');
      const otherRegion = PAIRS.find((p) => p.account === pair.account && p.region !== pair.region)?.region ?? 'us-east-1';
      await bad(rootClient(pair.account, otherRegion), { ...input, NextToken: token }, 'same account, other region');
      await bad(clientFor(CAROL, REGIONS.includes(pair.region) ? pair.region : 'us-east-1'), { ...input, NextToken: token }, 'other account (ACCOUNT_B), same region');
    });

    test('InvalidNextTokenException: a token spelled differently that decodes to the same bytes is a changed token too', async () => {
      const pair = [...PAIRS].sort((a, b) => b.n - a.n)[0]!;
      const owner = rootClient(pair.account, pair.region);
      const input: LookupEventsCommandInput = { EndTime: END, MaxResults: 2 };
      const token = (await owner.send(new LookupEventsCommand(input))).NextToken!;
      assert.match(token, /^[A-Za-z0-9_-]+$/, 'base64url');
      // base64url leaves spare bits at the end (or ignores a lone trailing character): use them.
      const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const variant = token.length % 4 === 0 ? `${token}A` : token.slice(0, -1) + ALPHABET[ALPHABET.indexOf(token.at(-1)!) ^ 1];
      assert.notEqual(variant, token);
      assert.deepEqual(Buffer.from(variant, 'base64url'), Buffer.from(token, 'base64url'), 'same bytes, other text');
      const err = await owner.send(new LookupEventsCommand({ ...input, NextToken: variant })).then(() => undefined, (e: any) => e);
      assert.equal(err?.name, 'InvalidNextTokenException', `the altered token ${variant} (issued: ${token}) was accepted`);
    });

    test('a failed call is itself in Event history with errorCode and errorMessage', async () => {
      const failures = [
        await expectError({ MaxResults: 0, LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'Nothing' }] }, 'InvalidMaxResultsException'),
        await expectError({ LookupAttributes: [{ AttributeKey: 'ReadOnly', AttributeValue: 'maybe' }] }, 'InvalidLookupAttributesException'),
        await expectError({ StartTime: new Date('2024-01-02T00:00:00Z'), EndTime: new Date('2024-01-01T00:00:00Z') }, 'InvalidTimeRangeException'),
        await expectError({ EventCategory: 'management' as 'insight' }, 'InvalidEventCategoryException'),
        await expectError({ NextToken: 'not-a-token' }, 'InvalidNextTokenException'),
      ];
      // A read's record is committed just after its answer (selfAudit.readRecords after-answer): the
      // last one may take a moment to show.
      let records: Json[] = [];
      await waitFor(async () => {
        const { events } = await lookupAll(clientFor(ROOT_A, region), { StartTime: new Date(TEST_START_MS), LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'LookupEvents' }] });
        records = events.map((e) => JSON.parse(e.CloudTrailEvent!));
        return failures.every((f) => records.some((r) => r.requestID === f.$metadata.requestId));
      }, 5000, 'the failed calls\' records', 50);
      for (const err of failures) {
        const mine = records.filter((r) => r.requestID === err.$metadata.requestId);
        assert.equal(mine.length, 1, `the failed call ${err.name} was recorded once`);
        const rec = mine[0]!;
        assert.equal(rec.errorCode, err.name);
        assert.equal(rec.errorMessage, err.message);
        assert.equal(rec.responseElements, null);
        assert.equal(rec.readOnly, true);
        assert.equal(rec.eventName, 'LookupEvents');
        assert.deepEqual(rec.userIdentity.accessKeyId, ROOT_A.accessKeyId);
      }
      const first = records.find((r) => r.requestID === failures[0]!.$metadata.requestId)!;
      assert.deepEqual(first.requestParameters, { lookupAttributes: [{ attributeKey: 'EventName', attributeValue: 'Nothing' }], maxResults: 0 });
      // A successful call has no errorCode.
      assert.ok(records.some((r) => r.errorCode === undefined));
    });
  });

  test('account isolation: account B never sees account A events, and A never sees B', async () => {
    const region = 'us-east-1';
    const carol = clientFor(CAROL, region);
    await carol.send(new ListChannelsCommand({}));
    // A read's record is committed just after its answer (selfAudit.readRecords after-answer).
    let mine: { events: HistoryEvent[] } = { events: [] };
    await waitFor(async () => (mine = await lookupAll(carol, { MaxResults: 50 })).events.some((e) => e.EventName === 'ListChannels'), 5000, 'carol\'s ListChannels record', 50);
    assert.ok(mine.events.length >= 1, 'carol sees her own calls');
    for (const e of mine.events) {
      const rec = JSON.parse(e.CloudTrailEvent!);
      assert.equal(rec.recipientAccountId, ACCOUNT_B.id);
      assert.equal(rec.userIdentity.accountId, ACCOUNT_B.id);
    }
    const aEvents = await lookupAll(clientFor(ROOT_A, region), { MaxResults: 50 });
    assert.ok(aEvents.events.length >= 1);
    assert.ok(aEvents.events.every((e) => JSON.parse(e.CloudTrailEvent!).recipientAccountId === ACCOUNT_A.id));
    const aIds = new Set(aEvents.events.map((e) => e.EventId));
    assert.ok(!mine.events.some((e) => aIds.has(e.EventId)));
    // A's events by every attribute, asked by B: nothing.
    const aRecord = aEvents.events.find((e) => e.AccessKeyId === ALICE.accessKeyId || e.Username === 'root')!;
    for (const [AttributeKey, AttributeValue] of [
      ['EventId', aRecord.EventId!], ['AccessKeyId', ALICE.accessKeyId], ['Username', 'alice'], ['Username', 'root'], ['AccessKeyId', ROOT_A.accessKeyId],
    ] as [LookupAttributeKey, string][]) {
      const r = await carol.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey, AttributeValue }] }));
      assert.deepEqual(r.Events, [], `B asks ${AttributeKey}=${AttributeValue}`);
    }
    for (const e of mine.events.slice(0, 3)) {
      const r = await clientFor(ROOT_A, region).send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventId', AttributeValue: e.EventId! }] }));
      assert.deepEqual(r.Events, [], 'A asks for a B event by id');
    }
    // A corpus account's events are invisible to A and B too.
    const s = STORED.find((x) => x.management && x.account !== ACCOUNT_A.id && x.timeSec !== undefined && REGIONS.includes(x.region))!;
    for (const id of [ROOT_A, CAROL]) {
      const r = await clientFor(id, s.region).send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventId', AttributeValue: s.eventID }] }));
      assert.deepEqual(r.Events, []);
    }
  });

  test('answers carry Server-Timing app;dur=<ms>, the server\'s own time (what npm run bench reports beside the client\'s)', async () => {
    const headers = { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents' };
    const t0 = performance.now();
    const ok = await signedFetch(`${server.url}/`, ROOT_A, { body: '{"MaxResults":5}', headers, service: 'cloudtrail' });
    const clientMs = performance.now() - t0;
    assert.equal(ok.status, 200, await ok.clone().text());
    const m = /^app;dur=(\d+\.\d{2})$/.exec(ok.headers.get('server-timing') ?? '');
    assert.ok(m, `server-timing: ${ok.headers.get('server-timing')}`);
    assert.ok(Number(m[1]) > 0 && Number(m[1]) <= clientMs, `server ${m[1]} ms within the client's ${clientMs.toFixed(2)} ms`);
    // Refusals too (here a bad signature: answered before any handler).
    const refused = await signedFetch(`${server.url}/`, { ...ROOT_A, secretAccessKey: 'wrong' }, { body: '{}', headers, service: 'cloudtrail' });
    assert.equal(refused.status, 403);
    assert.match(refused.headers.get('server-timing') ?? '', /^app;dur=\d+\.\d{2}$/);
  });
});
