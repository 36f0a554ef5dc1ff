/**
 * The eventID sidecar of a store's Parquet file: `<file>.parquet.eventids`, a Parquet file of the
 * file's eventIDs, sorted, in small row groups, so that DuckDB's min/max statistics of each group
 * tell at once whether the file can hold a given eventID (eventIDs are random UUIDs: the data
 * file's own statistics cannot). The writer makes it with each file and renames it into place
 * before the file, so a data file written since has its sidecar; a query of `WHERE eventID = ...`
 * reads only the files whose sidecar holds the id, and every file that has no sidecar
 * (src/lake/query/engine.ts). The name does not end in `.parquet`: readers of the store's glob
 * (`*.parquet`) never take a sidecar for data. Retention drops it with its partition.
 *
 * Since the third round of issue 13 a sidecar also has each row's `eventTime` (format 2): the data
 * files' row groups cover narrow time windows (records are written roughly in time order), so a
 * query that knows the times of the rows it wants reads the one row group that holds them instead
 * of the eventID column of every row group. A sidecar written before (eventID only, format 1) still
 * answers which files hold an id; its times are unknown (`undefined`), and so is the time of a row
 * whose eventTime is NULL.
 *
 * A sidecar can also be summarized in memory (`EventIdSummary`, a Bloom filter of its eventIDs'
 * hashes): most files are then ruled out without being opened (src/lake/query/eventid-summaries.ts).
 */
// Types only at the top: a server start must not load DuckDB's native engine (test/lake-lazy-duckdb.test.ts).
import type { DuckDBConnection } from '@duckdb/node-api';

export const EVENT_ID_INDEX_SUFFIX = '.eventids';
/** Rows per row group of a sidecar (each group's min and max eventID narrow a lookup to one group). */
const INDEX_ROW_GROUP_SIZE = 4096;

const sqlString = (s: string): string => `'${s.replaceAll("'", "''")}'`;

export const eventIdIndexPath = (parquetPath: string): string => `${parquetPath}${EVENT_ID_INDEX_SUFFIX}`;

/** Writes the sidecar of the Parquet file `parquetPath` to `indexPath` (format 2: eventID and eventTime). */
export async function writeEventIdIndex(conn: DuckDBConnection, parquetPath: string, indexPath: string): Promise<void> {
  await conn.run(
    `COPY (SELECT "eventID", "eventTime" FROM read_parquet(${sqlString(parquetPath)}, hive_partitioning = false) WHERE "eventID" IS NOT NULL ORDER BY "eventID")\n` +
      `TO ${sqlString(indexPath)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${INDEX_ROW_GROUP_SIZE})`,
  );
}

/** Where a data file holds an eventID: how many rows, and the range of their eventTimes when the sidecar knows them all. */
export interface EventIdHit {
  rows: number;
  /** The rows' eventTimes, `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC), when every one is known. */
  times?: { min: string; max: string };
}

/** Of `files` (data files that have a sidecar), those whose sidecar holds `eventId`, with the times of those rows. */
export async function eventIdHits(conn: DuckDBConnection, files: readonly string[], eventId: string): Promise<Map<string, EventIdHit>> {
  const out = new Map<string, EventIdHit>();
  if (files.length === 0) return out;
  // `*` rather than naming eventTime: a format-1 sidecar has no such column (union_by_name gives
  // its rows NULL when another sidecar of the list has it).
  const r = await conn.runAndReadAll(
    `SELECT * FROM read_parquet([${files.map((f) => sqlString(eventIdIndexPath(f))).join(', ')}], filename = true, union_by_name = true) WHERE "eventID" = $1`,
    [eventId],
  );
  const names = r.columnNames();
  const fileCol = names.indexOf('filename');
  const timeCol = names.findIndex((n) => n.toLowerCase() === 'eventtime');
  const unknown = new Set<string>();
  for (const row of r.getRows()) {
    const file = String(row[fileCol]).slice(0, -EVENT_ID_INDEX_SUFFIX.length);
    const hit = out.get(file) ?? { rows: 0 };
    hit.rows++;
    const t = timeCol < 0 || row[timeCol] === null ? undefined : String(row[timeCol]);
    if (t === undefined) unknown.add(file);
    else hit.times = { min: hit.times && hit.times.min < t ? hit.times.min : t, max: hit.times && hit.times.max > t ? hit.times.max : t };
    out.set(file, hit);
  }
  for (const f of unknown) delete out.get(f)!.times;
  return out;
}

