/**
 * The AWS CLI against the real server: `aws cloudtrail lookup-events` (attributes, time range,
 * automatic pagination) answers what the SDK answers; `aws cloudtrail-data put-audit-events`
 * end to end through a channel; the channel operations.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runAws, type CliResult } from './helpers/cli.ts';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  CreateChannelCommand, DeleteChannelCommand, GetChannelCommand, ListChannelsCommand, LookupEventsCommand, UpdateChannelCommand,
  type CloudTrailClient, type Event as HistoryEvent, type LookupEventsCommandInput,
} from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, ACCOUNT_B, cliEnv, cloudTrailClient, startServer, type StartedServer, type TestIdentity } from './helpers/server.ts';
import { channelStore } from './helpers/lake.ts';
import { signedFetch } from './helpers/signed-fetch.ts';
import { waitFor } from './helpers/delivery.ts';

type Json = Record<string, any>;

const ROOT_A = ACCOUNT_A.identities[0]!;
const ALICE = ACCOUNT_A.identities[1]!;
const BOB = ACCOUNT_A.identities[2]!;
const CAROL = ACCOUNT_B.identities[0]!;

// The stratus-red-team records of one account, in its made-up region.
const STRATUS_ACCOUNT = '056392974792';
const STRATUS_REGION = 'sagov-westsouth-1r';
const STRATUS_ROOT: TestIdentity = { type: 'Root', accessKeyId: 'AKIASTRATUSROOT00001', secretAccessKey: 'stratus-root-secret' };
const STRATUS_LINES = readFileSync(new URL('./fixtures/corpus/stratus-red-team.jsonl', import.meta.url), 'utf8').split('\n').filter((l) => l.trim());

const TEST_START_MS = Date.now();
const END = new Date(Math.floor(TEST_START_MS / 1000) * 1000 - 1000);

/** The pair's Event history, computed from the fixture: management events, newest first. */
function expectedStratus(startSec = -Infinity, endSec = END.getTime() / 1000, match: (r: Json) => boolean = () => true): string[] {
  const seen = new Set<string>();
  return STRATUS_LINES.map((l, i) => ({ r: JSON.parse(l) as Json, i }))
    .filter(({ r }) => {
      if (r.recipientAccountId !== STRATUS_ACCOUNT) return false;
      if (seen.has(r.eventID)) return false;
      seen.add(r.eventID);
      return r.awsRegion === STRATUS_REGION && (r.eventCategory ?? 'Management') === 'Management' && r.managementEvent !== false;
    })
    .map(({ r, i }) => ({ r, i, t: Math.floor(Date.parse(r.eventTime) / 1000) }))
    .filter(({ r, t }) => t >= startSec && t <= endSec && match(r))
    .sort((a, b) => b.t - a.t || b.i - a.i)
    .map(({ r }) => r.eventID);
}

let server: StartedServer;
const clients: CloudTrailClient[] = [];
function sdk(id: TestIdentity, region = 'us-east-1'): CloudTrailClient {
  const c = cloudTrailClient(server.url, id, region);
  clients.push(c);
  return c;
}


function aws(args: string[], id: TestIdentity, region = 'us-east-1'): Promise<CliResult> {
  return runAws([...args, '--endpoint-url', server.url, '--output', 'json'], cliEnv(id, region));
}

