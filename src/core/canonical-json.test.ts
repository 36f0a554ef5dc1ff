import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isCanonicalJson, MAX_DEPTH, MAX_KEYS } from './canonical-json.ts';

/** What the proof promises: text it accepts is exactly what a parse and a stringify give back. */
const roundTrip = (text: string) => JSON.stringify(JSON.parse(text));

const hasDigitKey = (v: unknown): boolean =>
  typeof v === 'object' && v !== null && (Array.isArray(v) ? v.some(hasDigitKey) : Object.entries(v).some(([k, x]) => /^[0-9]/.test(k) || hasDigitKey(x)));

describe('isCanonicalJson', () => {
  test('property: whatever text it accepts is its own JSON.parse -> JSON.stringify round trip', () => {
    // Texts that are valid JSON but often not canonical: white space, escapes of every kind,
    // number forms, repeated keys, digit keys, __proto__.
    const key = fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom('a', 'b', '__proto__', '1', '01', 'é', '\u2028'));
    const esc = fc.constantFrom('\\"', '\\\\', '\\/', '\\b', '\\f', '\\n', '\\r', '\\t', '\\u0041', '\\u00e9', '\\u001f', '\\u001F', '\\u0008', '\\u0000', '\\ud83d\\ude00', '\\ud800', 'x', '😀');
    const str = fc.array(esc, { maxLength: 5 }).map((p) => `"${p.join('')}"`);
    const num = fc.constantFrom('0', '-0', '1', '1.0', '1.5', '1e5', '1E5', '1e+21', '1e21', '100000000000000000000', '1000000000000000000000', '9007199254740993', '0.1', '1e-7', '1e400', '-12');
    const ws = fc.constantFrom('', '', '', ' ', '\n', '\t');
    const { value } = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small' }, str, num, fc.constantFrom('true', 'false', 'null'), tie('object'), tie('array')),
      array: fc.array(tie('value'), { maxLength: 4 }).map((vs) => `[${vs.join(',')}]`),
      object: fc.array(fc.tuple(key, ws, tie('value')), { maxLength: 5 }).map((ms) => `{${ms.map(([k, w, v]) => `${JSON.stringify(k)}${w}:${v}`).join(',')}}`),
    }));
    fc.assert(
      fc.property(value as fc.Arbitrary<string>, (text) => {
        JSON.parse(text); // the precondition: valid JSON
        if (isCanonicalJson(text)) assert.equal(roundTrip(text), text);
      }),
      { numRuns: 3000 },
    );
  });

  test('property: JSON.stringify of any value is proved, unless it has a digit key', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
        const text = JSON.stringify(v);
        if (!hasDigitKey(v)) assert.equal(isCanonicalJson(text), true, text);
      }),
      { numRuns: 2000 },
    );
  });

  test('what it refuses, each on its own', () => {
    for (const text of [
      '{"a":1,"a":2}', // a repeated key: JSON.parse keeps the last, another parser the first
      '{"a":{"b":1},"c":{"b":2,"b":3}}',
      '{"a":1, "b":2}',
      ' {"a":1}',
      '{"a":1}\n',
      '{"1":1,"a":2}',
      '{"a":"\\/"}',
      '{"a":"\\u0041"}',
      '{"a":"\\u001F"}',
      '{"a":"\\u000a"}',
      '{"a":"\\ud83d\\ude00"}',
      '{"a":1.0}',
      '{"a":1E5}',
      '{"a":-0}',
      '{"a":1e400}',
      '{"a":9007199254740993}',
      '{"a":"\ud800"}', // a lone surrogate
      '['.repeat(MAX_DEPTH + 1) + ']'.repeat(MAX_DEPTH + 1),
      `{${Array.from({ length: MAX_KEYS + 1 }, (_, i) => `"k${i}":0`).join(',')}}`,
    ]) {
      assert.equal(isCanonicalJson(text), false, text);
    }
  });

  test('what it accepts: keys repeated in different objects, __proto__, escapes JSON.stringify writes, the limits themselves', () => {
    for (const text of [
      '{"a":{"a":1},"b":[{"a":1},{"a":2}],"c":{"a":{"a":3}}}',
      '{"__proto__":{"x":1},"a":null}',
      '{"a":"\\"\\\\\\b\\f\\n\\r\\t\\u0000\\u001f","b":"é😀\u2028"}',
      '{"n":[0,-1,1.5,1e+21,1e-7,123456789]}',
      '['.repeat(MAX_DEPTH) + ']'.repeat(MAX_DEPTH),
      `{${Array.from({ length: MAX_KEYS }, (_, i) => `"k${i}":0`).join(',')}}`,
    ]) {
      assert.equal(isCanonicalJson(text), true, text);
      assert.equal(roundTrip(text), text);
    }
  });
});
