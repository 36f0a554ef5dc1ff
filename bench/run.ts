/**
 * `npm run bench`: the figures of issue 11 on the real server, each beside the physical floor
 * measured in the same run. Prints one JSON document on stdout; progress goes to stderr.
 * Every variable is documented in docs/performance.md, section Commands.
 *
 * Parts (BENCH_ONLY=part[,part...], default all): floors, ingest (empty store, then the same
 * ingest on a copy of the largest dataset: "flat as it grows"), lookup (lean client and SDK over
 * each dataset), delivery, validate, gateway; pgstore and metricscost only when named (bench/pgstore.ts, bench/metrics-cost.ts). The floors are measured in every run
 * (BENCH_FLOORS=0: not, unless BENCH_ONLY=floors).
 *
 *   BENCH_SCALE        1m (default): datasets of 1M events; 10m: 1M and 10M; small: 100k; or a
 *                      count (e.g. 50000). Built once through SqliteEventStore.append (bench/
 *                      dataset.ts) and cached in bench/out/datasets; runs use a scratch copy.
 *   BENCH_INGEST_EVENTS  events per ingest run (default 240000; 1000000 for the bytes/event figure)
 *   BENCH_BATCH        records per POST /ingest (default 1000)
 *   BENCH_CONNECTIONS  keep-alive connections of the ingest client (default 8)
 *   BENCH_FLAT         0: no ingest on the largest dataset (default 1)
 *   BENCH_METRICS=off  servers run with metrics.enabled false (compare ingest with metrics on and off)
 *   BENCH_SAMPLES      timed LookupEvents per case, lean client (default 2000; warm-up BENCH_WARMUP=200)
 *   BENCH_SDK_SAMPLES  timed LookupEvents per case, SDK client (default 1000; 0: none)
 *   BENCH_SERVER_WARMUP  lookups of every case mixed before the first case (default 3000; 0: none)
 *   BENCH_DATASETS_DIR another checkout's bench/out/datasets, read only (bench/dataset.ts)
 *   BENCH_LEAN_CLIENT  wrk | node | both: the lean lookup client (default wrk when on PATH, else node;
 *                      bench/lookup.ts, bench/wrk-lookup.lua)
 *   BENCH_PROFILE=1    also run ingest and the first dataset's lookups with `node --cpu-prof`
 *   BENCH_READ_RECORDS  after-answer | before-answer: the lookup server's selfAudit.readRecords (default: the server's)
 *   BENCH_DB=postgres  ingest and lookup against `opentrail serve` nodes on one PostgreSQL
 *                      (bench/pgserve.ts: 1, 2, 3 nodes, BENCH_PG_NODES), beside SQLite at the
 *                      same scale in the same run; other parts as named by BENCH_ONLY
 *   BENCH_CONSOLE_SAMPLES  BENCH_ONLY=console: page loads timed per dataset (default 10; bench/console.ts)
 *   BENCH_INSIGHTS_EVENTS, BENCH_INSIGHTS_ROUNDS  BENCH_ONLY=insights (only when named): ingest with
 *                      Insights on and off, alternated (default 120000 events, 3 pairs)
 *   (delivery, validate, gateway, perf, lakeimport: see docs/performance.md; lakeimport also bench/lakeimport.ts)
 */
import { cpus, totalmem } from 'node:os';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { prepareBodies, runIngest, type IngestResult } from './ingest.ts';
import { leanClientFromEnv, runLookups, type LookupResult } from './lookup.ts';
import { deliveryOptionsFromEnv, runDelivery, type CapacityResult } from './delivery.ts';
import { runValidate, runValidateLarge } from './validate.ts';
import { runGateway } from './gateway.ts';
import { runEventBridge } from './eventbridge.ts';
import { runPgStore } from './pgstore.ts';
import { runPgServe } from './pgserve.ts';
import { runConsoleBench } from './console.ts';
import { runInsightsBench } from './insights.ts';
import { runLakeIngest } from './lakeingest.ts';
import { runLakeQuery } from './lakequery.ts';
import { runLakeImport } from './lakeimport.ts';
import { runLakeCompact } from './lakecompact.ts';
import { ensureDataset, removeScratch, scratchCopy, storeLayout, OUT_DIR } from './dataset.ts';
import { measureFloors, vsFloor, type Floors, type VsFloor } from './floors.ts';
import { summarizeProfile, type ProfileSummary } from './profile.ts';
import { GENERATOR_VERSION } from './gen.ts';
import { log, round } from './lib.ts';
import { runMetricsCost } from './metrics-cost.ts';

