/**
 * LeaseKeeper over real lease stores (two SQLite connections to one control.db: two "nodes"):
 * the share of a group splits between live nodes and moves to the survivor when a node dies; a
 * job lease is held by one node at a time and handed over on stop; held leases are renewed.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SqliteLeaseStore } from './sqlite/index.ts';
import { LeaseKeeper } from './lease-keeper.ts';

const dir = mkdtempSync(join(tmpdir(), 'opentrail-lease-keeper-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

function nodes(ttlMs: number) {
  const path = join(dir, `db-${++n}`, 'control.db');
  const stores = [new SqliteLeaseStore(path), new SqliteLeaseStore(path)];
  const errors: unknown[] = [];
  const keepers = stores.map((s, i) => new LeaseKeeper(s, { holder: `node-${i}`, ttlMs, logError: (m, e) => errors.push(e ?? m) }));
  return {
    keepers, errors,
    close: async () => {
      for (const k of keepers) k.abandon();
      for (const s of stores) await s.close();
    },
  };
}

test('the share of a group splits between live nodes, never overlaps, and moves to the survivor when a node dies', async () => {
  const { keepers: [a, b], close } = nodes(600);
  try {
    const keys = ['t1', 't2', 't3', 't4'];
    const first = await a!.share('delivery', keys);
    assert.equal(first.size, 4, 'alone, a node takes everything');
    await b!.share('delivery', keys); // b counts two live nodes; a still holds all four
    const a2 = await a!.share('delivery', keys); // a gives back what is beyond its share
    const b2 = await b!.share('delivery', keys);
    assert.equal(a2.size, 2);
    assert.equal(b2.size, 2);
    assert.deepEqual([...a2.keys(), ...b2.keys()].sort(), keys);
    a!.abandon(); // kill -9: nothing released
    const b3 = await b!.share('delivery', keys);
    assert.equal(b3.size, 2, 'the dead node\'s leases run until they expire');
    await sleep(800);
    const b4 = await b!.share('delivery', keys);
    assert.deepEqual([...b4.keys()].sort(), keys);
    for (const [k, f] of b4) if (first.has(k)) assert.ok(f.token > first.get(k)!.token, 'taken over with a higher token');
  } finally {
    await close();
  }
});

test('a job lease is held by one node; stop hands it over at once', async () => {
  const { keepers: [a, b], close } = nodes(60_000);
  try {
    const fa = await a!.claim('job/retention');
    assert.ok(fa);
    assert.equal(await b!.claim('job/retention'), undefined);
    assert.deepEqual(await a!.claim('job/retention'), fa, 'kept, same token');
    await a!.stop();
    const fb = await b!.claim('job/retention');
    assert.ok(fb && fb.token > fa.token);
  } finally {
    await close();
  }
});

test('a started keeper renews what it holds: the lease outlives its ttl and nobody else takes it', async () => {
  const { keepers: [a, b], close } = nodes(300);
  try {
    a!.start();
    const fa = await a!.claim('job/x');
    assert.ok(fa);
    await sleep(900);
    assert.deepEqual(a!.fence('job/x'), fa);
    assert.equal(await b!.take('job/x'), undefined);
    a!.abandon();
    await sleep(450);
    assert.ok(await b!.take('job/x'), 'taken after it was no longer renewed');
  } finally {
    await close();
  }
});

test('a renewal the database does not answer within the lease time counts as lost, and does not block the next one', { timeout: 10_000 }, async () => {
  const path = join(dir, `db-${++n}`, 'control.db');
  const store = new SqliteLeaseStore(path);
  // The real store, except that renewals wait for `answer` (a silent partition, then the network back).
  let answer!: () => void;
  const partitioned = new Promise<void>((r) => { answer = r; });
  const silent = Object.create(store) as SqliteLeaseStore;
  silent.renew = async (leases, ttlMs) => {
    await partitioned;
    return store.renew(leases, ttlMs);
  };
  const errors: string[] = [];
  const k = new LeaseKeeper(silent, { holder: 'node-0', ttlMs: 300, logError: (m) => errors.push(m) });
  try {
    const f = await k.claim('job/x');
    assert.ok(f);
    await k.renewNow();
    assert.equal(k.fence('job/x'), undefined, 'no longer relied on');
    assert.match(errors.join('\n'), /no answer within the lease time/);
    answer();
    await k.renewNow(); // the next renewal runs (nothing held: nothing to renew)
    assert.equal(k.fence('job/x'), undefined, 'a late answer does not bring it back');
  } finally {
    k.abandon();
    await store.close();
  }
});
