/**
 * BucketReader over the filesystem bucket of FsObjectStore: `<root>/<bucket>/<key>`, user metadata
 * in `<file>.meta.json`. Listing walks only the directories that can hold keys after `startAfter`
 * and yields keys in S3's order.
 */
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join, normalize, sep } from 'node:path';
import { BucketReadError, type BucketObject, type BucketReader } from '../bucket-reader.ts';

const META_SUFFIX = '.meta.json';

/** Files FsObjectStore writes beside objects: metadata and in-flight temporaries. */
function isSidecar(name: string): boolean {
  return name.endsWith(META_SUFFIX) || /\.tmp-\d+-\d+$/.test(name);
}

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

  private async bucketDir(bucket: string, operation: string): Promise<string> {
    const dir = join(this.root, bucket);
    let ok = false;
    if (/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      try {
        ok = (await stat(dir)).isDirectory();
      } catch {
        ok = false;
      }
    }
    if (!ok) throw new BucketReadError('NoSuchBucket', operation, 'The specified bucket does not exist');
    return dir;
  }

  async *listKeys(bucket: string, prefix: string, startAfter?: string): AsyncIterable<string> {
    const base = await this.bucketDir(bucket, 'ListObjects');
    // Start at the deepest directory the prefix names; entries there are filtered by the rest.
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash >= 0 ? prefix.slice(0, slash + 1) : '';
    yield* this.walk(base, dirKey, prefix, startAfter);
  }

  /** Keys under the directory `dirKey` (a key prefix ending with `/`, or empty for the bucket). */
  private async *walk(base: string, dirKey: string, prefix: string, startAfter: string | undefined): AsyncGenerator<string> {
    let entries;
    try {
      entries = await readdir(join(base, dirKey), { withFileTypes: true });
    } catch (e) {
      if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') return;
      throw new BucketReadError(errno(e) ?? 'InternalError', 'ListObjects', (e as Error).message, { cause: e });
    }
    // A directory `d` holds exactly the keys starting `d/`: sorting it as `d/` puts its keys where
    // S3 would (no other entry's key starts with `d/`).
    const items = entries
      .filter((e) => e.isDirectory() || (e.isFile() && !isSidecar(e.name)))
      .map((e) => ({ key: dirKey + e.name + (e.isDirectory() ? '/' : ''), dir: e.isDirectory() }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (const it of items) {
      if (it.dir) {
        // Skip a directory when none of its keys can match the prefix or come after startAfter.
        if (!(it.key.startsWith(prefix) || prefix.startsWith(it.key))) continue;
        if (startAfter !== undefined && it.key < startAfter && !startAfter.startsWith(it.key)) continue;
        yield* this.walk(base, it.key, prefix, startAfter);
      } else {
        if (!it.key.startsWith(prefix)) continue;
        if (startAfter !== undefined && it.key <= startAfter) continue;
        yield it.key;
      }
    }
  }

  async getObject(bucket: string, key: string): Promise<BucketObject> {
    const base = await this.bucketDir(bucket, 'GetObject');
    const path = normalize(join(base, key));
    if (!path.startsWith(base + sep) || key.includes('\0') || isSidecar(key)) {
      throw new BucketReadError('NoSuchKey', 'GetObject', 'The specified key does not exist.');
    }
    let fh;
    try {
      fh = await open(path, 'r');
      if (!(await fh.stat()).isFile()) {
        await fh.close();
        fh = undefined;
      }
    } catch (e) {
      await fh?.close();
      if (errno(e) !== 'ENOENT' && errno(e) !== 'ENOTDIR' && errno(e) !== 'EISDIR') {
        throw new BucketReadError(errno(e) ?? 'InternalError', 'GetObject', (e as Error).message, { cause: e });
      }
      fh = undefined;
    }
    if (!fh) throw new BucketReadError('NoSuchKey', 'GetObject', 'The specified key does not exist.');
    const body = fh.createReadStream({ highWaterMark: this.highWaterMark });
    let metadata: Record<string, string> = {};
    try {
      const raw: unknown = JSON.parse(await readFile(`${path}${META_SUFFIX}`, 'utf8'));
      if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
        metadata = Object.fromEntries(
          Object.entries(raw as Record<string, unknown>)
            .filter((e): e is [string, string] => typeof e[1] === 'string')
            .map(([k, v]) => [k.toLowerCase().replace(/^x-amz-meta-/, ''), v]),
        );
      }
    } catch (e) {
      // No sidecar: no metadata. A sidecar that is not JSON counts as no metadata too (tampered).
      if (errno(e) !== 'ENOENT' && !(e instanceof SyntaxError)) {
        body.destroy();
        throw new BucketReadError(errno(e) ?? 'InternalError', 'GetObject', `metadata of ${key}: ${(e as Error).message}`, { cause: e });
      }
    }
    return { metadata, body };
  }
}
