/**
 * TopicPublisher on SNS (or an SNS-compatible endpoint such as moto) via @aws-sdk/client-sns.
 * A topic is published to in the region its ARN names, through the configured endpoint.
 */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { parseArn } from '../../core/arn.ts';
import { DeliveryTargetError, type TargetCallOptions, type TopicPublisher } from '../delivery-targets.ts';
import { awsErrorCode, boundedClientSettings, callDeadlineMs, isTimeoutOrAbort, RegionalClients, sdkClientConfig, type AwsClientOptions, type TargetLimits } from '../aws-clients.ts';

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
    this.clients.destroy();
  }
}
