/**
 * CloudTrail Lake imports end to end: a real trail delivers log files into a filesystem bucket; the
 * AWS CLI (`aws cloudtrail start-import`, `get-import`, `list-import-failures`), the SDK and
 * `opentrail import` import them into event data stores of a real server; the stores' Parquet
 * files are read with DuckDB and compared with the records the trail delivered (read from the
 * bucket by the test). Also: a corrupt file (FailedEntries, ListImportFailures), StopImport and a
 * restart by ImportId, and kill -9 of the server during an import, after which the import
 * completes with every event exactly once.
 *
 * The flows run twice when they can: on a server whose stores come from a temp-folder LakeCatalog
 * (test/helpers/lake-import-server.ts: stores the test chose), and on `opentrail serve` with stores
 * made by CreateEventDataStore, skipped with a message while that operation is unsupported.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import {
  CloudTrailClient, CreateEventDataStoreCommand, CreateTrailCommand, GetImportCommand, ListImportsCommand, StartImportCommand, StartLoggingCommand,
  StopImportCommand, StopLoggingCommand, type GetImportCommandOutput,
} from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, ACCOUNT_B, BIN, cliEnv, cloudTrailClient, startServer, tempDir } from './helpers/server.ts';
import { ingest, readFsBucket, sleep, traffic, waitFor, type Json } from './helpers/delivery.ts';
import { runAws } from './helpers/cli.ts';
import { fails } from './helpers/aws-errors.ts';
import { lakeStore, startLakeServer } from './helpers/lake-import-server.ts';
import { logKey, trailRecord, writeLogFile } from './helpers/trail-logs.ts';
import { storeGlob } from '../src/lake/layout.ts';
import { execFile } from 'node:child_process';

const ALICE = ACCOUNT_A.identities[1]!;
const CAROL = ACCOUNT_B.identities[0]!;
const A = ACCOUNT_A.id;
const ROLE = `arn:aws:iam::${A}:role/import`;
const duck = await (await DuckDBInstance.create(':memory:')).connect();

interface Server {
  url: string;
  dataDir: string;
  kill(): Promise<void>;
  stop(): Promise<unknown>;
}

/** How a run gets its server and stores: the temp catalog's, or lake-store's through the API. */
interface Harness {
  start(): Promise<Server>;
  /** A new destination store of account A: its ARN, and where its Parquet files are. */
  store(s: Server): Promise<{ arn: string; glob: string }>;
}

const source = (uri: string) => ({ S3: { S3LocationUri: uri, S3BucketRegion: 'us-east-1', S3BucketAccessRoleArn: ROLE } });

async function until(ct: CloudTrailClient, id: string, ok: (g: GetImportCommandOutput) => boolean, ms = 60_000): Promise<GetImportCommandOutput> {
  const t0 = Date.now();
  for (;;) {
    let g: GetImportCommandOutput | undefined;
    try {
      g = await ct.send(new GetImportCommand({ ImportId: id }));
    } catch (e) {
      // The server is restarting.
      if (!/ECONNREFUSED|socket hang up|ECONNRESET/.test(String((e as Error).message) + String((e as { code?: string }).code))) throw e;
    }
    if (g && ok(g)) return g;
    if (Date.now() - t0 > ms) throw new Error(`import ${id}: ${JSON.stringify(g)}`);
    await sleep(50);
  }
}

/** eventID -> times stored, and eventID -> the stored record. */
async function stored(glob: string): Promise<{ counts: Map<string, number>; records: Map<string, Json> }> {
  const counts = new Map<string, number>();
  const records = new Map<string, Json>();
  let rows: Record<string, unknown>[];
  try {
    rows = (await duck.runAndReadAll(`SELECT eventID, eventJson FROM read_parquet('${glob}', hive_partitioning = false)`)).getRowObjectsJson();
  } catch (e) {
    if (/No files found/.test((e as Error).message)) return { counts, records };
    throw e;
  }
  for (const r of rows) {
    const id = String(r.eventID);
    counts.set(id, (counts.get(id) ?? 0) + 1);
    records.set(id, JSON.parse(String(r.eventJson)) as Json);
  }
  return { counts, records };
}

