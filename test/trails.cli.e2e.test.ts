/**
 * The trail control plane through the AWS CLI (botocore's serializers, parsers and client-side
 * checks) against the real server: create-trail, describe-trails, list-trails, get-trail-status,
 * start-logging / stop-logging, put-event-selectors (--event-selectors and
 * --advanced-event-selectors) / get-event-selectors, add-tags / list-tags, delete-trail, and error
 * paths with the CLI's exit code and message. Answers are compared with the SDK's.
 *
 * Each CLI call costs about a second, so independent calls run side by side and the SDK does the
 * set-up the CLI is not under test for.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runAws, type CliResult } from './helpers/cli.ts';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  DescribeTrailsCommand, GetEventSelectorsCommand, GetTrailStatusCommand, ListTagsCommand, ListTrailsCommand, type CloudTrailClient,
} from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, cliEnv, cloudTrailClient, startServer, tempDir, type StartedServer, type TestIdentity } from './helpers/server.ts';

type Json = Record<string, any>;

const HOME = 'us-east-1';
const OTHER = 'us-west-2';
const ACCT = ACCOUNT_A.id;
const ALICE = ACCOUNT_A.identities[1]!;
const BUCKET = 'cli-trail-bucket';
const NAME = 'cli-trail';
const TRAIL_ARN = `arn:aws:cloudtrail:${HOME}:${ACCT}:trail/${NAME}`;

let server: StartedServer;
/** The CLI's exit codes: v1 exits 255 on a service error and 2 on a usage error, v2 254 and 252. */
let SERVICE_ERROR_RC = 255;
let USAGE_RC = 2;
const clients: CloudTrailClient[] = [];

function sdk(region = HOME): CloudTrailClient {
  const c = cloudTrailClient(server.url, ALICE, region);
  clients.push(c);
  return c;
}


function aws(args: string[], id: TestIdentity = ALICE, region = HOME): Promise<CliResult> {
  return runAws(['cloudtrail', ...args, '--endpoint-url', server.url, '--output', 'json'], cliEnv(id, region));
}

