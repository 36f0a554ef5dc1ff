/**
 * The trail control plane: CreateTrail, UpdateTrail, DeleteTrail, GetTrail, DescribeTrails,
 * ListTrails, GetTrailStatus, StartLogging, StopLogging, Put/GetEventSelectors and
 * Put/GetInsightSelectors, with home-region, shadow-trail and organization rules as AWS has them.
 */
import { cloudTrailError, ServiceError } from '../../aws/errors.ts';
import {
  formatEventTime, isArnLike, parseTrailArn, trailArn, validateAdvancedEventSelectors, validateEventSelectors,
  validateInsightSelectors, validateTrailName, BOTH_SELECTOR_KINDS_MESSAGE, DEFAULT_EVENT_SELECTORS, DELIVERY_STATE_KIND, NOTIFICATION_STATUS_KIND, type NotificationStatus,
  DIGEST_STATUS_KIND, type DeliveryState, type DigestStatus, type OrganizationConfig,
} from '../../core/index.ts';
import type { ControlStore, EventStore, ObjectStore, TopicDirectory } from '../../stores/index.ts';
import type { NextTokenCodec } from '../../history/index.ts';
import type { CallContext } from '../context.ts';
import {
  isShadow, isVisible, MAX_TRAILS_PER_REGION, TRAIL_KIND, trailKey, trailView, trailWriteView, type TrailDoc,
} from './trail-model.ts';
import { checkBucket, checkCloudWatchLogs, checkPrefix, checkTopic, kmsKeyArn, parseTags, requireManagementAccount, snsTopicArn } from './trail-params.ts';
import type {
  CreateTrailRequest, CreateTrailResponse, DeleteTrailRequest, DeleteTrailResponse, DescribeTrailsRequest, DescribeTrailsResponse,
  GetEventSelectorsRequest, GetEventSelectorsResponse, GetInsightSelectorsRequest, GetInsightSelectorsResponse, GetTrailRequest,
  GetTrailResponse, GetTrailStatusRequest, GetTrailStatusResponse, ListTrailsRequest, ListTrailsResponse, PutEventSelectorsRequest,
  PutEventSelectorsResponse, PutInsightSelectorsRequest, PutInsightSelectorsResponse, StartLoggingRequest, StartLoggingResponse,
  StopLoggingRequest, StopLoggingResponse, UpdateTrailRequest, UpdateTrailResponse,
} from '../../aws/protocol/index.ts';

export interface TrailServiceDeps {
  store: ControlStore;
  /** The event log: logging starts and stops at its current end. */
  events: EventStore;
  objects: ObjectStore;
  topics?: TopicDirectory;
  organization?: OrganizationConfig;
  regions: readonly string[];
  tokens: NextTokenCodec;
}

const LIST_PAGE = 50;

export class TrailService {
  private readonly deps: TrailServiceDeps;

  constructor(deps: TrailServiceDeps) {
    this.deps = deps;
  }

  private async all(): Promise<TrailDoc[]> {
    return (await this.deps.store.list<TrailDoc>(TRAIL_KIND, '')).map((r) => r.doc);
  }

  private async save(t: TrailDoc): Promise<void> {
    await this.deps.store.put(TRAIL_KIND, trailKey(t.accountId, t.HomeRegion, t.Name), t);
  }

  /** Trails the caller sees in its region, sorted by ARN. */
  private async visible(ctx: CallContext): Promise<TrailDoc[]> {
    return (await this.all())
      .filter((t) => isVisible(t, ctx.accountId, ctx.region, this.deps.organization))
      .sort((a, b) => (a.TrailARN < b.TrailARN ? -1 : a.TrailARN > b.TrailARN ? 1 : 0));
  }

  private notFound(ref: string, ctx: CallContext): ServiceError {
    return cloudTrailError('TrailNotFoundException', `Unknown trail: ${ref} for the user: ${ctx.accountId}`);
  }

