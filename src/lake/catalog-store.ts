/**
 * `LakeCatalog` over the control store's event data store documents (src/core/event-data-store.ts):
 * what queries and imports resolve a store reference with.
 */
import { EVENT_DATA_STORE_KIND, eventDataStoreKey, parseResourceArn, type EventDataStoreDoc } from '../core/index.ts';
import type { ControlStore } from '../stores/index.ts';
import type { LakeCatalog, LakeStoreRef } from './catalog.ts';

const STORE_ID = /^[A-Za-z0-9-]{1,128}$/;

export class ControlStoreLakeCatalog implements LakeCatalog {
  readonly root: string;
  private readonly control: ControlStore;

  constructor(control: ControlStore, root: string) {
    this.control = control;
    this.root = root;
  }

  /**
   * The caller's own store (by id or ARN) of the caller's Region. Organization stores are created by the management
   * account and read by it alone, as AWS has it for accounts that are not delegated administrators.
   */
  async resolve(callerAccountId: string, callerRegion: string, idOrArn: string): Promise<LakeStoreRef | undefined> {
    let accountId = callerAccountId;
    let storeId = idOrArn;
    if (idOrArn.startsWith('arn:')) {
      const a = parseResourceArn(idOrArn, 'cloudtrail', 'eventdatastore');
      if (!a || a.region !== callerRegion) return undefined;
      accountId = a.accountId;
      storeId = a.id;
    }
    if (accountId !== callerAccountId || !STORE_ID.test(storeId)) return undefined;
    const s = await this.control.get<EventDataStoreDoc>(EVENT_DATA_STORE_KIND, eventDataStoreKey(accountId, storeId));
    // Another Region's store (multi-Region ones included: they live in their home Region) is not found.
    if (!s || s.accountId !== callerAccountId || s.region !== callerRegion) return undefined;
    if (idOrArn.startsWith('arn:') && idOrArn !== s.EventDataStoreArn) return undefined;
    return { accountId: s.accountId, storeId: s.storeId, arn: s.EventDataStoreArn, status: s.Status };
  }
}
