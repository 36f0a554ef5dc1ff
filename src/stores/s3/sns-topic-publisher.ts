/**
 * TopicPublisher on SNS (or an SNS-compatible endpoint such as moto) via @aws-sdk/client-sns.
 * A topic is published to in the region its ARN names, through the configured endpoint.
 */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { DeliveryTargetError, type TopicPublisher } from '../delivery-targets.ts';
import type { S3Options } from './s3-object-store.ts';

/** The service's error code (`NotFound`, `AuthorizationError`, ...), else the SDK's error name. */
export function awsErrorCode(e: unknown): string {
  const err = e as { Code?: unknown; name?: unknown; code?: unknown };
  if (typeof err.Code === 'string' && err.Code) return err.Code;
  if (typeof err.code === 'string' && /^[A-Za-z][A-Za-z0-9.]*$/.test(err.code)) return err.code;
  return typeof err.name === 'string' && err.name !== 'Error' ? err.name : 'InternalFailure';
}

export class SnsTopicPublisher implements TopicPublisher {
  private readonly opts: Omit<S3Options, 'forcePathStyle'>;
  private readonly clients = new Map<string, SNSClient>();

  constructor(opts: Omit<S3Options, 'forcePathStyle'>) {
    this.opts = opts;
  }

  private client(topicArn: string): SNSClient {
    const region = topicArn.split(':')[3] || this.opts.region;
    let c = this.clients.get(region);
    if (!c) {
      c = new SNSClient({
        endpoint: this.opts.endpoint,
        region,
        credentials: this.opts.accessKeyId && this.opts.secretAccessKey ? { accessKeyId: this.opts.accessKeyId, secretAccessKey: this.opts.secretAccessKey } : undefined,
        maxAttempts: 3,
        requestHandler: { connectionTimeout: 3000, requestTimeout: 5000 },
      });
      this.clients.set(region, c);
    }
    return c;
  }

  async publish(topicArn: string, subject: string, message: string): Promise<void> {
    try {
      await this.client(topicArn).send(new PublishCommand({ TopicArn: topicArn, Subject: subject, Message: message }));
    } catch (e) {
      throw new DeliveryTargetError(awsErrorCode(e), `SNS Publish to ${topicArn} failed: ${(e as Error).message}`, { cause: e });
    }
  }

  destroy(): void {
    for (const c of this.clients.values()) c.destroy();
    this.clients.clear();
  }
}
