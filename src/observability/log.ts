/**
 * The server's log: JSON lines on stdout through Fastify's own logger, pino (taken from Fastify's
 * dependencies, so it is the very pino Fastify was built and tested with: docs/dependencies.md).
 * One line per request (src/http/app.ts) and one per background failure with its cause; the
 * level from config `logLevel`. Writes are asynchronous (pino's default stdout destination, a
 * sonic-boom with `sync: false`: each line is handed to libuv's pool, in order, and flushed at a
 * normal exit); a `kill -9` can lose the lines of its last milliseconds. Synchronous writes were
 * measured on the gateway's one line per call and were no cheaper (docs/performance.md, the
 * gateway's eighth round), so the default stays.
 *
 * Nothing secret is written: request lines carry the path without its query string and no
 * headers, and the paths where a secret could appear anyway (credentials, signatures, session
 * tokens, Authorization) are redacted (docs/operations.md "Logs").
 */
import { createRequire } from 'node:module';
import type { FastifyBaseLogger } from 'fastify';
import type { DestinationStream, LoggerOptions, Logger as PinoLogger, stdTimeFunctions } from 'pino';
import { StoreUnavailableError } from '../stores/index.ts';

export type Logger = FastifyBaseLogger;

interface Pino {
  (options: LoggerOptions, stream?: DestinationStream): PinoLogger;
  stdTimeFunctions: typeof stdTimeFunctions;
}

const pino = createRequire(createRequire(import.meta.url).resolve('fastify'))('pino') as Pino;

/** Keys whose values are never written, wherever they appear in a line's objects (two levels deep). */
const SECRET_KEYS = ['secretAccessKey', 'sessionToken', 'authorization', 'Authorization', 'x-amz-security-token', 'X-Amz-Security-Token', 'X-Amz-Signature', 'password', 'privateKeyPem'];

export function createLogger(level: string, stream?: DestinationStream): Logger {
  return pino({
    level,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: SECRET_KEYS.flatMap((k) => [`["${k}"]`, `*["${k}"]`, `*.*["${k}"]`]), censor: '[redacted]' },
  }, stream);
}

/**
 * A child logger for lines whose fields are all the caller's own facts (short strings and numbers
 * it computed, never a request's headers, body or credentials): no redaction pass. pino's redaction
 * walks every line for the secret paths above at ~30 µs a line, which on a per-call line (the
 * gateway's) is a tenth of the call's CPU. Never give it an object that came from a request.
 */
export function factsLogger(log: Logger, bindings: Record<string, string>): Logger {
  return (log as unknown as PinoLogger).child(bindings, { redact: [] }) as unknown as Logger;
}

/** How long a background component stays quiet about a store failure it just logged, word for word. */
export const REPEAT_QUIET_MS = 60_000;

/**
 * A logError for a background component: one JSON line at level error with the component and the
 * cause (`err`: type, message, stack, code), counted by `count` (metrics). A store failure that
 * passes by itself (database gone, disk full) is its message only, not a stack, and the same line
 * again within REPEAT_QUIET_MS is only counted: a job that fails every pass (every second) while
 * the disk is full says so once a minute, and the metrics count every failure.
 */
export function componentErrorLog(log: Logger, component: string, count?: (component: string) => void, nowMs: () => number = Date.now): (msg: string, err?: unknown) => void {
  const child = log.child({ component });
  const lastLogged = new Map<string, number>();
  return (msg, err) => {
    count?.(component);
    if (err === undefined) child.error(msg);
    else if (err instanceof StoreUnavailableError) {
      const line = `${msg}: ${err.message}`;
      const now = nowMs();
      if (now - (lastLogged.get(line) ?? -Infinity) < REPEAT_QUIET_MS) return;
      if (lastLogged.size >= 64) lastLogged.clear();
      lastLogged.set(line, now);
      child.error(line);
    } else child.error({ err }, msg);
  };
}
