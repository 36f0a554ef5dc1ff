/**
 * Matching of event selectors (spec 3.3, 3.4): does this event go to this trail? Selectors are
 * compiled once to a predicate (delivery asks for every event); they are valid (validate.ts).
 */
import type { CloudTrailRecord, RecordResource } from '../record.ts';
import {
  classifyDataValue, DEFAULT_EVENT_SELECTORS,
  type AdvancedEventSelector, type AdvancedFieldSelector, type EventSelector, type TrailSelectors,
} from './shapes.ts';

export type EventPredicate = (record: CloudTrailRecord) => boolean;

/**
 * The record's event category: its own `eventCategory` (normalised records always carry one), else
 * inferred the way normalize.ts fills it in.
 */
export function eventCategoryOf(record: CloudTrailRecord): string {
  const c = record.eventCategory;
  if (typeof c === 'string') return c;
  if (record.eventType === 'AwsCloudTrailInsight') return 'Insight';
  if (record.eventType === 'AwsVpceEvent') return 'NetworkActivity';
  return record.managementEvent === false ? 'Data' : 'Management';
}

/** A record without readOnly counts as a write event (normalised API records always carry it). */
const isRead = (r: CloudTrailRecord): boolean => r.readOnly === true;
/** A resource's ARN; multi-object S3 calls (DeleteObjects, ListObjects) carry an ARNPrefix instead. */
const resourceArn = (res: RecordResource): string | undefined => res.ARN ?? res.ARNPrefix;

interface CompiledBasic {
  management: boolean;
  read: boolean;
  write: boolean;
  exclude: readonly string[];
  s3All: boolean;
  s3Prefixes: string[];
  lambdaAll: boolean;
  lambdaArns: Set<string>;
  dynamoAll: boolean;
  dynamoArns: Set<string>;
  hasData: boolean;
}

function compileBasic(selectors: readonly EventSelector[]): EventPredicate {
  const compiled: CompiledBasic[] = selectors.map((s) => {
    const rwt = s.ReadWriteType ?? 'All';
    const c: CompiledBasic = {
      management: s.IncludeManagementEvents ?? true,
      read: rwt !== 'WriteOnly',
      write: rwt !== 'ReadOnly',
      exclude: [...(s.ExcludeManagementEventSources ?? [])],
      s3All: false, s3Prefixes: [], lambdaAll: false, lambdaArns: new Set(), dynamoAll: false, dynamoArns: new Set(), hasData: false,
    };
    for (const dr of s.DataResources ?? []) {
      for (const v of dr.Values ?? []) {
        const kind = classifyDataValue(dr.Type ?? '', v);
        if (kind === 'invalid') continue;
        c.hasData = true;
        if (dr.Type === 'AWS::S3::Object') {
          if (kind === 'all') c.s3All = true;
          else c.s3Prefixes.push(v);
        } else if (dr.Type === 'AWS::Lambda::Function') {
          if (kind === 'all') c.lambdaAll = true;
          else c.lambdaArns.add(v);
        } else if (kind === 'all') {
          c.dynamoAll = true;
        } else {
          c.dynamoArns.add(v);
        }
      }
    }
    return c;
  });

  const dataMatch = (c: CompiledBasic, res: RecordResource): boolean => {
    const arn = resourceArn(res);
    if (arn === undefined) return false;
    switch (res.type) {
      case 'AWS::S3::Object':
        if (c.s3All) return true;
        for (const p of c.s3Prefixes) if (arn.startsWith(p)) return true;
        return false;
      case 'AWS::Lambda::Function':
        return c.lambdaAll || c.lambdaArns.has(arn);
      case 'AWS::DynamoDB::Table':
        return c.dynamoAll || c.dynamoArns.has(arn);
      default:
        return false;
    }
  };

  return (r) => {
    const category = eventCategoryOf(r);
    if (category === 'Management') {
      const read = isRead(r);
      const source = r.eventSource;
      for (const c of compiled) {
        if (!c.management || !(read ? c.read : c.write)) continue;
        if (source !== undefined && c.exclude.length > 0 && c.exclude.includes(source)) continue;
        return true;
      }
      return false;
    }
    if (category === 'Data') {
      const resources = r.resources;
      if (resources === undefined || resources.length === 0) return false;
      const read = isRead(r);
      for (const c of compiled) {
        if (!c.hasData || !(read ? c.read : c.write)) continue;
        for (const res of resources) if (dataMatch(c, res)) return true;
      }
      return false;
    }
    // Insights, network activity and Lake categories are never selected by basic selectors.
    return false;
  };
}

