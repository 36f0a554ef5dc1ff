/**
 * A restJson1 operation's input as its model binds the members: those bound to the query string
 * from the query (first value), those bound to headers from the headers, the others from the JSON
 * body (an object). Path labels are the route's to give.
 */
import type { ApiModel } from './api-model.ts';

export function restJsonInput(
  model: ApiModel, operation: string, query: URLSearchParams, body: Record<string, unknown>, headers: Record<string, string | string[] | undefined> = {},
): Record<string, unknown> {
  const shape = model.operations[operation]?.input;
  const s = shape ? model.shapes[shape] : undefined;
  if (s?.type !== 'structure') return { ...body };
  const input: Record<string, unknown> = {};
  for (const [name, m] of Object.entries(s.members)) {
    if (m.location === 'query') {
      const v = query.get(m.locationName ?? name);
      if (v !== null) input[name] = v;
    } else if (m.location === 'header') {
      const v = headers[(m.locationName ?? name).toLowerCase()];
      if (v !== undefined) input[name] = Array.isArray(v) ? v.join(',') : v;
    } else if (m.location === undefined && Object.hasOwn(body, name)) {
      input[name] = body[name];
    }
  }
  return input;
}
