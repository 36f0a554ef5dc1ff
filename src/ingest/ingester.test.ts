import { test, describe, after, afterEach } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Ingester } from './ingester.ts';
import { SqliteEventStore } from '../stores/sqlite/sqlite-event-store.ts';
import { StoreUnavailableError } from '../stores/errors.ts';
import type { AppendFollow, AppendInput, AppendOutcome, Durability, EventStore, HistoryQuery } from '../stores/event-store.ts';

/** A real SQLite store behind a thin wrapper that records every append (one append = one transaction). */
class CountingStore implements EventStore {
  readonly inner: SqliteEventStore;
  readonly appends: string[][] = [];
  /** When set, the next append waits for this gate before writing. */
  gate: Promise<void> | undefined;
  /** When set, appends whose batch holds this eventId throw (after the gate). */
  poison: string | undefined;
  /** Events durable at the moment each append resolved. */
  readonly durableAt: number[] = [];
  /** Appends the ingester may run at once (EventStore.parallelAppends); undefined: one. */
  parallelAppends: number | undefined;
  /** Batches the ingester said would be appended soon (prepare), their event ids. */
  readonly prepared: string[][] = [];

  /** `inner`: a store to share (the property below); else a new in-memory one, closed with this. */
  constructor(inner?: SqliteEventStore) {
    this.inner = inner ?? new SqliteEventStore({ path: ':memory:' });
    this.ownsInner = inner === undefined;
  }
  private readonly ownsInner: boolean;

  prepare(batch: readonly AppendInput[]): void {
    this.prepared.push(batch.map((e) => e.eventId));
  }

  async append(batch: readonly AppendInput[], durability?: Durability, follow?: AppendFollow): Promise<AppendOutcome[]> {
    this.appends.push(batch.map((e) => e.eventId));
    const gate = this.gate;
    this.gate = undefined;
    if (gate) await gate;
    if (this.poison !== undefined && batch.some((e) => e.eventId === this.poison)) throw new Error(`disk full while writing ${this.poison}`);
    const out = await this.inner.append(batch, durability, follow);
    this.durableAt.push(await this.inner.count());
    return out;
  }
  probe() { return this.inner.probe(); }
  lookup(q: HistoryQuery) { return this.inner.lookup(q); }
  readAfter(afterSeq: number, limit: number, accountId?: string) { return this.inner.readAfter(afterSeq, limit, accountId); }
  prune(cutoffSec: number, cutoffIngestMs: number) { return this.inner.prune(cutoffSec, cutoffIngestMs); }
  count() { return this.inner.count(); }
  lastSeq() { return this.inner.lastSeq(); }
  close() { return this.ownsInner ? this.inner.close() : Promise.resolve(); }
}

let serial = 0;
const ev = (eventId = `e${++serial}`): AppendInput => ({
  accountId: '111111111111', region: 'us-east-1', eventId, eventTimeSec: 1_767_225_600, json: JSON.stringify({ eventID: eventId }), history: [['*', 'management']],
});

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const stores: CountingStore[] = [];
function setup(maxBatchEvents = 5000) {
  const store = new CountingStore();
  stores.push(store);
  return { store, ingester: new Ingester(store, { maxBatchEvents }) };
}
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

async function storedIds(store: EventStore, afterSeq = 0): Promise<string[]> {
  return (await store.readAfter(afterSeq, 100_000)).map((r) => (JSON.parse(r.json) as { eventID: string }).eventID);
}