const env = process.env;
const scale = env.BENCH_SCALE ?? '1m';
/** Parts a plain `npm run bench` runs. */
const DEFAULT_PARTS = ['floors', 'ingest', 'lookup', 'delivery', 'validate', 'gateway'] as const;
/**
 * Parts that run only when BENCH_ONLY names them: pgstore (bench/pgstore.ts: the event stores on
 * SQLite and PostgreSQL in process), console (bench/console.ts: Event history's first page in a
 * headless Chromium), insights (bench/insights.ts: ingest with Insights on and off), lakeingest
 * (bench/lakeingest.ts: ingest into one event data store), metricscost
 * (bench/metrics-cost.ts: the metrics hooks' CPU per ingested event), eventbridge
 * (bench/eventbridge.ts: acknowledged to SQS through EventBridge, on moto), lakequery
 * (bench/lakequery.ts: Lake queries over a large store), lakeimport
 * (bench/lakeimport.ts: imports of trail log files), lakecompact (bench/lakecompact.ts: Lake
 * compaction, and queries before and after it).
 */
const ONLY_WHEN_NAMED = ['pgstore', 'console', 'insights', 'lakeingest', 'metricscost', 'eventbridge', 'lakequery', 'lakeimport', 'lakecompact'] as const;
const PARTS = [...DEFAULT_PARTS, ...ONLY_WHEN_NAMED] as const;
const only = env.BENCH_ONLY?.split(',').map((x) => x.trim()).filter(Boolean);
for (const p of only ?? []) if (!(PARTS as readonly string[]).includes(p)) throw new Error(`BENCH_ONLY takes ${PARTS.join(', ')} (comma-separated), not ${p}`);
const want = (p: (typeof PARTS)[number]) => (only === undefined ? (DEFAULT_PARTS as readonly string[]).includes(p) : only.includes(p));
const num = (name: string, dflt: number) => {
  const v = env[name] ? Number(env[name]) : dflt;
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a number >= 0, not ${env[name]}`);
  return v;
};
const named: Record<string, number[]> = { small: [100_000], '1m': [1_000_000], '10m': [1_000_000, 10_000_000] };
const sizes = named[scale] ?? (/^\d+$/.test(scale) && Number(scale) > 0 ? [Number(scale)] : undefined);
if (!sizes) throw new Error(`BENCH_SCALE must be small, 1m, 10m or a count of events, not ${scale}`);
const label = (n: number) => (n >= 1e6 && n % 1e6 === 0 ? `${n / 1e6}M` : n >= 1e3 && n % 1e3 === 0 ? `${n / 1e3}k` : String(n));

const ingestOpts = { events: num('BENCH_INGEST_EVENTS', 240_000), batch: num('BENCH_BATCH', 1000), connections: num('BENCH_CONNECTIONS', 8) };
const flat = env.BENCH_FLAT !== '0';
const readRecords = env.BENCH_READ_RECORDS;
if (readRecords !== undefined && readRecords !== 'after-answer' && readRecords !== 'before-answer') throw new Error(`BENCH_READ_RECORDS must be after-answer or before-answer, not ${readRecords}`);
const lookupOpts = {
  samples: num('BENCH_SAMPLES', 2000), warmup: num('BENCH_WARMUP', 200), serverWarmup: num('BENCH_SERVER_WARMUP', 3000), sdkSamples: num('BENCH_SDK_SAMPLES', 1000), pages: 20,
  leanClient: want('lookup') ? leanClientFromEnv(env) : undefined,
  ...(readRecords ? { server: { env: {}, config: { selfAudit: { readRecords } } } } : {}),
};
const deliveryOpts = deliveryOptionsFromEnv(env);
const validateOpts = {
  periodMs: num('BENCH_VALIDATE_PERIOD_MS', 1000), periods: num('BENCH_VALIDATE_PERIODS', 120),
  motoMB: num('BENCH_VALIDATE_MOTO_MB', 30), fsMB: num('BENCH_VALIDATE_FS_MB', 100),
  repeat: num('BENCH_VALIDATE_REPEAT', 3), concurrency: 16,
};
/** Issue 17's bucket: 24 hourly digests of 12 log files of 500 records (0 hours: not measured). */
const validateLargeOpts = {
  hours: num('BENCH_VALIDATE_LARGE_HOURS', 24), filesPerHour: 12, recordsPerFile: 500,
  repeat: num('BENCH_VALIDATE_LARGE_REPEAT', 5), concurrency: num('BENCH_VALIDATE_CONCURRENCY', 16),
};
const validateSmall = env.BENCH_VALIDATE_SMALL !== '0';
const gatewayOpts = {
  samples: num('BENCH_GATEWAY_SAMPLES', 1500), warmup: num('BENCH_GATEWAY_WARMUP', 300),
  concurrency: (env.BENCH_GATEWAY_CONCURRENCY ?? '16,64').split(',').map(Number), throughputSeconds: num('BENCH_GATEWAY_SECONDS', 4),
};
const profileDir = join(OUT_DIR, 'profiles');

async function profiled<T>(name: string, fn: (flags: string[]) => Promise<T>): Promise<{ result: T; profile: ProfileSummary }> {
  const dir = join(profileDir, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const result = await fn(['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', '200']);
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no profile written in ${dir}`);
  return { result, profile: summarizeProfile(join(dir, file)) };
}

