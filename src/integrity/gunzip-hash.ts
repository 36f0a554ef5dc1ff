/**
 * Gunzip + SHA-256 of a log file as its bytes arrive, with no output buffer per file.
 *
 * `zlib.gunzip` and gunzip streams give each piece of output a new buffer: for a day of log files
 * (206 MB inflated) that is ~50k page faults of fresh memory, a round trip to the libuv pool per
 * call, and garbage that keeps V8's collector busy: about 1 s of CPU, more than half of what
 * `opentrail validate-logs` spends (docs/performance.md "validate-logs, third round"). Here each
 * network chunk is inflated synchronously, on the main thread, into one 256 KiB buffer that is
 * hashed and reused at once: the same zlib (Node's own, with its gzip member handling and CRC
 * checks), ~0.45 s of CPU for that day instead of ~1.05 s.
 *
 * Node has no public call that inflates into a caller's buffer, so this drives the native handle of
 * a `zlib.Gunzip` (`_handle.writeSync`, the call Node's own `zlib.gunzipSync` makes) and reads the
 * result from `_writeState`, as Node's processChunkSync does. Both are checked once at load; where
 * they are not as expected (another Node), `gunzipHasher()` returns undefined and the caller uses
 * its public-API path. src/integrity/gunzip-hash.test.ts compares the two on every kind of input.
 */
import { createHash, type Hash } from 'node:crypto';
import { constants, createGunzip, gzipSync, type Gunzip } from 'node:zlib';

const OUT_BYTES = 256 * 1024;

/** The native zlib handle as Node's zlib.js uses it (lib/zlib.js, Node 18-24). */
interface ZlibHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
  reset(): void;
  onerror: (message: string, errno: number, code: string) => void;
}

interface Inflater {
  stream: Gunzip;
  handle: ZlibHandle;
  /** [avail_out, avail_in] after each write. */
  state: Uint32Array;
  error?: { message: string; code: string };
}

/** What a whole file gave: the SHA-256 (hex) of what inflated, and whether the gzip stream was sound. */
export interface GunzipHashResult {
  sha256: string;
  /** false: the stream ended early (cut) - what inflated before the cut is hashed, as the AWS CLI does. */
  complete: boolean;
}

/** One file in progress: `write` each chunk, then `end`. A corrupt stream throws (from either). */
export interface GunzipHashJob {
  write(chunk: Uint8Array): void;
  end(): GunzipHashResult;
  /** Gives the inflater back without a result (the body failed). */
  abort(): void;
}

function newInflater(): Inflater | undefined {
  const stream = createGunzip() as Gunzip & { _handle?: unknown; _writeState?: unknown };
  const handle = stream._handle as ZlibHandle | undefined;
  const state = stream._writeState;
  if (!handle || typeof handle.writeSync !== 'function' || typeof handle.reset !== 'function' || !(state instanceof Uint32Array) || state.length < 2) {
    stream.close();
    return undefined;
  }
  const inf: Inflater = { stream, handle, state };
  // The handle reports errors through this callback, synchronously within writeSync.
  handle.onerror = (message, _errno, code) => {
    inf.error = { message, code };
  };
  return inf;
}

/** Inflaters and the output buffer, reused from file to file (all work is synchronous on one thread). */
export class GunzipHasher {
  private readonly out = Buffer.allocUnsafe(OUT_BYTES);
  private readonly idle: Inflater[] = [];

  private acquire(): Inflater {
    return this.idle.pop() ?? newInflater()!;
  }

  private release(inf: Inflater): void {
    if (inf.error) {
      inf.stream.close();
      return;
    }
    inf.handle.reset();
    if (this.idle.length < 64) this.idle.push(inf);
    else inf.stream.close();
  }

  /**
   * Inflates `input` with `flush` into the shared buffer, hashing every byte out. Returns true when
   * input was left over with output space to spare: the last member ended and the rest starts with a
   * zero byte, which zlib (as Node drives it) takes for padding and never reads past.
   */
  private pump(inf: Inflater, hash: Hash, input: Uint8Array, flush: number): boolean {
    let inOff = 0;
    let inLen = input.length;
    const out = this.out;
    for (;;) {
      inf.handle.writeSync(flush, input, inOff, inLen, out, 0, out.length);
      if (inf.error) return false;
      const availOut = inf.state[0]!;
      const availIn = inf.state[1]!;
      if (availOut < out.length) hash.update(out.subarray(0, out.length - availOut));
      inOff += inLen - availIn;
      inLen = availIn;
      // Output space left: zlib took what it could of the input (or the stream ended).
      if (availOut !== 0) return inLen > 0;
    }
  }

  start(): GunzipHashJob {
    const inf = this.acquire();
    const hash = createHash('sha256');
    let done = false;
    // Padding seen after the last member: what follows is ignored, wherever the chunks are cut, as a
    // one-shot gunzip of the whole file ignores it (else a non-zero byte after the zeros, arriving in a
    // later chunk, would be taken for the start of another member).
    let padded = false;
    const fail = (): never => {
      done = true;
      const e = inf.error!;
      this.release(inf);
      throw Object.assign(new Error(e.message), { code: e.code });
    };
    return {
      write: (chunk) => {
        if (done || padded) return;
        padded = this.pump(inf, hash, chunk, constants.Z_NO_FLUSH);
        if (inf.error) fail();
      },
      end: () => {
        if (done) throw new Error('gunzip job already ended');
        // Every byte the input can give has been taken out already; Z_FINISH says whether the stream ended.
        if (!padded) this.pump(inf, hash, EMPTY, constants.Z_FINISH);
        let complete = true;
        if (inf.error) {
          if (inf.error.code !== 'Z_BUF_ERROR') fail();
          complete = false;
        }
        done = true;
        this.release(inf);
        return { sha256: hash.digest('hex'), complete };
      },
      abort: () => {
        if (done) return;
        done = true;
        inf.error ??= { message: 'aborted', code: 'ABORTED' };
        this.release(inf);
      },
    };
  }

  close(): void {
    for (const inf of this.idle.splice(0)) inf.stream.close();
  }
}

const EMPTY = new Uint8Array(0);

let usable: boolean | undefined;

/** A hasher when this Node's zlib is as expected (checked once: it inflates a known member), else undefined. */
export function gunzipHasher(): GunzipHasher | undefined {
  if (usable === undefined) {
    usable = false;
    const probe = newInflater();
    if (probe) {
      probe.stream.close();
      try {
        // Checks that writeSync fills the caller's buffer and reports through _writeState.
        const gz = gzipSync('ok\n');
        const h = new GunzipHasher();
        const job = h.start();
        job.write(gz);
        const r = job.end();
        h.close();
        usable = r.complete && r.sha256 === createHash('sha256').update('ok\n').digest('hex');
      } catch {
        usable = false;
      }
    }
  }
  return usable ? new GunzipHasher() : undefined;
}
