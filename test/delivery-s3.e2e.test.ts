/**
 * Delivery into S3 (moto server): trails with different scopes and selectors, in two regions and
 * two accounts (an organization trail among them, and a trail with a key prefix and one with a KMS
 * key), fed with a rewritten copy of the fixture corpus plus generated traffic. Every object of
 * every bucket is read back (ListObjectsV2 + GetObject): valid gzip JSON under CloudTrail's key
 * layout, SSE as CloudTrail asks for it, and the union of its records equal to exactly the events
 * the trail admits, none twice.
 *
 * What a trail admits is computed here, without the server's code, over the server's event log
 * (GET /events: the records as stored, including the server's self-audit records of our own
 * calls), from the StartLogging call of each trail to the end of the test's traffic.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, GetObjectAclCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  CreateTrailCommand, GetTrailStatusCommand, PutEventSelectorsCommand, StartLoggingCommand, type CloudTrailClient,
} from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, ACCOUNT_B, cloudTrailClient, startServer, type StartedServer, type TestConfig } from './helpers/server.ts';
import { motoNeighbourConfig, motoS3, startMoto, type StartedMoto } from './helpers/moto.ts';
import {
  corpusRecords, deliveredIds, eventLog, idOf, ingest, readS3Bucket, sleep, traffic, waitFor, type Json, type LogFile,
} from './helpers/delivery.ts';

const A = ACCOUNT_A.id;
const B = ACCOUNT_B.id;
/** An account outside the organization: its events reach no trail. */
const OUTSIDER = '333333333333';
const ALICE = ACCOUNT_A.identities[1]!; // trustedProducer: ingests for any account
const CAROL = ACCOUNT_B.identities[0]!;
const REGIONS = ['us-east-1', 'eu-west-1'];
/** Not served: a multi-region trail covers the served regions only. */
const UNSERVED = 'ap-southeast-2';
const ORG_ID = 'o-opentrail42';
const KMS_KEY = '1234abcd-12ab-34cd-56ef-1234567890ab';
const KMS_ARN = `arn:aws:kms:eu-west-1:${A}:key/${KMS_KEY}`;

const GLOBAL_SOURCES = new Set(['iam.amazonaws.com', 'sts.amazonaws.com', 'cloudfront.amazonaws.com', 'signin.amazonaws.com', 'route53.amazonaws.com']);

interface TrailSpec {
  name: string;
  bucket: string;
  owner: 'A' | 'B';
  homeRegion: string;
  create: Json;
  selectors?: Json;
  /** What the trail admits, written from CloudTrail's documentation, not from the server's code. */
  regions: string[];
  accounts: string[];
  includeGlobal: boolean;
  select: (r: Json) => boolean;
  prefix?: string;
  organizationId?: string;
  kms?: string;
}

const isManagement = (r: Json) => r.eventCategory === 'Management';
const s3ObjectUnder = (r: Json, bucket: string) =>
  r.eventCategory === 'Data' && Array.isArray(r.resources) && r.resources.some((x: Json) => x.type === 'AWS::S3::Object' && typeof x.ARN === 'string' && x.ARN.startsWith(`arn:aws:s3:::${bucket}/`));