const report: Record<string, unknown> = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform}-${process.arch}` },
  settings: { scale, sizes, only: only ?? 'all', generatorVersion: GENERATOR_VERSION, storeLayout: storeLayout(), ingest: { ...ingestOpts, flat }, lookup: lookupOpts, delivery: deliveryOpts, validate: { ...validateOpts, small: validateSmall, large: validateLargeOpts }, gateway: gatewayOpts },
  targets: {
    ingestEventsPerSecond: 50_000, ingestDiskBytesPerEvent: 2048, flatIngestRatioAt10M: 0.8, rssMiB: 512, lookupP99MsAt10M: 5,
    deliveryEventsPerSecond: 50_000, gatewayRecordedCallsPerSecond: 10_000, gatewayP99OverheadMs: 2,
    validateSpeedupVsAwsCli: 2, validateOverMotoFloor: 1.5, validateFsLogMBps: 400,
  },
};

const db = env.BENCH_DB ?? 'sqlite';
if (db !== 'sqlite' && db !== 'postgres') throw new Error(`BENCH_DB must be sqlite or postgres, not ${db}`);
const pgNodes = (env.BENCH_PG_NODES ?? '1,2,3').split(',').map(Number);
if (pgNodes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`BENCH_PG_NODES must be node counts, comma-separated, not ${env.BENCH_PG_NODES}`);

let floors: Floors | undefined;
if (only?.includes('floors') || env.BENCH_FLOORS !== '0') {
  floors = measureFloors(join(OUT_DIR, 'work', `floors-${process.pid}`));
  report.floors = floors;
}

type IngestFlat = { storedEvents: number; result: IngestResult; ratioToEmpty: number };
let ingestEmpty: IngestResult | undefined;
let ingestFlat: IngestFlat | undefined;
const bodies = want('ingest') ? prepareBodies(ingestOpts.events, ingestOpts.batch) : undefined;
if (db === 'postgres' && (want('ingest') || want('lookup'))) {
  // BENCH_DB=postgres: ingest and lookups on PostgreSQL (1..3 nodes) and SQLite, same run, same scale.
  report.postgres = await runPgServe({
    sizes: want('lookup') ? sizes : [], nodes: want('ingest') ? pgNodes : [],
    ingest: { ...ingestOpts, bodies }, lookup: lookupOpts,
    ...(env.BENCH_PROFILE === '1' ? { profileDir: join(profileDir, 'pgserve') } : {}),
  });
} else if (want('ingest')) {
  ingestEmpty = await runIngest({ ...ingestOpts, bodies });
  report.ingest = ingestEmpty;
  if (env.BENCH_PROFILE === '1') {
    const p = await profiled('ingest', (nodeFlags) => runIngest({ ...ingestOpts, bodies, nodeFlags }));
    report.ingestProfiled = { eventsPerSecond: p.result.eventsPerSecond, profile: p.profile };
  }
}

if (db === 'sqlite' && (want('lookup') || (want('ingest') && flat))) {
  const lookup: Record<string, LookupResult> = {};
  for (const n of sizes) {
    const largest = n === sizes.at(-1);
    if (!want('lookup') && !largest) continue;
    const { dir, manifest } = await ensureDataset(n);
    // One scratch copy per dataset: the lookups (which self-audit), then the ingest on top.
    const work = scratchCopy(dir, `dataset-${label(n)}`);
    try {
      if (want('lookup')) {
        lookup[label(n)] = await runLookups(work, manifest, lookupOpts);
        if (env.BENCH_PROFILE === '1' && n === sizes[0]) {
          const p = await profiled(`lookup-${label(n)}`, (nodeFlags) => runLookups(work, manifest, { ...lookupOpts, samples: Math.min(lookupOpts.samples, 1000), sdkSamples: 0, nodeFlags }));
          report[`lookupProfiled${label(n)}`] = p.profile;
        }
      }
      if (want('ingest') && flat && largest && ingestEmpty) {
        log(`ingest: the same ingest on a store already holding ${manifest.events} events`);
        const result = await runIngest({ ...ingestOpts, bodies, dataDir: work });
        ingestFlat = { storedEvents: manifest.events, result, ratioToEmpty: round(result.eventsPerSecond / ingestEmpty.eventsPerSecond, 3) };
        report.ingestFlat = ingestFlat;
        log(`ingest: ${result.eventsPerSecond} events/s with ${manifest.events} stored = ${ingestFlat.ratioToEmpty} of the empty store's ${ingestEmpty.eventsPerSecond}`);
      }
    } finally {
      removeScratch(work);
    }
  }
  if (want('lookup')) report.lookup = lookup;
}