/** One field selector's operators, ready to test a value. */
interface Ops {
  eq: Set<string> | undefined;
  sw: string[] | undefined;
  ew: string[] | undefined;
  neq: Set<string> | undefined;
  nsw: string[] | undefined;
  nEw: string[] | undefined;
  hasPositive: boolean;
}

function compileOps(fs: AdvancedFieldSelector): Ops {
  const set = (l: string[] | undefined): Set<string> | undefined => (l === undefined ? undefined : new Set(l));
  return {
    eq: set(fs.Equals), sw: fs.StartsWith?.slice(), ew: fs.EndsWith?.slice(),
    neq: set(fs.NotEquals), nsw: fs.NotStartsWith?.slice(), nEw: fs.NotEndsWith?.slice(),
    hasPositive: fs.Equals !== undefined || fs.StartsWith !== undefined || fs.EndsWith !== undefined,
  };
}

function anyStartsWith(prefixes: readonly string[], v: string): boolean {
  for (const p of prefixes) if (v.startsWith(p)) return true;
  return false;
}

function anyEndsWith(suffixes: readonly string[], v: string): boolean {
  for (const p of suffixes) if (v.endsWith(p)) return true;
  return false;
}

/** Every positive operator matches v (values within one operator are alternatives). */
function positiveMatch(o: Ops, v: string): boolean {
  if (o.eq !== undefined && !o.eq.has(v)) return false;
  if (o.sw !== undefined && !anyStartsWith(o.sw, v)) return false;
  if (o.ew !== undefined && !anyEndsWith(o.ew, v)) return false;
  return true;
}

/** No negative operator's value matches v. */
function negativeMatch(o: Ops, v: string): boolean {
  if (o.neq !== undefined && o.neq.has(v)) return false;
  if (o.nsw !== undefined && anyStartsWith(o.nsw, v)) return false;
  if (o.nEw !== undefined && anyEndsWith(o.nEw, v)) return false;
  return true;
}

type Getter = (r: CloudTrailRecord) => string | undefined;

function stringOf(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  return undefined;
}

/** The value of a single-valued field; unknown dotted paths are walked generically. */
function getterFor(field: string): Getter {
  switch (field) {
    case 'eventCategory': return eventCategoryOf;
    case 'eventSource': return (r) => r.eventSource;
    case 'eventName': return (r) => r.eventName;
    case 'eventType': return (r) => r.eventType;
    case 'readOnly': return (r) => (isRead(r) ? 'true' : 'false');
    case 'errorCode': return (r) => r.errorCode;
    case 'vpcEndpointId': return (r) => r.vpcEndpointId;
    case 'userIdentity.arn': return (r) => r.userIdentity?.arn;
    // CloudTrail writes the field only when it is "true".
    case 'sessionCredentialFromConsole': return (r) => stringOf(r.sessionCredentialFromConsole) ?? 'false';
    default: {
      const path = field.split('.');
      return (r) => {
        let cur: unknown = r;
        for (const p of path) {
          if (cur === null || typeof cur !== 'object') return undefined;
          cur = (cur as Record<string, unknown>)[p];
        }
        return stringOf(cur);
      };
    }
  }
}

function compileAdvancedSelector(sel: AdvancedEventSelector): EventPredicate {
  const typeFs = sel.FieldSelectors.find((f) => f.Field === 'resources.type');
  // resources.ARN conditions look at the resources of the selected type(s) only.
  const typeFilter = typeFs?.Equals !== undefined ? new Set(typeFs.Equals) : undefined;
  const conditions: EventPredicate[] = sel.FieldSelectors.map((fs): EventPredicate => {
    const o = compileOps(fs);
    if (fs.Field === 'resources.type' || fs.Field === 'resources.ARN') {
      const ofType = fs.Field === 'resources.type';
      return (r) => {
        const resources = r.resources;
        let anyPositive = false;
        if (resources !== undefined) {
          for (const res of resources) {
            let v: string | undefined;
            if (ofType) {
              v = res.type;
            } else {
              if (typeFilter !== undefined && (res.type === undefined || !typeFilter.has(res.type))) continue;
              v = resourceArn(res);
            }
            if (v === undefined) continue;
            if (!negativeMatch(o, v)) return false;
            if (!anyPositive && o.hasPositive && positiveMatch(o, v)) anyPositive = true;
          }
        }
        return !o.hasPositive || anyPositive;
      };
    }
    const get = getterFor(fs.Field);
    return (r) => {
      const v = get(r);
      if (v === undefined) return !o.hasPositive;
      return negativeMatch(o, v) && (!o.hasPositive || positiveMatch(o, v));
    };
  });
  return (r) => {
    for (const c of conditions) if (!c(r)) return false;
    return true;
  };
}

