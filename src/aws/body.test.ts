import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, request, type ClientRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { ServiceError } from './errors.ts';
import { BodyBudget, decodedChunks, readBody } from './body.ts';

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

  test('a released lease takes nothing more: a handler still running after its client left cannot hold bytes', () => {
    const budget = new BodyBudget(100);
    const a = budget.lease();
    a.take(10);
    a.release();
    assert.throws(() => a.take(50), (e: unknown) => e instanceof ServiceError && e.code === 'IncompleteBody');
    assert.equal(budget.inFlight, 0);
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

describe('readBody', () => {
  /**
   * Starts a server whose handler leases from `budget` and reads the body with `read`, sends one
   * request through `send` (which writes and ends it, or leaves it hanging), and waits for the
   * answer or the connection's end; the server is closed afterwards.
   */
  async function oneRequest(budget: BodyBudget, read: (req: IncomingMessage, lease: ReturnType<BodyBudget['lease']>) => Promise<unknown>, headers: Record<string, string>, send: (req: ClientRequest) => void): Promise<void> {
    const server = createServer((req, res) => {
      const lease = budget.lease();
      read(req, lease).catch(() => undefined).finally(() => {
        lease.release();
        res.setHeader('connection', 'close');
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers, agent: false }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', () => resolve());
      send(req);
    });
    await new Promise<void>((r) => server.close(() => r()));
  }

  /** Posts `body` (in pieces, with or without a Content-Length) to a real server that reads it with readBody. */
  async function roundTrip(body: Buffer, opts: { chunked?: boolean; limit?: number } = {}): Promise<{ body?: Buffer; sha256?: string; error?: ServiceError }> {
    const budget = new BodyBudget(64 * 1024 * 1024);
    let outcome: { body?: Buffer; sha256?: string; error?: ServiceError } = {};
    const read = (req: IncomingMessage, lease: ReturnType<BodyBudget['lease']>) =>
      readBody(req, opts.limit ?? 1024 * 1024, lease).then((r) => (outcome = r), (e: ServiceError) => (outcome = { error: e }));
    await oneRequest(budget, read, opts.chunked ? {} : { 'content-length': String(body.length) }, (req) => {
      for (let off = 0; off < body.length; off += 7777) req.write(body.subarray(off, off + 7777));
      req.end();
    });
    assert.equal(budget.inFlight, 0, 'everything went back to the budget');
    return outcome;
  }

  test('a body in many pieces, with a Content-Length or chunked, arrives whole with its SHA-256', async () => {
    const body = Buffer.from(Array.from({ length: 200_000 }, (_, i) => i % 251));
    for (const chunked of [false, true]) {
      const out = await roundTrip(body, { chunked });
      assert.ok(out.body?.equals(body), `chunked=${chunked}: the body arrived whole`);
      assert.equal(out.sha256, createHash('sha256').update(body).digest('hex'));
    }
  });

  test('a declared body that stops arriving is cut after the idle time (408) and gives its reservation back', async () => {
    const budget = new BodyBudget(1024 * 1024);
    let held = -1;
    let outcome: unknown;
    const read = (req: IncomingMessage, lease: ReturnType<BodyBudget['lease']>) => {
      const p = readBody(req, 1024 * 1024, lease, '', 300);
      held = budget.inFlight;
      return p.then(() => undefined, (e: unknown) => (outcome = e));
    };
    // Declares 512 KiB and sends one byte, then nothing.
    await oneRequest(budget, read, { 'content-length': String(512 * 1024) }, (req) => req.write(Buffer.from('x')));
    assert.equal(held, 512 * 1024, 'the declared length was reserved while the body was awaited');
    assert.ok(outcome instanceof ServiceError && outcome.code === 'RequestTimeoutException' && outcome.statusCode === 408, `got ${String(outcome)}`);
    assert.equal(budget.inFlight, 0, 'and given back');
  });

  test('a body over the limit is 413, by its declared length or by its bytes so far', async () => {
    const body = Buffer.alloc(100_000, 1);
    for (const chunked of [false, true]) {
      const out = await roundTrip(body, { chunked, limit: 50_000 });
      assert.equal(out.error?.code, 'RequestEntityTooLargeException', `chunked=${chunked}`);
      assert.equal(out.error?.statusCode, 413);
    }
  });
});
