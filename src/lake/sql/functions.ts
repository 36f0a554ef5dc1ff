/**
 * Trino functions CloudTrail Lake queries use that DuckDB lacks or names differently. Each is either
 * renamed in the parse tree (same arguments, DuckDB's name), rewritten there (`element_at`,
 * `date_diff`, `regexp_replace`), or a macro that every query's DuckDB instance defines
 * (`LAKE_MACROS`), named `lake_*` so that it never hides one of DuckDB's own.
 *
 * A function missing from both tables is passed to DuckDB as written: most of Trino's string, math,
 * aggregate and window functions have the same name and meaning there (docs/lake.md "Dialect").
 */

/** Trino name -> DuckDB function or macro taking the same arguments. */
export const RENAMED: Readonly<Record<string, string>> = {
  json_extract_scalar: 'lake_json_extract_scalar',
  json_parse: 'lake_json_parse',
  json_format: 'lake_json_format',
  from_iso8601_timestamp: 'lake_from_iso8601_timestamp',
  from_iso8601_date: 'lake_from_iso8601_date',
  to_iso8601: 'lake_to_iso8601',
  regexp_like: 'regexp_matches',
  approx_distinct: 'approx_count_distinct',
  approx_percentile: 'approx_quantile',
  cardinality: 'lake_cardinality',
  to_unixtime: 'epoch',
  from_unixtime: 'to_timestamp',
  array_join: 'array_to_string',
  date: 'lake_date',
  date_parse: 'strptime',
  parse_datetime: 'strptime',
  day_of_week: 'isodow',
  dow: 'isodow',
  day_of_year: 'dayofyear',
  doy: 'dayofyear',
  week_of_year: 'week',
  slice: 'lake_slice',
  transform: 'list_transform',
  sequence: 'lake_sequence',
  url_extract_host: 'lake_url_extract_host',
};

/**
 * The macros behind RENAMED's `lake_*` names. `TimeZone` is UTC in every query's instance, so a
 * TIMESTAMPTZ (what Trino's `from_iso8601_timestamp` returns) compares with `eventTime` (a UTC
 * TIMESTAMP) as Lake compares them.
 */
export const LAKE_MACROS: readonly string[] = [
  // Trino: NULL when the value at the path is an object or an array; DuckDB's json_extract_string gives its text.
  `CREATE MACRO lake_json_extract_scalar(j, p) AS (CASE WHEN json_type(CAST(j AS JSON), p) IN ('OBJECT', 'ARRAY') THEN NULL ELSE json_extract_string(CAST(j AS JSON), p) END)`,
  `CREATE MACRO lake_json_parse(s) AS CAST(s AS JSON)`,
  `CREATE MACRO lake_json_format(j) AS CAST(j AS VARCHAR)`,
  `CREATE MACRO lake_from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)`,
  `CREATE MACRO lake_from_iso8601_date(s) AS CAST(s AS DATE)`,
  `CREATE MACRO lake_to_iso8601(t) AS strftime(CAST(t AS TIMESTAMP), '%Y-%m-%dT%H:%M:%S.%gZ')`,
  // Trino's cardinality takes arrays and maps; DuckDB's only maps. Through JSON both bind.
  `CREATE MACRO lake_cardinality(x) AS (CASE json_type(to_json(x)) WHEN 'ARRAY' THEN json_array_length(to_json(x)) ELSE len(json_keys(to_json(x))) END)`,
  `CREATE MACRO lake_date(x) AS CAST(x AS DATE)`,
  // Trino: date_add(unit, value, timestamp).
  `CREATE MACRO lake_date_add(u, n, t) AS t + CAST(CAST(n AS VARCHAR) || ' ' || u AS INTERVAL)`,
  // Trino: slice(array, start, length), 1-based.
  `CREATE MACRO lake_slice(a, s, n) AS list_slice(a, s, s + n - 1)`,
  `CREATE MACRO lake_sequence(a, b) AS generate_series(a, b)`,
  `CREATE MACRO lake_url_extract_host(u) AS regexp_extract(u, '^[a-zA-Z][a-zA-Z0-9+.-]*://([^/:?#]+)', 1)`,
];

/** Trino's date_format specifiers (MySQL's) as strftime's; a specifier missing here is refused. */
export const DATE_FORMAT_SPECIFIERS: Readonly<Record<string, string>> = {
  a: '%a', b: '%b', c: '%-m', d: '%d', e: '%-d', f: '%f', H: '%H', h: '%I', I: '%I', i: '%M', j: '%j', k: '%-H', l: '%-I',
  M: '%B', m: '%m', p: '%p', r: '%I:%M:%S %p', S: '%S', s: '%S', T: '%H:%M:%S', W: '%A', Y: '%Y', y: '%y', '%': '%%',
};

/**
 * Functions a query may not call at all: they read settings, variables or the catalog of the
 * engine rather than the stores (file readers are table functions, refused as a class).
 */
export const REFUSED_FUNCTIONS: ReadonlySet<string> = new Set([
  'current_setting', 'getvariable', 'getenv', 'current_database', 'current_catalog', 'current_schema', 'current_schemas',
  'version', 'pragma_version', 'pragma_platform', 'platform', 'checkpoint', 'force_checkpoint', 'enable_logging', 'disable_logging',
  'set_variable', 'query', 'query_table', 'finalize', 'combine', 'export_state', 'write_log', 'txid_current', 'nextval', 'currval',
  'has_any_column_privilege', 'has_column_privilege', 'has_database_privilege', 'has_function_privilege', 'has_table_privilege',
  'pg_has_role', 'pg_get_viewdef', 'pg_get_constraintdef', 'pg_size_pretty', 'col_description', 'obj_description',
]);

/** Name prefixes of engine functions a query may not call. */
export const REFUSED_PREFIXES: readonly string[] = ['duckdb_', 'pragma_', 'read_', 'parquet_', 'sqlite_', 'pg_', 'icu_', 'json_serialize_', 'json_deserialize_', 'json_execute_'];

/** The only table function a query may use: UNNEST (Trino's `CROSS JOIN UNNEST(x) AS t(y)`). */
export const ALLOWED_TABLE_FUNCTIONS: ReadonlySet<string> = new Set(['unnest']);
