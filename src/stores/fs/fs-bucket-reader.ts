/**
 * BucketReader over the filesystem bucket of FsObjectStore: `<root>/<bucket>/<key>`, user metadata
 * in `<file>.meta.json`. Listing walks only the directories that can hold keys after `startAfter`
 * and yields keys in S3's order.
 */
import { open, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join, normalize, sep } from 'node:path';
import { BucketReadError, type BucketObject, type BucketReader } from '../bucket-reader.ts';
import { compareKeys, isListablePrefix, isSidecar, isWithin, keyProblem, META_SUFFIX, resolvesWithin } from './fs-paths.ts';

function errno(e: unknown): string | undefined {
  return (e as { code?: string }).code;
}

export class FsBucketReader implements BucketReader {
  private readonly root: string;
  /** Read size for object bodies: large reads keep gunzip and hashing busy. */
  private readonly highWaterMark: number;

  constructor(root: string, opts: { highWaterMark?: number } = {}) {
    this.root = root;
    this.highWaterMark = opts.highWaterMark ?? 1 << 20;
  }

  /** The bucket directory and its real path (the boundary no read may cross). */
  private async bucketDir(bucket: string, operation: string): Promise<{ dir: string; real: string }> {
    const dir = join(this.root, bucket);
    let real: string | undefined;
    if (/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      try {
        if ((await stat(dir)).isDirectory()) real = await realpath(dir);
      } catch {
        real = undefined;
      }
    }
    if (real === undefined) throw new BucketReadError('NoSuchBucket', operation, 'The specified bucket does not exist');
    return { dir, real };
  }

  async *listKeys(bucket: string, prefix: string, startAfter?: string): AsyncIterable<string> {
    const { dir: base, real } = await this.bucketDir(bucket, 'ListObjects');
    // A prefix whose directory part has `..`, `.` or empty segments (or NUL, or a leading /) matches
    // no key of the bucket: listing it must not walk anywhere.
    if (!isListablePrefix(prefix)) return;
    // Start at the deepest directory the prefix names; entries there are filtered by the rest.
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash >= 0 ? prefix.slice(0, slash + 1) : '';
    // That directory must really be inside the bucket (a symlink on the way could lead out).
    if (!(await resolvesWithin(real, join(base, dirKey)))) return;
    yield* this.walk(base, dirKey, prefix, startAfter);
  }

  /** Keys under the directory `dirKey` (a key prefix ending with `/`, or empty for the bucket). */
  private async *walk(base: string, dirKey: string, prefix: string, startAfter: string | undefined): AsyncGenerator<string> {
    let entries;
    try {
      entries = await readdir(join(base, dirKey), { withFileTypes: true });
    } catch (e) {
      if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR' || errno(e) === 'ENAMETOOLONG') return;
      throw new BucketReadError(errno(e) ?? 'InternalError', 'ListObjects', (e as Error).message, { cause: e });
    }
    // A directory `d` holds exactly the keys starting `d/`: sorting it as `d/` puts its keys where
    // S3 would (no other entry's key starts with `d/`). S3's order is by UTF-8 bytes (compareKeys).
    const items = entries
      .filter((e) => e.isDirectory() || (e.isFile() && !isSidecar(e.name)))
      .map((e) => ({ key: dirKey + e.name + (e.isDirectory() ? '/' : ''), dir: e.isDirectory() }))
      .sort((a, b) => compareKeys(a.key, b.key));
    for (const it of items) {
      if (it.dir) {
        // Skip a directory when none of its keys can match the prefix or come after startAfter.
        if (!(it.key.startsWith(prefix) || prefix.startsWith(it.key))) continue;
        if (startAfter !== undefined && compareKeys(it.key, startAfter) < 0 && !startAfter.startsWith(it.key)) continue;
        yield* this.walk(base, it.key, prefix, startAfter);
      } else {
        if (!it.key.startsWith(prefix)) continue;
        if (startAfter !== undefined && compareKeys(it.key, startAfter) <= 0) continue;
        yield it.key;
      }
    }
  }

  async getObject(bucket: string, key: string): Promise<BucketObject> {
    const { dir: base, real } = await this.bucketDir(bucket, 'GetObject');
    const path = normalize(join(base, key));
    // Keys that do not map one to one to a file of the bucket, and files reached through a symlink
    // that leads out of it, do not exist as far as the bucket is concerned.
    if (keyProblem(key) !== undefined || !path.startsWith(base + sep) || !(await resolvesWithin(real, path))) {
      throw new BucketReadError('NoSuchKey', 'GetObject', 'The specified key does not exist.');
    }
    let fh;
    let size = 0;
    try {
      fh = await open(path, 'r');
      const st = await fh.stat();
      size = st.size;
      if (!st.isFile()) {
        await fh.close();
        fh = undefined;
      }
    } catch (e) {
      await fh?.close();
      if (errno(e) !== 'ENOENT' && errno(e) !== 'ENOTDIR' && errno(e) !== 'EISDIR' && errno(e) !== 'ENAMETOOLONG') {
        throw new BucketReadError(errno(e) ?? 'InternalError', 'GetObject', (e as Error).message, { cause: e });
      }
      fh = undefined;
    }
    if (!fh) throw new BucketReadError('NoSuchKey', 'GetObject', 'The specified key does not exist.');
    // Each read allocates a buffer of highWaterMark bytes: a file smaller than that is read into one
    // of its own size (a 1 MiB buffer per 80 KB log file was most of validate-logs' collections).
    const body = fh.createReadStream({ highWaterMark: Math.max(1, Math.min(this.highWaterMark, size)) });
    let metadata: Record<string, string> = {};
    try {
      // A sidecar reached through a symlink out of the bucket counts as none.
      const metaPath = `${path}${META_SUFFIX}`;
      const metaReal = await realpath(metaPath);
      if (!isWithin(real, metaReal)) throw Object.assign(new Error('metadata outside the bucket'), { code: 'ENOENT' });
      const raw: unknown = JSON.parse(await readFile(metaReal, 'utf8'));
      if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
        metadata = Object.fromEntries(
          Object.entries(raw as Record<string, unknown>)
            .filter((e): e is [string, string] => typeof e[1] === 'string')
            .map(([k, v]) => [k.toLowerCase().replace(/^x-amz-meta-/, ''), v]),
        );
      }
    } catch (e) {
      // No sidecar: no metadata. A sidecar that is not JSON counts as no metadata too (tampered).
      if (errno(e) !== 'ENOENT' && errno(e) !== 'ENAMETOOLONG' && !(e instanceof SyntaxError)) {
        body.destroy();
        throw new BucketReadError(errno(e) ?? 'InternalError', 'GetObject', `metadata of ${key}: ${(e as Error).message}`, { cause: e });
      }
    }
    return { metadata, body };
  }
}
