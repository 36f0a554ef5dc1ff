/**
 * EventPublisher on EventBridge (or a compatible endpoint such as moto) via
 * @aws-sdk/client-eventbridge: PutEvents in the Region asked for, through the configured endpoint
 * and credentials, within the neighbour's time limits (aws-clients.ts).
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DeliveryTargetError, type EventPublisher, type PutEventsRequestEntry, type PutEventsResult, type TargetCallOptions } from '../delivery-targets.ts';
import { awsErrorCode, boundedClientSettings, callDeadlineMs, isTimeoutOrAbort, RegionalClients, sdkClientConfig, type AwsClientOptions, type TargetLimits } from '../aws-clients.ts';

export const EVENTBRIDGE_LIMITS: TargetLimits = { requestTimeoutMs: 5000, maxAttempts: 3 };

export class EventBridgePublisher implements EventPublisher {
  private readonly limits: TargetLimits;
  private readonly clients: RegionalClients<EventBridgeClient>;

  constructor(opts: AwsClientOptions, limits: TargetLimits = EVENTBRIDGE_LIMITS) {
    this.limits = limits;
    this.clients = new RegionalClients((region) => new EventBridgeClient({ ...sdkClientConfig(opts, region), ...boundedClientSettings(limits) }));
  }

  async putEvents(region: string, entries: readonly PutEventsRequestEntry[], opts: TargetCallOptions = {}): Promise<PutEventsResult> {
    const deadline = AbortSignal.timeout(callDeadlineMs(this.limits));
    const signal = opts.signal ? AbortSignal.any([deadline, opts.signal]) : deadline;
    try {
      const out = await this.clients.get(region).send(new PutEventsCommand({ Entries: entries.map((e) => ({ ...e, Resources: [...e.Resources] })) }), { abortSignal: signal });
      return { entries: (out.Entries ?? []).map((e) => (e.ErrorCode ? { errorCode: e.ErrorCode, errorMessage: e.ErrorMessage } : { eventId: e.EventId })) };
    } catch (e) {
      const code = isTimeoutOrAbort(e, signal) ? 'EventBridgeTimeout' : awsErrorCode(e);
      throw new DeliveryTargetError(code, `EventBridge PutEvents in ${region} failed: ${(e as Error).message}`, { cause: e });
    }
  }

  destroy(): void {
    this.clients.destroy();
  }
}
