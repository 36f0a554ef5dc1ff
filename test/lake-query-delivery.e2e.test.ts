/**
 * StartQuery's DeliveryS3Uri, QueryAlias and QueryParameters end to end on a real `opentrail
 * serve`, with the AWS CLI and the SDK: results delivered to a filesystem bucket and to S3 (moto
 * server) as gzip CSV files with a signed result_sign.json (the signature checked against
 * ListPublicKeys' key), DescribeQuery's DeliveryS3Uri / DeliveryStatus, an operator's query
 * template run by alias with `?` parameters, and every refusal with AWS's exception and status.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  CreateEventDataStoreCommand, DescribeQueryCommand, GetQueryResultsCommand, ListPublicKeysCommand, LookupEventsCommand, StartQueryCommand,
  type CloudTrailClient, type DescribeQueryCommandOutput,
} from '@aws-sdk/client-cloudtrail';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { runAws } from './helpers/cli.ts';
import { motoNeighbourConfig, motoS3, startMoto, type StartedMoto } from './helpers/moto.ts';
import { ACCOUNT_A, ACCOUNT_B, cliEnv, cloudTrailClient, startServer, type StartedServer } from './helpers/server.ts';

const TEMPLATES = {
  countByName: `SELECT count(*) AS n FROM ? WHERE eventName = '?'`,
  noParams: `SELECT 1 AS one FROM ? LIMIT 0`,
};
const CALLS = 5;

let fsServer: StartedServer;
let s3Server: StartedServer;
let moto: StartedMoto;
let s3: S3Client;
let ct: CloudTrailClient;
let ct3: CloudTrailClient;
let storeId: string;
let store3Id: string;

/** A store holding at least CALLS LookupEvents calls of the server's own audit records. */
async function filledStore(client: CloudTrailClient, url: string): Promise<string> {
  const made = await client.send(new CreateEventDataStoreCommand({ Name: 'delivery-e2e', RetentionPeriod: 7 }));
  const id = made.EventDataStoreArn!.split('/').pop()!;
  for (let i = 0; i < CALLS; i++) await client.send(new LookupEventsCommand({ MaxResults: 1 }));
  for (let i = 0; i < 200; i++) {
    const { QueryId } = await client.send(new StartQueryCommand({ QueryStatement: `SELECT count(*) AS n FROM ${id} WHERE eventName = 'LookupEvents'` }));
    await finished(client, QueryId!);
    const r = await client.send(new GetQueryResultsCommand({ QueryId }));
    if (Number(r.QueryResultRows?.[0]?.[0]?.n) >= CALLS) return id;
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error(`the store of ${url} never held the calls`);
}

async function finished(client: CloudTrailClient, queryId: string, delivered = false): Promise<DescribeQueryCommandOutput> {
  for (;;) {
    const d = await client.send(new DescribeQueryCommand({ QueryId: queryId }));
    if (d.QueryStatus !== 'QUEUED' && d.QueryStatus !== 'RUNNING' && (!delivered || d.DeliveryStatus !== 'PENDING')) return d;
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  moto = await startMoto();
  s3 = motoS3(moto);
  [fsServer, s3Server] = await Promise.all([
    startServer({ accounts: [ACCOUNT_A, ACCOUNT_B], lake: { maxAgeMs: 200, pollMs: 50 }, lakeQueries: { templates: TEMPLATES } }),
    startServer({ accounts: [ACCOUNT_A, ACCOUNT_B], lake: { maxAgeMs: 200, pollMs: 50 }, ...motoNeighbourConfig(moto) }),
  ]);
  mkdirSync(join(fsServer.dataDir, 'buckets', 'query-results'), { recursive: true });
  await s3.send(new CreateBucketCommand({ Bucket: 'lake-results' }));
  ct = cloudTrailClient(fsServer.url, ACCOUNT_A.identities[0]!);
  ct3 = cloudTrailClient(s3Server.url, ACCOUNT_A.identities[0]!);
  [storeId, store3Id] = await Promise.all([filledStore(ct, fsServer.url), filledStore(ct3, s3Server.url)]);
});

after(async () => {
  await Promise.all([fsServer?.stop(), s3Server?.stop()]);
  await moto?.stop();
});

async function cli(server: StartedServer, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runAws([...args, '--endpoint-url', server.url], cliEnv(ACCOUNT_A.identities[0]!));
}

/** Parses CSV as DuckDB writes it (fields quoted with "" when needed). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; } else if (c === '\n') { row.push(field); rows.push(row); row = []; field = ''; } else if (c !== '\r') field += c;
  }
  if (field !== '' || row.length > 0) { row.push(field); rows.push(row); }
  return rows;
}

interface SignFile { version: string; region: string; files: { fileHashValue: string; fileName: string }[]; hashAlgorithm: string; signatureAlgorithm: string; queryCompleteTime: string; hashSignature: string; publicKeyFingerprint: string }

/** The sign file is right: each file's hash, and the signature under the Region's public key (ListPublicKeys). */
async function checkSigned(client: CloudTrailClient, sign: SignFile, files: Map<string, Buffer>): Promise<void> {
  assert.equal(sign.version, '1.0');
  assert.equal(sign.region, 'us-east-1');
  assert.equal(sign.hashAlgorithm, 'SHA-256');
  assert.equal(sign.signatureAlgorithm, 'SHA256withRSA');
  assert.match(sign.queryCompleteTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.deepEqual(sign.files.map((f) => f.fileName).sort(), [...files.keys()].sort());
  for (const f of sign.files) assert.equal(f.fileHashValue, createHash('sha256').update(files.get(f.fileName)!).digest('hex'));
  const keys = await client.send(new ListPublicKeysCommand({}));
  const key = keys.PublicKeyList!.find((k) => k.Fingerprint === sign.publicKeyFingerprint);
  assert.ok(key, 'the signing key is listed by ListPublicKeys');
  const pub = createPublicKey({ key: Buffer.from(key.Value!), format: 'der', type: 'pkcs1' });
  const signed = Buffer.from(sign.files.map((f) => f.fileHashValue).join(' '));
  assert.ok(verify('sha256', signed, pub, Buffer.from(sign.hashSignature, 'hex')), 'hashSignature verifies');
  assert.ok(!verify('sha256', Buffer.from(`${signed.toString()} `), pub, Buffer.from(sign.hashSignature, 'hex')), 'and only for these hashes');
}

const utcDay = () => new Date().toISOString().slice(0, 10);
/** The UTC days a query started on `dayBefore` may have ended on: that day, and today (midnight may pass meanwhile). */
const queryDays = (dayBefore: string) => [...new Set([dayBefore, utcDay()])];

test('DeliveryS3Uri to a filesystem bucket: gzip CSV results and a signed result_sign.json (AWS CLI)', async () => {
  const statement = `SELECT eventName, eventSource, recipientAccountId FROM ${storeId} WHERE eventName = 'LookupEvents' ORDER BY eventTime`;
  const dayBefore = utcDay();
  const r = await cli(fsServer, ['cloudtrail', 'start-query', '--query-statement', statement, '--delivery-s3-uri', 's3://query-results/team/q/']);
  assert.equal(r.code, 0, r.stderr);
  const { QueryId } = JSON.parse(r.stdout) as { QueryId: string };
  const d = await finished(ct, QueryId, true);
  assert.equal(d.QueryStatus, 'FINISHED');
  assert.equal(d.DeliveryS3Uri, 's3://query-results/team/q/');
  assert.equal(d.DeliveryStatus, 'SUCCESS');

  const dirOf = (day: string) => join(fsServer.dataDir, 'buckets', 'query-results', 'team', 'q', 'AWSLogs', ACCOUNT_A.id, 'CloudTrail-Lake', 'Query', ...day.split('-'), QueryId);
  const dirs = queryDays(dayBefore).map(dirOf).filter((d) => existsSync(d));
  assert.equal(dirs.length, 1, `one folder for the query, under the UTC day it ended: ${dirs.join(', ')}`);
  const dir = dirs[0]!;
  assert.deepEqual(readdirSync(dir).sort(), ['result_1.csv.gz', 'result_sign.json']);
  const gz = readFileSync(join(dir, 'result_1.csv.gz'));
  const csv = parseCsv(gunzipSync(gz).toString('utf8'));
  const page = await ct.send(new GetQueryResultsCommand({ QueryId }));
  const expected = page.QueryResultRows!.map((row) => row.map((m) => Object.values(m)[0]!));
  assert.ok(expected.length >= CALLS);
  assert.deepEqual(csv, [['eventName', 'eventSource', 'recipientAccountId'], ...expected]);
  await checkSigned(ct, JSON.parse(readFileSync(join(dir, 'result_sign.json'), 'utf8')) as SignFile, new Map([['result_1.csv.gz', gz]]));
});

test('DeliveryS3Uri to S3 (moto): the same layout in the bucket (SDK)', async () => {
  const dayBefore = utcDay();
  const { QueryId } = await ct3.send(new StartQueryCommand({ QueryStatement: `SELECT eventName, count(*) AS calls FROM ${store3Id} GROUP BY eventName ORDER BY eventName`, DeliveryS3Uri: 's3://lake-results' }));
  const d = await finished(ct3, QueryId!, true);
  assert.equal(d.DeliveryStatus, 'SUCCESS', JSON.stringify(d));
  assert.equal(d.DeliveryS3Uri, 's3://lake-results');
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'lake-results' }));
  const folderOf = (day: string) => `AWSLogs/${ACCOUNT_A.id}/CloudTrail-Lake/Query/${day.replaceAll('-', '/')}/${QueryId}/`;
  const folders = queryDays(dayBefore).map(folderOf).filter((f) => listed.Contents!.some((o) => o.Key!.startsWith(f)));
  assert.equal(folders.length, 1, `one folder for the query, under the UTC day it ended: ${folders.join(', ')}`);
  const folder = folders[0]!;
  assert.deepEqual(listed.Contents!.map((o) => o.Key).sort(), [`${folder}result_1.csv.gz`, `${folder}result_sign.json`]);
  const get = async (key: string) => Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: 'lake-results', Key: key }))).Body!.transformToByteArray());
  const gz = await get(`${folder}result_1.csv.gz`);
  const csv = parseCsv(gunzipSync(gz).toString('utf8'));
  const page = await ct3.send(new GetQueryResultsCommand({ QueryId }));
  assert.deepEqual(csv, [['eventName', 'calls'], ...page.QueryResultRows!.map((row) => row.map((m) => Object.values(m)[0]!))]);
  assert.ok(csv.some((row) => row[0] === 'LookupEvents' && Number(row[1]) >= CALLS));
  await checkSigned(ct3, JSON.parse((await get(`${folder}result_sign.json`)).toString('utf8')) as SignFile, new Map([['result_1.csv.gz', gz]]));
});

