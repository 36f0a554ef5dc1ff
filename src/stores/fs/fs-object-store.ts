/**
 * ObjectStore on the filesystem: each bucket is a directory under the root, each key a file path
 * below it. No policies. Metadata lives beside the object in `<file>.meta.json`.
 */
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
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

  /**
   * Metadata first, then the object, each all or nothing; a write without metadata removes the
   * object's old metadata (as S3 replaces an object with its metadata). Failures of the filesystem
   * are ObjectStoreErrors: InvalidKey where the key cannot be a file here (a part of it names an
   * object, or is too long for the filesystem), else the errno code (ENOSPC, EIO, ...).
   */
  async putObject(bucket: string, key: string, body: Buffer, opts: PutOptions = {}): Promise<void> {
    if (!(await this.bucketExists(bucket))) throw new ObjectStoreError('NoSuchBucket', `The bucket ${bucket} does not exist under ${this.root}.`);
    const path = this.objectPath(bucket, key);
    try {
      // A symlink inside the bucket must not lead a write outside it (checked before any directory is made).
      const { real } = await bucketPaths(this.root, bucket);
      if (!(await resolvesWithin(real, path)) || !(await resolvesWithin(real, `${path}${META_SUFFIX}`))) {
        throw new ObjectStoreError('InvalidKey', `Key ${JSON.stringify(key.slice(0, 200))} leads outside the bucket through a symbolic link.`);
      }
      await mkdir(dirname(path), { recursive: true });
      if (opts.metadata && Object.keys(opts.metadata).length > 0) await writeDurably(`${path}${META_SUFFIX}`, Buffer.from(JSON.stringify(opts.metadata)));
      else await rm(`${path}${META_SUFFIX}`, { force: true }); // made durable by the object's rename and directory fsync
      await writeDurably(path, body);
    } catch (e) {
      if (e instanceof ObjectStoreError) throw e;
      const code = errno(e);
      if (code === 'EEXIST' || code === 'ENOTDIR' || code === 'EISDIR' || code === 'ENAMETOOLONG') {
        throw new ObjectStoreError('InvalidKey', `Key ${JSON.stringify(key.slice(0, 200))} cannot be a file of the bucket: ${(e as Error).message}`, { cause: e });
      }
      throw new ObjectStoreError(code ?? 'InternalError', `Writing ${bucket}/${key.slice(0, 200)} failed: ${(e as Error).message}`, { cause: e });
    }
  }
}

function errno(e: unknown): string | undefined {
  return (e as { code?: string }).code;
}

/** Temporary names are unique in the process: concurrent writes of one key never share one. */
let tmpSeq = Date.now();

/** Write to a temporary name, fsync, rename into place, fsync the directory: all or nothing. */
async function writeDurably(path: string, body: Buffer): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${tmpSeq++}`;
  try {
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(body);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