  /**
   * The trail a Name/TrailName member names: a name means a trail homed in the caller's account
   * and region; an ARN may name any trail the caller sees here (shadow trails included).
   */
  async resolve(ref: string | undefined, ctx: CallContext, member = 'Name'): Promise<TrailDoc> {
    if (ref === undefined || ref === '') throw cloudTrailError('InvalidTrailNameException', `${member} is required.`);
    if (isArnLike(ref)) {
      const arn = parseTrailArn(ref);
      if (!arn) throw cloudTrailError('CloudTrailARNInvalidException', `${ref} is not a valid trail ARN. Expected arn:aws:cloudtrail:<region>:<account>:trail/<name>`);
      const t = await this.deps.store.get<TrailDoc>(TRAIL_KIND, trailKey(arn.accountId, arn.region, arn.name));
      if (!t || !isVisible(t, ctx.accountId, ctx.region, this.deps.organization)) throw this.notFound(ref, ctx);
      return t;
    }
    const problem = validateTrailName(ref);
    if (problem) throw cloudTrailError('InvalidTrailNameException', problem);
    const t = await this.deps.store.get<TrailDoc>(TRAIL_KIND, trailKey(ctx.accountId, ctx.region, ref));
    if (!t) throw this.notFound(ref, ctx);
    return t;
  }

  /** As resolve, for changes: only the owner, only from the home region. */
  private async resolveForChange(ref: string | undefined, ctx: CallContext, member = 'Name'): Promise<TrailDoc> {
    const t = await this.resolve(ref, ctx, member);
    if (t.accountId !== ctx.accountId) {
      throw cloudTrailError('NotOrganizationMasterAccountException', `Only the organization's management account ${t.accountId} can change the organization trail ${t.TrailARN}.`);
    }
    if (t.HomeRegion !== ctx.region) {
      throw cloudTrailError('InvalidHomeRegionException', `This operation must be called from the trail's home region, ${t.HomeRegion}, not ${ctx.region}.`);
    }
    return t;
  }

  private checkOrganization(accountId: string): void {
    requireManagementAccount(this.deps.organization, accountId, 'organization trails');
  }

  /** The 5-trails-per-region quota, in every region where the trail would count. */
  private async checkQuota(t: TrailDoc, all: TrailDoc[]): Promise<void> {
    const regions = t.IsMultiRegionTrail ? this.deps.regions : [t.HomeRegion];
    for (const region of regions) {
      const count = all.filter((o) => o.TrailARN !== t.TrailARN && o.accountId === t.accountId && (o.HomeRegion === region || o.IsMultiRegionTrail)).length;
      if (count >= MAX_TRAILS_PER_REGION) {
        throw cloudTrailError('MaximumNumberOfTrailsExceededException', `User: ${t.accountId} already has ${MAX_TRAILS_PER_REGION} trails in ${region}.`);
      }
    }
  }

