/**
 * The form in which an append's events travel to the writer thread (docs/storage.md "Hand-off to
 * the writer thread").
 *
 * A structured clone of `AppendInput` objects costs on both sides per event: every object's
 * property names, every history pair's array, and the record's ~1.4 KB string, which the writer
 * then turned back into UTF-8 for its block. Here a batch is a few flat arrays instead: the
 * records' UTF-8 bytes in one buffer that is transferred (moved, not copied), their end offsets,
 * the short strings (account, region, eventId, summary) in one array, the history pairs flattened
 * into another. The writer copies each record's bytes into its block as they are. A record whose
 * bytes its producer already made (`AppendInput.utf8`) is copied, not encoded again.
 */
import type { AppendInput } from '../event-store.ts';

export interface PackedBatch {
  n: number;
  /** The records' JSON, UTF-8, one after another. */
  bytes: Uint8Array;
  /** End offset of record i in `bytes` (its start is the end of i - 1, or 0). */
  ends: Uint32Array;
  /** Per record: accountId, region, eventId, summary (null when none). */
  strs: (string | null)[];
  times: Float64Array;
  /** History pairs of every record, flattened: attribute, value, attribute, value, ... */
  hist: string[];
  /** Per record: its first index in `hist`, or -1 when the record is not in Event history. */
  histStart: Int32Array;
  /** Per record: the index in `hist` after its last pair. */
  histEnd: Int32Array;
}

/** Packs a batch; the returned buffer list is what postMessage should transfer. */
export function packBatch(batch: readonly AppendInput[]): { packed: PackedBatch; transfer: ArrayBuffer[] } {
  const n = batch.length;
  const ends = new Uint32Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const e = batch[i]!;
    total += e.utf8 !== undefined ? e.utf8.length : Buffer.byteLength(e.json, 'utf8');
    ends[i] = total;
  }
  const bytes = new Uint8Array(total);
  const buf = Buffer.from(bytes.buffer, 0, total);
  const strs: (string | null)[] = new Array(4 * n);
  const times = new Float64Array(n);
  const hist: string[] = [];
  const histStart = new Int32Array(n);
  const histEnd = new Int32Array(n);
  let off = 0;
  for (let i = 0; i < n; i++) {
    const e = batch[i]!;
    if (e.utf8 !== undefined) {
      bytes.set(e.utf8, off);
      off += e.utf8.length;
    } else off += buf.write(e.json, off, 'utf8');
    strs[4 * i] = e.accountId;
    strs[4 * i + 1] = e.region;
    strs[4 * i + 2] = e.eventId;
    strs[4 * i + 3] = e.summary ?? null;
    times[i] = e.eventTimeSec;
    if (e.history === undefined) {
      histStart[i] = -1;
      histEnd[i] = -1;
      continue;
    }
    histStart[i] = hist.length;
    for (const [k, v] of e.history) hist.push(k, v);
    histEnd[i] = hist.length;
  }
  return { packed: { n, bytes, ends, strs, times, hist, histStart, histEnd }, transfer: [bytes.buffer as ArrayBuffer] };
}