function assertExactlyOnce(counts: Map<string, number>, want: Iterable<string>): void {
  assert.deepEqual([...counts.keys()].sort(), [...want].sort());
  const doubled = [...counts].filter(([, n]) => n !== 1);
  assert.deepEqual(doubled, [], 'events stored more than once');
}

function runFlows(name: string, harness: Harness, skip: () => string | undefined): void {
  describe(name, () => {
    let server: Server;
    let ct: CloudTrailClient;
    let bucketRoot: string;
    /** The trail's own delivered records, by eventID. */
    const delivered = new Map<string, Json>();
    let trailFiles = 0;
    const corruptKey = logKey('2026-11-05T10:00:00Z', 7, A);
    /** The bulk bucket's events (generated, as a trail writes them). */
    const bulk = new Set<string>();

    before(async () => {
      if (skip()) return;
      server = await harness.start();
      ct = cloudTrailClient(server.url, ALICE);
      bucketRoot = join(server.dataDir, 'buckets');
      // A real trail delivers this server's traffic into the filesystem bucket `trail-logs`.
      mkdirSync(join(bucketRoot, 'trail-logs'), { recursive: true });
      await ct.send(new CreateTrailCommand({ Name: 'audit', S3BucketName: 'trail-logs' }));
      await ct.send(new StartLoggingCommand({ Name: 'audit' }));
      for (let i = 0; i < 3; i++) await ingest(server.url, ALICE, traffic(100, { accounts: [A], regions: ['us-east-1'] }));
      await ct.send(new StopLoggingCommand({ Name: 'audit' }));
      let last = -1;
      await waitFor(() => {
        const n = readFsBucket(join(bucketRoot, 'trail-logs')).reduce((s, f) => s + f.records.length, 0);
        const stable = n === last && n >= 200;
        last = n;
        return stable;
      }, 30_000, 'the trail delivered everything', 400);
      for (const f of readFsBucket(join(bucketRoot, 'trail-logs'))) {
        trailFiles++;
        for (const r of f.records) delivered.set(r.eventID as string, r);
      }
      mkdirSync(dirname(join(bucketRoot, 'trail-logs', corruptKey)), { recursive: true });
      writeFileSync(join(bucketRoot, 'trail-logs', corruptKey), Buffer.from('\x1f\x8b this is not a gzip stream'));
      // The bulk bucket: 48 files of 100 events over 4 days.
      for (let f = 0; f < 48; f++) {
        const day = `2026-10-0${1 + (f % 4)}`;
        const recs = Array.from({ length: 100 }, (_, i) => trailRecord(`bulk-${f}-${i}`, `${day}T${String(f % 24).padStart(2, '0')}:00:00Z`, A));
        for (const r of recs) bulk.add(r.eventID as string);
        writeLogFile(join(bucketRoot, 'bulk'), logKey(`${day}T${String(f % 24).padStart(2, '0')}:05:00Z`, f, A), recs);
      }
    });
    after(async () => {
      ct?.destroy();
      await server?.stop();
    });

    test('aws cloudtrail start-import / get-import / list-import-failures: the trail\'s events, each once, a corrupt file listed', async (t) => {
      if (skip()) return t.skip(skip());
      const store = await harness.store(server);
      const env = { ...cliEnv(ALICE), AWS_ENDPOINT_URL: server.url };
      const started = await runAws(['cloudtrail', 'start-import', '--destinations', store.arn, '--import-source', JSON.stringify(source('s3://trail-logs/AWSLogs/'))], env);
      assert.equal(started.code, 0, started.stderr);
      const s = JSON.parse(started.stdout) as Json;
      assert.match(s.ImportId as string, /^[0-9a-f-]{36}$/);
      assert.deepEqual(s.Destinations, [store.arn]);
      assert.ok(['INITIALIZING', 'IN_PROGRESS', 'COMPLETED'].includes(s.ImportStatus as string));
      await until(ct, s.ImportId as string, (g) => g.ImportStatus === 'COMPLETED');
      const g = await runAws(['cloudtrail', 'get-import', '--import-id', s.ImportId as string], env);
      assert.equal(g.code, 0, g.stderr);
      const got = JSON.parse(g.stdout) as Json;
      assert.equal(got.ImportStatus, 'COMPLETED');
      assert.deepEqual(got.ImportStatistics, { PrefixesFound: 2, PrefixesCompleted: 2, FilesCompleted: trailFiles, EventsCompleted: delivered.size, FailedEntries: 1 });
      assert.equal(got.ImportSource.S3.S3LocationUri, 's3://trail-logs/AWSLogs/');
      const f = await runAws(['cloudtrail', 'list-import-failures', '--import-id', s.ImportId as string], env);
      assert.equal(f.code, 0, f.stderr);
      const failures = (JSON.parse(f.stdout) as Json).Failures as Json[];
      assert.equal(failures.length, 1);
      assert.equal(failures[0]!.Location, `s3://trail-logs/${corruptKey}`);
      assert.equal(failures[0]!.Status, 'FAILED');
      assert.equal(failures[0]!.ErrorType, 'InvalidLogFile');
      const { counts, records } = await stored(store.glob);
      assertExactlyOnce(counts, delivered.keys());
      for (const [id, r] of records) assert.deepEqual(r, delivered.get(id));
    });

    test('the SDK: errors as AWS names them, ListImports filters and pages, one import at a time per account', async (t) => {
      if (skip()) return t.skip(skip());
      const store = await harness.store(server);
      await fails(ct.send(new StartImportCommand({ Destinations: [`arn:aws:cloudtrail:us-east-1:${A}:eventdatastore/00000000-0000-4000-8000-000000000000`], ImportSource: source('s3://bulk/') })), 'EventDataStoreNotFoundException', 404);
      await fails(ct.send(new StartImportCommand({ Destinations: ['arn:aws:s3:::nope'], ImportSource: source('s3://bulk/') })), 'EventDataStoreARNInvalidException', 400);
      // The store from another Region (the same account): not found, by ARN or id.
      const west = cloudTrailClient(server.url, ALICE, 'eu-west-1');
      await fails(west.send(new StartImportCommand({ Destinations: [store.arn], ImportSource: source('s3://bulk/') })), 'EventDataStoreNotFoundException', 404);
      await fails(west.send(new StartImportCommand({ Destinations: [store.arn.split('/').at(-1)!], ImportSource: source('s3://bulk/') })), 'EventDataStoreNotFoundException', 404);
      await fails(ct.send(new StartImportCommand({ Destinations: [store.arn], ImportSource: source('ftp://bulk/') })), 'InvalidImportSourceException', 400);
      await fails(ct.send(new StartImportCommand({ Destinations: [store.arn], ImportSource: source('file:///etc') })), 'InvalidImportSourceException', 400, /lakeImports\.fileRoots/);
      await fails(ct.send(new StartImportCommand({ ImportSource: source('s3://bulk/') })), 'InvalidParameterException', 400);
      await fails(ct.send(new StartImportCommand({ Destinations: [store.arn], ImportSource: source('s3://bulk/'), StartEventTime: new Date(2000), EndEventTime: new Date(1000) })), 'InvalidParameterException', 400);
      await fails(ct.send(new GetImportCommand({ ImportId: '00000000-0000-4000-8000-000000000000' })), 'ImportNotFoundException', 404);
      // A time range: one day of the bulk bucket.
      const s = await ct.send(new StartImportCommand({ Destinations: [store.arn], ImportSource: source('s3://bulk/'), StartEventTime: new Date('2026-10-02T00:00:00Z'), EndEventTime: new Date('2026-10-02T23:59:59Z') }));
      await fails(ct.send(new StartImportCommand({ Destinations: [store.arn], ImportSource: source('s3://bulk/') })), 'AccountHasOngoingImportException', 400);
      // Another account sees nothing of it.
      const carol = cloudTrailClient(server.url, CAROL);
      await fails(carol.send(new GetImportCommand({ ImportId: s.ImportId })), 'ImportNotFoundException', 404);
      assert.deepEqual((await carol.send(new ListImportsCommand({}))).Imports, []);
      carol.destroy();
      const done = await until(ct, s.ImportId!, (g) => g.ImportStatus === 'COMPLETED');
      const want = [...bulk].filter((id) => Number(id.split('-')[1]) % 4 === 1);
      assert.equal(done.ImportStatistics?.EventsCompleted, want.length);
      assertExactlyOnce((await stored(store.glob)).counts, want);
      const mine = await ct.send(new ListImportsCommand({ Destination: store.arn }));
      assert.deepEqual(mine.Imports?.map((i) => [i.ImportId, i.ImportStatus, i.Destinations]), [[s.ImportId, 'COMPLETED', [store.arn]]]);
      const all = (await ct.send(new ListImportsCommand({ ImportStatus: 'COMPLETED' }))).Imports ?? [];
      assert.ok(all.length >= 2);
      const page1 = await ct.send(new ListImportsCommand({ ImportStatus: 'COMPLETED', MaxResults: 1 }));
      assert.equal(page1.Imports?.length, 1);
      const page2 = await ct.send(new ListImportsCommand({ ImportStatus: 'COMPLETED', MaxResults: 1, NextToken: page1.NextToken }));
      assert.notEqual(page2.Imports?.[0]?.ImportId, page1.Imports?.[0]?.ImportId);
      await fails(ct.send(new ListImportsCommand({ NextToken: 'nonsense-token' })), 'InvalidNextTokenException', 400);
    });

    test('StopImport stops an import part way; StartImport with its ImportId finishes it, every event once', async (t) => {
      if (skip()) return t.skip(skip());
      const store = await harness.store(server);
      const s = await ct.send(new StartImportCommand({ Destinations: [store.arn], ImportSource: source('s3://bulk/') }));
      await until(ct, s.ImportId!, (g) => (g.ImportStatistics?.FilesCompleted ?? 0) >= 4, 60_000);
      const stopped = await ct.send(new StopImportCommand({ ImportId: s.ImportId }));
      assert.equal(stopped.ImportStatus, 'STOPPED');
      const files = stopped.ImportStatistics!.FilesCompleted!;
      assert.ok(files >= 4 && files < 48, `stopped after ${files} files`);
      await sleep(300);
      assert.equal((await ct.send(new GetImportCommand({ ImportId: s.ImportId }))).ImportStatistics?.FilesCompleted, files, 'nothing more after the stop');
      const restarted = await ct.send(new StartImportCommand({ ImportId: s.ImportId }));
      assert.equal(restarted.ImportId, s.ImportId);
      const done = await until(ct, s.ImportId!, (g) => g.ImportStatus === 'COMPLETED');
      assert.deepEqual(done.ImportStatistics, { PrefixesFound: 4, PrefixesCompleted: 4, FilesCompleted: 48, EventsCompleted: bulk.size, FailedEntries: 0 });
      await fails(ct.send(new StartImportCommand({ ImportId: s.ImportId })), 'InvalidParameterException', 400);
      assertExactlyOnce((await stored(store.glob)).counts, bulk);
    });

    test('kill -9 of the server during an import: after the restart it completes with every event exactly once', async (t) => {
      if (skip()) return t.skip(skip());
      const store = await harness.store(server);
      const s = await ct.send(new StartImportCommand({ Destinations: [store.arn], ImportSource: source('s3://bulk/') }));
      await until(ct, s.ImportId!, (g) => (g.ImportStatistics?.FilesCompleted ?? 0) >= 8, 60_000);
      await server.kill();
      ct.destroy();
      const partial = (await stored(store.glob)).counts;
      assert.ok(partial.size > 0 && partial.size < bulk.size, `${partial.size} events written before the kill`);
      server = await harness.start();
      ct = cloudTrailClient(server.url, ALICE);
      const done = await until(ct, s.ImportId!, (g) => g.ImportStatus === 'COMPLETED');
      assert.equal(done.ImportStatistics?.EventsCompleted, bulk.size);
      assert.equal(done.ImportStatistics?.FilesCompleted, 48);
      assertExactlyOnce((await stored(store.glob)).counts, bulk);
    });

    test('opentrail import file:///...: a progress line per step, the summary, the failure listed, exit status 3', async (t) => {
      if (skip()) return t.skip(skip());
      const store = await harness.store(server);
      const dir = join(bucketRoot, 'trail-logs');
      const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [BIN, 'import', `file://${dir}`, '--store', store.arn, '--url', server.url, '--progress', '--interval', '0.1'], { env: cliEnv(ALICE), timeout: 60_000 }, (err, stdout, stderr) => {
          resolve({ code: err ? Number((err as { code?: unknown }).code) : 0, stdout, stderr });
        });
      });
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stdout, new RegExp(`COMPLETED: ${delivered.size} events from ${trailFiles} files in 2/2 prefixes, 1 failed`));
      assert.match(r.stderr, /^import [0-9a-f-]{36} started$/m);
      assert.match(r.stderr, /^import: \d+\/2 prefixes \(\d+%\)/m);
      assert.match(r.stderr, /events\/s/);
      assert.ok(r.stderr.includes(`failed: file://${dir}/${corruptKey}: InvalidLogFile`), r.stderr);
      assertExactlyOnce((await stored(store.glob)).counts, delivered.keys());
    });
  });
}

