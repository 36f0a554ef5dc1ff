/**
 * A consumer of the event log with its own cursor, as a trail's delivery is one (src/delivery/
 * worker.ts): reads the log by seq after its cursor (`readAfter`), hands each page to its
 * handler, and moves the cursor only over what the handler finished. The cursor is a control
 * document (`realtime-consumer/<name>`); with several nodes on one database, one node runs the
 * consumer, under the lease `realtime/<name>`, and every write of its state is fenced by it (a
 * node that lost the lease moves no cursor).
 *
 * MUST: the cursor moves past an event only after the handler finished it (at least once: a crash
 *   or a failure between the handler's call and the cursor's write repeats it; the cursor is
 *   written at most once a second, and at stop, so a crash repeats at most about a second's events).
 * MUST: a handler that fails is retried from where it stopped, with backoff (1 s doubling to 60 s,
 *   jittered), and never blocks anything but this consumer: ingest, Event history and trails read
 *   the log on their own.
 * A consumer seen for the first time starts at the end of the log: it carries what is stored from
 *   then on (as a new trail does), not the history before it.
 */
import { PeriodicJob, type Clock } from '../core/index.ts';
import { LeaseLostError, type ControlStore, type EventStore, type Fence, type StoredEvent } from '../stores/index.ts';
import type { LeaseKeeper } from '../stores/lease-keeper.ts';

export const REALTIME_CONSUMER_KIND = 'realtime-consumer';
/** The lease group of realtime consumers: lease `realtime/<name>`. */
export const REALTIME_LEASES = 'realtime';

/** A consumer's stored position and its latest outcome. */
export interface ConsumerState {
  cursor: number;
  /** Set while it fails: the error code of the latest attempt and when it was made. */
  latestError?: string;
  latestAttemptMs?: number;
  /** When the cursor last moved over handled events. */
  latestSuccessMs?: number;
}

export interface LogConsumerDeps {
  events: EventStore;
  control: ControlStore;
  clock: Clock;
  logError(msg: string, err?: unknown): void;
  leases?: LeaseKeeper;
}

export interface LogConsumerOptions {
  /** Names the consumer's cursor document and lease (`eventbridge`, `rules`). */
  name: string;
  pollMs: number;
  /** Events read per page. */
  readBatch: number;
  /** Bytes of records read per page (at least one record). */
  readBytes: number;
}

/**
 * Handles one page of the log, in seq order. `done(seq)` says every event up to seq is finished
 * (the cursor may move there if the rest fails). Resolving means the whole page is finished;
 * throwing, that the events after the last `done` are to be tried again.
 */
export type PageHandler = (rows: readonly StoredEvent[], done: (seq: number) => void) => Promise<void>;

const MIN_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 60_000;
/** How often a moving cursor is written to the control store. */
const SAVE_EVERY_MS = 1000;
/** A pass reads for at most this long, then lets the next one start (lease checks, stop). */
const MAX_PASS_MS = 2000;

export class LogConsumer {
  readonly name: string;
  private readonly deps: LogConsumerDeps;
  private readonly opts: LogConsumerOptions;
  private readonly handle: PageHandler;
  private readonly job: PeriodicJob;
  /** The state as last written, while this node runs the consumer with this fence. */
  private state?: { doc: ConsumerState; token: number | undefined };
  private backoff?: { untilMs: number; delayMs: number };
  /** The cursor moved in memory and not yet in the control store (written at most every SAVE_EVERY_MS, and at stop). */
  private unsaved?: { doc: ConsumerState; fence: Fence | undefined };
  private savedAtMs = 0;
  private cutShort = false;

  constructor(deps: LogConsumerDeps, opts: LogConsumerOptions, handle: PageHandler) {
    this.name = opts.name;
    this.deps = deps;
    this.opts = opts;
    this.handle = handle;
    this.job = new PeriodicJob(() => this.pass(), {
      everyMs: opts.pollMs,
      onError: (e) => this.deps.logError(`${this.name}: pass failed`, e),
      rerun: true,
      nextDueInMs: () => (this.cutShort ? 0 : this.backoff ? this.backoff.untilMs - this.deps.clock.nowMs() : undefined),
    });
  }

  start(): void {
    this.job.start({ runNow: true });
  }

  async stop(): Promise<void> {
    await this.job.stop();
    const u = this.unsaved;
    if (u) await this.save(u.doc, u.fence).catch((e: unknown) => this.deps.logError(`${this.name}: its cursor could not be saved at stop (the events after the last saved one are sent again)`, e));
  }

  /** New events were committed: a pass now (one more after the one running), unless backing off. */
  wake(): void {
    if (!this.job.started || (this.backoff && this.deps.clock.nowMs() < this.backoff.untilMs)) return;
    this.job.run().catch(() => undefined);
  }

  /** One pass now (tests, shutdown); resolves when it is done. */
  tick(): Promise<void> {
    return this.job.run();
  }

