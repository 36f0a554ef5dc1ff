/**
 * TopicPublisher on SNS (or an SNS-compatible endpoint such as moto) via @aws-sdk/client-sns.
 * A topic is published to in the region its ARN names, through the configured endpoint.
 */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { parseArn } from '../../core/arn.ts';
import { DeliveryTargetError, type TargetCallOptions, type TopicPublisher } from '../delivery-targets.ts';
import type { S3Options } from './s3-object-store.ts';

/** The service's error code (`NotFound`, `AuthorizationError`, ...), else the SDK's error name. */
export function awsErrorCode(e: unknown): string {
  const err = e as { Code?: unknown; name?: unknown; code?: unknown };
  if (typeof err.Code === 'string' && err.Code) return err.Code;
  if (typeof err.code === 'string' && /^[A-Za-z][A-Za-z0-9.]*$/.test(err.code)) return err.code;
  return typeof err.name === 'string' && err.name !== 'Error' ? err.name : 'InternalFailure';
}

/** Time limits of an SDK neighbour: each attempt, and how many attempts one call may make. */
export interface TargetLimits {
  /** One HTTP attempt, answer included (the SDK's requestTimeout, made to throw). */
  requestTimeoutMs: number;
  maxAttempts: number;
}

export const SNS_LIMITS: TargetLimits = { requestTimeoutMs: 5000, maxAttempts: 3 };

/** Whole-call deadline: every attempt at its limit. */
export const callDeadlineMs = (l: TargetLimits): number => l.requestTimeoutMs * l.maxAttempts;

/** True when `e` is the SDK giving up on time (requestTimeout, connectionTimeout) or an aborted call. */
export function isTimeoutOrAbort(e: unknown, signal?: AbortSignal): boolean {
  const name = (e as { name?: unknown }).name;
  return signal?.aborted === true || name === 'TimeoutError' || name === 'AbortError';
}

/**
 * SDK client settings for a neighbour that may hang: connect within 3 s, each attempt within
 * requestTimeoutMs (throwOnRequestTimeout: without it the SDK only logs a warning and waits for
 * ever), at most maxAttempts attempts.
 */
export function boundedClientSettings(l: TargetLimits) {
  return {
    maxAttempts: l.maxAttempts,
    requestHandler: { connectionTimeout: 3000, requestTimeout: l.requestTimeoutMs, throwOnRequestTimeout: true },
  };
}

export class SnsTopicPublisher implements TopicPublisher {
  private readonly opts: Omit<S3Options, 'forcePathStyle'>;
  private readonly limits: TargetLimits;
  private readonly clients = new Map<string, SNSClient>();

  constructor(opts: Omit<S3Options, 'forcePathStyle'>, limits: TargetLimits = SNS_LIMITS) {
    this.opts = opts;
    this.limits = limits;
  }

  private client(topicArn: string): SNSClient {
    const region = parseArn(topicArn)?.region || this.opts.region;
    let c = this.clients.get(region);
    if (!c) {
      c = new SNSClient({
        endpoint: this.opts.endpoint,
        region,
        credentials: this.opts.accessKeyId && this.opts.secretAccessKey ? { accessKeyId: this.opts.accessKeyId, secretAccessKey: this.opts.secretAccessKey } : undefined,
        ...boundedClientSettings(this.limits),
      });
      this.clients.set(region, c);
    }
    return c;
  }

  async publish(topicArn: string, subject: string, message: string, opts: TargetCallOptions = {}): Promise<void> {
    const deadline = AbortSignal.timeout(callDeadlineMs(this.limits));
    const signal = opts.signal ? AbortSignal.any([deadline, opts.signal]) : deadline;
    try {
      await this.client(topicArn).send(new PublishCommand({ TopicArn: topicArn, Subject: subject, Message: message }), { abortSignal: signal });
    } catch (e) {
      const code = isTimeoutOrAbort(e, signal) ? 'SnsTimeout' : awsErrorCode(e);
      throw new DeliveryTargetError(code, `SNS Publish to ${topicArn} failed: ${(e as Error).message}`, { cause: e });
    }
  }

  destroy(): void {
    for (const c of this.clients.values()) c.destroy();
    this.clients.clear();
  }
}