async function awsJson(args: string[], id: TestIdentity, region = 'us-east-1'): Promise<Json> {
  const r = await aws(args, id, region);
  assert.equal(r.code, 0, `aws ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.trim() ? JSON.parse(r.stdout) : {};
}

/** Runs the CLI expecting the modelled error `code`; returns its message. */
async function awsError(args: string[], id: TestIdentity, code: string, region = 'us-east-1'): Promise<string> {
  const r = await aws(args, id, region);
  assert.notEqual(r.code, 0, `aws ${args.join(' ')} should have failed: ${r.stdout}`);
  const m = /An error occurred \((\w+)\) when calling the (\w+) operation: (.*)/.exec(r.stderr);
  assert.ok(m, `an AWS error on stderr: ${r.stderr}`);
  assert.equal(m[1], code, r.stderr);
  return m[3]!;
}

async function sdkAll(client: CloudTrailClient, input: LookupEventsCommandInput): Promise<HistoryEvent[]> {
  const out: HistoryEvent[] = [];
  let NextToken: string | undefined;
  do {
    const page = await client.send(new LookupEventsCommand({ ...input, NextToken }));
    out.push(...page.Events!);
    NextToken = page.NextToken;
  } while (NextToken);
  return out;
}

/** The SDK's events and the CLI's must be the same, field by field. */
function assertSameEvents(cli: Json[], sdkEvents: HistoryEvent[], what: string): void {
  assert.equal(cli.length, sdkEvents.length, `${what}: as many events`);
  cli.forEach((c, i) => {
    const s = sdkEvents[i]!;
    assert.equal(c.EventId, s.EventId, `${what} #${i}`);
    for (const f of ['EventName', 'ReadOnly', 'AccessKeyId', 'EventSource', 'Username', 'CloudTrailEvent'] as const) assert.equal(c[f], s[f], `${what} #${i} ${f}`);
    assert.deepEqual(c.Resources, s.Resources, `${what} #${i} Resources`);
    const t = typeof c.EventTime === 'number' ? c.EventTime * 1000 : Date.parse(c.EventTime);
    assert.equal(t, s.EventTime!.getTime(), `${what} #${i} EventTime ${c.EventTime}`);
  });
}

/** The error name of a failed SDK call. */
async function sdkError404(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => undefined, (e: any) => e);
  assert.ok(err, 'the call should have failed');
  assert.equal(err.$metadata.httpStatusCode, 404);
  return err.name;
}

async function readLog(id: TestIdentity): Promise<Json[]> {
  const out: Json[] = [];
  let after = 0;
  for (;;) {
    const res = await signedFetch(`${server.url}/events?after=${after}&limit=1000`, id);
    assert.equal(res.status, 200);
    const page = (await res.json()) as { events: { seq: number; record: Json }[]; next: number };
    if (page.events.length === 0) return out;
    out.push(...page.events.map((e) => e.record));
    after = page.next;
  }
}

/** A store of channel events of account A in us-east-1 (made in before). */
let EDS = '';
const CHANNEL_ARN = /^arn:aws:cloudtrail:us-east-1:111111111111:channel\/[A-Za-z0-9-]+$/;

before(async () => {
  server = await startServer({
    // Every region of the stratus records is served: records for other regions are refused.
    regions: [...new Set(['us-east-1', 'us-west-2', 'eu-west-1', STRATUS_REGION, ...STRATUS_LINES.map((l) => (JSON.parse(l) as Json).awsRegion as string)])],
    allowNonAwsRegions: true, // the shared corpus's Region names are anonymised
    accounts: [ACCOUNT_A, ACCOUNT_B, { id: STRATUS_ACCOUNT, identities: [STRATUS_ROOT] }],
    eventHistory: { retentionDays: 36500 },
  });
  const res = await signedFetch(`${server.url}/ingest`, ALICE, { body: STRATUS_LINES.join('\n'), headers: { 'content-type': 'application/x-ndjson' } });
  assert.equal(res.status, 200);
  const out = (await res.json()) as { rejected: number; accepted: number };
  assert.equal(out.rejected, 0);
  assert.ok(out.accepted > 250);
  EDS = await channelStore(cloudTrailClient(server.url, ROOT_A));
});

after(async () => {
  for (const c of clients) c.destroy();
  await server?.stop();
});

