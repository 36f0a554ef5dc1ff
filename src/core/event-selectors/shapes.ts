/**
 * Event selectors of a trail (spec 3.3, 3.4), what validation (validate.ts) and matching (match.ts)
 * share: the wire shapes, a new trail's default selectors, and what a basic selector's
 * DataResources value selects.
 */
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

/** A trail's selector configuration as stored; both absent means the default selectors. */
export interface TrailSelectors {
  eventSelectors?: EventSelector[];
  advancedEventSelectors?: AdvancedEventSelector[];
}

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
// DataResources values (basic selectors)

const PARTITION = 'aws(?:-[a-z]+)*';
const REGION = '[a-z]{2,4}(?:-[a-z]+)+-\\d{1,2}';
const S3_ALL = new RegExp(`^arn:${PARTITION}:s3(?::::)?$`);
/** Bucket names: current rules plus the legacy us-east-1 ones (capitals, underscores, up to 255). */
const S3_OBJECT_PREFIX = new RegExp(`^arn:${PARTITION}:s3:::([A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9])/(.*)$`, 's');
const LAMBDA_ALL = new RegExp(`^arn:${PARTITION}:lambda$`);
const LAMBDA_FUNCTION = new RegExp(`^arn:${PARTITION}:lambda:${REGION}:\\d{12}:function:[A-Za-z0-9_-]{1,64}(?::[A-Za-z0-9$_-]{1,128})?$`);
const DYNAMODB_ALL = new RegExp(`^arn:${PARTITION}:dynamodb$`);
const DYNAMODB_TABLE = new RegExp(`^arn:${PARTITION}:dynamodb:${REGION}:\\d{12}:table/[A-Za-z0-9_.-]{3,255}$`);

export type DataValueKind = 'all' | 'one' | 'invalid';

/** What a DataResources value selects for its type: everything, one resource (or S3 prefix), or nothing valid. */
export function classifyDataValue(type: string, value: string): DataValueKind {
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