async function awsJson(args: string[], region = HOME): Promise<Json> {
  const r = await aws(args, ALICE, region);
  assert.equal(r.code, 0, `aws cloudtrail ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout.trim() ? (JSON.parse(r.stdout) as Json) : {};
}

/** Runs the CLI expecting a service error: its service-error exit code, `An error occurred (<code>) when calling the <op> operation: <message>`. */
async function awsError(args: string[], code: string, op: string, region = HOME): Promise<string> {
  const r = await aws(args, ALICE, region);
  assert.equal(r.code, SERVICE_ERROR_RC, `aws cloudtrail ${args.join(' ')}: the CLI's exit code for a service error (stderr: ${r.stderr})`);
  assert.equal(r.stdout, '');
  const m = /An error occurred \((\w+)\) when calling the (\w+) operation: (.*)/.exec(r.stderr);
  assert.ok(m, `an AWS error on stderr: ${r.stderr}`);
  assert.equal(m[1], code, r.stderr);
  assert.equal(m[2], op);
  return m[3]!.trim();
}

/** A CLI timestamp (epoch seconds or ISO text, depending on the CLI's timestamp format) in ms. */
const cliTime = (v: unknown): number => (typeof v === 'number' ? v * 1000 : Date.parse(String(v)));

/** An SDK answer as the CLI prints it: no $metadata, no undefined members, dates aside. */
const plain = (v: unknown): Json => JSON.parse(JSON.stringify(v, (k, x) => (k === '$metadata' ? undefined : x))) as Json;

before(async () => {
  const v = await runAws(['--version'], process.env as Record<string, string>);
  const version = `${v.stdout}${v.stderr}`;
  if (/^aws-cli\/2\./.test(version.trim())) {
    SERVICE_ERROR_RC = 254;
    USAGE_RC = 252;
  }
  const dataDir = tempDir('opentrail-trails-cli-');
  mkdirSync(join(dataDir, 'buckets', BUCKET), { recursive: true });
  server = await startServer({ regions: [HOME, OTHER], accounts: [ACCOUNT_A] }, { dataDir });
});

after(async () => {
  for (const c of clients) c.destroy();
  await server?.stop();
});

describe('aws cloudtrail: trails', () => {
  before(async () => {
    const created = await awsJson([
      'create-trail', '--name', NAME, '--s3-bucket-name', BUCKET, '--s3-key-prefix', 'cli', '--is-multi-region-trail',
      '--enable-log-file-validation', '--tags-list', 'Key=team,Value=security', 'Key=tier',
    ]);
    assert.deepEqual(created, {
      Name: NAME, S3BucketName: BUCKET, S3KeyPrefix: 'cli', IncludeGlobalServiceEvents: true, IsMultiRegionTrail: true,
      TrailARN: TRAIL_ARN, LogFileValidationEnabled: true, IsOrganizationTrail: false,
    });
  });

  test('describe-trails, list-trails and get-trail-status in the home region and (shadow) in another', async () => {
    const [home, west, shadowsOff, listed, status, sdkHome, sdkList] = await Promise.all([
      awsJson(['describe-trails']),
      awsJson(['describe-trails', '--trail-name-list', TRAIL_ARN], OTHER),
      awsJson(['describe-trails', '--no-include-shadow-trails'], OTHER),
      awsJson(['list-trails'], OTHER),
      awsJson(['get-trail-status', '--name', TRAIL_ARN], OTHER),
      sdk().send(new DescribeTrailsCommand({})),
      sdk(OTHER).send(new ListTrailsCommand({})),
    ]);
    assert.deepEqual(home, { trailList: plain(sdkHome.trailList) }, 'the CLI and the SDK read the same trailList');
    assert.deepEqual(home.trailList, [{
      Name: NAME, S3BucketName: BUCKET, S3KeyPrefix: 'cli', IncludeGlobalServiceEvents: true, IsMultiRegionTrail: true,
      HomeRegion: HOME, TrailARN: TRAIL_ARN, LogFileValidationEnabled: true, HasCustomEventSelectors: false,
      HasInsightSelectors: false, IsOrganizationTrail: false,
    }]);
    assert.deepEqual(west.trailList, home.trailList, 'the shadow in us-west-2 is described as the trail itself');
    assert.deepEqual(shadowsOff, { trailList: [] });
    assert.deepEqual(listed, { Trails: [{ TrailARN: TRAIL_ARN, Name: NAME, HomeRegion: HOME }] });
    assert.deepEqual(listed, plain(sdkList));
    assert.equal(status.IsLogging, false, 'create-trail does not start logging');
    assert.equal(status.TimeLoggingStarted, '');
    assert.equal(status.TimeLoggingStopped, '');
    assert.equal(status.StartLoggingTime, undefined);
  });

  test('start-logging and stop-logging, seen by get-trail-status', async () => {
    const t0 = Date.now() - 1000;
    assert.deepEqual(await awsJson(['start-logging', '--name', NAME]), {});
    const on = await awsJson(['get-trail-status', '--name', NAME]);
    assert.equal(on.IsLogging, true);
    assert.ok(cliTime(on.StartLoggingTime) >= t0 - 1000, `StartLoggingTime ${on.StartLoggingTime}`);
    assert.match(on.TimeLoggingStarted, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.deepEqual(await awsJson(['stop-logging', '--name', TRAIL_ARN]), {});
    const [off, viaSdk] = await Promise.all([awsJson(['get-trail-status', '--name', NAME]), sdk().send(new GetTrailStatusCommand({ Name: NAME }))]);
    assert.equal(off.IsLogging, false);
    assert.equal(cliTime(off.StopLoggingTime), viaSdk.StopLoggingTime!.getTime());
    assert.equal(cliTime(off.StartLoggingTime), viaSdk.StartLoggingTime!.getTime());
    assert.equal(off.TimeLoggingStopped, viaSdk.TimeLoggingStopped);
  });

  test('put-event-selectors with --event-selectors and with --advanced-event-selectors; get-event-selectors', async () => {
    const basic = [
      { ReadWriteType: 'WriteOnly', IncludeManagementEvents: true, DataResources: [{ Type: 'AWS::S3::Object', Values: ['arn:aws:s3:::zeta/', 'arn:aws:s3:::alpha/'] }], ExcludeManagementEventSources: ['kms.amazonaws.com'] },
      { ReadWriteType: 'All', IncludeManagementEvents: false, DataResources: [{ Type: 'AWS::Lambda::Function', Values: ['arn:aws:lambda'] }], ExcludeManagementEventSources: [] },
    ];
    const put = await awsJson(['put-event-selectors', '--trail-name', NAME, '--event-selectors', JSON.stringify(basic)]);
    assert.deepEqual(put, { TrailARN: TRAIL_ARN, EventSelectors: basic });
    const got = await awsJson(['get-event-selectors', '--trail-name', NAME]);
    assert.deepEqual(got, { TrailARN: TRAIL_ARN, EventSelectors: basic }, 'order as given');

    const advanced = [
      {
        Name: 'S3 writes',
        FieldSelectors: [
          { Field: 'eventCategory', Equals: ['Data'] },
          { Field: 'resources.type', Equals: ['AWS::S3::Object'] },
          { Field: 'readOnly', Equals: ['false'] },
          { Field: 'resources.ARN', StartsWith: ['arn:aws:s3:::zeta/', 'arn:aws:s3:::alpha/'] },
        ],
      },
      { Name: 'Management', FieldSelectors: [{ Field: 'eventCategory', Equals: ['Management'] }] },
    ];
    const putAdvanced = await awsJson(['put-event-selectors', '--trail-name', TRAIL_ARN, '--advanced-event-selectors', JSON.stringify(advanced)]);
    assert.deepEqual(putAdvanced, { TrailARN: TRAIL_ARN, AdvancedEventSelectors: advanced });
    const [gotAdvanced, shadow, viaSdk] = await Promise.all([
      awsJson(['get-event-selectors', '--trail-name', NAME]),
      awsJson(['get-event-selectors', '--trail-name', TRAIL_ARN], OTHER),
      sdk().send(new GetEventSelectorsCommand({ TrailName: NAME })),
    ]);
    assert.deepEqual(gotAdvanced, { TrailARN: TRAIL_ARN, AdvancedEventSelectors: advanced }, 'advanced selectors replaced the basic ones');
    assert.deepEqual(shadow, gotAdvanced, 'the shadow answers the same selectors');
    assert.deepEqual(gotAdvanced, plain(viaSdk));
  });

  test('add-tags and list-tags', async () => {
    assert.deepEqual(await awsJson(['add-tags', '--resource-id', TRAIL_ARN, '--tags-list', 'Key=env,Value=prod', 'Key=team,Value=audit']), {});
    const [listed, viaSdk] = await Promise.all([
      awsJson(['list-tags', '--resource-id-list', TRAIL_ARN]),
      sdk().send(new ListTagsCommand({ ResourceIdList: [TRAIL_ARN] })),
    ]);
    assert.deepEqual(listed, plain(viaSdk));
    assert.equal(listed.ResourceTagList.length, 1);
    assert.equal(listed.ResourceTagList[0].ResourceId, TRAIL_ARN);
    const tags = [...listed.ResourceTagList[0].TagsList].sort((a: Json, b: Json) => a.Key.localeCompare(b.Key));
    assert.deepEqual(tags, [{ Key: 'env', Value: 'prod' }, { Key: 'team', Value: 'audit' }, { Key: 'tier' }], 'team overwritten, tier kept');
  });

  test('error paths: the CLI\'s service-error exit code and the modelled error on stderr', async () => {
    const [notFound, badName, noBucket, elsewhere, byNameElsewhere] = await Promise.all([
      awsError(['get-trail-status', '--name', 'no-such-trail'], 'TrailNotFoundException', 'GetTrailStatus'),
      awsError(['create-trail', '--name', 'my--trail', '--s3-bucket-name', BUCKET], 'InvalidTrailNameException', 'CreateTrail'),
      awsError(['create-trail', '--name', 'no-bucket', '--s3-bucket-name', 'no-such-bucket'], 'S3BucketDoesNotExistException', 'CreateTrail'),
      awsError(['stop-logging', '--name', TRAIL_ARN], 'InvalidHomeRegionException', 'StopLogging', OTHER),
      awsError(['delete-trail', '--name', NAME], 'TrailNotFoundException', 'DeleteTrail', OTHER),
    ]);
    assert.equal(notFound, `Unknown trail: no-such-trail for the user: ${ACCT}`);
    assert.equal(badName, 'Trail name or ARN cannot have adjacent periods (.), hyphens (-), or underscores (_).');
    assert.match(noBucket, /does not exist/);
    assert.ok(elsewhere.length > 0);
    assert.equal(byNameElsewhere, `Unknown trail: ${NAME} for the user: ${ACCT}`);
    // The CLI's own check of required parameters fails before any request, with its usage exit code.
    const usage = await aws(['create-trail', '--name', 'x']);
    assert.equal(usage.code, USAGE_RC, usage.stderr);
    assert.match(usage.stderr, /--s3-bucket-name/);
  });

  test('delete-trail (last: the other tests use the trail)', async () => {
    assert.deepEqual(await awsJson(['delete-trail', '--name', NAME]), {});
    const [home, west] = await Promise.all([awsJson(['list-trails']), sdk(OTHER).send(new ListTrailsCommand({}))]);
    assert.deepEqual(home, { Trails: [] });
    assert.deepEqual(west.Trails, [], 'the shadow went too');
  });
});