type StartInput = ConstructorParameters<typeof StartQueryCommand>[0] & object;

async function refusal(client: CloudTrailClient, input: StartInput): Promise<{ name: string; status: number | undefined; message: string }> {
  try {
    await client.send(new StartQueryCommand(input));
  } catch (e) {
    const err = e as Error & { $metadata?: { httpStatusCode?: number } };
    return { name: err.name, status: err.$metadata?.httpStatusCode, message: err.message };
  }
  assert.fail(`StartQuery ${JSON.stringify(input)} was accepted`);
}

test('a bad DeliveryS3Uri or a missing bucket is refused at StartQuery, nothing queued', async () => {
  const statement = `SELECT eventName FROM ${storeId} LIMIT 1`;
  const bad = await refusal(ct, { QueryStatement: statement, DeliveryS3Uri: 'https://query-results/x' });
  assert.deepEqual([bad.name, bad.status], ['InvalidParameterException', 400]);
  const upper = await refusal(ct, { QueryStatement: statement, DeliveryS3Uri: 's3://Query_Results' });
  assert.deepEqual([upper.name, upper.status], ['InvalidParameterException', 400]);
  const missing = await refusal(ct, { QueryStatement: statement, DeliveryS3Uri: 's3://no-such-bucket/x' });
  assert.deepEqual([missing.name, missing.status], ['S3BucketDoesNotExistException', 404]);
  assert.match(missing.message, /no-such-bucket/);
  const missing3 = await refusal(ct3, { QueryStatement: `SELECT eventName FROM ${store3Id} LIMIT 1`, DeliveryS3Uri: 's3://not-in-moto' });
  assert.deepEqual([missing3.name, missing3.status], ['S3BucketDoesNotExistException', 404]);
  const dots = await refusal(ct, { QueryStatement: statement, DeliveryS3Uri: 's3://query-results/a/../b' });
  assert.deepEqual([dots.name, dots.status], ['InvalidS3PrefixException', 400]);
});

