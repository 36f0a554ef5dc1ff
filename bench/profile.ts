/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): share of wall time by self time of the
 * hottest functions, and inclusive time of the stages of the write and read paths.
 *
 * Run alone: node bench/profile.ts FILE.cpuprofile
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Stages: a sample counts for a stage when a frame matching it is on the stack. */
const STAGES: [string, (fn: string, url: string) => boolean][] = [
  ['store.append (SQLite insert + COMMIT/fsync)', (fn, url) => fn === 'append' && url.includes('sqlite-event-store')],
  ['  of which COMMIT (fsync, WAL write)', (fn, url) => fn === 'exec' && url === '' ],
  ['store.lookup (SQLite read)', (fn, url) => fn === 'lookup' && url.includes('sqlite-event-store')],
  ['splitBody (JSON.parse of the body)', (fn) => fn === 'splitBody'],
  ['normalizeRecord (validate + JSON.stringify)', (fn) => fn === 'normalizeRecord'],
  ['historyAttributes', (fn) => fn === 'historyAttributes'],
  ['verifySigV4 (incl. body SHA-256)', (fn) => fn === 'verifySigV4'],
  ['ingestBulk (normalise + submit)', (fn) => fn === 'ingestBulk'],
  ['self-audit record', (fn, url) => fn === 'audit' && url.includes('app.ts')],
  ['lookupEvents (history service)', (fn, url) => fn === 'lookupEvents' && url.includes('lookup-events')],
  ['toLookupEvent (JSON.parse of stored records)', (fn) => fn === 'toLookupEvent'],
  ['fastify / node:http', (_fn, url) => /fastify|find-my-way|light-my-request|node:_http|node:net|node:stream|avvio/.test(url)],
  ['gunzip/JSON body buffering (content parser)', (fn) => fn === 'rawBody' || fn === 'onData' || fn === 'onEnd'],
  // PostgreSQL's append path (BENCH_DB=postgres with BENCH_PROFILE=1).
  ['PgEventStore: records encoded (encodeEvent)', (fn, url) => fn === 'encodeEvent' && url.includes('pg-event-store')],
  ['PgEventStore: rows and parameters built (insertSlice)', (fn, url) => fn === 'insertSlice' && url.includes('pg-event-store')],
  ['node-postgres (parameters, protocol, results)', (_fn, url) => url.includes('node_modules/pg')],
];

export interface ProfileSummary {
  wallSeconds: number;
  busyPercent: number;
  stagesPercent: Record<string, number>;
  topSelfPercent: { fn: string; percent: number }[];
}

export function summarizeProfile(file: string, top = 20): ProfileSummary {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map<number, Node>();
  const parent = new Map<number, number>();
  for (const n of prof.nodes) byId.set(n.id, n);
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  let total = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i + 1] ?? 0;
    selfUs.set(prof.samples[i]!, (selfUs.get(prof.samples[i]!) ?? 0) + dt);
    total += dt;
  }
  const label = (n: Node) => {
    const f = n.callFrame;
    const file = f.url ? f.url.split('/').slice(-2).join('/') : '';
    return `${f.functionName || '(anonymous)'}${file ? ` ${file}:${f.lineNumber + 1}` : ' [native]'}`;
  };
  const selfByLabel = new Map<string, number>();
  let idle = 0;
  const stageUs = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    if (n.callFrame.functionName === '(idle)') idle += us;
    const l = label(n);
    selfByLabel.set(l, (selfByLabel.get(l) ?? 0) + us);
    const hit = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      for (const [name, match] of STAGES) if (match(f.functionName, f.url)) hit.add(name);
    }
    // "COMMIT" only inside append.
    if (hit.has(STAGES[1]![0]) && !hit.has(STAGES[0]![0])) hit.delete(STAGES[1]![0]);
    for (const name of hit) stageUs.set(name, (stageUs.get(name) ?? 0) + us);
  }
  const pct = (us: number) => Math.round((1000 * us) / total) / 10;
  const stagesPercent: Record<string, number> = {};
  for (const [name] of STAGES) if (stageUs.has(name)) stagesPercent[name] = pct(stageUs.get(name)!);
  const topSelfPercent = [...selfByLabel].sort((a, b) => b[1] - a[1]).slice(0, top).map(([fn, us]) => ({ fn, percent: pct(us) }));
  return { wallSeconds: Math.round(total / 1e4) / 100, busyPercent: pct(total - idle), stagesPercent, topSelfPercent };
}

if (process.argv[1]?.endsWith('profile.ts') && process.argv[2]) {
  console.log(JSON.stringify(summarizeProfile(process.argv[2], 40), null, 2));
}
