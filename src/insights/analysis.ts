/**
 * The Insights analysis: one consumer of the event log for the whole deployment (docs/insights.md,
 * "One analysis, many trails"). It reads the log after its cursor, counts each management event
 * into its series (per account and region covered by a logging trail with Insights selectors),
 * evaluates every closed interval once, and emits Insights Start/End records through the ingest
 * front door, so they are stored (Event history, LookupEvents) and delivered by the trails that
 * select them (src/delivery).
 *
 * MUST: the cursor, the series counters and the records to emit move together, in one (fenced)
 * control-store transaction: a restart neither counts an event twice nor evaluates an interval twice.
 * MUST: a record is emitted after its decision is recorded (`pending`), and again after a crash;
 * its eventID is derived from the insight's identity, so the event store keeps it once.
 * MUST (several nodes): only the holder of the lease `insights/analysis` counts, and its writes are fenced by it.
 */
import {
  PeriodicJob, TRAIL_KIND, type Clock, type CloudTrailRecord, type IdSource, type InsightType, type OrganizationConfig, type TrailDoc,
} from '../core/index.ts';
import { ingest, type Ingester } from '../ingest/index.ts';
import { LeaseLostError, type ControlStore, type EventStore, type Fence } from '../stores/index.ts';
import type { LeaseKeeper } from '../stores/lease-keeper.ts';
import {
  ANALYSIS_KEY, count, evaluate, INSIGHTS_SERIES_KIND, INSIGHTS_STATE_KIND, observations, prune, seriesKey, type InsightRecord, type InsightsSettings, type SeriesDoc,
} from './series.ts';

/** The analysis' own document. */
export interface AnalysisState {
  /** Events with seq <= cursor are counted. */
  cursor: number;
  /** Intervals up to this one are evaluated (undefined: none yet). */
  evaluatedThrough?: number;
  /** Per `account|region`: the first interval it was analysed in (its baseline starts there). */
  since: Record<string, number>;
  /** Records decided and not yet known stored: emitted (again) before anything else. */
  pending: InsightRecord[];
  /** Grows with every commit: a node's uncommitted counts are current only on top of the revision they followed. */
  rev: number;
  /** Latest failure to emit (for the lag metric). */
  failure?: { code: string; atMs: number };
}

export interface AnalysisDeps {
  events: EventStore;
  control: ControlStore;
  ingester: Pick<Ingester, 'submit' | 'observer'>;
  clock: Clock;
  ids: IdSource;
  logError(msg: string, err?: unknown): void;
  leases?: LeaseKeeper;
}

export interface AnalysisOptions extends InsightsSettings {
  regions: string[];
  organization?: OrganizationConfig;
  pollMs: number;
  readBatch: number;
  /** Events read per pass at most: a large backlog is read over several passes, each committed. */
  maxEventsPerPass: number;
}

/** The lease group of the analysis: lease `insights/analysis`. */
export const INSIGHTS_LEASES = 'insights';

export class InsightsAnalysis {
  private readonly deps: AnalysisDeps;
  private readonly opts: AnalysisOptions;
  private readonly job: PeriodicJob;
  /**
   * What this node counted on top of the stored revision `rev`: the series (stored ones and what
   * was counted since), the position it read to, the series changed since the last commit. Counts
   * are committed once per interval (or with a decision), not every pass: a series holds a window
   * of counts, rewritten whole. Undefined (another node wrote, a commit failed): read again.
   */
  private work?: { rev: number; cursor: number; series: Map<string, SeriesDoc>; dirty: Map<string, SeriesDoc>; committedMs: number };
  private more = false;

  constructor(deps: AnalysisDeps, opts: AnalysisOptions) {
    this.deps = deps;
    this.opts = opts;
    this.job = new PeriodicJob(() => this.pass().catch((e) => this.failed(e)), {
      everyMs: opts.pollMs,
      onError: (e) => this.failed(e),
      rerun: true,
      nextDueInMs: () => (this.more ? 0 : Number.POSITIVE_INFINITY),
    });
  }

  start(): void {
    this.job.start({ runNow: true });
  }

  async stop(): Promise<void> {
    await this.job.stop();
  }

  /** One pass now (tests, shutdown); passes never overlap. */
  tick(): Promise<void> {
    return this.job.run();
  }

  private failed(e: unknown): void {
    if (e instanceof LeaseLostError) {
      this.deps.leases?.lost(e.fence.name);
      this.work = undefined;
      this.deps.logError('insights analysis stopped: this node lost its lease (another node analyses)');
      return;
    }
    this.deps.logError('insights analysis pass failed', e);
  }

