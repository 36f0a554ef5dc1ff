/**
 * A real `LakeCatalog` over a temp folder, for tests that drive Lake readers and writers before (or
 * without) the event data store control plane: stores are added by the test, with ids it chooses.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { EventDataStoreStatus, LakeCatalog, LakeStoreRef } from '../../src/lake/catalog.ts';

export class TempLakeCatalog implements LakeCatalog {
  readonly root: string;
  private readonly stores = new Map<string, LakeStoreRef>();

  constructor(root: string) {
    this.root = root;
    mkdirSync(root, { recursive: true });
  }

  /** A store of `accountId`, ENABLED unless told. */
  add(accountId: string, opts: { storeId?: string; region?: string; status?: EventDataStoreStatus } = {}): LakeStoreRef {
    const storeId = opts.storeId ?? randomUUID();
    const ref: LakeStoreRef = { accountId, storeId, arn: `arn:aws:cloudtrail:${opts.region ?? 'us-east-1'}:${accountId}:eventdatastore/${storeId}`, status: opts.status ?? 'ENABLED' };
    this.stores.set(storeId, ref);
    return ref;
  }

  resolve(callerAccountId: string, idOrArn: string): Promise<LakeStoreRef | undefined> {
    const ref = [...this.stores.values()].find((s) => s.arn === idOrArn || s.storeId === idOrArn);
    return Promise.resolve(ref && ref.accountId === callerAccountId ? ref : undefined);
  }
}
