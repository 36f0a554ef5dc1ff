import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createGunzip, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { gunzipHasher, type GunzipHashResult } from './gunzip-hash.ts';

type Outcome = GunzipHashResult | 'corrupt';

/** The public-API way (a gunzip stream), as validate.ts' fallback reads a log file: what inflated, and how it ended. */
function reference(gz: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    const hash = createHash('sha256');
    const z = createGunzip({ chunkSize: 16 * 1024 });
    z.on('data', (c: Buffer) => hash.update(c));
    z.once('end', () => resolve({ sha256: hash.digest('hex'), complete: true }));
    z.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'Z_BUF_ERROR' ? { sha256: hash.digest('hex'), complete: false } : 'corrupt'));
    z.end(gz);
  });
}

function viaHasher(gz: Buffer, cuts: number[]): Outcome {
  const hasher = gunzipHasher();
  assert.ok(hasher, 'the in-place path is available on this Node (else validate-logs takes the slower public path)');
  const job = hasher.start();
  try {
    let at = 0;
    for (const c of [...cuts.filter((x) => x > 0 && x < gz.length)].sort((a, b) => a - b).concat(gz.length)) {
      job.write(gz.subarray(at, c));
      at = c;
    }
    return job.end();
  } catch {
    return 'corrupt';
  } finally {
    hasher.close();
  }
}

/** Text that compresses like log files, and bytes that do not. */
const payload = fc.oneof(
  fc.array(fc.constantFrom('{"eventName":"PutObject",', '"eventTime":"2026-11-01T00:00:00Z"}', ',', 'x', '\n'), { maxLength: 3000 }).map((a) => Buffer.from(a.join(''))),
  fc.uint8Array({ maxLength: 40_000 }).map((a) => Buffer.from(a)),
  // Larger than the 256 KiB output buffer: inflated in several rounds per chunk.
  fc.tuple(fc.string({ minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 40_000 })).map(([t, n]) => Buffer.from(t.repeat(n))),
);

/** A gzip file as stored, then maybe damaged: several members, zero padding, cut, a byte changed, garbage after it. */
const stored = fc.record({
  members: fc.array(payload, { minLength: 1, maxLength: 3 }),
  zeros: fc.nat({ max: 8 }),
  damage: fc.oneof(
    fc.constant({ kind: 'none' as const }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
    fc.record({ kind: fc.constant('flip' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), xor: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('garbage' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 20 }) }),
  ),
}).map(({ members, zeros, damage }) => {
  let gz = Buffer.concat([...members.map((m) => gzipSync(m)), Buffer.alloc(zeros)]);
  if (damage.kind === 'cut') gz = gz.subarray(0, Math.floor(damage.at * gz.length));
  else if (damage.kind === 'flip' && gz.length > 0) {
    gz = Buffer.from(gz);
    const i = Math.min(gz.length - 1, Math.floor(damage.at * gz.length));
    gz[i] = gz[i]! ^ damage.xor;
  } else if (damage.kind === 'garbage') gz = Buffer.concat([gz, Buffer.from(damage.bytes)]);
  return gz;
});

test('in-place gunzip + SHA-256 gives what a gunzip stream gives, for any chunking of sound, cut, damaged or padded files', async () => {
  await fc.assert(fc.asyncProperty(stored, fc.array(fc.nat({ max: 200_000 }), { maxLength: 12 }), async (gz, cuts) => {
    assert.deepEqual(viaHasher(gz, cuts), await reference(gz));
  }), { numRuns: 400 });
});

test('padding then garbage: what follows zero padding is ignored however the chunks are cut (a one-shot gunzip never reads it)', async () => {
  const body = Buffer.from('{"Records":[]}'.repeat(500));
  const gz = Buffer.concat([gzipSync(body), gzipSync(body), Buffer.from([0, 0, 0, 1, 31, 139])]);
  const expected = await reference(gz);
  assert.deepEqual(expected, { sha256: createHash('sha256').update(body).update(body).digest('hex'), complete: true });
  for (let cut = gz.length - 8; cut < gz.length; cut++) assert.deepEqual(viaHasher(gz, [cut]), expected, `cut at ${cut}`);
});

test('in-place gunzip + SHA-256: known answers (sound, cut, not gzip, empty), and inflaters reused across files', async () => {
  const body = randomBytes(300_000).toString('base64'); // inflates past the 256 KiB buffer several times
  const gz = gzipSync(body);
  const sha = createHash('sha256').update(body).digest('hex');
  const hasher = gunzipHasher()!;
  for (let round = 0; round < 3; round++) {
    const a = hasher.start();
    const b = hasher.start(); // two files in progress at once, interleaved
    for (let i = 0; i < gz.length; i += 1000) {
      a.write(gz.subarray(i, i + 1000));
      b.write(gz.subarray(i, i + 1000));
    }
    assert.deepEqual(a.end(), { sha256: sha, complete: true });
    assert.deepEqual(b.end(), { sha256: sha, complete: true });
  }
  const cut = hasher.start();
  // Cut in the middle of the deflate data (cutting only the trailer and a byte or two can leave every
  // byte of the body inflated, and so the same hash, for some random bodies).
  cut.write(gz.subarray(0, gz.length >> 1));
  const r = cut.end();
  assert.equal(r.complete, false);
  assert.notEqual(r.sha256, sha);
  const notGzip = hasher.start();
  assert.throws(() => notGzip.write(Buffer.from('not gzip')), /header/);
  const empty = hasher.start();
  assert.deepEqual(empty.end(), { sha256: createHash('sha256').digest('hex'), complete: false });
  // After failures the hasher still works.
  const again = hasher.start();
  again.write(gz);
  assert.deepEqual(again.end(), { sha256: sha, complete: true });
  hasher.close();
});
