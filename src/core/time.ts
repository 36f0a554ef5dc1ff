/** Time in CloudTrail's forms. Every clock is injected so tests can pin it. */

export interface Clock {
  /** Milliseconds since the epoch. */
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };

/** `YYYY-MM-DDTHH:MM:SSZ`: the eventTime form CloudTrail writes (UTC, whole seconds). */
export function formatEventTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

const EVENT_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/**
 * Parses an ISO-8601 time (with or without fraction or offset) into epoch milliseconds,
 * or returns undefined when it is not one.
 */
export function parseIsoTime(text: string): number | undefined {
  if (!isRealDate(text)) return undefined;
  if (EVENT_TIME.test(text)) {
    const ms = Date.parse(text);
    return Number.isNaN(ms) ? undefined : ms;
  }
  if (!/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(text)) return undefined;
  const withZone = /(Z|[+-]\d{2}:?\d{2})$/.test(text) ? text : `${text}Z`;
  const ms = Date.parse(withZone.replace(' ', 'T'));
  return Number.isNaN(ms) ? undefined : ms;
}

/** The calendar date and clock time in the text exist (Date.parse rolls 2024-02-30 over to March). */
function isRealDate(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?/.exec(text);
  if (!m) return false;
  const [y, mo, d, h, mi, s] = [+m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +(m[6] ?? 0)];
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  return mo >= 1 && mo <= 12 && d >= 1 && d <= daysInMonth && h <= 23 && mi <= 59 && s <= 59;
}

/** True when the text is already in CloudTrail's eventTime form. */
export function isEventTimeForm(text: string): boolean {
  return EVENT_TIME.test(text);
}

export const DAY_MS = 24 * 60 * 60 * 1000;

/** What `withDeadline` rejects with when the deadline passes first. */
export class DeadlineError extends Error {
  override name = 'DeadlineError';
}

/**
 * `p`, or a rejection with DeadlineError once `ms` passed (p itself is not cancelled). The timer
 * does not keep the process alive and is cleared as soon as either settles.
 */
export function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(`no answer within ${ms} ms`)), ms);
    timer.unref?.();
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
