/**
 * QueueSender on SQS (or a compatible endpoint such as moto) via @aws-sdk/client-sqs: SendMessage
 * to a queue URL, in the Region the URL names (`sqs.<region>.amazonaws.com/...`), else the
 * configured one, within the neighbour's time limits (aws-clients.ts).
 */
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { QueueSender, TargetCallOptions } from '../delivery-targets.ts';
import { boundedCall, boundedClientSettings, RegionalClients, sdkClientConfig, type AwsClientOptions, type TargetLimits } from '../aws-clients.ts';

export const SQS_LIMITS: TargetLimits = { requestTimeoutMs: 5000, maxAttempts: 3 };

/** The Region an AWS queue URL names (`https://sqs.<region>.amazonaws.com/<account>/<name>`), if any. */
export function queueUrlRegion(url: string): string | undefined {
  return /^https:\/\/sqs\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?\//.exec(url)?.[1];
}

export class SqsSender implements QueueSender {
  private readonly opts: AwsClientOptions;
  private readonly limits: TargetLimits;
  private readonly clients: RegionalClients<SQSClient>;

  constructor(opts: AwsClientOptions, limits: TargetLimits = SQS_LIMITS) {
    this.opts = opts;
    this.limits = limits;
    this.clients = new RegionalClients((region) => new SQSClient({ ...sdkClientConfig(opts, region), ...boundedClientSettings(limits) }));
  }

  async send(queueUrl: string, body: string, opts: TargetCallOptions = {}): Promise<void> {
    const client = this.clients.get(queueUrlRegion(queueUrl) ?? this.opts.region);
    await boundedCall(this.limits, opts.signal, 'SqsTimeout', 'SQS SendMessage', (signal) => client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }), { abortSignal: signal }));
  }

  destroy(): void {
    this.clients.destroy();
  }
}
