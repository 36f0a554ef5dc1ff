/**
 * The PostgreSQL event store's schema (component `events` of migrations.ts) and its partitions.
 *
 * Tables (docs/storage.md, "PostgreSQL event store"):
 * - `event_state`: one row: the event count (with `event_counts`' rows), the Event history
 *   cut-off, the partition widths; `last_seq` was the seq high-water mark until v3 (now the
 *   sequence `event_seq`, allocated under `event_seq_lock` with the append's xid, which each log
 *   row keeps in `xid`: pg-event-store.ts).
 * - `event_log`: the log, partitioned by RANGE (ingest_ms), keyed (seq, account_id, ingest_ms) since v5
 *   (until then (account_id, seq, ingest_ms) and a second index on seq). Since v2 the record is compressed by
 *   the node (pg-record-codec.ts) into `zrecord` (bytea, STORAGE EXTERNAL: PostgreSQL does not
 *   compress it again), its UTF-8 length in `record_bytes`; rows written by v1 keep `record` as
 *   text (lz4) and are read as they are. The summary stays text (lz4 past ~2 KB): compressing
 *   ~300 bytes on the node cost as much CPU as a record for a sixth of the bytes saved.
 * - `event_history`: the Event history index, partitioned by RANGE (t = eventTime seconds), its
 *   primary key the lookup's range (account, region, attr, value, t, seq), since v4 with
 *   ingest_ms INCLUDEd (index-only scans).
 * - `event_ids`: (account_id, event_id) -> seq, not partitioned (a unique key of a partitioned table
 *   must contain the partition key).
 *
 * Partitions are created ahead of need by `ensurePartitions`, under an advisory lock, so nodes
 * never race to create the same one; a partition is a plain table attached to its parent
 * (ATTACH takes SHARE UPDATE EXCLUSIVE on the parent, so reads and appends go on meanwhile, where
 * CREATE TABLE ... PARTITION OF would take ACCESS EXCLUSIVE).
 */
import type { Migrations } from './migrations.ts';
import type { PoolClient } from './db.ts';

export type PartitionedTable = 'event_log' | 'event_history';

/** The `events` component's migrations (append-only: a change is a new item at the end). */
export function eventMigrations(widths: { logPartitionMs: number; historyPartitionSec: number }): Migrations {
  return [
    async (c) => {
      await c.query(`
        CREATE TABLE event_state (
          id smallint PRIMARY KEY CHECK (id = 1),
          last_seq bigint NOT NULL,
          events bigint NOT NULL,
          history_cutoff_sec bigint NOT NULL,
          log_partition_ms bigint NOT NULL CHECK (log_partition_ms > 0),
          history_partition_sec bigint NOT NULL CHECK (history_partition_sec > 0),
          probe_ms bigint NOT NULL
        );
        CREATE TABLE event_log (
          account_id text NOT NULL,
          seq bigint NOT NULL,
          ingest_ms bigint NOT NULL,
          region text NOT NULL,
          event_id text NOT NULL,
          event_time bigint NOT NULL,
          in_history boolean NOT NULL,
          summary text,
          record text NOT NULL,
          PRIMARY KEY (account_id, seq, ingest_ms)
        ) PARTITION BY RANGE (ingest_ms);
        CREATE INDEX event_log_seq ON event_log (seq);
        CREATE INDEX event_log_ingest ON event_log USING brin (ingest_ms);
        CREATE TABLE event_history (
          account_id text NOT NULL,
          region text NOT NULL,
          attr text NOT NULL,
          value text NOT NULL,
          t bigint NOT NULL,
          seq bigint NOT NULL,
          ingest_ms bigint NOT NULL,
          PRIMARY KEY (account_id, region, attr, value, t, seq)
        ) PARTITION BY RANGE (t);
        CREATE INDEX event_history_t ON event_history USING brin (t);
        CREATE TABLE event_ids (
          account_id text NOT NULL,
          event_id text NOT NULL,
          seq bigint NOT NULL,
          ingest_ms bigint NOT NULL,
          PRIMARY KEY (account_id, event_id)
        );
        -- Records compress with lz4 where the server was built with it (Debian's is), else pglz.
        DO $$ BEGIN
          ALTER TABLE event_log ALTER COLUMN record SET COMPRESSION lz4;
          ALTER TABLE event_log ALTER COLUMN summary SET COMPRESSION lz4;
        EXCEPTION WHEN feature_not_supported THEN NULL;
        END $$;
      `);
      await c.query('INSERT INTO event_state VALUES (1, 0, 0, $1, $2, $3, 0)', [MIN_T, widths.logPartitionMs, widths.historyPartitionSec]);
    },
    // v2: records compressed by the node. Catalogue changes only (no row is
    // rewritten): v1 rows keep their text and are read as they are; a row has `record` or
    // `zrecord`, never both. Partitions created later copy the parent's columns and storage.
    `
      ALTER TABLE event_log ALTER COLUMN record DROP NOT NULL;
      ALTER TABLE event_log ADD COLUMN zrecord bytea, ADD COLUMN record_bytes int4;
      ALTER TABLE event_log ALTER COLUMN zrecord SET STORAGE EXTERNAL;
    `,
    // v3: appends in parallel (docs/storage.md, "Appends in parallel"). Seqs come from event_seq,
    // allocated with the append's transaction id under event_seq_lock (so seq order is xid
    // order); each log row keeps that xid, and readers stop below the oldest running one. The
    // count moves to event_counts (a row per slot, written at COMMIT), so appends take no lock on
    // the state row. last_seq stays as it was (its value the sequence's start): nodes of v2 must
    // be stopped before nodes of v3 start.
    `
      CREATE SEQUENCE event_seq AS bigint MINVALUE 0 START WITH 0;
      SELECT setval('event_seq', last_seq, true) FROM event_state WHERE id = 1;
      CREATE TABLE event_seq_lock ();
      CREATE TABLE event_counts (slot smallint PRIMARY KEY, events bigint NOT NULL);
      ALTER TABLE event_log ADD COLUMN xid xid8;
    `,
    // v4: ingest_ms in Event history's key (INCLUDE: stored in the leaf entries, not part of the
    // order), so a lookup's history scan is index-only: it reads the row's ingest_ms (which log
    // partition to probe) from the index, not from a heap page per answer (the rows of a rare
    // value are far apart in the heap). Rebuilds the key of every history partition, in this
    // migration's transaction (docs/storage.md, "PostgreSQL event store"). Partitions created
    // later get the parent's key at ATTACH.
    // The history partitions that exist get HISTORY_VACUUM's setting (new ones are created with it;
    // written out here: a migration's text never changes).
    `
      ALTER TABLE event_history DROP CONSTRAINT event_history_pkey;
      ALTER TABLE event_history ADD CONSTRAINT event_history_pkey PRIMARY KEY (account_id, region, attr, value, t, seq) INCLUDE (ingest_ms);
      DO $$ DECLARE p regclass; BEGIN
        FOR p IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'event_history'::regclass LOOP
          EXECUTE format('ALTER TABLE %s SET (autovacuum_vacuum_insert_scale_factor = 0.02)', p);
        END LOOP;
      END $$;
    `,
    // v5: the log's two B-trees as one (issue 12 part 15). Until v4 each log row had an entry in its
    // primary key (account_id, seq, ingest_ms) and in event_log_seq (seq); every reader of the log
    // goes by seq (readAfter, committedMsAfter, prune's bounds) or names the whole key (the probes
    // of lookups and EventId lookups), so the key now starts with seq and event_log_seq goes: one
    // index entry less per event, the key of every log partition rebuilt in this migration's
    // transaction (docs/storage.md, "PostgreSQL event store"). account_id stays in the key (the
    // distribution column of docs/scale-out.md); the key stays unique (seqs are).
    `
      DROP INDEX event_log_seq;
      ALTER TABLE event_log DROP CONSTRAINT event_log_pkey;
      ALTER TABLE event_log ADD CONSTRAINT event_log_pkey PRIMARY KEY (seq, account_id, ingest_ms);
    `,
  ];
}

