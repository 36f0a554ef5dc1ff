/**
 * What the stored-as-it-came path costs and saves per bench record, on the main thread alone
 * (process.threadCpuUsage, so other processes' load does not count): JSON.parse of the record's
 * text, the canonical-text proof (isCanonicalJson), the JSON.stringify it replaces, and
 * normalizeRecord without and with the source text, and Event history's attributes and summary
 * built apart or at once (historyIndex). Also how many records take the path.
 *   node bench/proto/canonical-text.ts [records=5000] [rounds=40]
 */
import { record } from '../gen.ts';
import { PARAMS } from './engine-v2-pool.ts';
import { isCanonicalJson } from '../../src/core/canonical-json.ts';
import { normalizeRecord } from '../../src/core/normalize.ts';
import { historyAttributes, historyIndex, historySummary } from '../../src/core/history-attributes.ts';

const N = Number(process.argv[2] ?? 5000);
const ROUNDS = Number(process.argv[3] ?? 40);
/** Passes over the records per round (a round of ~20-50 ms). */
const PASSES = 4;
const texts: string[] = [];
for (let i = 0; i < N; i++) texts.push(JSON.stringify(record({ ...PARAMS, count: N }, i)));
const parsed = texts.map((t) => JSON.parse(t) as unknown);
const ctx = { defaultAccountId: '111111111111', defaultRegion: 'us-east-1', nowMs: PARAMS.endMs, ids: { uuid: () => crypto.randomUUID() } };

let sink = 0;
/** µs of this thread's CPU per record, median over rounds. */
function measure(f: (i: number) => void): number {
  const per: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const c0 = process.threadCpuUsage();
    for (let k = 0; k < PASSES; k++) for (let i = 0; i < N; i++) f(i);
    const c1 = process.threadCpuUsage(c0);
    per.push((c1.user + c1.system) / N / PASSES);
  }
  per.sort((a, b) => a - b);
  return +per[per.length >> 1]!.toFixed(3);
}

let stored = 0;
let canonical = 0;
for (let i = 0; i < N; i++) {
  if (isCanonicalJson(texts[i]!)) canonical++;
  const a = normalizeRecord(parsed[i], ctx);
  const b = normalizeRecord(parsed[i], ctx, texts[i]);
  if (!a.ok || !b.ok || a.value.json !== b.value.json) throw new Error(`record ${i}: the two paths differ`);
  if (a.value.json === texts[i]) stored++;
}

const records = parsed.map((p) => { const r = normalizeRecord(p, ctx); if (!r.ok) throw new Error(r.errorMessage); return r.value.record; });
const out = {
  records: N,
  meanChars: Math.round(texts.reduce((s, t) => s + t.length, 0) / N),
  textsCanonical: canonical,
  /** Records whose normalised JSON is their text: what the path can store as it came. */
  unchangedByNormalise: stored,
  usPerRecord: {
    parse: measure((i) => { sink += (JSON.parse(texts[i]!) as object) ? 1 : 0; }),
    proof: measure((i) => { sink += isCanonicalJson(texts[i]!) ? 1 : 0; }),
    stringify: measure((i) => { sink += JSON.stringify(parsed[i]).length; }),
    normalize: measure((i) => { const r = normalizeRecord(parsed[i], ctx); sink += r.ok ? r.value.json.length : 0; }),
    historyAttributesAndSummary: measure((i) => { const r = records[i]!; sink += (historyAttributes(r)?.length ?? 0) + (historySummary(r)?.length ?? 0); }),
    historyIndex: measure((i) => { const x = historyIndex(records[i]!); sink += x ? x.history.length + x.summary.length : 0; }),
    normalizeWithText: measure((i) => { const r = normalizeRecord(parsed[i], ctx, texts[i]); sink += r.ok ? r.value.json.length : 0; }),
  },
};
console.log(JSON.stringify(out));
if (sink === 42) console.log('');
