import type { WriteOptions } from './lease-store.ts';

export interface PutManyOptions extends WriteOptions {
  eraseReplaced?: boolean;
  /** Documents deleted in the same transaction, before the puts. */
  deletes?: { kind: string; key: string }[];
}

/**
 * Control-plane state (channels now; trails and keys later): small JSON documents by kind and key.
 *
 * Contract: put/delete are durable when they resolve; list returns documents of one kind whose key
 * starts with the prefix, in key order. A write with `{ fence }` happens only while that lease is
 * held, checked in the write's own transaction (lease-store.ts); else it rejects with
 * LeaseLostError and changes nothing.
 */
export interface ControlStore {
  get<T>(kind: string, key: string): Promise<T | undefined>;
  put(kind: string, key: string, doc: unknown, opts?: WriteOptions): Promise<void>;
  /** Returns whether a document was deleted. */
  delete(kind: string, key: string, opts?: WriteOptions): Promise<boolean>;
  list<T>(kind: string, keyPrefix: string): Promise<{ key: string; doc: T }[]>;
  /**
   * Deletes the documents `opts.deletes` names (missing ones are no error), then puts every
   * document, in one transaction: all or none (a key both deleted and put ends up put). With
   * `eraseReplaced`, once it resolves no bytes of the documents it replaced remain anywhere in the
   * store's files (journals, free space): for rewriting secrets that were stored in the clear.
   */
  putMany(docs: { kind: string; key: string; doc: unknown }[], opts?: PutManyOptions): Promise<void>;
  close(): Promise<void>;
}
