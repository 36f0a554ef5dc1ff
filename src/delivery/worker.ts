/**
 * The delivery worker: reads the event log once for every logging trail (one read and one parse
 * per event, each record offered to every trail positioned there), closes each trail's batches on
 * age or size, and writes one CloudTrail log file per (account, region) into the trail's bucket.
 * Crash-safe by intent records (docs/design/delivery.md):
 *
 * MUST: a trail's cursor moves only after the store confirmed every file of the batch.
 * MUST: a batch written again (retry, crash between write and cursor) has the same keys and bytes.
 * MUST (several nodes): a trail is delivered only under its lease (`delivery/<trail ARN>`), and
 * every control-store write of its delivery is fenced by it: a node that lost the lease (paused,
 * partitioned, taken over) moves no cursor and records no intent (docs/design/delivery.md).
 */
import {
  compileTrailScope, formatEventTime, scopeAdmitsEveryManagementEvent, scopeOfTrail, summaryCategory, DELIVERED_FILE_KIND, trailDeliversInsight, type LogFileKind, DELIVERY_STATE_KIND, isLoggedSeq, type DeliveredFile, logFileKey, PeriodicJob, s3KeyPrefixProblem, TRAIL_KIND, type Clock, type CloudTrailRecord, type DeliveryIntent,
  type DeliveryState, type OrganizationConfig, type TrailDoc,
} from '../core/index.ts';
import { LeaseLostError, ObjectStoreError, type ControlStore, type EventStore, type Fence, type ObjectStore } from '../stores/index.ts';
import type { LeaseKeeper } from '../stores/lease-keeper.ts';
import { compactRefs, RecordArena, type RecordRef } from './log-file.ts';
import { logFilePool, type LogFilePool } from './log-file-pool.ts';
import { deliveryRange } from './lag.ts';

export interface DeliveryOptions {
  /** A batch closes when its first event has waited this long. */
  maxAgeMs: number;
  /** ... or when its records reach this many bytes (uncompressed). */
  maxBytes: number;
  pollMs: number;
  /** Events read from the log per query. */
  readBatch: number;
  /** Regions served: a multi-region trail covers them all. */
  regions: string[];
  organization?: OrganizationConfig;
  /**
   * How long trails wait for the slowest trail of their window while only its batch's write holds
   * it back, before going on alone (in all in one pass, or a tenth of the pass so far if more; default SHARE_WAIT_MS; tests set less).
   */
  shareWaitMs?: number;
  /**
   * Test hook (env OPENTRAIL_TEST_DELIVERY_STALL_FILE, read by the server): how long a batch waits
   * between recording its intent and writing its files, so a test can kill a node mid-batch.
   */
  stallAfterIntentMs?: () => number;
}

export interface DeliveryDeps {
  events: EventStore;
  control: ControlStore;
  objects: ObjectStore;
  clock: Clock;
  logError(msg: string, err?: unknown): void;
  /**
   * A write the bucket refused (NoSuchBucket, AccessDenied, ...): a warn line with the trail, the
   * code and the store's message. It is retried with backoff, so it is not a logged bug (not counted
   * in the background errors; the metrics count it by code), but the log says why delivery stalls.
   */
  logRefused?(msg: string): void;
  /**
   * SNS / webhook notifications and CloudWatch Logs for a committed batch (after-delivery.ts): hands
   * the batch to per-target queues and returns without waiting for any target; never rejects.
   */
  afterDelivery?: { delivered(t: TrailDoc, intent: DeliveryIntent, files: { key: string; body: Buffer }[]): Promise<void> };
  /**
   * Several nodes on one database: this node delivers only the trails whose lease it holds (its
   * share, `delivery/<trail ARN>`), and fences every write of their state with it. Without it, the
   * worker delivers every trail (one node).
   */
  leases?: LeaseKeeper;
  /** Where log files are assembled and compressed (default: the process's pool, log-file-pool.ts). */
  logFiles?: LogFilePool;
}

/** The lease group of trail delivery: lease `delivery/<trail ARN>`. */
export const DELIVERY_LEASES = 'delivery';

interface OpenBatch {
  fromSeq: number;
  scannedTo: number;
  bytes: number;
  /** The admitted events in seq order, kept so closing the batch need not read them again. */
  admitted: Admitted[];
  /** The trail scope they were admitted under; a changed trail starts the batch over. */
  scopeKey: string;
  /** A lower bound of the first admitted event's commit time: the batch's age counts from it. */
  firstMatchMs?: number;
  /**
   * Shared memory its records keep alive (the arena chunks they were in, counted as they come) and
   * their own bytes: past a slack, the batch's records are copied to a buffer of their own
   * (compactRefs), so a trail that takes few records does not hold every chunk of a pass.
   */
  pinnedBytes?: number;
  ownBytes?: number;
  lastSab?: SharedArrayBuffer;
}

