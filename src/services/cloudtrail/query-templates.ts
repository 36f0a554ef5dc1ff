/**
 * StartQuery's `QueryAlias` and `QueryParameters` (docs/lake.md "Query templates"). In AWS an
 * alias names a statement AWS keeps for the caller: a dashboard widget's query (CreateDashboard)
 * or a GenerateQuery answer; StartQuery runs that statement with each `?` replaced, in order, by
 * one of QueryParameters (a widget writes `'?'` where the value is a string, so the value goes
 * in as written). OpenTrail has neither dashboards nor GenerateQuery: its aliases are the query
 * templates the operator declares (`lakeQueries.templates`), run the same way.
 */
import { cloudTrailError } from '../../aws/errors.ts';

/** Most QueryParameters, and the longest one (the model's bounds). */
export const MAX_QUERY_PARAMETERS = 10;
export const MAX_QUERY_PARAMETER_LENGTH = 1024;
const ALIAS = /^[a-zA-Z][a-zA-Z0-9._-]*$/;

/** The statement StartQuery runs, from its QueryStatement or its QueryAlias and QueryParameters. */
export function statementOf(
  input: { QueryStatement?: string; QueryAlias?: string; QueryParameters?: readonly string[] },
  templates: Readonly<Record<string, string>>,
): string {
  const { QueryStatement: statement, QueryAlias: alias, QueryParameters: params } = input;
  if (statement !== undefined && alias !== undefined) throw cloudTrailError('InvalidParameterException', 'Specify either QueryStatement or QueryAlias, not both.');
  if (statement === undefined && alias === undefined) throw cloudTrailError('InvalidParameterException', 'Specify QueryStatement, or QueryAlias with its QueryParameters.');
  if (statement !== undefined) {
    if (params !== undefined) throw cloudTrailError('InvalidParameterException', 'QueryParameters go with QueryAlias; a QueryStatement takes no parameters.');
    return statement;
  }
  const name = alias!;
  if (name.length < 1 || name.length > 256 || !ALIAS.test(name)) throw cloudTrailError('InvalidParameterException', `QueryAlias ${JSON.stringify(name.slice(0, 256))} is not valid: 1 to 256 letters, digits, '.', '_' and '-', starting with a letter.`);
  const template = Object.hasOwn(templates, name) ? templates[name] : undefined;
  if (template === undefined) throw cloudTrailError('InvalidParameterException', `The query alias ${name} was not found.`);
  return substituteParameters(template, params ?? []);
}

/** The template with its `?` placeholders replaced, in order, by the parameters; their counts must match. */
export function substituteParameters(template: string, params: readonly string[]): string {
  if (params.length > MAX_QUERY_PARAMETERS) throw cloudTrailError('InvalidParameterException', `QueryParameters has ${params.length} values; at most ${MAX_QUERY_PARAMETERS} are allowed.`);
  const long = params.findIndex((p) => p.length < 1 || p.length > MAX_QUERY_PARAMETER_LENGTH);
  if (long >= 0) throw cloudTrailError('InvalidParameterException', `QueryParameters[${long}] must be 1 to ${MAX_QUERY_PARAMETER_LENGTH} characters long.`);
  const parts = template.split('?');
  const wanted = parts.length - 1;
  if (wanted !== params.length) {
    throw cloudTrailError('InvalidParameterException', `The query template has ${wanted} parameter${wanted === 1 ? '' : 's'} (?) but QueryParameters has ${params.length} value${params.length === 1 ? '' : 's'}.`);
  }
  return parts.map((p, i) => (i < params.length ? p + params[i] : p)).join('');
}
