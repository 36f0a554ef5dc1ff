import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { PeriodicJob } from './periodic-job.ts';

/** Waits until `ok()` holds (no deadline of its own: the test runner's timeout is the limit). */
async function until(ok: () => boolean): Promise<void> {
  while (!ok()) await sleep(5);
}

/** Work that takes `ms` and records how many of its runs were in progress at once. */
function slowWork(ms: number) {
  const seen = { runs: 0, active: 0, maxActive: 0, ended: 0 };
  const work = async () => {
    seen.runs++;
    seen.active++;
    seen.maxActive = Math.max(seen.maxActive, seen.active);
    await sleep(ms);
    seen.active--;
    seen.ended++;
    return seen.runs;
  };
  return { seen, work };
}

test('runs started by the timer never overlap, however short the interval and long the run', async () => {
  const { seen, work } = slowWork(30);
  const job = new PeriodicJob(work, { everyMs: 1, onError: (e) => assert.fail(String(e)) });
  job.start();
  await until(() => seen.runs >= 3);
  await job.stop();
  assert.equal(seen.maxActive, 1);
  const after = seen.runs;
  await sleep(50);
  assert.equal(seen.runs, after, 'no run after stop');
});

test('stop waits for the run in progress, and a run asked for meanwhile shares it', async () => {
  const { seen, work } = slowWork(80);
  const job = new PeriodicJob(work, { everyMs: 60_000, onError: () => {} });
  job.start();
  const first = job.run();
  assert.equal(job.run(), first, 'a second run while one is in progress is that run');
  await sleep(10);
  await job.stop();
  assert.equal(seen.ended, 1, 'stop resolved after the run ended');
  assert.equal(await first, 1);
  assert.equal(job.started, false);
});

test('stop waits for a run that fails, and does not throw its error', async () => {
  const job = new PeriodicJob(async () => {
    await sleep(30);
    throw new Error('boom');
  }, { everyMs: 60_000, onError: () => {} });
  const run = job.run();
  const stopped = job.stop();
  await assert.rejects(run, /boom/);
  await stopped;
});

test('a failure of a timer run goes to onError; run() rejects to its caller; a throwing work is a rejection', async () => {
  const errors: unknown[] = [];
  let n = 0;
  const job = new PeriodicJob(async () => {
    n++;
    throw new Error(`fail ${n}`);
  }, { everyMs: 5, onError: (e) => errors.push(e) });
  job.start();
  await until(() => errors.length >= 1);
  await job.stop();
  assert.match(String(errors[0]), /fail/);
  await assert.rejects(job.run(), /fail/);
  await assert.rejects(job.run(() => {
    throw new Error('sync');
  }), /sync/);
});

test('rerun: a run asked for during a run follows it once, while started', async () => {
  const { seen, work } = slowWork(40);
  const job = new PeriodicJob(work, { everyMs: 60_000, onError: () => {}, rerun: true });
  job.start();
  const first = job.run();
  void job.run();
  void job.run();
  await first;
  await until(() => seen.runs >= 2);
  await job.stop();
  assert.equal(seen.runs, 2, 'one more run, not one per ask');
  assert.equal(seen.maxActive, 1);
  const stopped = new PeriodicJob(work, { everyMs: 60_000, onError: () => {}, rerun: true });
  const before = seen.runs;
  const p = stopped.run();
  void stopped.run();
  await p;
  await sleep(20);
  assert.equal(seen.runs, before + 1, 'not started: no follow-up run');
});

test('nextDueInMs: a run comes when due, sooner than the interval; start({ runNow }) runs at once', async () => {
  const { seen, work } = slowWork(1);
  let due: number | undefined = 10;
  const job = new PeriodicJob(work, { everyMs: 60_000, onError: () => {}, nextDueInMs: () => due });
  job.start({ runNow: true });
  await until(() => seen.runs >= 3); // the first at once, then when due (the interval is a minute)
  due = undefined;
  await job.stop();
  const runs = seen.runs;
  await sleep(30);
  assert.equal(seen.runs, runs);
});