describe('aws cloudtrail lookup-events', () => {
  test('automatic pagination with --page-size returns the whole history, as the SDK does', async () => {
    const want = expectedStratus();
    assert.ok(want.length >= 30, `the pair has enough events (${want.length})`);
    const cli = await awsJson(['cloudtrail', 'lookup-events', '--end-time', END.toISOString(), '--page-size', '7'], STRATUS_ROOT, STRATUS_REGION);
    assert.deepEqual(Object.keys(cli), ['Events'], 'the CLI merged the pages and consumed every NextToken');
    assert.deepEqual(cli.Events.map((e: Json) => e.EventId), want);
    const viaSdk = await sdkAll(sdk(STRATUS_ROOT, STRATUS_REGION), { EndTime: END, MaxResults: 50 });
    assertSameEvents(cli.Events, viaSdk, 'no attribute');
    // The CLI really paged: each of its requests is in Event history with MaxResults 7 (a read's
    // record is committed just after its answer, with the other reads' of the next 20 ms: the
    // last page's may take a moment to show).
    let calls: Json[] = [];
    await waitFor(async () => {
      calls = (await sdkAll(sdk(STRATUS_ROOT, STRATUS_REGION), { StartTime: new Date(TEST_START_MS), LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'LookupEvents' }] }))
        .map((e) => JSON.parse(e.CloudTrailEvent!) as Json)
        .filter((r) => /aws-cli/.test(r.userAgent) && r.requestParameters?.maxResults === 7);
      return calls.length >= Math.ceil(want.length / 7);
    }, 5000, 'the CLI\'s page requests\' records', 50);
    assert.equal(calls.length, Math.ceil(want.length / 7), 'one request per page');
    assert.equal(calls.filter((r) => r.requestParameters.nextToken === undefined).length, 1, 'only the first page was asked without a token');
  });

  test('--lookup-attributes selects the same events as the SDK', async () => {
    const stored = STRATUS_LINES.map((l) => JSON.parse(l) as Json).filter((r) => r.recipientAccountId === STRATUS_ACCOUNT && r.awsRegion === STRATUS_REGION);
    const names = new Map<string, number>();
    for (const r of stored) names.set(r.eventName, (names.get(r.eventName) ?? 0) + 1);
    const busiest = [...names.entries()].sort((a, b) => b[1] - a[1])[0]![0];
    const user = stored.find((r) => r.userIdentity?.type === 'IAMUser')!.userIdentity;
    const cases: [string, string, (r: Json) => boolean][] = [
      ['EventName', busiest, (r) => r.eventName === busiest],
      ['ReadOnly', 'true', (r) => r.readOnly === true],
      ['Username', user.userName, (r) => r.userIdentity?.userName === user.userName],
    ];
    await Promise.all(cases.map(async ([key, value, match]) => {
      const want = expectedStratus(-Infinity, END.getTime() / 1000, match);
      assert.ok(want.length >= 3, `${key}=${value} finds several events`);
      const cli = await awsJson(['cloudtrail', 'lookup-events', '--lookup-attributes', `AttributeKey=${key},AttributeValue=${value}`, '--end-time', END.toISOString(), '--page-size', '3'], STRATUS_ROOT, STRATUS_REGION);
      assert.deepEqual(cli.Events.map((e: Json) => e.EventId), want, `${key}=${value}`);
      const viaSdk = await sdkAll(sdk(STRATUS_ROOT, STRATUS_REGION), { EndTime: END, LookupAttributes: [{ AttributeKey: key as 'EventName', AttributeValue: value }] });
      assertSameEvents(cli.Events, viaSdk, `${key}=${value}`);
    }));
  });

  test('--start-time and --end-time are inclusive and agree with the SDK', async () => {
    const all = expectedStratus();
    const times = STRATUS_LINES.map((l) => JSON.parse(l) as Json).filter((r) => all.includes(r.eventID)).map((r) => Date.parse(r.eventTime) / 1000).sort((a, b) => a - b);
    const lo = times[Math.floor(times.length / 4)]!;
    const hi = times[Math.floor((3 * times.length) / 4)]!;
    assert.ok(lo < hi);
    const iso = (sec: number) => new Date(sec * 1000).toISOString();
    await Promise.all(([[lo, hi], [lo + 1, hi - 1]] as [number, number][]).map(async ([start, end]) => {
      const want = expectedStratus(start, end);
      const cli = await awsJson(['cloudtrail', 'lookup-events', '--start-time', iso(start), '--end-time', iso(end), '--page-size', '5'], STRATUS_ROOT, STRATUS_REGION);
      assert.deepEqual(cli.Events.map((e: Json) => e.EventId), want, `[${iso(start)}, ${iso(end)}]`);
      const viaSdk = await sdkAll(sdk(STRATUS_ROOT, STRATUS_REGION), { StartTime: new Date(start * 1000), EndTime: new Date(end * 1000) });
      assertSameEvents(cli.Events, viaSdk, `[${iso(start)}, ${iso(end)}]`);
    }));
    // Both bounds hold events, so the two ranges differ exactly by the boundary seconds.
    assert.ok(expectedStratus(lo, lo).length >= 1 && expectedStratus(hi, hi).length >= 1);
    assert.equal(expectedStratus(lo, hi).length, expectedStratus(lo + 1, hi - 1).length + expectedStratus(lo, lo).length + expectedStratus(hi, hi).length);
  });

  test('CLI errors carry the modelled exception names', async () => {
    await Promise.all([
      awsError(['cloudtrail', 'lookup-events', '--max-results', '51'], ROOT_A, 'InvalidMaxResultsException'),
      awsError(['cloudtrail', 'lookup-events', '--start-time', '2024-01-02T00:00:00Z', '--end-time', '2024-01-01T00:00:00Z'], ROOT_A, 'InvalidTimeRangeException'),
    ]);
  });
});

