/**
 * Sums a `node --trace-gc-nvp` log per isolate (main thread, each worker): scavenges and
 * mark-compacts, bytes allocated, bytes that survived a scavenge and bytes promoted to the old generation, and
 * the pause time. Counts, not wall time: they hold on a loaded machine.
 *   node --trace-gc-nvp ... > log; node bench/proto/gc-nvp-summary.ts log [events]
 */
import { readFileSync } from 'node:fs';

const [file, eventsArg] = process.argv.slice(2);
const events = Number(eventsArg ?? 1);
const per = new Map<string, { scavenges: number; markCompacts: number; promotedBytes: number; survivedBytes: number; allocatedBytes: number; pauseMs: number }>();
for (const line of readFileSync(file!, 'utf8').split('\n')) {
  const m = /^\[\d+:(0x[0-9a-f]+):\d+\].* gc=(s|mc|mmc|ms) /.exec(line);
  if (!m) continue;
  const s = per.get(m[1]!) ?? per.set(m[1]!, { scavenges: 0, markCompacts: 0, promotedBytes: 0, survivedBytes: 0, allocatedBytes: 0, pauseMs: 0 }).get(m[1]!)!;
  const num = (k: string) => Number(new RegExp(` ${k}=([0-9.]+)`).exec(line)?.[1] ?? 0);
  if (m[2] === 's') s.scavenges++;
  else s.markCompacts++;
  s.promotedBytes += num('promoted');
  s.survivedBytes += num('new_space_survived');
  s.allocatedBytes += num('allocated');
  s.pauseMs += num('pause');
}
const out = [...per].map(([isolate, s]) => ({
  isolate, scavenges: s.scavenges, markCompacts: s.markCompacts, pauseMs: Math.round(s.pauseMs),
  promotedBytesPerEvent: Math.round(s.promotedBytes / events), youngSurvivedBytesPerEvent: Math.round(s.survivedBytes / events), allocatedBytesPerEvent: Math.round(s.allocatedBytes / events),
}));
console.log(JSON.stringify(out));
