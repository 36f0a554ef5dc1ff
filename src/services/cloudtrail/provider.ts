/**
 * The CloudTrail API (2013-11-01): one handler per operation. Operations not built yet answer
 * UnsupportedOperationException, as AWS does for operations an account cannot use.
 */
import { lookupEvents, type LookupEventsDeps } from '../../history/index.ts';
import type { CloudTrailOperation } from '../../aws/cloudtrail-operations.ts';
import type { CallContext } from '../context.ts';
import type { ChannelService } from './channels.ts';
import type { TrailService } from './trails.ts';
import type { TagService } from './tags.ts';
import type { PublicKeyService } from './public-keys.ts';

export type OperationHandler = (ctx: CallContext, input: Record<string, unknown>) => Promise<object>;
export type CloudTrailProvider = Partial<Record<CloudTrailOperation, OperationHandler>>;

export interface CloudTrailProviderDeps {
  history: LookupEventsDeps;
  channels: ChannelService;
  trails: TrailService;
  tags: TagService;
  publicKeys: PublicKeyService;
}

export function createCloudTrailProvider(deps: CloudTrailProviderDeps): CloudTrailProvider {
  const ch = deps.channels;
  const tr = deps.trails;
  const tg = deps.tags;
  return {
    CreateTrail: (ctx, input) => tr.createTrail(ctx, input),
    UpdateTrail: (ctx, input) => tr.updateTrail(ctx, input),
    DeleteTrail: (ctx, input) => tr.deleteTrail(ctx, input),
    GetTrail: (ctx, input) => tr.getTrail(ctx, input),
    DescribeTrails: (ctx, input) => tr.describeTrails(ctx, input),
    ListTrails: (ctx, input) => tr.listTrails(ctx, input),
    GetTrailStatus: (ctx, input) => tr.getTrailStatus(ctx, input),
    StartLogging: (ctx, input) => tr.startLogging(ctx, input),
    StopLogging: (ctx, input) => tr.stopLogging(ctx, input),
    PutEventSelectors: (ctx, input) => tr.putEventSelectors(ctx, input),
    GetEventSelectors: (ctx, input) => tr.getEventSelectors(ctx, input),
    PutInsightSelectors: (ctx, input) => tr.putInsightSelectors(ctx, input),
    GetInsightSelectors: (ctx, input) => tr.getInsightSelectors(ctx, input),
    AddTags: (ctx, input) => tg.addTags(ctx, input),
    RemoveTags: (ctx, input) => tg.removeTags(ctx, input),
    ListTags: (ctx, input) => tg.listTags(ctx, input),
    ListPublicKeys: (ctx, input) => deps.publicKeys.listPublicKeys(ctx, input),
    LookupEvents: (ctx, input) => lookupEvents(deps.history, ctx, input),
    CreateChannel: (ctx, input) => ch.createChannel(ctx, input),
    GetChannel: (ctx, input) => ch.getChannel(ctx, input),
    ListChannels: (ctx, input) => ch.listChannels(ctx, input),
    UpdateChannel: (ctx, input) => ch.updateChannel(ctx, input),
    DeleteChannel: (ctx, input) => ch.deleteChannel(ctx, input),
  };
}
