/**
 * Writes CloudTrail records into an event data store's Parquet files (src/lake/layout.ts): one file
 * per UTC event day the records fall in, zstd-compressed, named by the caller. The one writer both
 * ingestion and imports use.
 *
 * Exactly once by naming: the files are written into a temporary folder, then renamed into their
 * partitions under `<name>-<n>.parquet`. A writer that crashed part way and is run again with the
 * same name and the same records replaces the same files, so a reader never sees an event twice
 * once the run completes. A reader during the renames may see a prefix of the days.
 *
 * With each file goes its eventID sidecar (src/lake/storage/eventid-index.ts), renamed in before it.
 *
 * Durable before it returns: each file is fsynced before its rename and each partition folder (and
 * the store's folders, when they were made) after, so the caller may move its cursor past these
 * records: after a power loss the files are there, not an empty or missing name.
 */
import { open, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { LAKE_ROW_GROUP_SIZE, storeDir } from '../layout.ts';
import { lakeRowsSql } from '../schema.ts';
import { eventIdIndexPath, writeEventIdIndex } from './eventid-index.ts';

export interface WriteLakeFiles {
  /** Absolute folder of the Lake root. */
  readonly root: string;
  readonly accountId: string;
  readonly storeId: string;
  /** A relation with one record per row in column `json`, e.g. `read_json_objects('/x.jsonl', format='newline_delimited')`. */
  readonly source: string;
  /** The files' name, unique within the store: a rerun with the same name replaces them. `[A-Za-z0-9._-]` only. */
  readonly name: string;
  /** fsyncs a file or folder (default `fsyncPath`; tests observe the calls). */
  readonly sync?: (path: string) => Promise<void>;
}

/** fsync of a file or a folder (a folder's entries: a rename into it, a file made in it). */
export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export interface WrittenLakeFiles {
  /** Paths below the root of the files written, one per event day. */
  readonly files: string[];
  readonly rows: number;
}

const NAME = /^[A-Za-z0-9._-]{1,200}$/;

/**
 * How the Parquet files are encoded. zstd at level 1 rather than DuckDB's default 3: the same
 * values and the same dictionaries and bloom filters, files within 0.2 % of the size, and the
 * Parquet write, half of the writer's CPU, about a quarter cheaper (docs/performance.md, "Issue 13:
 * the Lake writer, second round").
 */
export const PARQUET_OPTIONS = 'COMPRESSION zstd, COMPRESSION_LEVEL 1';
const sqlString = (s: string): string => `'${s.replaceAll("'", "''")}'`;

export async function writeLakeFiles(conn: DuckDBConnection, w: WriteLakeFiles): Promise<WrittenLakeFiles> {
  if (!NAME.test(w.name)) throw new Error(`writeLakeFiles: bad file name ${JSON.stringify(w.name)}`);
  const dir = storeDir(w.accountId, w.storeId);
  const tmp = join(w.root, dir, `.tmp-${w.name}`);
  const sync = w.sync ?? fsyncPath;
  await rm(tmp, { recursive: true, force: true });
  // The folders made here (account, store) are fsynced in their parents once the files are in.
  const made = await madeFolders(w.root, [w.accountId, w.storeId]);
  await mkdir(join(w.root, dir), { recursive: true });
  const result = await conn.run(
    `COPY (SELECT *, strftime(coalesce("eventTime", TIMESTAMP '1970-01-01'), '%Y-%m-%d') AS "eventDate" FROM (${lakeRowsSql(w.source)}))\n` +
      `TO ${sqlString(tmp)} (FORMAT parquet, ${PARQUET_OPTIONS}, ROW_GROUP_SIZE ${LAKE_ROW_GROUP_SIZE}, PARTITION_BY ("eventDate"), WRITE_PARTITION_COLUMNS false)`,
  );
  const rows = Number(result.rowsChanged);
  const files: string[] = [];
  for (const part of (await readdir(tmp).catch(() => [] as string[])).sort()) {
    const produced = (await readdir(join(tmp, part))).filter((f) => f.endsWith('.parquet')).sort();
    const partDir = join(w.root, dir, part);
    const newPart = !(await exists(partDir));
    await mkdir(partDir, { recursive: true });
    for (const [i, f] of produced.entries()) {
      const rel = `${dir}/${part}/${w.name}-${i}.parquet`;
      // The eventID sidecar goes into place first: a data file in a partition has its sidecar.
      const index = eventIdIndexPath(join(tmp, part, f));
      await writeEventIdIndex(conn, join(tmp, part, f), index);
      await sync(index);
      await rename(index, eventIdIndexPath(join(w.root, rel)));
      await sync(join(tmp, part, f));
      await rename(join(tmp, part, f), join(w.root, rel));
      files.push(rel);
    }
    await sync(partDir);
    if (newPart) await sync(join(w.root, dir));
  }
  for (const folder of made) await sync(folder);
  await rm(tmp, { recursive: true, force: true });
  return { files, rows };
}

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

/** The parents of the folders `root/a`, `root/a/b`, ... that do not exist yet (each to fsync once it is made), deepest first. */
async function madeFolders(root: string, parts: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  let path = root;
  for (const p of parts) {
    const next = join(path, p);
    if (!(await exists(next))) out.unshift(path);
    path = next;
  }
  return out;
}
