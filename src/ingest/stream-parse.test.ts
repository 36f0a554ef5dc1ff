import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BulkBodyError, BulkBodyParser, BulkLimitError, RecordTooLargeEntry, parseBulkChunks, splitBody } from './stream-parse.ts';

/** Feeds `text` in pieces cut at the given points. */
function inPieces(text: string, cuts: number[], limits?: ConstructorParameters<typeof BulkBodyParser>[0]): unknown[] {
  const p = new BulkBodyParser(limits);
  let at = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    const to = Math.min(text.length, c);
    p.push(text.slice(at, to));
    at = Math.max(at, to);
  }
  p.push(text.slice(at));
  return p.end();
}

const outcome = (f: () => unknown[]) => {
  try {
    return { ok: JSON.stringify(f().map((r) => (r instanceof SyntaxError ? '<syntax>' : r))) };
  } catch (e) {
    return { err: (e as Error).name };
  }
};

describe('BulkBodyParser', () => {
  const recordArb = fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 });

  test('property: any cut of the text into pieces gives what the whole text gives (records, strings with escapes and brackets)', () => {
    const tricky = fc.constantFrom('"', '\\', '\\"', '\\\\', '[', ']', '{', '}', ',', '\n', 'é', '😀');
    const bodyArb = fc.oneof(
      fc.array(recordArb, { maxLength: 8 }).map((r) => JSON.stringify({ Records: r })),
      fc.array(recordArb, { maxLength: 8 }).map((r) => JSON.stringify(r, null, 2)),
      fc.array(recordArb, { maxLength: 8 }).map((r) => r.map((x) => JSON.stringify(x)).join('\n')),
      fc.array(fc.string(), { maxLength: 6 }).map((s) => JSON.stringify([{ s }])),
      fc.array(tricky, { maxLength: 30 }).map((parts) => `[{"a":${JSON.stringify(parts.join(''))}}]`),
      fc.string({ maxLength: 40 }),
      fc.json().map((j) => j.slice(0, Math.floor(j.length / 2))),
    );
    fc.assert(fc.property(bodyArb, fc.array(fc.nat({ max: 400 }), { maxLength: 6 }), (body, cuts) => {
      assert.deepEqual(outcome(() => inPieces(body, cuts)), outcome(() => splitBody(body)));
    }), { numRuns: 1500 });
  });

  test('the record cap is enforced while parsing: the entry after the cap throws before the rest is read', () => {
    const p = new BulkBodyParser({ maxRecords: 3, maxRecordChars: 1000 });
    p.push('[{"a":1},{"a":2},{"a":3}');
    assert.throws(() => p.push(',{"a":4},'), BulkLimitError);
    assert.throws(() => splitBody('{}\n{}\n{}\n{}\n', { maxRecords: 3, maxRecordChars: 1000 }), BulkLimitError);
    assert.throws(() => splitBody('x\ny\nz\nw', { maxRecords: 3, maxRecordChars: 1000 }), BulkLimitError, 'broken lines count');
    assert.equal(splitBody('{}\n\n\n{}\n \n{}\n', { maxRecords: 3, maxRecordChars: 1000 }).length, 3, 'blank lines do not count');
  });

  test('a record longer than maxRecordChars is one RecordTooLargeEntry, its neighbours kept (all forms)', () => {
    const limits = { maxRecords: 10, maxRecordChars: 100 };
    const big = { pad: 'x'.repeat(500), q: 'a "quoted" ] } , [ {' };
    for (const body of [JSON.stringify({ Records: [{ a: 1 }, big, { b: 2 }] }), JSON.stringify([{ a: 1 }, big, { b: 2 }]), [{ a: 1 }, big, { b: 2 }].map((r) => JSON.stringify(r)).join('\n')]) {
      const out = inPieces(body, [10, 50, 90, 130, 300, 520], limits);
      assert.equal(out.length, 3, body.slice(0, 30));
      assert.deepEqual(out[0], { a: 1 });
      assert.ok(out[1] instanceof RecordTooLargeEntry);
      assert.deepEqual(out[2], { b: 2 });
    }
  });

  test('parseBulkChunks gives the records of a large body read as byte chunks split inside UTF-8 sequences', async () => {
    const records = Array.from({ length: 3000 }, (_, i) => ({ eventName: `E${i}`, s: 'é😀"\\'.repeat(i % 7) }));
    const bytes = Buffer.from(JSON.stringify({ Records: records }));
    async function* chunks() {
      for (let i = 0; i < bytes.length; i += 7777) yield bytes.subarray(i, i + 7777);
    }
    assert.deepEqual(await parseBulkChunks(chunks()), records);
  });

  test('parseBulkChunks with a map: each entry (broken lines and oversize records too) is mapped as it is parsed, in order; the limits still hold', async () => {
    const body = `{"a":1}\n{broken\n{"s":"${'x'.repeat(100)}"}\n{"b":2}\n`;
    async function* chunks(text: string) {
      yield Buffer.from(text);
    }
    const seen: unknown[] = [];
    const out = await parseBulkChunks(chunks(body), { maxRecords: 10, maxRecordChars: 50 }, (e) => {
      seen.push(e);
      return e instanceof SyntaxError ? 'syntax' : e instanceof RecordTooLargeEntry ? 'large' : `ok:${JSON.stringify(e)}`;
    });
    assert.deepEqual(out, ['ok:{"a":1}', 'syntax', 'large', 'ok:{"b":2}']);
    assert.equal(seen.length, 4);
    let mapped = 0;
    await assert.rejects(parseBulkChunks(chunks('{"a":1}\n{"a":2}\n{"a":3}\n'), { maxRecords: 2, maxRecordChars: 50 }, () => ++mapped), BulkLimitError);
    assert.equal(mapped, 2, 'nothing past the limit is mapped');
  });

  test('text after a log file\'s list is checked; other top-level keys are allowed', () => {
    assert.deepEqual(splitBody('{"Records":[{"a":1}], "other": {"x":[1]}}'), [{ a: 1 }]);
    assert.throws(() => splitBody('{"Records":[{"a":1}]'), BulkBodyError);
    assert.throws(() => splitBody('{"Records":[{"a":1}]}}'), BulkBodyError);
  });
});
