/** A pool of normalised bench/gen.ts records as AppendInputs, for the layout-2 prototypes. */
import { readFileSync, readdirSync } from 'node:fs';
import { record, type GenParams } from '../gen.ts';
import { normalizeRecord } from '../../src/core/index.ts';
import { toAppendInput } from '../../src/ingest/prepare.ts';
import type { AppendInput } from '../../src/stores/index.ts';

export const PARAMS: GenParams = { seed: 20260101, count: 20_000, endMs: Date.UTC(2026, 9, 1), spanMs: 30 * 24 * 3600 * 1000 };

export function pool(n = PARAMS.count): AppendInput[] {
  const ctx = { defaultAccountId: '111111111111', defaultRegion: 'us-east-1', nowMs: PARAMS.endMs, ids: { uuid: () => crypto.randomUUID() } };
  const out: AppendInput[] = [];
  for (let i = 0; i < n; i++) {
    const r = normalizeRecord(record({ ...PARAMS, count: n }, i), ctx);
    if (!r.ok) throw new Error(r.errorMessage);
    out.push(toAppendInput(r.value));
  }
  return out;
}

/** Event i of an endless stream: the pool's record (i mod size) under a fresh eventId, later in time each round. */
export function nth(p: AppendInput[], i: number): AppendInput {
  const base = p[i % p.length]!;
  const round = Math.floor(i / p.length);
  return round === 0 ? base : { ...base, eventId: `${base.eventId}-${round}`, eventTimeSec: base.eventTimeSec + round * 30 * 24 * 3600 };
}

const TICK = 100; // USER_HZ

/** CPU seconds of this process so far: its main thread, and every other thread (workers, V8 helpers). */
export function threadCpu(): { main: number; others: number } {
  let main = 0;
  let others = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const f = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      const s = (Number(f[11]) + Number(f[12])) / TICK;
      if (Number(tid) === process.pid) main += s;
      else others += s;
    } catch {
      // thread gone
    }
  }
  return { main, others };
}
