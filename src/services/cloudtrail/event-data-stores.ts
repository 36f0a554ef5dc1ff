/**
 * Event data stores (CloudTrail Lake's control plane): Create/Get/Update/Delete/Restore/List,
 * Start/StopEventDataStoreIngestion and Put/GetEventConfiguration, with AWS's defaults, statuses and
 * errors. A store is a control document (src/core/event-data-store.ts); its ingestion (src/lake/ingest)
 * reads the documents, and deletes a store's files once its 7 days of PENDING_DELETION are over.
 *
 * Changes take effect at once: where AWS passes through STARTING_INGESTION / STOPPING_INGESTION,
 * the next Get already answers ENABLED / STOPPED_INGESTION (docs/compatibility.md).
 */
import { cloudTrailError } from '../../aws/errors.ts';
import type {
  CreateEventDataStoreRequest, CreateEventDataStoreResponse, DeleteEventDataStoreRequest, DeleteEventDataStoreResponse, EventDataStore,
  GetEventConfigurationRequest, GetEventConfigurationResponse, GetEventDataStoreRequest, GetEventDataStoreResponse, ListEventDataStoresRequest,
  ListEventDataStoresResponse, PutEventConfigurationRequest, PutEventConfigurationResponse, RestoreEventDataStoreRequest, RestoreEventDataStoreResponse,
  StartEventDataStoreIngestionRequest, StartEventDataStoreIngestionResponse, StopEventDataStoreIngestionRequest, StopEventDataStoreIngestionResponse,
  UpdateEventDataStoreRequest, UpdateEventDataStoreResponse,
} from '../../aws/protocol/index.ts';
import {
  buildArn, EVENT_DATA_STORE_KIND, eventDataStoreKey, LAKE_INGEST_STATE_KIND, parseResourceArn, validateAdvancedEventSelectors,
  type AdvancedEventSelector, type EventDataStoreDoc, type IdSource, type LakeIngestState, type OrganizationConfig, type Tag,
} from '../../core/index.ts';
import type { ControlStore, EventStore } from '../../stores/index.ts';
import type { CallContext } from '../context.ts';
import { CHANNEL_KIND, type ChannelDoc } from './channels.ts';
import { kmsKeyArn, parseTags, requireManagementAccount } from './trail-params.ts';

/** AWS's quota of event data stores per account and Region (PENDING_DELETION ones count). */
export const MAX_EVENT_DATA_STORES_PER_REGION = 10;
export const MAX_EDS_ADVANCED_SELECTORS = 5;
/** Retention AWS gives a store created without RetentionPeriod, by billing mode. */
export const DEFAULT_RETENTION_DAYS = { EXTENDABLE_RETENTION_PRICING: 366, FIXED_RETENTION_PRICING: 2557 } as const;
const MAX_RETENTION_DAYS = { EXTENDABLE_RETENTION_PRICING: 3653, FIXED_RETENTION_PRICING: 2557 } as const;

/** The selectors AWS gives a store created without AdvancedEventSelectors: every management event. */
export function defaultLakeSelectors(): AdvancedEventSelector[] {
  return [{ Name: 'Default management events', FieldSelectors: [{ Field: 'eventCategory', Equals: ['Management'] }] }];
}

/** Categories of CloudTrail events (the ones a store ingests from the log and that ingestion can start and stop). */
const CLOUDTRAIL_CATEGORIES = new Set(['Management', 'Data', 'NetworkActivity', 'Insight']);

function categoriesOf(s: Pick<EventDataStoreDoc, 'AdvancedEventSelectors'>): Set<string> {
  const out = new Set<string>();
  for (const sel of s.AdvancedEventSelectors) for (const f of sel.FieldSelectors) if (f.Field === 'eventCategory') for (const v of f.Equals ?? []) out.add(v);
  return out;
}

/** Whether a store takes CloudTrail events (not only events of integrations, Config or evidence). */
export function takesCloudTrailEvents(s: Pick<EventDataStoreDoc, 'AdvancedEventSelectors'>): boolean {
  return [...categoriesOf(s)].some((c) => CLOUDTRAIL_CATEGORIES.has(c));
}

