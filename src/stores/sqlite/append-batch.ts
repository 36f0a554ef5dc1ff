/**
 * The form in which an append's events travel to the writer thread (docs/storage.md "Hand-off to
 * the writer thread").
 *
 * A structured clone of `AppendInput` objects costs on both sides per event: every object's
 * property names, every history pair's array, and the record's ~1.4 KB string, which the writer
 * then turned back into UTF-8 for its block. Here a batch is a few flat arrays instead: the
 * records' UTF-8 bytes, each followed by its summary's and its history pairs' (the flat form,
 * src/stores/flat-append.ts), in one buffer that is transferred (moved, not copied), their end
 * offsets, the short strings (account, region, eventId) in one array. The writer copies each
 * record's bytes into its block as they are and reads the summary and history strings from the
 * bytes. A record its producer already laid out so (`AppendInput.flat`, or its bytes alone:
 * `AppendInput.utf8`) is copied, not encoded again.
 */
import { flatTailBytes, putHistory } from '../flat-append.ts';
import type { AppendInput, FlatAppend } from '../event-store.ts';

export interface PackedBatch {
  n: number;
  /**
   * Each record in the flat form (src/stores/flat-append.ts), one after another: its JSON's UTF-8,
   * its summary's, its history pairs'.
   */
  bytes: Uint8Array;
  /** Per record: where its JSON's UTF-8 ends in `bytes` (it starts where record i - 1's run ended, or at 0). */
  ends: Uint32Array;
  /** Per record: where its summary ends (it starts at `ends[i]`); -1 when none. */
  summaryEnds: Int32Array;
  /** Per record: where its history pairs end (they start after the summary); -1 when not in Event history. */
  historyEnds: Int32Array;
  /** Per record: accountId, region, eventId. */
  strs: string[];
  times: Float64Array;
}

/** Where record i's run starts in a packed batch. */
export const packedStart = (p: PackedBatch, i: number): number => (i === 0 ? 0 : Math.max(p.ends[i - 1]!, p.summaryEnds[i - 1]!, p.historyEnds[i - 1]!));

/** Packs a batch; the returned buffer list is what postMessage should transfer. */
export function packBatch(batch: readonly AppendInput[]): { packed: PackedBatch; transfer: ArrayBuffer[] } {
  const n = batch.length;
  let total = 0;
  // Each `flat` asked once (a producer may make it when asked: src/ingest/bulk.ts).
  const flats: (FlatAppend | undefined)[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const e = batch[i]!;
    const flat = (flats[i] = e.flat);
    if (flat !== undefined) total += flat.bytes.length;
    else total += (e.utf8 !== undefined ? e.utf8.length : Buffer.byteLength(e.json, 'utf8')) + flatTailBytes(e.summary, e.history);
  }
  const bytes = new Uint8Array(total);
  const buf = Buffer.from(bytes.buffer, 0, total);
  const ends = new Uint32Array(n);
  const summaryEnds = new Int32Array(n);
  const historyEnds = new Int32Array(n);
  const strs: string[] = new Array(3 * n);
  const times = new Float64Array(n);
  let off = 0;
  for (let i = 0; i < n; i++) {
    const e = batch[i]!;
    strs[3 * i] = e.accountId;
    strs[3 * i + 1] = e.region;
    strs[3 * i + 2] = e.eventId;
    times[i] = e.eventTimeSec;
    const flat = flats[i];
    if (flat !== undefined) {
      // The producer's run, copied whole (the bulk endpoint's records).
      bytes.set(flat.bytes, off);
      ends[i] = off += flat.jsonBytes;
      summaryEnds[i] = flat.summaryBytes < 0 ? -1 : (off += flat.summaryBytes);
      historyEnds[i] = flat.historyBytes < 0 ? -1 : (off += flat.historyBytes);
      continue;
    }
    if (e.utf8 !== undefined) {
      bytes.set(e.utf8, off);
      off += e.utf8.length;
    } else off += buf.write(e.json, off, 'utf8');
    ends[i] = off;
    const summary = e.summary;
    summaryEnds[i] = summary === undefined ? -1 : (off += buf.write(summary, off, 'utf8'));
    const history = e.history;
    historyEnds[i] = history === undefined ? -1 : (off = putHistory(buf, off, history));
  }
  return { packed: { n, bytes, ends, summaryEnds, historyEnds, strs, times }, transfer: [bytes.buffer as ArrayBuffer] };
}
