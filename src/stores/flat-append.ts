/**
 * The flat form of an append's bytes: a record's UTF-8, then its Event history summary's, then its
 * history pairs (each string a 4-byte little-endian length and its UTF-8), one after another. The
 * bulk endpoint writes each admitted record so into its request's buffers (src/ingest/bulk.ts,
 * `AppendInput.flat`) and the SQLite store's hand-off to its writer thread carries every record so
 * (src/stores/sqlite/append-batch.ts): no summary string or history array stays on the heap from
 * admit to commit, and none is cloned between threads (docs/performance.md, "Issue 11, eighth round").
 */
import type { LookupAttribute } from './event-store.ts';

/** An upper bound of the bytes of the summary and history pairs in the flat form (UTF-8: at most 3 bytes per UTF-16 code unit). */
export function flatTailMost(summary: string | undefined, history: readonly LookupAttribute[] | undefined): number {
  let most = summary === undefined ? 0 : summary.length * 3;
  if (history !== undefined) for (const [k, v] of history) most += 8 + (k.length + v.length) * 3;
  return most;
}

/** The exact bytes of the summary and history pairs in the flat form. */
export function flatTailBytes(summary: string | undefined, history: readonly LookupAttribute[] | undefined): number {
  let n = summary === undefined ? 0 : Buffer.byteLength(summary, 'utf8');
  if (history !== undefined) for (const [k, v] of history) n += 8 + Buffer.byteLength(k, 'utf8') + Buffer.byteLength(v, 'utf8');
  return n;
}

/** Writes the history pairs at `off` (room made by the caller); returns the offset after them. */
export function putHistory(buf: Buffer, off: number, history: readonly LookupAttribute[]): number {
  for (const [k, v] of history) {
    off = putString(buf, off, k);
    off = putString(buf, off, v);
  }
  return off;
}

function putString(buf: Buffer, off: number, s: string): number {
  const n = buf.write(s, off + 4, 'utf8');
  buf.writeUInt32LE(n, off);
  return off + 4 + n;
}

/** The history pairs in buf[from, to), pushed flat (attribute, value, ...) onto `out`. */
export function readHistoryInto(buf: Buffer, from: number, to: number, out: string[]): void {
  let at = from;
  while (at < to) {
    const n = buf.readUInt32LE(at);
    out.push(buf.toString('utf8', at + 4, at + 4 + n));
    at += 4 + n;
  }
}

/** The history pairs in buf[from, to), as pairs. */
export function readHistory(buf: Buffer, from: number, to: number): [string, string][] {
  const flat: string[] = [];
  readHistoryInto(buf, from, to, flat);
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