/** Whether a store takes channel events (PutAuditEvents): a channel may name it as a destination. */
export function takesChannelEvents(s: Pick<EventDataStoreDoc, 'AdvancedEventSelectors'>): boolean {
  return categoriesOf(s).has('ActivityAuditLog');
}

const STORE_ID = /^[A-Za-z0-9-]{1,128}$/;

/**
 * The store key an event data store reference names: its ARN or the id at its end, in the caller's
 * account and Region. Undefined when it names another account's or Region's store (answered as not
 * found); EventDataStoreARNInvalidException when it is neither form.
 */
export function parseEventDataStoreRef(ref: string, ctx: { accountId: string; region: string }): { accountId: string; storeId: string } | undefined {
  if (ref.startsWith('arn:')) {
    const a = parseResourceArn(ref, 'cloudtrail', 'eventdatastore');
    if (!a || !STORE_ID.test(a.id)) throw cloudTrailError('EventDataStoreARNInvalidException', `The specified event data store ARN is not valid or does not map to an event data store in your account: ${ref}`);
    if (a.accountId !== ctx.accountId || a.region !== ctx.region) return undefined;
    return { accountId: a.accountId, storeId: a.id };
  }
  if (!STORE_ID.test(ref)) throw cloudTrailError('EventDataStoreARNInvalidException', `The specified event data store ARN is not valid or does not map to an event data store in your account: ${ref}`);
  return { accountId: ctx.accountId, storeId: ref };
}

export interface EventDataStoreServiceDeps {
  store: ControlStore;
  events: Pick<EventStore, 'lastSeq'>;
  ids: IdSource;
  organization?: OrganizationConfig;
}

type StoreView = Required<Pick<GetEventDataStoreResponse,
  'EventDataStoreArn' | 'Name' | 'Status' | 'AdvancedEventSelectors' | 'MultiRegionEnabled' | 'OrganizationEnabled' | 'RetentionPeriod' |
  'TerminationProtectionEnabled' | 'CreatedTimestamp' | 'UpdatedTimestamp' | 'BillingMode'>> & Pick<GetEventDataStoreResponse, 'KmsKeyId'>;

function view(s: EventDataStoreDoc): StoreView {
  return {
    EventDataStoreArn: s.EventDataStoreArn, Name: s.Name, Status: s.Status, AdvancedEventSelectors: s.AdvancedEventSelectors,
    MultiRegionEnabled: s.MultiRegionEnabled, OrganizationEnabled: s.OrganizationEnabled, RetentionPeriod: s.RetentionPeriod,
    TerminationProtectionEnabled: s.TerminationProtectionEnabled, CreatedTimestamp: s.createdMs / 1000, UpdatedTimestamp: s.updatedMs / 1000,
    BillingMode: s.BillingMode, ...(s.KmsKeyId !== undefined ? { KmsKeyId: s.KmsKeyId } : {}),
  };
}

export class EventDataStoreService {
  private readonly deps: EventDataStoreServiceDeps;

  constructor(deps: EventDataStoreServiceDeps) {
    this.deps = deps;
  }

  private notFound(ref: string) {
    return cloudTrailError('EventDataStoreNotFoundException', `The specified event data store ${ref} was not found.`);
  }

  /** The caller's stores in its Region, in key order. */
  async inRegion(ctx: { accountId: string; region: string }): Promise<EventDataStoreDoc[]> {
    return (await this.deps.store.list<EventDataStoreDoc>(EVENT_DATA_STORE_KIND, `${ctx.accountId}/`)).map((r) => r.doc).filter((s) => s.region === ctx.region);
  }

  /** The caller's store a reference names; another account's or Region's, or none, is EventDataStoreNotFoundException. */
  async resolve(ref: string, ctx: { accountId: string; region: string }): Promise<EventDataStoreDoc> {
    const k = parseEventDataStoreRef(ref, ctx);
    if (!k) throw this.notFound(ref);
    const s = await this.deps.store.get<EventDataStoreDoc>(EVENT_DATA_STORE_KIND, eventDataStoreKey(k.accountId, k.storeId));
    if (!s || s.accountId !== ctx.accountId || s.region !== ctx.region) throw this.notFound(ref);
    return s;
  }

