import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { eventIdHash, eventIdHashes, eventIdHits, eventIdIndexPath, EventIdSummary, writeEventIdIndex } from './eventid-index.ts';

test('a sidecar holds each row\'s eventTime: the hits of an id are its files, with the range of its rows\' times; a format-1 sidecar, or a NULL time, gives no range', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eventids-'));
  const db = await DuckDBInstance.create(':memory:', { threads: '1' });
  const conn = await db.connect();
  try {
    const file = (name: string) => join(dir, `${name}.parquet`);
    // Data files with the columns the sidecar reads: id "dup" twice in a, a NULL eventTime in b.
    await conn.run(`COPY (SELECT * FROM (VALUES ('x1', TIMESTAMP '2026-12-01 10:00:00'), ('dup', TIMESTAMP '2026-12-01 11:00:00'), ('dup', TIMESTAMP '2026-12-01 09:30:00.5')) t("eventID", "eventTime")) TO '${file('a')}' (FORMAT parquet)`);
    await conn.run(`COPY (SELECT * FROM (VALUES ('x2', TIMESTAMP '2026-12-02 10:00:00'), ('dup', NULL)) t("eventID", "eventTime")) TO '${file('b')}' (FORMAT parquet)`);
    await conn.run(`COPY (SELECT * FROM (VALUES ('dup', TIMESTAMP '2026-12-03 10:00:00')) t("eventID", "eventTime")) TO '${file('c')}' (FORMAT parquet)`);
    for (const f of ['a', 'b', 'c']) await writeEventIdIndex(conn, file(f), eventIdIndexPath(file(f)));
    // c's sidecar as written before format 2 (eventID only).
    await conn.run(`COPY (SELECT 'dup' AS "eventID") TO '${eventIdIndexPath(file('c'))}' (FORMAT parquet)`);

    const hits = await eventIdHits(conn, [file('a'), file('b'), file('c')], 'dup');
    assert.deepEqual(Object.fromEntries(hits), {
      [file('a')]: { rows: 2, times: { min: '2026-12-01 09:30:00.5', max: '2026-12-01 11:00:00' } },
      [file('b')]: { rows: 1 },
      [file('c')]: { rows: 1 },
    });
    assert.deepEqual(Object.fromEntries(await eventIdHits(conn, [file('a'), file('b')], 'x2')), { [file('b')]: { rows: 1, times: { min: '2026-12-02 10:00:00', max: '2026-12-02 10:00:00' } } });
    // Only format-1 sidecars in the list (no eventTime column at all): the files, without times.
    assert.deepEqual(Object.fromEntries(await eventIdHits(conn, [file('c')], 'dup')), { [file('c')]: { rows: 1 } });
    assert.equal((await eventIdHits(conn, [file('a'), file('b'), file('c')], 'nowhere')).size, 0);
  } finally {
    conn.closeSync();
    db.closeSync();
  }
});

test('a sidecar\'s summary never rules out an id the file holds, and rules out nearly every other', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eventids-summary-'));
  const db = await DuckDBInstance.create(':memory:', { threads: '1' });
  const conn = await db.connect();
  try {
    const data = join(dir, 'd.parquet');
    const ids = Array.from({ length: 20_000 }, (_, i) => `${(i * 2654435761) % 4294967291}-${i}`);
    const src = join(dir, 'ids.csv');
    writeFileSync(src, 'eventID\n' + ids.join('\n') + '\n');
    await conn.run(`COPY (SELECT "eventID", TIMESTAMP '2026-12-01' AS "eventTime" FROM read_csv('${src}', columns = {'eventID': 'VARCHAR'})) TO '${data}' (FORMAT parquet)`);
    await writeEventIdIndex(conn, data, eventIdIndexPath(data));
    const summary = await EventIdSummary.build(conn, data, ids.length);
    assert.ok(summary.bytes >= ids.length && summary.bytes <= ids.length * 2, `${summary.bytes} bytes for ${ids.length} ids`);
    const held = await eventIdHashes(conn, ids);
    assert.deepEqual(held[7], await eventIdHash(conn, ids[7]!));
    assert.equal(held.filter((h) => !summary.mayHold(h)).length, 0);
    const absent = await eventIdHashes(conn, Array.from({ length: 20_000 }, (_, i) => `absent-${i}`));
    const maybe = absent.filter((h) => summary.mayHold(h)).length;
    assert.ok(maybe < 200, `${maybe} of 20,000 absent ids not ruled out`);
  } finally {
    conn.closeSync();
    db.closeSync();
  }
});