  /** Applies CreateTrail/UpdateTrail members to a trail and checks the result. */
  private async apply(t: TrailDoc, input: CreateTrailRequest | UpdateTrailRequest, isCreate: boolean): Promise<TrailDoc> {
    const next: TrailDoc = { ...t };
    const bucket = input.S3BucketName;
    if (bucket !== undefined) next.S3BucketName = bucket;
    const prefix = input.S3KeyPrefix;
    if (prefix !== undefined) {
      if (prefix === '') delete next.S3KeyPrefix;
      else {
        checkPrefix(prefix);
        next.S3KeyPrefix = prefix;
      }
    }
    const topic = input.SnsTopicName;
    if (topic !== undefined) {
      if (topic === '') {
        delete next.SnsTopicName;
        delete next.SnsTopicARN;
      } else {
        next.SnsTopicARN = snsTopicArn(topic, t.HomeRegion, t.accountId);
        next.SnsTopicName = next.SnsTopicARN.split(':').pop()!;
      }
    }
    const globals = input.IncludeGlobalServiceEvents;
    if (globals !== undefined) next.IncludeGlobalServiceEvents = globals;
    const multi = input.IsMultiRegionTrail;
    if (multi !== undefined) next.IsMultiRegionTrail = multi;
    const validation = input.EnableLogFileValidation;
    if (validation !== undefined) next.LogFileValidationEnabled = validation;
    const group = input.CloudWatchLogsLogGroupArn;
    const role = input.CloudWatchLogsRoleArn;
    if (group !== undefined || role !== undefined) {
      if (group === '' && (role === undefined || role === '')) {
        delete next.CloudWatchLogsLogGroupArn;
        delete next.CloudWatchLogsRoleArn;
      } else {
        checkCloudWatchLogs(group ?? next.CloudWatchLogsLogGroupArn, role ?? next.CloudWatchLogsRoleArn);
        next.CloudWatchLogsLogGroupArn = group ?? next.CloudWatchLogsLogGroupArn;
        next.CloudWatchLogsRoleArn = role ?? next.CloudWatchLogsRoleArn;
      }
    }
    const kms = input.KmsKeyId;
    if (kms !== undefined) {
      if (kms === '') delete next.KmsKeyId;
      else next.KmsKeyId = kmsKeyArn(kms, t.HomeRegion, t.accountId);
    }
    const org = input.IsOrganizationTrail;
    if (org !== undefined) {
      if (org || t.IsOrganizationTrail) this.checkOrganization(t.accountId);
      next.IsOrganizationTrail = org;
    }
    if (next.IsMultiRegionTrail && !next.IncludeGlobalServiceEvents) {
      throw cloudTrailError('InvalidParameterCombinationException', 'Multi-Region trail must include global service events.');
    }
    if (isCreate || bucket !== undefined || prefix !== undefined || (org === true && !t.IsOrganizationTrail)) {
      await checkBucket(this.deps.objects, next, this.deps.organization?.id);
    }
    if (next.SnsTopicARN && (isCreate || topic !== undefined)) await checkTopic(this.deps.topics, next.SnsTopicARN);
    return next;
  }

  async createTrail(ctx: CallContext, input: CreateTrailRequest): Promise<CreateTrailResponse> {
    const name = input.Name;
    const problem = validateTrailName(name);
    if (problem) throw cloudTrailError('InvalidTrailNameException', problem);
    const all = await this.all();
    if (all.some((t) => t.accountId === ctx.accountId && t.HomeRegion === ctx.region && t.Name === name)) {
      throw cloudTrailError('TrailAlreadyExistsException', `Trail ${name} already exists for customer: ${ctx.accountId}`);
    }
    const base: TrailDoc = {
      Name: name, accountId: ctx.accountId, HomeRegion: ctx.region, TrailARN: trailArn(ctx.region, ctx.accountId, name),
      S3BucketName: '', IncludeGlobalServiceEvents: true, IsMultiRegionTrail: false, LogFileValidationEnabled: false,
      IsOrganizationTrail: false, tags: [], isLogging: false, createdMs: ctx.nowMs,
    };
    const trail = await this.apply(base, input, true);
    trail.tags = parseTags(input.TagsList);
    await this.checkQuota(trail, all);
    await this.save(trail);
    return trailWriteView(trail);
  }

  async updateTrail(ctx: CallContext, input: UpdateTrailRequest): Promise<UpdateTrailResponse> {
    const t = await this.resolveForChange(input.Name, ctx);
    const next = await this.apply(t, input, false);
    if (next.IsMultiRegionTrail && !t.IsMultiRegionTrail) await this.checkQuota(next, await this.all());
    await this.save(next);
    return trailWriteView(next);
  }