describe('channels', () => {
  const destinations = () => [{ Type: 'EVENT_DATA_STORE' as const, Location: EDS }];

  test('Create, Get, List, Update, Delete and their errors', async () => {
    const a = sdk(ROOT_A);
    const created = await a.send(new CreateChannelCommand({ Name: 'channel-ops', Source: 'Custom', Destinations: destinations(), Tags: [{ Key: 'team', Value: 'audit' }] }));
    assert.match(created.ChannelArn!, CHANNEL_ARN);
    assert.equal(created.Name, 'channel-ops');
    assert.equal(created.Source, 'Custom');
    assert.deepEqual(created.Destinations, destinations());
    assert.deepEqual(created.Tags, [{ Key: 'team', Value: 'audit' }]);
    const arn = created.ChannelArn!;
    const id = arn.split('/').pop()!;

    const byArn = await a.send(new GetChannelCommand({ Channel: arn }));
    const byId = await a.send(new GetChannelCommand({ Channel: id }));
    for (const g of [byArn, byId]) {
      assert.equal(g.ChannelArn, arn);
      assert.equal(g.Name, 'channel-ops');
      assert.equal(g.Source, 'Custom');
      assert.deepEqual(g.Destinations, destinations());
      assert.deepEqual(g.IngestionStatus, {}, 'nothing ingested yet');
    }
    const listed = await a.send(new ListChannelsCommand({}));
    assert.deepEqual(listed.Channels?.filter((c) => c.ChannelArn === arn), [{ ChannelArn: arn, Name: 'channel-ops' }]);
    // The CLI lists the same.
    const cliList = await awsJson(['cloudtrail', 'list-channels'], ROOT_A);
    assert.deepEqual(cliList.Channels, listed.Channels);

    const fail = async (p: Promise<unknown>, name: string, status: number) => {
      const err = await p.then(() => undefined, (e: any) => e);
      assert.ok(err, `expected ${name}`);
      assert.equal(err.name, name, err.message);
      assert.equal(err.$metadata.httpStatusCode, status, name);
    };
    await fail(a.send(new CreateChannelCommand({ Name: 'channel-ops', Source: 'Custom', Destinations: destinations() })), 'ChannelAlreadyExistsException', 400);
    const other = await a.send(new CreateChannelCommand({ Name: 'channel-other', Source: 'Custom', Destinations: destinations() }));
    await fail(a.send(new UpdateChannelCommand({ Channel: arn, Name: 'channel-other' })), 'ChannelAlreadyExistsException', 400);

    const updated = await a.send(new UpdateChannelCommand({ Channel: arn, Name: 'channel-renamed' }));
    assert.equal(updated.Name, 'channel-renamed');
    assert.equal(updated.ChannelArn, arn, 'the ARN does not change');
    assert.equal((await a.send(new GetChannelCommand({ Channel: arn }))).Name, 'channel-renamed');
    const cliGet = await awsJson(['cloudtrail', 'get-channel', '--channel', arn], ROOT_A);
    assert.equal(cliGet.Name, 'channel-renamed');
    assert.deepEqual(cliGet.Destinations, destinations());

    // Channels belong to an account and a region.
    await fail(sdk(ROOT_A, 'us-west-2').send(new GetChannelCommand({ Channel: arn })), 'ChannelNotFoundException', 404);
    await fail(sdk(CAROL).send(new GetChannelCommand({ Channel: arn })), 'ChannelNotFoundException', 404);
    await fail(sdk(CAROL).send(new DeleteChannelCommand({ Channel: arn })), 'ChannelNotFoundException', 404);
    assert.ok(!(await sdk(CAROL).send(new ListChannelsCommand({}))).Channels?.some((c) => c.ChannelArn === arn));
    // BOB is in account A: he sees the channel.
    assert.equal((await sdk(BOB).send(new GetChannelCommand({ Channel: arn }))).ChannelArn, arn);

    await a.send(new DeleteChannelCommand({ Channel: arn }));
    await fail(a.send(new GetChannelCommand({ Channel: arn })), 'ChannelNotFoundException', 404);
    await fail(a.send(new DeleteChannelCommand({ Channel: arn })), 'ChannelNotFoundException', 404);
    await fail(a.send(new UpdateChannelCommand({ Channel: arn, Name: 'again' })), 'ChannelNotFoundException', 404);
    await awsError(['cloudtrail', 'get-channel', '--channel', arn], ROOT_A, 'ChannelNotFoundException');
    const after = await a.send(new ListChannelsCommand({}));
    assert.ok(!after.Channels?.some((c) => c.ChannelArn === arn));
    assert.ok(after.Channels?.some((c) => c.ChannelArn === other.ChannelArn));
    // The name is free again.
    const reborn = await a.send(new CreateChannelCommand({ Name: 'channel-ops', Source: 'Custom', Destinations: destinations() }));
    assert.notEqual(reborn.ChannelArn, arn);
    await a.send(new DeleteChannelCommand({ Channel: reborn.ChannelArn }));
    await a.send(new DeleteChannelCommand({ Channel: other.ChannelArn }));
  });

  test('channel calls are management events in Event history', async () => {
    const a = sdk(ROOT_A, 'eu-west-1');
    const eds = await channelStore(a, 'audited-store');
    const since = new Date(Date.now() - 1000);
    const created = await a.send(new CreateChannelCommand({ Name: 'audited', Source: 'Custom', Destinations: [{ Type: 'EVENT_DATA_STORE', Location: eds }] }));
    await a.send(new DeleteChannelCommand({ Channel: created.ChannelArn }));
    const events = await sdkAll(a, { StartTime: since, LookupAttributes: [{ AttributeKey: 'EventSource', AttributeValue: 'cloudtrail.amazonaws.com' }] });
    const names = events.map((e) => e.EventName);
    assert.deepEqual(names.filter((n) => n !== 'LookupEvents' && n !== 'CreateEventDataStore'), ['DeleteChannel', 'CreateChannel'], 'newest first');
    const del = JSON.parse(events.find((e) => e.EventName === 'DeleteChannel')!.CloudTrailEvent!);
    assert.deepEqual(del.requestParameters, { channel: created.ChannelArn });
    assert.equal(del.readOnly, false);
  });
});

