/**
 * TopicPublisher on SNS (or an SNS-compatible endpoint such as moto) via @aws-sdk/client-sns.
 * A topic is published to in the region its ARN names, through the configured endpoint.
 */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { parseArn } from '../../core/arn.ts';
import type { TargetCallOptions, TopicPublisher } from '../delivery-targets.ts';
import { boundedCall, boundedClientSettings, RegionalClients, sdkClientConfig, type AwsClientOptions, type TargetLimits } from '../aws-clients.ts';

export const SNS_LIMITS: TargetLimits = { requestTimeoutMs: 5000, maxAttempts: 3 };

export class SnsTopicPublisher implements TopicPublisher {
  private readonly opts: AwsClientOptions;
  private readonly limits: TargetLimits;
  private readonly clients: RegionalClients<SNSClient>;

  constructor(opts: AwsClientOptions, limits: TargetLimits = SNS_LIMITS) {
    this.opts = opts;
    this.limits = limits;
    this.clients = new RegionalClients((region) => new SNSClient({ ...sdkClientConfig(opts, region), ...boundedClientSettings(limits) }));
  }

  /** A topic is published to in the Region its ARN names. */
  private client(topicArn: string): SNSClient {
    return this.clients.get(parseArn(topicArn)?.region || this.opts.region);
  }

  async publish(topicArn: string, subject: string | undefined, message: string, opts: TargetCallOptions = {}): Promise<void> {
    const client = this.client(topicArn);
    await boundedCall(this.limits, opts.signal, 'SnsTimeout', `SNS Publish to ${topicArn}`, (signal) => client.send(new PublishCommand({ TopicArn: topicArn, Subject: subject, Message: message }), { abortSignal: signal }));
  }

  destroy(): void {
    this.clients.destroy();
  }
}
