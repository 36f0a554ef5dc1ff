/**
 * Reading request bodies with every size bounded, for both listeners (the API edge, src/http/app.ts,
 * and the recording gateway, src/capture/gateway/gateway.ts): a per-request limit (small until the
 * caller's headers verified), one budget of body bytes in flight across all requests of both
 * listeners (one BodyBudget, created in src/server.ts), and streamed, bounded decompression. Nothing here buffers more than its limit: a body over it is
 * refused as soon as its Content-Length (or its bytes so far) say so, and its connection closed.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createGunzip } from 'node:zlib';
import { ServiceError } from './errors.ts';

/** A body this small is read and discarded after an early refusal, keeping the connection. */
export const DRAIN_BYTES = 64 * 1024;

/** Body bytes held by requests in flight, across the server; beyond `capacity` callers get a retryable 503. */
export class BodyBudget {
  private used = 0;
  readonly capacity: number;
  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get inFlight(): number {
    return this.used;
  }

  lease(): BodyLease {
    return new BodyLease(this);
  }

  /** @internal */
  tryTake(n: number): boolean {
    if (this.used + n > this.capacity) return false;
    this.used += n;
    return true;
  }

  /** @internal */
  give(n: number): void {
    this.used -= n;
  }
}

/**
 * One request's share of the budget; release() when the request is done with its bytes (or its
 * connection closed). Released is final: a handler still running after its client went away can
 * take nothing more, so no byte is ever held past the release.
 */
export class BodyLease {
  private held = 0;
  private released = false;
  private readonly budget: BodyBudget;
  constructor(budget: BodyBudget) {
    this.budget = budget;
  }

  /** Takes n more bytes, or throws ServiceUnavailableException (503, retryable); after release, IncompleteBody. */
  take(n: number): void {
    if (this.released) throw new ServiceError('IncompleteBody', 'The connection closed before the request was answered.', 400);
    if (!this.budget.tryTake(n)) {
      throw new ServiceError('ServiceUnavailableException', 'OpenTrail is handling too many request bytes at once; retry the request later.', 503);
    }
    this.held += n;
  }

  release(): void {
    this.released = true;
    this.budget.give(this.held);
    this.held = 0;
  }
}

export const tooLarge = (limit: number, hint = '') =>
  new ServiceError('RequestEntityTooLargeException', `The request body is larger than ${limit} bytes${hint}.`, 413);

/** The declared Content-Length, or undefined (chunked or absent). */
export function declaredLength(req: IncomingMessage): number | undefined {
  const v = req.headers['content-length'];
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Number(v);
}

/** True when the request may still be sending a body we have not read. */
export function hasUnreadBody(req: IncomingMessage): boolean {
  const len = declaredLength(req);
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (len === undefined && !chunked) return false; // HTTP/1.1: no length and not chunked is no body
  return !req.complete && (chunked || len !== 0);
}

/**
 * Should a refusal answered before (or instead of) reading the body close the connection? Yes
 * unless the rest is small enough to discard cheaply: a hostile sender is cut off, not buffered.
 */
export function shouldClose(req: IncomingMessage): boolean {
  if (!hasUnreadBody(req)) return false;
  const len = declaredLength(req);
  return len === undefined || len > DRAIN_BYTES;
}

/** After an early refusal, a connection is kept (unread) at most this long before it is destroyed. */
export const LINGER_MS = 2000;

/**
 * Closes the connection once the answer is written, without reading any more of the body: our
 * side is ended at once (the client reads the answer and the end of the stream), reading stops so
 * that the client's further bytes wait in the kernel's socket buffers (TCP backpressure, none of
 * our memory), and the socket is destroyed when the client closes or after LINGER_MS. Destroying
 * at once instead would make the client's kernel drop the answer when our reset arrives while it
 * is still writing. Call before answering; the answer must carry `connection: close`.
 */
export function closeAfterAnswer(req: IncomingMessage): void {
  // Paused with a read(0), the body counts as consumed: Node then neither reads nor discards the
  // rest after the answer, and stops reading the socket once a few KB are waiting.
  req.pause();
  req.read(0);
  const socket = req.socket as IncomingMessage['socket'] & { destroySoon?: () => void };
  // Node calls destroySoon() on the socket when an answer marked `connection: close` is written.
  socket.destroySoon = () => {
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    socket.end();
  };
}

/** A body that sends no byte for this long is refused (408) and its connection closed. */
export const BODY_IDLE_MS = 20_000;

/**
 * The longest a whole request (headers and body) may take to arrive, for both listeners' HTTP
 * servers (Node's `requestTimeout`; Fastify turns Node's default off). 50 MiB at 1 MB/s fits.
 */
export const REQUEST_TIMEOUT_MS = 120_000;

export interface ReadBody {
  body: Buffer;
  /** Hex SHA-256 of the body, computed while it arrived. */
  sha256: string;
}

/**
 * Reads the whole body, at most `limit` bytes, taking each byte from the lease. Throws
 * RequestEntityTooLargeException (413) as soon as the declared length or the bytes so far exceed
 * the limit, ServiceUnavailableException (503) when the budget is spent; either way the rest of
 * the body is not read.
 */
