import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NextTokenCodec, type TokenBinding } from './next-token.ts';

const KEY = Buffer.alloc(32, 7);
const codec = new NextTokenCodec(KEY);
const binding: TokenBinding = { accountId: '111111111111', region: 'us-east-1', query: '["management",["*","management"],null,null]' };
const pos = { t: 1_767_225_600, seq: 42 };

const position = fc.record({ t: fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), seq: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }) }).map(({ t, seq }) => ({ t, seq }));
const bindingArb = fc.record({ accountId: fc.stringMatching(/^\d{12}$/), region: fc.constantFrom('us-east-1', 'eu-west-1', 'us-west-2'), query: fc.string({ maxLength: 200 }) });

describe('NextTokenCodec', () => {
  test('the key must be 32 bytes', () => {
    assert.throws(() => new NextTokenCodec(Buffer.alloc(16)), /32 bytes/);
    assert.throws(() => new NextTokenCodec(Buffer.alloc(33)), /32 bytes/);
    assert.equal(NextTokenCodec.randomKey().length, 32);
    assert.notDeepEqual(NextTokenCodec.randomKey(), NextTokenCodec.randomKey());
  });

  test('a token decodes to the position it was issued for', () => {
    assert.deepEqual(codec.decode(codec.encode(pos, binding), binding), pos);
  });

  test('tokens are URL-safe text a JSON client can pass back unchanged', () => {
    assert.match(codec.encode(pos, binding), /^[A-Za-z0-9_-]+$/);
  });

  test('tokens are opaque: the position is not readable in them', () => {
    const token = codec.encode({ t: 1234567890, seq: 987654321 }, binding);
    const raw = Buffer.from(token, 'base64url');
    assert.equal(raw.includes(Buffer.from('1234567890')), false);
    assert.equal(raw.includes(Buffer.from('987654321')), false);
    assert.equal(token.includes('1234567890'), false);
  });

  test('each encoding is fresh (random IV), and every one of them decodes', () => {
    const a = codec.encode(pos, binding);
    const b = codec.encode(pos, binding);
    assert.notEqual(a, b);
    assert.deepEqual(codec.decode(a, binding), pos);
    assert.deepEqual(codec.decode(b, binding), pos);
  });

  test('a token is bound to its account, region and query', () => {
    const token = codec.encode(pos, binding);
    assert.equal(codec.decode(token, { ...binding, accountId: '222222222222' }), undefined);
    assert.equal(codec.decode(token, { ...binding, region: 'us-west-2' }), undefined);
    assert.equal(codec.decode(token, { ...binding, query: '["management",["EventName","X"],null,null]' }), undefined);
  });

  test('binding fields cannot be shifted into one another', () => {
    // Joined naively, ("1111", "11111111us-east-1") and ("111111111111", "us-east-1") would collide.
    const token = codec.encode(pos, { accountId: '111111111111', region: 'us-east-1', query: 'q' });
    assert.equal(codec.decode(token, { accountId: '1111', region: '11111111us-east-1', query: 'q' }), undefined);
    assert.equal(codec.decode(token, { accountId: '111111111111', region: 'us-east-1q', query: '' }), undefined);
  });

  test('a token from another key (another server) is refused', () => {
    const other = new NextTokenCodec(Buffer.alloc(32, 8));
    assert.equal(codec.decode(other.encode(pos, binding), binding), undefined);
  });

  test('garbage is refused without throwing', () => {
    for (const t of ['', 'a', '!!!!', 'a'.repeat(513), 'A'.repeat(100), '====', 'abc def', '\u0000', '😀'.repeat(20), codec.encode(pos, binding) + '=']) {
      assert.equal(codec.decode(t, binding), undefined, JSON.stringify(t.slice(0, 40)));
    }
  });

  test('an encrypted text that is not a position is refused (same key, forged plaintext)', async () => {
    // Forge a token with the real key but a plaintext that is not "t.seq".
    const { createCipheriv, randomBytes } = await import('node:crypto');
    const forge = (text: string) => {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', KEY, iv);
      c.setAAD(Buffer.from(JSON.stringify([binding.accountId, binding.region, binding.query])));
      const body = Buffer.concat([c.update(text, 'utf8'), c.final()]);
      return Buffer.concat([iv, body, c.getAuthTag()]).toString('base64url');
    };
    assert.deepEqual(codec.decode(forge('10.20'), binding), { t: 10, seq: 20 }, 'the forging helper is faithful');
    for (const text of ['10', '10.-1', 'x.1', '1.2.3', '', '1e3.4', ' 1.2']) {
      assert.equal(codec.decode(forge(text), binding), undefined, text);
    }
  });

  test('property: round trip for every position and binding', () => {
    fc.assert(fc.property(position, bindingArb, (p, b) => {
      assert.deepEqual(codec.decode(codec.encode(p, b), b), p);
    }), { numRuns: 300 });
  });

  test('property: flipping any bit of the token bytes makes it invalid', () => {
    fc.assert(fc.property(position, fc.nat(), fc.integer({ min: 0, max: 7 }), (p, at, bit) => {
      const raw = Buffer.from(codec.encode(p, binding), 'base64url');
      raw[at % raw.length]! ^= 1 << bit;
      assert.equal(codec.decode(raw.toString('base64url'), binding), undefined);
    }), { numRuns: 500 });
  });

  test('property: truncated or extended tokens are invalid', () => {
    fc.assert(fc.property(position, fc.integer({ min: 1, max: 40 }), fc.uint8Array({ minLength: 1, maxLength: 40 }), (p, cut, extra) => {
      const raw = Buffer.from(codec.encode(p, binding), 'base64url');
      assert.equal(codec.decode(raw.subarray(0, Math.max(0, raw.length - cut)).toString('base64url'), binding), undefined);
      assert.equal(codec.decode(Buffer.concat([raw, extra]).toString('base64url'), binding), undefined);
      assert.equal(codec.decode(Buffer.concat([extra, raw]).toString('base64url'), binding), undefined);
    }), { numRuns: 300 });
  });

  test('property: any other spelling of a token is refused, even one that decodes to the same bytes', () => {
    // base64url leaves spare bits in the last character, so some edits decode to identical bytes;
    // only the canonical spelling the server issued is accepted.
    fc.assert(fc.property(position, fc.nat(), fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'), (p, at, ch) => {
      const token = codec.encode(p, binding);
      const i = at % token.length;
      const mutated = token.slice(0, i) + ch + token.slice(i + 1);
      assert.deepEqual(codec.decode(mutated, binding), mutated === token ? p : undefined, mutated);
    }), { numRuns: 500 });
  });

  test('the last character\'s spare bits: same bytes, still refused', () => {
    // Find a token whose length leaves spare bits, then change only those bits.
    for (let seq = 1; seq < 100; seq++) {
      const token = codec.encode({ t: 1, seq }, binding);
      if (token.length % 4 === 0) continue;
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const last = alphabet.indexOf(token.at(-1)!);
      const twin = token.slice(0, -1) + alphabet[last ^ 1];
      assert.deepEqual(Buffer.from(twin, 'base64url'), Buffer.from(token, 'base64url'), 'the twin decodes to the same bytes');
      assert.deepEqual(codec.decode(token, binding), { t: 1, seq });
      assert.equal(codec.decode(twin, binding), undefined);
      return;
    }
    assert.fail('no token with spare bits was produced');
  });

  test('property: random strings are never accepted', () => {
    fc.assert(fc.property(fc.string({ maxLength: 600 }), (s) => {
      assert.equal(codec.decode(s, binding), undefined);
    }), { numRuns: 500 });
  });
});
