/**
 * The server's log: JSON lines on stdout through Fastify's own logger, pino (taken from Fastify's
 * dependencies, so it is the very pino Fastify was built and tested with: docs/dependencies.md).
 * One line per request (src/http/app.ts) and one per background failure with its cause; the
 * level from config `logLevel`. Writes are synchronous (pino's default for stdout), so a line is
 * out before the process can die and lines keep their order with the start-up banner.
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

/**
 * A logError for a background component: one JSON line at level error with the component and the
 * cause (`err`: type, message, stack, code), counted by `count` (metrics). A store failure that
 * passes by itself (database gone, disk full) is its message only: one short line per job pass,
 * not a stack.
 */
export function componentErrorLog(log: Logger, component: string, count?: (component: string) => void): (msg: string, err?: unknown) => void {
  const child = log.child({ component });
  return (msg, err) => {
    count?.(component);
    if (err === undefined) child.error(msg);
    else if (err instanceof StoreUnavailableError) child.error(`${msg}: ${err.message}`);
    else child.error({ err }, msg);
  };
}
