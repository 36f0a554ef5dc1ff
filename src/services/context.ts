/** What every operation knows about the call it serves. */
import type { Identity } from '../core/index.ts';

export interface CallContext {
  identity: Identity;
  accountId: string;
  region: string;
  requestId: string;
  nowMs: number;
}
