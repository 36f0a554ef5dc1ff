/**
 * A log that writes a line once and then, for `windowMs`, only counts identical lines: a failing
 * disk answers every request with the same cause, and the log must name it without repeating it
 * (or a stack trace) per request forever. The count is reported with the next line written.
 */
export class RepeatLimitedLog {
  private readonly last = new Map<string, { atMs: number; suppressed: number }>();
  private readonly write: (line: string) => void;
  private readonly windowMs: number;
  private readonly nowMs: () => number;

  constructor(write: (line: string) => void, windowMs = 60_000, nowMs: () => number = Date.now) {
    this.write = write;
    this.windowMs = windowMs;
    this.nowMs = nowMs;
  }

  log(line: string): void {
    const now = this.nowMs();
    const seen = this.last.get(line);
    if (seen && now - seen.atMs < this.windowMs) {
      seen.suppressed++;
      return;
    }
    if (this.last.size >= 100) this.last.clear();
    this.last.set(line, { atMs: now, suppressed: 0 });
    this.write(seen && seen.suppressed > 0 ? `${line} (and ${seen.suppressed} more times in the last ${Math.round((now - seen.atMs) / 1000)} s)` : line);
  }
}
