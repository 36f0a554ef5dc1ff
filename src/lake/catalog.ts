/**
 * What queries and imports need to know of event data stores, whoever keeps them: the contract
 * between the event data store control plane (which implements it over the control store) and its
 * readers (src/lake/query, src/lake/import).
 */
export type EventDataStoreStatus =
  | 'CREATED'
  | 'ENABLED'
  | 'PENDING_DELETION'
  | 'STARTING_INGESTION'
  | 'STOPPING_INGESTION'
  | 'STOPPED_INGESTION';

export interface LakeStoreRef {
  /** The account that owns the store (its files are under `<accountId>/<storeId>`, src/lake/layout.ts). */
  readonly accountId: string;
  /** The UUID at the end of its ARN. */
  readonly storeId: string;
  readonly arn: string;
  readonly status: EventDataStoreStatus;
}

export interface LakeCatalog {
  /** The absolute folder of the Lake root (`<dataDir>/lake` on the embedded defaults). */
  readonly root: string;
  /**
   * The store an id (its UUID) or ARN names, when the caller's account may use it (it owns it, or
   * reads it through its organization) in the caller's Region (the store's home Region: a
   * multi-Region store too is addressed only there, as the event data store API has it);
   * undefined otherwise, with no difference between "does not exist", "not yours" and "another
   * Region's".
   */
  resolve(callerAccountId: string, callerRegion: string, idOrArn: string): Promise<LakeStoreRef | undefined>;
}
