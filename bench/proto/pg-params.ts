/**
 * How a batch of 1,000 bench records is best handed to PostgreSQL (PgEventStore's append): client
 * CPU of building the parameters (docs/storage.md, "PostgreSQL event store", "How a batch travels").
 *
 *   node bench/proto/pg-params.ts
 *
 * node-pg array literals for every column (records included), arrays with the records and
 * summaries joined by U+001E, and JSON for the fields and history entries with records joined.
 */
import { appendInputOf, datasetParams, normalizeContext } from '../dataset.ts';
// @ts-expect-error node-pg's own helper (no types): how it turns a JS array into a literal
import utils from 'pg/lib/utils.js';

const prepare = (utils as { prepareValue: (v: unknown) => unknown }).prepareValue;
const params = datasetParams(1000);
const ctx = normalizeContext(params);
const batch = Array.from({ length: 1000 }, (_, i) => appendInputOf(params, i, ctx));
const RS = '\u001e';
const historyRows = () => batch.flatMap((e) => (e.history ?? []).map(([k, v]) => [e.accountId, e.region, k, v, e.eventTimeSec, 1] as const));

function time(name: string, fn: () => unknown): void {
  for (let i = 0; i < 20; i++) fn();
  const t = performance.now();
  for (let i = 0; i < 100; i++) fn();
  process.stdout.write(`${name}: ${((performance.now() - t) / 100).toFixed(2)} ms per 1,000-event batch\n`);
}

time('array literals, records included', () => {
  const h = historyRows();
  return [prepare(batch.map((e) => e.json)), prepare(batch.map((e) => e.summary ?? null)), ...[0, 1, 2, 3, 4, 5].map((j) => prepare(h.map((r) => r[j])))];
});
time('array literals, records and summaries joined', () => {
  const h = historyRows();
  return [batch.map((e) => e.json).join(RS), batch.map((e) => e.summary ?? '').join(RS), ...[0, 1, 2, 3, 4, 5].map((j) => prepare(h.map((r) => r[j])))];
});
time('JSON fields and history, records and summaries joined (PgEventStore)', () => {
  const meta = batch.map((e, i) => ({ i, a: e.accountId, e: e.eventId, s: i, r: e.region, t: e.eventTimeSec, h: e.history !== undefined }));
  const hist = batch.flatMap((e, i) => (e.history ?? []).map(([k, v]) => ({ s: i, k, v })));
  return [batch.map((e) => e.json).join(RS), batch.map((e) => e.summary ?? '').join(RS), JSON.stringify(meta), JSON.stringify(hist)];
});