describe('Ingester: group commit', () => {
  test('many concurrent submits share far fewer transactions than submits', async () => {
    const { store, ingester } = setup();
    const submits = Array.from({ length: 300 }, () => [ev()]);
    const results = await Promise.all(submits.map((items) => ingester.submit(items)));
    assert.equal(results.length, 300);
    assert.ok(store.appends.length <= 10, `${store.appends.length} transactions for 300 submits`);
    assert.equal(ingester.stats.commits, store.appends.length);
    assert.equal(ingester.stats.events, 300);
    assert.equal(await store.count(), 300);
  });

  test('submits arriving while a commit is in flight join the next commit together', async () => {
    const { store, ingester } = setup();
    const gate = deferred();
    store.gate = gate.promise;
    const first = ingester.submit([ev('first')]);
    await new Promise((r) => setImmediate(r)); // the first commit is now in flight, held at the gate
    assert.equal(store.appends.length, 1);
    const later = Array.from({ length: 50 }, () => ingester.submit([ev(), ev()]));
    gate.resolve();
    await Promise.all([first, ...later]);
    assert.equal(store.appends.length, 2, 'the 50 queued submits went out as one transaction');
    assert.equal(store.appends[1]!.length, 100);
  });

  test('a submit that waits behind a commit in flight is given to the store\'s prepare; one that goes out at once is not', async () => {
    const { store, ingester } = setup();
    const gate = deferred();
    store.gate = gate.promise;
    const first = ingester.submit([ev('p-first')]);
    await new Promise((r) => setImmediate(r));
    const waiting = [ingester.submit([ev('p-a'), ev('p-b')]), ingester.submit([ev('p-c')])];
    assert.deepEqual(store.prepared, [['p-a', 'p-b'], ['p-c']]);
    gate.resolve();
    await Promise.all([first, ...waiting]);
    assert.deepEqual(store.appends, [['p-first'], ['p-a', 'p-b', 'p-c']]);
    await ingester.submit([ev('p-alone')]);
    assert.equal(store.prepared.length, 2, 'nothing in flight: no prepare');
  });

  test('with a store that writes in slices (real SQLite file), submits arriving during a 5000-event commit join the next commit together; other work runs meanwhile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opentrail-ingester-slices-'));
    const store = new SqliteEventStore({ path: join(dir, 'events.db') });
    const ingester = new Ingester(store, { maxBatchEvents: 5000 });
    try {
      let firstDone = false;
      const first = ingester.submit(Array.from({ length: 5000 }, () => ev())).then((out) => {
        firstDone = true;
        return out;
      });
      await new Promise((r) => setImmediate(r)); // the commit is in flight
      await new Promise((r) => setImmediate(r));
      assert.equal(firstDone, false, 'the 5000-event commit held the event loop until it finished');
      const later = Array.from({ length: 20 }, (_, i) => ingester.submit([ev(`later-${i}`)]));
      await Promise.all([first, ...later]);
      assert.equal(ingester.stats.commits, 2, 'the 20 submits that arrived during the commit went out as one transaction');
      const ids = await storedIds(store);
      assert.equal(ids.length, 5020);
      assert.deepEqual(ids.slice(5000), later.map((_, i) => `later-${i}`));
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('order is preserved: seqs follow submit order, and each caller gets its own outcomes', async () => {
    const { store, ingester } = setup();
    const submits = Array.from({ length: 120 }, (_, i) => Array.from({ length: (i % 4) + 1 }, () => ev()));
    const results = await Promise.all(submits.map((items) => ingester.submit(items)));
    const flatIds = submits.flat().map((e) => e.eventId);
    assert.deepEqual(await storedIds(store), flatIds, 'the log is in submit order');
    const rows = await store.readAfter(0, 100_000);
    const idBySeq = new Map(rows.map((r) => [r.seq, (JSON.parse(r.json) as { eventID: string }).eventID]));
    let last = 0;
    results.forEach((outcomes, i) => {
      assert.equal(outcomes.length, submits[i]!.length);
      outcomes.forEach((o, j) => {
        assert.equal(o.duplicate, false);
        assert.equal(idBySeq.get(o.seq), submits[i]![j]!.eventId, 'the outcome names the caller\'s own event');
        assert.ok(o.seq > last);
        last = o.seq;
      });
    });
  });

  test('a submit resolves only once its events are durable in the store', async () => {
    const { store, ingester } = setup();
    const seen: number[] = [];
    await Promise.all(Array.from({ length: 20 }, async (_, i) => {
      const outcomes = await ingester.submit([ev(`d${i}`)]);
      // At resolution time, the event is readable from the store.
      const rows = await store.readAfter(outcomes[0]!.seq - 1, 1);
      assert.equal((JSON.parse(rows[0]!.json) as { eventID: string }).eventID, `d${i}`);
      seen.push(i);
    }));
    assert.equal(seen.length, 20);
  });

  test('maxBatchEvents caps a transaction, but never splits one submit', async () => {
    const { store, ingester } = setup(10);
    const submits = [...Array.from({ length: 9 }, () => [ev(), ev(), ev()]), Array.from({ length: 25 }, () => ev()), [ev()]];
    await Promise.all(submits.map((s) => ingester.submit(s)));
    for (const batch of store.appends) {
      assert.ok(batch.length <= 10 || batch.length === 25, `a transaction of ${batch.length} events`);
    }
    assert.ok(store.appends.some((b) => b.length === 25), 'the 25-event submit went out whole');
    // Every submit is inside exactly one transaction.
    const owner = new Map<string, number>();
    store.appends.forEach((b, i) => b.forEach((id) => owner.set(id, i)));
    for (const s of submits) assert.equal(new Set(s.map((e) => owner.get(e.eventId))).size, 1);
    assert.deepEqual(await storedIds(store), submits.flat().map((e) => e.eventId));
  });

  test('duplicates across concurrent callers in one transaction: the first stores, the second is told duplicate', async () => {
    const { ingester } = setup();
    const [a, b] = await Promise.all([ingester.submit([ev('same')]), ingester.submit([ev('same')])]);
    assert.equal(a[0]!.duplicate, false);
    assert.equal(b[0]!.duplicate, true);
    assert.equal(b[0]!.seq, a[0]!.seq);
  });

  test('an empty submit resolves at once without a transaction', async () => {
    const { store, ingester } = setup();
    assert.deepEqual(await ingester.submit([]), []);
    assert.equal(store.appends.length, 0);
  });
});