  async deleteTrail(ctx: CallContext, input: DeleteTrailRequest): Promise<DeleteTrailResponse> {
    const t = await this.resolveForChange(input.Name, ctx);
    await this.deps.store.delete(TRAIL_KIND, trailKey(t.accountId, t.HomeRegion, t.Name));
    // The trail is gone: that is the change, answered as done even when the cleanup below fails
    // (the store failing between two writes); delivery state left behind is ignored by a trail
    // created later under the same ARN (it carries trailCreatedMs).
    await Promise.allSettled([
      this.deps.store.delete(DELIVERY_STATE_KIND, t.TrailARN), this.deps.store.delete(NOTIFICATION_STATUS_KIND, t.TrailARN), this.deps.store.delete(DIGEST_STATUS_KIND, t.TrailARN),
    ]);
    return {};
  }

  async getTrail(ctx: CallContext, input: GetTrailRequest): Promise<GetTrailResponse> {
    return { Trail: trailView(await this.resolve(input.Name, ctx)) };
  }

  async describeTrails(ctx: CallContext, input: DescribeTrailsRequest): Promise<DescribeTrailsResponse> {
    const includeShadows = input.includeShadowTrails ?? true;
    const names = input.trailNameList;
    let trails = await this.visible(ctx);
    if (!includeShadows) trails = trails.filter((t) => !isShadow(t, ctx.accountId, ctx.region));
    if (names !== undefined && names.length > 0) {
      const wanted = new Set<string>();
      for (const n of names) {
        if (isArnLike(n)) {
          if (!parseTrailArn(n)) throw cloudTrailError('CloudTrailARNInvalidException', `${n} is not a valid trail ARN.`);
          wanted.add(n);
        } else {
          const problem = validateTrailName(n);
          if (problem) throw cloudTrailError('InvalidTrailNameException', problem);
          // A name matches only a trail homed in this account and region.
          wanted.add(trailArn(ctx.region, ctx.accountId, n));
        }
      }
      trails = trails.filter((t) => wanted.has(t.TrailARN));
    }
    return { trailList: trails.map(trailView) };
  }

  async listTrails(ctx: CallContext, input: ListTrailsRequest): Promise<ListTrailsResponse> {
    const trails = await this.visible(ctx);
    let start = 0;
    const token = input.NextToken;
    const binding = { accountId: ctx.accountId, region: ctx.region, query: 'ListTrails' };
    if (token !== undefined) {
      const pos = this.deps.tokens.decode(token, binding);
      if (!pos) throw cloudTrailError('InvalidTokenException', 'The NextToken is not valid.');
      start = pos.t;
    }
    const page = trails.slice(start, start + LIST_PAGE);
    const out: ListTrailsResponse = {
      Trails: page.map((t) => ({ TrailARN: t.TrailARN, Name: t.Name, HomeRegion: t.HomeRegion })),
    };
    if (start + LIST_PAGE < trails.length) out.NextToken = this.deps.tokens.encode({ t: start + LIST_PAGE, seq: 0 }, binding);
    return out;
  }