/** An admitted record; itself the ref to its bytes, written once for every trail that delivers it. */
interface Admitted extends RecordRef {
  /** The record's recipientAccountId and awsRegion (the store's routing columns): the file it goes to. */
  recAccount: string;
  recRegion: string;
  /**
   * The record's eventTime as the store's epoch seconds (normalising keeps eventTime in the form
   * formatEventTime gives: whole seconds, UTC), so judging a record needs no parse for it.
   */
  eventTimeSec: number;
  /** An Insights record: delivered in an Insights log file (`CloudTrail-Insight/`), not a log file. */
  insight: boolean;
}

/** Whether the trail (its scope `admits`, its Insights selectors) delivers the record; 'insight' for an Insights record. */
function admission(r: CloudTrailRecord, admits: (r: CloudTrailRecord) => boolean, insightSelectors: TrailDoc['insightSelectors']): false | 'log' | 'insight' {
  if (r.eventType === 'AwsCloudTrailInsight') return trailDeliversInsight(insightSelectors, r, admits) && 'insight';
  return admits(r) && 'log';
}

/** Lanes whose verdicts fit in one number's bits (more: an array). */
const VERDICT_BITS = 30;

/**
 * A row of the log as the shared scan holds it: read once, and judged once for every trail of the
 * pass when the first of them reaches it (parsed at most once, its bytes written once to the
 * arena when some trail delivers it); the parsed record and the text are dropped then, so they
 * die young. An admitted row is its own `Admitted` entry in every batch that takes it.
 */
interface ScanRow extends Partial<Admitted> {
  seq: number;
  /** The store's routing columns (the record's recipientAccountId and awsRegion): a trail that covers neither never parses it. */
  accountId: string;
  region: string;
  /**
   * The record's text, until judged, when the store handed it over as text (readAfter); undefined
   * when it handed over the record's bytes in shared memory (readAfterShared: `sab`, `off`, `len`
   * are set from the start, and the text is decoded only for a trail that must parse it).
   */
  json: string | undefined;
  /**
   * The store filed it in Event history as a management event (its summary, StoredEvent.summary): a
   * trail that takes every management event of its regions and accounts takes it unparsed.
   */
  management: boolean;
  /** Once judged: which lanes of the pass deliver it, bit i for lane i (an array of them past VERDICT_BITS lanes). */
  verdicts?: number | boolean[];
}

/**
 * Rows of the log read in this pass: every stored event with lo < seq <= hi, in seq order, shared
 * by the trails positioned inside it. Trimmed to the slowest of them after every step.
 */
class ScanWindow {
  lo: number;
  hi: number;
  rows: ScanRow[] = [];
  /** The last read from hi found the end of the log: nothing more is read this pass. */
  atEnd = false;

  constructor(at: number) {
    this.lo = at;
    this.hi = at;
  }

  /** Index of the first row with seq > pos. */
  indexAfter(pos: number): number {
    let a = 0;
    let b = this.rows.length;
    while (a < b) {
      const m = (a + b) >>> 1;
      if (this.rows[m]!.seq <= pos) a = m + 1;
      else b = m;
    }
    return a;
  }

  trim(pos: number): void {
    const i = this.indexAfter(pos);
    if (i > 0) this.rows = this.rows.slice(i);
    this.lo = pos;
  }
}

/** One logging trail in a pass: its delivery state, its open batch, where it is in the log. */
interface Lane {
  t: TrailDoc;
  /** Its index in the pass (a row's verdicts). */
  i: number;
  /** The trail's delivery lease (several nodes): every write of its state is fenced by it. */
  fence?: Fence;
  state: DeliveryState;
  admits: (r: CloudTrailRecord) => boolean;
  /** `admits` holds for every management event of the trail's regions and accounts (scopeAdmitsEveryManagementEvent). */
  everyManagement: boolean;
  regions: ReadonlySet<string>;
  accounts: ReadonlySet<string>;
  limit: number;
  ob: OpenBatch;
  window?: ScanWindow;
  /** A batch closed on size while the one before it was still being written: written next. */
  sealed?: OpenBatch;
  /** When `sealed` was set (performance.now()): how long the lane has waited for its write. */
  sealedAtMs?: number;
  /** Time this pass the lane spent waiting for its own writes (with a batch sealed), before the current wait. */
  sealedMs?: number;
  /** The batch being written (files, then cursor); the next one waits for it. */
  inflight?: Promise<void>;
  /** Read to the end of the log (or of what the trail delivers) in this pass. */
  done: boolean;
  /** A write failed or the trail cannot deliver: out of this pass, its intent kept. */
  failed: boolean;
}

/** A built log file: its key and gzip body, and what a digest says of it. */
export interface BuiltLogFile {
  key: string;
  body: Buffer;
  accountId: string;
  region: string;
  /** Hex SHA-256 of the uncompressed file; computed only for a trail with log file validation. */
  sha256?: string;
  oldestEventTime: string;
  newestEventTime: string;
}

const MIN_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 60_000;
/**
 * How far (in rows) a trail may run ahead of the slowest trail reading the same rows before it
 * goes on alone: within it every row is read and parsed once for all; beyond it a trail that is
 * behind (new, resumed after a failure) reads on its own and holds nobody back.
 */