if (want('pgstore')) report.pgstore = await runPgStore();
if (want('console')) report.console = await runConsoleBench(sizes, num('BENCH_CONSOLE_SAMPLES', 10));

if (want('metricscost')) {
  // Compared with the server CPU per event of this run's ingest when there is one (BENCH_ONLY=ingest,metricscost).
  const ing = report.ingest as IngestResult | undefined;
  const serverCpu = ing ? Object.values(ing.server.cpuSeconds).reduce((a, v) => a + v.user + v.sys, 0) : undefined;
  report.metricsCost = await runMetricsCost({
    calls: num('BENCH_METRICS_COST_CALLS', 200_000), rounds: 7, idleMs: 3000, eventsPerRequest: ingestOpts.batch,
    serverCpuUsPerEvent: serverCpu && ing ? (serverCpu * 1e6) / ingestOpts.events : num('BENCH_SERVER_CPU_US_PER_EVENT', 50),
  });
}
// lakequery (bench/lakequery.ts: Lake queries over a 10M-event store) runs only when named.
if (want('lakequery')) report.lakequery = await runLakeQuery();
// lakecompact (bench/lakecompact.ts: a store of a file a minute, queried before and after compaction) runs only when named.
if (want('lakecompact')) report.lakecompact = await runLakeCompact();

if (want('delivery')) report.delivery = await runDelivery(deliveryOpts);
// BENCH_ONLY=insights: ingest with Insights on versus off, alternated (bench/insights.ts).
if (want('insights')) report.insights = await runInsightsBench({ ...ingestOpts, events: num('BENCH_INSIGHTS_EVENTS', 120_000), rounds: num('BENCH_INSIGHTS_ROUNDS', 3) });
// BENCH_LAKE_EVENTS (default 200000): ingest into one event data store (bench/lakeingest.ts).
if (want('lakeingest')) report.lakeIngest = await runLakeIngest({ events: num('BENCH_LAKE_EVENTS', 200_000), batch: 1000, connections: 8, maxAgeMs: 1000 });

if (want('validate')) {
  report.validate = {
    ...(validateSmall ? await runValidate(validateOpts) : {}),
    ...(validateLargeOpts.hours > 0 ? { large: await runValidateLarge(validateLargeOpts) } : {}),
  };
}