const TRAILS: TrailSpec[] = [
  {
    // Organization trail of the management account: every member, every region, management events.
    name: 'org-all', bucket: 'ot-org', owner: 'A', homeRegion: 'us-east-1',
    create: { IsOrganizationTrail: true, IsMultiRegionTrail: true },
    regions: REGIONS, accounts: [A, B], includeGlobal: true, select: isManagement, organizationId: ORG_ID,
  },
  {
    // Single-region, key prefix, no global service events.
    name: 'east-prefixed', bucket: 'ot-prefixed', owner: 'A', homeRegion: 'us-east-1',
    create: { S3KeyPrefix: 'audit/east', IncludeGlobalServiceEvents: false },
    regions: ['us-east-1'], accounts: [A], includeGlobal: false, select: isManagement, prefix: 'audit/east',
  },
  {
    // Home eu-west-1, SSE-KMS, read-only management events without KMS's.
    name: 'eu-reads', bucket: 'ot-kms', owner: 'A', homeRegion: 'eu-west-1',
    create: { KmsKeyId: KMS_KEY },
    selectors: { EventSelectors: [{ ReadWriteType: 'ReadOnly', IncludeManagementEvents: true, ExcludeManagementEventSources: ['kms.amazonaws.com'] }] },
    regions: ['eu-west-1'], accounts: [A], includeGlobal: true,
    select: (r) => isManagement(r) && r.readOnly === true && r.eventSource !== 'kms.amazonaws.com', kms: KMS_ARN,
  },
  {
    // Basic data selector only: S3 objects under one bucket, every region.
    name: 'data-basic', bucket: 'ot-data', owner: 'A', homeRegion: 'us-east-1',
    create: { IsMultiRegionTrail: true },
    selectors: { EventSelectors: [{ ReadWriteType: 'All', IncludeManagementEvents: false, DataResources: [{ Type: 'AWS::S3::Object', Values: ['arn:aws:s3:::src-a/'] }] }] },
    regions: REGIONS, accounts: [A], includeGlobal: true, select: (r) => s3ObjectUnder(r, 'src-a'),
  },
  {
    // The member account's own trail, advanced selectors: management writes plus S3 objects of another bucket.
    name: 'b-advanced', bucket: 'ot-b', owner: 'B', homeRegion: 'eu-west-1',
    create: { IsMultiRegionTrail: true },
    selectors: {
      AdvancedEventSelectors: [
        { Name: 'writes', FieldSelectors: [{ Field: 'eventCategory', Equals: ['Management'] }, { Field: 'readOnly', Equals: ['false'] }] },
        { Name: 'src-b objects', FieldSelectors: [{ Field: 'eventCategory', Equals: ['Data'] }, { Field: 'resources.type', Equals: ['AWS::S3::Object'] }, { Field: 'resources.ARN', StartsWith: ['arn:aws:s3:::src-b/'] }] },
      ],
    },
    regions: REGIONS, accounts: [B], includeGlobal: true,
    select: (r) => (isManagement(r) && r.readOnly === false) || s3ObjectUnder(r, 'src-b'),
  },
];
/** Created, never started: its bucket stays empty. */
const IDLE = { name: 'idle', bucket: 'ot-idle' };

function admits(t: TrailSpec, r: Json): boolean {
  if (!t.regions.includes(r.awsRegion) || !t.accounts.includes(r.recipientAccountId)) return false;
  if (!['Management', 'Data', 'NetworkActivity'].includes(r.eventCategory)) return false;
  if (!t.includeGlobal && GLOBAL_SOURCES.has(r.eventSource)) return false;
  return t.select(r);
}

let moto: StartedMoto;
let server: StartedServer;
let s3: S3Client;
const clients: CloudTrailClient[] = [];

function ct(owner: 'A' | 'B', region: string): CloudTrailClient {
  const c = cloudTrailClient(server.url, owner === 'A' ? ALICE : CAROL, region);
  clients.push(c);
  return c;
}

before(async () => {
  moto = await startMoto();
  s3 = motoS3(moto);
  for (const b of [...TRAILS.map((t) => t.bucket), IDLE.bucket]) await s3.send(new CreateBucketCommand({ Bucket: b }));
  const config: TestConfig = {
    regions: REGIONS,
    accounts: [ACCOUNT_A, ACCOUNT_B],
    organization: { id: ORG_ID, managementAccountId: A, memberAccountIds: [B] },
    // Small files: batches close on size as well as on age.
    delivery: { maxAgeMs: 300, pollMs: 50, maxBytes: 96 * 1024 },
    objectStore: motoNeighbourConfig(moto).objectStore,
  };
  server = await startServer(config);
});

after(async () => {
  for (const c of clients) c.destroy();
  s3?.destroy();
  await server?.stop();
  await moto?.stop();
});

