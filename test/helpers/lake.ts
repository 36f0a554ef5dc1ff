/**
 * Event data stores for tests: a real
 * `LakeCatalog` over a temp folder whose stores' Parquet files are written by the one writer
 * ingestion uses (`writeLakeFiles`), from fixture records.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { CreateEventDataStoreCommand, type CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import type { EventDataStoreStatus, LakeCatalog, LakeStoreRef } from '../../src/lake/catalog.ts';
import { writeLakeFiles } from '../../src/lake/storage/writer.ts';
import { tempDir } from './server.ts';

/** The fixture records (test/fixtures/corpus, attribution in its README) as parsed objects, and their lines. */
export function corpusRecords(...files: string[]): { lines: string[]; records: Record<string, unknown>[] } {
  const lines = files.flatMap((f) => readFileSync(new URL(`../fixtures/corpus/${f}`, import.meta.url), 'utf8').split('\n').filter((l) => l.trim()));
  return { lines, records: lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/**
 * A real `LakeCatalog` over a folder, for tests that drive Lake readers and writers without the
 * event data store control plane: the test adds the stores, with the ids (and Regions) it chooses.
 */
export class TestLakeCatalog implements LakeCatalog {
  readonly root: string;
  private readonly stores: LakeStoreRef[] = [];

  constructor(root = tempDir('lake-root-')) {
    this.root = root;
    mkdirSync(root, { recursive: true });
  }

  /** A store of `accountId` (a new id unless told), ENABLED in us-east-1 unless told; no files. */
  add(accountId: string, opts: { storeId?: string; region?: string; status?: EventDataStoreStatus } = {}): LakeStoreRef {
    const storeId = opts.storeId ?? randomUUID();
    const ref: LakeStoreRef = { accountId, storeId, arn: `arn:aws:cloudtrail:${opts.region ?? 'us-east-1'}:${accountId}:eventdatastore/${storeId}`, status: opts.status ?? 'ENABLED' };
    this.stores.push(ref);
    return ref;
  }

  /** A store of `accountId` (id `storeId`) holding `lines` (one record per line). */
  async addStore(accountId: string, storeId: string, lines: readonly string[], status: EventDataStoreStatus = 'ENABLED', region = 'us-east-1'): Promise<LakeStoreRef> {
    const ref = this.add(accountId, { storeId, status, region });
    if (lines.length === 0) return ref;
    const src = join(tempDir('lake-src-'), 'records.jsonl');
    writeFileSync(src, lines.join('\n') + '\n');
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      await writeLakeFiles(conn, { root: this.root, accountId, storeId, source: `read_json_objects('${src}', format='newline_delimited')`, name: 'fixture' });
    } finally {
      conn.closeSync();
      db.closeSync();
    }
    return ref;
  }

  /** The caller's store of the caller's Region (its ARN's), by id or ARN. */
  resolve(callerAccountId: string, callerRegion: string, idOrArn: string): Promise<LakeStoreRef | undefined> {
    const ref = this.stores.find((s) => s.storeId === idOrArn || s.arn === idOrArn);
    return Promise.resolve(ref && ref.accountId === callerAccountId && ref.arn.split(':')[3] === callerRegion ? ref : undefined);
  }
}

/** Creates an event data store of channel events (eventCategory ActivityAuditLog) and answers its ARN: a channel's destination must be a store that exists. */
export async function channelStore(client: CloudTrailClient, name = 'channel-events'): Promise<string> {
  const out = await client.send(new CreateEventDataStoreCommand({
    Name: name, TerminationProtectionEnabled: false,
    AdvancedEventSelectors: [{ Name: 'channel events', FieldSelectors: [{ Field: 'eventCategory', Equals: ['ActivityAuditLog'] }] }],
  }));
  return out.EventDataStoreArn!;
}