if (want('eventbridge')) {
  report.eventbridge = await runEventBridge({
    rate: num('BENCH_EB_RATE', 1000), seconds: num('BENCH_EB_SECONDS', 5), motoRate: num('BENCH_EB_MOTO_RATE', 2), motoSeconds: num('BENCH_EB_MOTO_SECONDS', 10), floorSamples: num('BENCH_EB_FLOOR_SAMPLES', 20), parts: env.BENCH_EB_PARTS?.split(','),
  });
}
if (want('gateway')) {
  report.gateway = await runGateway({ ...gatewayOpts, profileDir: env.BENCH_PROFILE === '1' ? join(profileDir, 'gateway') : undefined });
}

if (want('lakeimport')) {
  // CloudTrail Lake import of trail log files (bench/lakeimport.ts), beside DuckDB's own COPY of the same files.
  report.lakeimport = await runLakeImport({
    events: num('BENCH_LAKEIMPORT_EVENTS', 1_000_000), perFile: num('BENCH_LAKEIMPORT_PER_FILE', 500),
    batchFiles: num('BENCH_LAKEIMPORT_BATCH', 64), threads: num('BENCH_LAKEIMPORT_THREADS', cpus().length),
  });
}

const lk = report.lookup as Record<string, LookupResult> | undefined;
const biggest = lk ? Object.values(lk).at(-1) : undefined;
const gw = report.gateway as Awaited<ReturnType<typeof runGateway>> | undefined;
const recordedRun = gw?.modes.find((m) => m.recordBeforeAnswer)?.throughput.filter((t) => t.target === 'gateway' && t.recordedCallsPerSecond !== undefined && t.case.startsWith('write'))
  .sort((a, b) => (b.recordedCallsPerSecond ?? 0) - (a.recordedCallsPerSecond ?? 0))[0];
const capacity = (report.delivery as { capacity?: CapacityResult[] } | undefined)?.capacity?.[0];

// Each figure beside its physical floor (docs/performance.md, "Issue 11 bench").
if (floors) {
  const vs: Record<string, VsFloor> = {};
  const perEventFloor = (mbps: number) => (mbps * 1e6) / floors!.recordBytes;
  if (ingestEmpty) {
    const i = ingestEmpty;
    vs.ingestEventsPerSecondVsDisk = vsFloor(i.eventsPerSecond, 'events/s', (floors.seqWrite.MBps * 1e6) / i.io.diskWriteBytesPerEvent, 'seqWrite.MBps / diskWriteBytesPerEvent', 'events/s the disk could take at the bytes this server writes per event');
    vs.ingestDiskWriteVsSeqWrite = vsFloor((i.io.diskWriteMiBPerSecond * 2 ** 20) / 1e6, 'MB/s', floors.seqWrite.MBps, 'seqWrite.MBps', 'share of the disk\'s sequential bandwidth the ingest used');
    vs.ingestRequestsVsFsync = vsFloor(i.requests / i.seconds, 'requests/s', floors.fsync.opsPerSecond, 'fsync.opsPerSecond', 'durable answers per second against fdatasync calls per second (below 1: fewer commits than the disk could sync)');
    vs.ingestEventsPerSecondVsJsonParse = vsFloor(i.eventsPerSecond, 'events/s', floors.jsonParse.eventsPerSecondPerCore, 'jsonParse.eventsPerSecondPerCore', 'events/s against parsing alone the request bodies on one core');
  }
  if (capacity) vs.deliveryOneTrailVsGzip = vsFloor(capacity.eventsPerSecond, 'events/s', perEventFloor(floors.gzipLog.MBpsPerCore), 'gzipLog.MBpsPerCore / recordBytes', `one trail's drain against gzip-${floors.gzipLog.level} (the log files' level) of the records on one core`);
  if (recordedRun?.recordedCallsPerSecond !== undefined) vs.gatewayRecordedCallsVsFsync = vsFloor(recordedRun.recordedCallsPerSecond, 'calls/s', floors.fsync.opsPerSecond, 'fsync.opsPerSecond', 'recorded write calls/s (disk durability, recordBeforeAnswer on) against fdatasync calls/s: above 1 only when commits are grouped');
  report.vsFloors = vs;
}

