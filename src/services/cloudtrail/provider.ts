/**
 * The CloudTrail API (2013-11-01): one handler per operation, typed by the input and output types
 * generated from AWS's model (src/aws/protocol/generated/cloudtrail.ts). Every input is checked
 * against the model before its handler runs (src/aws/protocol/validate.ts: member types, required
 * members, enums, lengths, patterns, ranges), so handlers see well-typed input and keep only the
 * rules the model cannot say. Operations not built yet answer UnsupportedOperationException after
 * that check, as AWS does for operations an account cannot use.
 */
import { lookupEvents, type LookupEventsDeps } from '../../history/index.ts';
import { CLOUDTRAIL_OPERATIONS, type CloudTrailOperation } from '../../aws/cloudtrail-operations.ts';
import { ServiceError } from '../../aws/errors.ts';
import type { JsonText } from '../../aws/json-text.ts';
import { cloudTrailInput, type CloudTrailOperations } from '../../aws/protocol/index.ts';
import type { CallContext } from '../context.ts';
import type { ChannelService } from './channels.ts';
import type { TrailService } from './trails.ts';
import type { TagService } from './tags.ts';
import type { PublicKeyService } from './public-keys.ts';
import type { InsightsService } from './insights.ts';
import type { EventDataStoreService } from './event-data-stores.ts';
import type { ResourcePolicyService } from './resource-policies.ts';
import type { QueryService } from './queries.ts';
import type { ImportService } from './imports.ts';

export type OperationHandler = (ctx: CallContext, input: Record<string, unknown>) => Promise<object>;
export type CloudTrailProvider = Partial<Record<CloudTrailOperation, OperationHandler>>;

/** An operation's handler over its generated input and output types (JsonText: an answer already written as JSON). */
export type TypedHandler<Op extends CloudTrailOperation> = (ctx: CallContext, input: CloudTrailOperations[Op]['input']) => Promise<CloudTrailOperations[Op]['output'] | JsonText>;
type TypedHandlers = { [Op in CloudTrailOperation]?: TypedHandler<Op> };

export interface CloudTrailProviderDeps {
  history: LookupEventsDeps;
  channels: ChannelService;
  trails: TrailService;
  tags: TagService;
  publicKeys: PublicKeyService;
  insights?: InsightsService;
  eventDataStores?: EventDataStoreService;
  resourcePolicies?: ResourcePolicyService;
  /** CloudTrail Lake queries (StartQuery ...); absent: those operations are unsupported. */
  queries?: QueryService;
  /** CloudTrail Lake imports (absent: the operations answer UnsupportedOperationException). */
  imports?: ImportService;
}

export function createCloudTrailProvider(deps: CloudTrailProviderDeps): CloudTrailProvider {
  const ch = deps.channels;
  const tr = deps.trails;
  const tg = deps.tags;
  const handlers: TypedHandlers = {
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
    ...(deps.insights && {
      ListInsightsMetricData: (ctx, input) => deps.insights!.listInsightsMetricData(ctx, input),
      ListInsightsData: (ctx, input) => deps.insights!.listInsightsData(ctx, input),
    } satisfies TypedHandlers),
    ...(deps.eventDataStores ? eventDataStoreHandlers(deps.eventDataStores) : {}),
    ...(deps.resourcePolicies ? resourcePolicyHandlers(deps.resourcePolicies) : {}),
    ...(deps.queries ? queryHandlers(deps.queries) : {}),
    ...(deps.imports ? importHandlers(deps.imports) : {}),
  };
  const provider: CloudTrailProvider = {};
  // handlers[op] is op's own handler (TypedHandlers maps each operation to its handler type).
  for (const op of CLOUDTRAIL_OPERATIONS) provider[op] = dispatch(op, handlers[op] as TypedHandler<CloudTrailOperation> | undefined);
  return provider;
}

function queryHandlers(q: QueryService): TypedHandlers {
  return {
    StartQuery: (ctx, input) => q.startQuery(ctx, input),
    DescribeQuery: (ctx, input) => q.describeQuery(ctx, input),
    GetQueryResults: (ctx, input) => q.getQueryResults(ctx, input),
    ListQueries: (ctx, input) => q.listQueries(ctx, input),
    CancelQuery: (ctx, input) => q.cancelQuery(ctx, input),
  };
}

function importHandlers(im: ImportService): TypedHandlers {
  return {
    StartImport: (ctx, input) => im.startImport(ctx, input),
    GetImport: (ctx, input) => im.getImport(ctx, input),
    ListImports: (ctx, input) => im.listImports(ctx, input),
    ListImportFailures: (ctx, input) => im.listImportFailures(ctx, input),
    StopImport: (ctx, input) => im.stopImport(ctx, input),
  };
}

/** The model check, then the handler (or UnsupportedOperationException when there is none yet). */
function dispatch<Op extends CloudTrailOperation>(op: Op, handler: TypedHandler<Op> | undefined): OperationHandler {
  return async (ctx, input) => {
    const checked = cloudTrailInput(op, input);
    if (!handler) throw new ServiceError('UnsupportedOperationException', `OpenTrail does not support ${op} yet.`, 400);
    return handler(ctx, checked);
  };
}

function eventDataStoreHandlers(eds: EventDataStoreService): TypedHandlers {
  return {
    CreateEventDataStore: (ctx, input) => eds.createEventDataStore(ctx, input),
    GetEventDataStore: (ctx, input) => eds.getEventDataStore(ctx, input),
    UpdateEventDataStore: (ctx, input) => eds.updateEventDataStore(ctx, input),
    DeleteEventDataStore: (ctx, input) => eds.deleteEventDataStore(ctx, input),
    RestoreEventDataStore: (ctx, input) => eds.restoreEventDataStore(ctx, input),
    ListEventDataStores: (ctx, input) => eds.listEventDataStores(ctx, input),
    StartEventDataStoreIngestion: (ctx, input) => eds.startEventDataStoreIngestion(ctx, input),
    StopEventDataStoreIngestion: (ctx, input) => eds.stopEventDataStoreIngestion(ctx, input),
    PutEventConfiguration: (ctx, input) => eds.putEventConfiguration(ctx, input),
    GetEventConfiguration: (ctx, input) => eds.getEventConfiguration(ctx, input),
  };
}

function resourcePolicyHandlers(rp: ResourcePolicyService): TypedHandlers {
  return {
    PutResourcePolicy: (ctx, input) => rp.putResourcePolicy(ctx, input),
    GetResourcePolicy: (ctx, input) => rp.getResourcePolicy(ctx, input),
    DeleteResourcePolicy: (ctx, input) => rp.deleteResourcePolicy(ctx, input),
  };
}