describe('Ingester: a store that takes appends in parallel (EventStore.parallelAppends)', () => {
  test('with 2, a second group goes out while the first is held; with the default, it waits; drain waits for both', async () => {
    for (const parallel of [2, undefined]) {
      const { store, ingester } = setup();
      store.parallelAppends = parallel;
      const gate = deferred();
      store.gate = gate.promise;
      const first = ingester.submit([ev('p-first')]);
      await new Promise((r) => setImmediate(r)); // the first commit is now in flight, held at the gate
      const second = ingester.submit([ev('p-second'), ev('p-third')]);
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      let drained = false;
      const draining = ingester.drain().then(() => (drained = true));
      if (parallel === 2) {
        assert.deepEqual(store.appends, [['p-first'], ['p-second', 'p-third']], 'the second group went out beside the held one');
        assert.equal((await second).length, 2, 'the second group resolved while the first was held');
        assert.equal(drained, false, 'drain resolved while a group was in flight');
      } else assert.deepEqual(store.appends, [['p-first']], 'one store without parallelAppends saw a second append in flight');
      gate.resolve();
      await Promise.all([first, second, draining]);
      assert.equal(await store.count(), 3);
    }
  });
});

describe('Ingester: failures', () => {
  test('a failing append rejects every caller of that group, and stores none of it', async () => {
    const { store, ingester } = setup();
    store.poison = 'bad';
    const group = [ingester.submit([ev()]), ingester.submit([ev('bad')]), ingester.submit([ev(), ev()])];
    const settled = await Promise.allSettled(group);
    assert.equal(store.appends.length, 1, 'one group');
    for (const s of settled) {
      assert.equal(s.status, 'rejected');
      assert.match(String((s as PromiseRejectedResult).reason), /disk full while writing bad/);
    }
    assert.equal(await store.count(), 0);
  });

  test('later groups still work after a failed one', async () => {
    const { store, ingester } = setup();
    store.poison = 'bad';
    await assert.rejects(ingester.submit([ev('bad')]));
    store.poison = undefined;
    const ok = await ingester.submit([ev('good')]);
    assert.equal(ok[0]!.duplicate, false);
    assert.deepEqual(await storedIds(store), ['good']);
  });

  test('a failure does not leak into the group queued behind it', async () => {
    const { store, ingester } = setup();
    const gate = deferred();
    store.gate = gate.promise;
    store.poison = 'bad';
    const failing = ingester.submit([ev('bad'), ev('x')]);
    await new Promise((r) => setImmediate(r)); // first group in flight
    const queued = [ingester.submit([ev('q1')]), ingester.submit([ev('q2')])];
    gate.resolve();
    await assert.rejects(failing, /disk full/);
    const outcomes = await Promise.all(queued);
    assert.ok(outcomes.every((o) => o[0]!.duplicate === false));
    assert.deepEqual(await storedIds(store), ['q1', 'q2']);
    assert.equal(store.appends.length, 2);
  });

  test('drain waits for queued and in-flight work, failed or not', async () => {
    const { store, ingester } = setup();
    const gate = deferred();
    store.gate = gate.promise;
    store.poison = 'bad';
    const p1 = ingester.submit([ev('bad')]).catch(() => 'rejected');
    const p2 = ingester.submit([ev('fine')]);
    let drained = false;
    const d = ingester.drain().then(() => { drained = true; });
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(drained, false, 'drain waits for the gated commit');
    gate.resolve();
    await d;
    assert.equal(await p1, 'rejected');
    await assert.rejects(p2, /disk full/, 'p2 shared the failing group');
    await ingester.drain(); // idle: resolves at once
  });

  test('property: for any interleaving of submits and failures, every caller settles exactly as its group did, and the log holds exactly the successful groups in order', async () => {
    // One SQLite store under every run's counting wrapper (a store per run, with its writer
    // threads, took minutes): each run's ids are its own, and it reads the log after its start.
    const shared = new SqliteEventStore({ path: ':memory:' });
    let run = 0;
    try {
      await fc.assert(fc.asyncProperty(
        fc.array(fc.record({ size: fc.integer({ min: 1, max: 4 }), poison: fc.boolean(), waves: fc.nat({ max: 2 }) }), { minLength: 1, maxLength: 25 }),
        fc.integer({ min: 1, max: 8 }),
        async (plan, maxBatchEvents) => {
          const store = new CountingStore(shared);
          const startSeq = await shared.lastSeq();
          const tag = `r${++run}`;
          const ingester = new Ingester(store, { maxBatchEvents });
          store.poison = 'poison';
          const submitted: { ids: string[]; settled: Promise<{ ok: boolean }> }[] = [];
          let n = 0;
          for (const step of plan) {
            for (let w = 0; w < step.waves; w++) await new Promise((r) => setImmediate(r));
            const items = Array.from({ length: step.size }, (_, i) => ev(step.poison && i === 0 ? 'poison' : `${tag}-p${n++}`));
            const settledP = ingester.submit(items).then(() => ({ ok: true }), () => ({ ok: false }));
            submitted.push({ ids: items.map((e) => e.eventId), settled: settledP });
          }
          const settled = await Promise.all(submitted.map((s) => s.settled));
          await ingester.drain();
          // Which transaction each submit went into, from the store's own record of appends.
          const groupOf = (id: string) => store.appends.findIndex((b) => b.includes(id));
          const failedGroups = new Set(store.appends.map((b, i) => (b.includes('poison') ? i : -1)).filter((i) => i >= 0));
          const expectedLog: string[] = [];
          submitted.forEach((s, i) => {
            const g = groupOf(s.ids[s.ids.length - 1]!);
            assert.ok(g >= 0);
            assert.equal(settled[i]!.ok, !failedGroups.has(g), `submit ${i} in group ${g}`);
            if (settled[i]!.ok) expectedLog.push(...s.ids);
          });
          assert.deepEqual(await storedIds(shared, startSeq), expectedLog);
          assert.equal(ingester.stats.commits, store.appends.length - failedGroups.size);
        },
      ), { numRuns: 100 });
    } finally {
      await shared.close();
    }
  });
});

