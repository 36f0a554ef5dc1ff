/** AddTags, RemoveTags and ListTags over trails, channels and event data stores. */
import { cloudTrailError } from '../../aws/errors.ts';
import { isArnLike } from '../../core/index.ts';
import type { CallContext } from '../context.ts';
import type { ChannelService } from './channels.ts';
import type { EventDataStoreService } from './event-data-stores.ts';
import type { Tag } from './trail-model.ts';
import { parseTags } from './trail-params.ts';
import type { AddTagsRequest, AddTagsResponse, ListTagsRequest, ListTagsResponse, RemoveTagsRequest, RemoveTagsResponse, ResourceTag } from '../../aws/protocol/index.ts';
import type { TrailService } from './trails.ts';

const RESOURCE = /^arn:aws[a-z-]*:cloudtrail:[a-z0-9-]+:\d{12}:(trail|channel|eventdatastore|dashboard)\/.+$/;

export class TagService {
  private readonly trails: TrailService;
  private readonly channels: ChannelService;
  private readonly stores: EventDataStoreService | undefined;

  constructor(trails: TrailService, channels: ChannelService, stores?: EventDataStoreService) {
    this.trails = trails;
    this.channels = channels;
    this.stores = stores;
  }

  private kind(resourceId: string): { arn: string; kind: string } {
    if (resourceId.length === 0) throw cloudTrailError('ResourceNotFoundException', 'ResourceId is required.');
    const m = RESOURCE.exec(resourceId);
    if (!m) {
      if (isArnLike(resourceId)) throw cloudTrailError('ResourceTypeNotSupportedException', `Resource type of ${resourceId} is not supported: tag trails and channels.`);
      throw cloudTrailError('CloudTrailARNInvalidException', `${resourceId} is not a valid ARN.`);
    }
    return { arn: resourceId, kind: m[1]! };
  }

  private async change(ctx: CallContext, resourceId: string, change: (tags: Tag[]) => Tag[]): Promise<void> {
    const { arn, kind } = this.kind(resourceId);
    if (kind === 'trail') {
      if (!(await this.trails.setTags(arn, ctx, change))) throw cloudTrailError('ResourceNotFoundException', `Resource not found: ${arn}`);
    } else if (kind === 'channel') {
      await this.channels.setTags(arn, ctx, change);
    } else if (kind === 'eventdatastore' && this.stores) {
      await this.stores.setTags(arn, ctx, change);
    } else if (kind === 'eventdatastore') {
      throw cloudTrailError('EventDataStoreNotFoundException', `Event data store not found: ${arn}`);
    } else {
      throw cloudTrailError('ResourceNotFoundException', `Resource not found: ${arn}`);
    }
  }

  async addTags(ctx: CallContext, input: AddTagsRequest): Promise<AddTagsResponse> {
    await this.change(ctx, input.ResourceId, (tags) => parseTags(input.TagsList, tags));
    return {};
  }

  async removeTags(ctx: CallContext, input: RemoveTagsRequest): Promise<RemoveTagsResponse> {
    const remove = new Set(parseTags(input.TagsList).map((t) => t.Key));
    await this.change(ctx, input.ResourceId, (tags) => tags.filter((t) => !remove.has(t.Key)));
    return {};
  }

  async listTags(ctx: CallContext, input: ListTagsRequest): Promise<ListTagsResponse> {
    const ids = input.ResourceIdList;
    if (ids.length === 0) throw cloudTrailError('InvalidParameterException', 'ResourceIdList must name 1 to 20 resources.');
    if (ids.length > 20) throw cloudTrailError('InvalidParameterException', 'ResourceIdList can name at most 20 resources.');
    if (input.NextToken !== undefined) throw cloudTrailError('InvalidTokenException', 'The NextToken is not valid.');
    const out: ResourceTag[] = [];
    for (const id of ids) {
      const { arn, kind } = this.kind(id);
      if (kind === 'trail') {
        const t = await this.trails.tagsOf(arn, ctx);
        if (!t) throw cloudTrailError('ResourceNotFoundException', `Resource not found: ${arn}`);
        out.push({ ResourceId: arn, TagsList: t.tags });
      } else if (kind === 'channel') {
        out.push({ ResourceId: arn, TagsList: await this.channels.tagsOf(arn, ctx) });
      } else if (kind === 'eventdatastore' && this.stores) {
        out.push({ ResourceId: arn, TagsList: await this.stores.tagsOf(arn, ctx) });
      } else if (kind === 'eventdatastore') {
        throw cloudTrailError('EventDataStoreNotFoundException', `Event data store not found: ${arn}`);
      } else {
        throw cloudTrailError('ResourceNotFoundException', `Resource not found: ${arn}`);
      }
    }
    return { ResourceTagList: out };
  }
}
