import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdmissionGate, BULK_ADMISSION, bulkAdmission, MAX_BULK_ADMISSION } from './admission.ts';

const tick = () => new Promise((r) => setImmediate(r));

test('AdmissionGate: at most `limit` run at once, the rest wait in arrival order and all complete', async () => {
  const gate = new AdmissionGate(2);
  let running = 0;
  let most = 0;
  const order: number[] = [];
  const releases: (() => void)[] = [];
  const runs = [0, 1, 2, 3, 4].map((i) => gate.run(async () => {
    running++;
    most = Math.max(most, running);
    order.push(i);
    await new Promise<void>((r) => releases.push(r));
    running--;
    return i;
  }));
  await tick();
  assert.deepEqual(order, [0, 1], 'two admitted');
  assert.equal(gate.queued, 3);
  while (releases.length > 0) {
    releases.shift()!();
    await tick();
    await tick();
  }
  assert.deepEqual(await Promise.all(runs), [0, 1, 2, 3, 4]);
  assert.deepEqual(order, [0, 1, 2, 3, 4], 'first come, first served');
  assert.equal(most, 2);
  assert.equal(gate.inUse, 0);
});

test('AdmissionGate: a run that throws gives its slot back', async () => {
  const gate = new AdmissionGate(1);
  await assert.rejects(gate.run(async () => {
    throw new Error('boom');
  }), /boom/);
  assert.equal(await gate.run(async () => 7), 7);
  assert.equal(gate.inUse, 0);
  assert.throws(() => new AdmissionGate(0), RangeError);
});

test('AdmissionGate.enter: the release is idempotent (a slot is given back once, however often it is called)', async () => {
  const gate = new AdmissionGate(1);
  const release = await gate.enter();
  let second = false;
  const waiting = gate.enter().then((r) => {
    second = true;
    return r;
  });
  await tick();
  assert.equal(second, false, 'the second waits while the first holds the slot');
  release();
  release();
  const r2 = await waiting;
  assert.equal(gate.inUse, 1, 'the slot passed to the waiter, not freed twice');
  r2();
  assert.equal(gate.inUse, 0);
});

test('bulkAdmission: a store\'s hint within 1..MAX_BULK_ADMISSION, the default without a usable one', () => {
  assert.equal(bulkAdmission(undefined), BULK_ADMISSION);
  assert.equal(bulkAdmission(4), 4);
  assert.equal(bulkAdmission(1), 1);
  assert.equal(bulkAdmission(MAX_BULK_ADMISSION + 10), MAX_BULK_ADMISSION);
  for (const bad of [0, -3, 2.5, Number.NaN, Number.POSITIVE_INFINITY]) assert.equal(bulkAdmission(bad), BULK_ADMISSION, String(bad));
});
