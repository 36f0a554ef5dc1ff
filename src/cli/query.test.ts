import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCsv, formatTable } from './query.ts';

test('formatTable pads columns to their widest value; formatCsv quotes what needs it', () => {
  assert.equal(formatTable(['eventName', 'n'], [['GetObject', '12'], ['X', '3']]), 'eventName | n\n----------+---\nGetObject | 12\nX         | 3');
  assert.equal(formatCsv(['a', 'b'], [['x,y', 'say "hi"'], ['line\nbreak', '']]), 'a,b\n"x,y","say ""hi"""\n"line\nbreak",');
});
