import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { packBatch, packedStart } from './append-batch.ts';
import { readHistory } from '../flat-append.ts';
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
    const from = packedStart(packed, i);
    const buf = Buffer.from(packed.bytes.buffer, packed.bytes.byteOffset, packed.bytes.byteLength);
    assert.equal(buf.toString('utf8', from, packed.ends[i]!), e.json);
    assert.deepEqual(packed.strs.slice(3 * i, 3 * i + 3), [e.accountId, e.region, e.eventId]);
    const summaryEnd = packed.summaryEnds[i]!;
    assert.equal(summaryEnd < 0 ? undefined : buf.toString('utf8', packed.ends[i]!, summaryEnd), e.summary);
    assert.equal(packed.times[i], e.eventTimeSec);
    if (e.history === undefined) {
      assert.equal(packed.historyEnds[i], -1);
    } else {
      assert.deepEqual(readHistory(buf, summaryEnd < 0 ? packed.ends[i]! : summaryEnd, packed.historyEnds[i]!), e.history);
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
  assert.deepEqual(back.ends, packed.ends);
  assert.equal(Buffer.from(back.bytes.subarray(packedStart(back, 1), back.ends[1])).toString('utf8'), inputs[1]!.json);
});

test('a block encoded from raw bytes is the block encoded from the text', () => {
  const { packed } = packBatch(inputs);
  const head = (e: AppendInput, i: number) => ({ seq: i + 1, accountId: e.accountId, region: e.region, eventId: e.eventId, eventTimeSec: e.eventTimeSec, inHistory: e.history !== undefined, summary: e.summary });
  const fromText = encodeBlock(inputs.map((e, i) => ({ ...head(e, i), json: e.json })));
  const fromRaw = encodeBlock(inputs.map((e, i) => ({ ...head(e, i), raw: packed.bytes.subarray(packedStart(packed, i), packed.ends[i]!) })));
  assert.deepEqual(fromRaw, fromText);
  assert.deepEqual(decodeBlock(fromRaw).events.map((e) => e.json), inputs.map((e) => e.json));
});

test('records given in the flat form (AppendInput.flat) are packed as the same bytes as the same records given as strings', () => {
  const { packed } = packBatch(inputs);
  const runOf = (i: number): AppendInput => {
    const start = packedStart(packed, i);
    const jsonEnd = packed.ends[i]!;
    const summaryEnd = packed.summaryEnds[i]!;
    const historyEnd = packed.historyEnds[i]!;
    const end = Math.max(jsonEnd, summaryEnd, historyEnd);
    const flat = {
      bytes: packed.bytes.slice(start, end), jsonBytes: jsonEnd - start, summaryBytes: summaryEnd < 0 ? -1 : summaryEnd - jsonEnd,
      historyBytes: historyEnd < 0 ? -1 : historyEnd - (summaryEnd < 0 ? jsonEnd : summaryEnd),
    };
    // Only what a flat producer must give besides `flat`; json, summary and history would be wrong if read.
    return { accountId: inputs[i]!.accountId, region: inputs[i]!.region, eventId: inputs[i]!.eventId, eventTimeSec: inputs[i]!.eventTimeSec, json: 'not read', flat };
  };
  // Flat and plain inputs mixed in one batch.
  const mixed = inputs.map((e, i) => (i % 2 === 0 ? runOf(i) : e));
  const again = packBatch(mixed).packed;
  assert.deepEqual(Buffer.from(again.bytes), Buffer.from(packed.bytes));
  assert.deepEqual([again.ends, again.summaryEnds, again.historyEnds, again.strs, again.times], [packed.ends, packed.summaryEnds, packed.historyEnds, packed.strs, packed.times]);
});
