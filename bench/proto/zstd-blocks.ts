/**
 * zstd options for the writer's blocks (docs/performance.md "Issue 11, fifth round: the writer"):
 * bytes per event and CPU per event of compressing blocks of B bench records (as encodeBlock lays
 * them out), for each level, with node's one-shot call (a context per call) and with one context
 * reused through its stream handle. JSON on stdout.
 *   node bench/proto/zstd-blocks.ts [B=8] [rounds=5]
 */
import zlib, { constants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { pool } from './engine-v2-pool.ts';

const B = Number(process.argv[2] ?? 8);
const ROUNDS = Number(process.argv[3] ?? 5);
const p = pool(8192);
// Block payloads laid out as encodeBlock does: u32 header length, JSON header, records.
const payloads: Buffer[] = [];
for (let i = 0; i < p.length; i += B) {
  const run = p.slice(i, i + B);
  const header = Buffer.from(JSON.stringify(run.map((e, j) => [i + j + 1, e.accountId, e.region, e.eventId, e.eventTimeSec, 1, Buffer.byteLength(e.json), e.summary ?? null])));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(header.length);
  payloads.push(Buffer.concat([len, header, ...run.map((e) => Buffer.from(e.json))]));
}
const rawPerEvent = payloads.reduce((s, b) => s + b.length, 0) / p.length;
const cpu = () => {
  const u = process.threadCpuUsage();
  return u.user + u.system;
};

function sized(level: number, b: Uint8Array): Record<number, number> {
  const windowLog = Math.max(10, Math.min(21, Math.ceil(Math.log2(Math.max(1, b.length)))));
  const tableLog = Math.min(windowLog - 1, 16);
  return { [constants.ZSTD_c_compressionLevel]: level, [constants.ZSTD_c_windowLog]: windowLog, [constants.ZSTD_c_hashLog]: tableLog, [constants.ZSTD_c_chainLog]: tableLog };
}

interface Handle { writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void; reset(): void }
function reusedContext(params: Record<number, number>): (b: Uint8Array) => Buffer {
  const s = new zlib.ZstdCompress({ params }) as unknown as { _handle: Handle; _writeState: Uint32Array };
  const out = Buffer.allocUnsafe(256 * 1024);
  return (b) => {
    s._handle.writeSync(constants.ZSTD_e_end, b, 0, b.length, out, 0, out.length);
    const [availOut, availIn] = s._writeState;
    if (availIn !== 0 || availOut === 0) throw new Error('frame not finished');
    const n = out.length - availOut!;
    // No reset(): node's resets the parameters too; a frame ended with ZSTD_e_end leaves the
    // context ready for the next frame with the same parameters.
    return Buffer.from(out.subarray(0, n));
  };
}

const variants: [string, (b: Uint8Array) => Buffer][] = [];
for (const level of [3, 1, -1, -3, -5]) {
  variants.push([`oneshot-sized L${level}`, (b) => zstdCompressSync(b, { params: sized(level, b) })]);
  variants.push([`reused L${level}`, reusedContext({ [constants.ZSTD_c_compressionLevel]: level })]);
}
const best = new Map<string, { us: number; bytes: number }>();
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, fn] of variants) {
    let bytes = 0;
    const c0 = cpu();
    for (const b of payloads) bytes += fn(b).length;
    const us = (cpu() - c0) / p.length;
    // Round trip check with node's decoder (standard frames).
    if (r === 0) for (const b of payloads.slice(0, 20)) if (!zstdDecompressSync(fn(b)).equals(b)) throw new Error(`${name}: round trip`);
    const prev = best.get(name);
    if (!prev || us < prev.us) best.set(name, { us, bytes: bytes / p.length });
  }
}
const results = [...best].map(([name, b]) => ({ name, bytesPerEvent: Math.round(b.bytes), minCpuUsPerEvent: +b.us.toFixed(2) }));
console.log(JSON.stringify({ blockEvents: B, rounds: ROUNDS, rawBytesPerEvent: Math.round(rawPerEvent), results }));
