/**
 * Where delivery reports a batch after its log files are in the bucket: SNS topics, HTTP webhooks
 * and CloudWatch Logs log groups (docs/design/delivery.md, "After a file is written").
 * Drivers: SNS and CloudWatch Logs through the AWS SDK (src/stores/aws/), webhooks through fetch
 * (src/stores/http/).
 */

/** SNS topics delivery notifies. */
export interface TopicPublisher {
  /**
   * Publishes one message; resolves once the topic accepted it, else throws a DeliveryTargetError
   * (`SnsTimeout` when `signal` aborted the call or the driver's own time limit passed).
   */
  publish(topicArn: string, subject: string | undefined, message: string, opts?: TargetCallOptions): Promise<void>;
}

/** What every call to a delivery target may be given. */
export interface TargetCallOptions {
  /** Aborts the call (its caller's deadline, or shutdown); the driver gives up and throws. */
  signal?: AbortSignal;
}

export interface WebhookRequest extends TargetCallOptions {
  headers?: Record<string, string>;
  /** The whole POST, answer body included, is cut after this (`WebhookTimeout`). */
  timeoutMs: number;
}

/** HTTP endpoints that take a JSON POST per notification. */
export interface WebhookPoster {
  /** POSTs `body` as application/json; resolves on a 2xx answer, else throws a DeliveryTargetError. */
  post(url: string, body: string, req: WebhookRequest): Promise<void>;
}

/** One CloudWatch Logs event: `timestamp` in epoch ms, `message` as sent. */
export interface LogEvent {
  timestamp: number;
  message: string;
}

/** CloudWatch Logs log groups delivery streams records into. */
export interface LogGroupSink {
  /**
   * Puts one PutLogEvents batch (the caller keeps it within the API's limits, sorted by time) into
   * `stream` of the log group, creating the stream when it does not exist. Resolves with how many
   * events the service refused as too old or too new; throws a DeliveryTargetError otherwise
   * (`CloudWatchLogsTimeout` when `signal` aborted the call or the driver's own time limit passed).
   */
  putLogEvents(logGroupArn: string, stream: string, events: readonly LogEvent[], opts?: TargetCallOptions): Promise<{ rejected: number }>;
}

/** One PutEvents entry (EventBridge assigns the envelope's id, account and version). */
export interface PutEventsRequestEntry {
  Source: string;
  DetailType: string;
  Detail: string;
  Resources: readonly string[];
  Time: Date;
  EventBusName: string;
}

/** PutEvents' answer: one result per entry, in order; an entry with `errorCode` was not put. */
export interface PutEventsResult {
  entries: ({ eventId?: string; errorCode?: undefined; errorMessage?: undefined } | { errorCode: string; errorMessage?: string; eventId?: undefined })[];
}

/** An EventBridge event bus the realtime forwarder puts CloudTrail events on (src/realtime). */
export interface EventPublisher {
  /**
   * One PutEvents call (at most 10 entries, 256 KB) in `region`; resolves with each entry's
   * outcome, throws a DeliveryTargetError when the call itself failed (`EventBridgeTimeout`
   * when `signal` aborted it or the driver's own time limit passed).
   */
  putEvents(region: string, entries: readonly PutEventsRequestEntry[], opts?: TargetCallOptions): Promise<PutEventsResult>;
}

/** SQS queues a built-in rule sends events to. */
export interface QueueSender {
  /** SendMessage to the queue URL; throws a DeliveryTargetError (`SqsTimeout` on time). */
  send(queueUrl: string, body: string, opts?: TargetCallOptions): Promise<void>;
}

/** A notification or log event the target refused or could not take; `code` is the target's error code. */
export class DeliveryTargetError extends Error {
  override name = 'DeliveryTargetError';
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
