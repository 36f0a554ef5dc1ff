// Preload for a server under measurement (node --import): appends every main-thread GC pause to
// the file named by GC_LOG_FILE as JSON lines {at, ms, kind} (at: epoch ms, kind: V8's gc kind,
// 1 scavenge, 2 minor mark-sweep, 4 mark-compact, 8 incremental, 16 weak callbacks). Bench only.
import { appendFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
const file = process.env.GC_LOG_FILE;
if (file) {
  let lines: string[] = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) lines.push(JSON.stringify({ at: performance.timeOrigin + e.startTime, ms: e.duration, kind: (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind }));
  }).observe({ entryTypes: ['gc'] });
  const flush = () => {
    if (lines.length === 0) return;
    appendFileSync(file, lines.join('\n') + '\n');
    lines = [];
  };
  setInterval(flush, 1000).unref();
  process.on('exit', flush);
}
