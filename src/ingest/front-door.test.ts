/** The ingest front door (normalise -> route -> append) against a real in-memory store and the real group commit. */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { admit, ingest, Refused, type FrontDoorContext } from './front-door.ts';
import { Ingester } from './ingester.ts';
import { RecordTooLargeEntry } from './stream-parse.ts';
import { SqliteEventStore } from '../stores/sqlite/sqlite-event-store.ts';
import type { AppendFollow, AppendInput, AppendOutcome, Durability } from '../stores/index.ts';

let n = 0;
const ctx = (extra: Partial<FrontDoorContext> = {}): FrontDoorContext => ({
  defaultAccountId: '111111111111', defaultRegion: 'us-east-1', nowMs: Date.UTC(2026, 0, 2), ids: { uuid: () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}` }, ...extra,
});
const rec = (eventID: string, extra: Record<string, unknown> = {}) => ({
  eventVersion: '1.09', eventTime: '2026-01-01T00:00:00Z', eventSource: 's3.amazonaws.com', eventName: 'ListBuckets',
  awsRegion: 'us-east-1', eventID, eventType: 'AwsApiCall', recipientAccountId: '111111111111', ...extra,
});

/** A real store that remembers the durability each append asked for. */
class Recording extends SqliteEventStore {
  readonly asked: Durability[] = [];
  override append(batch: readonly AppendInput[], durability?: Durability, follow?: AppendFollow): Promise<AppendOutcome[]> {
    this.asked.push(durability ?? 'disk');
    return super.append(batch, durability, follow);
  }
}

const stores: SqliteEventStore[] = [];
after(async () => {
  for (const s of stores) await s.close();
});
function setup() {
  const store = new Recording({ path: ':memory:' });
  stores.push(store);
  return { store, ingester: new Ingester(store, { maxBatchEvents: 1000 }) };
}
const storedIds = async (store: SqliteEventStore) => (await store.readAfter(0, 100)).map((r) => (JSON.parse(r.json) as { eventID: string }).eventID);

describe('admit (normalise -> route)', () => {
  test('a valid record comes out normalised, with the append input routed to its account and region', () => {
    const a = admit(rec('e1', { recipientAccountId: '111111111111', awsRegion: 'eu-west-1' }), ctx());
    assert.ok(a.ok);
    assert.equal(a.input.accountId, '111111111111');
    assert.equal(a.input.region, 'eu-west-1');
    assert.equal(a.input.eventId, 'e1');
    assert.equal(a.input.json, a.normalized.json);
    assert.equal(a.normalized.record.readOnly, true, 'completed by the normaliser');
  });

  test('entries a parser or the caller refused stay refused, with their reasons', () => {
    assert.deepEqual(admit(new SyntaxError('bad line'), ctx()), { ok: false, errorCode: 'InvalidJson', errorMessage: 'bad line' });
    const big = admit(new RecordTooLargeEntry(2_000_000, 1_048_576), ctx());
    assert.equal(big.ok, false);
    assert.equal(!big.ok && big.errorCode, 'RecordTooLarge');
    assert.deepEqual(admit(new Refused('InvalidChecksum', 'no'), ctx()), { ok: false, errorCode: 'InvalidChecksum', errorMessage: 'no' });
  });

  test('the normaliser\'s refusal is passed on', () => {
    const a = admit({ eventTime: 'yesterday' }, ctx());
    assert.equal(a.ok, false);
    assert.ok(!a.ok && a.errorCode.length > 0 && a.errorMessage.length > 0);
    const region = admit(rec('e2', { awsRegion: 'mars-1' }), ctx({ servedRegions: new Set(['us-east-1']) }));
    assert.equal(!region.ok && region.errorCode, 'InvalidRegion');
  });

  test('route: another account is refused unless the writer may write to any; unchecked when not asked', () => {
    const other = rec('e3', { recipientAccountId: '222222222222' });
    const denied = admit(other, ctx({ anyAccount: false }));
    assert.equal(!denied.ok && denied.errorCode, 'AccessDenied');
    assert.match(!denied.ok ? denied.errorMessage : '', /own account 111111111111.*222222222222/);
    const trusted = admit(other, ctx({ anyAccount: true }));
    assert.ok(trusted.ok && trusted.input.accountId === '222222222222');
    assert.ok(admit(other, ctx()).ok);
    assert.ok(admit(rec('e4'), ctx({ anyAccount: false })).ok, 'its own account');
  });
});

describe('ingest (normalise -> route -> append)', () => {
  test('results line up with the entries; duplicates are flagged and stored once', async () => {
    const { store, ingester } = setup();
    const first = await ingest(ingester, [rec('a'), new SyntaxError('x'), rec('b')], ctx());
    assert.deepEqual(first.map((r) => (r.ok ? `${r.input.eventId}:${r.duplicate}` : r.errorCode)), ['a:false', 'InvalidJson', 'b:false']);
    const again = await ingest(ingester, [rec('b'), rec('c')], ctx());
    assert.deepEqual(again.map((r) => (r.ok ? `${r.input.eventId}:${r.duplicate}` : r.errorCode)), ['b:true', 'c:false']);
    assert.deepEqual(await storedIds(store), ['a', 'b', 'c']);
  });

  test('follow sees every result and its records are stored in the same transaction', async () => {
    const { store, ingester } = setup();
    let seen: string[] = [];
    await ingest(ingester, [rec('p'), { eventTime: 'no' }], ctx(), {
      follow: (results) => {
        seen = results.map((r) => (r.ok ? `stored ${r.input.eventId}` : `refused ${r.errorCode}`));
        const own = admit(rec('own'), ctx());
        assert.ok(own.ok);
        return [own.input];
      },
    });
    assert.equal(seen.length, 2);
    assert.equal(seen[0], 'stored p');
    assert.match(seen[1]!, /^refused /);
    assert.deepEqual(await storedIds(store), ['p', 'own']);
  });

  test('a follow that throws stores nothing of the call', async () => {
    const { store, ingester } = setup();
    await assert.rejects(ingest(ingester, [rec('q')], ctx(), { follow: () => { throw new Error('boom'); } }), /boom/);
    assert.deepEqual(await storedIds(store), []);
  });

  test('durability is the caller\'s: disk by default, process when asked', async () => {
    const { store, ingester } = setup();
    await ingest(ingester, [rec('d1')], ctx());
    await ingest(ingester, [rec('d2')], ctx(), { durability: 'process' });
    assert.deepEqual(store.asked, ['disk', 'process']);
  });
});
