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
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
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

test('a stream on a quiet account while another account ingests: each commit costs a bounded read, and its own events still arrive once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ot-tail-'));
  const events = new SqliteEventStore({ path: join(dir, 'events.db') });
  const B = '222222222222';
  const batch = (account: string, n: number, name: string) =>
    Array.from({ length: n }, (_, i) => {
      const r = normalizeRecord({ eventSource: 'ec2.amazonaws.com', eventName: `${name}${i}`, readOnly: false, awsRegion: 'us-east-1', recipientAccountId: account }, { defaultAccountId: account, defaultRegion: 'us-east-1', nowMs: Date.now(), ids: randomIds });
      assert.ok(r.ok);
      return toAppendInput(r.value);
    });
  // The span of the log each read walked (seq after its start to where it stopped): what the store decodes.
  const spans: number[] = [];
  let started = 0;
  let finished = 0;
  const counted = new Proxy(events, {
    get(target, prop, receiver) {
      if (prop === 'readAfter') {
        return async (...a: Parameters<SqliteEventStore['readAfter']>) => {
          const n = ++started;
          const rows = await target.readAfter(...a);
          const end = rows.length >= a[1] ? rows.at(-1)!.seq : await target.lastSeq();
          spans.push(end - a[0]);
          finished = Math.max(finished, n);
          return rows;
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
  const signal = new LogSignal();
  const readBatch = 50;
  const tail = new LiveTail(counted, signal, { ...LIVE_TAIL_DEFAULTS, readBatch, pollMs: 20 });
  const server = createServer((req, res) => void tail.serve(res, caller, undefined, Number(req.headers['last-event-id'] ?? 0)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const ac = new AbortController();
  let text = '';
  let reading: Promise<void> = Promise.resolve();
  const commits = 30;
  const perCommit = 40;
  let own: Awaited<ReturnType<SqliteEventStore['append']>> = [];
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    reading = (async () => {
      const res = await fetch(url, { signal: ac.signal });
      for await (const chunk of res.body!) text += Buffer.from(chunk).toString();
    })().catch(() => {});
    // After a commit: wait until a read that began after it has finished (the stream looked at it).
    const looked = async () => {
      const after = started;
      for (let i = 0; i < 500 && finished <= after; i++) await new Promise((r) => setTimeout(r, 10));
    };
    for (let c = 0; c < commits; c++) {
      await events.append(batch(B, perCommit, `B${c}-`));
      signal.notify();
      await looked();
    }
    own = await events.append(batch(A, 1, 'Mine'));
    signal.notify();
    for (let i = 0; i < 500 && !text.includes('"Mine0"'); i++) await new Promise((r) => setTimeout(r, 10));
  } finally {
    ac.abort();
    await reading;
    tail.close();
    server.close();
    await events.close();
  }
  // Unfiltered pages of readBatch rows: no read walks more than a page, and all reads together walk
  // the log about once (with the account filter each read walked the whole log after the start).
  assert.ok(Math.max(...spans) <= readBatch, `widest read ${Math.max(...spans)} rows`);
  const walked = spans.reduce((a, b) => a + b, 0);
  assert.ok(walked <= (commits * perCommit + 1) * 1.5, `reads walked ${walked} rows for ${commits * perCommit + 1} written`);
  // Its own event, once, with its seq as id; nothing of the other account.
  assert.equal(text.match(/"Mine0"/g)?.length, 1);
  assert.match(text, new RegExp(`id: ${own[0]!.seq}\\ndata: `));
  assert.doesNotMatch(text, /"B\d+-\d+"/);
});