export function readBody(req: IncomingMessage, limit: number, lease: BodyLease, hint = '', idleMs = BODY_IDLE_MS): Promise<ReadBody> {
  const declared = declaredLength(req);
  if (declared !== undefined && declared > limit) return Promise.reject(tooLarge(limit, hint));
  if (req.destroyed) return Promise.reject(new ServiceError('IncompleteBody', 'The connection closed before the request body was complete.', 400));
  // Reserve a declared length up front, so that a refusal comes before any byte is buffered; a
  // connection that then sends nothing for BODY_IDLE_MS is cut (408) and gives it back.
  let reserved = 0;
  if (declared !== undefined) {
    try {
      lease.take(declared);
    } catch (e) {
      return Promise.reject(e);
    }
    reserved = declared;
  }
  return new Promise<ReadBody>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let whole: Buffer | undefined;
    const hash = createHash('sha256');
    let size = 0;
    let done = false;
    const idle = setTimeout(() => onIdle(), idleMs);
    const finish = (err: unknown, value?: ReadBody) => {
      if (done) return;
      done = true;
      clearTimeout(idle);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (err) {
        req.pause();
        reject(err);
      } else resolve(value!);
    };
    const onData = (chunk: Buffer) => {
      idle.refresh();
      size += chunk.length;
      if (size > limit) return finish(tooLarge(limit, hint));
      if (size > reserved) {
        try {
          lease.take(size - reserved);
        } catch (e) {
          return finish(e);
        }
        reserved = size;
      }
      hash.update(chunk);
      // A declared length is read straight into one buffer of that size, made at the first byte
      // (so a silent connection allocates nothing): no second copy when the body is complete.
      if (declared !== undefined && whole === undefined) whole = Buffer.allocUnsafe(declared);
      const at = size - chunk.length;
      if (!whole || at >= whole.length) chunks.push(chunk);
      else {
        chunk.copy(whole, at);
        if (size > whole.length) chunks.push(chunk.subarray(whole.length - at));
      }
    };
    const body = (): Buffer => {
      if (!whole) return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      // More than declared (not possible through Node's HTTP parser): the rest follows the buffer.
      return chunks.length === 0 ? whole.subarray(0, size) : Buffer.concat([whole, ...chunks], size);
    };
    const onIdle = () => finish(new ServiceError('RequestTimeoutException', `No byte of the request body arrived for ${idleMs / 1000} s.`, 408));
    const onEnd = () => finish(undefined, { body: body(), sha256: hash.digest('hex') });
    const onError = (e: Error) => finish(new ServiceError('IncompleteBody', `The request body could not be read: ${e.message}`, 400));
    const onClose = () => finish(new ServiceError('IncompleteBody', 'The connection closed before the request body was complete.', 400));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
    if (req.readableEnded) onEnd();
  });
}

/** The Content-Encoding of a body: `gzip`, or identity. Throws for anything else. */
export function bodyEncoding(req: IncomingMessage, body: Buffer): 'gzip' | 'identity' {
  const encoding = String(req.headers['content-encoding'] ?? '').trim().toLowerCase();
  if (encoding === 'gzip' || encoding === 'x-gzip') return 'gzip';
  if (encoding !== '' && encoding !== 'identity') {
    throw new ServiceError('SerializationException', `Unsupported Content-Encoding ${encoding.slice(0, 64)}; send gzip or none.`, 400);
  }
  // Sniffed: a gzip body sent without the header.
  return body[0] === 0x1f && body[1] === 0x8b ? 'gzip' : 'identity';
}

/** Bytes handed to the parser at once for an identity body. */
const PIECE = 64 * 1024;

/**
 * The decoded body as chunks: identity in pieces; gzip inflated as a stream (on the thread pool),
 * stopping with RequestEntityTooLargeException (413) as soon as the output passes `maxDecoded`, and
 * SerializationException (400) for data that is not (complete) gzip. Decoded bytes are taken from
 * the lease (for identity the body's size again: what its parsed records will hold).
 */
export async function* decodedChunks(body: Buffer, encoding: 'gzip' | 'identity', maxDecoded: number, lease: BodyLease): AsyncGenerator<Buffer> {
  if (encoding === 'identity') {
    if (body.length > maxDecoded) throw tooLarge(maxDecoded, ' (decoded)');
    // The parsed records take about as much memory again as their text: count them too.
    lease.take(body.length);
    for (let off = 0; off < body.length; off += PIECE) yield body.subarray(off, off + PIECE);
    return;
  }
  const gunzip = createGunzip({ chunkSize: PIECE });
  gunzip.end(body);
  let size = 0;
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxDecoded) throw new ServiceError('RequestEntityTooLargeException', `The request body inflates to more than ${maxDecoded} bytes.`, 413);
      lease.take(chunk.length);
      yield chunk;
    }
  } catch (e) {
    if (e instanceof ServiceError) throw e;
    throw new ServiceError('SerializationException', `The gzip body could not be decompressed: ${(e as Error).message}`, 400);
  } finally {
    gunzip.destroy();
  }
}