// The flows on a server whose stores come from a temp-folder LakeCatalog (stores the test chose).
{
  const dataDir = tempDir('lake-import-e2e-');
  const stores: ReturnType<typeof lakeStore>[] = Array.from({ length: 5 }, () => lakeStore(A));
  let next = 0;
  const config = {
    regions: ['us-east-1', 'eu-west-1'], accounts: [ACCOUNT_A, ACCOUNT_B],
    delivery: { maxAgeMs: 300, pollMs: 50 },
    lakeImports: { batchFiles: 4, fileRoots: [dataDir] },
  };
  runFlows('imports (temp-folder LakeCatalog)', {
    start: () => startLakeServer({ config, dataDir, stores }),
    store: (s) => {
      const st = stores[next++]!;
      return Promise.resolve({ arn: st.arn, glob: join(s.dataDir, 'lake', storeGlob(st.accountId, st.storeId)) });
    },
  }, () => undefined);
}

// The same flows on `opentrail serve` with stores made by CreateEventDataStore (lake-store).
{
  let unsupported: string | undefined = 'not probed yet';
  const dataDir = tempDir('lake-import-serve-e2e-');
  const config = {
    regions: ['us-east-1', 'eu-west-1'], accounts: [ACCOUNT_A, ACCOUNT_B],
    delivery: { maxAgeMs: 300, pollMs: 50 },
    lakeImports: { batchFiles: 4, fileRoots: [dataDir] },
  };
  before(async () => {
    const probe = await startServer(config as never, { dataDir: tempDir('lake-import-probe-') });
    const c = cloudTrailClient(probe.url, ALICE);
    try {
      await c.send(new CreateEventDataStoreCommand({ Name: 'probe' }), { abortSignal: AbortSignal.timeout(30_000) });
      unsupported = undefined;
    } catch (e) {
      if ((e as Error).name !== 'UnsupportedOperationException') throw e;
      unsupported = 'CreateEventDataStore answers UnsupportedOperationException on this build (event data stores are not merged yet): the flows ran on the temp-folder catalog only';
    } finally {
      c.destroy();
      await probe.stop();
    }
  });
  runFlows('imports (opentrail serve, CreateEventDataStore)', {
    start: () => startServer(config as never, { dataDir }),
    store: async (s) => {
      const c = cloudTrailClient(s.url, ALICE);
      const out = await c.send(new CreateEventDataStoreCommand({ Name: `import-${Math.random().toString(36).slice(2, 10)}` }));
      c.destroy();
      const storeId = out.EventDataStoreArn!.split('/').pop()!;
      return { arn: out.EventDataStoreArn!, glob: join(s.dataDir, 'lake', storeGlob(A, storeId)) };
    },
  }, () => unsupported);
}
