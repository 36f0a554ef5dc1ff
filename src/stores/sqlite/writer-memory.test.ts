/** What the writer thread keeps between commits: history keys, pending ids, id hashes without their text. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hashIdKey, hashString, historyKeyText, idKeyText } from './event-format.ts';
import { GrowableFloat64, HistoryKeys, PendingIds } from './writer-memory.ts';

test('hashIdKey is hashString of idKeyText, for any account and event id and any hash width', () => {
  fc.assert(fc.property(fc.string(), fc.string({ unit: 'binary' }), fc.integer({ min: 1, max: 53 }), (account, eventId, bits) => {
    assert.equal(hashIdKey(account, eventId, bits), hashString(idKeyText(account, eventId), bits));
  }));
  assert.equal(hashIdKey('111111111111', 'e-1'), hashString('111111111111\u0000\u0000\u0000id\u0000e-1'));
});

test('HistoryKeys: a key keeps its text and hash across commits, is numbered once per commit in the order met, and the cache starts over past its bound', () => {
  const keys = new HistoryKeys(53, 4);
  keys.startCommit();
  const s = keys.scope('111111111111', 'us-east-1');
  assert.deepEqual([keys.indexOf(s, '111111111111', 'us-east-1', 'EventName', 'A'), keys.indexOf(s, '111111111111', 'us-east-1', 'Username', 'A'), keys.indexOf(s, '111111111111', 'us-east-1', 'EventName', 'A')], [0, 1, 0]);
  const first = keys.commitKeys();
  assert.deepEqual(first.map((k) => [k.text, k.k]), [
    [historyKeyText('111111111111', 'us-east-1', 'EventName', 'A'), hashString(historyKeyText('111111111111', 'us-east-1', 'EventName', 'A'))],
    [historyKeyText('111111111111', 'us-east-1', 'Username', 'A'), hashString(historyKeyText('111111111111', 'us-east-1', 'Username', 'A'))],
  ]);
  keys.startCommit();
  const s2 = keys.scope('111111111111', 'us-east-1');
  const other = keys.scope('222222222222', 'us-east-1');
  assert.equal(keys.indexOf(s2, '111111111111', 'us-east-1', 'Username', 'A'), 0);
  assert.equal(keys.indexOf(other, '222222222222', 'us-east-1', 'Username', 'A'), 1, 'another account is another key');
  assert.equal(keys.commitKeys()[0], first[1], 'the same entry, shared with the earlier commit');
  assert.equal(first.length, 2, "an earlier commit's list is not changed by later ones");
  for (const v of ['b', 'c', 'd']) keys.indexOf(s2, '111111111111', 'us-east-1', 'EventName', v);
  keys.startCommit(); // 6 keys > 4: starts over
  const s3 = keys.scope('111111111111', 'us-east-1');
  keys.indexOf(s3, '111111111111', 'us-east-1', 'Username', 'A');
  assert.notEqual(keys.commitKeys()[0], first[1], 'a new entry after the cache started over');
  assert.equal(keys.commitKeys()[0]!.text, first[1]!.text);
  // Few hash bits: the hash is folded as hashString folds it.
  const narrow = new HistoryKeys(3);
  narrow.startCommit();
  narrow.indexOf(narrow.scope('a', 'r'), 'a', 'r', 'EventName', 'X');
  assert.equal(narrow.commitKeys()[0]!.k, hashString(historyKeyText('a', 'r', 'EventName', 'X'), 3));
});

test('PendingIds: every seq of a hash is found, colliding hashes and growth included; clear forgets all', () => {
  const ids = new PendingIds(4);
  const expected = new Map<number, number[]>();
  for (let seq = 1; seq <= 5000; seq++) {
    const k = seq % 7 === 0 ? 42 : hashString(`id-${seq}`, seq % 3 === 0 ? 4 : 53);
    ids.add(k, seq);
    (expected.get(k) ?? expected.set(k, []).get(k)!).push(seq);
  }
  assert.equal(ids.size, 5000);
  for (const [k, seqs] of expected) assert.deepEqual(ids.seqsOf(k).sort((a, b) => a - b), seqs, `hash ${k}`);
  assert.deepEqual(ids.seqsOf(hashString('never added')), []);
  let n = 0;
  ids.forEachHash(() => n++);
  assert.equal(n, 5000);
  ids.clear();
  assert.equal(ids.size, 0);
  assert.deepEqual(ids.seqsOf(42), []);
});

test('GrowableFloat64 keeps what was pushed since reset, across growth', () => {
  const g = new GrowableFloat64();
  for (let i = 0; i < 10_000; i++) g.push3(i, -i, i / 2);
  const v = g.view();
  assert.equal(v.length, 30_000);
  assert.deepEqual([v[0], v[29_997], v[29_998], v[29_999]], [0, 9999, -9999, 4999.5]);
  g.reset();
  g.push3(1, 2, 3);
  assert.deepEqual([...g.view()], [1, 2, 3]);
});
