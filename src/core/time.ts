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
  const fast = eventTimeFormMs(text);
  if (fast !== undefined) return fast;
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

/** Digit at `i` of `t` as a number, or NaN (any other character). */
function digit(t: string, i: number): number {
  const c = t.charCodeAt(i) - 0x30;
  return c >= 0 && c <= 9 ? c : NaN;
}

/**
 * parseIsoTime for text in CloudTrail's eventTime form, read by position (the form every record of a
 * log file has): its epoch ms, or undefined when the text is not in that form, names a time that
 * does not exist, or has a year below 100 (Date.UTC reads those as 19xx; parseIsoTime's general
 * path answers them). The same answer as the general path for every text it answers.
 */
function eventTimeFormMs(t: string): number | undefined {
  if (t.length !== 20 || t.charCodeAt(4) !== 0x2d || t.charCodeAt(7) !== 0x2d || t.charCodeAt(10) !== 0x54 || t.charCodeAt(13) !== 0x3a || t.charCodeAt(16) !== 0x3a || t.charCodeAt(19) !== 0x5a) return undefined;
  const y = digit(t, 0) * 1000 + digit(t, 1) * 100 + digit(t, 2) * 10 + digit(t, 3);
  const mo = digit(t, 5) * 10 + digit(t, 6);
  const d = digit(t, 8) * 10 + digit(t, 9);
  const h = digit(t, 11) * 10 + digit(t, 12);
  const mi = digit(t, 14) * 10 + digit(t, 15);
  const s = digit(t, 17) * 10 + digit(t, 18);
  // NaN (a character that is no digit) fails every comparison.
  if (!(y >= 100 && mo >= 1 && mo <= 12 && d >= 1 && h <= 23 && mi <= 59 && s <= 59)) return undefined;
  const daysInMonth = mo === 2 ? ((y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28) : mo === 4 || mo === 6 || mo === 9 || mo === 11 ? 30 : 31;
  if (d > daysInMonth) return undefined;
  return Date.UTC(y, mo - 1, d, h, mi, s);
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