const SHARE_ROWS_PER_BATCH = 8;
/**
 * How long, in all in one pass, trails further ahead than that wait for the slowest trail of their
 * window while it only waits for its batch to be written (its next one is full), instead of going
 * on alone and reading the same rows a second time for it: 2 s, or a tenth of the pass so far if
 * that is more (a long catch-up pass). A write takes tens of ms; a bucket that is slow or hangs
 * holds the others back for at most that long, then they go on alone.
 */
const SHARE_WAIT_MS = 2000;
const SHARE_WAIT_FRACTION = 0.1;
/** End-of-log observations kept for commit-time lower bounds. */
const MAX_END_MARKS = 64;

export class DeliveryWorker {
  private readonly deps: DeliveryDeps;
  private readonly opts: DeliveryOptions;
  private readonly open = new Map<string, OpenBatch>();
  private readonly backoff = new Map<string, { untilMs: number; delayMs: number }>();
  /**
   * Times the scan found the end of the log, with the highest seq then stored: an event with a
   * higher seq committed after that time (seq order is commit order), a lower bound of its commit.
   */
  private readonly ends: { seq: number; ms: number }[] = [];
  private readonly job: PeriodicJob;
  private passStartedMs = 0;
  /**
   * Several nodes: a pass reads for at most this long (ms of real time), so that the leases are
   * shared out again (a dead node's trails taken over) even while this node has a backlog that
   * grows as fast as it reads; the next pass starts at once and goes on where this one stopped.
   */
  private readonly maxPassMs: number | undefined;
  /** The last pass stopped reading at maxPassMs: the next one is due now. */
  private cutShort = false;
  /** Admitted records' bytes, shared by every trail's files. */
  private readonly arena = new RecordArena();
  private readonly logFiles: LogFilePool;

  constructor(deps: DeliveryDeps, opts: DeliveryOptions) {
    this.deps = deps;
    this.opts = opts;
    this.maxPassMs = deps.leases ? deps.leases.ttlMs / 3 : undefined;
    this.logFiles = deps.logFiles ?? logFilePool();
    this.job = new PeriodicJob(() => this.loggedPass(false), {
      everyMs: opts.pollMs,
      onError: (e) => this.deps.logError('delivery pass failed', e),
      rerun: true,
      nextDueInMs: () => this.nextDueInMs(),
    });
  }

  /** Polls every pollMs, and makes a first pass now (it notes where the log ends: see committedAfterMs). */
  start(): void {
    this.job.start({ runNow: true });
  }

  /** Stops polling and delivers every open batch now. */
  async stop(): Promise<void> {
    await this.job.stop();
    await this.tick(true);
  }

  /**
   * One pass over every trail; passes never overlap. `force` closes every open batch. While
   * started, a tick that comes during a pass runs one more pass right after it (a poll is never
   * lost to a long pass: events committed meanwhile wait at most one pass, not a pass and a poll).
   */
  tick(force: boolean): Promise<void> {
    return this.job.run(() => this.loggedPass(force));
  }

  private loggedPass(force: boolean): Promise<void> {
    return this.pass(force).catch((e) => this.deps.logError('delivery pass failed', e));
  }

  /**
   * While started: a pass when the oldest open batch comes of age, not only every pollMs. A batch
   * that was already due when the last pass began and is still open (its trail backs off after a
   * failure, its state could not be read) waits for the next poll instead, so nothing spins.
   */
  private nextDueInMs(): number {
    if (this.cutShort) return 0;
    let due = Number.POSITIVE_INFINITY;
    for (const ob of this.open.values()) {
      if (ob.firstMatchMs === undefined) continue;
      const at = ob.firstMatchMs + this.opts.maxAgeMs;
      if (at > this.passStartedMs) due = Math.min(due, at);
    }
    return due - this.deps.clock.nowMs();
  }

  /**
   * Every logging trail in one scan of the log (docs/design/delivery.md, "One scan for all trails"):
   * each range is read once and each record parsed once, then offered to every trail positioned
   * there; a batch that closes on size is written while the scan goes on.
   */
  private async pass(force: boolean): Promise<void> {
    this.passStartedMs = this.deps.clock.nowMs();
    this.cutShort = false;
    // Events appended after this have higher seqs: a commit-time lower bound even for a trail
    // whose first read comes later (a new trail, one that backs off).
    this.markEnd(await this.deps.events.lastSeq(), this.passStartedMs);
    let trails = (await this.deps.control.list<TrailDoc>(TRAIL_KIND, '')).map((r) => r.doc);
    // Several nodes: only the trails whose lease this node holds (its share).
    const held = await this.deps.leases?.share(DELIVERY_LEASES, trails.map((t) => t.TrailARN));
    if (held) trails = trails.filter((t) => held.has(t.TrailARN));
    // Open batches of trails deleted since (or now another node's) are dropped (a trail created
    // again starts afresh; another node starts from the cursor).
    const arns = new Set(trails.map((t) => t.TrailARN));
    for (const arn of this.open.keys()) if (!arns.has(arn)) this.open.delete(arn);
    const lanes: Lane[] = [];
    for (const t of trails) {
      try {
        const lane = await this.laneOf(t, force, held?.get(t.TrailARN));
        if (lane) lanes.push({ ...lane, i: lanes.length });
      } catch (e) {
        this.failed(t.TrailARN, e);
      }
    }
    await this.scan(lanes, force);
  }

