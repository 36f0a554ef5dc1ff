/**
 * Channels (CreateChannel, GetChannel, ListChannels, UpdateChannel, DeleteChannel): the
 * PutAuditEvents entry points of an account and region.
 */
import { cloudTrailError } from '../../aws/errors.ts';
import type {
  CreateChannelRequest, CreateChannelResponse, DeleteChannelRequest, DeleteChannelResponse, Destination, GetChannelRequest, GetChannelResponse,
  IngestionStatus, ListChannelsRequest, ListChannelsResponse, Tag, UpdateChannelRequest, UpdateChannelResponse,
} from '../../aws/protocol/index.ts';
import { buildArn, CHANNEL_KIND, EVENT_DATA_STORE_KIND, eventDataStoreKey, parseResourceArn, type EventDataStoreDoc, type IdSource } from '../../core/index.ts';
import type { ControlStore } from '../../stores/index.ts';
import type { CallContext } from '../context.ts';

/** A channel as stored: its CloudTrail members (generated types) and its owner. */
export interface ChannelDoc {
  ChannelArn: string;
  Name: string;
  Source: string;
  Destinations: Destination[];
  Tags: Tag[];
  accountId: string;
  region: string;
  IngestionStatus: IngestionStatus;
}

export { CHANNEL_KIND };
export const MAX_CHANNELS_PER_REGION = 25;
const CHANNEL_ID = /^[A-Za-z0-9-]{1,128}$/;


function channelKey(accountId: string, region: string, id: string): string {
  return `${accountId}/${region}/${id}`;
}

/** Resolves a channel ARN or id to its store key, in the caller's account and region by default. */
export function parseChannelRef(ref: string, ctx: { accountId: string; region: string }): { accountId: string; region: string; id: string } {
  const a = parseResourceArn(ref, 'cloudtrail', 'channel');
  if (a && CHANNEL_ID.test(a.id)) return { region: a.region, accountId: a.accountId, id: a.id };
  if (CHANNEL_ID.test(ref)) return { accountId: ctx.accountId, region: ctx.region, id: ref };
  throw cloudTrailError('ChannelARNInvalidException', `The specified channel ARN is not valid: ${ref}`);
}

const EDS_ARN = /^arn:aws[a-z-]*:cloudtrail:([a-z0-9-]+):(\d{12}):eventdatastore\/([A-Za-z0-9-]{1,128})$/;
const EDS_ID = /^[A-Za-z0-9-]{1,128}$/;

/**
 * An EVENT_DATA_STORE destination must name an event data store of the caller's account and Region
 * (its ARN or id) that takes channel events (eventCategory ActivityAuditLog) and is not pending
 * deletion: EventDataStoreARNInvalidException for a malformed or another account's ARN,
 * EventDataStoreNotFoundException when there is no such store, InvalidEventDataStoreCategoryException
 * for a store of CloudTrail events, InactiveEventDataStoreException for one pending deletion.
 */
async function checkEventDataStore(store: ControlStore, location: string, ctx: { accountId: string; region: string }): Promise<void> {
  const invalid = () => cloudTrailError('EventDataStoreARNInvalidException', `The specified event data store ARN is not valid or does not map to an event data store in your account: ${location}`);
  let id: string;
  if (location.startsWith('arn:')) {
    const m = EDS_ARN.exec(location);
    if (!m || m[2] !== ctx.accountId) throw invalid();
    if (m[1] !== ctx.region) throw cloudTrailError('EventDataStoreNotFoundException', `The specified event data store ${location} was not found.`);
    id = m[3]!;
  } else {
    if (!EDS_ID.test(location)) throw invalid();
    id = location;
  }
  const s = await store.get<EventDataStoreDoc>(EVENT_DATA_STORE_KIND, eventDataStoreKey(ctx.accountId, id));
  if (!s || s.region !== ctx.region) throw cloudTrailError('EventDataStoreNotFoundException', `The specified event data store ${location} was not found.`);
  if (s.Status === 'PENDING_DELETION') throw cloudTrailError('InactiveEventDataStoreException', `The event data store ${s.EventDataStoreArn} is pending deletion.`);
  const takesChannelEvents = s.AdvancedEventSelectors.some((sel) => sel.FieldSelectors.some((f) => f.Field === 'eventCategory' && f.Equals?.includes('ActivityAuditLog')));
  if (!takesChannelEvents) {
    throw cloudTrailError('InvalidEventDataStoreCategoryException', `The event data store ${s.EventDataStoreArn} does not take channel events: its advanced event selectors must select eventCategory ActivityAuditLog.`);
  }
}

