/**
 * The delivery half of the middleware: a bounded in-memory queue of CloudTrail records, sent in
 * batches to OpenTrail's `POST /ingest` (NDJSON, SigV4 service `opentrail`), one request at a time,
 * retried with capped exponential backoff on network errors, 429 and 5xx.
 *
 * At least once: a record's eventID is fixed when it is recorded, and the server answers a record
 * it already holds as `duplicate`, so a batch whose answer was lost is simply sent again.
 *
 * Plain JavaScript on purpose (see index.d.ts): nothing here may import a .ts file.
 */
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';

/** @import { CloudTrailRecord, RecorderErrorCode, RecorderOptions, RecorderStats, RejectedRecord } from './index.js' */

/** Lets the adapters report their own errors through the recorder's onError; not exported by index.js. */
export const REPORT = Symbol('opentrail.report');

const DEFAULTS = {
  batchSize: 200,
  flushIntervalMs: 1000,
  maxQueueSize: 10_000,
  retryBaseMs: 200,
  retryMaxMs: 30_000,
  requestTimeoutMs: 10_000,
};

export class RecorderError extends Error {
  /**
   * @param {RecorderErrorCode} code
   * @param {string} message
   * @param {{ count?: number, status?: number, rejected?: RejectedRecord[], cause?: unknown }} [details]
   */
  constructor(code, message, details = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'RecorderError';
    /** @readonly */
    this.code = code;
    /** @readonly */
    this.count = details.count ?? 0;
    /** @readonly */
    this.status = details.status;
    /** @readonly */
    this.rejected = details.rejected;
  }
}

/** node:crypto behind the hash interface @smithy/signature-v4 expects (a secret makes it an HMAC). */
class NodeSha256 {
  /** @param {string | ArrayBuffer | ArrayBufferView} [secret] */
  constructor(secret) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', toBytes(secret));
  }
  /** @param {string | ArrayBuffer | ArrayBufferView} data */
  update(data) {
    this.h.update(toBytes(data));
  }
  async digest() {
    return new Uint8Array(this.h.digest());
  }
}

