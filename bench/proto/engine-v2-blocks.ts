/**
 * Block size for events.db layout 2: compressed bytes per event and decode time per block for
 * B events per block (zstd level 3), over bench/gen.ts records. JSON on stdout.
 *   node bench/proto/engine-v2-blocks.ts
 */
import { decodeBlock, encodeBlock } from '../../src/stores/sqlite/event-format.ts';
import { pool } from './engine-v2-pool.ts';

const p = pool(8192);
const events = p.map((e, i) => ({ seq: i + 1, accountId: e.accountId, region: e.region, eventId: e.eventId, eventTimeSec: e.eventTimeSec, inHistory: true, json: e.json, summary: e.summary }));
const rawBytes = events.reduce((s, e) => s + Buffer.byteLength(e.json), 0) / events.length;
const out: Record<string, unknown>[] = [];
for (const B of [1, 8, 16, 32, 64, 128]) {
  const blocks: Buffer[] = [];
  let t = performance.now();
  for (let i = 0; i < events.length; i += B) blocks.push(encodeBlock(events.slice(i, i + B)));
  const encodeUsPerEvent = ((performance.now() - t) * 1000) / events.length;
  const bytes = blocks.reduce((s, b) => s + b.length, 0);
  t = performance.now();
  for (const b of blocks) decodeBlock(b);
  const decodeUsPerBlock = ((performance.now() - t) * 1000) / blocks.length;
  out.push({ B, bytesPerEvent: +(bytes / events.length).toFixed(0), ratio: +(rawBytes / (bytes / events.length)).toFixed(2), encodeUsPerEvent: +encodeUsPerEvent.toFixed(1), decodeUsPerBlock: +decodeUsPerBlock.toFixed(0), lookup50Ms: +((50 * decodeUsPerBlock) / 1000).toFixed(2) });
}
console.log(JSON.stringify({ rawBytesPerEvent: Math.round(rawBytes), blocks: out }, null, 1));
