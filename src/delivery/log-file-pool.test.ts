/** Log files built by the pool's threads: the bytes the in-process build gives, whatever happens to the threads. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { assembleLogFile, logFileBody, logFileJson, RecordArena, recordRanges } from './log-file.ts';
import { LogFilePool } from './log-file-pool.ts';

const cases: string[][] = [
  [],
  ['{"a":1}'],
  ['{"a":1}', '{"b":"x"}', '{}'],
  ['{"userName":"Zoë Ångström"}', '{"v":"日本語"}'],
  ['{"e":"😀 and 𝄞"}', '{"s":"\ud800"}', '{"t":"\udfff tail"}'],
  // Larger than a chunk of the small arena below (a buffer of its own), between small ones.
  ['{"x":0}', JSON.stringify({ big: 'é'.repeat(3000) }), '{"y":1}'],
];

test('records written once to the arena assemble into the bytes of logFileJson, across chunks and into a reused scratch buffer', () => {
  const arena = new RecordArena(256);
  const scratch = Buffer.alloc(64 * 1024, 0xee);
  for (const rs of cases) {
    const refs = rs.map((r) => arena.add(r));
    assert.ok(assembleLogFile(recordRanges(refs)).equals(logFileJson(rs)), JSON.stringify(rs).slice(0, 80));
    assert.ok(assembleLogFile(recordRanges(refs), scratch).equals(logFileJson(rs)), `scratch: ${JSON.stringify(rs).slice(0, 80)}`);
  }
  // Many records share a chunk: the ranges name each chunk once.
  const many = Array.from({ length: 50 }, (_, i) => arena.add(`{"i":${i}}`));
  assert.ok(recordRanges(many).sabs.length < 10);
});

test('the pool builds the bytes logFileBody gives (gzip and SHA-256 of the same file), one job or many at once', async (t) => {
  const pool = new LogFilePool({ size: 2, inProcessBelow: 0 });
  t.after(() => pool.close());
  const arena = new RecordArena(1024);
  const jobs = cases.map((rs) => ({ rs, refs: rs.map((r) => arena.add(r)) }));
  const built = await Promise.all(jobs.map((j, i) => pool.build(j.refs, i % 2 === 0)));
  for (let i = 0; i < jobs.length; i++) {
    const rs = jobs[i]!.rs;
    assert.ok(built[i]!.body.equals(await logFileBody(rs)), `body ${i}`);
    assert.equal(built[i]!.sha256, i % 2 === 0 ? createHash('sha256').update(logFileJson(rs)).digest('hex') : undefined);
  }
  assert.deepEqual(pool.stats, { pooled: jobs.length, inProcess: 0 });
});

test('a pool whose threads die builds in process (the same bytes), and stops starting threads after repeated failures', async (t) => {
  let started = 0;
  const pool = new LogFilePool({
    size: 1, inProcessBelow: 0, newThread: () => {
      started++;
      return new Worker('process.exit(7)', { eval: true });
    },
  });
  t.after(() => pool.close());
  const arena = new RecordArena();
  const rs = ['{"a":"ü"}', '{"b":2}'];
  for (let i = 0; i < 5; i++) {
    const out = await pool.build(rs.map((r) => arena.add(r)), true);
    assert.ok(out.body.equals(await logFileBody(rs)));
    assert.equal(out.sha256, createHash('sha256').update(logFileJson(rs)).digest('hex'));
  }
  assert.equal(pool.stats.inProcess, 5);
  assert.equal(pool.usable, false);
  assert.equal(started, 3);
});

test('a small file is built in process, without starting a thread', async () => {
  let started = 0;
  const pool = new LogFilePool({ inProcessBelow: 100, newThread: () => {
    started++;
    throw new Error('no thread for a small file');
  } });
  const arena = new RecordArena();
  const rs = ['{"a":1}', '{"b":"ü"}'];
  const out = await pool.build(rs.map((r) => arena.add(r)), false);
  assert.ok(out.body.equals(await logFileBody(rs)));
  assert.deepEqual([started, pool.stats.inProcess, pool.stats.pooled], [0, 1, 0]);
  // A large one asks for a thread; one that cannot start: built in process all the same.
  const big = Array.from({ length: 20 }, (_, i) => `{"i":${i}}`);
  const out2 = await pool.build(big.map((r) => arena.add(r)), false);
  assert.ok(out2.body.equals(await logFileBody(big)));
  assert.deepEqual([started, pool.stats.inProcess, pool.stats.pooled], [1, 2, 0]);
});
