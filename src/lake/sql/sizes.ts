/**
 * Size-taking functions: DuckDB does not count the memory of strings and lists against
 * `memory_limit`, so one call such as `repeat(eventName, 2000000000)` or
 * `UNNEST(sequence(1, 100000000))` could grow the server until the system kills it. Each function
 * below is allowed only with literal size arguments whose output (characters or list elements) is
 * at most `MAX_GENERATED` per call, and together at most `MAX_GENERATED` for the whole statement;
 * never inside a lambda (`transform(sequence(1, 100), x -> repeat('a', 100))` multiplies them).
 * Refusals are InvalidQueryStatementException naming the function.
 */
import type { ServiceError } from '../../aws/errors.ts';

/** The most characters or list elements the size-taking calls of one statement may make. */
export const MAX_GENERATED = 10_000;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Node = { [k: string]: Json };
const isNode = (j: Json | undefined): j is Node => typeof j === 'object' && j !== null && !Array.isArray(j);

/** A literal integer argument (an INTEGER/BIGINT/... constant), else undefined. */
function intLiteral(j: Json | undefined): number | undefined {
  if (!isNode(j) || j.class !== 'CONSTANT' || !isNode(j.value) || j.value.is_null) return undefined;
  const v = Number(String(j.value.value));
  return Number.isInteger(v) ? v : undefined;
}

function stringLiteral(j: Json | undefined): string | undefined {
  if (!isNode(j) || j.class !== 'CONSTANT' || !isNode(j.value) || typeof j.value.value !== 'string') return undefined;
  return j.value.value;
}

/**
 * The output size of a call of a size-taking function (undefined when `name` is not one), or a
 * string saying why the call is refused.
 */
function generated(name: string, args: readonly Json[]): number | string | undefined {
  const need = (i: number, what: string): number | string => {
    const v = intLiteral(args[i]);
    return v === undefined ? `its ${what} must be an integer literal` : v;
  };
  switch (name) {
    case 'repeat': {
      const s = stringLiteral(args[0]);
      if (s === undefined) return 'it repeats a string literal only';
      const n = need(1, 'count');
      return typeof n === 'string' ? n : s.length * Math.max(n, 0);
    }
    case 'lpad': case 'rpad': case 'list_resize': case 'array_resize': case 'bitstring': {
      if (args.length < 2) return undefined;
      const n = need(1, 'length');
      return typeof n === 'string' ? n : Math.abs(n);
    }
    case 'to_base': {
      if (args.length < 3) return undefined;
      return need(2, 'minimum length');
    }
    case 'bar': {
      if (args.length < 4) return undefined;
      return need(3, 'width');
    }
    case 'equi_width_bins': {
      return need(2, 'bin count');
    }
    case 'range': case 'generate_series': case 'sequence': {
      const vals = args.map(intLiteral);
      if (args.length === 0 || args.length > 3 || vals.some((v) => v === undefined)) return 'its bounds (and step) must be integer literals';
      const [a, b, step = 1] = args.length === 1 ? [0, vals[0]!] : (vals as [number, number, number?]);
      if (step === 0) return 'its step must not be 0';
      return Math.max(0, Math.floor((b - a) / step) + 1);
    }
    case 'format': case 'printf': {
      const f = stringLiteral(args[0]);
      if (f === undefined) return 'its format must be a string literal';
      // A width or precision in the format pads to that many characters.
      return Math.max(0, ...[...f.matchAll(/\d+/g)].map((m) => Number(m[0])));
    }
    default:
      return undefined;
  }
}

/** Throws when the statement's size-taking calls are not all literal and small (see above). */
export function checkGeneratedSizes(tree: Json, invalid: (message: string) => ServiceError): void {
  let total = 0;
  const walk = (j: Json, inLambda: boolean): void => {
    if (Array.isArray(j)) {
      for (const x of j) walk(x, inLambda);
      return;
    }
    if (!isNode(j)) return;
    if (j.class === 'FUNCTION' && typeof j.function_name === 'string') {
      const name = j.function_name.toLowerCase();
      const size = generated(name, Array.isArray(j.children) ? j.children : []);
      if (typeof size === 'string') throw invalid(`The function ${name} is not allowed here: ${size}, and its result at most ${MAX_GENERATED} characters or elements.`);
      if (size !== undefined) {
        if (inLambda) throw invalid(`The function ${name} is not allowed inside a lambda expression.`);
        if (size > MAX_GENERATED) throw invalid(`The function ${name} is not allowed here: its result would have ${size} characters or elements; at most ${MAX_GENERATED} are allowed.`);
        total += size;
        if (total > MAX_GENERATED) throw invalid(`The function ${name} is not allowed here: the statement's size-taking calls would make more than ${MAX_GENERATED} characters or elements together.`);
      }
    }
    const lambda = inLambda || j.class === 'LAMBDA';
    for (const v of Object.values(j)) walk(v, lambda);
  };
  walk(tree, false);
}
