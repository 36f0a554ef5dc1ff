/**
 * `npm run bench`: ingest throughput and LookupEvents latency of the real server.
 * Prints one JSON document on stdout; progress goes to stderr.
 *
 * Environment:
 *   BENCH_SCALE        1m (default): lookups over 1M events; 10m: over 1M and 10M (datasets
 *                      are built once with the bulk loader and reused from bench/out/datasets;
 *                      the 10M one writes ~20 GB and takes well over 30 min on this machine's
 *                      ~100 MB/s disk); small: 100k, built with SqliteEventStore.append
 *   BENCH_BUILD        store | bulk: how datasets are built (default: bulk from 1M events)
 *   BENCH_ONLY         ingest | lookup | delivery | validate | gateway (default: all five)
 *   BENCH_INGEST_EVENTS  events to ingest (default 240000)
 *   BENCH_BATCH        records per POST /ingest (default 1000)
 *   BENCH_CONNECTIONS  concurrent HTTP connections (default 6)
 *   BENCH_SAMPLES      timed LookupEvents per query kind (default 2000; warm-up BENCH_WARMUP=200)
 *   BENCH_DELIVERY_EVENTS           events ingested with a logging trail (default 100000)
 *   BENCH_DELIVERY_CAPACITY_EVENTS  backlog the in-process DeliveryWorker drains (default 100000)
 *   BENCH_DELIVERY_RATE             events/s offered in the latency runs (default 500), for
 *   BENCH_DELIVERY_FAST_SECONDS / BENCH_DELIVERY_DEFAULT_SECONDS  (20 / 75: maxAgeMs 1000 / default 30 s)
 *   BENCH_VALIDATE_PERIODS   digest periods of traffic for validate-logs (default 120; period
 *                      BENCH_VALIDATE_PERIOD_MS, default 1000)
 *   BENCH_VALIDATE_MOTO_MB / BENCH_VALIDATE_FS_MB  uncompressed log data delivered to the moto
 *                      bucket / the filesystem bucket (default 30 / 100; BENCH_VALIDATE_FS_MB=400
 *                      for the full filesystem figure)
 *   BENCH_VALIDATE_REPEAT  runs of opentrail validate-logs per figure, best kept (default 3)
 *   BENCH_GATEWAY_SAMPLES  timed calls per recording-gateway case and arm (default 1500; warm-up
 *                      BENCH_GATEWAY_WARMUP=300); BENCH_GATEWAY_CONCURRENCY (16,64) and
 *                      BENCH_GATEWAY_SECONDS (4) for its throughput runs
 *   BENCH_PROFILE=1    also run ingest and the 1M lookups with `node --cpu-prof` on the server
 *                      and summarise where its time goes (profiles kept in bench/out/profiles/)
 */
import { cpus, totalmem } from 'node:os';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runIngest } from './ingest.ts';
import { runLookups, type LookupResult } from './lookup.ts';
import { runDelivery, type CapacityResult } from './delivery.ts';
import { runValidate } from './validate.ts';
import { runGateway } from './gateway.ts';
import { ensureDataset, OUT_DIR } from './dataset.ts';
import { summarizeProfile, type ProfileSummary } from './profile.ts';
import { GENERATOR_VERSION } from './gen.ts';
import { log } from './lib.ts';

const env = process.env;
const scale = env.BENCH_SCALE ?? '1m';
const only = env.BENCH_ONLY;
const num = (name: string, dflt: number) => (env[name] ? Number(env[name]) : dflt);
const sizes: Record<string, number[]> = { small: [100_000], '1m': [1_000_000], '10m': [1_000_000, 10_000_000] };
if (!sizes[scale]) throw new Error(`BENCH_SCALE must be small, 1m or 10m, not ${scale}`);