/**
 * Autovacuum of an Event history partition after inserts of 2 % of its rows (PostgreSQL's default
 * is 20 %, plus 1,000 rows): VACUUM marks the pages it finds all-visible, which lets a lookup's
 * index-only scan (v4) skip the heap. With the default, a day's partition kept the rows appended
 * after its last vacuum (up to a sixth of its day) not all-visible until an anti-wraparound vacuum,
 * each of them a heap page read per lookup answer. An insert-driven vacuum reads only the pages
 * not yet all-visible, and skips the index scan when nothing was deleted.
 */
const HISTORY_VACUUM = 'autovacuum_vacuum_insert_scale_factor = 0.02';

/** Storage parameters of a new partition of each table (ensurePartitions; the bench's bulk loader). */
export const PARTITION_OPTIONS: Record<PartitionedTable, string> = { event_log: '', event_history: `WITH (${HISTORY_VACUUM})` };

/** The lowest Event history cut-off: none yet. */
export const MIN_T = -9_007_199_254_740_991;

/** The advisory lock of partition creation (one for both tables). */
const PARTITION_LOCK = '8031081472413790577'; // "otpartit" as a signed 64-bit number

/** Start of the partition of `table` holding `value` (ms for the log, seconds for history). */
export function partitionStart(value: number, width: number): number {
  return Math.floor(value / width) * width;
}

export function partitionName(table: PartitionedTable, start: number): string {
  return `${table}_p${start < 0 ? `m${-start}` : String(start)}`;
}

export interface PartitionInfo {
  name: string;
  from: number;
  to: number;
}

/** The partitions attached to `table`, oldest first, with their ranges. */
export async function listPartitions(c: PoolClient, table: PartitionedTable): Promise<PartitionInfo[]> {
  const r = await c.query<{ name: string; bound: string }>(`
    SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = $1::regclass`, [table]);
  const parts: PartitionInfo[] = [];
  for (const { name, bound } of r.rows) {
    const m = /FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)/.exec(bound);
    if (m) parts.push({ name, from: Number(m[1]), to: Number(m[2]) });
  }
  return parts.sort((a, b) => a.from - b.from);
}

/**
 * Creates the partitions of `table` starting at `starts` (each `width` wide) that do not exist
 * yet, inside the caller's transaction, under a transaction-scoped advisory lock: two nodes that
 * need the same partition at once create it once (the second finds it after the first committed).
 * Returns the starts that exist now.
 */
export async function ensurePartitions(c: PoolClient, table: PartitionedTable, starts: readonly number[], width: number): Promise<number[]> {
  if (starts.length === 0) return [];
  await c.query('SELECT pg_advisory_xact_lock($1)', [PARTITION_LOCK]);
  const names = starts.map((s) => partitionName(table, s));
  const found = await c.query<{ relname: string }>(
    "SELECT relname FROM pg_class WHERE relname = ANY($1::text[]) AND relnamespace = current_schema()::regnamespace", [names]);
  const have = new Set(found.rows.map((r) => r.relname));
  for (const [i, start] of starts.entries()) {
    const name = names[i]!;
    if (have.has(name)) continue;
    await c.query(`CREATE TABLE ${name} (LIKE ${table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMPRESSION) ${PARTITION_OPTIONS[table]}`);
    await c.query(`ALTER TABLE ${table} ATTACH PARTITION ${name} FOR VALUES FROM (${start}) TO (${start + width})`);
  }
  return [...starts];
}