  private scopeOf(t: TrailDoc) {
    return scopeOfTrail(t, this.opts.regions, this.opts.organization);
  }

  /** A trail's delivery failed; a lost lease is the normal end of a paused node's work, said as such. */
  private failed(arn: string, e: unknown): void {
    if (e instanceof LeaseLostError) {
      this.deps.leases?.lost(e.fence.name);
      this.open.delete(arn);
      this.deps.logError(`delivery for ${arn} stopped: this node lost its lease (another node delivers it)`);
      return;
    }
    this.deps.logError(`delivery for ${arn} failed`, e);
  }

  /** The trail's place in this pass after a pending intent is redone; undefined when it has nothing to read. */
  private async laneOf(t: TrailDoc, force: boolean, fence?: Fence): Promise<Omit<Lane, 'i'> | undefined> {
    const now = this.deps.clock.nowMs();
    const wait = this.backoff.get(t.TrailARN);
    if (wait && now < wait.untilMs && !force) return undefined;
    const stored = await this.deps.control.get<DeliveryState>(DELIVERY_STATE_KIND, t.TrailARN);
    // State left by a deleted trail of the same ARN is not this trail's.
    let state: DeliveryState = stored?.trailCreatedMs === t.createdMs ? stored : { trailCreatedMs: t.createdMs, cursor: t.deliverAfterSeq ?? 0 };
    if (state.intent) {
      // A pending intent (this node crashed, or the node that held the lease before): the same
      // keys and bytes again.
      const next = await this.write(t, state, state.intent, fence);
      if (!next) return undefined;
      state = next;
    }
    const { start, limit } = deliveryRange(t, state.cursor);
    if (start >= limit) {
      this.open.delete(t.TrailARN);
      return undefined;
    }
    const scope = this.scopeOf(t);
    const scopeKey = JSON.stringify([scope, t.skippedSeqs ?? [], t.insightSelectors ?? []]);
    let ob = this.open.get(t.TrailARN);
    if (!ob || ob.fromSeq !== start || ob.scopeKey !== scopeKey) ob = newBatch(start, scopeKey);
    this.open.delete(t.TrailARN);
    return { t, fence, state, admits: compileTrailScope(scope), everyManagement: scopeAdmitsEveryManagementEvent(scope), regions: new Set(scope.regions), accounts: new Set(scope.accountIds), limit, ob, done: false, failed: false };
  }

  /**
   * Reads the log once for every lane, until each reached the end of the log or of its range; a
   * lane that did is finished at once (its last batch written if due), without waiting for the others.
   */
  private async scan(lanes: Lane[], force: boolean): Promise<void> {
    const windows = new Set<ScanWindow>();
    const cap = SHARE_ROWS_PER_BATCH * this.opts.readBatch;
    const shareWaitMs = this.opts.shareWaitMs ?? SHARE_WAIT_MS;
    const scanStartMs = performance.now();
    const waitBudgetMs = () => Math.max(shareWaitMs, (performance.now() - scanStartMs) * SHARE_WAIT_FRACTION);
    const finishing = new Map<Lane, Promise<void>>();
    const finishDone = () => {
      for (const lane of lanes) {
        if (!lane.done || finishing.has(lane)) continue;
        finishing.set(lane, this.finish(lane, force).catch((e) => this.failed(lane.t.TrailARN, e)));
      }
    };
    let stalled = 0;
    // (Not the last pass before stopping: it delivers everything, as with one node.)
    const stopReadingAt = this.maxPassMs === undefined || force ? Number.POSITIVE_INFINITY : performance.now() + this.maxPassMs;
    for (;;) {
      if (performance.now() >= stopReadingAt) {
        // Long enough (several nodes): every lane stops reading here; open batches are kept for the next pass.
        for (const lane of lanes) if (!lane.done && !lane.failed) {
          lane.done = true;
          this.cutShort = true;
        }
      }
      finishDone();
      // Trim every window to the slowest lane still reading it; a window nobody reads goes.
      const slowest = new Map<ScanWindow, number>();
      for (const l of lanes) {
        if (l.done || l.failed || !l.window) continue;
        slowest.set(l.window, Math.min(slowest.get(l.window) ?? Number.POSITIVE_INFINITY, l.ob.scannedTo));
      }
      for (const w of windows) {
        const pos = slowest.get(w);
        if (pos === undefined) windows.delete(w);
        else w.trim(pos);
      }
      const ready = lanes.filter((l) => !l.done && !l.failed && !l.sealed).sort((a, b) => a.ob.scannedTo - b.ob.scannedTo);
      const writing = () => lanes.flatMap((l) => (l.inflight === undefined ? [] : [l.inflight]));
      if (ready.length === 0) {
        if (writing().length === 0) break;
        await Promise.race(writing());
        continue;
      }
      let moved = false;
      for (const lane of ready) if (await this.step(lane, windows, cap, lanes, waitBudgetMs())) moved = true;
      if (moved) {
        stalled = 0;
      } else if (writing().length > 0) {
        // Every reader waits for a trail behind it whose batch is being written (for one whose
        // writes are slow, at most the pass's wait budget in all: then the others go on alone).
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([...writing(), new Promise<void>((r) => (timer = setTimeout(r, waitBudgetMs())))]);
        clearTimeout(timer);
      } else if (++stalled > 1) {
        // (Once is possible: the trail waited for failed in this round; the trim above drops its window.)
        throw new Error('delivery scan made no progress');
      }
    }
    finishDone();
    await Promise.all([...lanes.map((l) => l.inflight), ...finishing.values()]);
  }