  /** Which (account|region) -> Insights types some logging trail with Insights selectors covers. */
  private async enabled(): Promise<Map<string, Set<InsightType>>> {
    const out = new Map<string, Set<InsightType>>();
    const org = this.opts.organization;
    for (const { doc: t } of await this.deps.control.list<TrailDoc>(TRAIL_KIND, '')) {
      if (!t.isLogging || !t.insightSelectors?.length) continue;
      const regions = t.IsMultiRegionTrail ? this.opts.regions : [t.HomeRegion];
      const accounts = t.IsOrganizationTrail && org ? org.memberAccountIds : [t.accountId];
      for (const a of accounts) {
        for (const r of regions) {
          const k = `${a}|${r}`;
          let types = out.get(k);
          if (!types) out.set(k, (types = new Set()));
          for (const s of t.insightSelectors) if (s.InsightType && (s.EventCategories ?? ['Management']).includes('Management')) types.add(s.InsightType);
        }
      }
    }
    return out;
  }

  private async pass(): Promise<void> {
    this.more = false;
    const held = await this.deps.leases?.share(INSIGHTS_LEASES, [ANALYSIS_KEY]);
    if (held && !held.has(ANALYSIS_KEY)) {
      this.work = undefined;
      return;
    }
    const fence = held?.get(ANALYSIS_KEY);
    const now = this.deps.clock.nowMs();
    const stored = await this.deps.control.get<AnalysisState>(INSIGHTS_STATE_KIND, ANALYSIS_KEY);
    let state: AnalysisState = stored ?? { cursor: 0, since: {}, pending: [], rev: 0 };
    if (state.pending.length > 0) state = await this.emit(state, fence);

    const I = this.opts.intervalMs;
    // An interval is evaluated one interval after it ended (events arrive a little late).
    const closedThrough = Math.floor(now / I) - 2;
    const enabled = await this.enabled();
    if (enabled.size === 0) {
      // Nothing analysed: nothing read, nothing written (once the baselines are dropped); they start again when Insights are turned on.
      if (Object.keys(state.since).length > 0 || state.evaluatedThrough !== undefined) await this.commit({ ...state, since: {}, evaluatedThrough: undefined }, new Map(), [], fence);
      this.work = undefined;
      return;
    }
    if (Object.keys(state.since).length === 0) {
      // Insights turned on (again): the analysis starts at the end of the log, its baselines now.
      state = { ...state, cursor: await this.deps.events.lastSeq(), evaluatedThrough: undefined };
      this.work = undefined;
    }
    const since = { ...state.since };
    for (const k of Object.keys(since)) if (!enabled.has(k)) delete since[k];
    for (const k of enabled.keys()) since[k] ??= closedThrough + 1;

    const work = await this.working(state, now);
    const { series, dirty: touched } = work;
    const windowIntervals = Math.max(1, Math.round(this.opts.baselineWindowMs / I));
    const late = { windowIntervals };
    // Read the log after this node's position, up to its end or the pass' budget.
    let cursor = work.cursor;
    let read = 0;
    let atEnd = false;
    while (read < this.opts.maxEventsPerPass) {
      const rows = await this.deps.events.readAfter(cursor, this.opts.readBatch);
      for (const row of rows) {
        cursor = row.seq;
        if (!enabled.has(`${row.accountId}|${row.region}`)) continue;
        // Only writes and errors count: anything else is not parsed.
        if (!row.json.includes('"readOnly":false') && !row.json.includes('"errorCode":')) continue;
        const r = JSON.parse(row.json) as CloudTrailRecord;
        const at = Math.floor(Date.parse(r.eventTime) / I);
        if (!Number.isFinite(at)) continue;
        for (const o of observations(r)) {
          const id = { accountId: row.accountId, region: row.region, type: o.type, eventSource: r.eventSource!, eventName: r.eventName!, ...(o.errorCode !== undefined ? { errorCode: o.errorCode } : {}) };
          const key = seriesKey(id);
          let s = series.get(key);
          if (!s) series.set(key, (s = { ...id, counts: [], pending: {}, base: {} }));
          count(s, at, r, state.evaluatedThrough !== undefined && at <= state.evaluatedThrough ? late : undefined);
          touched.set(key, s);
        }
      }
      read += rows.length;
      work.cursor = cursor;
      if (rows.length < this.opts.readBatch) {
        atEnd = true;
        break;
      }
    }
    this.more = !atEnd;

    // Evaluate the intervals closed since the last pass, once the log is read to its end.
    const emitted: InsightRecord[] = [];
    const deletes: { kind: string; key: string }[] = [];
    let evaluatedThrough = state.evaluatedThrough ?? closedThrough;
    const evaluating = atEnd && closedThrough > evaluatedThrough;
    if (evaluating) {
      const minimumIntervals = Math.ceil(this.opts.minimumBaselineMs / I);
      // A long pause (the server was down) evaluates at most one window of intervals.
      const from = Math.max(evaluatedThrough + 1, closedThrough - windowIntervals + 1);
      for (const [key, s] of series) {
        const accountRegion = `${s.accountId}|${s.region}`;
        const types = enabled.get(accountRegion);
        const first = since[accountRegion];
        const candidates = s.open ? null : new Set(Object.keys(s.pending).map(Number));
        for (let i = from; i <= closedThrough; i++) {
          // Only intervals with events of the series, or all while an insight is open.
          if (candidates && !candidates.has(i)) continue;
          const baselineIntervals = first === undefined ? 0 : Math.min(windowIntervals, i - first);
          const canStart = !!types?.has(s.type) && baselineIntervals >= minimumIntervals;
          const rec = evaluate(s, i, baselineIntervals, canStart, this.opts);
          if (rec) emitted.push(rec);
          touched.set(key, s);
        }
        if (prune(s, closedThrough, windowIntervals)) {
          series.delete(key);
          touched.delete(key);
          deletes.push({ kind: INSIGHTS_SERIES_KIND, key });
        } else if (candidates && candidates.size > 0) {
          touched.set(key, s);
        }
      }
      evaluatedThrough = closedThrough;
    }
    const next: AnalysisState = { ...state, cursor, since, evaluatedThrough, pending: [...state.pending, ...emitted] };
    // Committed with every evaluation (once per interval) and decision, and at least once per interval while catching up.
    const due = evaluating || emitted.length > 0 || deletes.length > 0 || JSON.stringify(since) !== JSON.stringify(state.since) || (now - work.committedMs >= I && (touched.size > 0 || cursor !== state.cursor));
    if (!due) return;
    const committed = await this.commit(next, touched, deletes, fence);
    if (committed.pending.length > 0) await this.emit(committed, fence);
  }

