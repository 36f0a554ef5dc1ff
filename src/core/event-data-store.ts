/**
 * An event data store (CloudTrail Lake) as the control store keeps it, and what its ingestion
 * reads of it: the control plane (src/services/cloudtrail/event-data-stores.ts) writes these
 * documents, the ingestion consumer and the retention job (src/lake/ingest) read them, and the
 * Lake catalog (src/lake/catalog-store.ts) answers queries and imports from them.
 */
import type { AdvancedEventSelector } from './event-selectors/index.ts';
import type { Tag } from './trail.ts';

/** Control-store kind of an event data store, keyed `<accountId>/<storeId>`. */
export const EVENT_DATA_STORE_KIND = 'event-data-store';
/** Control-store kind of a store's ingestion state (cursor, intent), keyed as the store. */
export const LAKE_INGEST_STATE_KIND = 'lake-ingest-state';

/** Control-store kind of a channel (src/services/cloudtrail/channels.ts), keyed `<accountId>/<region>/<id>`. */
export const CHANNEL_KIND = 'channel';
/** Control-store kind of a resource policy (src/services/cloudtrail/resource-policies.ts), keyed `<accountId>/<resource ARN>`. */
export const RESOURCE_POLICY_KIND = 'resource-policy';

/** What ingestion reads of a channel: which event data stores its events go to. */
export interface ChannelDestinations {
  ChannelArn: string;
  accountId: string;
  region: string;
  Destinations: { Type: string; Location: string }[];
}

/** How long a deleted store waits in PENDING_DELETION (RestoreEventDataStore can undo it). */
export const PENDING_DELETION_DAYS = 7;

export type StoredEventDataStoreStatus = 'ENABLED' | 'STOPPED_INGESTION' | 'PENDING_DELETION';

export interface EventDataStoreDoc {
  EventDataStoreArn: string;
  Name: string;
  /** ENABLED (ingesting), STOPPED_INGESTION, PENDING_DELETION (deleted, restorable until pendingSinceMs + 7 days). */
  Status: StoredEventDataStoreStatus;
  AdvancedEventSelectors: AdvancedEventSelector[];
  MultiRegionEnabled: boolean;
  OrganizationEnabled: boolean;
  RetentionPeriod: number;
  TerminationProtectionEnabled: boolean;
  BillingMode: 'EXTENDABLE_RETENTION_PRICING' | 'FIXED_RETENTION_PRICING';
  KmsKeyId?: string;
  TagsList: Tag[];
  accountId: string;
  /** The store's home Region. */
  region: string;
  /** The UUID at the end of its ARN. */
  storeId: string;
  createdMs: number;
  updatedMs: number;
  /** Is ingesting live events (ENABLED, or PENDING_DELETION of a store that was). */
  isIngesting: boolean;
  /** Ingestion reads events with seq above this (the end of the log when ingestion first started). */
  ingestAfterSeq?: number;
  /** After StopEventDataStoreIngestion: the end of the log then; events up to it are still ingested. */
  ingestThroughSeq?: number;
  /** Ranges (after, through] of the log that arrived while ingestion was stopped: never ingested. */
  skippedSeqs?: [number, number][];
  /** PENDING_DELETION since. */
  pendingSinceMs?: number;
  /** The status to return to on RestoreEventDataStore. */
  statusBeforeDeletion?: 'ENABLED' | 'STOPPED_INGESTION';
  /** PutEventConfiguration. */
  maxEventSize?: 'Standard' | 'Large';
  contextKeySelectors?: { Type: 'TagContext' | 'RequestContext'; Equals: string[] }[];
}

export function eventDataStoreKey(accountId: string, storeId: string): string {
  return `${accountId}/${storeId}`;
}

/**
 * A store's ingestion state: the cursor (every event with seq <= cursor has been considered), and
 * while a batch is being written, its intent (the range and the file name), so that a restart
 * writes the same files again before it moves on.
 */
export interface LakeIngestState {
  /** The createdMs of the store this state belongs to (a store made again under the same key starts afresh). */
  storeCreatedMs: number;
  cursor: number;
  intent?: LakeIngestIntent;
  latestIngestMs?: number;
  latestError?: string;
  latestErrorMs?: number;
}

/** What a store admits, as a snapshot kept in a batch's intent (a redo admits the same events). */
export interface IngestScope {
  selectors: AdvancedEventSelector[];
  regions: string[];
  accountIds: string[];
  /** Channels whose events go to the store. */
  channelArns: string[];
  skippedSeqs?: [number, number][];
}

/** A batch being written: the log range (fromSeq, toSeq], the files' name, what it admits. */
export interface LakeIngestIntent {
  fromSeq: number;
  toSeq: number;
  name: string;
  scope: IngestScope;
}

/**
 * The events a store's ingestion has still to read: those with start < seq <= limit. A store whose
 * ingestion stopped reads up to where it stopped.
 */
export function ingestRange(s: Pick<EventDataStoreDoc, 'isIngesting' | 'ingestAfterSeq' | 'ingestThroughSeq'>, cursor: number): { start: number; limit: number } {
  const start = Math.max(cursor, s.ingestAfterSeq ?? 0);
  return { start, limit: s.isIngesting ? Number.POSITIVE_INFINITY : (s.ingestThroughSeq ?? start) };
}