const ingestOpts = { events: num('BENCH_INGEST_EVENTS', 240_000), batch: num('BENCH_BATCH', 1000), connections: num('BENCH_CONNECTIONS', 6) };
const lookupOpts = { samples: num('BENCH_SAMPLES', 2000), warmup: num('BENCH_WARMUP', 200), pages: 20 };
const deliveryOpts = {
  events: num('BENCH_DELIVERY_EVENTS', 100_000), batch: 1000, connections: 6,
  latencyRate: num('BENCH_DELIVERY_RATE', 500),
  latencySeconds: [num('BENCH_DELIVERY_FAST_SECONDS', 20), num('BENCH_DELIVERY_DEFAULT_SECONDS', 75)] as [number, number],
  capacityEvents: num('BENCH_DELIVERY_CAPACITY_EVENTS', 100_000),
};
const validateOpts = {
  periodMs: num('BENCH_VALIDATE_PERIOD_MS', 1000), periods: num('BENCH_VALIDATE_PERIODS', 120),
  motoMB: num('BENCH_VALIDATE_MOTO_MB', 30), fsMB: num('BENCH_VALIDATE_FS_MB', 100),
  repeat: num('BENCH_VALIDATE_REPEAT', 3), concurrency: 16,
};
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
  settings: { scale, generatorVersion: GENERATOR_VERSION, ingest: ingestOpts, lookup: lookupOpts, delivery: deliveryOpts, validate: validateOpts, gateway: gatewayOpts },
  targets: { ingestEventsPerSecond: 50_000, lookupP99MsAt10M: 5, deliveryEventsPerSecond: 50_000, validateSpeedupVsAwsCli: 2, validateOverMotoFloor: 1.5, validateFsLogMBps: 400, gatewayP99OverheadMs: 2 },
};

if (only === undefined || only === 'ingest') {
  report.ingest = await runIngest(ingestOpts);
  if (env.BENCH_PROFILE === '1') {
    const p = await profiled('ingest', (nodeFlags) => runIngest({ ...ingestOpts, nodeFlags }));
    report.ingestProfiled = { eventsPerSecond: p.result.eventsPerSecond, profile: p.profile };
  }
}

if (only === undefined || only === 'lookup') {
  const lookup: Record<string, LookupResult> = {};
  for (const n of sizes[scale]!) {
    const { dir, manifest } = await ensureDataset(n);
    const key = n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`;
    lookup[key] = await runLookups(dir, manifest, lookupOpts);
    if (env.BENCH_PROFILE === '1' && n === sizes[scale]![0]) {
      const p = await profiled(`lookup-${key}`, (nodeFlags) => runLookups(dir, manifest, { ...lookupOpts, samples: Math.min(lookupOpts.samples, 1000), nodeFlags }));
      report[`lookupProfiled${key}`] = p.profile;
    }
  }
  report.lookup = lookup;
}

if (only === undefined || only === 'delivery') report.delivery = await runDelivery(deliveryOpts);

if (only === undefined || only === 'validate') report.validate = await runValidate(validateOpts);

if (only === undefined || only === 'gateway') {
  report.gateway = await runGateway({ ...gatewayOpts, profileDir: env.BENCH_PROFILE === '1' ? join(profileDir, 'gateway') : undefined });
}

const ingest = report.ingest as { eventsPerSecond: number } | undefined;
const lk = report.lookup as Record<string, LookupResult> | undefined;
const biggest = lk ? Object.values(lk).at(-1) : undefined;
report.gaps = {
  ingest: ingest ? `${ingest.eventsPerSecond} of 50000 events/s (${Math.round((100 * ingest.eventsPerSecond) / 50_000)}%)` : undefined,
  lookupWorstP99Ms: biggest
    ? { events: biggest.events, worstP99Ms: Math.max(...Object.values(biggest.queries).map((q) => q.p99), biggest.pagedWalk.p99), target: 5 }
    : undefined,
  delivery: report.delivery
    ? (() => {
      const cap = (report.delivery as { capacity: CapacityResult[] }).capacity[0]!;
      return `${cap.eventsPerSecond} of 50000 events/s for one trail (${Math.round((100 * cap.eventsPerSecond) / 50_000)}%), in-process backlog drain`;
    })()
    : undefined,
  validate: report.validate
    ? (() => {
      const v = report.validate as { moto: { speedupVsAwsCli: number; oursOverFloor: number }; fs: { ours: { logMBps: number } } };
      return `${v.moto.speedupVsAwsCli}x the AWS CLI (target 2x), ${v.moto.oursOverFloor}x moto's serve-once floor (target <= 1.5x), ${v.fs.ours.logMBps} MB/s on the filesystem bucket (target 400)`;
    })()
    : undefined,
  gateway: report.gateway
    ? (() => {
      const g = report.gateway as Awaited<ReturnType<typeof runGateway>>;
      return Object.fromEntries(g.modes.map((m) => [`recordBeforeAnswer=${m.recordBeforeAnswer}`, `worst p99 overhead ${Math.max(...Object.values(m.latency).map((l) => l.overheadMs.p99))} ms (target < 2 ms)`]));
    })()
    : undefined,
};
log('done');
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
