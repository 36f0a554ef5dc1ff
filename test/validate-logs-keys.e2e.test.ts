/**
 * `opentrail validate-logs` against a CloudTrail endpoint whose ListPublicKeys never ends its
 * listing (the same NextToken again, a cycle of two, or page after page of new tokens): the
 * command stops with an AWS-CLI-shaped error and exit 255 instead of asking forever, on our own
 * JSON client (keys and Region in the environment) and on the AWS SDK's (Region from a config
 * file). The endpoint is a misbehaving stub (node:http); the bucket is a filesystem bucket.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from './helpers/server.ts';
import type { CliResult } from './helpers/cli.ts';

const ARN = 'arn:aws:cloudtrail:us-east-1:111111111111:trail/audit';
const BUCKET = 'keys-bucket';
/** ListPublicKeys' NextToken for the n-th call (from 1). */
let nextToken: (n: number) => string | undefined = () => undefined;
let listCalls = 0;
let server: Server;
let url: string;
let root: string;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'ot-validate-keys-'));
  mkdirSync(join(root, BUCKET));
  writeFileSync(join(root, 'config'), '[default]\nregion = us-east-1\n');
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const op = String(req.headers['x-amz-target'] ?? '').split('.').at(-1);
      let body: unknown;
      if (op === 'DescribeTrails') body = { trailList: [{ Name: 'audit', TrailARN: ARN, S3BucketName: BUCKET, HomeRegion: 'us-east-1' }] };
      else if (op === 'GetTrailStatus') body = { IsLogging: true };
      else if (op === 'ListPublicKeys') body = { PublicKeyList: [], NextToken: nextToken(++listCalls) };
      res.writeHead(body ? 200 : 400, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'stub' });
      res.end(JSON.stringify(body ?? { __type: 'UnsupportedOperationException', message: String(op) }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

after(() => {
  server?.close();
  rmSync(root, { recursive: true, force: true });
});

function validate(sdk: boolean): Promise<CliResult> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '', AWS_ACCESS_KEY_ID: 'AKIDSTUB', AWS_SECRET_ACCESS_KEY: 'stub', AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_CONFIG_FILE: sdk ? join(root, 'config') : '/dev/null', AWS_MAX_ATTEMPTS: '1', ...(sdk ? {} : { AWS_REGION: 'us-east-1' }),
  };
  const args = [BIN, 'validate-logs', '--endpoint-url', url, '--trail-arn', ARN, '--start-time', '2026-11-01T00:00:00Z', '--end-time', '2026-11-01T06:00:00Z', '--bucket-root', root];
  return new Promise((resolve) => {
    execFile(process.execPath, args, { env, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

for (const sdk of [false, true]) {
  test(`ListPublicKeys answering a NextToken it answered before ends with an error (${sdk ? 'the AWS SDK\'s client' : 'our JSON client'})`, async () => {
    for (const [what, tokens, pages] of [['the same token', () => 'again', 2], ['a cycle of two', (n: number) => (n % 2 ? 'a' : 'b'), 3]] as const) {
      nextToken = tokens;
      listCalls = 0;
      const r = await validate(sdk);
      assert.equal(r.code, 255, `${what}: ${r.stderr}`);
      assert.match(r.stderr, /^\nAn error occurred \(MalformedResponse\) when calling the ListPublicKeys operation: the endpoint answered a NextToken it had answered before \(a listing that would never end\)/, what);
      assert.equal(listCalls, pages, what);
    }
  });
}

test('ListPublicKeys answering new tokens without end stops at the page bound', async () => {
  nextToken = (n) => `t${n}`;
  listCalls = 0;
  const r = await validate(false);
  assert.equal(r.code, 255, r.stderr);
  assert.equal(r.stderr, '\nAn error occurred (MalformedResponse) when calling the ListPublicKeys operation: the endpoint answered more than 1000 pages of ListPublicKeys\n');
  assert.equal(listCalls, 1000);
});

test('a listing that ends is read to its end: no keys in range is the AWS CLI\'s fatal error', async () => {
  nextToken = (n) => (n < 3 ? `t${n}` : undefined);
  listCalls = 0;
  const r = await validate(false);
  assert.equal(r.code, 255, r.stderr);
  assert.equal(r.stderr, '\nNo public keys found between 2026-11-01T00:00:00Z and 2026-11-01T08:00:00Z\n');
  assert.equal(listCalls, 3);
});
