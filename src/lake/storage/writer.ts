/**
 * Writes CloudTrail records into an event data store's Parquet files (src/lake/layout.ts): one file
 * per UTC event day the records fall in, zstd-compressed, named by the caller. The one writer both
 * ingestion and imports use.
 *
 * Exactly once by naming: the files are written into a temporary folder, then renamed into their
 * partitions under `<name>-<n>.parquet`. A writer that crashed part way and is run again with the
 * same name and the same records replaces the same files, so a reader never sees an event twice
 * once the run completes. A reader during the renames may see a prefix of the days.
 */
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { storeDir } from '../layout.ts';
import { lakeRowsSql } from '../schema.ts';

export interface WriteLakeFiles {
  /** Absolute folder of the Lake root. */
  readonly root: string;
  readonly accountId: string;
  readonly storeId: string;
  /** A relation with one record per row in column `json`, e.g. `read_json_objects('/x.jsonl', format='newline_delimited')`. */
  readonly source: string;
  /** The files' name, unique within the store: a rerun with the same name replaces them. `[A-Za-z0-9._-]` only. */
  readonly name: string;
}

export interface WrittenLakeFiles {
  /** Paths below the root of the files written, one per event day. */
  readonly files: string[];
  readonly rows: number;
}

const NAME = /^[A-Za-z0-9._-]{1,200}$/;
const sqlString = (s: string): string => `'${s.replaceAll("'", "''")}'`;

export async function writeLakeFiles(conn: DuckDBConnection, w: WriteLakeFiles): Promise<WrittenLakeFiles> {
  if (!NAME.test(w.name)) throw new Error(`writeLakeFiles: bad file name ${JSON.stringify(w.name)}`);
  const dir = storeDir(w.accountId, w.storeId);
  const tmp = join(w.root, dir, `.tmp-${w.name}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(join(w.root, dir), { recursive: true });
  const result = await conn.run(
    `COPY (SELECT *, strftime(coalesce("eventTime", TIMESTAMP '1970-01-01'), '%Y-%m-%d') AS "eventDate" FROM (${lakeRowsSql(w.source)}))\n` +
      `TO ${sqlString(tmp)} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY ("eventDate"), WRITE_PARTITION_COLUMNS false)`,
  );
  const rows = Number(result.rowsChanged);
  const files: string[] = [];
  for (const part of (await readdir(tmp).catch(() => [] as string[])).sort()) {
    const produced = (await readdir(join(tmp, part))).filter((f) => f.endsWith('.parquet')).sort();
    await mkdir(join(w.root, dir, part), { recursive: true });
    for (const [i, f] of produced.entries()) {
      const rel = `${dir}/${part}/${w.name}-${i}.parquet`;
      await rename(join(tmp, part, f), join(w.root, rel));
      files.push(rel);
    }
  }
  await rm(tmp, { recursive: true, force: true });
  return { files, rows };
}
