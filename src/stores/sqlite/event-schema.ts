/**
 * events.db layout 2: the schema, the layout check, and the pragmas each connection runs with
 * (docs/storage.md "events.db").
 */
import { DatabaseSync } from 'node:sqlite';

export const LAYOUT = 2;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
  first_seq INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL, n INTEGER NOT NULL,
  committed_ms INTEGER NOT NULL, data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS pending (
  first_seq INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS buckets (
  id INTEGER PRIMARY KEY, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
  min_t INTEGER NOT NULL, max_t INTEGER NOT NULL, n INTEGER NOT NULL,
  hist_min_t INTEGER, ids BLOB NOT NULL, idf BLOB
);
CREATE TABLE IF NOT EXISTS postings (
  bucket INTEGER NOT NULL, k INTEGER NOT NULL, chunk INTEGER NOT NULL, key TEXT NOT NULL,
  n INTEGER NOT NULL, max_t INTEGER NOT NULL, min_t INTEGER NOT NULL, data BLOB NOT NULL,
  PRIMARY KEY (bucket, k, chunk)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ids (
  bucket INTEGER NOT NULL, k INTEGER NOT NULL, seq INTEGER NOT NULL, t INTEGER NOT NULL,
  PRIMARY KEY (bucket, k, seq)
) WITHOUT ROWID;
`;

/** Chunk numbers of the n-th key (in text order) sharing one hash within a bucket start here. */
export const GROUP_STRIDE = 2 ** 24;

/** Thrown when events.db is in a layout this version does not read. */
export class LayoutError extends Error {
  override name = 'LayoutError';
}

/**
 * Creates the layout-2 schema in a new file, or checks an existing one is layout 2. A layout-1
 * file (it has the `events` table) is refused untouched, with how to migrate it.
 */
export function prepareFile(path: string, dataDirHint: string): void {
  const db = new DatabaseSync(path);
  try {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
    const version = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
    if (tables.includes('events')) {
      throw new LayoutError(`${path} is in the layout-1 event store format, which this version does not read; run \`opentrail migrate --data-dir ${dataDirHint}\` to convert it (the file is left unchanged)`);
    }
    if (version !== 0 && version !== LAYOUT) {
      throw new LayoutError(`${path} has event store layout ${version}; this version reads layout ${LAYOUT}`);
    }
    if (version === 0 && tables.length > 0 && !tables.includes('blocks')) {
      throw new LayoutError(`${path} is not an OpenTrail event store (tables: ${tables.join(', ')})`);
    }
    if (version === 0) {
      db.exec('PRAGMA journal_mode=WAL');
      db.exec(`BEGIN IMMEDIATE; ${SCHEMA} PRAGMA user_version = ${LAYOUT}; INSERT OR IGNORE INTO meta(name, value) VALUES ('layout', ${LAYOUT}); COMMIT;`);
    }
    if (!(db.prepare('PRAGMA table_info(buckets)').all() as { name: string }[]).some((c) => c.name === 'idf')) {
      // A layout-2 file from before the id filters (2026-12-04): the column is added (no rewrite
      // of the table) and the writer fills it at open (EventWriter.fillIdFilters). Still layout
      // 2: a build without filters reads the file as before (it names the columns it reads).
      db.exec('ALTER TABLE buckets ADD COLUMN idf BLOB');
    }
  } finally {
    db.close();
  }
}
