/**
 * A job that runs every so often in the background (delivery passes, digests, retention): started
 * and stopped, its runs never overlap, and stop waits for the run in progress. The one loop of
 * them all; the work itself is the caller's.
 */

export interface PeriodicJobOptions {
  /** Time between the runs the timer starts. */
  everyMs: number;
  /** Where the failure of a run the timer started goes (nobody awaits those). */
  onError(e: unknown): void;
  /**
   * A run asked for while one is in progress also runs once more right after it (while started),
   * so what arrived during a long run waits one run, not a run and an interval. Default: it only
   * shares the run in progress.
   */
  rerun?: boolean;
  /** Asked after each run while started: in how many ms a run is due, when that is sooner than everyMs (undefined or not finite: at the next interval). */
  nextDueInMs?(): number | undefined;
}

export class PeriodicJob<T = void> {
  private readonly work: () => Promise<T>;
  private readonly opts: PeriodicJobOptions;
  private interval: NodeJS.Timeout | undefined;
  private wake: NodeJS.Timeout | undefined;
  private running: Promise<T> | undefined;
  /** A run was asked for while one ran. */
  private again = false;

  constructor(work: () => Promise<T>, opts: PeriodicJobOptions) {
    this.work = work;
    this.opts = opts;
  }

  get started(): boolean {
    return this.interval !== undefined;
  }

  /** Runs every everyMs from now on (the timers do not keep the process alive); `runNow` also starts a run on the next turn. */
  start(opts: { runNow?: boolean } = {}): void {
    if (this.interval) return;
    this.interval = setInterval(() => this.fire(), this.opts.everyMs);
    this.interval.unref();
    if (opts.runNow) setImmediate(() => this.fire());
  }

  /**
   * Starts `work` (the job's own by default) now, or, while a run is in progress, returns that run
   * instead (with `rerun`, one more follows it). Works started or not; rejects as the run does.
   */
  run(work: () => Promise<T> = this.work): Promise<T> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.again = false;
    let p: Promise<T>;
    try {
      p = work();
    } catch (e) {
      p = Promise.reject(e);
    }
    const running = p.finally(() => {
      this.running = undefined;
      this.afterRun();
    });
    this.running = running;
    return running;
  }

  /** No run starts by timer any more; resolves once the run in progress (if any) ended, however it ended. */
  async stop(): Promise<void> {
    clearInterval(this.interval);
    this.interval = undefined;
    clearTimeout(this.wake);
    this.wake = undefined;
    await this.running?.catch(() => undefined);
  }

  private fire(): void {
    if (this.interval) this.run().catch((e: unknown) => this.opts.onError(e));
  }

  private afterRun(): void {
    clearTimeout(this.wake);
    this.wake = undefined;
    if (!this.interval) return;
    if (this.again && this.opts.rerun) {
      setImmediate(() => this.fire());
      return;
    }
    const inMs = this.opts.nextDueInMs?.();
    if (inMs === undefined || !Number.isFinite(inMs) || inMs >= this.opts.everyMs) return;
    this.wake = setTimeout(() => this.fire(), Math.max(0, inMs));
    this.wake.unref();
  }
}