  async getTrailStatus(ctx: CallContext, input: GetTrailStatusRequest): Promise<GetTrailStatusResponse> {
    const t = await this.resolve(input.Name, ctx);
    const stored = await this.deps.store.get<DeliveryState>(DELIVERY_STATE_KIND, t.TrailARN);
    const d: DeliveryState = stored?.trailCreatedMs === t.createdMs ? stored : { cursor: 0 };
    // Notifications and CloudWatch Logs: after-delivery's own document (older data dirs: DeliveryState's fields).
    const status = await this.deps.store.get<NotificationStatus>(NOTIFICATION_STATUS_KIND, t.TrailARN);
    const n: Omit<NotificationStatus, 'trailCreatedMs'> = status?.trailCreatedMs === t.createdMs ? status : d;
    const digests = (await this.deps.store.get<DigestStatus>(DIGEST_STATUS_KIND, t.TrailARN)) ?? {};
    const iso = (ms: number | undefined) => (ms === undefined ? '' : formatEventTime(ms));
    const epoch = (name: string, ms: number | undefined) => (ms === undefined ? {} : { [name]: ms / 1000 });
    const text = (name: string, v: string | undefined) => (v === undefined ? {} : { [name]: v });
    return {
      IsLogging: t.isLogging,
      ...text('LatestDeliveryError', d.latestDeliveryError),
      ...text('LatestNotificationError', n.latestNotificationError),
      ...epoch('LatestDeliveryTime', d.latestDeliveryTimeMs),
      ...epoch('LatestNotificationTime', n.latestNotificationTimeMs),
      ...epoch('StartLoggingTime', t.startLoggingTimeMs),
      ...epoch('StopLoggingTime', t.stopLoggingTimeMs),
      ...text('LatestCloudWatchLogsDeliveryError', n.latestCloudWatchLogsDeliveryError),
      ...epoch('LatestCloudWatchLogsDeliveryTime', n.latestCloudWatchLogsDeliveryTimeMs),
      ...epoch('LatestDigestDeliveryTime', digests.latestDigestDeliveryTimeMs),
      ...text('LatestDigestDeliveryError', digests.latestDigestDeliveryError),
      LatestDeliveryAttemptTime: iso(d.latestDeliveryAttemptTimeMs),
      LatestNotificationAttemptTime: iso(n.latestNotificationAttemptTimeMs),
      LatestNotificationAttemptSucceeded: iso(n.latestNotificationTimeMs),
      LatestDeliveryAttemptSucceeded: iso(d.latestDeliveryTimeMs),
      TimeLoggingStarted: iso(t.startLoggingTimeMs),
      TimeLoggingStopped: iso(t.stopLoggingTimeMs),
    };
  }

  async startLogging(ctx: CallContext, input: StartLoggingRequest): Promise<StartLoggingResponse> {
    const t = await this.resolveForChange(input.Name, ctx);
    if (!t.isLogging) {
      const end = await this.deps.events.lastSeq();
      const next: TrailDoc = { ...t, isLogging: true, startLoggingTimeMs: ctx.nowMs };
      if (t.deliverAfterSeq === undefined) {
        next.deliverAfterSeq = end;
      } else if (t.deliverThroughSeq !== undefined && end > t.deliverThroughSeq) {
        // What arrived while stopped is never delivered; what came before the stop still is.
        const d = await this.deps.store.get<DeliveryState>(DELIVERY_STATE_KIND, t.TrailARN);
        const cursor = d?.trailCreatedMs === t.createdMs ? d.cursor : 0;
        next.skippedSeqs = [...(t.skippedSeqs ?? []).filter(([, through]) => through > cursor), [t.deliverThroughSeq, end]];
      }
      delete next.deliverThroughSeq;
      await this.save(next);
    }
    return {};
  }

  async stopLogging(ctx: CallContext, input: StopLoggingRequest): Promise<StopLoggingResponse> {
    const t = await this.resolveForChange(input.Name, ctx);
    if (t.isLogging) await this.save({ ...t, isLogging: false, stopLoggingTimeMs: ctx.nowMs, deliverThroughSeq: await this.deps.events.lastSeq() });
    return {};
  }

  async putEventSelectors(ctx: CallContext, input: PutEventSelectorsRequest): Promise<PutEventSelectorsResponse> {
    const t = await this.resolveForChange(input.TrailName, ctx, 'TrailName');
    const hasBasic = input.EventSelectors !== undefined;
    const hasAdvanced = input.AdvancedEventSelectors !== undefined;
    if (hasBasic && hasAdvanced) throw cloudTrailError('InvalidEventSelectorsException', BOTH_SELECTOR_KINDS_MESSAGE);
    if (!hasBasic && !hasAdvanced) throw cloudTrailError('InvalidEventSelectorsException', 'Specify EventSelectors or AdvancedEventSelectors.');
    const next: TrailDoc = { ...t };
    delete next.eventSelectors;
    delete next.advancedEventSelectors;
    if (hasBasic) {
      const r = validateEventSelectors(input.EventSelectors);
      if (!r.ok) throw cloudTrailError('InvalidEventSelectorsException', r.message);
      next.eventSelectors = r.value;
    } else {
      const r = validateAdvancedEventSelectors(input.AdvancedEventSelectors, 'trail');
      if (!r.ok) throw cloudTrailError('InvalidEventSelectorsException', r.message);
      next.advancedEventSelectors = r.value;
    }
    await this.save(next);
    return next.eventSelectors ? { TrailARN: t.TrailARN, EventSelectors: next.eventSelectors } : { TrailARN: t.TrailARN, AdvancedEventSelectors: next.advancedEventSelectors };
  }