  /** This node's counts on top of the stored state: kept from the last pass when nobody else wrote since, else read. */
  private async working(state: AnalysisState, now: number): Promise<NonNullable<InsightsAnalysis['work']>> {
    if (this.work?.rev === state.rev) return this.work;
    const series = new Map<string, SeriesDoc>();
    for (const { key, doc } of await this.deps.control.list<SeriesDoc>(INSIGHTS_SERIES_KIND, '')) series.set(key, doc);
    this.work = { rev: state.rev, cursor: state.cursor, series, dirty: new Map(), committedMs: now };
    return this.work;
  }

  /**
   * Cursor, series and pending records in one fenced transaction. `touched` empty: the state alone
   * (its cursor the stored one), and what this node counted since stays to be committed.
   */
  private async commit(state: AnalysisState, touched: Map<string, SeriesDoc>, deletes: { kind: string; key: string }[], fence: Fence | undefined): Promise<AnalysisState> {
    const next = { ...state, rev: state.rev + 1 };
    const docs: { kind: string; key: string; doc: unknown }[] = [...touched].map(([key, doc]) => ({ kind: INSIGHTS_SERIES_KIND, key, doc }));
    docs.push({ kind: INSIGHTS_STATE_KIND, key: ANALYSIS_KEY, doc: next });
    try {
      await this.deps.control.putMany(docs, { fence, deletes });
    } catch (e) {
      // What this node counted is not stored: read it again.
      this.work = undefined;
      throw e;
    }
    // (A node's work is current only if it was at the revision this commit follows.)
    if (this.work && this.work.rev !== state.rev) this.work = undefined;
    if (this.work) {
      this.work.rev = next.rev;
      if (touched === this.work.dirty) {
        this.work.dirty = new Map();
        this.work.committedMs = this.deps.clock.nowMs();
      }
    }
    return next;
  }

  /** Stores the pending records (a record stored before is a duplicate and changes nothing), then forgets them. */
  private async emit(state: AnalysisState, fence: Fence | undefined): Promise<AnalysisState> {
    const now = this.deps.clock.nowMs();
    try {
      const results = await ingest(this.deps.ingester, state.pending, { defaultAccountId: state.pending[0]!.recipientAccountId, defaultRegion: state.pending[0]!.awsRegion, nowMs: now, ids: this.deps.ids });
      for (const r of results) if (!r.ok) this.deps.logError(`an Insights record was refused: ${r.errorCode} ${r.errorMessage}`);
    } catch (e) {
      await this.deps.control.put(INSIGHTS_STATE_KIND, ANALYSIS_KEY, { ...state, failure: { code: 'StoreUnavailable', atMs: now } }, { fence });
      this.work = undefined;
      throw e;
    }
    const next = { ...state, pending: [] };
    delete next.failure;
    return this.commit(next, new Map(), [], fence);
  }
}
