/**
 * EventBridge's event-pattern language ("Content filtering in Amazon EventBridge event patterns",
 * AWS EventBridge User Guide): a pattern compiles once to a predicate over an event (any JSON
 * object, here an EventBridge envelope). No library on npm implements it (docs/realtime.md), so
 * this is our own, held to the examples of AWS's documentation (src/core/event-pattern.test.ts).
 *
 * Semantics, as documented:
 * - every key of a pattern object must match (AND); `$or` takes a list of sub-patterns of which one must;
 * - a key whose value is an object matches the event's object at that key (nested);
 * - a key whose value is an array is a leaf: it matches when one of its matchers matches one of the
 *   event's values there (an array in the event: any element; arrays of objects: any element);
 * - matchers: a literal (string, number, boolean, null; numbers by value), `prefix`, `suffix`
 *   (each also `{"equals-ignore-case": s}`), `equals-ignore-case`, `wildcard` (`*`, `\*`, `\\`),
 *   `anything-but` (a literal, a list of literals, or `{prefix|suffix|equals-ignore-case|wildcard:
 *   value or list}`), `numeric` (one or two comparisons), `cidr` (IPv4 or IPv6), `exists`.
 * - an absent field matches only `{"exists": false}`; `exists` looks at leaf values only.
 */
import { BlockList, isIP } from 'node:net';

/** A pattern that is not valid EventBridge syntax; `message` says where and why. */
export class EventPatternError extends Error {
  override name = 'EventPatternError';
}

export type PatternPredicate = (event: unknown) => boolean;

type Leaf = (v: unknown) => boolean;
type Value = unknown;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const bad = (path: string, msg: string) => new EventPatternError(`${path || 'pattern'}: ${msg}`);

/** Compiles a pattern (an object, or its JSON text) to a predicate; throws EventPatternError for bad syntax. */
export function compileEventPattern(pattern: unknown): PatternPredicate {
  const p = typeof pattern === 'string' ? parsePatternText(pattern) : pattern;
  if (!isObject(p)) throw bad('', 'must be a JSON object');
  const m = compileObject(p, '');
  return (event) => m([event]);
}

function parsePatternText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new EventPatternError(`pattern: not JSON (${(e as Error).message})`);
  }
}

/** A compiled object pattern tested against the values found at its place (several when arrays fan out). */
type ObjectMatcher = (values: readonly Value[]) => boolean;

function compileObject(p: Record<string, unknown>, path: string): ObjectMatcher {
  const parts: ObjectMatcher[] = [];
  for (const [key, sub] of Object.entries(p)) {
    const at = path ? `${path}.${key}` : key;
    if (key === '$or') {
      if (!Array.isArray(sub) || sub.length < 2 || !sub.every(isObject)) throw bad(at, 'must be a list of at least two patterns');
      const alts = sub.map((s, i) => compileObject(s, `${at}[${i}]`));
      parts.push((values) => alts.some((a) => a(values)));
    } else if (Array.isArray(sub)) {
      const leaf = compileLeafList(sub, at);
      parts.push((values) => leaf(collect(values, key)));
    } else if (isObject(sub)) {
      const inner = compileObject(sub, at);
      parts.push((values) => inner(objectsAt(values, key)));
    } else {
      throw bad(at, 'must be an object or a list of matchers');
    }
  }
  if (parts.length === 0) return () => true;
  return (values) => parts.every((m) => m(values));
}

/** The objects found at key in any of the values (arrays of objects fan out). */
function objectsAt(values: readonly Value[], key: string): Value[] {
  const out: Value[] = [];
  for (const v of values) {
    for (const o of Array.isArray(v) ? v : [v]) {
      if (!isObject(o) || !Object.hasOwn(o, key)) continue;
      const x = o[key];
      if (Array.isArray(x)) out.push(...x.filter(isObject));
      else if (isObject(x)) out.push(x);
    }
  }
  return out;
}

