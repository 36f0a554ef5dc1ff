/**
 * EventPublisher on EventBridge (or a compatible endpoint such as moto) via
 * @aws-sdk/client-eventbridge: PutEvents in the Region asked for, through the configured endpoint
 * and credentials, within the neighbour's time limits (aws-clients.ts).
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { EventPublisher, PutEventsRequestEntry, PutEventsResult, TargetCallOptions } from '../delivery-targets.ts';
import { boundedCall, boundedClientSettings, RegionalClients, sdkClientConfig, type AwsClientOptions, type TargetLimits } from '../aws-clients.ts';

export const EVENTBRIDGE_LIMITS: TargetLimits = { requestTimeoutMs: 5000, maxAttempts: 3 };

export class EventBridgePublisher implements EventPublisher {
  private readonly limits: TargetLimits;
  private readonly clients: RegionalClients<EventBridgeClient>;

  constructor(opts: AwsClientOptions, limits: TargetLimits = EVENTBRIDGE_LIMITS) {
    this.limits = limits;
    this.clients = new RegionalClients((region) => new EventBridgeClient({ ...sdkClientConfig(opts, region), ...boundedClientSettings(limits) }));
  }

  async putEvents(region: string, entries: readonly PutEventsRequestEntry[], opts: TargetCallOptions = {}): Promise<PutEventsResult> {
    const client = this.clients.get(region);
    const out = await boundedCall(this.limits, opts.signal, 'EventBridgeTimeout', `EventBridge PutEvents in ${region}`,
      (signal) => client.send(new PutEventsCommand({ Entries: entries.map((e) => ({ ...e, Resources: [...e.Resources] })) }), { abortSignal: signal }));
    return { entries: (out.Entries ?? []).map((e) => (e.ErrorCode ? { errorCode: e.ErrorCode, errorMessage: e.ErrorMessage } : { eventId: e.EventId })) };
  }

  destroy(): void {
    this.clients.destroy();
  }
}
