/**
 * Where an import reads trail log files from: a bucket prefix, listed in S3's key order and staged
 * as local files DuckDB can read. Two kinds:
 *
 * - `LocalLogSource`: a folder on this machine (a filesystem bucket of the object store, or a
 *   `file://` URI the configuration allows): files are read where they are, never copied. Symlinks
 *   are not followed, so nothing outside the folder is read.
 * - `BucketLogSource`: any `BucketReader` (S3 through the S3 driver): each object is downloaded into
 *   a staging folder first.
 *
 * The composition root (src/server.ts) picks one for a source URI (`openSource`).
 */
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { BucketReader } from '../../stores/bucket-reader.ts';

/** A source file made readable by DuckDB, or why it could not be. */
export type StagedFile = { key: string; path: string } | { key: string; error: { type: string; message: string } };

export interface LogSource {
  /** What failure locations are reported under: `s3://bucket/` or `file:///dir/`. */
  readonly locationBase: string;
  /** Keys below the prefix after `startAfter`, ascending by UTF-8 bytes (S3's order). */
  list(startAfter?: string): AsyncIterable<string>;
  /** Makes `keys` readable as local files; `dir` is an empty folder the caller removes afterwards. */
  stage(keys: readonly string[], dir: string): Promise<StagedFile[]>;
  close(): void;
}

/** S3's key order: by UTF-8 bytes (JavaScript's `<` compares UTF-16 code units). */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

export class LocalLogSource implements LogSource {
  readonly locationBase: string;
  private readonly root: string;
  private readonly prefix: string;

  /** `root`: an absolute folder; `prefix`: keys below it (`AWSLogs/123456789012/`), '' for all. */
  constructor(root: string, prefix: string, locationBase: string) {
    this.root = root;
    this.prefix = prefix;
    this.locationBase = locationBase;
  }

  async *list(startAfter?: string): AsyncIterable<string> {
    yield* this.walk('', startAfter);
  }

  private async *walk(dirKey: string, startAfter: string | undefined): AsyncGenerator<string> {
    let entries;
    try {
      entries = await readdir(join(this.root, dirKey), { withFileTypes: true });
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
      if (dirKey !== '') return;
      throw Object.assign(new Error(`The source folder ${this.locationBase} does not exist.`), { code: 'NoSuchBucket' });
    }
    // A folder `d` holds exactly the keys that start `d/`: sorted as `d/`, its keys fall where S3 puts them.
    const items = entries
      .filter((e) => e.isDirectory() || e.isFile())
      .map((e) => ({ key: dirKey + e.name + (e.isDirectory() ? '/' : ''), dir: e.isDirectory() }))
      .sort((a, b) => compareKeys(a.key, b.key));
    for (const it of items) {
      if (it.dir) {
        if (!(it.key.startsWith(this.prefix) || this.prefix.startsWith(it.key))) continue;
        if (startAfter !== undefined && compareKeys(it.key, startAfter) < 0 && !startAfter.startsWith(it.key)) continue;
        yield* this.walk(it.key, startAfter);
      } else {
        if (!it.key.startsWith(this.prefix)) continue;
        if (startAfter !== undefined && compareKeys(it.key, startAfter) <= 0) continue;
        yield it.key;
      }
    }
  }

  async stage(keys: readonly string[]): Promise<StagedFile[]> {
    const realRoot = await realpath(this.root);
    return Promise.all(keys.map(async (key): Promise<StagedFile> => {
      try {
        const real = await realpath(join(this.root, key));
        if (!real.startsWith(realRoot + sep)) return { key, error: { type: 'NoSuchKey', message: 'The file is outside the source folder.' } };
        return { key, path: real };
      } catch (e) {
        return { key, error: { type: (e as { code?: string }).code ?? 'ReadError', message: (e as Error).message } };
      }
    }));
  }

  close(): void {
    // Nothing held.
  }
}

export class BucketLogSource implements LogSource {
  readonly locationBase: string;
  private readonly reader: BucketReader;
  private readonly bucket: string;
  private readonly prefix: string;
  /** Objects fetched at once. */
  private readonly concurrency: number;

  constructor(reader: BucketReader, bucket: string, prefix: string, opts: { concurrency?: number } = {}) {
    this.reader = reader;
    this.bucket = bucket;
    this.prefix = prefix;
    this.locationBase = `s3://${bucket}/`;
    this.concurrency = opts.concurrency ?? 16;
  }

  list(startAfter?: string): AsyncIterable<string> {
    return this.reader.listKeys(this.bucket, this.prefix, startAfter);
  }

  async stage(keys: readonly string[], dir: string): Promise<StagedFile[]> {
    await mkdir(dir, { recursive: true });
    const out: StagedFile[] = new Array<StagedFile>(keys.length);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < keys.length; i = next++) {
        const key = keys[i]!;
        const path = join(dir, `${i}.json.gz`);
        try {
          const obj = await this.reader.getObject(this.bucket, key);
          await pipeline(obj.body, createWriteStream(path));
          out[i] = { key, path };
        } catch (e) {
          out[i] = { key, error: { type: (e as { code?: string }).code ?? 'ReadError', message: (e as Error).message } };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, keys.length) }, worker));
    return out;
  }

  close(): void {
    this.reader.close?.();
  }
}
