/**
 * The EventBridge forwarder as a consumer of a real event log (SQLite stores): batches of at most
 * 10 entries of one Region in seq order, the cursor moved only over accepted entries, a refused
 * entry and everything after it sent again (at least once, in order), and a consumer seen for the
 * first time starting at the end of the log; an entry refused for good passed, not retried. The bus
 * is a small in-test EventPublisher, or the real PutEvents client against a small local endpoint
 * (the neighbour); moto's is driven end to end in test/realtime.e2e.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { normalizeRecord, randomIds } from '../core/index.ts';
import { toAppendInput } from '../ingest/index.ts';
import { SqliteControlStore, SqliteEventStore } from '../stores/sqlite/index.ts';
import type { EventPublisher, PutEventsRequestEntry } from '../stores/index.ts';
import { EventBridgePublisher } from '../stores/aws/eventbridge-publisher.ts';
import { eventBridgeHandler } from './eventbridge-forwarder.ts';
import { LogConsumer, REALTIME_CONSUMER_KIND, type ConsumerState } from './log-consumer.ts';

const A = '111111111111';

async function add(events: SqliteEventStore, names: string[], region = 'us-east-1'): Promise<void> {
  await events.append(names.map((eventName) => {
    const r = normalizeRecord({ eventSource: 'ec2.amazonaws.com', eventName, readOnly: false, awsRegion: region, recipientAccountId: A }, { defaultAccountId: A, defaultRegion: region, nowMs: Date.now(), ids: randomIds });
    assert.ok(r.ok);
    return toAppendInput(r.value);
  }));
}

test('batches of 10 per Region in order; a refused entry and the rest are sent again; the cursor never passes an unsent event', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ot-eb-'));
  const events = new SqliteEventStore({ path: join(dir, 'events.db') });
  const control = new SqliteControlStore(join(dir, 'control.db'));
  await add(events, ['Before']);
  const calls: { region: string; names: string[] }[] = [];
  let refuseOnce: string | undefined = 'E13';
  let down = false;
  const publisher: EventPublisher = {
    async putEvents(region, entries: readonly PutEventsRequestEntry[]) {
      if (down) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      const names = entries.map((e) => (JSON.parse(e.Detail) as { eventName: string }).eventName);
      calls.push({ region, names });
      return { entries: names.map((n) => (n === refuseOnce ? (refuseOnce = undefined, { errorCode: 'ThrottlingException', errorMessage: 'slow down' }) : { eventId: 'x' })) };
    },
  };
  const outcomes: Record<string, number> = {};
  // The backoff (1 s and up) passes by moving this clock on.
  let now = Date.now();
  const clock = { nowMs: () => now };
  const consumer = new LogConsumer({ events, control, clock, logError: () => undefined }, { name: 'eventbridge', pollMs: 1_000_000, readBatch: 500, readBytes: 1 << 20 },
    eventBridgeHandler({ publisher, control, logError: () => undefined, onOutcome: (o, n) => (outcomes[o] = (outcomes[o] ?? 0) + n) }, { eventBusName: 'default', readOnlyManagementEvents: true, regions: ['us-east-1', 'us-west-2'] }));
  // First pass: starts at the end of the log ('Before' is not sent).
  await consumer.tick();
  const names = Array.from({ length: 25 }, (_, i) => `E${i}`);
  await add(events, names.slice(0, 20));
  await add(events, ['W0', 'W1'], 'us-west-2');
  await add(events, names.slice(20));
  await consumer.tick();
  // E13 refused: E0-E9 and E10-E12 are on the bus; the cursor stops before E13.
  assert.deepEqual(calls.map((c) => c.names), [names.slice(0, 10), names.slice(10, 20)]);
  const state = await control.get<ConsumerState>(REALTIME_CONSUMER_KIND, 'eventbridge');
  assert.equal(state?.latestError, 'ThrottlingException');
  // The retry (after the backoff) sends from E13 on, in order, Regions apart.
  now += 120_000;
  await consumer.tick();
  assert.deepEqual(calls.slice(2).map((c) => [c.region, c.names]), [['us-east-1', names.slice(13, 20)], ['us-west-2', ['W0', 'W1']], ['us-east-1', names.slice(20)]]);
  assert.equal((await control.get<ConsumerState>(REALTIME_CONSUMER_KIND, 'eventbridge'))?.latestError, undefined);
  assert.deepEqual(outcomes, { sent: 10 + 3 + 7 + 2 + 5, failed: 7 });
  // The endpoint down: nothing moves; back: nothing lost.
  down = true;
  await add(events, ['Late']);
  await consumer.tick();
  assert.equal((await control.get<ConsumerState>(REALTIME_CONSUMER_KIND, 'eventbridge'))?.latestError, 'ECONNREFUSED');
  down = false;
  now += 120_000;
  await consumer.tick();
  assert.deepEqual(calls.at(-1)?.names, ['Late']);
  assert.equal((await control.get<ConsumerState>(REALTIME_CONSUMER_KIND, 'eventbridge'))?.cursor, await events.lastSeq());
  await consumer.stop();
  await events.close();
  await control.close();
});

test('an entry refused with a non-retryable code (a real PutEvents client against a local endpoint) is counted, logged and passed; the rest keep flowing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ot-eb-'));
  const events = new SqliteEventStore({ path: join(dir, 'events.db') });
  const control = new SqliteControlStore(join(dir, 'control.db'));
  // A PutEvents endpoint (JSON 1.1) that refuses the entry of 'Bad' every time, with MalformedDetail,
  // and throttles 'Slow' once.
  const received: string[] = [];
  let throttled = false;
  const bus = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      assert.equal(req.headers['x-amz-target'], 'AWSEvents.PutEvents');
      const entries = (JSON.parse(body) as { Entries: { Detail: string }[] }).Entries.map((e) => {
        const name = (JSON.parse(e.Detail) as { eventName: string }).eventName;
        if (name === 'Bad') return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
        if (name === 'Slow' && !throttled) return (throttled = true, { ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' });
        received.push(name);
        return { EventId: `id-${received.length}` };
      });
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify({ FailedEntryCount: entries.filter((e) => 'ErrorCode' in e).length, Entries: entries }));
    });
  });
  await new Promise<void>((r) => bus.listen(0, '127.0.0.1', r));
  const publisher = new EventBridgePublisher({ endpoint: `http://127.0.0.1:${(bus.address() as AddressInfo).port}`, region: 'us-east-1', accessKeyId: 'test', secretAccessKey: 'test' });
  const outcomes: Record<string, number> = {};
  const logged: string[] = [];
  let now = Date.now();
  const consumer = new LogConsumer({ events, control, clock: { nowMs: () => now }, logError: () => undefined }, { name: 'eventbridge', pollMs: 1_000_000, readBatch: 500, readBytes: 1 << 20 },
    eventBridgeHandler({ publisher, control, logError: (m) => logged.push(m), onOutcome: (o, n) => (outcomes[o] = (outcomes[o] ?? 0) + n) }, { eventBusName: 'default', readOnlyManagementEvents: true, regions: ['us-east-1'] }));
  try {
    await consumer.tick();
    await add(events, ['A0', 'Bad', 'A1', 'Slow', 'A2']);
    await consumer.tick();
    // 'Bad' is passed at once; the throttled 'Slow' stops the cursor before it.
    assert.deepEqual(received, ['A0', 'A1', 'A2']);
    assert.equal((await control.get<ConsumerState>(REALTIME_CONSUMER_KIND, 'eventbridge'))?.latestError, 'ThrottlingException');
    now += 120_000;
    await consumer.tick();
    // Sent again from 'Slow' on ('A2' twice: at least once), never 'Bad' again.
    assert.deepEqual(received, ['A0', 'A1', 'A2', 'Slow', 'A2']);
    await add(events, ['Bad', 'A3']);
    await consumer.tick();
    assert.deepEqual(received.slice(5), ['A3']);
    await consumer.stop(); // writes the cursor it holds in memory
    const state = await control.get<ConsumerState>(REALTIME_CONSUMER_KIND, 'eventbridge');
    assert.equal(state?.latestError, undefined, 'the forwarder is not failing');
    assert.equal(state?.cursor, await events.lastSeq(), 'the cursor passed both refused entries');
    // The first call's A2 reached the bus but counts as failed (it is sent again, after Slow).
    assert.deepEqual(outcomes, { sent: 2 + 2 + 1, failed: 2, refused: 2 });
    assert.equal(logged.filter((m) => /MalformedDetail/.test(m)).length, 2);
  } finally {
    await consumer.stop();
    publisher.destroy();
    bus.close();
    await events.close();
    await control.close();
  }
});
