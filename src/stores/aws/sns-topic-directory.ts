/** TopicDirectory on SNS (or an SNS-compatible endpoint such as moto) via @aws-sdk/client-sns. */
import { GetTopicAttributesCommand, SNSClient, SNSServiceException } from '@aws-sdk/client-sns';
import { NeighbourUnavailableError, type TopicDirectory } from '../object-store.ts';
import { boundedClientSettings, sdkClientConfig, type AwsClientOptions, type TargetLimits } from '../aws-clients.ts';

export class SnsTopicDirectory implements TopicDirectory {
  private readonly client: SNSClient;

  /** A silent endpoint fails CreateTrail/UpdateTrail (unavailable) after the limits, instead of holding the call for ever. */
  constructor(opts: AwsClientOptions, limits: TargetLimits = { requestTimeoutMs: 5000, maxAttempts: 2 }) {
    this.client = new SNSClient({ ...sdkClientConfig(opts, opts.region), ...boundedClientSettings(limits) });
  }

  async topicPolicy(topicArn: string): Promise<string | undefined> {
    try {
      const out = await this.client.send(new GetTopicAttributesCommand({ TopicArn: topicArn }));
      return out.Attributes?.Policy ?? '{}';
    } catch (e) {
      if ((e as { name?: string }).name === 'NotFoundException' || (e instanceof SNSServiceException && e.$metadata.httpStatusCode === 404)) return undefined;
      throw new NeighbourUnavailableError(`SNS GetTopicAttributes ${topicArn} failed: ${(e as Error).message}`, { cause: e });
    }
  }

  destroy(): void {
    this.client.destroy();
  }
}
