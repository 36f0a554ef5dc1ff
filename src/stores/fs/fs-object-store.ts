/** ObjectStore on the filesystem: each bucket is a directory under the root. No policies. */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ObjectStore } from '../object-store.ts';

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

  async bucketPolicy(): Promise<string | undefined> {
    return undefined;
  }
}
