/**
 * Put/Get/DeleteResourcePolicy: the resource-based policy of an event data store or a channel of
 * the caller's (dashboards: OpenTrail has none). Stored as its own control document beside the
 * resource, keyed `<accountId>/<resource ARN>`; a policy is kept as the caller sent it (AWS answers
 * the same text). OpenTrail stores and answers policies but does not evaluate them: other accounts
 * are not given access by them (docs/compatibility.md).
 */
import { cloudTrailError, ServiceError } from '../../aws/errors.ts';
import type {
  DeleteResourcePolicyRequest, DeleteResourcePolicyResponse, GetResourcePolicyRequest, GetResourcePolicyResponse, PutResourcePolicyRequest,
  PutResourcePolicyResponse,
} from '../../aws/protocol/index.ts';
import { isArnLike, parseArn, RESOURCE_POLICY_KIND } from '../../core/index.ts';
import type { ControlStore } from '../../stores/index.ts';
import type { CallContext } from '../context.ts';
import type { ChannelService } from './channels.ts';
import type { EventDataStoreService } from './event-data-stores.ts';

interface PolicyDoc {
  ResourceArn: string;
  ResourcePolicy: string;
}

const EFFECTS = new Set(['Allow', 'Deny']);

/** A policy document as AWS checks it: JSON, a Statement list, each with Effect, Principal and Action. */
export function checkResourcePolicy(text: string): void {
  const bad = (why: string) => cloudTrailError('ResourcePolicyNotValidException', `The resource policy is not valid: ${why}`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw bad('it is not JSON.');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad('it must be a JSON object.');
  const raw = (doc as Record<string, unknown>).Statement;
  const statements = Array.isArray(raw) ? raw : raw !== undefined ? [raw] : [];
  if (statements.length === 0) throw bad('it needs at least one Statement.');
  for (const st of statements) {
    if (typeof st !== 'object' || st === null || Array.isArray(st)) throw bad('each Statement must be a JSON object.');
    const s = st as Record<string, unknown>;
    if (typeof s.Effect !== 'string' || !EFFECTS.has(s.Effect)) throw bad('each Statement needs Effect Allow or Deny.');
    if (s.Principal === undefined) throw bad('each Statement needs a Principal.');
    const actions = Array.isArray(s.Action) ? s.Action : [s.Action];
    if (s.Action === undefined || actions.length === 0 || actions.some((a) => typeof a !== 'string' || !/^(cloudtrail|cloudtrail-data):[A-Za-z*]+$/.test(a))) {
      throw bad('each Statement needs Action, CloudTrail actions only (cloudtrail:... or cloudtrail-data:...).');
    }
  }
}

export class ResourcePolicyService {
  private readonly store: ControlStore;
  private readonly channels: ChannelService;
  private readonly stores: EventDataStoreService;

  constructor(store: ControlStore, channels: ChannelService, stores: EventDataStoreService) {
    this.store = store;
    this.channels = channels;
    this.stores = stores;
  }

  /** The caller's resource the ARN names (ResourceNotFoundException otherwise, whoever owns it). */
  private async resource(ctx: CallContext, arn: string): Promise<string> {
    const a = parseArn(arn);
    if (!a || a.service !== 'cloudtrail') {
      if (isArnLike(arn)) throw cloudTrailError('ResourceTypeNotSupportedException', `Resource policies apply to event data stores, channels and dashboards: ${arn}`);
      throw cloudTrailError('ResourceARNNotValidException', `${arn} is not a valid resource ARN.`);
    }
    const type = a.resource.split('/')[0];
    const notFound = () => cloudTrailError('ResourceNotFoundException', `Resource not found: ${arn}`);
    try {
      if (type === 'eventdatastore') return (await this.stores.resolve(arn, ctx)).EventDataStoreArn;
      if (type === 'channel') return (await this.channels.resolve(arn, ctx)).ChannelArn;
    } catch (e) {
      // Another account's or Region's resource, or none: one answer (a store outage stays what it is).
      if (e instanceof ServiceError && /NotFound|Invalid/.test(e.code)) throw notFound();
      throw e;
    }
    if (type === 'dashboard') throw notFound();
    throw cloudTrailError('ResourceTypeNotSupportedException', `Resource policies apply to event data stores, channels and dashboards: ${arn}`);
  }

  private key(ctx: CallContext, arn: string): string {
    return `${ctx.accountId}/${arn}`;
  }

  async putResourcePolicy(ctx: CallContext, input: PutResourcePolicyRequest): Promise<PutResourcePolicyResponse> {
    const arn = await this.resource(ctx, input.ResourceArn);
    checkResourcePolicy(input.ResourcePolicy);
    const doc: PolicyDoc = { ResourceArn: arn, ResourcePolicy: input.ResourcePolicy };
    await this.store.put(RESOURCE_POLICY_KIND, this.key(ctx, arn), doc);
    return doc;
  }

  async getResourcePolicy(ctx: CallContext, input: GetResourcePolicyRequest): Promise<GetResourcePolicyResponse> {
    const arn = await this.resource(ctx, input.ResourceArn);
    const doc = await this.store.get<PolicyDoc>(RESOURCE_POLICY_KIND, this.key(ctx, arn));
    if (!doc) throw cloudTrailError('ResourcePolicyNotFoundException', `No resource policy is attached to ${arn}.`);
    return { ResourceArn: arn, ResourcePolicy: doc.ResourcePolicy };
  }

  async deleteResourcePolicy(ctx: CallContext, input: DeleteResourcePolicyRequest): Promise<DeleteResourcePolicyResponse> {
    const arn = await this.resource(ctx, input.ResourceArn);
    if (!(await this.store.delete(RESOURCE_POLICY_KIND, this.key(ctx, arn)))) throw cloudTrailError('ResourcePolicyNotFoundException', `No resource policy is attached to ${arn}.`);
    return {};
  }
}
