/**
 * Finds the point lookup in a translated statement: a SELECT whose FROM is exactly one event data
 * store, read nowhere else in the statement, and whose WHERE is `eventID = '<literal>'` or an AND
 * of conditions one of which is. Only the rows of that store with that eventID can pass the WHERE,
 * so the query may read only the store's files that can hold it (their eventID sidecars say which,
 * src/lake/storage/eventid-index.ts): dropping rows that fail the WHERE changes no result, not
 * even an aggregate's over no row. Any other form answers undefined (every file is read).
 */
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Node = { [k: string]: Json };

const isNode = (j: Json | undefined): j is Node => typeof j === 'object' && j !== null && !Array.isArray(j);

export interface PointLookup {
  /** The store view (`storeView(i)`) the lookup narrows. */
  readonly view: string;
  readonly eventId: string;
}

/**
 * `statement` is the parsed statement (its tables already renamed to store views); `tables` every
 * table reference of it; `views` the store views' names.
 */
export function findPointLookup(statement: Json, tables: readonly Node[], views: ReadonlySet<string>): PointLookup | undefined {
  const node = isNode(statement) ? statement.node : undefined;
  if (!isNode(node) || node.type !== 'SELECT_NODE') return undefined;
  const from = node.from_table;
  if (!isNode(from) || from.type !== 'BASE_TABLE' || typeof from.table_name !== 'string' || from.sample) return undefined;
  const view = from.table_name;
  if (!views.has(view) || tables.filter((t) => t.table_name === view).length !== 1) return undefined;
  const names = new Set([view.toLowerCase(), typeof from.alias === 'string' ? from.alias.toLowerCase() : view.toLowerCase()]);
  const eventId = eventIdCondition(node.where_clause, names);
  return eventId === undefined ? undefined : { view, eventId };
}

function eventIdCondition(where: Json | undefined, tableNames: ReadonlySet<string>): string | undefined {
  if (!isNode(where)) return undefined;
  if (where.type === 'CONJUNCTION_AND' && Array.isArray(where.children)) {
    for (const c of where.children) {
      const id = eventIdCondition(c, tableNames);
      if (id !== undefined) return id;
    }
    return undefined;
  }
  if (where.type !== 'COMPARE_EQUAL') return undefined;
  const [l, r] = [where.left, where.right];
  if (isEventIdRef(l, tableNames)) return stringConstant(r);
  if (isEventIdRef(r, tableNames)) return stringConstant(l);
  return undefined;
}

function isEventIdRef(j: Json | undefined, tableNames: ReadonlySet<string>): boolean {
  if (!isNode(j) || j.class !== 'COLUMN_REF' || !Array.isArray(j.column_names)) return false;
  const parts = j.column_names.map((p) => (typeof p === 'string' ? p.toLowerCase() : ''));
  if (parts.length === 1) return parts[0] === 'eventid';
  return parts.length === 2 && tableNames.has(parts[0]!) && parts[1] === 'eventid';
}

function stringConstant(j: Json | undefined): string | undefined {
  if (!isNode(j) || j.class !== 'CONSTANT' || !isNode(j.value) || j.value.is_null) return undefined;
  const type = isNode(j.value.type) ? j.value.type.id : undefined;
  return type === 'VARCHAR' && typeof j.value.value === 'string' ? j.value.value : undefined;
}