  /**
   * Offers the lane up to readBatch rows after its position, reading the log only where no window
   * has them; false when the lane waits for a trail less than `cap` rows behind it to read up to it,
   * or (within `waitBudgetMs` in all) for the slowest trail of its window, held back by its batch's write.
   */
  private async step(lane: Lane, windows: Set<ScanWindow>, cap: number, lanes: readonly Lane[], waitBudgetMs: number): Promise<boolean> {
    const pos = lane.ob.scannedTo;
    let w: ScanWindow | undefined;
    for (const c of windows) if (c.lo <= pos && pos <= c.hi && (!w || c.hi > w.hi || (c.hi === w.hi && c === lane.window))) w = c;
    if (!w) {
      for (const c of windows) if (!c.atEnd && c.hi < pos && pos - c.hi <= cap) return false;
      windows.add((w = new ScanWindow(pos)));
    }
    let i = w.indexAfter(pos);
    const at = w;
    if (i + this.opts.readBatch > cap && lanes.some((l) => l.window === at && l.sealed !== undefined && !l.done && !l.failed && l.ob.scannedTo <= at.lo && (l.sealedMs ?? 0) + performance.now() - l.sealedAtMs! < waitBudgetMs)) {
      // The slowest reader of this window is held only by its batch being written (its next one
      // is full): wait for it, within reach (so that when it moves again, everyone moves together),
      // rather than go on alone and read these rows a second time for it.
      return false;
    }
    if (i > cap) {
      // Far ahead of the slowest reader of this window: go on alone, with the rows already at hand.
      const alone = new ScanWindow(pos);
      alone.rows = w.rows.slice(i);
      alone.hi = w.hi;
      alone.atEnd = w.atEnd;
      windows.add((w = alone));
      i = 0;
    }
    lane.window = w;
    if (w.rows.length - i < this.opts.readBatch && !w.atEnd) {
      const readAtMs = this.deps.clock.nowMs();
      const got = await this.readRows(w);
      if (got > 0) w.hi = w.rows[w.rows.length - 1]!.seq;
      if (got < this.opts.readBatch) {
        w.atEnd = true;
        this.markEnd(w.hi, readAtMs);
      }
    }
    const to = Math.min(w.rows.length, i + this.opts.readBatch);
    for (let k = i; k < to; k++) {
      const row = w.rows[k]!;
      if (row.seq > lane.limit) {
        lane.done = true;
        return true;
      }
      this.offer(lane, row, lanes);
      if (lane.ob.bytes >= this.opts.maxBytes) {
        this.seal(lane);
        return true;
      }
    }
    if (w.atEnd && to === w.rows.length) lane.done = true;
    return true;
  }

  /**
   * Reads up to readBatch rows after the window's end onto it; how many. With the store's readAfterShared (SQLite), the
   * read runs off this thread and the rows come with their records' bytes in shared memory, which
   * the log-file pool reads as they are: no string per record here, no copy into the arena.
   */
  private async readRows(w: ScanWindow): Promise<number> {
    const after = w.hi;
    const events = this.deps.events;
    if (events.readAfterShared) {
      const got = await events.readAfterShared(after, this.opts.readBatch);
      const { names, bytes } = got;
      for (let k = 0; k < got.n; k++) {
        w.rows.push({
          seq: got.seq[k]!, accountId: names[got.account[k]!]!, region: names[got.region[k]!]!, eventTimeSec: got.eventTimeSec[k]!,
          json: undefined, management: got.category[k] === 1, sab: bytes, off: got.off[k]!, len: got.len[k]!,
        });
      }
      return got.n;
    }
    const got = await events.readAfter(after, this.opts.readBatch);
    for (const r of got) w.rows.push({ seq: r.seq, accountId: r.accountId, region: r.region, eventTimeSec: r.eventTimeSec, json: r.json, management: r.summary !== undefined && summaryCategory(r.summary) === 'management' });
    return got.length;
  }