test('QueryAlias with QueryParameters runs the template with each ? replaced (AWS CLI); DescribeQuery by alias', async () => {
  const r = await cli(fsServer, ['cloudtrail', 'start-query', '--query-alias', 'countByName', '--query-parameters', storeId, 'LookupEvents']);
  assert.equal(r.code, 0, r.stderr);
  const { QueryId } = JSON.parse(r.stdout) as { QueryId: string };
  const d = await finished(ct, QueryId);
  assert.equal(d.QueryStatus, 'FINISHED', d.ErrorMessage);
  assert.equal(d.QueryString, `SELECT count(*) AS n FROM ${storeId} WHERE eventName = 'LookupEvents'`);
  const rows = (await ct.send(new GetQueryResultsCommand({ QueryId }))).QueryResultRows!;
  assert.ok(Number(rows[0]![0]!.n) >= CALLS);
  const byAlias = await ct.send(new DescribeQueryCommand({ QueryAlias: 'countByName' }));
  assert.equal(byAlias.QueryId, QueryId);
  await assert.rejects(ct.send(new DescribeQueryCommand({ QueryAlias: 'noParams' })), (e: Error & { $metadata: { httpStatusCode?: number } }) => e.name === 'QueryIdNotFoundException' && e.$metadata.httpStatusCode === 404);
  await assert.rejects(ct.send(new DescribeQueryCommand({ QueryAlias: 'countByName', QueryId })), { name: 'InvalidParameterException' });
});