test('every bucket holds exactly what its trail admits, once, as valid CloudTrail log files with SSE', async () => {
  // Trails, then selectors, then logging.
  for (const t of TRAILS) {
    const c = ct(t.owner, t.homeRegion);
    await c.send(new CreateTrailCommand({ Name: t.name, S3BucketName: t.bucket, ...t.create }));
    if (t.selectors) await c.send(new PutEventSelectorsCommand({ TrailName: t.name, ...t.selectors }));
  }
  await ct('A', 'us-east-1').send(new CreateTrailCommand({ Name: IDLE.name, S3BucketName: IDLE.bucket }));
  for (const t of TRAILS) await ct(t.owner, t.homeRegion).send(new StartLoggingCommand({ Name: t.name }));

  // The corpus, rewritten so that most of it lands in the organization's accounts and served
  // regions; every fifth record keeps its own account and region (mostly outside: delivered nowhere).
  const corpus = corpusRecords().map((rec, i) => {
    const copy = structuredClone(rec);
    if (i % 5 !== 4) {
      copy.recipientAccountId = [A, B, A, B][i % 5];
      copy.awsRegion = [...REGIONS, REGIONS[0], UNSERVED][(i >> 2) % 4];
    }
    return copy;
  });
  const generated = traffic(1500, { accounts: [A, B, A, OUTSIDER, B], regions: [...REGIONS, UNSERVED], dataBuckets: ['src-a', 'src-b', 'elsewhere'] });
  const sent = [...corpus, ...generated];
  // Several requests, spaced so that delivery closes batches in between.
  let rejected = 0;
  const outcomes: BulkStatus[] = [];
  /** account/eventID of each sent record (the server names the eventID of a record that came without one). */
  const ids: string[] = [];
  for (let at = 0; at < sent.length; at += 250) {
    const out = await ingest(server.url, ALICE, sent.slice(at, at + 250));
    rejected += out.rejected;
    out.results.forEach((r, j) => {
      outcomes.push(r.status);
      ids.push(`${sent[at + j]!.recipientAccountId ?? A}/${'eventID' in r ? r.eventID : ''}`);
    });
    await sleep(at % 500 === 0 ? 400 : 50);
  }
  // Records for a region the server does not serve are refused (InvalidRegion); the rest is kept.
  const served = (i: number) => REGIONS.includes(sent[i]!.awsRegion ?? REGIONS[0]);
  assert.ok(outcomes.every((s, i) => i < corpus.length || s === (served(i) ? 'accepted' : 'rejected')), 'every generated record of a served region is accepted, every other refused');
  const unserved = sent.filter((_, i) => !served(i)).length;
  assert.ok(unserved > 100 && rejected - unserved <= 5, `corpus records refused: ${rejected - unserved} (besides ${unserved} of unserved regions)`);

  // The universe: the event log of both accounts as it stands after the last ingest.
  const log = [...(await eventLog(server.url, ALICE)), ...(await eventLog(server.url, CAROL))].sort((x, y) => x.seq - y.seq);
  const bySeq = new Map(log.map((e) => [idOf(e.record), e]));
  // Every accepted record is stored as it was sent (fields the server fills in come on top).
  sent.forEach((rec, i) => {
    if (outcomes[i] !== 'accepted' || ![A, B].includes(ids[i]!.slice(0, 12))) return;
    const stored = bySeq.get(ids[i]!);
    assert.ok(stored, `sent record ${i} (${rec.eventName}) is not in the event log`);
    for (const [k, v] of Object.entries(rec)) assert.deepEqual(stored.record[k], v, `sent record ${i}: ${k} differs in the event log`);
  });
  // What else is in the log: the server's own records of our calls.
  const sentIds = new Set(ids);
  for (const e of log) if (!sentIds.has(idOf(e.record))) assert.equal(e.record.eventSource, 'cloudtrail.amazonaws.com', `unexpected record ${JSON.stringify(e.record).slice(0, 300)}`);

  const expected = new Map<string, Set<string>>();
  for (const t of TRAILS) {
    const owner = t.owner === 'A' ? A : B;
    const start = log.find((e) => e.record.eventName === 'StartLogging' && e.record.recipientAccountId === owner && e.record.requestParameters?.name === t.name);
    assert.ok(start, `the StartLogging record of ${t.name}`);
    expected.set(t.name, new Set(log.filter((e) => e.seq >= start.seq && admits(t, e.record)).map((e) => idOf(e.record))));
  }
  const sizes = Object.fromEntries([...expected].map(([k, v]) => [k, v.size]));
  for (const [name, n] of Object.entries(sizes)) assert.ok(n >= 40, `${name} should get plenty of events, gets ${n} (${JSON.stringify(sizes)})`);

  // Wait until every expected event is in its bucket, then a little longer (anything extra would show).
  const cache = new Map<string, LogFile>();
  const read = async (bucket: string) => readS3Bucket(s3, bucket, cache);
  const missing = async () => {
    const out: Record<string, number> = {};
    for (const t of TRAILS) {
      const got = new Set((await read(t.bucket)).flatMap((f) => f.records.map(idOf)));
      const n = [...expected.get(t.name)!].filter((id) => !got.has(id)).length;
      if (n > 0) out[t.name] = n;
    }
    return out;
  };
  try {
    await waitFor(async () => Object.keys(await missing()).length === 0, 30_000, 'delivery of every expected event', 250);
  } catch (e) {
    assert.fail(`${(e as Error).message}; missing per trail: ${JSON.stringify(await missing())}`);
  }
  await sleep(1000);

  for (const t of TRAILS) {
    const files = await read(t.bucket);
    const got = deliveredIds(files, t.name);
    const want = expected.get(t.name)!;
    const extra = [...got].filter((id) => !want.has(id)).map((id) => bySeq.get(id)?.record ?? { unknown: id });
    assert.deepEqual(extra.map((r) => `${r.recipientAccountId} ${r.awsRegion} ${r.eventSource} ${r.eventName} ${r.eventCategory} readOnly=${r.readOnly}`), [], `${t.name}: delivered events it does not admit`);
    assert.equal(got.size, want.size, `${t.name}: delivered ${got.size} of ${want.size}`);
    for (const f of files) {
      // Records verbatim as stored.
      for (const r of f.records) assert.deepEqual(r, bySeq.get(idOf(r))!.record, `${f.key}: ${idOf(r)} differs from the stored record`);
      // Key layout: the trail's prefix, the organization's path for an organization trail.
      assert.equal(f.key_.prefix, t.prefix, `${t.name}: ${f.key} has the wrong prefix`);
      assert.equal(f.key_.organizationId, t.organizationId, `${t.name}: ${f.key} has the wrong organization path`);
      assert.ok(t.accounts.includes(f.key_.accountId) && t.regions.includes(f.key_.region), `${t.name}: ${f.key} is outside the trail's scope`);
      assert.ok(Math.abs(f.key_.minuteMs - Date.now()) < 10 * 60_000, `${f.key}: the name's time is the delivery time`);
      // SSE: SSE-KMS with the trail's key, SSE-S3 otherwise.
      if (t.kms) {
        assert.equal(f.sse, 'aws:kms', `${f.key}: SSE`);
        assert.equal(f.kmsKeyId, t.kms, `${f.key}: KMS key`);
      } else {
        assert.equal(f.sse, 'AES256', `${f.key}: SSE`);
        assert.equal(f.kmsKeyId, undefined);
      }
    }
    // One account and one region per file, several files (age and size both close batches).
    assert.ok(files.length >= 2, `${t.name}: ${files.length} files`);
  }
  // The organization trail writes every member's events under the organization's path.
  const orgAccounts = new Set((await read('ot-org')).map((f) => f.key_.accountId));
  assert.deepEqual([...orgAccounts].sort(), [A, B]);
  // Nothing for a trail that never started.
  assert.deepEqual(await read(IDLE.bucket), []);

  // Objects are written with bucket-owner-full-control, as CloudTrail writes them.
  const sample = (await read('ot-b'))[0]!;
  const acl = await s3.send(new GetObjectAclCommand({ Bucket: 'ot-b', Key: sample.key }));
  assert.ok(acl.Grants?.some((g) => g.Permission === 'FULL_CONTROL'), `ACL of ${sample.key}: ${JSON.stringify(acl.Grants)}`);

  // GetTrailStatus reports the deliveries.
  for (const t of TRAILS) {
    const st = await ct(t.owner, t.homeRegion).send(new GetTrailStatusCommand({ Name: t.name }));
    assert.equal(st.IsLogging, true);
    assert.ok(st.LatestDeliveryTime instanceof Date && Date.now() - st.LatestDeliveryTime.getTime() < 60_000, `${t.name}: LatestDeliveryTime ${st.LatestDeliveryTime}`);
    assert.equal(st.LatestDeliveryError, undefined, `${t.name}: LatestDeliveryError`);
    assert.ok(st.LatestDeliveryAttemptTime, `${t.name}: LatestDeliveryAttemptTime`);
    assert.ok(st.StartLoggingTime instanceof Date);
  }
  const idle = await ct('A', 'us-east-1').send(new GetTrailStatusCommand({ Name: IDLE.name }));
  assert.equal(idle.IsLogging, false);
  assert.equal(idle.LatestDeliveryTime, undefined);
});

type BulkStatus = 'accepted' | 'duplicate' | 'rejected';
