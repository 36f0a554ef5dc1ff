/**
 * The CloudTrail API (2013-11-01): one handler per operation. Operations not built yet answer
 * UnsupportedOperationException, as AWS does for operations an account cannot use.
 */
import { lookupEvents, type LookupEventsDeps } from '../../history/index.ts';
import type { CloudTrailOperation } from '../../aws/cloudtrail-operations.ts';
import type { CallContext } from '../context.ts';
import type { ChannelService } from './channels.ts';

export type OperationHandler = (ctx: CallContext, input: Record<string, unknown>) => Promise<object>;
export type CloudTrailProvider = Partial<Record<CloudTrailOperation, OperationHandler>>;

export interface CloudTrailProviderDeps {
  history: LookupEventsDeps;
  channels: ChannelService;
}

export function createCloudTrailProvider(deps: CloudTrailProviderDeps): CloudTrailProvider {
  const ch = deps.channels;
  return {
    LookupEvents: (ctx, input) => lookupEvents(deps.history, ctx, input),
    CreateChannel: (ctx, input) => ch.createChannel(ctx, input),
    GetChannel: (ctx, input) => ch.getChannel(ctx, input),
    ListChannels: (ctx, input) => ch.listChannels(ctx, input),
    UpdateChannel: (ctx, input) => ch.updateChannel(ctx, input),
    DeleteChannel: (ctx, input) => ch.deleteChannel(ctx, input),
  };
}