/** The leaf values at key (arrays flattened); objects are not leaves. `present` says whether any leaf exists. */
function collect(values: readonly Value[], key: string): { leaves: Value[]; present: boolean } {
  const leaves: Value[] = [];
  for (const v of values) {
    for (const o of Array.isArray(v) ? v : [v]) {
      if (!isObject(o) || !Object.hasOwn(o, key)) continue;
      const x = o[key];
      for (const e of Array.isArray(x) ? x : [x]) if (!isObject(e) && !Array.isArray(e)) leaves.push(e);
    }
  }
  return { leaves, present: leaves.length > 0 };
}

function compileLeafList(list: unknown[], path: string): (found: { leaves: Value[]; present: boolean }) => boolean {
  if (list.length === 0) throw bad(path, 'an empty list matches nothing; give at least one matcher');
  const positive: Leaf[] = [];
  let exists: boolean | undefined;
  for (const [i, m] of list.entries()) {
    const at = `${path}[${i}]`;
    if (isObject(m) && Object.keys(m).length === 1 && 'exists' in m) {
      if (typeof m.exists !== 'boolean') throw bad(at, 'exists takes true or false');
      exists = m.exists;
      continue;
    }
    positive.push(compileMatcher(m, at));
  }
  return ({ leaves, present }) => {
    if (exists !== undefined && present === exists) return true;
    return positive.some((f) => leaves.some(f));
  };
}

const isLiteral = (v: unknown) => v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

function compileMatcher(m: unknown, at: string): Leaf {
  if (isLiteral(m)) return (v) => v === m;
  if (!isObject(m)) throw bad(at, 'a matcher is a string, number, boolean, null or an object with one operator');
  const keys = Object.keys(m);
  if (keys.length !== 1) throw bad(at, `a matcher object has exactly one operator, not ${keys.length}`);
  const op = keys[0]!;
  const arg = m[op];
  switch (op) {
    case 'prefix': return stringTest(arg, at, (v, s) => v.startsWith(s), (v, s) => v.toLowerCase().startsWith(s.toLowerCase()));
    case 'suffix': return stringTest(arg, at, (v, s) => v.endsWith(s), (v, s) => v.toLowerCase().endsWith(s.toLowerCase()));
    case 'equals-ignore-case': {
      const s = str(arg, at).toLowerCase();
      return (v) => typeof v === 'string' && v.toLowerCase() === s;
    }
    case 'wildcard': {
      const re = wildcardRegExp(str(arg, at), at);
      return (v) => typeof v === 'string' && re.test(v);
    }
    case 'anything-but': return anythingBut(arg, `${at}.anything-but`);
    case 'numeric': return numeric(arg, `${at}.numeric`);
    case 'cidr': return cidr(arg, `${at}.cidr`);
    case 'exists': throw bad(at, 'exists must be a matcher of its own');
    default: throw bad(at, `unknown operator ${JSON.stringify(op)}`);
  }
}

function str(v: unknown, at: string): string {
  if (typeof v !== 'string') throw bad(at, 'takes a string');
  return v;
}

/** prefix / suffix: a string, or `{"equals-ignore-case": string}`. */
function stringTest(arg: unknown, at: string, exact: (v: string, s: string) => boolean, folded: (v: string, s: string) => boolean): Leaf {
  if (isObject(arg) && Object.keys(arg).length === 1 && 'equals-ignore-case' in arg) {
    const s = str(arg['equals-ignore-case'], at);
    return (v) => typeof v === 'string' && folded(v, s);
  }
  const s = str(arg, at);
  return (v) => typeof v === 'string' && exact(v, s);
}

