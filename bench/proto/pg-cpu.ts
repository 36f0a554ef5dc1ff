/**
 * CPU of a PostgreSQL server's processes (the postmaster and its children), read from /proc: for
 * the prototypes that measure PostgreSQL's CPU per event in process (pg-append-main.ts,
 * pg-index-cost.ts). `admin` is any connection to the server: its backend's parent is the postmaster.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type pg from 'pg';

export interface PostgresCpu {
  /** CPU µs of the server's processes alive now, by pid. */
  now(): Map<string, number>;
  /** CPU µs the server's processes spent since `mark` (a `now()`); processes ended meanwhile are not counted. */
  since(mark: Map<string, number>): number;
}

export async function postgresCpu(admin: pg.Client): Promise<PostgresCpu> {
  const parentOf = (pid: string) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
  const postmaster = parentOf(String((await admin.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid));
  const now = (): Map<string, number> => {
    const out = new Map<string, number>();
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const f = readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ');
        if (Number(f[1]) === postmaster || Number(d) === postmaster) out.set(d, (Number(f[11]) + Number(f[12])) * 1e4);
      } catch {
        // ended meanwhile
      }
    }
    return out;
  };
  return {
    now,
    since(mark) {
      let t = 0;
      for (const [pid, c] of now()) t += c - (mark.get(pid) ?? 0);
      return t;
    },
  };
}
