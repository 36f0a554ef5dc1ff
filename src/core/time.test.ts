import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseIsoTime } from './time.ts';

/** parseIsoTime as it was before its eventTime-form fast path (the calendar checked, then Date.parse). */
function reference(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?/.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = [+m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +(m[6] ?? 0)];
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (!(mo >= 1 && mo <= 12 && d >= 1 && d <= daysInMonth && h <= 23 && mi <= 59 && s <= 59)) return undefined;
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(text)) {
    const ms = Date.parse(text);
    return Number.isNaN(ms) ? undefined : ms;
  }
  if (!/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(text)) return undefined;
  const ms = Date.parse((/(Z|[+-]\d{2}:?\d{2})$/.test(text) ? text : `${text}Z`).replace(' ', 'T'));
  return Number.isNaN(ms) ? undefined : ms;
}

const two = (n: number) => String(n).padStart(2, '0');

test('parseIsoTime reads the eventTime form as Date.parse does, and refuses the times that do not exist', () => {
  const form = fc.tuple(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 25 }), fc.integer({ min: 0, max: 61 }), fc.integer({ min: 0, max: 61 }))
    .map(([y, mo, d, h, mi, s]) => `${String(y).padStart(4, '0')}-${two(mo)}-${two(d)}T${two(h)}:${two(mi)}:${two(s)}Z`);
  // Leap days and month ends, where a calendar rule is most easily wrong.
  const edges = fc.tuple(fc.constantFrom(1900, 2000, 2023, 2024, 2100, 2400, 100, 99, 1), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 28, max: 31 }))
    .map(([y, mo, d]) => `${String(y).padStart(4, '0')}-${two(mo)}-${two(d)}T23:59:59Z`);
  fc.assert(fc.property(fc.oneof(form, edges), (text) => {
    assert.equal(parseIsoTime(text), reference(text), text);
  }), { numRuns: 3000 });
  for (const text of ['2024-02-29T00:00:00Z', '2023-02-29T00:00:00Z', '2100-02-29T12:00:00Z', '2000-02-29T12:00:00Z', '0099-01-01T00:00:00Z', '2024-1a-01T00:00:00Z', '2024-01-01T00:00:00z']) {
    assert.equal(parseIsoTime(text), reference(text), text);
  }
});
