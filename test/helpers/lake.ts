/** Event data stores for tests that need one (a channel's destination must be a store that exists). */
import { CreateEventDataStoreCommand, type CloudTrailClient } from '@aws-sdk/client-cloudtrail';

/** Creates an event data store of channel events (eventCategory ActivityAuditLog) and answers its ARN. */
export async function channelStore(client: CloudTrailClient, name = 'channel-events'): Promise<string> {
  const out = await client.send(new CreateEventDataStoreCommand({
    Name: name, TerminationProtectionEnabled: false,
    AdvancedEventSelectors: [{ Name: 'channel events', FieldSelectors: [{ Field: 'eventCategory', Equals: ['ActivityAuditLog'] }] }],
  }));
  return out.EventDataStoreArn!;
}