/** Destinations as the model checked them (types, 1 to 200, Location's form), and whose event data stores are the caller's. */
async function parseDestinations(store: ControlStore, v: readonly Destination[], ctx: { accountId: string; region: string }): Promise<Destination[]> {
  const out: Destination[] = [];
  for (const { Type, Location } of v) {
    if (Type === 'EVENT_DATA_STORE') await checkEventDataStore(store, Location, ctx);
    out.push({ Type, Location });
  }
  return out;
}

function publicView(c: ChannelDoc): Required<Pick<GetChannelResponse, 'ChannelArn' | 'Name' | 'Source' | 'Destinations'>> {
  return { ChannelArn: c.ChannelArn, Name: c.Name, Source: c.Source, Destinations: c.Destinations };
}

export class ChannelService {
  private readonly store: ControlStore;
  private readonly ids: IdSource;

  constructor(store: ControlStore, ids: IdSource) {
    this.store = store;
    this.ids = ids;
  }

  private async inRegion(ctx: CallContext): Promise<ChannelDoc[]> {
    return (await this.store.list<ChannelDoc>(CHANNEL_KIND, `${ctx.accountId}/${ctx.region}/`)).map((r) => r.doc);
  }

  /**
   * The caller's channel a reference names, in the caller's account and region. Anything else
   * (another account's or region's channel, or none) is ChannelNotFoundException with one message
   * that names only what the caller sent; another account's channels are never looked up, so
   * neither the answer nor its timing says whether they exist.
   */
  async resolve(ref: string, ctx: { accountId: string; region: string }): Promise<ChannelDoc> {
    const r = parseChannelRef(ref, ctx);
    const notFound = () => cloudTrailError('ChannelNotFoundException', `Channel ${String(ref)} not found.`);
    if (r.accountId !== ctx.accountId || r.region !== ctx.region) throw notFound();
    const c = await this.store.get<ChannelDoc>(CHANNEL_KIND, channelKey(r.accountId, r.region, r.id));
    if (!c || c.accountId !== ctx.accountId || c.region !== ctx.region) throw notFound();
    return c;
  }

  private async own(ref: string, ctx: CallContext): Promise<ChannelDoc> {
    return this.resolve(ref, ctx);
  }

  async createChannel(ctx: CallContext, input: CreateChannelRequest): Promise<CreateChannelResponse> {
    const { Name, Source } = input;
    const Destinations = await parseDestinations(this.store, input.Destinations, ctx);
    const Tags = (input.Tags ?? []).map(({ Key, Value }) => (Value === undefined ? { Key } : { Key, Value }));
    const existing = await this.inRegion(ctx);
    if (existing.some((c) => c.Name === Name)) throw cloudTrailError('ChannelAlreadyExistsException', `A channel named ${Name} already exists.`);
    if (Source !== 'Custom' && existing.some((c) => c.Source === Source)) throw cloudTrailError('ChannelAlreadyExistsException', `A channel for source ${Source} already exists.`);
    if (existing.length >= MAX_CHANNELS_PER_REGION) throw cloudTrailError('ChannelMaxLimitExceededException', `An account can have at most ${MAX_CHANNELS_PER_REGION} channels per region.`);
    const id = this.ids.uuid();
    const channel: ChannelDoc = {
      ChannelArn: buildArn({ service: 'cloudtrail', region: ctx.region, accountId: ctx.accountId, resource: `channel/${id}` }),
      Name, Source, Destinations, Tags, accountId: ctx.accountId, region: ctx.region, IngestionStatus: {},
    };
    await this.store.put(CHANNEL_KIND, channelKey(ctx.accountId, ctx.region, id), channel);
    return { ...publicView(channel), Tags };
  }

