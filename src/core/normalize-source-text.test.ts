/**
 * normalizeRecord with the record's source text (the bulk path: when normalising changes nothing,
 * the parsed record is stringified as it is, not built again): whatever the text, the result is the
 * one without it, byte for byte.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import fc from 'fast-check';
import { normalizeRecord, type NormalizeContext } from './normalize.ts';

function ctx(): NormalizeContext {
  let n = 0;
  return { defaultAccountId: '111111111111', defaultRegion: 'us-east-1', nowMs: Date.UTC(2026, 0, 2, 3, 4, 5), ids: { uuid: () => `generated-${++n}` } };
}

/** The result for `text` with and without the source text: they must be the same. */
function both(text: string) {
  const plain = normalizeRecord(JSON.parse(text), ctx());
  const withText = normalizeRecord(JSON.parse(text), ctx(), text);
  return { plain, withText };
}

function assertSame(text: string, where = text.slice(0, 120)): void {
  const { plain, withText } = both(text);
  assert.deepEqual(withText, plain, where);
  if (plain.ok && withText.ok) assert.equal(withText.value.json, plain.value.json, where);
}

const dir = new URL('../../test/fixtures/corpus/', import.meta.url);
const corpus = readdirSync(dir)
  .filter((f) => f.endsWith('.jsonl') && !/envelopes|lookupevents|digest/.test(f))
  .flatMap((f) => readFileSync(new URL(f, dir), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>));

/** Texts of one record that JSON.parse reads alike (or nearly) but that are not all canonical. */
function variants(r: Record<string, unknown>): string[] {
  const compact = JSON.stringify(r);
  const normalized = normalizeRecord(r, ctx());
  const out = [compact, JSON.stringify(r, null, 2), JSON.stringify(Object.fromEntries(Object.entries(r).reverse()))];
  if (normalized.ok) {
    const n = normalized.value.json;
    out.push(
      n, // in CloudTrail's order: the parsed record stringified as it is
      ` ${n}`,
      n.replace(/\//g, '\\/'),
      n.replace(/"eventName":"/, '"eventName":"\\u0041'),
      n.replace(/^\{/, '{"eventName":"ConsoleLogin",'), // a repeated key: JSON.parse keeps the later one
      n.replace(/\}$/, ',"eventName":"ConsoleLogin"}'),
      n.replace(/\}$/, ',"zz":1.0}'),
      n.replace(/\}$/, ',"7":true}'),
      n.replace(/\}$/, ',"__proto__":{"eventName":"x"}}'),
      n.replace(/"readOnly":(true|false)/, '"readOnly":"$1"'),
      n.replace(/,"requestID":"[^"]*"/, ',"requestID":null'),
    );
  }
  return out;
}

describe('normalizeRecord with the source text', () => {
  test('corpus records and variants of their text (white space, order, escapes, repeated and digit keys, quirks): the same result as without the text', () => {
    let n = 0;
    for (const r of corpus) {
      for (const text of variants(r)) {
        assertSame(text);
        n++;
      }
    }
    assert.ok(n > 3000, `only ${n} texts`);
  });

  test('property: generated records, their text cut and respliced with spaces, escapes and repeated keys: the same result', () => {
    const field = fc.constantFrom('eventVersion', 'eventTime', 'eventSource', 'eventName', 'awsRegion', 'eventID', 'readOnly', 'eventType', 'managementEvent', 'recipientAccountId', 'eventCategory', 'requestID', 'userAgent', 'zz', '__proto__', '0');
    const value = fc.oneof(
      fc.constantFrom('1.11', '2026-01-02T03:04:05Z', 's3.amazonaws.com', 'GetObject', 'us-east-1', '111111111111', 'Management', 'AwsApiCall', 'true', 'x/y', 'é'),
      fc.boolean(), fc.constant(null), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.dictionary(fc.string({ maxLength: 3 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
    );
    const edit = fc.constantFrom((t: string) => t, (t: string) => t.replace(/:/, ': '), (t: string) => t.replace(/\//, '\\/'), (t: string) => t.replace(/"e/, '"\\u0065'), (t: string) => t.replace(/1/, '1.0'));
    fc.assert(
      fc.property(fc.array(fc.tuple(field, value), { maxLength: 14 }), edit, (members, e) => {
        const text = e(`{${members.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`);
        try {
          JSON.parse(text);
        } catch {
          return; // an edit made it invalid: not a record a parser hands over
        }
        assertSame(text);
      }),
      { numRuns: 3000 },
    );
  });

  test('a repeated key is stored once, with the value Event history indexes (the later one)', () => {
    const base = normalizeRecord(JSON.parse(JSON.stringify(corpus.find((r) => typeof r.eventName === 'string' && /^\d{12}$/.test(String(r.recipientAccountId)))!)), ctx());
    assert.ok(base.ok);
    const text = base.value.json.replace(/\}$/, ',"eventName":"ConsoleLogin"}').replace(/"eventName":"[^"]*"/, '"eventName":"DeleteTrail"');
    const res = normalizeRecord(JSON.parse(text), ctx(), text);
    assert.ok(res.ok);
    assert.equal(res.value.record.eventName, 'ConsoleLogin');
    assert.equal(res.value.json.match(/"eventName":/g)?.length, 1);
    assert.ok(!res.value.json.includes('DeleteTrail'));
  });

  test('the source text is never stored as it came: the record is stringified, as parsed when normalising changes nothing (seen by handing it a text of the same record with another value)', () => {
    const r = normalizeRecord(JSON.parse(JSON.stringify(corpus.find((x) => typeof x.eventName === 'string' && typeof x.userAgent === 'string' && /^\d{12}$/.test(String(x.recipientAccountId)))!)), ctx());
    assert.ok(r.ok);
    const json = r.value.json;
    // A canonical text that is not the parsed record's: were the text stored, it would show.
    const marked = json.replace(/"userAgent":"/, '"userAgent":"MARK');
    const stored = (record: unknown) => {
      const res = normalizeRecord(record, ctx(), marked);
      assert.ok(res.ok);
      return res.value.json;
    };
    const parsed = JSON.parse(json) as Record<string, unknown>;
    const unchanged = normalizeRecord(parsed, ctx(), marked);
    assert.ok(unchanged.ok);
    assert.equal(unchanged.value.json, json, 'unchanged: stringified, not the text as it came');
    assert.equal(unchanged.value.record, parsed, 'unchanged: the parsed record itself, not built again');
    const without = (k: string) => {
      const o = JSON.parse(json) as Record<string, unknown>;
      delete o[k];
      return o;
    };
    assert.equal(stored(without('eventType')), json, 'a field filled: stringified');
    assert.equal(stored({ ...JSON.parse(json), readOnly: String(JSON.parse(json).readOnly) }), json, 'a quirk fixed: stringified');
    const reordered = JSON.parse(json) as Record<string, unknown>;
    const { eventVersion, ...rest } = reordered;
    assert.equal(stored({ ...rest, eventVersion }), json, 'fields out of order: stringified');
  });
});