/**
 * Real SQLite failures, not thrown by a test double: the store's own connection is capped at its
 * current size (PRAGMA max_page_count), so a commit that needs one more page fails with SQLITE_FULL
 * inside SQLite, exactly as on a full disk; lifting the cap is the disk getting space again.
 */
describe('Ingester: a store that fails and recovers (real SQLite, SQLITE_FULL)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opentrail-ingester-full-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const big = (eventId: string): AppendInput => ({ ...ev(eventId), json: JSON.stringify({ eventID: eventId, pad: randomBytes(15_000).toString('base64') }) /* 20 KB the store cannot compress away */ });

  function fullStore() {
    const store = new SqliteEventStore({ path: join(dir, `events-${++n}.db`) });
    const db = (store as unknown as { db: DatabaseSync }).db;
    const pages = () => (db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count;
    return {
      store,
      db,
      fill: () => db.exec(`PRAGMA max_page_count = ${pages()}`),
      free: () => db.exec('PRAGMA max_page_count = 1073741823'),
    };
  }

  test('a failed commit rolls back: every waiter of the group is rejected with StoreUnavailableError, nothing is stored, no transaction stays open; the next commit succeeds', async () => {
    const { store, db, fill, free } = fullStore();
    const ingester = new Ingester(store, { maxBatchEvents: 5000 });
    try {
      await ingester.submit([ev('before')]);
      fill();
      const group = [ingester.submit([big('g1')]), ingester.submit([ev('g2'), big('g3')]), ingester.submit([ev('g4')], 'process')];
      const settled = await Promise.allSettled(group);
      for (const s of settled) {
        assert.equal(s.status, 'rejected');
        const reason = (s as PromiseRejectedResult).reason as Error;
        assert.ok(reason instanceof StoreUnavailableError, `rejected with ${reason}`);
        assert.match(reason.message, /SQLITE_FULL/);
        assert.equal((reason.cause as { errcode?: number }).errcode! & 0xff, 13, 'the SQLite error is the cause');
      }
      assert.equal(db.isTransaction, false, 'the connection is not left inside the failed transaction');
      assert.deepEqual(await storedIds(store), ['before'], 'nothing of the failed group is stored');
      assert.ok(ingester.unavailable() instanceof StoreUnavailableError, 'the ingester knows the store is failing');
      // The ingester is not stuck: the next group is tried, and fails again while the disk is full.
      await assert.rejects(ingester.submit([big('again')]), StoreUnavailableError);

      free();
      await ingester.probe();
      assert.equal(ingester.unavailable(), undefined, 'a successful probe ends the failing state');
      const ok = await Promise.all([ingester.submit([big('after1')]), ingester.submit([ev('after2')])]);
      assert.ok(ok.every((o) => o[0]!.duplicate === false));
      assert.deepEqual(await storedIds(store), ['before', 'after1', 'after2']);
      // Event history (whose key ids were cached inside the failed transaction) still works.
      const rows = await store.lookup({ accountId: '111111111111', region: 'us-east-1', attribute: ['*', 'management'], startSec: 0, endSec: 4e9, limit: 10 });
      assert.equal(rows.length, 3);
    } finally {
      await store.close();
    }
  });

  test('a successful commit after failures ends the failing state without a probe', async () => {
    const { store, fill, free } = fullStore();
    const ingester = new Ingester(store, { maxBatchEvents: 5000 });
    try {
      fill();
      await assert.rejects(ingester.submit([big('x')]), StoreUnavailableError);
      assert.ok(ingester.unavailable());
      free();
      await ingester.submit([ev('y')]);
      assert.equal(ingester.unavailable(), undefined);
    } finally {
      await store.close();
    }
  });
});