  async getEventSelectors(ctx: CallContext, input: GetEventSelectorsRequest): Promise<GetEventSelectorsResponse> {
    const t = await this.resolve(input.TrailName, ctx, 'TrailName');
    if (t.advancedEventSelectors) return { TrailARN: t.TrailARN, AdvancedEventSelectors: t.advancedEventSelectors };
    return { TrailARN: t.TrailARN, EventSelectors: t.eventSelectors ?? DEFAULT_EVENT_SELECTORS };
  }

  async putInsightSelectors(ctx: CallContext, input: PutInsightSelectorsRequest): Promise<PutInsightSelectorsResponse> {
    if (input.EventDataStore !== undefined || input.InsightsDestination !== undefined) {
      throw new ServiceError('UnsupportedOperationException', 'Insights on event data stores are not supported by OpenTrail yet.', 400);
    }
    const t = await this.resolveForChange(input.TrailName, ctx, 'TrailName');
    const r = validateInsightSelectors(input.InsightSelectors);
    if (!r.ok) throw cloudTrailError('InvalidInsightSelectorsException', r.message);
    const next: TrailDoc = { ...t };
    if (r.value.length === 0) delete next.insightSelectors;
    else next.insightSelectors = r.value;
    await this.save(next);
    return { TrailARN: t.TrailARN, InsightSelectors: r.value };
  }

  async getInsightSelectors(ctx: CallContext, input: GetInsightSelectorsRequest): Promise<GetInsightSelectorsResponse> {
    if (input.EventDataStore !== undefined) {
      throw new ServiceError('UnsupportedOperationException', 'Insights on event data stores are not supported by OpenTrail yet.', 400);
    }
    const t = await this.resolve(input.TrailName, ctx, 'TrailName');
    if (!t.insightSelectors || t.insightSelectors.length === 0) {
      throw cloudTrailError('InsightNotEnabledException', `Trail ${t.TrailARN} does not have Insights enabled. Enable Insights on the trail, and then try the operation again.`);
    }
    return { TrailARN: t.TrailARN, InsightSelectors: t.insightSelectors };
  }

  /** Tags of a trail the caller sees (ListTags), or undefined when it sees none by that ARN. */
  async tagsOf(arn: string, ctx: CallContext): Promise<TrailDoc | undefined> {
    const a = parseTrailArn(arn);
    if (!a) return undefined;
    const t = await this.deps.store.get<TrailDoc>(TRAIL_KIND, trailKey(a.accountId, a.region, a.name));
    return t && isVisible(t, ctx.accountId, ctx.region, this.deps.organization) ? t : undefined;
  }

  /** Replaces a trail's tags (AddTags/RemoveTags): owner only, from the home region. */
  async setTags(arn: string, ctx: CallContext, change: (tags: TrailDoc['tags']) => TrailDoc['tags']): Promise<boolean> {
    const t = await this.tagsOf(arn, ctx);
    if (!t) return false;
    if (t.accountId !== ctx.accountId || t.HomeRegion !== ctx.region) {
      throw cloudTrailError('InvalidHomeRegionException', `Tags of ${arn} can be changed only from its home region ${t.HomeRegion} by its owner.`);
    }
    await this.save({ ...t, tags: change(t.tags) });
    return true;
  }
}
