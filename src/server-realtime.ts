/**
 * Composition root of real time (src/realtime; docs/realtime.md): picks the drivers of the
 * EventBridge forwarder and the built-in rules' targets from the config, and makes the live tail.
 * src/server.ts starts it after the listeners and stops it before the stores close.
 */
import type { Clock } from './core/index.ts';
import type { OpenTrailConfig } from './config/index.ts';
import type { ControlStore, EventStore } from './stores/index.ts';
import type { LeaseKeeper } from './stores/lease-keeper.ts';
import { callDeadlineMs, SnsTopicPublisher } from './stores/aws/index.ts';
import { FetchWebhookPoster } from './stores/http/index.ts';
import { BuiltInRules, consumerLags, eventBridgeHandler, LIVE_TAIL_DEFAULTS, LiveTail, LogConsumer, LogSignal, type RuleTargetKind } from './realtime/index.ts';

export interface RealtimeHooks {
  eventBridge(outcome: 'sent' | 'failed' | 'refused' | 'too_large', count: number): void;
  ruleTarget(target: RuleTargetKind, code: string | undefined): void;
}

export interface Realtime {
  /** Wakes the consumers and the live tails: new events were committed. */
  committed(): void;
  tail: LiveTail;
  /** The consumers' lags (metrics `consumer` eventbridge / rules; `opentrail status`). */
  lags(nowMs: number): Promise<{ resource: string; events?: number; seconds: number; failure?: { code: string; atMs: number } }[]>;
  /** Tests: one pass of each consumer, then the rules' queues empty. */
  settle(): Promise<void>;
  start(): void;
  close(drainMs: number): Promise<void>;
}

/**
 * The EventBridge and SQS drivers (and their SDK packages) are loaded only when `eventBridge` or
 * `sqs` is configured: a server without them never needs @aws-sdk/client-eventbridge or -sqs.
 */
export async function createRealtime(config: OpenTrailConfig, deps: { events: EventStore; control: ControlStore; clock: Clock; leases?: LeaseKeeper; logError(component: string): (msg: string, err?: unknown) => void; hooks?: RealtimeHooks }): Promise<Realtime> {
  const signal = new LogSignal();
  const consumerDeps = (component: string) => ({ events: deps.events, control: deps.control, clock: deps.clock, leases: deps.leases, logError: deps.logError(component) });
  const consumers: LogConsumer[] = [];
  const destroy: (() => void)[] = [];

  const eb = config.eventBridge;
  if (eb) {
    const { EventBridgePublisher } = await import('./stores/aws/eventbridge-publisher.ts');
    const publisher = new EventBridgePublisher(eb, eb);
    destroy.push(() => publisher.destroy());
    consumers.push(new LogConsumer(consumerDeps('eventbridge'), { name: 'eventbridge', pollMs: eb.pollMs, readBatch: 500, readBytes: 4 * 1024 * 1024 }, eventBridgeHandler(
      { publisher, control: deps.control, logError: deps.logError('eventbridge'), onOutcome: deps.hooks && ((o, n) => deps.hooks!.eventBridge(o, n)) },
      { eventBusName: eb.eventBusName, readOnlyManagementEvents: eb.readOnlyManagementEvents, regions: config.regions, organization: config.organization },
    )));
  }
  let rules: BuiltInRules | undefined;
  if (config.rules.some((r) => r.state !== 'DISABLED')) {
    const sqs = config.sqs ? new (await import('./stores/aws/sqs-sender.ts')).SqsSender(config.sqs, config.sqs) : undefined;
    const sns = config.sns ? new SnsTopicPublisher(config.sns, config.sns) : undefined;
    destroy.push(() => sqs?.destroy(), () => sns?.destroy());
    rules = new BuiltInRules(
      { control: deps.control, logError: deps.logError('rules'), webhooks: new FetchWebhookPoster(), queues: sqs, topics: sns, onOutcome: deps.hooks && ((t, c) => deps.hooks!.ruleTarget(t, c)) },
      {
        regions: config.regions, organization: config.organization, queueLength: config.delivery.targetQueueLength, queueBytes: config.delivery.targetQueueBytes,
        sqsCallTimeoutMs: config.sqs ? callDeadlineMs(config.sqs) : 15_000, snsCallTimeoutMs: config.sns ? callDeadlineMs(config.sns) : 15_000,
      },
      config.rules,
    );
    consumers.push(new LogConsumer(consumerDeps('rules'), { name: 'rules', pollMs: 200, readBatch: 500, readBytes: 4 * 1024 * 1024 }, rules.handler()));
  }
  const tail = new LiveTail(deps.events, signal, { ...LIVE_TAIL_DEFAULTS, ...config.liveTail });
  return {
    tail,
    committed: () => {
      for (const c of consumers) c.wake();
      signal.notify();
    },
    lags: (nowMs) => consumerLags(deps.events, deps.control, consumers.map((c) => c.name), nowMs),
    settle: async () => {
      for (const c of consumers) await c.tick();
      await rules?.idle();
    },
    start: () => {
      for (const c of consumers) c.start();
    },
    close: async (drainMs) => {
      tail.close();
      for (const c of consumers) await c.stop();
      await rules?.close(drainMs);
      for (const d of destroy) d();
    },
  };
}
