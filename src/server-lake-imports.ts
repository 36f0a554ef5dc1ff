/**
 * Composition of CloudTrail Lake imports (src/lake/import, src/services/cloudtrail/imports.ts):
 * which sources a StartImport may name on this server, and the DuckDB instance the engine writes
 * with. A source is
 *
 * - `s3://bucket/prefix`: a bucket of the configured object store: the filesystem bucket
 *   `<objectStore.root>/bucket` read in place, or the S3-compatible store (`objectStore` type s3;
 *   `S3BucketRegion` is the Region the bucket is asked in; the role is not assumed);
 * - `file:///path`: a folder of this machine under one of `lakeImports.fileRoots`.
 */
import { resolve, sep } from 'node:path';
import { join } from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import type { Clock, IdSource } from './core/index.ts';
import type { OpenTrailConfig } from './config/index.ts';
import type { LakeCatalog } from './lake/catalog.ts';
import { ImportEngine, ImportSourceError, type ImportLeases } from './lake/import/engine.ts';
import { BucketLogSource, LocalLogSource, type LogSource } from './lake/import/source.ts';
import { ImportService } from './services/cloudtrail/imports.ts';
import type { ControlStore } from './stores/index.ts';
import { S3BucketReader } from './stores/s3/s3-bucket-reader.ts';

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** The source a StartImport's `S3LocationUri` names on this server, or ImportSourceError. */
export function importSourceOpener(config: Pick<OpenTrailConfig, 'objectStore' | 'dataDir' | 'lakeImports'>): (uri: string, region: string) => LogSource {
  return (uri, region) => {
    const s3 = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(uri);
    if (s3) {
      const [, bucket, prefix = ''] = s3 as unknown as [string, string, string | undefined];
      if (!BUCKET.test(bucket)) throw new ImportSourceError(`The S3 location ${uri} does not name a valid bucket.`);
      const os = config.objectStore;
      if (os.type === 'filesystem') return new LocalLogSource(join(os.root ?? join(config.dataDir, 'buckets'), bucket), prefix, `s3://${bucket}/`);
      const reader = new S3BucketReader({
        region, endpoint: os.endpoint, forcePathStyle: os.forcePathStyle,
        ...(os.accessKeyId && os.secretAccessKey ? { credentials: { accessKeyId: os.accessKeyId, secretAccessKey: os.secretAccessKey } } : {}),
      });
      return new BucketLogSource(reader, bucket, prefix);
    }
    const file = /^file:\/\/(\/.*)$/.exec(uri);
    if (file) {
      let path: string;
      try {
        path = resolve(decodeURIComponent(file[1]!));
      } catch {
        throw new ImportSourceError(`The location ${uri} is not a valid file URI.`);
      }
      const roots = config.lakeImports.fileRoots.map((r) => resolve(r));
      if (!roots.some((r) => path === r || path.startsWith(r.endsWith(sep) ? r : r + sep))) {
        throw new ImportSourceError(`The folder ${path} is not under a folder this server may import from (lakeImports.fileRoots).`);
      }
      return new LocalLogSource(path, '', `file://${path.endsWith('/') ? path : `${path}/`}`);
    }
    throw new ImportSourceError(`The location ${uri} is not an s3:// or file:// URI.`);
  };
}

export interface LakeImports {
  service: ImportService;
  engine: ImportEngine;
  /** Stops the running import at its next batch boundary (it resumes at the next start). */
  close(): Promise<void>;
}

export function createLakeImports(config: OpenTrailConfig, deps: { control: ControlStore; catalog: LakeCatalog; clock: Clock; ids: IdSource; logError: (msg: string, err?: unknown) => void; leases?: ImportLeases }): LakeImports {
  const li = config.lakeImports;
  let instance: Promise<DuckDBInstance> | undefined;
  const engine = new ImportEngine({
    control: deps.control,
    catalog: deps.catalog,
    openSource: importSourceOpener(config),
    connect: async () => {
      // Loaded on the first import, not at start (the native engine is large; most servers never import).
      instance ??= import('@duckdb/node-api').then(({ DuckDBInstance: Instance }) => Instance.create(':memory:', { threads: String(li.threads), memory_limit: `${li.memoryLimitMiB}MiB` }));
      return (await instance).connect();
    },
    clock: deps.clock,
    ids: deps.ids,
    logError: deps.logError,
    ...(deps.leases ? { leases: deps.leases } : {}),
  }, { batchFiles: li.batchFiles, maxFileBytes: li.maxFileMiB * 1024 * 1024 });
  return {
    service: new ImportService(engine, deps.catalog, config.organization),
    engine,
    close: async () => {
      await engine.close();
      (await instance?.catch(() => undefined))?.closeSync();
    },
  };
}