  /** A store that is not PENDING_DELETION (InactiveEventDataStoreException otherwise). */
  private async active(ref: string, ctx: CallContext): Promise<EventDataStoreDoc> {
    const s = await this.resolve(ref, ctx);
    if (s.Status === 'PENDING_DELETION') throw cloudTrailError('InactiveEventDataStoreException', `The event data store ${s.EventDataStoreArn} is pending deletion.`);
    return s;
  }

  private save(s: EventDataStoreDoc): Promise<void> {
    return this.deps.store.put(EVENT_DATA_STORE_KIND, eventDataStoreKey(s.accountId, s.storeId), s);
  }

  private checkOrganization(accountId: string): void {
    requireManagementAccount(this.deps.organization, accountId, 'organization event data stores');
  }

  private selectors(input: unknown): AdvancedEventSelector[] {
    const r = validateAdvancedEventSelectors(input, 'eventDataStore');
    if (!r.ok) throw cloudTrailError('InvalidEventSelectorsException', r.message);
    if (r.value.length > MAX_EDS_ADVANCED_SELECTORS) throw cloudTrailError('InvalidEventSelectorsException', `An event data store can have at most ${MAX_EDS_ADVANCED_SELECTORS} advanced event selectors.`);
    return r.value;
  }

  private retention(days: number, mode: EventDataStoreDoc['BillingMode']): number {
    const max = MAX_RETENTION_DAYS[mode];
    if (!Number.isInteger(days) || days < 7 || days > max) {
      throw cloudTrailError('InvalidParameterException', `RetentionPeriod must be a whole number of days from 7 to ${max} for BillingMode ${mode}: ${days}.`);
    }
    return days;
  }

  async createEventDataStore(ctx: CallContext, input: CreateEventDataStoreRequest): Promise<CreateEventDataStoreResponse> {
    const BillingMode = input.BillingMode ?? 'EXTENDABLE_RETENTION_PRICING';
    const RetentionPeriod = this.retention(input.RetentionPeriod ?? DEFAULT_RETENTION_DAYS[BillingMode], BillingMode);
    const AdvancedEventSelectors = input.AdvancedEventSelectors === undefined ? defaultLakeSelectors() : this.selectors(input.AdvancedEventSelectors);
    const OrganizationEnabled = input.OrganizationEnabled ?? false;
    if (OrganizationEnabled) this.checkOrganization(ctx.accountId);
    const TagsList: Tag[] = parseTags(input.TagsList);
    const KmsKeyId = input.KmsKeyId === undefined ? undefined : kmsKeyArn(input.KmsKeyId, ctx.region, ctx.accountId);
    const existing = await this.inRegion(ctx);
    if (existing.some((s) => s.Name === input.Name)) throw cloudTrailError('EventDataStoreAlreadyExistsException', `An event data store named ${input.Name} already exists.`);
    if (existing.length >= MAX_EVENT_DATA_STORES_PER_REGION) {
      throw cloudTrailError('EventDataStoreMaxLimitExceededException', `An account can have at most ${MAX_EVENT_DATA_STORES_PER_REGION} event data stores per Region (stores pending deletion count).`);
    }
    const storeId = this.deps.ids.uuid();
    const start = input.StartIngestion ?? true;
    const s: EventDataStoreDoc = {
      EventDataStoreArn: buildArn({ service: 'cloudtrail', region: ctx.region, accountId: ctx.accountId, resource: `eventdatastore/${storeId}` }),
      Name: input.Name, Status: start ? 'ENABLED' : 'STOPPED_INGESTION', AdvancedEventSelectors,
      MultiRegionEnabled: input.MultiRegionEnabled ?? true, OrganizationEnabled, RetentionPeriod,
      TerminationProtectionEnabled: input.TerminationProtectionEnabled ?? true, BillingMode, TagsList,
      ...(KmsKeyId !== undefined ? { KmsKeyId } : {}),
      accountId: ctx.accountId, region: ctx.region, storeId, createdMs: ctx.nowMs, updatedMs: ctx.nowMs,
      isIngesting: start,
      // Live events from now on: what the log holds already is not the store's (imports bring the past).
      ingestAfterSeq: await this.deps.events.lastSeq(),
    };
    if (!start) s.ingestThroughSeq = s.ingestAfterSeq;
    await this.save(s);
    // AWS answers CREATED; the store is ENABLED (or STOPPED_INGESTION) from the next call on.
    return { ...view(s), Status: 'CREATED', TagsList };
  }