describe('aws cloudtrail-data put-audit-events', () => {
  let channelArn: string;
  const uid = (n: string) => `uid-${n}-${TEST_START_MS}`;
  const data = (u: string, extra: Json = {}) => ({
    version: '1.0',
    userIdentity: { type: 'CustomUserIdentity', principalId: 'employee-42', details: { team: 'payments' } },
    userAgent: 'my-app/2.0',
    eventSource: 'my-app.example.com',
    eventName: 'ApproveInvoice',
    eventTime: '2026-01-02T03:04:05Z',
    UID: u,
    requestParameters: { invoice: 'INV-1' },
    sourceIPAddress: '203.0.113.7',
    recipientAccountId: ACCOUNT_A.id,
    ...extra,
  });
  const checksum = (s: string) => createHash('sha256').update(s, 'utf8').digest('base64');
  const put = (events: Json[], id: TestIdentity = ROOT_A, arn = channelArn) =>
    aws(['cloudtrail-data', 'put-audit-events', '--channel-arn', arn, '--audit-events', JSON.stringify(events)], id);
  const putJson = async (events: Json[]) => {
    const r = await put(events);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { successful: { id: string; eventID: string }[]; failed: { id: string; errorCode: string; errorMessage: string }[] };
  };

  before(async () => {
    const out = await sdk(ROOT_A).send(new CreateChannelCommand({ Name: 'cli-audit', Source: 'Custom', Destinations: [{ Type: 'EVENT_DATA_STORE', Location: EDS }] }));
    channelArn = out.ChannelArn!;
    assert.match(channelArn, CHANNEL_ARN);
  });

  const firstPut: { eventIds: Map<string, string>; from: number; to: number } = { eventIds: new Map(), from: 0, to: 0 };

  test('per-event outcome: accepted events get an eventID, a wrong checksum fails only its event', async () => {
    const d1 = JSON.stringify(data(uid('1')));
    const d2 = JSON.stringify(data(uid('2'), { eventName: 'RejectInvoice' }));
    const d3 = JSON.stringify(data(uid('3')));
    firstPut.from = Date.now();
    const out = await putJson([
      { id: 'one', eventData: d1, eventDataChecksum: checksum(d1) },
      { id: 'two', eventData: d2 },
      { id: 'three', eventData: d3, eventDataChecksum: checksum(d3 + ' ') },
    ]);
    firstPut.to = Date.now();
    assert.deepEqual(out.successful.map((s) => s.id), ['one', 'two']);
    for (const s of out.successful) assert.match(s.eventID, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.notEqual(out.successful[0]!.eventID, out.successful[1]!.eventID);
    assert.equal(out.failed.length, 1);
    assert.equal(out.failed[0]!.id, 'three');
    assert.equal(out.failed[0]!.errorCode, 'InvalidChecksum');
    assert.ok(out.failed[0]!.errorMessage.length > 0);
    firstPut.eventIds.set(uid('1'), out.successful[0]!.eventID);
    firstPut.eventIds.set(uid('2'), out.successful[1]!.eventID);
  });

  test('the stored records, read back from the event log', async () => {
    const log = await readLog(ROOT_A);
    for (const [u, eventID] of firstPut.eventIds) {
      const mine = log.filter((r) => r.eventID === eventID);
      assert.equal(mine.length, 1, `${u} stored once`);
      const r = mine[0]!;
      assert.equal(r.eventCategory, 'ActivityAuditLog');
      assert.equal(r.eventType, 'ActivityLog');
      assert.equal(r.recipientAccountId, ACCOUNT_A.id);
      assert.equal(r.awsRegion, 'us-east-1');
      assert.equal(r.eventTime, '2026-01-02T03:04:05Z');
      assert.equal(r.metadata?.channelARN, channelArn);
      const ingested = Date.parse(r.metadata?.ingestionTime);
      assert.ok(ingested >= Math.floor(firstPut.from / 1000) * 1000 && ingested <= firstPut.to, `ingestionTime ${r.metadata?.ingestionTime}`);
      assert.deepEqual(r.eventData, data(u, u === uid('2') ? { eventName: 'RejectInvoice' } : {}), 'eventData exactly as sent');
    }
    assert.ok(!log.some((r) => r.eventData?.UID === uid('3')), 'the event with the bad checksum was not stored');
    // They are not management events: Event history does not have them.
    for (const eventID of firstPut.eventIds.values()) {
      const r = await sdk(ROOT_A).send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventId', AttributeValue: eventID }] }));
      assert.deepEqual(r.Events, []);
    }
  });

  test('the PutAuditEvents call itself is a data event: in the log, not in Event history', async () => {
    const log = await readLog(ROOT_A);
    const calls = log.filter((r) => r.eventSource === 'cloudtrail-data.amazonaws.com' && r.eventName === 'PutAuditEvents' && r.responseElements?.successful === 2);
    assert.equal(calls.length, 1, 'the first put is recorded once');
    const c = calls[0]!;
    assert.equal(c.eventCategory, 'Data');
    assert.equal(c.managementEvent, false);
    assert.equal(c.readOnly, false);
    assert.deepEqual(c.responseElements, { successful: 2, failed: 1 });
    assert.equal(c.requestParameters?.channelArn, channelArn);
    assert.deepEqual(c.resources, [{ ARN: channelArn, accountId: ACCOUNT_A.id, type: 'AWS::CloudTrail::Channel' }]);
    assert.deepEqual(c.userIdentity, { type: 'Root', principalId: ACCOUNT_A.id, arn: `arn:aws:iam::${ACCOUNT_A.id}:root`, accountId: ACCOUNT_A.id, accessKeyId: ROOT_A.accessKeyId });
    assert.match(c.userAgent, /aws-cli/);
    const r = await sdk(ROOT_A).send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'PutAuditEvents' }] }));
    assert.deepEqual(r.Events, []);
  });

  test('a retried UID answers the same eventID and stores nothing twice', async () => {
    const d1 = JSON.stringify(data(uid('1')));
    const again = await putJson([{ id: 'retry-of-one', eventData: d1 }, { id: 'four', eventData: JSON.stringify(data(uid('4'))) }]);
    assert.deepEqual(again.failed, []);
    assert.deepEqual(again.successful.map((s) => s.id), ['retry-of-one', 'four']);
    assert.equal(again.successful[0]!.eventID, firstPut.eventIds.get(uid('1')), 'same UID, same channel: same eventID');
    assert.notEqual(again.successful[1]!.eventID, firstPut.eventIds.get(uid('1')));
    // The channel may be named by its id (the ARN suffix) too: same channel, same eventID.
    const byId = await put([{ id: 'retry-by-id', eventData: d1 }], ROOT_A, channelArn.split('/').pop()!);
    assert.equal(byId.code, 0, byId.stderr);
    assert.deepEqual(JSON.parse(byId.stdout).successful, [{ id: 'retry-by-id', eventID: firstPut.eventIds.get(uid('1')) }]);
    const log = await readLog(ROOT_A);
    assert.equal(log.filter((r) => r.eventID === firstPut.eventIds.get(uid('1'))).length, 1);
    assert.equal(log.filter((r) => r.eventData?.UID === uid('1')).length, 1);
    assert.equal(log.filter((r) => r.eventData?.UID === uid('4')).length, 1);
  });

  test('duplicate ids in one request: DuplicatedAuditEventId, nothing stored', async () => {
    const msg = await awsError(
      ['cloudtrail-data', 'put-audit-events', '--channel-arn', channelArn, '--audit-events', JSON.stringify([
        { id: 'same', eventData: JSON.stringify(data(uid('dup-a'))) },
        { id: 'same', eventData: JSON.stringify(data(uid('dup-b'))) },
      ])],
      ROOT_A, 'DuplicatedAuditEventId',
    );
    assert.match(msg, /same/);
    const log = await readLog(ROOT_A);
    assert.ok(!log.some((r) => r.eventData?.UID === uid('dup-a') || r.eventData?.UID === uid('dup-b')));
  });

  test('per-event validation: FieldNotFound, InvalidRecipient, InvalidData', async () => {
    const noUid = data('x') as Json;
    delete noUid.UID;
    const noUser = data(uid('nouser')) as Json;
    delete noUser.userIdentity;
    const out = await putJson([
      { id: 'no-uid', eventData: JSON.stringify(noUid) },
      { id: 'no-user', eventData: JSON.stringify(noUser) },
      { id: 'other-account', eventData: JSON.stringify(data(uid('b'), { recipientAccountId: ACCOUNT_B.id })) },
      { id: 'not-json', eventData: '{"version":' },
      { id: 'good', eventData: JSON.stringify(data(uid('good'))) },
    ]);
    assert.deepEqual(out.successful.map((s) => s.id), ['good']);
    assert.deepEqual(out.failed.map((f) => [f.id, f.errorCode]), [['no-uid', 'FieldNotFound'], ['no-user', 'FieldNotFound'], ['other-account', 'InvalidRecipient'], ['not-json', 'InvalidData']]);
    assert.match(out.failed[0]!.errorMessage, /UID/);
    assert.match(out.failed[1]!.errorMessage, /userIdentity/);
    const log = await readLog(ROOT_A);
    assert.ok(!log.some((r) => r.eventData?.UID === uid('b')));
  });

  test('channel errors: ChannelNotFound, also for another account\'s channel (existence is not revealed)', async () => {
    const missing = 'arn:aws:cloudtrail:us-east-1:111111111111:channel/00000000-0000-0000-0000-000000000000';
    // Account B may not write through account A's channel, and is not told that it exists.
    const [, r] = await Promise.all([
      awsError(['cloudtrail-data', 'put-audit-events', '--channel-arn', missing, '--audit-events', JSON.stringify([{ id: 'a', eventData: JSON.stringify(data(uid('nf'))) }])], ROOT_A, 'ChannelNotFound'),
      put([{ id: 'a', eventData: JSON.stringify(data(uid('carol'), { recipientAccountId: ACCOUNT_B.id })) }], CAROL),
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /\(ChannelNotFound\)/);
    const log = await readLog(ROOT_A);
    assert.ok(!log.some((x) => x.eventData?.UID === uid('nf') || x.eventData?.UID === uid('carol')));
    // The refused call is still audited, in the caller's account, with its error.
    const carolLog = await readLog(CAROL);
    const refused = carolLog.filter((x) => x.eventName === 'PutAuditEvents' && x.errorCode === 'ChannelNotFound');
    assert.equal(refused.length, 1);
    assert.equal(refused[0]!.recipientAccountId, ACCOUNT_B.id);
  });

  test('a channel serves its own region only: a put signed for another region is ChannelNotFound, as GetChannel is', async () => {
    const elsewhere = await sdkError404(sdk(ROOT_A, 'us-west-2').send(new GetChannelCommand({ Channel: channelArn })));
    assert.equal(elsewhere, 'ChannelNotFoundException');
    const r = await aws(['cloudtrail-data', 'put-audit-events', '--channel-arn', channelArn, '--audit-events', JSON.stringify([{ id: 'west', eventData: JSON.stringify(data(uid('west'))) }])], ROOT_A, 'us-west-2');
    const log = await readLog(ROOT_A);
    const stored = log.filter((x) => x.eventData?.UID === uid('west'));
    assert.deepEqual(stored.map((x) => `${x.awsRegion} via ${x.metadata?.channelARN}`), [], 'nothing stored in us-west-2 through a us-east-1 channel');
    assert.notEqual(r.code, 0, `the put was accepted: ${r.stdout}`);
    assert.match(r.stderr, /\(ChannelNotFound\)/);
  });

  test('GetChannel IngestionStatus reflects the latest put', async () => {
    const from = Date.now();
    const ok = await putJson([{ id: 'latest', eventData: JSON.stringify(data(uid('latest'))) }]);
    const to = Date.now();
    const latestId = ok.successful[0]!.eventID;
    const g = await sdk(ROOT_A).send(new GetChannelCommand({ Channel: channelArn }));
    const st = g.IngestionStatus!;
    assert.equal(st.LatestIngestionSuccessEventID, latestId);
    assert.equal(st.LatestIngestionAttemptEventID, latestId);
    for (const t of [st.LatestIngestionSuccessTime, st.LatestIngestionAttemptTime]) {
      assert.ok(t instanceof Date);
      assert.ok(t.getTime() >= from - 1000 && t.getTime() <= to + 1000, `${t.toISOString()} is the time of the put`);
    }
    // Earlier puts failed some events.
    assert.equal(typeof st.LatestIngestionErrorCode, 'string');
    // A put whose every event fails is an attempt, not a success.
    const bad = JSON.stringify(data(uid('bad')));
    const failed = await putJson([{ id: 'bad', eventData: bad, eventDataChecksum: checksum('other') }]);
    assert.deepEqual(failed.successful, []);
    const g2 = await sdk(ROOT_A).send(new GetChannelCommand({ Channel: channelArn }));
    assert.equal(g2.IngestionStatus!.LatestIngestionSuccessEventID, latestId, 'the last success is unchanged');
    assert.equal(g2.IngestionStatus!.LatestIngestionErrorCode, 'InvalidChecksum');
    assert.ok(g2.IngestionStatus!.LatestIngestionAttemptTime!.getTime() >= st.LatestIngestionAttemptTime!.getTime());
  });
});