  private async pass(): Promise<void> {
    this.cutShort = false;
    const now = this.deps.clock.nowMs();
    if (this.backoff && now < this.backoff.untilMs) return;
    let fence: Fence | undefined;
    if (this.deps.leases) {
      fence = await this.deps.leases.claim(`${REALTIME_LEASES}/${this.name}`);
      if (!fence) {
        this.state = undefined;
        return;
      }
    }
    try {
      await this.run(fence);
    } catch (e) {
      if (e instanceof LeaseLostError) {
        this.deps.leases?.lost(e.fence.name);
        this.state = undefined;
        this.deps.logError(`${this.name}: stopped, this node lost its lease (another node runs it)`);
        return;
      }
      throw e;
    }
  }

  private async current(fence: Fence | undefined): Promise<ConsumerState> {
    if (this.state && this.state.token === fence?.token) return this.state.doc;
    let doc = await this.deps.control.get<ConsumerState>(REALTIME_CONSUMER_KIND, this.name);
    if (!doc) {
      doc = { cursor: await this.deps.events.lastSeq() };
      await this.deps.control.put(REALTIME_CONSUMER_KIND, this.name, doc, { fence });
    }
    this.state = { doc, token: fence?.token };
    return doc;
  }

  private async save(doc: ConsumerState, fence: Fence | undefined): Promise<void> {
    await this.deps.control.put(REALTIME_CONSUMER_KIND, this.name, doc, { fence });
    this.state = { doc, token: fence?.token };
    this.unsaved = undefined;
    this.savedAtMs = performance.now();
  }

  /**
   * After a handled page: the cursor moves in memory at once and in the control store at most every
   * SAVE_EVERY_MS (each write is an fsync of control.db; under load a pass runs per group commit).
   * A crash repeats what was handled since the last write: at least once, as a failure does.
   */
  private async advance(doc: ConsumerState, fence: Fence | undefined, hadError: boolean): Promise<void> {
    if (hadError || performance.now() - this.savedAtMs >= SAVE_EVERY_MS) return this.save(doc, fence);
    this.state = { doc, token: fence?.token };
    this.unsaved = { doc, fence };
  }

  private async run(fence: Fence | undefined): Promise<void> {
    const stopAt = performance.now() + MAX_PASS_MS;
    let state = await this.current(fence);
    for (;;) {
      const rows = await this.deps.events.readAfter(state.cursor, this.opts.readBatch, undefined, this.opts.readBytes);
      if (rows.length === 0) return;
      let doneTo = state.cursor;
      const attemptMs = this.deps.clock.nowMs();
      try {
        await this.handle(rows, (seq) => {
          if (seq > doneTo) doneTo = seq;
        });
      } catch (e) {
        if (e instanceof LeaseLostError) throw e;
        const code = codeOf(e);
        const delayMs = Math.min(MAX_BACKOFF_MS, (this.backoff?.delayMs ?? MIN_BACKOFF_MS / 2) * 2);
        this.backoff = { untilMs: attemptMs + delayMs * (0.75 + Math.random() * 0.5), delayMs };
        const previous = state.latestError;
        await this.save({ ...state, cursor: doneTo, latestError: code, latestAttemptMs: attemptMs, ...(doneTo > state.cursor ? { latestSuccessMs: attemptMs } : {}) }, fence);
        // Logged when the failure starts or changes, and once a minute while it lasts.
        if (code !== previous || this.backoff.delayMs === MAX_BACKOFF_MS) this.deps.logError(`${this.name}: failed (${code}); retrying after seq ${doneTo} in ${Math.round(this.backoff.untilMs - attemptMs)} ms`, e);
        return;
      }
      this.backoff = undefined;
      const hadError = state.latestError !== undefined;
      state = { cursor: rows[rows.length - 1]!.seq, latestAttemptMs: attemptMs, latestSuccessMs: this.deps.clock.nowMs() };
      await this.advance(state, fence, hadError);
      if (rows.length < this.opts.readBatch) return;
      if (performance.now() >= stopAt) {
        this.cutShort = true;
        return;
      }
    }
  }
}

function codeOf(e: unknown): string {
  const c = (e as { code?: unknown }).code;
  return typeof c === 'string' && c ? c : (e as { name?: unknown }).name === 'StoreUnavailableError' ? 'StoreUnavailable' : 'InternalError';
}

/** A consumer's lag for metrics and status: events after its cursor, how long the first waited, its failure. */
export interface ConsumerLagReport {
  resource: string;
  events?: number;
  seconds: number;
  failure?: { code: string; atMs: number };
}

/** Reads each named consumer's stored state (any node can report it) and its lag behind the log. */
export async function consumerLags(events: EventStore, control: ControlStore, names: readonly string[], nowMs: number): Promise<ConsumerLagReport[]> {
  if (names.length === 0) return [];
  const last = await events.lastSeq();
  const states = new Map((await control.list<ConsumerState>(REALTIME_CONSUMER_KIND, '')).map((r) => [r.key, r.doc]));
  const out: ConsumerLagReport[] = [];
  for (const name of names) {
    const s = states.get(name);
    if (!s) continue;
    const lag = Math.max(0, last - s.cursor);
    const committed = lag > 0 ? await events.committedMsAfter?.(s.cursor) : undefined;
    out.push({
      resource: name, events: lag, seconds: committed === undefined ? 0 : Math.max(0, (nowMs - committed) / 1000),
      failure: s.latestError !== undefined ? { code: s.latestError, atMs: s.latestAttemptMs ?? nowMs } : undefined,
    });
  }
  return out;
}
