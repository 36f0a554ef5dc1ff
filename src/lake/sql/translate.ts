/**
 * CloudTrail Lake's SQL (Trino's dialect, `FROM <event data store id or ARN>`) to DuckDB's.
 *
 * DuckDB parses the statement (`json_serialize_sql`: its parse tree as JSON; its parser takes most
 * of Trino's syntax), this module checks and rewrites the tree, and DuckDB prints it back as SQL
 * (`json_deserialize_sql`). The check: one statement, a SELECT (json_serialize_sql serializes
 * nothing else), every table a store the caller may read (resolved by the caller's resolver, each
 * replaced by the name of a view the runner defines over its files) or a CTE of the statement, no
 * table function but UNNEST, no engine function (settings, catalog, files). The rewrite: Trino
 * functions DuckDB names or shapes differently (functions.ts).
 *
 * Refusals are `InvalidQueryStatementException` naming the problem; a store id or ARN that the
 * caller cannot see is `EventDataStoreNotFoundException`, one pending deletion
 * `InactiveEventDataStoreException` (docs/lake.md "Queries").
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { cloudTrailError, type ServiceError } from '../../aws/errors.ts';
import type { LakeStoreRef } from '../catalog.ts';
import { ALLOWED_TABLE_FUNCTIONS, DATE_FORMAT_SPECIFIERS, REFUSED_FUNCTIONS, REFUSED_PREFIXES, RENAMED } from './functions.ts';
import { checkGeneratedSizes } from './sizes.ts';
import { quoteStoreNames, STORE_NAME } from './store-names.ts';
import { findPointLookup, type PointLookup } from './point-lookup.ts';

export const MAX_STATEMENT_CHARS = 10_000;
/** Nesting deeper than this is refused before DuckDB prints the tree back (its own recursion). */
const MAX_DEPTH = 400;

export interface TranslatedQuery {
  /** DuckDB SQL; each store is the view `storeView(i)` of `stores[i]`. */
  readonly sql: string;
  /** The stores the statement reads, each once, in order of first mention. */
  readonly stores: readonly LakeStoreRef[];
  /** A `WHERE eventID = '...'` on one store (src/lake/sql/point-lookup.ts): only its files that can hold the id need be read. */
  readonly pointLookup?: PointLookup;
}

/** The view name the translated SQL reads store `i` through. */
export const storeView = (i: number): string => `lake_store_${i}`;

export const invalidQuery = (message: string): ServiceError => cloudTrailError('InvalidQueryStatementException', message);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Node = { [k: string]: Json };

const isNode = (j: Json | undefined): j is Node => typeof j === 'object' && j !== null && !Array.isArray(j);

/**
 * Parses, checks and rewrites `statement`. `resolve` answers the store a name (id or ARN) gives
 * the caller, undefined when there is none it may read. `conn` only parses (no table is read).
 */
export async function translateLakeSql(
  conn: DuckDBConnection,
  statement: string,
  resolve: (idOrArn: string) => Promise<LakeStoreRef | undefined>,
): Promise<TranslatedQuery> {
  if (statement.length > MAX_STATEMENT_CHARS) throw invalidQuery(`The query statement is longer than ${MAX_STATEMENT_CHARS} characters.`);
  if (!statement.trim()) throw invalidQuery('The query statement is empty.');
  const parsed = await conn.runAndReadAll('SELECT json_serialize_sql($1::VARCHAR) AS j', [quoteStoreNames(statement)]);
  const tree = JSON.parse(String(parsed.getRows()[0]![0]), keepBigIntegers) as Node;
  if (tree.error) throw invalidQuery(parseMessage(tree));
  const statements = tree.statements as Json[];
  if (!Array.isArray(statements) || statements.length !== 1) throw invalidQuery('A query must be exactly one SELECT statement.');

  const ctes = new Set<string>();
  collectCtes(statements[0]!, ctes, 0);
  checkGeneratedSizes(statements[0]!, invalidQuery);
  const stores: LakeStoreRef[] = [];
  const viewOf = new Map<string, string>();
  const tables: Node[] = [];
  visit(statements[0]!, 0, tables);
  for (const t of tables) await replaceTable(t, ctes, resolve, stores, viewOf);
  if (stores.length === 0) throw invalidQuery('The query must read at least one event data store (FROM <event data store id>).');
  const pointLookup = findPointLookup(statements[0]!, tables, new Set(stores.map((_, i) => storeView(i))));

  let sql: string;
  try {
    const back = await conn.runAndReadAll('SELECT json_deserialize_sql(json($1::VARCHAR)) AS s', [JSON.stringify(tree)]);
    sql = String(back.getRows()[0]![0]);
  } catch (e) {
    // A form DuckDB parses but cannot print back: refused rather than run some other way.
    throw invalidQuery(`The query statement uses a form OpenTrail cannot run: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`);
  }
  return { sql, stores, ...(pointLookup ? { pointLookup } : {}) };
}

