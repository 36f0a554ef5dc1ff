/**
 * The live tail's bounds, on a real event log (SQLite): a reader that takes nothing makes the
 * stream hold one page and read no further (it pauses at its cursor), and ends it after stallMs;
 * streams are bounded per caller and in total. The response is a stand-in for node's
 * ServerResponse whose socket never drains (a reader that stopped reading).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { normalizeRecord, randomIds } from '../core/index.ts';
import { toAppendInput } from '../ingest/index.ts';
import { SqliteEventStore } from '../stores/sqlite/index.ts';
import { LIVE_TAIL_DEFAULTS, LiveTail, LogSignal, TailLimitError } from './live-tail.ts';

const A = '111111111111';
const caller = { accountId: A, region: 'us-east-1', principal: 'AKIAALICE' };

/** A response whose socket takes the first write and then nothing (write answers false, no drain ever). */
class StuckResponse extends EventEmitter {
  written: string[] = [];
  destroyed = false;
  writableEnded = false;
  headersSent = false;
  writeHead(): this {
    this.headersSent = true;
    return this;
  }
  write(chunk: string): boolean {
    this.written.push(chunk);
    return this.written.length < 2;
  }
  end(): void {
    this.writableEnded = true;
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

test('a reader that takes nothing: one page held, no further reads, ended after stallMs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ot-tail-'));
  const events = new SqliteEventStore({ path: join(dir, 'events.db') });
  await events.append(Array.from({ length: 3000 }, (_, i) => {
    const r = normalizeRecord({ eventSource: 'ec2.amazonaws.com', eventName: `E${i}`, readOnly: false, awsRegion: 'us-east-1', recipientAccountId: A }, { defaultAccountId: A, defaultRegion: 'us-east-1', nowMs: Date.now(), ids: randomIds });
    assert.ok(r.ok);
    return toAppendInput(r.value);
  }));
  let reads = 0;
  const counted = new Proxy(events, {
    get(target, prop, receiver) {
      if (prop === 'readAfter') return (...a: Parameters<SqliteEventStore['readAfter']>) => (reads++, target.readAfter(...a));
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
  const tail = new LiveTail(counted, new LogSignal(), { ...LIVE_TAIL_DEFAULTS, readBatch: 100, stallMs: 300 });
  const res = new StuckResponse();
  const t0 = performance.now();
  await tail.serve(res as unknown as ServerResponse, caller, undefined, 0);
  const ms = performance.now() - t0;
  assert.equal(res.destroyed, true, 'the stalled stream is ended');
  assert.ok(ms >= 290 && ms < 3000, `ended after ${ms} ms`);
  assert.equal(reads, 1, 'one page read, none after it');
  // The start line, then one page of 100 entries: what the server held for this reader.
  assert.equal(res.written.length, 2);
  assert.equal(res.written[1]!.match(/^data: /gm)?.length, 100);
  await events.close();
});

test('streams are bounded per caller and in total, and given back', () => {
  const tail = new LiveTail({} as SqliteEventStore, new LogSignal(), { ...LIVE_TAIL_DEFAULTS, maxStreams: 3, maxStreamsPerCaller: 2 });
  const r1 = tail.admit(caller);
  tail.admit(caller);
  assert.throws(() => tail.admit(caller), (e: unknown) => e instanceof TailLimitError && /limit per caller/.test(e.message));
  tail.admit({ ...caller, principal: 'AKIABOB' });
  assert.throws(() => tail.admit({ ...caller, principal: 'AKIACAROL' }), (e: unknown) => e instanceof TailLimitError && /3 live tails open/.test(e.message));
  r1();
  r1();
  assert.equal(tail.size, 2);
  tail.admit({ ...caller, principal: 'AKIACAROL' });
  assert.equal(tail.size, 3);
});