function compileAdvanced(selectors: readonly AdvancedEventSelector[]): EventPredicate {
  const compiled = selectors.map(compileAdvancedSelector);
  return (r) => {
    for (const s of compiled) if (s(r)) return true;
    return false;
  };
}

/**
 * Which list rules, without allocating: advanced selectors if there are any, else the basic list
 * (even an empty one), else an empty advanced list, else the default.
 */
function rulingList(selectors: TrailSelectors): readonly EventSelector[] | readonly AdvancedEventSelector[] {
  const advanced = selectors.advancedEventSelectors;
  if (advanced !== undefined && advanced.length > 0) return advanced;
  const basic = selectors.eventSelectors;
  if (basic !== undefined) return basic;
  return advanced ?? DEFAULT_EVENT_SELECTORS;
}

function compileList(list: readonly EventSelector[] | readonly AdvancedEventSelector[], selectors: TrailSelectors): EventPredicate {
  return list === selectors.advancedEventSelectors
    ? compileAdvanced(list as readonly AdvancedEventSelector[])
    : compileBasic(list as readonly EventSelector[]);
}

/**
 * A predicate for "does this trail log this event?". Basic selectors: any selector matches;
 * management events need IncludeManagementEvents, a fitting ReadWriteType and an eventSource not
 * excluded; data events need a fitting ReadWriteType and a DataResources value matching a record
 * resource of that type (S3 by ARN prefix, Lambda and DynamoDB exactly, `arn:<partition>:<service>`
 * = all); other categories never match. Advanced selectors: any selector matches; all its field
 * conditions hold; the values of one operator are alternatives, the operators of one field all hold;
 * a negative operator holds when none of its values match; resources.* fields hold for any resource
 * (negative ones for every resource), resources.ARN looking only at resources of the selector's
 * resources.type. A field the record lacks fails positive operators and passes negative ones
 * (readOnly and sessionCredentialFromConsole default to "false").
 */
export function compileSelectors(selectors: TrailSelectors): EventPredicate {
  return compileList(rulingList(selectors), selectors);
}

/**
 * Whether these selectors log every management event, whatever its other fields (source, name,
 * readOnly, identity, resources): the default selectors, a basic selector with management events,
 * ReadWriteType All and no excluded source, or an advanced selector whose only condition is
 * `eventCategory` equal to Management. A consumer that knows a record is a management event
 * (delivery, from the store's Event history category) then need not parse it to judge it.
 */
export function selectsEveryManagementEvent(selectors: TrailSelectors): boolean {
  const list = rulingList(selectors);
  if (list === selectors.advancedEventSelectors) {
    return (list as readonly AdvancedEventSelector[]).some((s) => s.FieldSelectors.length === 1 && onlyEquals(s.FieldSelectors[0]!, 'eventCategory', 'Management'));
  }
  return (list as readonly EventSelector[]).some((s) => (s.IncludeManagementEvents ?? true) && (s.ReadWriteType ?? 'All') === 'All' && (s.ExcludeManagementEventSources ?? []).length === 0);
}

function onlyEquals(fs: AdvancedFieldSelector, field: string, value: string): boolean {
  return fs.Field === field && (fs.Equals ?? []).includes(value)
    && !fs.StartsWith?.length && !fs.EndsWith?.length && !fs.NotEquals?.length && !fs.NotStartsWith?.length && !fs.NotEndsWith?.length;
}

/** Compiled predicates by the selector list they were compiled from. Lists must not be mutated after use. */
const compiledCache = new WeakMap<object, EventPredicate>();

/**
 * Whether a trail with these selectors logs `record`. Predicates are compiled once per selector list
 * (identity of the array) and cached; treat stored selector lists as immutable, or call
 * `compileSelectors` yourself.
 */
export function eventMatchesTrail(record: CloudTrailRecord, selectors: TrailSelectors): boolean {
  const list = rulingList(selectors);
  let p = compiledCache.get(list);
  if (p === undefined) {
    p = compileList(list, selectors);
    compiledCache.set(list, p);
  }
  return p(record);
}