  async getEventDataStore(ctx: CallContext, input: GetEventDataStoreRequest): Promise<GetEventDataStoreResponse> {
    return view(await this.resolve(input.EventDataStore, ctx));
  }

  async listEventDataStores(ctx: CallContext, input: ListEventDataStoresRequest): Promise<ListEventDataStoresResponse> {
    const max = input.MaxResults ?? 1000;
    const all = await this.inRegion(ctx);
    let start = 0;
    if (input.NextToken !== undefined) {
      start = all.findIndex((s) => s.storeId === input.NextToken);
      if (start < 0) throw cloudTrailError('InvalidNextTokenException', 'The NextToken is not valid.');
    }
    const page = all.slice(start, start + max);
    const next = all[start + max];
    const EventDataStores: EventDataStore[] = page.map((s) => {
      const v: Partial<StoreView> = view(s);
      delete v.KmsKeyId;
      delete v.BillingMode;
      return v as EventDataStore;
    });
    return { EventDataStores, ...(next ? { NextToken: next.storeId } : {}) };
  }

  async updateEventDataStore(ctx: CallContext, input: UpdateEventDataStoreRequest): Promise<UpdateEventDataStoreResponse> {
    const { EventDataStore: ref, ...changes } = input;
    if (Object.values(changes).every((v) => v === undefined)) {
      throw cloudTrailError('InvalidParameterException', 'Specify at least one of Name, AdvancedEventSelectors, MultiRegionEnabled, OrganizationEnabled, RetentionPeriod, TerminationProtectionEnabled, KmsKeyId or BillingMode.');
    }
    const s = await this.active(ref, ctx);
    const next: EventDataStoreDoc = { ...s, updatedMs: ctx.nowMs };
    if (input.BillingMode !== undefined && input.BillingMode !== s.BillingMode) {
      if (input.BillingMode === 'FIXED_RETENTION_PRICING') throw cloudTrailError('InvalidParameterException', 'The billing mode of an event data store cannot change from EXTENDABLE_RETENTION_PRICING to FIXED_RETENTION_PRICING.');
      next.BillingMode = input.BillingMode;
    }
    if (input.RetentionPeriod !== undefined) next.RetentionPeriod = this.retention(input.RetentionPeriod, next.BillingMode);
    if (input.AdvancedEventSelectors !== undefined) {
      const sel = this.selectors(input.AdvancedEventSelectors);
      if (takesCloudTrailEvents(s) !== takesCloudTrailEvents({ AdvancedEventSelectors: sel })) {
        throw cloudTrailError('InvalidEventSelectorsException', 'The event categories of an event data store cannot change between CloudTrail events and events of other sources.');
      }
      next.AdvancedEventSelectors = sel;
    }
    if (input.OrganizationEnabled !== undefined && input.OrganizationEnabled !== s.OrganizationEnabled) this.checkOrganization(ctx.accountId);
    if (input.OrganizationEnabled !== undefined) next.OrganizationEnabled = input.OrganizationEnabled;
    if (input.MultiRegionEnabled !== undefined) next.MultiRegionEnabled = input.MultiRegionEnabled;
    if (input.TerminationProtectionEnabled !== undefined) next.TerminationProtectionEnabled = input.TerminationProtectionEnabled;
    if (input.KmsKeyId !== undefined) {
      const arn = kmsKeyArn(input.KmsKeyId, s.region, s.accountId);
      if (s.KmsKeyId !== undefined && s.KmsKeyId !== arn) throw cloudTrailError('InvalidParameterException', 'The KMS key of an event data store cannot change once it is set.');
      next.KmsKeyId = arn;
    }
    if (input.Name !== undefined && input.Name !== s.Name) {
      if ((await this.inRegion(ctx)).some((o) => o.Name === input.Name)) throw cloudTrailError('EventDataStoreAlreadyExistsException', `An event data store named ${input.Name} already exists.`);
      next.Name = input.Name;
    }
    await this.save(next);
    return view(next);
  }

