/**
 * Built-in rules (config `rules`; docs/realtime.md): EventBridge's rules for users without an
 * EventBridge. A consumer of the event log with its own cursor (log-consumer.ts) builds, for every
 * event CloudTrail would send to EventBridge (envelope.ts), the envelope EventBridge would deliver,
 * matches it against each rule's event pattern (core/event-pattern.ts), and hands it to the rule's
 * targets: webhooks (POST of the envelope), SQS queues (SendMessage) and SNS topics (Publish).
 *
 * As in EventBridge, a rule in state ENABLED does not match read-only management events;
 * ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS does; DISABLED matches nothing.
 *
 * MUST: one slow or dead target never delays another, nor the consumer: each (rule, target) has its
 *   own bounded FIFO queue and worker (src/delivery/after-delivery.ts's TargetQueue), each call a
 *   deadline; past the bound the oldest waiting envelope is dropped (`RuleTargetQueueFull`).
 * MUST: at most once per target: the cursor moves once the envelopes are queued; a target's
 *   failure, a drop, or a crash before the call loses that envelope for that target (as
 *   after-delivery's notifications; EventBridge's own targets retry for up to 24 hours, we do not).
 */
import { compileEventPattern, type CloudTrailRecord, type PatternPredicate, type OrganizationConfig } from '../core/index.ts';
import { TargetQueue } from '../delivery/after-delivery.ts';
import type { ControlStore, QueueSender, TopicPublisher, WebhookPoster } from '../stores/index.ts';
import { detailTypeOf, envelopeText, envelopeTime, forwardsToEventBridge, sourceOf } from './envelope.ts';
import type { PageHandler } from './log-consumer.ts';
import { loggedByTrails } from './eventbridge-forwarder.ts';

export type RuleState = 'ENABLED' | 'ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS' | 'DISABLED';

export type RuleTarget =
  | { webhook: string; headers?: Record<string, string>; timeoutMs: number }
  | { sqs: string }
  | { sns: string };

export interface RuleConfig {
  name: string;
  eventPattern: Record<string, unknown>;
  state: RuleState;
  targets: RuleTarget[];
}

export type RuleTargetKind = 'webhook' | 'sqs' | 'sns';

export interface RulesDeps {
  control: ControlStore;
  logError(msg: string, err?: unknown): void;
  webhooks: WebhookPoster;
  /** Absent when no SQS endpoint is configured: SQS targets then fail with SqsNotConfigured. */
  queues?: QueueSender;
  /** Absent when no SNS endpoint is configured: SNS targets then fail with SnsNotConfigured. */
  topics?: TopicPublisher;
  /** For metrics: one call's outcome (error code; undefined: sent). Must not throw. */
  onOutcome?(target: RuleTargetKind, code: string | undefined): void;
}

export interface RulesOptions {
  regions: string[];
  organization?: OrganizationConfig;
  /** Per target: envelopes waiting; past it the oldest waiting one is dropped. */
  queueLength: number;
  /** Per target: bytes waiting. */
  queueBytes: number;
  /** Deadline of one SQS / SNS call (every SDK attempt included). */
  sqsCallTimeoutMs: number;
  snsCallTimeoutMs: number;
}

const CODES: Record<RuleTargetKind, { timeout: string; queueFull: string }> = {
  webhook: { timeout: 'WebhookTimeout', queueFull: 'RuleTargetQueueFull' },
  sqs: { timeout: 'SqsTimeout', queueFull: 'RuleTargetQueueFull' },
  sns: { timeout: 'SnsTimeout', queueFull: 'RuleTargetQueueFull' },
};

const kindOf = (t: RuleTarget): RuleTargetKind => ('webhook' in t ? 'webhook' : 'sqs' in t ? 'sqs' : 'sns');

interface CompiledRule {
  name: string;
  matches: PatternPredicate;
  withReadOnly: boolean;
  targets: { target: RuleTarget; kind: RuleTargetKind; queue: TargetQueue }[];
}

export class BuiltInRules {
  private readonly deps: RulesDeps;
  private readonly opts: RulesOptions;
  private readonly rules: CompiledRule[];
  private failures = 0;

