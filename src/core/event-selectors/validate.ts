/**
 * Validation of event selectors (spec 3.3, 3.4) for PutEventSelectors (and CreateEventDataStore's
 * advanced selectors): the limits, vocabularies and messages; the answer is the selectors normalised
 * as GetEventSelectors shows them. Matching them against events is match.ts.
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
import {
  classifyDataValue,
  type AdvancedEventSelector, type AdvancedFieldSelector, type DataResource, type EventSelector, type ReadWriteType,
} from './shapes.ts';

export type SelectorValidation<T> = { ok: true; value: T } | { ok: false; message: string };

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