const pct = (x: number, target: number) => `${Math.round((100 * x) / target)}%`;
report.gaps = {
  ingest: ingestEmpty ? `${ingestEmpty.eventsPerSecond} of 50000 events/s (${pct(ingestEmpty.eventsPerSecond, 50_000)}); ${ingestEmpty.io.diskWriteBytesPerEvent} B written per event over ${ingestEmpty.events} events (target <= 2048); peak RSS ${ingestEmpty.server.hwmMiB} MiB (target < 512)` : undefined,
  ingestFlat: ingestFlat ? `${ingestFlat.result.eventsPerSecond} events/s with ${ingestFlat.storedEvents} stored = ${ingestFlat.ratioToEmpty} of the empty store's rate (target >= 0.8 at 10M); peak RSS ${ingestFlat.result.server.hwmMiB} MiB` : undefined,
  lookup: biggest
    ? (() => {
      const worst = Object.entries(biggest.lean).sort((a, b) => b[1].p99 - a[1].p99)[0]!;
      const worstSdk = Object.entries(biggest.sdk).sort((a, b) => b[1].p99 - a[1].p99)[0];
      return { events: biggest.events, worstLeanP99Ms: worst[1].p99, worstLeanCase: worst[0], worstServerP99Ms: Math.max(...Object.values(biggest.lean).map((c) => c.serverMs.p99)), worstSdkP99Ms: worstSdk?.[1].p99, worstSdkCase: worstSdk?.[0], target: 5, peakRssMiB: biggest.server.hwmMiB };
    })()
    : undefined,
  delivery: report.delivery
    ? (() => {
      const t = (report.delivery as Awaited<ReturnType<typeof runDelivery>>).targets;
      return `${capacity?.eventsPerSecond} events/s for one trail in process (backlog drain); 3 trails ${t.threeTrailsOverGzipFloor.value}x the gzip floor (target <= 1.5); ingest with a logging trail ${t.ingestRateRatioWithTrail.value} of the rate without (target >= 0.9); last event readable ${t.drainAfterIngestSeconds.value} s after ingest ended (target <= ${t.drainAfterIngestSeconds.target} s)`;
    })()
    : undefined,
  validate: report.validate
    ? (() => {
      const v = report.validate as { moto?: { speedupVsAwsCli: number; oursOverFloor: number }; fs?: { ours: { logMBps: number } }; large?: { speedupVsAwsCli: number; oursOverFloor: number; oursOverOverlappedFloor: number; filesystemSpeedupVsAwsCli: number } };
      return [
        v.moto && v.fs ? `${v.moto.speedupVsAwsCli}x the AWS CLI (target 2x), ${v.moto.oursOverFloor}x moto's serve-once floor (target <= 1.5x), ${v.fs.ours.logMBps} MB/s on the filesystem bucket (target 400)` : undefined,
        v.large ? `issue 17 bucket (288 log files, 24 digests): ${v.large.speedupVsAwsCli}x the AWS CLI (medians; target >= 2x), ${v.large.oursOverFloor}x moto's serve-then-hash floor, ${v.large.oursOverOverlappedFloor}x the overlapped one; on the filesystem bucket ${v.large.filesystemSpeedupVsAwsCli}x the AWS CLI's time on moto` : undefined,
      ].filter(Boolean).join('; ');
    })()
    : undefined,
  gateway: gw
    ? {
      recordedCallsPerSecond: Object.fromEntries((gw.modes.find((m) => m.recordBeforeAnswer)?.throughput ?? []).filter((t) => t.recordedCallsPerSecond !== undefined)
        .map((t) => [`${t.case} x${t.concurrency}`, `${t.recordedCallsPerSecond} of 10000 (recordBeforeAnswer on; write: disk durability, read: process)`])),
      ...Object.fromEntries(gw.modes.map((m) => [`recordBeforeAnswer=${m.recordBeforeAnswer}`, `worst p99 overhead ${Math.max(...Object.values(m.latency).map((l) => l.overheadMs.p99))} ms (target < 2 ms)`])),
    }
    : undefined,
};
log('done');
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
