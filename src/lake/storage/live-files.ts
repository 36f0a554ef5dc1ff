/**
 * Which data files of a store's partition are live: how compaction (src/lake/compaction) swaps
 * many small files for one large one so that every reader sees each event exactly once.
 *
 * A partition's file list is its directory listing (`eventDate=.../*.parquet`): ingestion and
 * imports publish a file by renaming it in. Compaction writes its output `compact-<token>.parquet`
 * with a manifest beside it, `compact-<token>.parquet.replaces` (JSON: the names of the files it
 * replaces), and renames the manifest in BEFORE the output: the output's rename is the one atomic
 * step that makes the output live and its inputs dead at once. A reader takes a listing, and for
 * every compaction output in it, reads the output's manifest and leaves out the names it replaces.
 * So a listing made before the rename has the inputs and not the output; one made after has the
 * output and leaves out the inputs; none has both or neither.
 *
 * The inputs stay on disk until every query that may have listed them has ended (compaction
 * deletes them `lakeQueries.timeoutMs` + `lake.compaction.graceMs` after the swap), and the
 * manifest stays as long again after that, so a reader whose listing still has an input always
 * finds the manifest that rules it out.
 *
 * An output whose manifest is gone (its inputs were deleted long ago) is an ordinary file. Once an
 * output is live its manifest either exists or is gone for good (it is written before the output),
 * so "no manifest" is remembered per output.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Names of compaction outputs start with this (ingestion's start `ingest-`, imports' `import-`). */
export const COMPACTED_PREFIX = 'compact-';
export const REPLACES_SUFFIX = '.replaces';

export const replacesPath = (parquetPath: string): string => `${parquetPath}${REPLACES_SUFFIX}`;

/** A compaction output's manifest. */
export interface ReplacesManifest {
  /** Names (in the same partition) of the data files the output replaces. */
  inputs: string[];
  /** When the manifest was written, just before the swap (epoch ms). */
  writtenAtMs: number;
  /** When the inputs were deleted (epoch ms); the manifest itself goes a grace period after. */
  inputsDeletedAtMs?: number;
  /** The node that compacted (the lease holder, or `local`). */
  holder?: string;
}

/** Manifests read, by output path: inputs, or null when the output has none (for good). */
const seen = new Map<string, readonly string[] | null>();
const MAX_SEEN = 100_000;

/** An output's manifest, or undefined when it has none. Throws on a manifest that cannot be read (never guessed). */
export async function readManifest(parquetPath: string): Promise<ReplacesManifest | undefined> {
  let text: string;
  try {
    text = await readFile(replacesPath(parquetPath), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const m = JSON.parse(text) as ReplacesManifest;
  if (!Array.isArray(m.inputs) || typeof m.writtenAtMs !== 'number') throw new Error(`compaction manifest ${replacesPath(parquetPath)} is not valid`);
  return m;
}

/**
 * Of a partition folder's entry names (one listing), the data files (`*.parquet`) that are live:
 * every one but those a live compaction output replaces, in name order.
 */
export async function liveDataFiles(partitionDir: string, names: readonly string[]): Promise<string[]> {
  const data = names.filter((n) => n.endsWith('.parquet')).sort();
  if (data.length < 2) return data;
  const dead = new Set<string>();
  for (const o of data) {
    if (!o.startsWith(COMPACTED_PREFIX)) continue;
    const path = join(partitionDir, o);
    let inputs = seen.get(path);
    if (inputs === undefined) {
      inputs = (await readManifest(path))?.inputs ?? null;
      if (seen.size >= MAX_SEEN) seen.clear();
      seen.set(path, inputs);
    }
    for (const i of inputs ?? []) dead.add(i);
  }
  return dead.size === 0 ? data : data.filter((n) => !dead.has(n));
}
