/**
 * Physical floors of this machine, measured in the same run as the figures they bound, so that
 * each figure reads as a ratio to its floor (issue 11 item 5):
 * - fsync rate: 16 KiB appended to a file then fdatasync, one at a time (a group commit's cost);
 * - sequential write: 256 MiB in 1 MiB writes then one fdatasync (the disk's bandwidth);
 * - gzip level 6, gzip at the level delivery's log files use (`gzipLog`, LOG_FILE_GZIP) and zstd
 *   level 3, one core, on bench/gen.ts records as delivery compresses them (NDJSON-ish log text in
 *   1 MiB chunks);
 * - JSON.parse of POST /ingest bodies ({"Records":[...]} of 1,000 records), one core.
 * All on the filesystem that holds the bench's data directories (bench/out and the OS tmpdir are
 * on the same disk here; `dir` says which).
 */
import { closeSync, fdatasyncSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { constants, gzipSync, zstdCompressSync } from 'node:zlib';
import { LOG_FILE_GZIP } from '../src/delivery/log-file.ts';
import { record, type GenParams } from './gen.ts';
import { log, round, summarize } from './lib.ts';

export interface Floors {
  dir: string;
  fsync: { opsPerSecond: number; latencyMs: ReturnType<typeof summarize>; writeBytes: number };
  seqWrite: { MBps: number; bytes: number };
  gzip6: { MBpsPerCore: number; ratio: number };
  /** gzip at the level of delivery's log files (LOG_FILE_GZIP): the floor delivery's figures are divided by. */
  gzipLog: { level: number; MBpsPerCore: number; ratio: number };
  zstd3: { MBpsPerCore: number; ratio: number };
  jsonParse: { MBpsPerCore: number; eventsPerSecondPerCore: number };
  /** Mean bytes of one generated record (the unit the per-event floors are divided by). */
  recordBytes: number;
}

const MB = 1e6;

/** fdatasync after each 16 KiB append, for about `seconds`. */
export function fsyncRate(dir: string, seconds = 2, writeBytes = 16 * 1024): Floors['fsync'] {
  const file = join(dir, 'fsync.tmp');
  const fd = openSync(file, 'w');
  const buf = Buffer.alloc(writeBytes, 0x61);
  const lat: number[] = [];
  try {
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      const s = performance.now();
      writeSync(fd, buf);
      fdatasyncSync(fd);
      lat.push(performance.now() - s);
    }
    const wall = (performance.now() - t0) / 1000;
    return { opsPerSecond: Math.round(lat.length / wall), latencyMs: summarize(lat), writeBytes };
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
}

/** `bytes` written sequentially in 1 MiB writes, then fdatasync; MB/s (10^6 bytes). */
export function seqWrite(dir: string, bytes = 256 * 2 ** 20): Floors['seqWrite'] {
  const file = join(dir, 'seqwrite.tmp');
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(2 ** 20);
  for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((i * 2654435761) >>> 0, i); // not all zeros
  try {
    const t0 = performance.now();
    for (let done = 0; done < bytes; done += chunk.length) writeSync(fd, chunk);
    fdatasyncSync(fd);
    const s = (performance.now() - t0) / 1000;
    return { MBps: round(bytes / MB / s, 1), bytes };
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
}

/** Generated records as text: `count` records, one per line. */
export function sampleRecords(count: number): string[] {
  const p: GenParams = { seed: 4242, count, endMs: Date.UTC(2026, 0, 1), spanMs: 24 * 3600 * 1000 };
  return Array.from({ length: count }, (_, i) => JSON.stringify(record(p, i)));
}

/** Runs `fn` over the inputs repeatedly for about `seconds`; returns input bytes per second. */
function rate(inputs: Buffer[] | string[], bytesOf: (x: Buffer | string) => number, fn: (x: Buffer | string) => void, seconds: number): number {
  for (const x of inputs.slice(0, 2)) fn(x); // warm-up
  let bytes = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    for (const x of inputs) {
      fn(x);
      bytes += bytesOf(x);
    }
  }
  return bytes / ((performance.now() - t0) / 1000);
}

export function compressionFloors(records: string[], seconds = 2): { gzip6: Floors['gzip6']; gzipLog: Floors['gzipLog']; zstd3: Floors['zstd3'] } {
  // 1 MiB chunks of newline-joined records: the size of a delivered log file's worth of records.
  const chunks: Buffer[] = [];
  let cur: string[] = [];
  let len = 0;
  for (const r of records) {
    cur.push(r);
    len += r.length + 1;
    if (len >= 2 ** 20) {
      chunks.push(Buffer.from(cur.join('\n')));
      cur = [];
      len = 0;
    }
  }
  if (cur.length) chunks.push(Buffer.from(cur.join('\n')));
  const total = chunks.reduce((a, c) => a + c.length, 0);
  const size = (x: Buffer | string) => (x as Buffer).length;
  const gz = (x: Buffer | string) => gzipSync(x as Buffer, { level: 6 });
  const gzl = (x: Buffer | string) => gzipSync(x as Buffer, LOG_FILE_GZIP);
  const zs = (x: Buffer | string) => zstdCompressSync(x as Buffer, { params: { [constants.ZSTD_c_compressionLevel]: 3 } });
  const gzOut = chunks.reduce((a, c) => a + gz(c).length, 0);
  const gzlOut = chunks.reduce((a, c) => a + gzl(c).length, 0);
  const zsOut = chunks.reduce((a, c) => a + zs(c).length, 0);
  return {
    gzip6: { MBpsPerCore: round(rate(chunks, size, gz, seconds) / MB, 1), ratio: round(total / gzOut, 2) },
    gzipLog: { level: LOG_FILE_GZIP.level, MBpsPerCore: round(rate(chunks, size, gzl, seconds) / MB, 1), ratio: round(total / gzlOut, 2) },
    zstd3: { MBpsPerCore: round(rate(chunks, size, zs, seconds) / MB, 1), ratio: round(total / zsOut, 2) },
  };
}

export function jsonParseFloor(records: string[], seconds = 2, batch = 1000): Floors['jsonParse'] {
  const bodies: string[] = [];
  for (let i = 0; i < records.length; i += batch) bodies.push(`{"Records":[${records.slice(i, i + batch).join(',')}]}`);
  const bytes = bodies.reduce((a, b) => a + Buffer.byteLength(b), 0);
  const perEvent = bytes / records.length;
  const bps = rate(bodies, (x) => (x as string).length, (x) => JSON.parse(x as string), seconds);
  return { MBpsPerCore: round(bps / MB, 1), eventsPerSecondPerCore: Math.round(bps / perEvent) };
}

export function measureFloors(dir: string): Floors {
  mkdirSync(dir, { recursive: true });
  log(`floors: fsync rate, sequential write in ${dir}`);
  const fsync = fsyncRate(dir);
  const seq = seqWrite(dir);
  log('floors: gzip, zstd, JSON.parse');
  const records = sampleRecords(20_000);
  const recordBytes = Math.round(records.reduce((a, r) => a + Buffer.byteLength(r), 0) / records.length);
  const out: Floors = { dir, fsync, seqWrite: seq, ...compressionFloors(records), jsonParse: jsonParseFloor(records), recordBytes };
  rmSync(dir, { recursive: true, force: true });
  log(`floors: fsync ${out.fsync.opsPerSecond}/s, write ${out.seqWrite.MBps} MB/s, gzip-6 ${out.gzip6.MBpsPerCore} MB/s, gzip-${out.gzipLog.level} (log files) ${out.gzipLog.MBpsPerCore} MB/s, zstd-3 ${out.zstd3.MBpsPerCore} MB/s, JSON.parse ${out.jsonParse.MBpsPerCore} MB/s per core`);
  return out;
}

/** One figure beside its floor. */
export interface VsFloor {
  figure: number;
  unit: string;
  floor: number;
  floorName: string;
  /** figure / floor. */
  ratio: number;
  meaning: string;
}

export function vsFloor(figure: number, unit: string, floor: number, floorName: string, meaning: string): VsFloor {
  return { figure: round(figure, 1), unit, floor: round(floor, 1), floorName, ratio: round(figure / floor, 3), meaning };
}
