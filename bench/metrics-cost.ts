/**
 * Issue 17: the CPU the metrics add to ingest, measured where it is spent, so that the answer does
 * not drown in the run-to-run spread of whole ingest runs (±10 % on the shared machine).
 *
 * With metrics on, ingest runs these hooks (src/observability/metrics.ts): per API request
 * `request()` (a counter and a histogram), per ingest request `appended()` (a counter), per group
 * commit `committed()` (two histograms); and in the background prom-client's default metrics (an
 * event-loop-delay monitor, a GC observer). Nothing runs per event. This measures, in process:
 *   - the hooks of one bulk request (request + appended + committed), ns per call set, best of
 *     `rounds` rounds of `calls` sets (CPU time);
 *   - the background cost: CPU of an otherwise idle process over `idleMs` with and without a
 *     ServerMetrics (the default metrics' timers and observers), as a share of one core.
 * The report turns them into a share of ingest's own CPU per event (`serverCpuUsPerEvent`, from
 * an ingest run of the same machine, e.g. `.ingest.server.cpuSeconds` / events).
 */
import { ServerMetrics } from '../src/observability/metrics.ts';
import type { EventStore } from '../src/stores/event-store.ts';
import { round } from './lib.ts';

export interface MetricsCostOptions {
  calls: number;
  rounds: number;
  idleMs: number;
  /** Events per bulk request (the ingest bench's batch). */
  eventsPerRequest: number;
  /** Server CPU per ingested event (µs), to compare with. */
  serverCpuUsPerEvent: number;
}

const cpuMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

async function idleCpuShare(ms: number): Promise<number> {
  const c0 = cpuMs();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  return (cpuMs() - c0) / (performance.now() - t0);
}

export async function runMetricsCost(opts: MetricsCostOptions): Promise<Record<string, unknown>> {
  const idleOff = await idleCpuShare(opts.idleMs);
  // The store is read only by a scrape, and none is made here.
  const metrics = new ServerMetrics({ events: {} as EventStore, dataDir: '.', writable: () => true, clock: { nowMs: () => Date.now() } });
  const idleOn = await idleCpuShare(opts.idleMs);
  const perSet: number[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    const c0 = cpuMs();
    for (let i = 0; i < opts.calls; i++) {
      metrics.request('PutAuditEvents', 200, 0.004 + (i % 7) * 0.001);
      metrics.appended('bulk', opts.eventsPerRequest, 0, 0);
      metrics.committed(opts.eventsPerRequest, 0.002 + (i % 5) * 0.0005, true);
    }
    perSet.push(((cpuMs() - c0) * 1e6) / opts.calls);
  }
  const bestNs = Math.min(...perSet);
  const medianNs = [...perSet].sort((a, b) => a - b)[perSet.length >> 1]!;
  const hooksNsPerEvent = medianNs / opts.eventsPerRequest;
  return {
    settings: opts,
    hooksNsPerRequest: { best: round(bestNs, 0), median: round(medianNs, 0), rounds: perSet.map((x) => round(x, 0)) },
    hooksNsPerEvent: round(hooksNsPerEvent, 2),
    idleCpuShareOfOneCore: { metricsOff: round(idleOff, 4), metricsOn: round(idleOn, 4), added: round(idleOn - idleOff, 4) },
    /** The hooks' CPU per event as a share of ingest's CPU per event. */
    hooksShareOfIngestCpu: round(hooksNsPerEvent / 1000 / opts.serverCpuUsPerEvent, 6),
    target: 'ingest with metrics on vs off differs by less than 3 %',
  };
}
