/**
 * Bounds how many bulk requests are parsed, normalised and committed at once (docs/storage.md
 * "Memory"): a request's parsed records (JavaScript objects, several times its body's bytes) live
 * from its parse until its commit, so with many concurrent requests they, not the store, were what
 * lifted the main thread's heap. A request beyond the limit waits its turn (first come, first
 * served) with its body already read: back-pressure, never a refusal. The limit is a few requests,
 * enough to keep a group commit fed while the next requests parse.
 */
export class AdmissionGate {
  private readonly limit: number;
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`AdmissionGate: limit must be a whole number >= 1, not ${limit}`);
    this.limit = limit;
  }

  /** Requests admitted now / waiting. */
  get inUse(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Waits for a slot; resolves with its release (idempotent), to call when the request is done with its records. */
  async enter(): Promise<() => void> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter (active stays as it is).
      if (next) next();
      else this.active--;
    };
  }

  /** Runs `work` once admitted; the slot is given back when it settles, however it settles. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    const release = await this.enter();
    try {
      return await work();
    } finally {
      release();
    }
  }
}

/** Bulk requests parsed, normalised and committed at once: two keep a group commit fed (one commits while the next parses). */
export const BULK_ADMISSION = 2;

/**
 * Of the admitted requests, how many parse at once: one, in the order admitted, so each request's
 * parse ends as early as it can and its commit overlaps the next one's parse. Parsed side by side
 * they ended together, committed as one group and waited for it together, with nothing parsing.
 */
export const PARSE_TURNS = 1;

/**
 * The admission a store asks for (`EventStore.admission`), within bounds: at least 1, at most
 * `MAX_BULK_ADMISSION` (each admitted request may hold `ingest.maxDecodedBytes` parsed).
 */
export function bulkAdmission(hint: number | undefined): number {
  if (hint === undefined || !Number.isSafeInteger(hint) || hint < 1) return BULK_ADMISSION;
  return Math.min(hint, MAX_BULK_ADMISSION);
}

/** The most bulk requests ever admitted at once, whatever the store asks (docs/storage.md "Memory"). */
export const MAX_BULK_ADMISSION = 8;