describe('Ingester: follow (a submit\'s own audit record in the same transaction)', () => {
  test('the follow sees its submit\'s outcomes (duplicates included) and is stored in the same commit, after the items', async () => {
    const { store, ingester } = setup();
    await ingester.submit([ev('dup')]);
    const seen: (readonly AppendOutcome[])[] = [];
    const out = await ingester.submit([ev('new'), ev('dup')], 'disk', (o) => {
      seen.push(o);
      return [ev(`audit-${o.filter((x) => x.duplicate).length}-dups`)];
    });
    assert.equal(out.length, 2, 'the submit resolves with its own items\' outcomes');
    assert.deepEqual(seen.map((o) => o.map((x) => x.duplicate)), [[false, true]]);
    assert.deepEqual(await storedIds(store), ['dup', 'new', 'audit-1-dups']);
    assert.equal(store.appends.length, 2, 'one transaction for the items and their follow');
  });

  test('a submit with no items but a follow stores the follow', async () => {
    const { store, ingester } = setup();
    await ingester.submit([], 'disk', () => [ev('only-audit')]);
    assert.deepEqual(await storedIds(store), ['only-audit']);
  });

  test('when the commit fails, neither the items nor the follow are stored', async () => {
    const { store, ingester } = setup();
    store.poison = 'bad';
    await assert.rejects(ingester.submit([ev('bad')], 'disk', () => [ev('its-audit')]));
    assert.deepEqual(await storedIds(store), []);
  });

  test('a follow that throws fails its own submit alone: nothing of it is stored, the rest of its group is', async () => {
    const { store, ingester } = setup();
    const results = await Promise.allSettled([
      ingester.submit([ev('a1')], 'disk', () => [ev('a1-audit')]),
      ingester.submit([ev('b1')], 'disk', () => {
        throw new Error('cannot build the record');
      }),
      ingester.submit([ev('c1')]),
    ]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.match(String((results[1] as PromiseRejectedResult).reason), /cannot build the record/);
    assert.deepEqual(await storedIds(store), ['a1', 'c1', 'a1-audit']);
  });
});