/** `*` any run of characters; `\*` a star; `\\` a backslash; any other escape is refused, as EventBridge does. */
function wildcardRegExp(w: string, at: string): RegExp {
  let re = '';
  for (let i = 0; i < w.length; i++) {
    const c = w[i]!;
    if (c === '\\') {
      const n = w[i + 1];
      if (n !== '*' && n !== '\\') throw bad(at, 'in a wildcard, \\ escapes only * and \\');
      re += n === '*' ? '\\*' : '\\\\';
      i++;
    } else if (c === '*') {
      if (w[i + 1] === '*') throw bad(at, 'a wildcard may not have two * in a row');
      re += '.*';
    } else {
      re += c.replace(/[.+?^${}()|[\]]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}$`, 's');
}

function anythingBut(arg: unknown, at: string): Leaf {
  if (isLiteral(arg)) {
    if (arg === null || typeof arg === 'boolean') throw bad(at, 'takes a string, a number, a list of them, or an object with prefix, suffix, equals-ignore-case or wildcard');
    return (v) => v !== arg && (typeof v === 'string' || typeof v === 'number');
  }
  if (Array.isArray(arg)) {
    if (arg.length === 0 || !(arg.every((x) => typeof x === 'string') || arg.every((x) => typeof x === 'number'))) throw bad(at, 'a list must hold only strings or only numbers');
    const set = new Set<unknown>(arg);
    return (v) => (typeof v === 'string' || typeof v === 'number') && !set.has(v);
  }
  if (isObject(arg) && Object.keys(arg).length === 1) {
    const [op, val] = Object.entries(arg)[0]!;
    const list = Array.isArray(val) ? val : [val];
    if (list.length === 0) throw bad(`${at}.${op}`, 'needs at least one value');
    const each = list.map((s) => str(s, `${at}.${op}`));
    let hit: (v: string) => boolean;
    switch (op) {
      case 'prefix': hit = (v) => each.some((s) => v.startsWith(s)); break;
      case 'suffix': hit = (v) => each.some((s) => v.endsWith(s)); break;
      case 'equals-ignore-case': {
        const folded = new Set(each.map((s) => s.toLowerCase()));
        hit = (v) => folded.has(v.toLowerCase());
        break;
      }
      case 'wildcard': {
        const res = each.map((s) => wildcardRegExp(s, `${at}.wildcard`));
        hit = (v) => res.some((r) => r.test(v));
        break;
      }
      default: throw bad(at, `unknown operator ${JSON.stringify(op)} (prefix, suffix, equals-ignore-case or wildcard)`);
    }
    return (v) => typeof v === 'string' && !hit(v);
  }
  throw bad(at, 'takes a string, a number, a list of them, or an object with one operator');
}

const COMPARE: Record<string, (a: number, b: number) => boolean> = {
  '<': (a, b) => a < b, '<=': (a, b) => a <= b, '=': (a, b) => a === b, '>': (a, b) => a > b, '>=': (a, b) => a >= b,
};

function numeric(arg: unknown, at: string): Leaf {
  if (!Array.isArray(arg) || (arg.length !== 2 && arg.length !== 4)) throw bad(at, 'takes one or two comparisons: [op, number] or [op, number, op, number]');
  const tests: ((v: number) => boolean)[] = [];
  for (let i = 0; i < arg.length; i += 2) {
    const op = arg[i];
    const n = arg[i + 1];
    const f = typeof op === 'string' ? COMPARE[op] : undefined;
    if (!f) throw bad(at, `unknown comparison ${JSON.stringify(op)} (<, <=, =, >, >=)`);
    if (typeof n !== 'number' || !Number.isFinite(n)) throw bad(at, `${JSON.stringify(op)} needs a number`);
    tests.push((v) => f(v, n));
  }
  if (tests.length === 2) {
    const [a, b] = [arg[0] as string, arg[2] as string];
    if (!/^>/.test(a) || !/^</.test(b)) throw bad(at, 'a range is [">" or ">=", low, "<" or "<=", high]');
  }
  return (v) => typeof v === 'number' && tests.every((t) => t(v));
}

function cidr(arg: unknown, at: string): Leaf {
  const s = str(arg, at);
  const slash = s.lastIndexOf('/');
  const addr = slash < 0 ? s : s.slice(0, slash);
  const family = isIP(addr);
  const max = family === 4 ? 32 : 128;
  const bits = slash < 0 ? max : Number(s.slice(slash + 1));
  if (family === 0 || !Number.isInteger(bits) || bits < 0 || bits > max || (slash >= 0 && !/^\d+$/.test(s.slice(slash + 1)))) throw bad(at, `${JSON.stringify(s)} is not an IPv4 or IPv6 CIDR block`);
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const list = new BlockList();
  list.addSubnet(addr, bits, type);
  return (v) => typeof v === 'string' && isIP(v) === family && list.check(v, type);
}
