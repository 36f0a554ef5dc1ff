/**
 * Prototype (not used by `npm run bench`): the cost of building a LookupEvents answer of 50 events
 * in-process, from stored summaries (no parse of the records) against the parse path (rows
 * without a summary: JSON.parse of each record). The store is left out (a fixed page of 50 rows
 * per call, rotating over generator records), so the figure is the answer building alone, plus
 * the answer text's size; the index lookup itself is measured by lookup-direct.ts.
 *
 *   node bench/proto/lookup-summary.ts [samples=3000]
 */
import { historySummary, normalizeRecord, randomIds, type CloudTrailRecord } from '../../src/core/index.ts';
import { toAppendInput } from '../../src/ingest/prepare.ts';
import { lookupEvents, NextTokenCodec } from '../../src/history/index.ts';
import type { EventStore, HistoryRow } from '../../src/stores/index.ts';
import { record } from '../gen.ts';
import { summarize } from '../lib.ts';

const samples = Number(process.argv[2] ?? 3000);
const warmup = 300;
const PAGES = 100;
const endMs = Date.now();
const p = { seed: 7, count: PAGES * 50, endMs, spanMs: 86_400_000 };
const rows: HistoryRow[] = [];
for (let i = 0; i < p.count; i++) {
  const n = normalizeRecord(record(p, i), { defaultAccountId: '111111111111', defaultRegion: 'us-east-1', nowMs: endMs, ids: randomIds });
  if (!n.ok) throw new Error(n.errorMessage);
  const a = toAppendInput(n.value);
  rows.push({ t: a.eventTimeSec, seq: i + 1, json: a.json, summary: a.summary });
}
const bare = rows.map(({ t, seq, json }) => ({ t, seq, json }));
const pageOf = (all: HistoryRow[], i: number) => all.slice((i % PAGES) * 50, (i % PAGES) * 50 + 51);


async function measure(all: HistoryRow[]): Promise<{ ms: ReturnType<typeof summarize>; answerBytes: number }> {
  let call = 0;
  const store = { lookup: async () => pageOf(all, call) } as unknown as EventStore;
  const deps = { store, tokens: new NextTokenCodec(NextTokenCodec.randomKey()), retentionDays: 36500 };
  const ctx = { accountId: '111111111111', region: 'us-east-1', nowMs: endMs };
  const times: number[] = [];
  let bytes = 0;
  for (call = 0; call < samples + warmup; call++) {
    const s = performance.now();
    const out = await lookupEvents(deps, ctx, {});
    const ms = performance.now() - s;
    if (call >= warmup) times.push(ms);
    bytes = out.text.length;
  }
  return { ms: summarize(times), answerBytes: bytes };
}

const result = { samples, eventsPerAnswer: 50, parsePath: await measure(bare), summaryPath: await measure(rows), parsePathAgain: await measure(bare), summaryPathAgain: await measure(rows) };
console.log(JSON.stringify(result, null, 2));

// What the summary costs at ingest: historySummary per record (beside toAppendInput's other work).
{
  const records = rows.map((r) => JSON.parse(r.json) as CloudTrailRecord);
  const rounds = 20;
  let sink = 0;
  const s = performance.now();
  for (let k = 0; k < rounds; k++) for (const r of records) sink += historySummary(r)!.length;
  const us = ((performance.now() - s) * 1000) / (rounds * records.length);
  console.log(JSON.stringify({ historySummaryMicrosPerRecord: Math.round(us * 100) / 100, summaryBytesMean: Math.round(sink / (rounds * records.length)) }));
}