  private offer(lane: Lane, row: ScanRow, lanes: readonly Lane[]): void {
    const ob = lane.ob;
    if (row.verdicts === undefined) this.judge(row, lanes);
    const v = row.verdicts!;
    if (typeof v === 'number' ? (v >>> lane.i) & 1 : v[lane.i]) {
      ob.bytes += row.len! + 1;
      ob.firstMatchMs ??= this.committedAfterMs(row.seq);
      ob.admitted.push(row as Admitted);
      ob.ownBytes = (ob.ownBytes ?? 0) + row.len!;
      if (row.sab !== ob.lastSab) {
        ob.lastSab = row.sab;
        ob.pinnedBytes = (ob.pinnedBytes ?? 0) + row.sab!.byteLength;
        if (ob.pinnedBytes > 2 * ob.ownBytes + 2 * this.arena.chunkBytes) this.compact(ob);
      }
    }
    ob.scannedTo = row.seq;
  }

  /**
   * The batch's records copied to a buffer of their own bytes (compactRefs), in entries of its
   * own: a row is shared by every batch that takes it, so it is not moved itself.
   */
  private compact(ob: OpenBatch): void {
    const own = ob.admitted.map((a): Admitted => ({ recAccount: a.recAccount, recRegion: a.recRegion, eventTimeSec: a.eventTimeSec, insight: a.insight, sab: a.sab, off: a.off, len: a.len }));
    ob.pinnedBytes = compactRefs(own);
    ob.lastSab = undefined;
    for (let i = 0; i < own.length; i++) ob.admitted[i] = own[i]!;
  }

  /**
   * Whether each lane still reading delivers the row: parsed once (only when some lane covers its
   * account and region and needs the record to judge it: a management event of the store's Event
   * history goes unparsed to a trail that takes every management event), its bytes written once to
   * the arena when some lane takes it; then its text and the parsed record are dropped.
   */
  private judge(row: ScanRow, lanes: readonly Lane[]): void {
    const bits = lanes.length <= VERDICT_BITS;
    let mask = 0;
    const each: boolean[] = bits ? [] : new Array<boolean>(lanes.length).fill(false);
    let r: CloudTrailRecord | undefined;
    let any = false;
    let insight = false;
    for (const l of lanes) {
      if (l.done || l.failed || !l.regions.has(row.region) || !l.accounts.has(row.accountId) || !isLoggedSeq(l.t.skippedSeqs, row.seq)) continue;
      let as: false | 'log' | 'insight';
      if (row.management && l.everyManagement) {
        as = 'log';
      } else {
        r ??= JSON.parse(row.json ?? Buffer.from(row.sab!, row.off, row.len).toString('utf8')) as CloudTrailRecord;
        as = admission(r, l.admits, l.t.insightSelectors);
      }
      if (!as) continue;
      if (bits) mask |= 1 << l.i;
      else each[l.i] = true;
      any = true;
      insight = as === 'insight';
    }
    if (any) {
      // The store's routing columns are the record's recipientAccountId and awsRegion.
      row.recAccount = row.accountId;
      row.recRegion = row.region;
      row.insight = insight;
      if (row.sab === undefined) {
        const ref = this.arena.add(row.json!);
        row.sab = ref.sab;
        row.off = ref.off;
        row.len = ref.len;
      }
    } else {
      // Bytes nobody delivers are not held by this row any longer.
      row.sab = undefined;
    }
    row.json = undefined;
    row.verdicts = bits ? mask : each;
  }

  /** The lane's batch closed on size: written now, or after the one being written; the lane reads on. */
  private seal(lane: Lane): void {
    const full = lane.ob;
    lane.ob = newBatch(full.scannedTo, full.scopeKey);
    if (lane.inflight) {
      lane.sealed = full;
      lane.sealedAtMs = performance.now();
    } else this.startWrite(lane, full);
  }

  private startWrite(lane: Lane, ob: OpenBatch): void {
    lane.inflight = this.close(lane, ob)
      .then((ok) => {
        if (!ok) lane.failed = true;
      }, (e) => {
        lane.failed = true;
        this.failed(lane.t.TrailARN, e);
      })
      .finally(() => {
        lane.inflight = undefined;
        const next = lane.sealed;
        if (next) lane.sealedMs = (lane.sealedMs ?? 0) + performance.now() - lane.sealedAtMs!;
        lane.sealed = undefined;
        if (next && !lane.failed) this.startWrite(lane, next);
      });
  }

  /** After the scan: the lane's batch closes if due (age, force, logging stopped), or its cursor moves. */
  private async finish(lane: Lane, force: boolean): Promise<void> {
    while (lane.inflight) await lane.inflight;
    if (lane.failed) return;
    const ob = lane.ob;
    const now = this.deps.clock.nowMs();
    const drained = !lane.t.isLogging;
    const due = ob.firstMatchMs !== undefined && (force || drained || now - ob.firstMatchMs >= this.opts.maxAgeMs || ob.bytes >= this.opts.maxBytes);
    if (due) {
      await this.close(lane, ob);
    } else if (ob.firstMatchMs === undefined && ob.scannedTo > lane.state.cursor) {
      // Nothing of this trail's in what was read: the cursor may move without a file.
      lane.state = { ...lane.state, cursor: ob.scannedTo };
      await this.deps.control.put(DELIVERY_STATE_KIND, lane.t.TrailARN, lane.state, { fence: lane.fence });
    } else if (ob.firstMatchMs !== undefined) {
      this.open.set(lane.t.TrailARN, ob);
    }
  }

