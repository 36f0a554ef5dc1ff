/**
 * Event data stores for tests: a real
 * `LakeCatalog` over a temp folder whose stores' Parquet files are written by the one writer
 * ingestion uses (`writeLakeFiles`), from fixture records.
 */
import { readFileSync, writeFileSync } from 'node:fs';
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

export class TestLakeCatalog implements LakeCatalog {
  readonly root: string;
  private readonly stores: LakeStoreRef[] = [];

  constructor(root = tempDir('lake-root-')) {
    this.root = root;
  }

  /** A store of `accountId` (id `storeId`) holding `lines` (one record per line). */
  async addStore(accountId: string, storeId: string, lines: readonly string[], status: EventDataStoreStatus = 'ENABLED'): Promise<LakeStoreRef> {
    const ref: LakeStoreRef = { accountId, storeId, arn: `arn:aws:cloudtrail:us-east-1:${accountId}:eventdatastore/${storeId}`, status };
    this.stores.push(ref);
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

  resolve(callerAccountId: string, idOrArn: string): Promise<LakeStoreRef | undefined> {
    return Promise.resolve(this.stores.find((s) => s.accountId === callerAccountId && (s.storeId === idOrArn || s.arn === idOrArn)));
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
