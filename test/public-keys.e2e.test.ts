/**
 * ListPublicKeys against the real server through the JS SDK and the AWS CLI: the Region's current
 * signing key as a PKCS#1 DER blob that Node and the CLI's own loader (python-rsa
 * `PublicKey.load_pkcs1(..., 'DER')`, what `aws cloudtrail validate-logs` uses) both load, its MD5
 * as the fingerprint, one key per Region, keys kept across a restart, and the time-range and
 * token errors.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, createPublicKey } from 'node:crypto';
import { ListPublicKeysCommand, type CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { runAws } from './helpers/cli.ts';
import { ACCOUNT_A, ACCOUNT_B, cliEnv, cloudTrailClient, startServer, tempDir, type StartedServer } from './helpers/server.ts';
import { fails } from './helpers/aws-errors.ts';

type Json = Record<string, any>;

const HOME = 'us-east-1';
const OTHER = 'us-west-2';
const ALICE = ACCOUNT_A.identities[1]!;
const CAROL = ACCOUNT_B.identities[0]!;
const HOUR = 3_600_000;

let server: StartedServer;
let dataDir: string;
const clients: CloudTrailClient[] = [];

function sdk(region = HOME, id = ALICE): CloudTrailClient {
  const c = cloudTrailClient(server.url, id, region);
  clients.push(c);
  return c;
}

async function awsJson(args: string[], region = HOME): Promise<Json> {
  const r = await runAws(['cloudtrail', ...args, '--endpoint-url', server.url, '--output', 'json'], cliEnv(ALICE, region));
  assert.equal(r.code, 0, `aws cloudtrail ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Json;
}

/** Loads base64 DER keys with python-rsa as the AWS CLI does; resolves with "bits e" per key. */
function pythonLoad(values: string[]): Promise<string[]> {
  const script = 'import sys, base64, rsa\nfor v in sys.argv[1:]:\n  k = rsa.PublicKey.load_pkcs1(base64.b64decode(v), "DER")\n  print(k.n.bit_length(), k.e)';
  return new Promise((resolve, reject) => {
    execFile('python3', ['-c', script, ...values], (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout.trim().split('\n'))));
  });
}

before(async () => {
  dataDir = tempDir('opentrail-public-keys-');
  server = await startServer({ regions: [HOME, OTHER], accounts: [ACCOUNT_A, ACCOUNT_B] }, { dataDir });
});

after(async () => {
  for (const c of clients) c.destroy();
  await server?.stop();
});

describe('ListPublicKeys', () => {
  let current: { fingerprint: string; value: string; start: number; end: number };

  test('SDK, no times: the current key of the Region, PKCS#1 DER whose MD5 is the fingerprint', async () => {
    const before = Date.now();
    const out = await sdk().send(new ListPublicKeysCommand({}));
    assert.equal(out.NextToken, undefined);
    assert.equal(out.PublicKeyList?.length, 1);
    const k = out.PublicKeyList![0]!;
    const der = Buffer.from(k.Value!);
    assert.ok(der.toString('base64').startsWith('MIIBCgKCAQEA'));
    const key = createPublicKey({ key: der, format: 'der', type: 'pkcs1' });
    assert.equal(key.asymmetricKeyDetails?.modulusLength, 2048);
    assert.equal(k.Fingerprint, createHash('md5').update(der).digest('hex'));
    const start = k.ValidityStartTime!.getTime();
    const end = k.ValidityEndTime!.getTime();
    assert.ok(start <= Date.now() && start >= before - 2000, 'valid from about now');
    assert.equal(end - start, 30 * 24 * HOUR, 'default rotation: 30 days');
    current = { fingerprint: k.Fingerprint!, value: der.toString('base64'), start, end };
    // Same key on the next call, and for the other account of the Region (keys are per Region).
    const again = await sdk(HOME, CAROL).send(new ListPublicKeysCommand({ StartTime: new Date(Date.now() - HOUR), EndTime: new Date(Date.now() + 2 * HOUR) }));
    assert.deepEqual(again.PublicKeyList?.map((x) => x.Fingerprint), [current.fingerprint]);
  });

  test('another Region has its own key', async () => {
    const west = await sdk(OTHER).send(new ListPublicKeysCommand({}));
    assert.equal(west.PublicKeyList?.length, 1);
    assert.notEqual(west.PublicKeyList![0]!.Fingerprint, current.fingerprint);
  });

  test('AWS CLI: prints the same key; python-rsa (the CLI validate-logs loader) loads Value as PKCS#1 DER', async () => {
    const [plain, ranged] = await Promise.all([
      awsJson(['list-public-keys']),
      // validate-logs' call: StartTime = --start-time, EndTime = --end-time + 2h.
      awsJson(['list-public-keys', '--start-time', new Date(Date.now() - 24 * HOUR).toISOString(), '--end-time', new Date(Date.now() + 2 * HOUR).toISOString()]),
    ]);
    for (const out of [plain, ranged]) {
      assert.equal(out.PublicKeyList.length, 1);
      const k = out.PublicKeyList[0] as Json;
      assert.equal(k.Fingerprint, current.fingerprint);
      assert.equal(k.Value, current.value);
      assert.equal(Math.round((typeof k.ValidityStartTime === 'number' ? k.ValidityStartTime * 1000 : Date.parse(k.ValidityStartTime))), current.start);
    }
    assert.deepEqual(await pythonLoad([plain.PublicKeyList[0].Value]), ['2048 65537']);
  });

  test('a range before any key: empty', async () => {
    const out = await sdk().send(new ListPublicKeysCommand({ StartTime: new Date('2015-01-01T00:00:00Z'), EndTime: new Date('2015-02-01T00:00:00Z') }));
    assert.deepEqual(out.PublicKeyList, []);
  });

  test('time range and token errors (SDK and CLI)', async () => {
    await fails(sdk().send(new ListPublicKeysCommand({ StartTime: new Date(), EndTime: new Date(Date.now() - 24 * HOUR) })), 'InvalidTimeRangeException', 400);
    await fails(sdk().send(new ListPublicKeysCommand({ NextToken: 'not-a-token' })), 'InvalidTokenException', 400);
    const r = await runAws(['cloudtrail', 'list-public-keys', '--start-time', '2030-01-01T00:00:00Z', '--end-time', '2020-01-01T00:00:00Z', '--endpoint-url', server.url], cliEnv(ALICE, HOME));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /InvalidTimeRangeException.*ListPublicKeys/);
  });

  test('keys survive a restart: the same current key afterwards', async () => {
    await server.stop();
    server = await startServer({ regions: [HOME, OTHER], accounts: [ACCOUNT_A, ACCOUNT_B] }, { dataDir });
    const out = await sdk().send(new ListPublicKeysCommand({}));
    assert.deepEqual(out.PublicKeyList?.map((k) => k.Fingerprint), [current.fingerprint]);
  });
});
