/**
 * Prototype (not used by `npm run bench`): where a lone recorded call's time goes, stage by stage,
 * and what the slowest calls waited for. The gateway is composed in this process as src/server.ts
 * composes it (SqliteEventStore, Ingester, apiCallRecorder, the per-call pino line to stdout), with
 * the store's stage trace on (SqliteEventStoreOptions.onStages); a child process is the client,
 * one call in flight, alternating a direct call to the upstream and a call through the gateway as
 * bench/gateway.ts's latency phase does.
 *
 * Per traced call, ms since the epoch on one clock: the request's arrival, the record handed to the
 * Ingester (`submit`), the store's `append` (after the Ingester's loop turn), the writer thread's
 * receipt, start and end of the commit, the main thread's receipt of its reply, the syncer's
 * fdatasync (writes) and the main thread's receipt of its report, the append and submit resolved,
 * the answer's end (the `observe` hook). Also every GC pause of the main thread and every
 * checkpoint, to see which calls they overlap.
 *
 *   node bench/proto/gateway-stages.ts [calls=1500] [cases=read-1k,write-1k] [out.json] > /dev/null
 *   (stdout is the gateway's log; the summary goes to stderr and the raw trace to out.json)
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { BodyBudget } from '../../src/aws/body.ts';
import { createGateway } from '../../src/capture/gateway/index.ts';
import { apiCallRecorder } from '../../src/capture/self-audit.ts';
import { randomIds, systemClock, type Identity } from '../../src/core/index.ts';
import { Ingester } from '../../src/ingest/index.ts';
import { createLogger, factsLogger } from '../../src/observability/index.ts';
import { SqliteEventStore, type StoreStages } from '../../src/stores/sqlite/sqlite-event-store.ts';
import { BENCH_IDENTITY } from '../lib.ts';
import { call, makeCases, sign, startUpstream } from '../gateway.ts';
import { fsyncRate } from '../floors.ts';

const now = (): number => performance.timeOrigin + performance.now();

if (process.argv[2] === 'client') {
  // The client: one call in flight; direct then gateway, then gateway then direct, and so on.
  const { gateway, upstream, path, headers, body, calls, warmup } = JSON.parse(process.argv[3]!) as { gateway: string; upstream: string; path: string; headers: Record<string, string>; body: string; calls: number; warmup: number };
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const direct = new Agent({ keepAlive: true, maxSockets: 1 });
  const buf = Buffer.from(body, 'base64');
  const through: [number, number][] = [];
  const plain: number[] = [];
  for (let i = 0; i < warmup + calls; i++) {
    const d = async () => {
      const t = performance.now();
      await call(direct, new URL(upstream), path, headers, buf);
      if (i >= warmup) plain.push(performance.now() - t);
    };
    const g = async () => {
      const t = now();
      const status = await call(agent, new URL(gateway), path, headers, buf);
      if (status !== 200) throw new Error(`HTTP ${status}`);
      if (i >= warmup) through.push([t, now()]);
    };
    if (i % 2 === 0) {
      await d();
      await g();
    } else {
      await g();
      await d();
    }
  }
  agent.destroy();
  direct.destroy();
  process.send!({ through, plain }, () => process.exit(0));
} else {
  await main();
}

interface CallTrace {
  req: number;
  submit?: number;
  append?: number;
  writer?: Extract<StoreStages, { kind: 'writer' }>;
  sync?: Extract<StoreStages, { kind: 'sync' }>;
  appendDone?: number;
  submitDone?: number;
  end?: number;
  client?: [number, number];
  gcMs: number;
  gcs: string[];
  ckpt: boolean;
}

async function main(): Promise<void> {
  const calls = Number(process.argv[2] ?? 1500);
  const names = (process.argv[3] ?? 'read-1k,write-1k').split(',');
  const outFile = process.argv[4];
  const identity: Identity = {
    type: 'IAMUser', accountId: '111111111111', accessKeyId: BENCH_IDENTITY.accessKeyId, secretAccessKey: BENCH_IDENTITY.secretAccessKey, userName: 'alice', path: '/',
    principalId: 'AIDAALICEAAAAAAAAAAA', mfaAuthenticated: false, isTrustedProducer: true,
  };
  const upstream = await startUpstream();
  const result: Record<string, unknown> = {};
  for (const name of names) {
    const c = makeCases(1024).find((x) => x.name === name);
    if (!c) throw new Error(`no case ${name}`);
    const dir = mkdtempSync(join(tmpdir(), 'gateway-stages-'));
    // The disk's fdatasync in the same minute (bench/floors.ts: 16 KiB appended, then fdatasync).
    const floor = fsyncRate(dir, 1);
    const stages: StoreStages[] = [];
    const store = new SqliteEventStore({ path: join(dir, 'events.db'), onStages: (s) => stages.push(s) });
    const ingester = new Ingester(store, { maxBatchEvents: 5000 });
    const logger = createLogger('info');
    const gatewayLog = factsLogger(logger, { component: 'gateway' });
    const traces: CallTrace[] = [];
    let current: CallTrace | undefined;
    // The points on the main thread, by wrapping the instances' methods (one call in flight: the current trace).
    /** `fn` with the current call's times of its start and its promise's end noted under `start` and `end`. */
    const noting = <A extends unknown[], R>(fn: (...a: A) => Promise<R>, start: 'submit' | 'append', end: 'submitDone' | 'appendDone') => (...a: A): Promise<R> => {
      const t = current;
      if (t) t[start] = now();
      return fn(...a).then((r) => {
        if (t) t[end] = now();
        return r;
      });
    };
    ingester.submit = noting(ingester.submit.bind(ingester), 'submit', 'submitDone');
    store.append = noting(store.append.bind(store), 'append', 'appendDone');
    const gateway = createGateway(
      {
        identities: new Map([[identity.accessKeyId, identity]]), regions: new Set(['us-east-1']), clock: systemClock, ids: randomIds,
        record: apiCallRecorder(ingester, randomIds, 'gateway'), logError: (m, e) => process.stderr.write(`${m} ${String(e)}\n`), budget: new BodyBudget(256 * 1024 * 1024),
        observe: (f) => {
          if (current) current.end = now();
          gatewayLog.info({ ...f, seconds: undefined, ms: Math.round(f.seconds * 1e5) / 100 }, 'gateway call');
        },
      },
      { upstreams: { default: { endpoint: upstream.url } }, maxBodyBytes: 10 * 1024 * 1024, recordBeforeAnswer: true },
    ) as Server;
    gateway.prependListener('request', () => {
      current = { req: now(), gcMs: 0, gcs: [], ckpt: false };
      traces.push(current);
    });
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
    const port = (gateway.address() as { port: number }).port;
    const host = `127.0.0.1:${port}`;
    const headers = await sign(c, host);
    const gcs: { start: number; ms: number; kind: number }[] = [];
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) gcs.push({ start: performance.timeOrigin + e.startTime, ms: e.duration, kind: ((e as unknown as { detail?: { kind: number } }).detail?.kind ?? 0) });
    });
    obs.observe({ entryTypes: ['gc'] });
    const warmup = 500;
    const child = fork(new URL(import.meta.url).pathname, ['client', JSON.stringify({ gateway: `http://${host}`, upstream: upstream.url, path: c.path, headers, body: c.body.toString('base64'), calls, warmup })], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const fromClient = await new Promise<{ through: [number, number][]; plain: number[] }>((resolve, reject) => {
      child.once('message', (m) => resolve(m as { through: [number, number][]; plain: number[] }));
      child.once('exit', (code) => reject(new Error(`client exited ${code}`)));
    });
    obs.disconnect();
    const ckpt = (await store.checkpointerStats()).spans ?? [];
    await new Promise<void>((resolve) => gateway.close(() => resolve()));
    await ingester.drain();
    await store.close();
    rmSync(dir, { recursive: true, force: true });

    // Join: the store's stages to calls (one append per call, in order), client times to the last `calls` traces.
    const writers = stages.filter((s): s is Extract<StoreStages, { kind: 'writer' }> => s.kind === 'writer');
    const syncs = stages.filter((s): s is Extract<StoreStages, { kind: 'sync' }> => s.kind === 'sync');
    const byTime = (t: number) => writers.find((w) => w.received >= t);
    for (const t of traces) {
      if (t.append !== undefined) t.writer = byTime(t.append);
      if (t.writer?.ticket !== undefined) t.sync = syncs.find((s) => s.upTo >= t.writer!.ticket!);
      const end = t.end ?? t.req;
      for (const g of gcs) {
        if (g.start + g.ms >= t.req && g.start <= end) {
          t.gcMs += g.ms;
          t.gcs.push(`${g.kind}:${g.ms.toFixed(2)}`);
        }
      }
      t.ckpt = ckpt.some(([a, b]) => b >= t.req && a <= end);
    }
    const timed = traces.slice(-calls);
    timed.forEach((t, i) => (t.client = fromClient.through[i]));
    // Stages, ms: each the time from the one before.
    const stageOf = (t: CallTrace) => {
      const w = t.writer;
      const s = t.sync;
      return {
        total: t.client ? t.client[1] - t.client[0] : NaN,
        clientToReq: t.client ? t.req - t.client[0] : NaN,
        reqToSubmit: (t.submit ?? NaN) - t.req,
        submitToAppend: (t.append ?? NaN) - (t.submit ?? NaN),
        appendToWriter: (w?.received ?? NaN) - (t.append ?? NaN),
        writerQueue: w ? w.began - w.received : NaN,
        writerCommit: w ? w.done - w.began : NaN,
        writerToMain: w ? w.replyAt - w.done : NaN,
        syncStartAfterCommit: s && w ? s.began - w.done : NaN,
        fdatasync: s ? s.ms : NaN,
        syncToMain: s ? s.reportAt - (s.began + s.ms) : NaN,
        lastReportToAppendDone: (t.appendDone ?? NaN) - Math.max(w?.replyAt ?? 0, s?.reportAt ?? 0),
        appendDoneToEnd: (t.end ?? NaN) - (t.appendDone ?? NaN),
        endToClient: t.client && t.end ? t.client[1] - t.end : NaN,
        gcMs: t.gcMs,
      };
    };
    const rows = timed.filter((t) => t.client && t.end !== undefined).map((t) => ({ t, s: stageOf(t) }));
    rows.sort((a, b) => a.s.total - b.s.total);
    const keys = Object.keys(rows[0]!.s) as (keyof ReturnType<typeof stageOf>)[];
    const mean = (rs: typeof rows, k: keyof ReturnType<typeof stageOf>) => {
      const v = rs.map((r) => r.s[k]).filter((x) => Number.isFinite(x));
      return v.length ? Math.round((1000 * v.reduce((a, b) => a + b, 0)) / v.length) / 1000 : null;
    };
    const mid = rows.slice(Math.floor(rows.length * 0.4), Math.ceil(rows.length * 0.6));
    const slow = rows.slice(Math.floor(rows.length * 0.98));
    const directSorted = [...fromClient.plain].sort((a, b) => a - b);
    const pct = (a: number[], p: number) => Math.round(1000 * a[Math.min(a.length - 1, Math.floor(a.length * p))]!) / 1000;
    const totals = rows.map((r) => r.s.total);
    result[name] = {
      calls: rows.length,
      gatewayMs: { p50: pct(totals, 0.5), p90: pct(totals, 0.9), p99: pct(totals, 0.99) },
      directMs: { p50: pct(directSorted, 0.5), p90: pct(directSorted, 0.9), p99: pct(directSorted, 0.99) },
      medianBand: Object.fromEntries(keys.map((k) => [k, mean(mid, k)])),
      slowest2pc: Object.fromEntries(keys.map((k) => [k, mean(slow, k)])),
      slowest2pcWith: {
        gc: slow.filter((r) => r.t.gcMs > 0).length, checkpoint: slow.filter((r) => r.t.ckpt).length, mergingAtArrival: slow.filter((r) => r.t.writer?.mergingAtArrival).length, of: slow.length,
      },
      allWith: { gc: rows.filter((r) => r.t.gcMs > 0).length, checkpoint: rows.filter((r) => r.t.ckpt).length, of: rows.length },
      mainGc: { count: gcs.length, msTotal: Math.round(gcs.reduce((a, g) => a + g.ms, 0)), maxMs: Math.round(100 * Math.max(0, ...gcs.map((g) => g.ms))) / 100 },
      checkpoints: ckpt.length,
      // The store's fdatasyncs of the timed calls against the floor's, ms.
      fdatasyncMs: (() => {
        const v = rows.map((r) => r.s.fdatasync).filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
        return v.length ? { p50: pct(v, 0.5), p90: pct(v, 0.9), p99: pct(v, 0.99) } : null;
      })(),
      floorFdatasyncMs: { p50: floor.latencyMs.p50, p90: floor.latencyMs.p90, p99: floor.latencyMs.p99, perSecond: floor.opsPerSecond },
      slowest: slow.slice(-8).map((r) => ({ ...Object.fromEntries(keys.map((k) => [k, Math.round(1000 * r.s[k]) / 1000])), gcs: r.t.gcs.join(' '), ckpt: r.t.ckpt })),
    };
    process.stderr.write(`${name}: ${JSON.stringify(result[name], null, 1)}\n`);
    if (outFile) writeFileSync(`${outFile}.${name}.json`, JSON.stringify(rows.map((r) => ({ ...r.s, gcs: r.t.gcs, ckpt: r.t.ckpt }))));
  }
  await upstream.stop();
  if (outFile) writeFileSync(outFile, JSON.stringify(result, null, 1));
}