  /** Records the batch's intent, writes its files and moves the cursor; false when it could not. */
  private async close(lane: Lane, ob: OpenBatch): Promise<boolean> {
    const { t } = lane;
    const now = this.deps.clock.nowMs();
    if (t.S3KeyPrefix !== undefined && s3KeyPrefixProblem(t.S3KeyPrefix)) {
      // A prefix stored before S3KeyPrefix was validated names keys no store should take: no file,
      // the cursor stays, GetTrailStatus says why, and UpdateTrail with a valid prefix resumes it.
      await this.deps.control.put(DELIVERY_STATE_KIND, t.TrailARN, { ...lane.state, latestDeliveryAttemptTimeMs: now, latestDeliveryError: 'InvalidS3Prefix' }, { fence: lane.fence });
      const delayMs = Math.min(MAX_BACKOFF_MS, (this.backoff.get(t.TrailARN)?.delayMs ?? MIN_BACKOFF_MS / 2) * 2);
      this.backoff.set(t.TrailARN, { untilMs: now + delayMs, delayMs });
      return false;
    }
    const intent: DeliveryIntent = {
      fromSeq: ob.fromSeq, toSeq: ob.scannedTo, deliveredMs: now, bucket: t.S3BucketName, prefix: t.S3KeyPrefix,
      organizationId: t.IsOrganizationTrail ? this.opts.organization?.id : undefined, kmsKeyId: t.KmsKeyId,
      ...this.scopeOf(t), eventSelectors: t.eventSelectors, advancedEventSelectors: t.advancedEventSelectors, skippedSeqs: t.skippedSeqs,
      ...(t.insightSelectors?.length ? { insightSelectors: t.insightSelectors } : {}),
    };
    delete (intent as { selectors?: unknown }).selectors;
    await this.deps.control.put(DELIVERY_STATE_KIND, t.TrailARN, { ...lane.state, intent }, { fence: lane.fence });
    const stallMs = this.opts.stallAfterIntentMs?.() ?? 0;
    if (stallMs > 0) await new Promise((r) => setTimeout(r, stallMs));
    const next = await this.write(t, lane.state, intent, lane.fence, ob.admitted);
    if (!next) return false;
    lane.state = next;
    return true;
  }

  private markEnd(seq: number, ms: number): void {
    const last = this.ends[this.ends.length - 1];
    if (last && last.seq > seq) return;
    if (last && last.seq === seq) {
      last.ms = Math.max(last.ms, ms);
      return;
    }
    this.ends.push({ seq, ms });
    if (this.ends.length > MAX_END_MARKS) this.ends.shift();
  }

  /** A time the event at seq committed after: the last end of the log seen below it; else now. */
  private committedAfterMs(seq: number): number {
    for (let k = this.ends.length - 1; k >= 0; k--) if (this.ends[k]!.seq < seq) return this.ends[k]!.ms;
    return this.deps.clock.nowMs();
  }

  /**
   * Writes the batch's files (built from `admitted`, or from the intent alone) and moves the cursor:
   * the trail's new state, or undefined when the store refused (the intent stays).
   */
  private async write(t: TrailDoc, state: DeliveryState, intent: DeliveryIntent, fence: Fence | undefined, admitted?: Admitted[]): Promise<DeliveryState | undefined> {
    const attemptMs = this.deps.clock.nowMs();
    let files: BuiltLogFile[];
    let next: DeliveryState;
    try {
      files = await this.build(t.TrailARN, intent, admitted, t.LogFileValidationEnabled);
      for (const f of files) {
        await this.deps.objects.putObject(intent.bucket, f.key, f.body, { contentType: 'application/json', kmsKeyId: intent.kmsKeyId });
      }
      // What digests will list: only files the store confirmed (written again, identically, on a
      // redo), recorded in the same transaction as the cursor, so a redo never lists a file twice.
      const docs: { kind: string; key: string; doc: unknown }[] = [];
      if (t.LogFileValidationEnabled) {
        const confirmedMs = this.deps.clock.nowMs();
        for (const f of files) {
          const doc: DeliveredFile = {
            bucket: intent.bucket, key: f.key, accountId: f.accountId, region: f.region, sha256: f.sha256!,
            oldestEventTime: f.oldestEventTime, newestEventTime: f.newestEventTime, confirmedMs,
          };
          docs.push({ kind: DELIVERED_FILE_KIND, key: `${t.TrailARN}|${f.key}`, doc });
        }
      }
      next = { ...state, cursor: intent.toSeq, latestDeliveryAttemptTimeMs: attemptMs };
      delete next.intent;
      if (files.length > 0) {
        next.latestDeliveryTimeMs = this.deps.clock.nowMs();
        delete next.latestDeliveryError;
      }
      docs.push({ kind: DELIVERY_STATE_KIND, key: t.TrailARN, doc: next });
      await this.deps.control.putMany(docs, { fence });
      this.backoff.delete(t.TrailARN);
    } catch (e) {
      // Another node delivers this trail now: it records nothing more of it.
      if (e instanceof LeaseLostError) throw e;
      const code = e instanceof ObjectStoreError ? e.code : 'InternalError';
      await this.deps.control.put(DELIVERY_STATE_KIND, t.TrailARN, { ...state, intent, latestDeliveryAttemptTimeMs: attemptMs, latestDeliveryError: code }, { fence });
      const prev = this.backoff.get(t.TrailARN)?.delayMs ?? MIN_BACKOFF_MS / 2;
      const delayMs = Math.min(MAX_BACKOFF_MS, prev * 2);
      this.backoff.set(t.TrailARN, { untilMs: attemptMs + delayMs * (0.75 + Math.random() * 0.5), delayMs });
      if (!(e instanceof ObjectStoreError)) throw e;
      this.deps.logRefused?.(`delivery for ${t.TrailARN} failed: the bucket refused a log file (${code}: ${e.message}); retried in about ${Math.round(delayMs / 1000)} s`);
      return undefined;
    }
    // Outside the try: whatever notifying does, the files and the cursor are committed already.
    // It only queues the batch: a target that hangs never holds up this pass (other trails' files).
    if (files.length > 0) await this.deps.afterDelivery?.delivered(t, intent, files);
    return next;
  }

