/** The self-audit backlog: records of applied changes that wait for a failing event store. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { Ingester } from '../ingest/index.ts';
import { SqliteEventStore } from '../stores/sqlite/sqlite-event-store.ts';
import type { AppendInput } from '../stores/index.ts';
import { apiCallInput, AuditBacklog, type ApiCall } from './self-audit.ts';
import type { Identity } from '../core/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'opentrail-backlog-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

const rec = (eventId: string): AppendInput => ({
  accountId: '111111111111', region: 'us-east-1', eventId, eventTimeSec: 1_767_225_600,
  json: JSON.stringify({ eventID: eventId, eventName: 'AddTags', pad: randomBytes(15_000).toString('base64') }) /* 20 KB the store cannot compress away */, history: [['*', 'management']],
});

/** A real store whose connection is capped at its size: SQLITE_FULL, as on a full disk, until freed. */
function setup(maxRecords?: number, maxBytes?: number) {
  const store = new SqliteEventStore({ path: join(dir, `events-${++n}.db`) });
  const db = (store as unknown as { db: DatabaseSync }).db;
  const pages = (db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count;
  const lines: string[] = [];
  const backlog = new AuditBacklog(new Ingester(store, { maxBatchEvents: 5000 }), { maxRecords, maxBytes, retryMs: 60_000, log: (m) => lines.push(m) });
  return {
    store, backlog, lines,
    fill: () => db.exec(`PRAGMA max_page_count = ${pages}`),
    free: () => db.exec('PRAGMA max_page_count = 1073741823'),
    ids: async () => (await store.readAfter(0, 100)).map((r) => (JSON.parse(r.json) as { eventID: string }).eventID),
  };
}

describe('AuditBacklog', () => {
  test('holds records while the store fails and stores them, in order, once it takes writes again', async () => {
    const h = setup();
    try {
      h.fill();
      h.backlog.add(rec('r1'));
      h.backlog.add(rec('r2'));
      await h.backlog.flush();
      assert.equal(h.backlog.size, 2, 'still waiting while the store is full');
      assert.deepEqual(await h.ids(), []);
      h.free();
      await h.backlog.flush();
      assert.equal(h.backlog.size, 0);
      assert.deepEqual(await h.ids(), ['r1', 'r2']);
      assert.ok(h.lines.some((l) => /stored 2 record\(s\)/.test(l)));
    } finally {
      await h.backlog.close();
      await h.store.close();
    }
  });

  test('is bounded: beyond maxRecords a record is written whole to the log, not held', async () => {
    const h = setup(2);
    try {
      h.fill();
      for (const id of ['a', 'b', 'c']) h.backlog.add(rec(id));
      assert.equal(h.backlog.size, 2);
      const overflow = h.lines.find((l) => l.includes('backlog full'));
      assert.ok(overflow?.includes('"eventID":"c"'), 'the record that did not fit is in the log');
    } finally {
      await h.backlog.close();
      await h.store.close();
    }
  });

  test('is bounded by bytes too', async () => {
    const h = setup(1000, 50_000);
    try {
      h.fill();
      for (const id of ['a', 'b', 'c']) h.backlog.add(rec(id)); // ~20 KB each
      assert.equal(h.backlog.size, 2);
      assert.ok(h.lines.find((l) => l.includes('backlog full'))?.includes('"eventID":"c"'));
    } finally {
      await h.backlog.close();
      await h.store.close();
    }
  });

  test('close makes a last attempt and logs every record it still could not store', async () => {
    const h = setup();
    h.fill();
    h.backlog.add(rec('kept-in-log'));
    await h.backlog.close();
    assert.equal(h.backlog.size, 0);
    assert.ok(h.lines.some((l) => l.includes('not stored before shutdown') && l.includes('"eventID":"kept-in-log"')));
    await h.store.close();
  });
});

describe('apiCallInput: a call\'s record through the ingest front door', () => {
  const identity: Identity = { type: 'Root', accountId: '111111111111', accessKeyId: 'AKIAX', secretAccessKey: 's', principalId: '111111111111', mfaAuthenticated: false, isTrustedProducer: false };
  const call = (extra: Partial<ApiCall> = {}): Omit<ApiCall, 'eventId'> => ({
    identity, region: 'eu-west-1', eventSource: 'cloudtrail.amazonaws.com', eventName: 'GetTrail', eventTimeMs: Date.UTC(2026, 0, 2),
    requestId: 'req-1', sourceIPAddress: '127.0.0.1', userAgent: 'test', requestParameters: { Name: 't' }, responseElements: undefined, category: 'Management', ...extra,
  });
  let n = 0;
  const ids = { uuid: () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}` };

  test('routed to the caller\'s account and region; a read at process durability, a write at disk', () => {
    const read = apiCallInput(call(), ids);
    assert.equal(read.durability, 'process');
    assert.equal(read.input.accountId, '111111111111');
    assert.equal(read.input.region, 'eu-west-1');
    assert.equal(read.input, read.admitted.input);
    assert.deepEqual((JSON.parse(read.input.json) as { requestParameters: unknown }).requestParameters, { name: 't' });
    assert.equal(apiCallInput(call({ eventName: 'CreateTrail' }), ids).durability, 'disk');
  });

  test('a call too large to record whole is recorded without its parameters, as CloudTrail omits them', () => {
    const big = apiCallInput(call({ eventName: 'CreateTrail', additionalEventData: { pad: 'x'.repeat(300 * 1024) } }), ids);
    const rec = JSON.parse(big.input.json) as Record<string, unknown>;
    assert.equal(rec.requestParameters, null);
    assert.equal(rec.additionalEventData, undefined);
    assert.equal(rec.eventName, 'CreateTrail');
    assert.equal(big.durability, 'disk');
  });
});