  async getChannel(ctx: CallContext, input: GetChannelRequest): Promise<GetChannelResponse> {
    const c = await this.own(input.Channel, ctx);
    return { ...publicView(c), SourceConfig: { ApplyToAllRegions: false, AdvancedEventSelectors: [] }, IngestionStatus: c.IngestionStatus };
  }

  async listChannels(ctx: CallContext, input: ListChannelsRequest): Promise<ListChannelsResponse> {
    const max = input.MaxResults ?? 1000;
    const all = await this.inRegion(ctx);
    let start = 0;
    if (input.NextToken !== undefined) {
      const at = all.findIndex((c) => c.ChannelArn === input.NextToken);
      if (at < 0) throw cloudTrailError('InvalidNextTokenException', 'The NextToken is not valid.');
      start = at;
    }
    const page = all.slice(start, start + max);
    const next = all[start + max];
    return { Channels: page.map((c) => ({ ChannelArn: c.ChannelArn, Name: c.Name })), ...(next ? { NextToken: next.ChannelArn } : {}) };
  }

  async updateChannel(ctx: CallContext, input: UpdateChannelRequest): Promise<UpdateChannelResponse> {
    const c = await this.own(input.Channel, ctx);
    const next: ChannelDoc = { ...c };
    if (input.Name !== undefined) {
      if (input.Name !== c.Name && (await this.inRegion(ctx)).some((o) => o.Name === input.Name)) throw cloudTrailError('ChannelAlreadyExistsException', `A channel named ${input.Name} already exists.`);
      next.Name = input.Name;
    }
    if (input.Destinations !== undefined) next.Destinations = await parseDestinations(this.store, input.Destinations, c);
    await this.store.put(CHANNEL_KIND, channelKey(c.accountId, c.region, c.ChannelArn.split('/').pop()!), next);
    return publicView(next);
  }

  async deleteChannel(ctx: CallContext, input: DeleteChannelRequest): Promise<DeleteChannelResponse> {
    const c = await this.own(input.Channel, ctx);
    await this.store.delete(CHANNEL_KIND, channelKey(c.accountId, c.region, c.ChannelArn.split('/').pop()!));
    return {};
  }

  /** Replaces a channel's tags (AddTags/RemoveTags); the caller must own it. */
  async setTags(ref: string, ctx: CallContext, change: (tags: ChannelDoc['Tags']) => ChannelDoc['Tags']): Promise<void> {
    const c = await this.own(ref, ctx);
    await this.store.put(CHANNEL_KIND, channelKey(c.accountId, c.region, c.ChannelArn.split('/').pop()!), { ...c, Tags: change(c.Tags) });
  }

  /** The channel's tags, for ListTags. */
  async tagsOf(ref: string, ctx: CallContext): Promise<ChannelDoc['Tags']> {
    return (await this.own(ref, ctx)).Tags;
  }

  /** Records the outcome of a PutAuditEvents call on the channel's IngestionStatus. */
  async recordIngestion(c: ChannelDoc, status: IngestionStatus): Promise<void> {
    const key = channelKey(c.accountId, c.region, c.ChannelArn.split('/').pop()!);
    const current = await this.store.get<ChannelDoc>(CHANNEL_KIND, key);
    if (!current) return;
    current.IngestionStatus = { ...current.IngestionStatus, ...status };
    await this.store.put(CHANNEL_KIND, key, current);
  }
}
