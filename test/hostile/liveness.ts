/**
 * The hostile suite's probe: while a hostile request runs, `/health` (and optionally another
 * caller's real work) must keep answering within a bound, and the process must be alive afterwards.
 */
import assert from 'node:assert/strict';
import { availableParallelism, loadavg } from 'node:os';
import type { StartedServer } from '../helpers/server.ts';

export interface LivenessReport {
  /** Slowest /health answer seen, ms (a probe that never answered counts as its timeout). */
  worstMs: number;
  probes: number;
  failures: string[];
}

export interface LivenessOptions {
  /**
   * Each /health must answer within this (default 1000 ms), times the machine's run queue per core
   * when it is above 1 (a CI machine running other suites beside this one: there a probe waits for
   * a core, which no server can help; a real stall, the event loop blocked for seconds, still shows).
   */
  boundMs?: number;
  /** Time between probes (default 50 ms). */
  everyMs?: number;
}

/**
 * Runs `hostile` while probing `/health` in a loop; asserts every probe answered 200 within the
 * bound and the server process is still running afterwards. Returns the hostile result.
 */
export async function whileProbing<T>(server: StartedServer, hostile: () => Promise<T>, opts: LivenessOptions = {}): Promise<{ result: T; report: LivenessReport }> {
  const boundMs = Math.round((opts.boundMs ?? 1000) * Math.max(1, loadavg()[0]! / availableParallelism()));
  const everyMs = opts.everyMs ?? 50;
  const report: LivenessReport = { worstMs: 0, probes: 0, failures: [] };
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      try {
        const res = await fetch(`${server.url}/health`, { signal: AbortSignal.timeout(boundMs * 3) });
        await res.arrayBuffer();
        if (res.status !== 200) report.failures.push(`/health answered ${res.status}`);
      } catch (e) {
        report.failures.push(`/health failed: ${(e as Error).message}`);
      }
      const ms = performance.now() - t0;
      report.probes++;
      report.worstMs = Math.max(report.worstMs, ms);
      if (ms > boundMs) report.failures.push(`/health took ${Math.round(ms)} ms (bound ${Math.round(boundMs)} ms)`);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  let result: T;
  try {
    result = await hostile();
  } finally {
    running = false;
    await loop;
  }
  assert.ok(report.probes > 0, 'the probe ran at least once');
  assert.deepEqual(report.failures, [], `health stayed responsive (worst ${Math.round(report.worstMs)} ms over ${report.probes} probes)`);
  assertAlive(server);
  return { result, report };
}

/** The server process has not exited. */
export function assertAlive(server: StartedServer): void {
  assert.equal(server.process.exitCode, null, `server exited:\n${server.output().slice(-2000)}`);
  assert.equal(server.process.signalCode, null, `server was killed:\n${server.output().slice(-2000)}`);
}