/** JSON numbers beyond 2^53 (uint64 locations, large constants) kept as their digits, written back unchanged. */
function keepBigIntegers(_key: string, value: Json, context?: { source?: string }): Json {
  if (typeof value === 'number' && !Number.isSafeInteger(value) && context?.source && /^-?\d+$/.test(context.source)) {
    return (JSON as unknown as { rawJSON(text: string): Json }).rawJSON(context.source);
  }
  return value;
}

function parseMessage(tree: Node): string {
  const m = typeof tree.error_message === 'string' ? tree.error_message : 'the statement could not be parsed';
  if (/only SELECT statements/i.test(m)) return 'Only SELECT statements are allowed in a query.';
  const at = typeof tree.position === 'string' ? ` (at character ${Number(tree.position) + 1})` : '';
  return `The query statement is not valid SQL: ${m}${at}.`;
}

function collectCtes(j: Json, out: Set<string>, depth: number): void {
  if (depth > MAX_DEPTH) throw invalidQuery('The query statement is nested too deeply.');
  if (Array.isArray(j)) for (const x of j) collectCtes(x, out, depth + 1);
  else if (isNode(j)) {
    const map = isNode(j.cte_map) ? j.cte_map.map : undefined;
    if (Array.isArray(map)) for (const e of map) if (isNode(e) && typeof e.key === 'string') out.add(e.key.toLowerCase());
    for (const v of Object.values(j)) collectCtes(v, out, depth + 1);
  }
}

/** Checks and rewrites every node; collects the table references. */
function visit(j: Json, depth: number, tables: Node[]): void {
  if (depth > MAX_DEPTH) throw invalidQuery('The query statement is nested too deeply.');
  if (Array.isArray(j)) {
    for (const x of j) visit(x, depth + 1, tables);
    return;
  }
  if (!isNode(j)) return;
  if (j.type === 'BASE_TABLE') tables.push(j);
  if (j.type === 'TABLE_FUNCTION') {
    const f = isNode(j.function) ? j.function : undefined;
    const name = typeof f?.function_name === 'string' ? f.function_name.toLowerCase() : '';
    if (!ALLOWED_TABLE_FUNCTIONS.has(name)) throw invalidQuery(`The table function ${name || '(unknown)'} is not allowed: a query reads event data stores only (UNNEST is allowed).`);
  }
  if (j.class === 'FUNCTION' && typeof j.function_name === 'string') rewriteFunction(j);
  for (const v of Object.values(j)) visit(v, depth + 1, tables);
}