  async deleteEventDataStore(ctx: CallContext, input: DeleteEventDataStoreRequest): Promise<DeleteEventDataStoreResponse> {
    const s = await this.active(input.EventDataStore, ctx);
    if (s.TerminationProtectionEnabled) {
      throw cloudTrailError('EventDataStoreTerminationProtectedException', `The event data store ${s.EventDataStoreArn} cannot be deleted because termination protection is enabled.`);
    }
    const channels = (await this.deps.store.list<ChannelDoc>(CHANNEL_KIND, `${s.accountId}/`)).map((r) => r.doc);
    const arnOf = (loc: string) => (loc.startsWith('arn:') ? loc : buildArn({ service: 'cloudtrail', region: s.region, accountId: s.accountId, resource: `eventdatastore/${loc}` }));
    const holder = channels.find((c) => c.Destinations.some((d) => d.Type === 'EVENT_DATA_STORE' && arnOf(d.Location) === s.EventDataStoreArn));
    if (holder) throw cloudTrailError('ChannelExistsForEDSException', `The event data store ${s.EventDataStoreArn} is the destination of channel ${holder.ChannelArn}: remove it from the channel first.`);
    const next: EventDataStoreDoc = { ...s, Status: 'PENDING_DELETION', statusBeforeDeletion: s.Status === 'ENABLED' ? 'ENABLED' : 'STOPPED_INGESTION', pendingSinceMs: ctx.nowMs, updatedMs: ctx.nowMs };
    if (s.isIngesting) await this.stop(next);
    await this.save(next);
    return {};
  }

  async restoreEventDataStore(ctx: CallContext, input: RestoreEventDataStoreRequest): Promise<RestoreEventDataStoreResponse> {
    const s = await this.resolve(input.EventDataStore, ctx);
    if (s.Status !== 'PENDING_DELETION') throw cloudTrailError('InvalidEventDataStoreStatusException', `The event data store ${s.EventDataStoreArn} is ${s.Status}: only a store pending deletion can be restored.`);
    const next: EventDataStoreDoc = { ...s, Status: s.statusBeforeDeletion ?? 'ENABLED', updatedMs: ctx.nowMs };
    delete next.statusBeforeDeletion;
    delete next.pendingSinceMs;
    if (next.Status === 'ENABLED') await this.start(next);
    await this.save(next);
    return view(next);
  }

  /** Ingestion starts again: what arrived while it was stopped is skipped, what came before the stop is still ingested. */
  private async start(next: EventDataStoreDoc): Promise<void> {
    const end = await this.deps.events.lastSeq();
    if (next.ingestThroughSeq !== undefined && end > next.ingestThroughSeq) {
      const st = await this.deps.store.get<LakeIngestState>(LAKE_INGEST_STATE_KIND, eventDataStoreKey(next.accountId, next.storeId));
      const cursor = st?.storeCreatedMs === next.createdMs ? st.cursor : 0;
      next.skippedSeqs = [...(next.skippedSeqs ?? []).filter(([, through]) => through > cursor), [next.ingestThroughSeq, end]];
    }
    delete next.ingestThroughSeq;
    next.isIngesting = true;
  }

  private async stop(next: EventDataStoreDoc): Promise<void> {
    next.isIngesting = false;
    next.ingestThroughSeq = await this.deps.events.lastSeq();
  }

  private checkCloudTrailStore(s: EventDataStoreDoc): void {
    if (!takesCloudTrailEvents(s)) {
      throw cloudTrailError('InvalidEventDataStoreCategoryException', `The event data store ${s.EventDataStoreArn} does not collect CloudTrail events: its ingestion follows its channels.`);
    }
  }

  async startEventDataStoreIngestion(ctx: CallContext, input: StartEventDataStoreIngestionRequest): Promise<StartEventDataStoreIngestionResponse> {
    const s = await this.resolve(input.EventDataStore, ctx);
    this.checkCloudTrailStore(s);
    if (s.Status !== 'STOPPED_INGESTION') throw cloudTrailError('InvalidEventDataStoreStatusException', `The event data store ${s.EventDataStoreArn} is ${s.Status}: ingestion can start only when it is STOPPED_INGESTION.`);
    const next: EventDataStoreDoc = { ...s, Status: 'ENABLED', updatedMs: ctx.nowMs };
    await this.start(next);
    await this.save(next);
    return {};
  }