  constructor(deps: RulesDeps, opts: RulesOptions, rules: readonly RuleConfig[]) {
    this.deps = deps;
    this.opts = opts;
    this.rules = rules.filter((r) => r.state !== 'DISABLED').map((r) => ({
      name: r.name,
      matches: compileEventPattern(r.eventPattern),
      withReadOnly: r.state === 'ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS',
      targets: r.targets.map((target, i) => {
        const kind = kindOf(target);
        const timeoutMs = 'webhook' in target ? target.timeoutMs : kind === 'sqs' ? opts.sqsCallTimeoutMs : opts.snsCallTimeoutMs;
        // Labels never carry a webhook URL (URLs often carry tokens).
        const label = `rule ${r.name} target #${i} (${kind})`;
        return { target, kind, queue: new TargetQueue(CODES[kind], label, timeoutMs, opts, deps.logError, () => undefined) };
      }),
    }));
  }

  get size(): number {
    return this.rules.length;
  }

  /** The page handler of the rules' consumer: matches and queues, never waits for a target. */
  handler(): PageHandler {
    return async (rows) => {
      let dataLogged: ((r: CloudTrailRecord) => boolean) | undefined;
      for (const row of rows) {
        const r = JSON.parse(row.json) as CloudTrailRecord;
        if (r.eventCategory === 'Data' && !dataLogged) dataLogged = await loggedByTrails(this.deps.control, this.opts.regions, this.opts.organization);
        if (!forwardsToEventBridge(r, { readOnlyManagementEvents: true, dataEventLogged: (x) => dataLogged!(x) })) continue;
        const readOnlyManagement = r.readOnly === true && r.eventType === 'AwsApiCall' && r.eventCategory !== 'Data';
        // What patterns see: the envelope's members, detail the record (its text is built once, when a rule matches).
        const envelope = { version: '0', 'detail-type': detailTypeOf(r), source: sourceOf(r), account: r.recipientAccountId, time: envelopeTime(r), region: r.awsRegion, resources: [], detail: r };
        let text: string | undefined;
        for (const rule of this.rules) {
          if (readOnlyManagement && !rule.withReadOnly) continue;
          if (!rule.matches(envelope)) continue;
          text ??= envelopeText(r, row.json);
          for (const t of rule.targets) this.push(t, text);
        }
      }
    };
  }

  private push(t: CompiledRule['targets'][number], body: string): void {
    t.queue.push({
      bytes: body.length,
      run: async (call) => {
        await call((signal) => this.send(t.target, body, signal));
        return undefined;
      },
      settle: (code, err) => {
        this.deps.onOutcome?.(t.kind, code);
        if (code !== undefined && (this.failures++ % 100 === 0)) this.deps.logError(`${t.queue.label}: ${code} (${this.failures} failed calls so far)`, err);
      },
    });
  }

  private async send(target: RuleTarget, body: string, signal: AbortSignal): Promise<void> {
    if ('webhook' in target) return this.deps.webhooks.post(target.webhook, body, { headers: target.headers, timeoutMs: target.timeoutMs, signal });
    if ('sqs' in target) {
      if (!this.deps.queues) throw Object.assign(new Error('no `sqs` endpoint is configured'), { code: 'SqsNotConfigured' });
      return this.deps.queues.send(target.sqs, body, { signal });
    }
    if (!this.deps.topics) throw Object.assign(new Error('no `sns` endpoint is configured'), { code: 'SnsNotConfigured' });
    return this.deps.topics.publish(target.sns, undefined, body, { signal });
  }

  /** Resolves once every target queue is empty (tests). */
  async idle(): Promise<void> {
    await Promise.all(this.rules.flatMap((r) => r.targets.map((t) => t.queue.whenIdle())));
  }

  /** Shutdown: lets the queues drain for up to drainMs, then cuts off calls and drops the rest. */
  async close(drainMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.idle(), new Promise<void>((r) => (timer = setTimeout(r, drainMs)))]);
    clearTimeout(timer);
    for (const rule of this.rules) for (const t of rule.targets) t.queue.stop();
  }
}