test('StartQuery refuses statement and alias together, neither, unknown aliases and a parameter count mismatch', async () => {
  const cases: [StartInput, string, number, RegExp][] = [
    [{ QueryStatement: `SELECT 1 FROM ${storeId}`, QueryAlias: 'countByName' }, 'InvalidParameterException', 400, /not both/],
    [{}, 'InvalidParameterException', 400, /QueryStatement/],
    [{ QueryParameters: ['x'] }, 'InvalidParameterException', 400, /QueryStatement/],
    [{ QueryStatement: `SELECT 1 FROM ${storeId}`, QueryParameters: ['x'] }, 'InvalidParameterException', 400, /QueryAlias/],
    [{ QueryAlias: 'nope', QueryParameters: ['x'] }, 'InvalidParameterException', 400, /nope/],
    [{ QueryAlias: 'countByName', QueryParameters: [storeId] }, 'InvalidParameterException', 400, /2 parameters.*1 value/],
    [{ QueryAlias: 'countByName' }, 'InvalidParameterException', 400, /2 parameters.*0 values/],
    [{ QueryAlias: 'noParams', QueryParameters: [storeId, 'extra'] }, 'InvalidParameterException', 400, /1 parameter .*2 values/],
    [{ QueryAlias: 'countByName', QueryParameters: ['arn:aws:cloudtrail:us-east-1:222222222222:eventdatastore/00000000-0000-4000-8000-000000000000', 'x'] }, 'EventDataStoreNotFoundException', 404, /./],
  ];
  for (const [input, name, status, message] of cases) {
    const r = await refusal(ct, input);
    assert.deepEqual([r.name, r.status], [name, status], JSON.stringify(input));
    assert.match(r.message, message, JSON.stringify(input));
  }
  // A parameter cannot smuggle a second statement past the check: the result is still one SELECT.
  const r = await refusal(ct, { QueryAlias: 'countByName', QueryParameters: [`${storeId}; DROP TABLE x; --`, 'x'] });
  assert.equal(r.name, 'InvalidQueryStatementException');
});
