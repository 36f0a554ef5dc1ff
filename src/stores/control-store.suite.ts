/**
 * The ControlStore contract (see control-store.ts), as tests any driver must pass:
 * documents by (kind, key), JSON round trip, durable put/delete, list by key prefix in key order.
 *
 *   runControlStoreContract('SQLite', async () => new SqliteControlStore(':memory:'), { persistent });
 *
 * "Key order" is asserted on keys every collation orders alike (lower-case letters and digits),
 * so a PostgreSQL driver with a linguistic collation passes too; prefix matching is asserted on
 * every kind of character, since a prefix is a prefix in any collation.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ControlStore } from './control-store.ts';

export interface ControlStoreContractOptions {
  /** For drivers whose data outlives the object: allocates storage and returns an opener of it. */
  persistent?: () => Promise<() => Promise<ControlStore>>;
  /** fast-check runs of the model-based property (default 60). */
  modelRuns?: number;
}

/** What a document is after a JSON round trip (the contract stores JSON documents). */
const asJson = (doc: unknown): unknown => JSON.parse(JSON.stringify(doc));

export function runControlStoreContract(name: string, makeStore: () => Promise<ControlStore>, options: ControlStoreContractOptions = {}): void {
  async function withStore(fn: (s: ControlStore) => Promise<void>): Promise<void> {
    const s = await makeStore();
    try {
      await fn(s);
    } finally {
      await s.close();
    }
  }

  describe(`ControlStore contract: ${name}`, () => {
    test('a missing document is undefined', () => withStore(async (s) => {
      assert.equal(await s.get('channel', 'nope'), undefined);
      assert.deepEqual(await s.list('channel', ''), []);
    }));

    test('put then get returns the document as JSON', () => withStore(async (s) => {
      const doc = {
        ChannelArn: 'arn:aws:cloudtrail:us-east-1:111111111111:channel/abc', n: 1.5, neg: -3, big: 2 ** 52, t: true, f: false, nil: null,
        list: [1, 'two', { three: [3] }], unicode: 'ü€😀\u2028', empty: {}, emptyList: [], quote: '"\\\'',
      };
      await s.put('channel', 'k', doc);
      assert.deepEqual(await s.get('channel', 'k'), doc);
    }));

    test('primitive documents round trip', () => withStore(async (s) => {
      for (const [i, doc] of (['text', 0, 42.25, true, false, null, []] as unknown[]).entries()) {
        await s.put('prim', `k${i}`, doc);
        assert.deepEqual(await s.get('prim', `k${i}`), doc, JSON.stringify(doc));
      }
    }));

    test('put replaces the whole document', () => withStore(async (s) => {
      await s.put('channel', 'k', { a: 1, b: 2 });
      await s.put('channel', 'k', { b: 3 });
      assert.deepEqual(await s.get('channel', 'k'), { b: 3 });
      assert.equal((await s.list('channel', '')).length, 1);
    }));

    test('a document read back is a copy: changing it does not change the store', () => withStore(async (s) => {
      const doc = { Tags: [{ Key: 'a' }], IngestionStatus: {} as Record<string, unknown> };
      await s.put('channel', 'k', doc);
      doc.Tags.push({ Key: 'mutated-after-put' });
      const got = await s.get<typeof doc>('channel', 'k');
      got!.IngestionStatus.x = 1;
      assert.deepEqual(await s.get('channel', 'k'), { Tags: [{ Key: 'a' }], IngestionStatus: {} });
      const [listed] = await s.list<typeof doc>('channel', '');
      listed!.doc.Tags.length = 0;
      assert.deepEqual(await s.get('channel', 'k'), { Tags: [{ Key: 'a' }], IngestionStatus: {} });
    }));

    test('kinds are separate namespaces', () => withStore(async (s) => {
      await s.put('channel', 'same', { kind: 'channel' });
      await s.put('trail', 'same', { kind: 'trail' });
      assert.deepEqual(await s.get('channel', 'same'), { kind: 'channel' });
      assert.deepEqual(await s.get('trail', 'same'), { kind: 'trail' });
      assert.deepEqual((await s.list('channel', '')).map((r) => r.doc), [{ kind: 'channel' }]);
      assert.equal(await s.delete('trail', 'same'), true);
      assert.deepEqual(await s.get('channel', 'same'), { kind: 'channel' });
      assert.deepEqual(await s.list('chan', ''), [], 'a kind is not a prefix');
    }));

    test('delete reports whether it deleted', () => withStore(async (s) => {
      await s.put('channel', 'k', { a: 1 });
      assert.equal(await s.delete('channel', 'k'), true);
      assert.equal(await s.get('channel', 'k'), undefined);
      assert.equal(await s.delete('channel', 'k'), false);
      assert.equal(await s.delete('channel', 'never'), false);
      await s.put('channel', 'k', { again: true });
      assert.deepEqual(await s.get('channel', 'k'), { again: true }, 'a deleted key can be used again');
    }));

    test('list: only keys starting with the prefix, in key order', () => withStore(async (s) => {
      const keys = ['111111111111/us-east-1/b', '111111111111/us-east-1/a', '111111111111/us-west-2/a', '111111111111/us-east-10/z', '222222222222/us-east-1/a', '111111111111/us-east-1/c9', '111111111111/us-east-1/c10'];
      for (const k of keys) await s.put('channel', k, { k });
      const listed = await s.list<{ k: string }>('channel', '111111111111/us-east-1/');
      assert.deepEqual(listed.map((r) => r.key), ['111111111111/us-east-1/a', '111111111111/us-east-1/b', '111111111111/us-east-1/c10', '111111111111/us-east-1/c9']);
      assert.ok(listed.every((r) => r.doc.k === r.key), 'each document comes with its own key');
      assert.equal((await s.list('channel', '')).length, keys.length);
      assert.deepEqual((await s.list('channel', '111111111111/us-east-1/a')).map((r) => r.key), ['111111111111/us-east-1/a'], 'a key is its own prefix');
      assert.deepEqual(await s.list('channel', '111111111111/us-east-1/a/'), []);
    }));

    test('list: prefixes are literal, not patterns', () => withStore(async (s) => {
      for (const k of ['a%b', 'axb', 'a_c', 'abc', 'a*', 'a\\x', 'a[b]', "a'b", 'A%B']) await s.put('k', k, 1);
      assert.deepEqual((await s.list('k', 'a%')).map((r) => r.key), ['a%b']);
      assert.deepEqual((await s.list('k', 'a_')).map((r) => r.key), ['a_c']);
      assert.deepEqual((await s.list('k', 'a*')).map((r) => r.key), ['a*']);
      assert.deepEqual((await s.list('k', 'a\\')).map((r) => r.key), ['a\\x']);
      assert.deepEqual((await s.list('k', 'a[')).map((r) => r.key), ['a[b]']);
      assert.deepEqual((await s.list('k', "a'")).map((r) => r.key), ["a'b"]);
      assert.deepEqual((await s.list('k', 'A')).map((r) => r.key), ['A%B'], 'prefixes are case-sensitive');
    }));

    test('list: prefixes with characters outside the Basic Multilingual Plane', () => withStore(async (s) => {
      await s.put('k', '😀-one', 1);
      await s.put('k', '😀-two', 2);
      await s.put('k', 'é-three', 3);
      await s.put('k', 'plain', 4);
      assert.deepEqual((await s.list('k', '😀')).map((r) => r.doc).sort(), [1, 2]);
      assert.deepEqual((await s.list('k', '😀-t')).map((r) => r.doc), [2]);
      assert.deepEqual((await s.list('k', 'é')).map((r) => r.doc), [3]);
    }));

    test('keys and kinds may hold any text', () => withStore(async (s) => {
      for (const key of ['', ' ', 'with/slash', 'nul\u0000inside', '😀', 'x'.repeat(1000)]) {
        await s.put('any', key, { key });
        assert.deepEqual(await s.get('any', key), { key }, JSON.stringify(key.slice(0, 20)));
      }
      assert.equal(await s.get('any', 'nul'), undefined, 'a key is not cut at a NUL');
    }));

    test('putMany puts every document, or none when one cannot be stored', () => withStore(async (s) => {
      await s.put('k', 'a', { v: 0 });
      await s.putMany([{ kind: 'k', key: 'a', doc: { v: 1 } }, { kind: 'k', key: 'b', doc: { v: 2 } }, { kind: 'other', key: 'a', doc: [3] }]);
      assert.deepEqual((await s.list('k', '')).map((r) => [r.key, r.doc]), [['a', { v: 1 }], ['b', { v: 2 }]]);
      assert.deepEqual(await s.get('other', 'a'), [3]);
      await assert.rejects(s.putMany([{ kind: 'k', key: 'a', doc: { v: 9 } }, { kind: 'k', key: 'c', doc: undefined }]));
      assert.deepEqual(await s.get('k', 'a'), { v: 1 }, 'the first document of a failed batch is not stored');
      assert.equal(await s.get('k', 'c'), undefined);
      await s.putMany([], { eraseReplaced: true });
      await s.putMany([{ kind: 'k', key: 'a', doc: { v: 4 } }], { eraseReplaced: true });
      assert.deepEqual(await s.get('k', 'a'), { v: 4 });
    }));

    test('putMany with deletes: deletes and puts in one transaction, all or none', () => withStore(async (s) => {
      await s.putMany([{ kind: 'f', key: 't|1', doc: 1 }, { kind: 'f', key: 't|2', doc: 2 }, { kind: 'f', key: 't|3', doc: 3 }, { kind: 'p', key: 'c', doc: 'pending' }]);
      await s.putMany([{ kind: 'chain', key: 'c', doc: { end: 1 } }, { kind: 'f', key: 't|3', doc: 33 }], {
        deletes: [{ kind: 'f', key: 't|1' }, { kind: 'f', key: 't|2' }, { kind: 'p', key: 'c' }, { kind: 'f', key: 'missing' }, { kind: 'f', key: 't|3' }],
      });
      assert.deepEqual((await s.list('f', '')).map((r) => [r.key, r.doc]), [['t|3', 33]], 'a key both deleted and put ends up put');
      assert.equal(await s.get('p', 'c'), undefined);
      assert.deepEqual(await s.get('chain', 'c'), { end: 1 });
      await s.putMany([], { deletes: [{ kind: 'chain', key: 'c' }] });
      assert.equal(await s.get('chain', 'c'), undefined, 'deletes alone');
      await assert.rejects(s.putMany([{ kind: 'k', key: 'bad', doc: undefined }], { deletes: [{ kind: 'f', key: 't|3' }] }));
      assert.deepEqual(await s.get('f', 't|3'), 33, 'a failed batch deletes nothing');
    }));

    test('concurrent puts of different keys all land', () => withStore(async (s) => {
      await Promise.all(Array.from({ length: 30 }, (_, i) => s.put('c', `k${String(i).padStart(2, '0')}`, { i })));
      const all = await s.list<{ i: number }>('c', 'k');
      assert.deepEqual(all.map((r) => r.doc.i), Array.from({ length: 30 }, (_, i) => i));
    }));

    if (options.persistent) {
      const persistent = options.persistent;
      test('puts and deletes survive reopening', async () => {
        const open = await persistent();
        const s1 = await open();
        try {
          await s1.put('channel', 'kept', { v: 1 });
          await s1.put('channel', 'deleted', { v: 2 });
          await s1.delete('channel', 'deleted');
          await s1.put('channel', 'kept', { v: 3 });
        } finally {
          await s1.close();
        }
        const s2 = await open();
        try {
          assert.deepEqual(await s2.get('channel', 'kept'), { v: 3 });
          assert.equal(await s2.get('channel', 'deleted'), undefined);
          assert.deepEqual((await s2.list('channel', '')).map((r) => r.key), ['kept']);
        } finally {
          await s2.close();
        }
      });
    }

    test('property: put/delete/get/list agree with a map, for any keys and JSON documents', async () => {
      // Mostly a small shared key space, so prefixes and keys meet often; some arbitrary text too.
      const keyArb = fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom('a', 'ab', 'abc', 'b', 'a/b', 'a/c', '', '😀', '😀a', '😀b', 'é', 'éa') },
        { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }) },
        { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }) },
      );
      const op = fc.oneof(
        fc.record({ op: fc.constant('put' as const), kind: fc.constantFrom('k1', 'k2'), key: keyArb, doc: fc.jsonValue({ maxDepth: 3 }) }),
        fc.record({ op: fc.constant('delete' as const), kind: fc.constantFrom('k1', 'k2'), key: keyArb }),
      );
      const prefixArb = fc.oneof({ weight: 2, arbitrary: fc.constantFrom('a', 'a/', '😀', 'é') }, { weight: 1, arbitrary: keyArb.map((k) => k.slice(0, 2)) });
      await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 25 }), fc.array(prefixArb, { maxLength: 5 }), async (ops, prefixes) => {
        const s = await makeStore();
        try {
          const model = new Map<string, unknown>();
          for (const o of ops) {
            const mk = JSON.stringify([o.kind, o.key]);
            if (o.op === 'put') {
              await s.put(o.kind, o.key, o.doc);
              model.set(mk, asJson(o.doc));
            } else {
              assert.equal(await s.delete(o.kind, o.key), model.has(mk), `delete ${mk}`);
              model.delete(mk);
            }
          }
          for (const o of ops) {
            assert.deepEqual(await s.get(o.kind, o.key), model.get(JSON.stringify([o.kind, o.key])));
          }
          for (const kind of ['k1', 'k2']) {
            for (const prefix of [...prefixes, '']) {
              const expected = [...model.entries()]
                .map(([mk, doc]) => ({ k: JSON.parse(mk) as [string, string], doc }))
                .filter(({ k }) => k[0] === kind && k[1].startsWith(prefix))
                .map(({ k, doc }) => ({ key: k[1], doc }));
              const got = await s.list(kind, prefix);
              // Membership is exact; order is checked separately on collation-neutral keys.
              const byKey = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
              assert.deepEqual([...got].sort(byKey), expected.sort(byKey), `list(${kind}, ${JSON.stringify(prefix)})`);
            }
          }
        } finally {
          await s.close();
        }
      }), {
        numRuns: options.modelRuns ?? 60,
        // Always tried: a key and a prefix sharing a character outside the BMP (UTF-16 length 2).
        examples: [[[{ op: 'put', kind: 'k1', key: '😀b', doc: {} }], ['😀']]],
      });
    });
  });
}