  /**
   * The batch's files. From the events admitted while reading when they are at hand; otherwise
   * (a pending intent after a restart) by reading the intent's range again with its snapshot: both
   * give the same records in the same order, hence the same keys and bytes.
   */
  private async build(trailArn: string, intent: DeliveryIntent, admitted: Admitted[] | undefined, hash: boolean): Promise<BuiltLogFile[]> {
    const groups = new Map<string, { accountId: string; region: string; kind: LogFileKind; records: RecordRef[]; oldest: number; newest: number }>();
    const add = (a: Admitted) => {
      const kind: LogFileKind = a.insight ? 'CloudTrail-Insight' : 'CloudTrail';
      const k = `${kind}/${a.recAccount}/${a.recRegion}`;
      let g = groups.get(k);
      if (!g) groups.set(k, (g = { accountId: a.recAccount, region: a.recRegion, kind, records: [], oldest: a.eventTimeSec, newest: a.eventTimeSec }));
      g.records.push(a);
      if (a.eventTimeSec < g.oldest) g.oldest = a.eventTimeSec;
      if (a.eventTimeSec > g.newest) g.newest = a.eventTimeSec;
    };
    if (admitted) admitted.forEach(add);
    else await this.readIntent(intent, add);
    // Every file of the batch is assembled, compressed (and hashed) at once by the log-file pool's
    // threads, beside other trails' batches: the main thread only lists its records' ranges.
    return Promise.all([...groups.values()].map(async (g) => {
      const built = await this.logFiles.build(g.records, hash);
      return {
        accountId: g.accountId, region: g.region, sha256: built.sha256,
        oldestEventTime: formatEventTime(g.oldest * 1000), newestEventTime: formatEventTime(g.newest * 1000),
        key: logFileKey({
          prefix: intent.prefix, organizationId: intent.organizationId, accountId: g.accountId, region: g.region,
          deliveredMs: intent.deliveredMs, batchIdentity: `${trailArn}/${intent.fromSeq}-${intent.toSeq}/${g.accountId}/${g.region}${g.kind === 'CloudTrail' ? '' : `/${g.kind}`}`,
        }, g.kind),
        body: built.body,
      };
    }));
  }

  /** Reads the intent's range of the log and hands over the events its snapshot admits, in seq order. */
  private async readIntent(intent: DeliveryIntent, add: (a: Admitted) => void): Promise<void> {
    const admits = compileTrailScope({
      regions: intent.regions, accountIds: intent.accountIds, includeGlobalServiceEvents: intent.includeGlobalServiceEvents,
      selectors: { eventSelectors: intent.eventSelectors, advancedEventSelectors: intent.advancedEventSelectors },
    });
    let after = intent.fromSeq;
    for (;;) {
      const rows = await this.deps.events.readAfter(after, this.opts.readBatch);
      for (const row of rows) {
        if (row.seq > intent.toSeq) return;
        after = row.seq;
        if (!isLoggedSeq(intent.skippedSeqs, row.seq)) continue;
        const r = JSON.parse(row.json) as CloudTrailRecord;
        const as = admission(r, admits, intent.insightSelectors);
        if (as) add({ recAccount: row.accountId, recRegion: row.region, eventTimeSec: row.eventTimeSec, ...this.arena.add(row.json), insight: as === 'insight' });
      }
      if (rows.length < this.opts.readBatch) return;
    }
  }
}

function newBatch(at: number, scopeKey: string): OpenBatch {
  return { fromSeq: at, scannedTo: at, bytes: 0, admitted: [], scopeKey };
}