/** @param {string | ArrayBuffer | ArrayBufferView} v @returns {string | Buffer} */
function toBytes(v) {
  if (typeof v === 'string') return v;
  return ArrayBuffer.isView(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : Buffer.from(v);
}

/**
 * @typedef {{ id: string, line: string }} Queued
 * @typedef {{ kind: 'done', accepted: number, duplicates: number, rejected: RejectedRecord[] }
 *   | { kind: 'retry', error: RecorderError }
 *   | { kind: 'refused', error: RecorderError }} Outcome
 */

/** @param {unknown} v @param {string} name */
function positive(v, name) {
  if (v === undefined) return;
  if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw new TypeError(`opentrail: ${name} must be a positive number`);
}

export class Recorder {
  /** @type {Required<Omit<RecorderOptions, 'credentials' | 'onError' | 'endpoint' | 'region'>>} */
  #opts;
  #url;
  #signer;
  /** @type {(error: RecorderError) => void} */
  #onError;
  /** @type {Queued[]} */
  #queue = [];
  /** Records of the request in flight. */
  #inFlight = 0;
  /** A batch is in flight or waiting for its retry. */
  #sending = false;
  /** @type {NodeJS.Timeout | undefined} */
  #batchTimer;
  /** @type {NodeJS.Timeout | undefined} */
  #retryTimer;
  /** @type {AbortController | undefined} */
  #abort;
  #attempt = 0;
  #closed = false;
  #abandoned = false;
  /** Records ever queued, and records that left the queue (in order: delivery is FIFO). */
  #enqueued = 0;
  #settled = 0;
  /** @type {{ target: number, resolve: () => void }[]} */
  #waiters = [];
  #stats = { accepted: 0, duplicates: 0, rejected: 0, dropped: 0, retries: 0 };
  /** Queue-full drops not yet reported; reported at most once per flushIntervalMs. */
  #unreportedDrops = 0;
  #lastDropReportMs = -Infinity;

  /** @param {RecorderOptions} options */
  constructor(options) {
    if (!options || typeof options.endpoint !== 'string') throw new TypeError('opentrail: endpoint (the OpenTrail URL) is required');
    const url = new URL(options.endpoint);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`opentrail: endpoint must be an http(s) URL, not ${options.endpoint}`);
    if (typeof options.region !== 'string' || options.region === '') throw new TypeError('opentrail: region is required');
    if (!options.credentials) throw new TypeError('opentrail: credentials are required');
    for (const k of /** @type {const} */ (['batchSize', 'flushIntervalMs', 'maxQueueSize', 'retryBaseMs', 'retryMaxMs', 'requestTimeoutMs'])) positive(options[k], k);
    this.#opts = {
      batchSize: options.batchSize ?? DEFAULTS.batchSize,
      flushIntervalMs: options.flushIntervalMs ?? DEFAULTS.flushIntervalMs,
      maxQueueSize: options.maxQueueSize ?? DEFAULTS.maxQueueSize,
      retryBaseMs: options.retryBaseMs ?? DEFAULTS.retryBaseMs,
      retryMaxMs: options.retryMaxMs ?? DEFAULTS.retryMaxMs,
      requestTimeoutMs: options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
    };
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/ingest`;
    url.search = '';
    url.hash = '';
    this.#url = url;
    this.region = options.region;
    const credentials = options.credentials;
    this.#signer = new SignatureV4({
      credentials: typeof credentials === 'function' ? credentials : { ...credentials },
      region: options.region,
      service: 'opentrail',
      sha256: NodeSha256,
      // Sign the payload hash (x-amz-content-sha256): OpenTrail then verifies the signature before
      // reading the body and accepts bodies above its small limit for unverified payloads.
      applyChecksum: true,
    });
    this.#onError = options.onError ?? ((e) => console.warn(`opentrail: ${e.code}: ${e.message}`));
  }

  /** @param {CloudTrailRecord} record @returns {boolean} */
  record(record) {
    if (this.#closed) {
      this.#stats.dropped++;
      this.#report(new RecorderError('Closed', 'the recorder is closed; event dropped', { count: 1 }));
      return false;
    }
    if (this.#queue.length + this.#inFlight >= this.#opts.maxQueueSize) {
      this.#stats.dropped++;
      this.#unreportedDrops++;
      const now = Date.now();
      if (now - this.#lastDropReportMs >= this.#opts.flushIntervalMs) {
        this.#lastDropReportMs = now;
        const count = this.#unreportedDrops;
        this.#unreportedDrops = 0;
        this.#report(new RecorderError('QueueFull', `${this.#opts.maxQueueSize} events are waiting for OpenTrail; dropped ${count} event(s)`, { count }));
      }
      return false;
    }
    const id = typeof record?.eventID === 'string' && record.eventID !== '' ? record.eventID : randomUUID();
    let line;
    try {
      line = JSON.stringify({ ...record, eventID: id });
    } catch (e) {
      this.#report(new RecorderError('InvalidRecord', `event not recorded: ${e instanceof Error ? e.message : String(e)}`, { count: 1, cause: e }));
      return false;
    }
    this.#queue.push({ id, line });
    this.#enqueued++;
    this.#pump();
    return true;
  }

  flush() {
    const target = this.#enqueued;
    if (this.#settled >= target) return Promise.resolve();
    /** @type {Promise<void>} */
    const done = new Promise((resolve) => this.#waiters.push({ target, resolve }));
    if (this.#retryTimer !== undefined) {
      // A flush does not wait out the backoff: try again now.
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
      this.#sending = false;
    }
    this.#pump();
    return done;
  }

  /** @param {{ timeoutMs?: number }} [options] */
  async close({ timeoutMs = 10_000 } = {}) {
    this.#closed = true;
    /** @type {NodeJS.Timeout | undefined} */
    let timer;
    // This timer is not unref'd: it keeps the process alive until close() has finished.
    const timedOut = new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs, 'timeout')));
    const outcome = await Promise.race([this.flush().then(() => 'flushed'), timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') this.#abandon();
  }

  /** @returns {RecorderStats} */
  stats() {
    return { queued: this.#queue.length, inFlight: this.#inFlight, ...this.#stats };
  }

  /** @param {RecorderError} error */
  [REPORT](error) {
    this.#report(error);
  }

  /** @param {RecorderError} error */
  #report(error) {
    try {
      this.#onError(error);
    } catch {
      // onError must not break recording.
    }
  }

  /** Starts a send when a batch is full or someone flushes, else makes sure the batch timer runs. */
  #pump() {
    if (this.#sending || this.#queue.length === 0 || this.#abandoned) return;
    const flushing = this.#waiters.length > 0;
    if (flushing || this.#queue.length >= this.#opts.batchSize) {
      void this.#sendNext();
    } else if (this.#batchTimer === undefined) {
      this.#batchTimer = setTimeout(() => {
        this.#batchTimer = undefined;
        void this.#sendNext();
      }, this.#opts.flushIntervalMs);
      this.#batchTimer.unref();
    }
  }

  async #sendNext() {
    if (this.#sending || this.#queue.length === 0 || this.#abandoned) return;
    this.#sending = true;
    clearTimeout(this.#batchTimer);
    this.#batchTimer = undefined;
    const batch = this.#queue.splice(0, this.#opts.batchSize);
    this.#inFlight = batch.length;
    const outcome = await this.#post(batch);
    this.#inFlight = 0;
    if (this.#abandoned) return; // close() gave up on these and counted them.
    if (outcome.kind === 'retry') {
      this.#queue.unshift(...batch);
      this.#stats.retries++;
      this.#report(outcome.error);
      const ceiling = Math.min(this.#opts.retryMaxMs, this.#opts.retryBaseMs * 2 ** Math.min(this.#attempt, 30));
      this.#attempt++;
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        this.#sending = false;
        void this.#sendNext();
      }, ceiling / 2 + Math.random() * (ceiling / 2));
      this.#retryTimer.unref();
      return;
    }
    this.#attempt = 0;
    if (outcome.kind === 'done') {
      this.#stats.accepted += outcome.accepted;
      this.#stats.duplicates += outcome.duplicates;
      this.#stats.rejected += outcome.rejected.length;
      if (outcome.rejected.length > 0) {
        const first = outcome.rejected[0];
        this.#report(new RecorderError('Rejected', `OpenTrail refused ${outcome.rejected.length} of ${batch.length} event(s), e.g. ${first?.eventID}: ${first?.errorCode}: ${first?.errorMessage}`, { count: outcome.rejected.length, rejected: outcome.rejected }));
      }
    } else {
      this.#stats.rejected += batch.length;
      this.#report(outcome.error);
    }
    this.#settle(batch.length);
    this.#sending = false;
    this.#pump();
  }

  /** @param {Queued[]} batch @returns {Promise<Outcome>} */
  async #post(batch) {
    const body = batch.map((q) => q.line).join('\n');
    const url = this.#url;
    let response;
    try {
      const signed = await this.#signer.sign({
        method: 'POST',
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port === '' ? undefined : Number(url.port),
        path: url.pathname,
        query: {},
        headers: { host: url.host, 'content-type': 'application/x-ndjson' },
        body,
      });
      this.#abort = new AbortController();
      const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#opts.requestTimeoutMs)]);
      response = await fetch(url, { method: 'POST', headers: /** @type {Record<string, string>} */ (signed.headers), body, signal });
    } catch (e) {
      const why = e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e);
      return { kind: 'retry', error: new RecorderError('Unavailable', `cannot reach OpenTrail at ${url.origin} (${why}); ${batch.length} event(s) will be retried`, { count: batch.length, cause: e }) };
    } finally {
      this.#abort = undefined;
    }
    let text = '';
    try {
      text = await response.text();
    } catch (e) {
      return { kind: 'retry', error: new RecorderError('Unavailable', `OpenTrail's answer was cut off; ${batch.length} event(s) will be retried`, { count: batch.length, cause: e }) };
    }
    const status = response.status;
    if (status === 429 || status >= 500) {
      return { kind: 'retry', error: new RecorderError('Unavailable', `OpenTrail answered ${status} ${snippet(text)}; ${batch.length} event(s) will be retried`, { count: batch.length, status }) };
    }
    if (status < 200 || status >= 300) {
      return { kind: 'refused', error: new RecorderError('HttpError', `OpenTrail refused a batch of ${batch.length} event(s): ${status} ${snippet(text)}`, { count: batch.length, status }) };
    }
    return readAnswer(text, batch);
  }

  /** @param {number} n */
  #settle(n) {
    this.#settled += n;
    this.#waiters = this.#waiters.filter((w) => {
      if (this.#settled < w.target) return true;
      w.resolve();
      return false;
    });
  }

  /** close() timed out: whatever is still queued or in flight is dropped. */
  #abandon() {
    this.#abandoned = true;
    clearTimeout(this.#batchTimer);
    clearTimeout(this.#retryTimer);
    this.#abort?.abort();
    const left = this.#queue.length + this.#inFlight;
    this.#queue = [];
    this.#inFlight = 0;
    if (left > 0) {
      this.#stats.dropped += left;
      this.#report(new RecorderError('Abandoned', `close() timed out; ${left} event(s) not delivered`, { count: left }));
    }
    this.#settle(left);
  }
}

