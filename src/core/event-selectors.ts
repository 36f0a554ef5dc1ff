/**
 * Event selectors of a trail (spec 3.3, 3.4): the wire shapes, their validation for PutEventSelectors
 * (and CreateEventDataStore's advanced selectors), and their evaluation: does this event go to this
 * trail?
 *
 * Sources of the rules and messages, and what they are worth:
 * - AWS API reference (EventSelector, DataResource, AdvancedEventSelector, AdvancedFieldSelector,
 *   PutEventSelectors, InvalidEventSelectorsException) and the CloudTrail quotas page: the rules.
 * - Messages seen from the real service in public error reports, used verbatim:
 *   `Value <v> for DataResources.Values is invalid.`,
 *   `Value <t> for DataResources.Type is invalid. Valid values are: ...`,
 *   `Specify a valid number of DataResources.Values (0 to 250) for all your selectors`,
 *   `Invalid combination of parameters in EventSelectors. When includeManagementEvents is false, DataResources must not be empty.`,
 *   `The following field is not allowed when the eventCategory field value equals Management: eventName.`
 * - `Specify a valid number of event selectors (1 to 5) for a trail.` and `Specify up to 500 values
 *   for all conditions in all advanced event selectors for a trail.` are the wording of AWS's
 *   documentation for InvalidEventSelectorsException; that the service sends exactly them is unverified.
 * - Every other message follows the shape of the ones above but was not seen from AWS.
 *
 * Basic selectors accept only the three data resource types AWS documents for them
 * (AWS::DynamoDB::Table, AWS::Lambda::Function, AWS::S3::Object); the API reference sends every other
 * type (S3 directory buckets, access points, ...) to advanced selectors, so a newer type is refused here.
 */
import type { CloudTrailRecord, RecordResource } from './record.ts';

// ---------------------------------------------------------------------------------------------
// Wire shapes (PascalCase, as on the wire)

export type ReadWriteType = 'ReadOnly' | 'WriteOnly' | 'All';

export interface DataResource {
  Type?: string;
  Values?: string[];
}

export interface EventSelector {
  ReadWriteType?: ReadWriteType;
  IncludeManagementEvents?: boolean;
  DataResources?: DataResource[];
  ExcludeManagementEventSources?: string[];
}

export interface AdvancedFieldSelector {
  Field: string;
  Equals?: string[];
  StartsWith?: string[];
  EndsWith?: string[];
  NotEquals?: string[];
  NotStartsWith?: string[];
  NotEndsWith?: string[];
}

export interface AdvancedEventSelector {
  Name?: string;
  FieldSelectors: AdvancedFieldSelector[];
}

export type SelectorValidation<T> = { ok: true; value: T } | { ok: false; message: string };

/** A trail's selector configuration as stored; both absent means the default selectors. */
export interface TrailSelectors {
  eventSelectors?: EventSelector[];
  advancedEventSelectors?: AdvancedEventSelector[];
}

// ---------------------------------------------------------------------------------------------
// Limits and vocabularies

export const MAX_EVENT_SELECTORS = 5;
/** DataResources.Values across all basic selectors of a trail, not counting values that mean "all". */
export const MAX_DATA_RESOURCE_VALUES = 250;
/** Values across all conditions of all advanced selectors of a trail or event data store. */
export const MAX_ADVANCED_SELECTOR_VALUES = 500;
export const MAX_ADVANCED_FIELD_LENGTH = 1000;
export const MAX_ADVANCED_SELECTOR_NAME_LENGTH = 1000;
export const MAX_ADVANCED_VALUE_LENGTH = 2048;

export const BASIC_DATA_RESOURCE_TYPES = ['AWS::DynamoDB::Table', 'AWS::Lambda::Function', 'AWS::S3::Object'] as const;
export const EXCLUDABLE_MANAGEMENT_EVENT_SOURCES = ['kms.amazonaws.com', 'rdsdata.amazonaws.com'] as const;
const READ_WRITE_TYPES: readonly string[] = ['ReadOnly', 'WriteOnly', 'All'];

export const ADVANCED_OPERATORS = ['Equals', 'StartsWith', 'EndsWith', 'NotEquals', 'NotStartsWith', 'NotEndsWith'] as const;
export type AdvancedOperator = (typeof ADVANCED_OPERATORS)[number];

