import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { ServiceError } from '../aws/errors.ts';
import { BodyBudget, decodedChunks } from './body.ts';

async function drain(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(c);
  return Buffer.concat(out);
}

async function failsWith(p: Promise<unknown>, code: string, status: number): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof ServiceError, `expected ${code}, got ${String(err)}`);
  assert.equal(err.code, code);
  assert.equal(err.statusCode, status);
}

describe('BodyBudget', () => {
  test('leases take from one budget, refuse beyond it with a retryable 503, and give everything back on release', () => {
    const budget = new BodyBudget(100);
    const a = budget.lease();
    const b = budget.lease();
    a.take(60);
    b.take(40);
    assert.equal(budget.inFlight, 100);
    assert.throws(() => b.take(1), (e: unknown) => e instanceof ServiceError && e.code === 'ServiceUnavailableException' && e.statusCode === 503);
    a.release();
    assert.equal(budget.inFlight, 40);
    b.take(60);
    b.release();
    b.release();
    assert.equal(budget.inFlight, 0, 'a second release gives nothing back twice');
  });
});

describe('decodedChunks', () => {
  test('gzip (also several members) decodes to the original bytes and takes them from the lease', async () => {
    const text = Buffer.from('{"a":1}\n'.repeat(50_000));
    const budget = new BodyBudget(10 * 1024 * 1024);
    const lease = budget.lease();
    assert.deepEqual(await drain(decodedChunks(Buffer.concat([gzipSync(text), gzipSync(text)]), 'gzip', 10 * 1024 * 1024, lease)), Buffer.concat([text, text]));
    assert.equal(budget.inFlight, text.length * 2);
  });

  test('a gzip bomb stops with 413 at the decoded limit, having inflated little more than the limit', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    const budget = new BodyBudget(1024 * 1024 * 1024);
    await failsWith(drain(decodedChunks(bomb, 'gzip', 1024 * 1024, budget.lease())), 'RequestEntityTooLargeException', 413);
    assert.ok(budget.inFlight <= 1024 * 1024 + 64 * 1024, `took ${budget.inFlight}`);
  });

  test('truncated or corrupt gzip is SerializationException (400)', async () => {
    const gz = gzipSync(Buffer.from('{"a":1}\n'.repeat(1000)));
    await failsWith(drain(decodedChunks(gz.subarray(0, gz.length - 4), 'gzip', 1e9, new BodyBudget(1e9).lease())), 'SerializationException', 400);
    const corrupt = Buffer.from(gz);
    corrupt[20] = corrupt[20]! ^ 0xff;
    await failsWith(drain(decodedChunks(corrupt, 'gzip', 1e9, new BodyBudget(1e9).lease())), 'SerializationException', 400);
  });

  test('identity: pieces of the body; over the decoded limit is 413; its size is taken from the lease again', async () => {
    const body = Buffer.alloc(200_000, 0x61);
    const budget = new BodyBudget(1e9);
    assert.deepEqual(await drain(decodedChunks(body, 'identity', 1e6, budget.lease())), body);
    assert.equal(budget.inFlight, body.length);
    await failsWith(drain(decodedChunks(body, 'identity', 1000, budget.lease())), 'RequestEntityTooLargeException', 413);
    await failsWith(drain(decodedChunks(body, 'identity', 1e6, new BodyBudget(1000).lease())), 'ServiceUnavailableException', 503);
  });
});
