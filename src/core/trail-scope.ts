/**
 * Which events a trail delivers: the regions and accounts it covers, global service events, and
 * its selectors. Pure; compiled once per batch and called for every event read from the log.
 */
import type { CloudTrailRecord } from './record.ts';
import { compileSelectors, selectsEveryManagementEvent, type TrailSelectors } from './event-selectors/index.ts';
import type { OrganizationConfig } from './organization.ts';
import type { TrailDoc } from './trail.ts';

/** Services whose events CloudTrail records as global (in us-east-1). */
export const GLOBAL_SERVICE_EVENT_SOURCES = new Set([
  'iam.amazonaws.com', 'sts.amazonaws.com', 'cloudfront.amazonaws.com', 'signin.amazonaws.com', 'route53.amazonaws.com',
]);

export interface TrailScope {
  /** Home region only, or every region the server serves for a multi-region trail. */
  regions: string[];
  /** The owner, or every member account of an organization trail. */
  accountIds: string[];
  includeGlobalServiceEvents: boolean;
  selectors: TrailSelectors;
}

export function compileTrailScope(scope: TrailScope): (r: CloudTrailRecord) => boolean {
  const regions = new Set(scope.regions);
  const accounts = new Set(scope.accountIds);
  const selected = compileSelectors(scope.selectors);
  return (r) => {
    if (!regions.has(r.awsRegion) || !accounts.has(r.recipientAccountId)) return false;
    if (r.eventCategory !== 'Management' && r.eventCategory !== 'Data' && r.eventCategory !== 'NetworkActivity') return false;
    if (!scope.includeGlobalServiceEvents && r.eventSource !== undefined && GLOBAL_SERVICE_EVENT_SOURCES.has(r.eventSource)) return false;
    return selected(r);
  };
}

/**
 * Whether compileTrailScope(scope) holds for every management event of the scope's regions and
 * accounts, whatever its other fields (global service events included, selectors that take every
 * management event): delivery then judges such an event without parsing it.
 */
export function scopeAdmitsEveryManagementEvent(scope: TrailScope): boolean {
  return scope.includeGlobalServiceEvents && selectsEveryManagementEvent(scope.selectors);
}

/** A stored trail's scope on a server serving `regions` (a multi-region trail covers them all; an organization trail every member). */
export function scopeOfTrail(t: TrailDoc, regions: string[], org: OrganizationConfig | undefined): TrailScope {
  return {
    regions: t.IsMultiRegionTrail ? regions : [t.HomeRegion],
    accountIds: t.IsOrganizationTrail && org ? org.memberAccountIds : [t.accountId],
    includeGlobalServiceEvents: t.IncludeGlobalServiceEvents,
    selectors: { eventSelectors: t.eventSelectors, advancedEventSelectors: t.advancedEventSelectors },
  };
}
