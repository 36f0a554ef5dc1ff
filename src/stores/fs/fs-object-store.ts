/**
 * ObjectStore on the filesystem: each bucket is a directory under the root, each key a file path
 * below it. No policies. Metadata lives beside the object in `<file>.meta.json`.
 */
import { mkdir, open, rename, stat } from 'node:fs/promises';
import { dirname, join, normalize, sep } from 'node:path';
import { ObjectStoreError, type ObjectStore, type PutOptions } from '../object-store.ts';
import { bucketPaths, keyProblem, META_SUFFIX, resolvesWithin } from './fs-paths.ts';

export class FsObjectStore implements ObjectStore {
  readonly kind = 'filesystem' as const;
  private readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  async bucketExists(bucket: string): Promise<boolean> {
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) return false;
    try {
      return (await stat(join(this.root, bucket))).isDirectory();
    } catch {
      return false;
    }
  }

  missingBucketHint(bucket: string): string {
    return `OpenTrail's filesystem object store holds each bucket as a directory: create the directory ${join(this.root, bucket)} on the server (objectStore.root, default <dataDir>/buckets).`;
  }

  async bucketPolicy(): Promise<string | undefined> {
    return undefined;
  }

  /**
   * The object's path. Refused (InvalidKey): keys that do not map one to one to a file below the
   * bucket directory (`..`, `.` or empty segments, a leading `/`, NUL, the store's sidecar names).
   */
  objectPath(bucket: string, key: string): string {
    const problem = keyProblem(key);
    if (problem) throw new ObjectStoreError('InvalidKey', `Key ${JSON.stringify(key.slice(0, 200))} is not a valid object key: ${problem}.`);
    const base = join(this.root, bucket);
    const path = normalize(join(base, key));
    if (!path.startsWith(base + sep)) throw new ObjectStoreError('InvalidKey', `Key ${JSON.stringify(key.slice(0, 200))} is not a valid object key.`);
    return path;
  }

  async putObject(bucket: string, key: string, body: Buffer, opts: PutOptions = {}): Promise<void> {
    if (!(await this.bucketExists(bucket))) throw new ObjectStoreError('NoSuchBucket', `The bucket ${bucket} does not exist under ${this.root}.`);
    const path = this.objectPath(bucket, key);
    // A symlink inside the bucket must not lead a write outside it (checked before any directory is made).
    const { real } = await bucketPaths(this.root, bucket);
    if (!(await resolvesWithin(real, path)) || !(await resolvesWithin(real, `${path}${META_SUFFIX}`))) {
      throw new ObjectStoreError('InvalidKey', `Key ${JSON.stringify(key.slice(0, 200))} leads outside the bucket through a symbolic link.`);
    }
    await mkdir(dirname(path), { recursive: true });
    if (opts.metadata && Object.keys(opts.metadata).length > 0) await writeDurably(`${path}.meta.json`, Buffer.from(JSON.stringify(opts.metadata)));
    await writeDurably(path, body);
  }
}

/** Write to a temporary name, fsync, rename into place, fsync the directory: all or nothing. */
async function writeDurably(path: string, body: Buffer): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(body);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