function rewriteFunction(f: Node): void {
  const name = (f.function_name as string).toLowerCase();
  const schema = typeof f.schema === 'string' ? f.schema : '';
  const catalog = typeof f.catalog === 'string' ? f.catalog : '';
  if ((schema && schema !== 'main') || catalog) throw invalidQuery(`The function ${schema || catalog}.${name} is not allowed: name functions without a schema.`);
  if (REFUSED_FUNCTIONS.has(name) || REFUSED_PREFIXES.some((p) => name.startsWith(p))) {
    throw invalidQuery(`The function ${name} is not allowed in a query.`);
  }
  const args = Array.isArray(f.children) ? f.children : [];
  if (name === 'element_at' && args.length === 2) {
    // Trino's element_at(map, key) / element_at(array, index) is DuckDB's subscript on both.
    const alias = f.alias ?? '';
    for (const k of Object.keys(f)) delete f[k];
    Object.assign(f, { class: 'OPERATOR', type: 'ARRAY_EXTRACT', alias, query_location: 0, children: args });
    return;
  }
  if (name === 'date_diff' && args.length === 3) {
    // Trino counts whole units elapsed (DuckDB's date_sub), not unit boundaries crossed (DuckDB's date_diff).
    f.function_name = 'date_sub';
    return;
  }
  if (name === 'date_add' && args.length === 3) {
    f.function_name = 'lake_date_add';
    return;
  }
  if (name === 'regexp_replace' && (args.length === 2 || args.length === 3)) {
    // Trino replaces every match and writes groups as $1; DuckDB replaces the first unless 'g', groups \1.
    const replacement = args[2];
    if (args.length === 2) args.push(constant(''));
    else if (isNode(replacement) && replacement.class === 'CONSTANT' && isNode(replacement.value) && typeof replacement.value.value === 'string') {
      replacement.value.value = replacement.value.value.replace(/\$(\d)/g, '\\$1');
    }
    args.push(constant('g'));
    return;
  }
  if (name === 'date_format' && args.length === 2) {
    // Trino (MySQL) specifiers to strftime's; the format must be a literal (strftime's must be a constant).
    const format = args[1];
    if (!isNode(format) || format.class !== 'CONSTANT' || !isNode(format.value) || typeof format.value.value !== 'string') {
      throw invalidQuery('date_format takes a literal format string.');
    }
    format.value.value = format.value.value.replace(/%(.)/g, (_m, c: string) => {
      const spec = DATE_FORMAT_SPECIFIERS[c];
      if (!spec) throw invalidQuery(`date_format: the specifier %${c} is not supported.`);
      return spec;
    });
    f.function_name = 'strftime';
    args[0] = { class: 'CAST', type: 'OPERATOR_CAST', alias: '', query_location: 0, child: args[0]!, cast_type: { id: 'TIMESTAMP', type_info: null }, try_cast: false };
    return;
  }
  const renamed = RENAMED[name];
  if (renamed) f.function_name = renamed;
}

function constant(value: string): Node {
  return { class: 'CONSTANT', type: 'VALUE_CONSTANT', alias: '', query_location: 0, value: { type: { id: 'VARCHAR', type_info: null }, is_null: false, value } };
}

async function replaceTable(
  t: Node,
  ctes: ReadonlySet<string>,
  resolve: (idOrArn: string) => Promise<LakeStoreRef | undefined>,
  stores: LakeStoreRef[],
  viewOf: Map<string, string>,
): Promise<void> {
  const name = typeof t.table_name === 'string' ? t.table_name : '';
  const qualified = [t.catalog_name, t.schema_name].filter((x) => typeof x === 'string' && x !== '');
  if (qualified.length === 0 && ctes.has(name.toLowerCase()) && !STORE_NAME.test(name)) return;
  if (qualified.length > 0 || !STORE_NAME.test(name)) {
    const full = [...qualified, name].join('.');
    throw invalidQuery(`${JSON.stringify(full)} is not an event data store: FROM takes an event data store's id or ARN.`);
  }
  const store = await resolve(name);
  if (!store) throw cloudTrailError('EventDataStoreNotFoundException', `The event data store ${name} was not found.`);
  if (store.status === 'PENDING_DELETION') throw cloudTrailError('InactiveEventDataStoreException', `The event data store ${store.arn} is pending deletion.`);
  let view = viewOf.get(store.arn);
  if (!view) {
    view = storeView(stores.length);
    stores.push(store);
    viewOf.set(store.arn, view);
  }
  if (!t.alias) t.alias = name;
  t.table_name = view;
}