/** @param {string} text */
function snippet(text) {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > 200 ? `${t.slice(0, 200)}...` : t;
}

/**
 * The ingest answer (docs/ingest.md): `results` aligned with the batch.
 * @param {string} text @param {Queued[]} batch @returns {Outcome}
 */
function readAnswer(text, batch) {
  /** @type {any} */
  let answer;
  try {
    answer = JSON.parse(text);
  } catch {
    answer = undefined;
  }
  if (!answer || !Array.isArray(answer.results)) {
    // Stored or not, we cannot tell: sending again is safe (duplicates are reported, not stored).
    return { kind: 'retry', error: new RecorderError('Unavailable', `OpenTrail's answer is not an ingest result: ${snippet(text)}`, { count: batch.length }) };
  }
  let accepted = 0;
  let duplicates = 0;
  /** @type {RejectedRecord[]} */
  const rejected = [];
  batch.forEach((q, i) => {
    const r = answer.results[i];
    if (r?.status === 'accepted') accepted++;
    else if (r?.status === 'duplicate') duplicates++;
    else rejected.push({ eventID: q.id, errorCode: String(r?.errorCode ?? 'Unknown'), errorMessage: String(r?.errorMessage ?? 'no result for this record') });
  });
  return { kind: 'done', accepted, duplicates, rejected };
}