export const TRAIL_EVENT_CATEGORIES = ['Management', 'Data', 'NetworkActivity'] as const;
export const EVENT_DATA_STORE_EVENT_CATEGORIES = [
  'Management', 'Data', 'NetworkActivity', 'Insight', 'ConfigurationItem', 'Evidence', 'ActivityAuditLog',
] as const;

/** The message for a PutEventSelectors request that carries both kinds (seen quoted from AWS; unverified). */
export const BOTH_SELECTOR_KINDS_MESSAGE =
  'You can select events by using either EventSelectors or AdvancedEventSelectors, but not both';

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/** A new trail's selectors, as GetEventSelectors answers them. Frozen: copy with `defaultEventSelectors()`. */
export const DEFAULT_EVENT_SELECTORS: EventSelector[] = deepFreeze([
  { ReadWriteType: 'All', IncludeManagementEvents: true, DataResources: [], ExcludeManagementEventSources: [] },
]);

/** A fresh, mutable copy of DEFAULT_EVENT_SELECTORS. */
export function defaultEventSelectors(): EventSelector[] {
  return [{ ReadWriteType: 'All', IncludeManagementEvents: true, DataResources: [], ExcludeManagementEventSources: [] }];
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by both validators

const fail = (message: string): { ok: false; message: string } => ({ ok: false, message });

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** JSON null stands for an absent member, as AWS's JSON protocol treats it. */
const absent = (v: unknown): v is null | undefined => v === undefined || v === null;

function stringList(v: unknown): string[] | undefined {
  if (!Array.isArray(v)) return undefined;
  for (const x of v) if (typeof x !== 'string') return undefined;
  return v.slice() as string[];
}

// ---------------------------------------------------------------------------------------------
// Basic selectors: validation

const PARTITION = 'aws(?:-[a-z]+)*';
const REGION = '[a-z]{2,4}(?:-[a-z]+)+-\\d{1,2}';
const S3_ALL = new RegExp(`^arn:${PARTITION}:s3(?::::)?$`);
/** Bucket names: current rules plus the legacy us-east-1 ones (capitals, underscores, up to 255). */
const S3_OBJECT_PREFIX = new RegExp(`^arn:${PARTITION}:s3:::([A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9])/(.*)$`, 's');
const LAMBDA_ALL = new RegExp(`^arn:${PARTITION}:lambda$`);
const LAMBDA_FUNCTION = new RegExp(`^arn:${PARTITION}:lambda:${REGION}:\\d{12}:function:[A-Za-z0-9_-]{1,64}(?::[A-Za-z0-9$_-]{1,128})?$`);
const DYNAMODB_ALL = new RegExp(`^arn:${PARTITION}:dynamodb$`);
const DYNAMODB_TABLE = new RegExp(`^arn:${PARTITION}:dynamodb:${REGION}:\\d{12}:table/[A-Za-z0-9_.-]{3,255}$`);

type DataValueKind = 'all' | 'one' | 'invalid';

/** What a DataResources value selects for its type: everything, one resource (or S3 prefix), or nothing valid. */
function classifyDataValue(type: string, value: string): DataValueKind {
  switch (type) {
    case 'AWS::S3::Object':
      if (S3_ALL.test(value)) return 'all';
      return S3_OBJECT_PREFIX.test(value) ? 'one' : 'invalid';
    case 'AWS::Lambda::Function':
      if (LAMBDA_ALL.test(value)) return 'all';
      return LAMBDA_FUNCTION.test(value) ? 'one' : 'invalid';
    case 'AWS::DynamoDB::Table':
      if (DYNAMODB_ALL.test(value)) return 'all';
      return DYNAMODB_TABLE.test(value) ? 'one' : 'invalid';
    default:
      return 'invalid';
  }
}

const SELECTOR_COUNT_MESSAGE = `Specify a valid number of event selectors (1 to ${MAX_EVENT_SELECTORS}) for a trail.`;

/**
 * Checks PutEventSelectors' `EventSelectors` and answers them normalised as GetEventSelectors shows
 * them: every member present (ReadWriteType `All` and IncludeManagementEvents `true` by default,
 * empty lists), unknown members dropped, order kept.
 */
export function validateEventSelectors(input: unknown): SelectorValidation<EventSelector[]> {
  if (!Array.isArray(input)) return fail('EventSelectors must be a list of event selectors.');
  if (input.length < 1 || input.length > MAX_EVENT_SELECTORS) return fail(SELECTOR_COUNT_MESSAGE);
  const out: EventSelector[] = [];
  let specificValues = 0;
  for (const raw of input) {
    if (!isObject(raw)) return fail('Each event selector must be a JSON object.');

    let readWriteType: ReadWriteType = 'All';
    const rwt = raw.ReadWriteType;
    if (!absent(rwt)) {
      if (typeof rwt !== 'string' || !READ_WRITE_TYPES.includes(rwt)) {
        return fail(`Value ${typeof rwt === 'string' ? rwt : JSON.stringify(rwt)} for ReadWriteType is invalid.`);
      }
      readWriteType = rwt as ReadWriteType;
    }

    let includeManagementEvents = true;
    const ime = raw.IncludeManagementEvents;
    if (!absent(ime)) {
      if (typeof ime !== 'boolean') return fail('IncludeManagementEvents must be true or false.');
      includeManagementEvents = ime;
    }

    const dataResources: DataResource[] = [];
    const drs = raw.DataResources;
    if (!absent(drs)) {
      if (!Array.isArray(drs)) return fail('DataResources must be a list of data resources.');
      for (const dr of drs) {
        if (!isObject(dr)) return fail('Each data resource must be a JSON object.');
        const type = dr.Type;
        if (typeof type !== 'string' || !(BASIC_DATA_RESOURCE_TYPES as readonly string[]).includes(type)) {
          const shown = typeof type === 'string' ? type : JSON.stringify(type ?? null);
          return fail(`Value ${shown} for DataResources.Type is invalid. Valid values are: ${BASIC_DATA_RESOURCE_TYPES.join(', ')}`);
        }
        let values: string[] = [];
        if (!absent(dr.Values)) {
          const list = stringList(dr.Values);
          if (list === undefined) return fail('DataResources.Values must be a list of strings.');
          values = list;
        }
        for (const v of values) {
          const kind = classifyDataValue(type, v);
          if (kind === 'invalid') return fail(`Value ${v} for DataResources.Values is invalid.`);
          if (kind === 'one') specificValues++;
        }
        dataResources.push({ Type: type, Values: values });
      }
    }
    if (!includeManagementEvents && dataResources.length === 0) {
      return fail('Invalid combination of parameters in EventSelectors. When includeManagementEvents is false, DataResources must not be empty.');
    }

    let exclude: string[] = [];
    const ems = raw.ExcludeManagementEventSources;
    if (!absent(ems)) {
      const list = stringList(ems);
      if (list === undefined) return fail('ExcludeManagementEventSources must be a list of strings.');
      for (const s of list) {
        if (!(EXCLUDABLE_MANAGEMENT_EVENT_SOURCES as readonly string[]).includes(s)) {
          return fail(`Value ${s} for ExcludeManagementEventSources is invalid.`);
        }
      }
      exclude = list;
    }

    out.push({
      ReadWriteType: readWriteType,
      IncludeManagementEvents: includeManagementEvents,
      DataResources: dataResources,
      ExcludeManagementEventSources: exclude,
    });
  }
  if (specificValues > MAX_DATA_RESOURCE_VALUES) {
    return fail(`Specify a valid number of DataResources.Values (0 to ${MAX_DATA_RESOURCE_VALUES}) for all your selectors`);
  }
  return { ok: true, value: out };
}

// ---------------------------------------------------------------------------------------------
// Advanced selectors: validation

/** The model's pattern for Field (`[\w|\d|\.|_]+`; the `|` are literal characters of the class). */
const FIELD_PATTERN = /^[\w|\d.|_]+$/;
const RESOURCE_TYPE = /^AWS::[A-Za-z0-9]+::[A-Za-z0-9]+$/;

type Target = 'trail' | 'eventDataStore';

/** Fields each event category accepts (AdvancedFieldSelector / AdvancedEventSelector reference). */
function allowedFields(category: string, target: Target): ReadonlySet<string> {
  switch (category) {
    case 'Management':
      return target === 'trail'
        ? new Set(['eventCategory', 'eventSource', 'readOnly'])
        : new Set(['eventCategory', 'eventSource', 'readOnly', 'eventName', 'eventType', 'sessionCredentialFromConsole', 'userIdentity.arn']);
    case 'Data':
      return new Set([
        'eventCategory', 'eventName', 'eventSource', 'eventType', 'resources.ARN', 'resources.type', 'readOnly',
        'sessionCredentialFromConsole', 'userIdentity.arn',
      ]);
    case 'NetworkActivity':
      return target === 'trail'
        ? new Set(['eventCategory', 'eventSource', 'eventName', 'errorCode', 'vpcEndpointId', 'userIdentity.arn'])
        : new Set(['eventCategory', 'eventSource', 'eventName', 'errorCode', 'vpcEndpointId']);
    default:
      // Insight, ConfigurationItem, Evidence, ActivityAuditLog (event data stores only).
      return new Set(['eventCategory']);
  }
}

function presentOperators(fs: AdvancedFieldSelector): AdvancedOperator[] {
  return ADVANCED_OPERATORS.filter((op) => fs[op] !== undefined);
}

const operatorNotAllowed = (field: string, op: string, category?: string): string =>
  category === undefined
    ? `The following operator is not allowed for the field ${field}: ${op}.`
    : `The following operator is not allowed for the field ${field} when the eventCategory field value equals ${category}: ${op}.`;

const valueNotAllowed = (field: string, value: string): string =>
  `The following value is not allowed for the field ${field}: ${value}.`;

/** Field rules that depend on the selector's event category; `fs` is already structurally valid. */
function checkFieldRules(fs: AdvancedFieldSelector, category: string, target: Target): string | undefined {
  const ops = presentOperators(fs);
  const onlyOps = (allowed: readonly AdvancedOperator[], withCategory = false): string | undefined => {
    for (const op of ops) if (!allowed.includes(op)) return operatorNotAllowed(fs.Field, op, withCategory ? category : undefined);
    return undefined;
  };
  const allValues = (): string[] => ops.flatMap((op) => fs[op]!);
  switch (fs.Field) {
    case 'readOnly': {
      const e = onlyOps(['Equals']);
      if (e) return e;
      for (const v of allValues()) if (v !== 'true' && v !== 'false') return valueNotAllowed(fs.Field, v);
      return undefined;
    }
    case 'resources.type': {
      const e = onlyOps(['Equals']);
      if (e) return e;
      for (const v of allValues()) if (!RESOURCE_TYPE.test(v)) return valueNotAllowed(fs.Field, v);
      return undefined;
    }
    case 'errorCode': {
      const e = onlyOps(['Equals']);
      if (e) return e;
      for (const v of allValues()) if (v !== 'VpceAccessDenied') return valueNotAllowed(fs.Field, v);
      return undefined;
    }
    case 'sessionCredentialFromConsole':
      return onlyOps(['Equals', 'NotEquals']);
    case 'eventSource':
      if (category === 'Management' && target === 'trail') {
        const e = onlyOps(['NotEquals'], true);
        if (e) return e;
        for (const v of allValues()) {
          if (!(EXCLUDABLE_MANAGEMENT_EVENT_SOURCES as readonly string[]).includes(v)) return valueNotAllowed(fs.Field, v);
        }
        return undefined;
      }
      if (category === 'NetworkActivity') {
        const e = onlyOps(['Equals'], true);
        if (e) return e;
        if (fs.Equals!.length !== 1) return 'Specify exactly one eventSource value in an advanced event selector for NetworkActivity events.';
        return undefined;
      }
      return undefined;
    default:
      return undefined;
  }
}

/**
 * Checks `AdvancedEventSelectors` for PutEventSelectors (target `trail`) or an event data store
 * (target `eventDataStore`) and answers them normalised: known members only, selectors and field
 * selectors in the order given (Terraform compares them positionally), operators in the model's order.
 *
 * Rules: FieldSelectors non-empty; Field 1-1000 characters of the model pattern, each Field at most
 * once per selector; at least one operator, each a non-empty list of 1-2048-character strings; Name
 * at most 1000 characters; `eventCategory` required, `Equals` with one value, from the target's
 * categories; only the fields the category accepts; `readOnly`, `resources.type`, `errorCode`
 * `Equals` only; `sessionCredentialFromConsole` `Equals`/`NotEquals` only; for trails' management
 * events `eventSource` only `NotEquals` kms/rdsdata; network activity needs one `eventSource` by
 * `Equals`; data events need one `resources.type` field; at most 500 values in all.
 */
export function validateAdvancedEventSelectors(input: unknown, target: Target = 'trail'): SelectorValidation<AdvancedEventSelector[]> {
  if (!Array.isArray(input)) return fail('AdvancedEventSelectors must be a list of advanced event selectors.');
  if (input.length === 0) return fail('Specify at least one advanced event selector.');
  const out: AdvancedEventSelector[] = [];
  let totalValues = 0;
  for (const raw of input) {
    if (!isObject(raw)) return fail('Each advanced event selector must be a JSON object.');
    const selector: AdvancedEventSelector = { FieldSelectors: [] };
    if (!absent(raw.Name)) {
      if (typeof raw.Name !== 'string') return fail('The Name of an advanced event selector must be a string.');
      if (raw.Name.length > MAX_ADVANCED_SELECTOR_NAME_LENGTH) {
        return fail(`The Name of an advanced event selector must be at most ${MAX_ADVANCED_SELECTOR_NAME_LENGTH} characters.`);
      }
      selector.Name = raw.Name;
    }
    if (!Array.isArray(raw.FieldSelectors) || raw.FieldSelectors.length === 0) {
      return fail('Each advanced event selector must have at least one field selector in FieldSelectors.');
    }
    const seen = new Set<string>();
    for (const rfs of raw.FieldSelectors as unknown[]) {
      if (!isObject(rfs)) return fail('Each field selector must be a JSON object.');
      const field = rfs.Field;
      if (typeof field !== 'string' || field.length === 0) return fail('Each field selector must have a Field.');
      if (field.length > MAX_ADVANCED_FIELD_LENGTH) return fail(`Field must be at most ${MAX_ADVANCED_FIELD_LENGTH} characters.`);
      if (!FIELD_PATTERN.test(field)) return fail(`Field ${field} is not valid: it must match [\\w|\\d|\\.|_]+.`);
      if (seen.has(field)) return fail(`The following field is used more than once in an advanced event selector: ${field}.`);
      seen.add(field);
      const fs: AdvancedFieldSelector = { Field: field };
      for (const op of ADVANCED_OPERATORS) {
        const v = rfs[op];
        if (absent(v)) continue;
        const list = stringList(v);
        if (list === undefined) return fail(`${op} of the field ${field} must be a list of strings.`);
        if (list.length === 0) return fail(`${op} of the field ${field} must have at least one value.`);
        for (const s of list) {
          if (s.length === 0 || s.length > MAX_ADVANCED_VALUE_LENGTH) {
            return fail(`Values of the field ${field} must be 1 to ${MAX_ADVANCED_VALUE_LENGTH} characters.`);
          }
        }
        fs[op] = list;
        totalValues += list.length;
      }
      if (presentOperators(fs).length === 0) return fail(`The field ${field} needs at least one operator (${ADVANCED_OPERATORS.join(', ')}).`);
      selector.FieldSelectors.push(fs);
    }

    // Category-dependent rules.
    const categoryFs = selector.FieldSelectors.find((f) => f.Field === 'eventCategory');
    if (categoryFs === undefined) return fail('The eventCategory field is required in each advanced event selector.');
    const catOps = presentOperators(categoryFs);
    for (const op of catOps) if (op !== 'Equals') return fail(operatorNotAllowed('eventCategory', op));
    if (categoryFs.Equals!.length !== 1) return fail('Specify exactly one eventCategory value in each advanced event selector.');
    const category = categoryFs.Equals![0]!;
    const categories: readonly string[] = target === 'trail' ? TRAIL_EVENT_CATEGORIES : EVENT_DATA_STORE_EVENT_CATEGORIES;
    if (!categories.includes(category)) return fail(valueNotAllowed('eventCategory', category));
    const allowed = allowedFields(category, target);
    for (const fs of selector.FieldSelectors) {
      if (!allowed.has(fs.Field)) {
        return fail(`The following field is not allowed when the eventCategory field value equals ${category}: ${fs.Field}.`);
      }
      const e = checkFieldRules(fs, category, target);
      if (e !== undefined) return fail(e);
    }
    if (category === 'Data' && !seen.has('resources.type')) {
      return fail('The following field is required when the eventCategory field value equals Data: resources.type.');
    }
    if (category === 'NetworkActivity' && !seen.has('eventSource')) {
      return fail('The following field is required when the eventCategory field value equals NetworkActivity: eventSource.');
    }
    out.push(selector);
  }
  if (totalValues > MAX_ADVANCED_SELECTOR_VALUES) {
    return fail(`Specify up to ${MAX_ADVANCED_SELECTOR_VALUES} values for all conditions in all advanced event selectors for a ${target === 'trail' ? 'trail' : 'event data store'}.`);
  }
  return { ok: true, value: out };
}

// ---------------------------------------------------------------------------------------------
// Evaluation

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
