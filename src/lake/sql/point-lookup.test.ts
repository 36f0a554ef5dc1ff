import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDBInstance } from '@duckdb/node-api';
import type { LakeStoreRef } from '../catalog.ts';
import { translateLakeSql } from './translate.ts';

const ID = '0f2d1a3b-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
const ID2 = '1f2d1a3b-1c2d-4e5f-8a9b-0c1d2e3f4a5b';

test('the point lookup is found only where dropping the files without the id cannot change the results', async () => {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  const refs = new Map([ID, ID2].map((id) => [id, { accountId: '111122223333', storeId: id, arn: `arn:aws:cloudtrail:us-east-1:111122223333:eventdatastore/${id}`, status: 'ENABLED' } as LakeStoreRef]));
  const lookup = async (sql: string) => (await translateLakeSql(conn, sql, (n) => Promise.resolve(refs.get(n)))).pointLookup;
  try {
    for (const sql of [
      `SELECT * FROM ${ID} WHERE eventID = 'e-1'`,
      `SELECT count(*) FROM ${ID} WHERE 'e-1' = EVENTID`,
      `SELECT eventName FROM ${ID} AS s WHERE s.eventName = 'x' AND (s.eventID = 'e-1' AND true) GROUP BY 1`,
      `SELECT * FROM ${ID} WHERE ${ID}.eventID = 'e-1'`,
    ]) assert.deepEqual(await lookup(sql), { view: 'lake_store_0', eventId: 'e-1' }, sql);
    // A subquery that reads no store leaves the lookup.
    assert.deepEqual(await lookup(`SELECT * FROM ${ID2} WHERE eventID = 'e-1' AND eventName IN (SELECT 'x')`), { view: 'lake_store_0', eventId: 'e-1' });
    for (const sql of [
      `SELECT * FROM ${ID} WHERE eventID = 'e-1' OR eventName = 'x'`,
      `SELECT * FROM ${ID} WHERE NOT eventID = 'e-1'`,
      `SELECT * FROM ${ID} WHERE eventID <> 'e-1'`,
      `SELECT * FROM ${ID} WHERE eventID IN ('e-1')`,
      `SELECT * FROM ${ID} WHERE eventID = eventName`,
      `SELECT * FROM ${ID} WHERE lower(eventID) = 'e-1'`,
      `SELECT * FROM ${ID} WHERE eventID = 1`,
      `SELECT * FROM ${ID} s WHERE other.eventID = 'e-1'`,
      `SELECT * FROM ${ID} a JOIN ${ID2} b ON a.eventID = b.eventID WHERE a.eventID = 'e-1'`,
      `SELECT * FROM ${ID} WHERE eventID = 'e-1' AND eventName IN (SELECT eventName FROM ${ID})`,
      `WITH x AS (SELECT * FROM ${ID}) SELECT * FROM x WHERE eventID = 'e-1'`,
      `SELECT * FROM ${ID} WHERE eventID = 'e-1' UNION ALL SELECT * FROM ${ID2}`,
      `SELECT * FROM (SELECT * FROM ${ID}) WHERE eventID = 'e-1'`,
    ]) assert.equal(await lookup(sql), undefined, sql);
  } finally {
    conn.closeSync();
    db.closeSync();
  }
});
