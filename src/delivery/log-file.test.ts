/** The uncompressed log file is exactly `{"Records":[...]}` of the stored strings, whatever they hold. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { logFileBody, logFileJson, logFileJsonSliced } from './log-file.ts';

const joined = (rs: string[]) => Buffer.from(`{"Records":[${rs.join(',')}]}`);

test('logFileJson gives the bytes of the joined records: none, one, several, non-ASCII, astral, a lone surrogate; built at once or in slices', async () => {
  const cases: string[][] = [
    [],
    ['{"a":1}'],
    ['{"a":1}', '{"b":"x"}', '{}'],
    ['{"userName":"Zoë Ångström"}', '{"v":"日本語"}'],
    ['{"e":"😀 and 𝄞"}', '{"s":"\ud800"}', '{"t":"\udfff tail"}'],
  ];
  for (const rs of cases) {
    const b = logFileJson(rs);
    assert.ok(b.equals(joined(rs)), JSON.stringify(rs));
    assert.ok((await logFileJsonSliced(rs, 5)).equals(joined(rs)), `sliced: ${JSON.stringify(rs)}`);
    assert.ok(gunzipSync(await logFileBody(rs)).equals(joined(rs)));
  }
});
