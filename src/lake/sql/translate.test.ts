import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDBInstance } from '@duckdb/node-api';
import type { LakeStoreRef } from '../catalog.ts';
import { quoteStoreNames } from './store-names.ts';
import { translateLakeSql } from './translate.ts';

const ID = '0f2d1a3b-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
const ARN = `arn:aws:cloudtrail:us-east-1:111122223333:eventdatastore/${ID}`;

test('quoteStoreNames quotes bare ids and ARNs, not those inside literals, quoted names or comments', () => {
  assert.equal(quoteStoreNames(`SELECT 1 FROM ${ID} -- ${ID}\nWHERE x = '${ID}'`), `SELECT 1 FROM "${ID}" -- ${ID}\nWHERE x = '${ID}'`);
  assert.equal(quoteStoreNames(`SELECT * FROM ${ARN} a JOIN "${ID}" b /* ${ID} */ ON true`), `SELECT * FROM "${ARN}" a JOIN "${ID}" b /* ${ID} */ ON true`);
  assert.equal(quoteStoreNames(`SELECT 'it''s ${ID}' FROM x`), `SELECT 'it''s ${ID}' FROM x`);
});

test('translateLakeSql rewrites Trino functions and replaces each store, once, by its view', async () => {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  const store: LakeStoreRef = { accountId: '111122223333', storeId: ID, arn: ARN, status: 'ENABLED' };
  const resolve = (name: string) => Promise.resolve(name === ID || name === ARN ? store : undefined);
  try {
    const t = await translateLakeSql(conn, `SELECT element_at(requestParameters, 'k') AS k, element_at(resources, 1).ARN AS r, date_diff('hour', a, b) d,
      regexp_like(x, 'y'), approx_distinct(z), regexp_replace(x, '(a)', '$1-'), date_format(eventTime, '%Y-%m-%d %H:%i:%s') f, date_add('day', 1, eventTime)
      FROM ${ID} s JOIN ${ARN} t ON s.eventID = t.eventID`, resolve);
    assert.deepEqual(t.stores, [store]);
    assert.equal(t.sql, `SELECT requestParameters['k'] AS k, (resources[1]).ARN AS r, date_sub('hour', a, b) AS d, regexp_matches(x, 'y'), approx_count_distinct(z), regexp_replace(x, '(a)', '\\1-', 'g'), strftime(CAST(eventTime AS TIMESTAMP), '%Y-%m-%d %H:%M:%S') AS f, lake_date_add('day', 1, eventTime) FROM lake_store_0 AS s INNER JOIN lake_store_0 AS t ON ((s.eventID = t.eventID))`);
  } finally {
    conn.closeSync();
    db.closeSync();
  }
});

test('any sequence of SQL pieces is translated or refused with an AWS-shaped error, never anything else', async () => {
  const { default: fc } = await import('fast-check');
  const { ServiceError } = await import('../../aws/errors.ts');
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  const store: LakeStoreRef = { accountId: '111122223333', storeId: ID, arn: ARN, status: 'ENABLED' };
  const pieces = ['SELECT', '*', 'FROM', ID, ARN, 'WHERE', 'eventName', '=', "'x'", '(', ')', ',', 'UNNEST', 'JOIN', 'ON', 'GROUP BY', '1', 'element_at',
    'read_csv', "'/etc/passwd'", 'WITH', 'a', 'AS', 'UNION', 'ALL', ';', '--', '/*', '*/', '"', "'", 'PIVOT', 'VALUES', 'TABLE', 'DESCRIBE', 'SUMMARIZE',
    'count(*)', '->', '$1', '?', 'COLUMNS(*)', 'MAP', '{', '}', '[', ']', 'date_format', 'regexp_replace', 'information_schema.tables'];
  try {
    await fc.assert(fc.asyncProperty(fc.array(fc.constantFrom(...pieces), { maxLength: 14 }), async (p) => {
      const statement = p.join(' ');
      try {
        await translateLakeSql(conn, statement, (n) => Promise.resolve(n === ID || n === ARN ? store : undefined));
      } catch (e) {
        assert.ok(e instanceof ServiceError, `${statement}: ${String(e)}`);
        assert.ok(['InvalidQueryStatementException', 'EventDataStoreNotFoundException'].includes(e.code), `${statement}: ${e.code}`);
      }
    }), { numRuns: 500 });
  } finally {
    conn.closeSync();
    db.closeSync();
  }
});