  async stopEventDataStoreIngestion(ctx: CallContext, input: StopEventDataStoreIngestionRequest): Promise<StopEventDataStoreIngestionResponse> {
    const s = await this.resolve(input.EventDataStore, ctx);
    this.checkCloudTrailStore(s);
    if (s.Status !== 'ENABLED') throw cloudTrailError('InvalidEventDataStoreStatusException', `The event data store ${s.EventDataStoreArn} is ${s.Status}: ingestion can stop only when it is ENABLED.`);
    const next: EventDataStoreDoc = { ...s, Status: 'STOPPED_INGESTION', updatedMs: ctx.nowMs };
    await this.stop(next);
    await this.save(next);
    return {};
  }

  /** Put/GetEventConfiguration name an event data store (OpenTrail has no event configuration of trails). */
  private async configured(ctx: CallContext, input: { TrailName?: string; EventDataStore?: string }): Promise<EventDataStoreDoc> {
    if (input.TrailName !== undefined && input.EventDataStore !== undefined) {
      throw cloudTrailError('InvalidParameterCombinationException', 'Specify either TrailName or EventDataStore, not both.');
    }
    if (input.TrailName !== undefined) throw cloudTrailError('UnsupportedOperationException', 'OpenTrail keeps event configuration for event data stores only, not for trails.');
    if (input.EventDataStore === undefined) throw cloudTrailError('InvalidParameterException', 'Specify the EventDataStore.');
    return this.resolve(input.EventDataStore, ctx);
  }

  async putEventConfiguration(ctx: CallContext, input: PutEventConfigurationRequest): Promise<PutEventConfigurationResponse> {
    const s = await this.configured(ctx, input);
    if (s.Status === 'PENDING_DELETION') throw cloudTrailError('InactiveEventDataStoreException', `The event data store ${s.EventDataStoreArn} is pending deletion.`);
    this.checkCloudTrailStore(s);
    if (input.AggregationConfigurations !== undefined) throw cloudTrailError('InvalidParameterException', 'AggregationConfigurations apply to trails, not to event data stores.');
    const maxEventSize = input.MaxEventSize ?? s.maxEventSize ?? 'Standard';
    const contextKeySelectors = input.ContextKeySelectors ?? s.contextKeySelectors ?? [];
    const types = new Set<string>();
    for (const c of contextKeySelectors) {
      if (types.has(c.Type)) throw cloudTrailError('InvalidParameterException', `ContextKeySelectors may name the type ${c.Type} once.`);
      types.add(c.Type);
    }
    if (contextKeySelectors.length > 0 && maxEventSize !== 'Large') throw cloudTrailError('InvalidParameterException', 'MaxEventSize must be Large when ContextKeySelectors are set.');
    const next: EventDataStoreDoc = { ...s, maxEventSize, contextKeySelectors: contextKeySelectors.map((c) => ({ Type: c.Type, Equals: [...c.Equals] })), updatedMs: ctx.nowMs };
    await this.save(next);
    return { EventDataStoreArn: s.EventDataStoreArn, MaxEventSize: maxEventSize, ContextKeySelectors: next.contextKeySelectors };
  }

  async getEventConfiguration(ctx: CallContext, input: GetEventConfigurationRequest): Promise<GetEventConfigurationResponse> {
    const s = await this.configured(ctx, input);
    return { EventDataStoreArn: s.EventDataStoreArn, MaxEventSize: s.maxEventSize ?? 'Standard', ContextKeySelectors: s.contextKeySelectors ?? [] };
  }

  /** Replaces a store's tags (AddTags/RemoveTags). */
  async setTags(ref: string, ctx: CallContext, change: (tags: Tag[]) => Tag[]): Promise<void> {
    const s = await this.active(ref, ctx);
    await this.save({ ...s, TagsList: change(s.TagsList) });
  }

  /** A store's tags (ListTags). */
  async tagsOf(ref: string, ctx: CallContext): Promise<Tag[]> {
    return (await this.active(ref, ctx)).TagsList;
  }
}