/** Bits of a summary per eventID, and hash probes: a false positive rate of about 0.3 %. */
const BITS_PER_ID = 12;
const PROBES = 8;

/**
 * A Bloom filter of a sidecar's eventIDs, over DuckDB's `hash()` of each (split in two 32-bit
 * halves for double hashing). It answers "certainly not in the file" or "maybe"; a maybe is then
 * settled by the sidecar itself. DuckDB's hash is only stable within one DuckDB build: summaries
 * live in memory, made and probed by the same process.
 */
export class EventIdSummary {
  readonly bytes: number;
  private readonly bits: Uint8Array;
  private readonly m: number;

  private constructor(m: number) {
    this.m = m;
    this.bits = new Uint8Array(Math.ceil(m / 8));
    this.bytes = this.bits.byteLength;
  }

  /** Reads the sidecar of `dataPath` whole (`ids` rows, from its footer) and summarizes it. */
  static async build(conn: DuckDBConnection, dataPath: string, ids: number): Promise<EventIdSummary> {
    const s = new EventIdSummary(Math.max(64, ids * BITS_PER_ID));
    const r = await conn.run(`SELECT (h >> 32)::UINTEGER, (h & 4294967295)::UINTEGER FROM (SELECT hash("eventID") AS h FROM read_parquet(${sqlString(eventIdIndexPath(dataPath))}))`);
    for (;;) {
      const chunk = await r.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      const [a, b] = [chunk.getColumnVector(0), chunk.getColumnVector(1)];
      for (let i = 0; i < chunk.rowCount; i++) s.add(Number(a.getItem(i)), Number(b.getItem(i)));
    }
    return s;
  }

  /** May the file hold the id whose hash halves (`eventIdHash`) are these? */
  mayHold([h1, h2]: readonly [number, number]): boolean {
    for (let j = 0, p = h1 % this.m, step = h2 % this.m; j < PROBES; j++, p = (p + step) % this.m) {
      if ((this.bits[p >>> 3]! & (1 << (p & 7))) === 0) return false;
    }
    return true;
  }

  private add(h1: number, h2: number): void {
    for (let j = 0, p = h1 % this.m, step = h2 % this.m; j < PROBES; j++, p = (p + step) % this.m) this.bits[p >>> 3] = this.bits[p >>> 3]! | (1 << (p & 7));
  }
}

/** The hash halves `EventIdSummary` probes with, for one eventID (DuckDB's hash of the VARCHAR). */
export async function eventIdHash(conn: DuckDBConnection, eventId: string): Promise<[number, number]> {
  return (await eventIdHashes(conn, [eventId]))[0]!;
}

/** `eventIdHash` of each of `eventIds`, in order. */
export async function eventIdHashes(conn: DuckDBConnection, eventIds: readonly string[]): Promise<[number, number][]> {
  const { listValue } = await import('@duckdb/node-api'); // loaded already: `conn` is one of its connections
  const r = await conn.runAndReadAll('SELECT (h >> 32)::UINTEGER, (h & 4294967295)::UINTEGER FROM (SELECT hash(x) AS h, i FROM (SELECT unnest($1::VARCHAR[]) AS x, generate_subscripts($1::VARCHAR[], 1) AS i)) ORDER BY i', [listValue([...eventIds])]);
  return r.getRows().map(([h1, h2]) => [Number(h1), Number(h2)]);
}
