/**
 * Control-plane state (channels now; trails and keys later): small JSON documents by kind and key.
 *
 * Contract: put/delete are durable when they resolve; list returns documents of one kind whose key
 * starts with the prefix, in key order.
 */
export interface ControlStore {
  get<T>(kind: string, key: string): Promise<T | undefined>;
  put(kind: string, key: string, doc: unknown): Promise<void>;
  /** Returns whether a document was deleted. */
  delete(kind: string, key: string): Promise<boolean>;
  list<T>(kind: string, keyPrefix: string): Promise<{ key: string; doc: T }[]>;
  close(): Promise<void>;
}
