/**
 * BENCH_ONLY=console: the web console's Event history on a large store (issue 14: "with 1M events
 * stored, the first page of Event history renders in under 1 s"). For each dataset (BENCH_SCALE),
 * a server on a scratch copy, a headless Chromium (Debian's, test/helpers/browser.ts) signed in
 * through the console's own sign-in, and BENCH_CONSOLE_SAMPLES (default 10) timings of each of:
 *
 * - cold: a new browser context (nothing cached) opening /console/#/events until the table shows
 *   its first page of 50 events (the bundle downloaded, parsed and run, the session read, one
 *   LookupEvents, the rows rendered);
 * - reload: the same page reloaded (the bundle from the browser's cache, as on a later visit);
 * - warm: the same page going from a filtered view back to the unfiltered first page (one
 *   LookupEvents and the render), as a user moving around the console does;
 *
 * and, from the browser's resource timing, the LookupEvents request of each sample; for the cold
 * loads also the renderer's CPU time, which a busy machine does not stretch.
 */
import type { Browser, Page } from 'playwright-core';
import { launchChromium, ensureConsoleBuilt } from '../test/helpers/browser.ts';
import { ensureDataset, removeScratch, scratchCopy } from './dataset.ts';
import { BENCH_IDENTITY, log, round, startBenchServer, summarize } from './lib.ts';

export interface ConsoleResult {
  events: number;
  samples: number;
  coldFirstPageMs: ReturnType<typeof summarize>;
  /** CPU time of the renderer's main thread during the cold load. */
  coldMainThreadCpuMs: ReturnType<typeof summarize>;
  /** CPU time of the whole renderer process during the cold load. */
  coldRendererCpuMs: ReturnType<typeof summarize>;
  /** The same page reloaded: the bundle from the browser's cache (immutable assets), a new document. */
  reloadFirstPageMs: ReturnType<typeof summarize>;
  reloadMainThreadCpuMs: ReturnType<typeof summarize>;
  warmFirstPageMs: ReturnType<typeof summarize>;
  lookupEventsRequestMs: ReturnType<typeof summarize>;
  targetMs: number;
}

const ROWS = 'table a[href^="#/events/"]';

/** ms of the newest LookupEvents POST the page made (its resource timing). */
async function lastLookupMs(page: Page): Promise<number> {
  return page.evaluate(() => {
    const posts = performance.getEntriesByType('resource').filter((e) => e.name.endsWith('/') && (e as PerformanceResourceTiming).initiatorType === 'fetch');
    const last = posts.at(-1) as PerformanceResourceTiming | undefined;
    return last ? last.responseEnd - last.requestStart : NaN;
  });
}

/**
 * Wall time from navigation to the first page's 50 rows, and the CPU time the page's renderer
 * spent (Chrome's Performance.getMetrics: ThreadTime, the main thread's CPU time, and ProcessTime,
 * the renderer process's; a new context's page starts a new renderer). CPU time is what a busy
 * machine does not stretch: on an idle machine the wall time is about the main thread's CPU time
 * plus the server's answers.
 */
async function firstPageAt(page: Page, url: string, reload = false): Promise<{ wallMs: number; mainThreadMs: number; rendererMs: number }> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const before = reload ? (await cdp.send('Performance.getMetrics')).metrics : [];
  const t0 = performance.now();
  if (reload) await page.reload();
  else await page.goto(url);
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length >= 50, ROWS, { timeout: 30_000, polling: 'raf' });
  const wallMs = performance.now() - t0;
  const { metrics } = await cdp.send('Performance.getMetrics');
  const metric = (name: string) => ((metrics.find((m) => m.name === name)?.value ?? NaN) - (before.find((m) => m.name === name)?.value ?? 0)) * 1000;
  await cdp.detach();
  return { wallMs, mainThreadMs: metric('ThreadTime'), rendererMs: metric('ProcessTime') };
}

export async function runConsoleBench(sizes: readonly number[], samples: number): Promise<ConsoleResult[]> {
  ensureConsoleBuilt();
  const out: ConsoleResult[] = [];
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    for (const n of sizes) {
      const { dir } = await ensureDataset(n);
      const work = scratchCopy(dir, `console-${n}`);
      try {
        out.push(await measureConsole(browser, work, n, samples));
      } finally {
        removeScratch(work);
      }
    }
  } finally {
    await browser?.close();
  }
  return out;
}

/** The timings on a server over `dataDir` (a scratch copy holding `events` events). */
export async function measureConsole(browser: Browser, dataDir: string, events: number, samples: number): Promise<ConsoleResult> {
  const server = await startBenchServer(dataDir);
  try {
    const url = `${server.url}/console/#/events`;
    const cold: number[] = [];
    const coldMain: number[] = [];
    const coldRenderer: number[] = [];
    const reloaded: number[] = [];
    const reloadedMain: number[] = [];
    const warm: number[] = [];
    const lookups: number[] = [];
    for (let i = 0; i < samples + 1; i++) {
      const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      const signin = await context.request.post(`${server.url}/console/api/signin`, { data: { accessKeyId: BENCH_IDENTITY.accessKeyId, secretAccessKey: BENCH_IDENTITY.secretAccessKey } });
      if (!signin.ok()) throw new Error(`console sign-in failed: ${signin.status()} ${await signin.text()}`);
      const page = await context.newPage();
      const c = await firstPageAt(page, url);
      const l = await lastLookupMs(page);
      // The first sample warms the server's caches and the OS's: not counted.
      if (i > 0) {
        cold.push(c.wallMs);
        coldMain.push(c.mainThreadMs);
        coldRenderer.push(c.rendererMs);
        lookups.push(l);
      }
      const r = await firstPageAt(page, url, true);
      if (i > 0) {
        reloaded.push(r.wallMs);
        reloadedMain.push(r.mainThreadMs);
      }
      await page.evaluate(() => (location.hash = '#/events?attribute=EventName&value=NoSuchEventName'));
      await page.getByText('No events match').waitFor();
      const t0 = performance.now();
      await page.evaluate(() => (location.hash = '#/events'));
      await page.waitForFunction((sel) => document.querySelectorAll(sel).length >= 50, ROWS, { timeout: 30_000, polling: 'raf' });
      if (i > 0) {
        warm.push(performance.now() - t0);
        lookups.push(await lastLookupMs(page));
      }
      await context.close();
    }
    const r: ConsoleResult = { events, samples, coldFirstPageMs: summarize(cold), coldMainThreadCpuMs: summarize(coldMain), coldRendererCpuMs: summarize(coldRenderer), reloadFirstPageMs: summarize(reloaded), reloadMainThreadCpuMs: summarize(reloadedMain), warmFirstPageMs: summarize(warm), lookupEventsRequestMs: summarize(lookups), targetMs: 1000 };
    log(`console at ${events} events: cold first page p50 ${round(r.coldFirstPageMs.p50)} ms (main thread CPU ${round(r.coldMainThreadCpuMs.p50)} ms, renderer CPU ${round(r.coldRendererCpuMs.p50)} ms), reload ${round(r.reloadFirstPageMs.p50)} ms (main thread CPU ${round(r.reloadMainThreadCpuMs.p50)} ms), warm ${round(r.warmFirstPageMs.p50)} ms, LookupEvents ${round(r.lookupEventsRequestMs.p50)} ms`);
    return r;
  } finally {
    await server.stop();
  }
}
