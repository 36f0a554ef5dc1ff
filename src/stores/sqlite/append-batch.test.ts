import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { packBatch } from './append-batch.ts';
import { decodeBlock, encodeBlock } from './event-format.ts';
import type { AppendInput } from '../event-store.ts';

const inputs: AppendInput[] = [
  { accountId: '111111111111', region: 'us-east-1', eventId: 'a', eventTimeSec: 10, json: '{"eventID":"a","x":"ü€😀\\u2028"}', history: [['*', 'management'], ['EventName', 'PutObject']], summary: '{"EventId":"a","u":"é"}' },
  { accountId: '222222222222', region: 'eu-west-1', eventId: 'b', eventTimeSec: 11, json: '{"eventID":"b"}' },
  { accountId: '111111111111', region: 'us-east-1', eventId: 'c', eventTimeSec: 12, json: `{"eventID":"c","pad":"${'é'.repeat(3000)}"}`, history: [] },
  { accountId: '111111111111', region: 'us-east-1', eventId: 'd', eventTimeSec: 13.5, json: '{}', history: [['Username', 'ü']], summary: '' },
];

test('a packed batch holds every field of every record, and its bytes are the records\' UTF-8', () => {
  const { packed, transfer } = packBatch(inputs);
  assert.equal(packed.n, inputs.length);
  assert.deepEqual(transfer, [packed.bytes.buffer]);
  inputs.forEach((e, i) => {
    const from = i === 0 ? 0 : packed.ends[i - 1]!;
    assert.equal(Buffer.from(packed.bytes.subarray(from, packed.ends[i]!)).toString('utf8'), e.json);
    assert.deepEqual(packed.strs.slice(4 * i, 4 * i + 4), [e.accountId, e.region, e.eventId, e.summary ?? null]);
    assert.equal(packed.times[i], e.eventTimeSec);
    if (e.history === undefined) {
      assert.equal(packed.histStart[i], -1);
    } else {
      const flat = packed.hist.slice(packed.histStart[i]!, packed.histEnd[i]!);
      assert.deepEqual(flat, e.history.flat());
    }
  });
});

test('a packed batch survives the move to another thread (the buffer is transferred, not copied)', async () => {
  const { packed, transfer } = packBatch(inputs);
  const { port1, port2 } = new MessageChannel();
  const got = new Promise<typeof packed>((resolve) => port2.once('message', resolve));
  port1.postMessage(packed, transfer);
  const back = await got;
  port1.close();
  assert.equal(packed.bytes.byteLength, 0, 'the sender\'s buffer is detached');
  assert.equal(Buffer.from(back.bytes).toString('utf8'), inputs.map((e) => e.json).join(''));
});

test('a block encoded from raw bytes is the block encoded from the text', () => {
  const { packed } = packBatch(inputs);
  const head = (e: AppendInput, i: number) => ({ seq: i + 1, accountId: e.accountId, region: e.region, eventId: e.eventId, eventTimeSec: e.eventTimeSec, inHistory: e.history !== undefined, summary: e.summary });
  const fromText = encodeBlock(inputs.map((e, i) => ({ ...head(e, i), json: e.json })));
  const fromRaw = encodeBlock(inputs.map((e, i) => ({ ...head(e, i), raw: packed.bytes.subarray(i === 0 ? 0 : packed.ends[i - 1]!, packed.ends[i]!) })));
  assert.deepEqual(fromRaw, fromText);
  assert.deepEqual(decodeBlock(fromRaw).events.map((e) => e.json), inputs.map((e) => e.json));
});
