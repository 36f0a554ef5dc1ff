/**
 * The LeaseStore contract (see lease-store.ts), as tests any driver must pass. `open` gives two
 * lease stores on the same database (two "nodes": two connections, or two pools) and, on the same
 * database, the control store whose fenced writes check those leases.
 *
 *   runLeaseStoreContract('SQLite', async () => ({ a, b, control, close }));
 *
 * Expiry is by the database's clock: the tests wait real time (a few hundred ms) and never assert
 * how fast anything is.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ControlStore } from './control-store.ts';
import { LeaseLostError, type Fence, type LeaseStore } from './lease-store.ts';

export interface LeaseStoreFixture {
  a: LeaseStore;
  b: LeaseStore;
  /** The control store of the same database. */
  control: ControlStore;
  close(): Promise<void>;
}

const LONG = 60_000;

export function runLeaseStoreContract(name: string, open: () => Promise<LeaseStoreFixture>): void {
  async function withStores(fn: (f: LeaseStoreFixture) => Promise<void>): Promise<void> {
    const f = await open();
    try {
      await fn(f);
    } finally {
      await f.close();
    }
  }

  const rejectsLost = async (p: Promise<unknown>, fence: Fence) => {
    const err = await p.then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof LeaseLostError, `rejected with LeaseLostError, not ${String(err)}`);
    assert.deepEqual(err.fence, fence);
  };

  describe(`LeaseStore contract: ${name}`, () => {
    test('a free lease is taken by one holder; another cannot take it while it runs', () => withStores(async ({ a, b }) => {
      const [mine, ...rest] = await a.acquire('node-a', ['delivery/t1'], LONG);
      assert.equal(rest.length, 0);
      assert.equal(mine!.name, 'delivery/t1');
      assert.equal(mine!.holder, 'node-a');
      assert.ok(Number.isInteger(mine!.token) && mine!.token > 0);
      assert.deepEqual(await b.acquire('node-b', ['delivery/t1'], LONG), []);
      assert.deepEqual(await b.list('delivery/'), [{ ...mine!, live: true }]);
    }));

    test('acquire takes the free leases of a list and leaves the held ones', () => withStores(async ({ a, b }) => {
      await a.acquire('node-a', ['g/1', 'g/3'], LONG);
      const got = await b.acquire('node-b', ['g/1', 'g/2', 'g/3', 'g/4'], LONG);
      assert.deepEqual(got.map((f) => f.name).sort(), ['g/2', 'g/4']);
      assert.deepEqual((await a.list('g/')).map((l) => [l.name, l.holder]), [['g/1', 'node-a'], ['g/2', 'node-b'], ['g/3', 'node-a'], ['g/4', 'node-b']]);
    }));

    test('tokens of one name only grow: taken again by its holder, released and taken by another', () => withStores(async ({ a, b }) => {
      const [t1] = await a.acquire('node-a', ['job/x'], LONG);
      const [t2] = await a.acquire('node-a', ['job/x'], LONG); // a restarted node taking its own lease back
      assert.ok(t2!.token > t1!.token, `${t2!.token} > ${t1!.token}`);
      await a.release([t2!]);
      assert.deepEqual((await b.list('job/')).map((l) => l.live), [false]);
      const [t3] = await b.acquire('node-b', ['job/x'], LONG);
      assert.ok(t3!.token > t2!.token);
      // The old tokens are worthless now.
      assert.deepEqual(await a.renew([t1!, t2!], LONG), []);
    }));

    test('a lease expires by the database\'s time; the next holder gets a higher token; the old one cannot renew', () => withStores(async ({ a, b }) => {
      const [old] = await a.acquire('node-a', ['delivery/t'], 300);
      assert.deepEqual(await b.acquire('node-b', ['delivery/t'], LONG), []);
      await sleep(500);
      assert.deepEqual((await b.list('delivery/')).map((l) => l.live), [false]);
      const [next] = await b.acquire('node-b', ['delivery/t'], LONG);
      assert.ok(next && next.token > old!.token);
      assert.deepEqual(await a.renew([old!], LONG), []);
      assert.deepEqual(await a.acquire('node-a', ['delivery/t'], LONG), []);
    }));

    test('renew keeps the token and the lease, for as long as it is renewed in time', () => withStores(async ({ a, b }) => {
      const [l] = await a.acquire('node-a', ['digest/t'], 400);
      for (let i = 0; i < 5; i++) {
        await sleep(150);
        assert.deepEqual(await a.renew([l!], 400), [l]);
        assert.deepEqual(await b.acquire('node-b', ['digest/t'], LONG), [], `round ${i}`);
      }
    }));

    test('an expired lease nobody took cannot be renewed: the holder takes it again, with a new token', () => withStores(async ({ a }) => {
      const [l] = await a.acquire('node-a', ['job/r'], 200);
      await sleep(350);
      assert.deepEqual(await a.renew([l!], LONG), []);
      const [again] = await a.acquire('node-a', ['job/r'], LONG);
      assert.ok(again!.token > l!.token);
    }));

    test('release ends only the lease of that holder and token', () => withStores(async ({ a, b }) => {
      const [l] = await a.acquire('node-a', ['job/k'], LONG);
      await b.release([{ ...l!, holder: 'node-b' }, { ...l!, token: l!.token + 1 }]);
      assert.deepEqual((await b.list('job/k')).map((x) => x.live), [true]);
      await a.release([l!]);
      assert.equal((await b.acquire('node-b', ['job/k'], LONG)).length, 1);
    }));

    test('list: only names starting with the prefix (literally), in name order', () => withStores(async ({ a }) => {
      await a.acquire('n', ['p%/b', 'p%/a', 'p_/c', 'px/d', 'q/e'], LONG);
      assert.deepEqual((await a.list('p%/')).map((l) => l.name), ['p%/a', 'p%/b']);
      assert.deepEqual((await a.list('')).map((l) => l.name), ['p%/a', 'p%/b', 'p_/c', 'px/d', 'q/e']);
    }));

    test('holders racing for one lease: exactly one gets it', () => withStores(async ({ a, b }) => {
      for (let round = 0; round < 5; round++) {
        const name = `race/${round}`;
        const got = await Promise.all([0, 1, 2, 3].map((i) => (i % 2 ? b : a).acquire(`node-${i}`, [name], LONG)));
        assert.equal(got.flat().length, 1, `round ${round}: ${JSON.stringify(got)}`);
      }
    }));

    test('fenced control-store writes land while the lease is held, and not after another holder took it', () => withStores(async ({ a, b, control }) => {
      const [fa] = await a.acquire('node-a', ['delivery/t'], 300);
      await control.put('delivery-state', 't', { cursor: 1 }, { fence: fa });
      await control.putMany([{ kind: 'delivered-file', key: 't|f1', doc: { n: 1 } }, { kind: 'delivery-state', key: 't', doc: { cursor: 2 } }], { fence: fa });
      assert.equal(await control.delete('delivered-file', 't|f1', { fence: fa }), true);
      assert.deepEqual(await control.get('delivery-state', 't'), { cursor: 2 });
      await sleep(450);
      // Expired, not yet taken: the holder must not write any more either.
      await rejectsLost(control.put('delivery-state', 't', { cursor: 3 }, { fence: fa }), fa!);
      const [fb] = await b.acquire('node-b', ['delivery/t'], LONG);
      await rejectsLost(control.put('delivery-state', 't', { cursor: 4 }, { fence: fa }), fa!);
      await rejectsLost(control.putMany([{ kind: 'x', key: 'new', doc: 1 }, { kind: 'delivery-state', key: 't', doc: { cursor: 5 } }], { fence: fa }), fa!);
      await control.put('delivered-file', 't|f2', { n: 2 });
      await rejectsLost(control.putMany([{ kind: 'x', key: 'new', doc: 1 }], { fence: fa, deletes: [{ kind: 'delivered-file', key: 't|f2' }] }), fa!);
      await control.putMany([{ kind: 'x', key: 'b', doc: 1 }], { fence: fb, deletes: [{ kind: 'x', key: 'b-gone' }] });
      await rejectsLost(control.delete('delivered-file', 't|f2', { fence: fa }), fa!);
      // Nothing of the stale holder's writes landed; the new holder's do.
      assert.deepEqual(await control.get('delivery-state', 't'), { cursor: 2 });
      assert.equal(await control.get('x', 'new'), undefined);
      assert.deepEqual(await control.get('delivered-file', 't|f2'), { n: 2 });
      assert.equal(await control.get('x', 'b'), 1, 'a fenced putMany with deletes lands for the holder');
      await control.put('delivery-state', 't', { cursor: 6 }, { fence: fb });
      assert.deepEqual(await control.get('delivery-state', 't'), { cursor: 6 });
    }));

    test('a fenced write after release, or with a fence never granted, changes nothing', () => withStores(async ({ a, control }) => {
      const [f] = await a.acquire('node-a', ['job/retention'], LONG);
      await a.release([f!]);
      await rejectsLost(control.put('k', 'a', 1, { fence: f }), f!);
      const never = { name: 'job/never', holder: 'node-a', token: 1 };
      await rejectsLost(control.put('k', 'a', 1, { fence: never }), never);
      assert.equal(await control.get('k', 'a'), undefined);
    }));
  });
}
