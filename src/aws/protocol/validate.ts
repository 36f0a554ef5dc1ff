/**
 * Requests checked against the generated API models (./generated/): member types, required
 * members, enums, string and list lengths, patterns and numeric ranges, as AWS's model says.
 * Which error a violation answers is the rule of docs/compatibility.md ("Model validation"):
 *  - a value of the wrong JSON type: SerializationException (the body cannot be read as the shape);
 *  - a constraint violated (required, length, pattern, range, enum): the specific exception an
 *    override names for that member (./overrides.ts), else the operation's InvalidParameterException
 *    when its model lists one, else ValidationException; the message in AWS's validation wording.
 */
import { ServiceError } from '../errors.ts';
import type { ApiModel, ApiShape } from './api-model.ts';

export type ViolationKind = 'type' | 'required' | 'length' | 'pattern' | 'range' | 'enum';

export interface Violation {
  kind: ViolationKind;
  /** The member path with list positions as `[]` (`TagsList[].Key`): what overrides match. */
  path: string;
  /** The path as AWS writes it in validation messages (`tagsList.1.member.key`). */
  wirePath: string;
  value: unknown;
  /** What the value fails to be ("Member must not be null"), or for a type violation what it must be. */
  constraint: string;
}

/**
 * A more specific exception for the violations of one member (and what lies inside it), or, with
 * `accept`, a violation OpenTrail lets through for the operation's own rule to decide.
 */
export interface Override {
  /** Member path, `[]` for list items: `Name`, `TagsList`, `LookupAttributes[].AttributeKey`. */
  path: string;
  code?: string;
  /** Not a violation here: the operation checks the member itself (an OpenTrail extension). */
  accept?: true;
  /** The answer's message; default: AWS's validation message for the violation. */
  message?: string;
  /** The kinds of violation it covers; default every kind but `type`. */
  kinds?: readonly ViolationKind[];
}

const MAX_VIOLATIONS = 10;
const MAX_DEPTH = 32;
const patterns = new Map<string, RegExp>();

/**
 * A model's @pattern as a RegExp. Smithy patterns are ECMA 262 and not implicitly anchored; a few
 * AWS models open with a Java inline flag (`(?s).*`), read as the RegExp flag.
 */
export function modelRegExp(p: string): RegExp {
  let r = patterns.get(p);
  if (!r) {
    let source = p;
    let flags = '';
    const inline = /^\(\?([a-z]+)\)/.exec(source);
    if (inline) {
      source = source.slice(inline[0].length);
      for (const f of inline[1]!) if ('ims'.includes(f) && !flags.includes(f)) flags += f;
    }
    try {
      r = new RegExp(source, `${flags}u`);
    } catch {
      r = new RegExp(source, flags);
    }
    patterns.set(p, r);
  }
  return r;
}

/** A string's length as Smithy counts it: in Unicode code points (a surrogate pair is one). */
function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** `o[k] = v` as an own property even for `__proto__` (JSON.parse makes it an own member; assigned, it would become the prototype). */
function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const jsonType = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);
const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);

function expected(s: ApiShape): string {
  switch (s.type) {
    case 'structure': return 'an object';
    case 'list': return 'a list';
    case 'map': return 'a map (object)';
    case 'integer': case 'long': return 'an integer';
    case 'float': case 'double': return 'a number';
    case 'timestamp': return 'a timestamp (epoch seconds)';
    case 'blob': return 'base64 text';
    default: return `a ${s.type}`;
  }
}

/**
 * Walks a value against a shape: its violations (at most MAX_VIOLATIONS, in member order) and the
 * value with structure members that are JSON null left out (AWS JSON reads null as absent).
 * Members the model does not have are kept as sent.
 */
export function validate(model: ApiModel, shapeName: string, value: unknown): { value: unknown; violations: Violation[] } {
  const out: Violation[] = [];
  const add = (kind: ViolationKind, path: string, wirePath: string, v: unknown, constraint: string) => {
    if (out.length < MAX_VIOLATIONS) out.push({ kind, path, wirePath, value: v, constraint });
  };

  const walk = (name: string, v: unknown, path: string, wire: string, depth: number): unknown => {
    const s = model.shapes[name];
    if (!s || depth > MAX_DEPTH) return v;
    const wrongType = () => {
      add('type', path, wire, v, expected(s));
      return v;
    };
    const length = (n: number, b: { min?: number; max?: number }) => {
      if (b.min !== undefined && n < b.min) add('length', path, wire, v, `Member must have length greater than or equal to ${b.min}`);
      else if (b.max !== undefined && n > b.max) add('length', path, wire, v, `Member must have length less than or equal to ${b.max}`);
    };
    switch (s.type) {
      case 'structure': {
        if (!isObject(v)) return wrongType();
        const copy: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v)) if (!Object.hasOwn(s.members, k)) setOwn(copy, k, x);
        for (const [m, member] of Object.entries(s.members)) {
          const mv = Object.hasOwn(v, m) ? v[m] : undefined;
          const mp = path ? `${path}.${m}` : m;
          const mw = wire ? `${wire}.${lowerFirst(m)}` : lowerFirst(m);
          if (mv === undefined || mv === null) {
            if (member.required) add('required', mp, mw, null, 'Member must not be null');
            continue;
          }
          copy[m] = walk(member.target, mv, mp, mw, depth + 1);
        }
        return copy;
      }
      case 'list': {
        if (!Array.isArray(v)) return wrongType();
        length(v.length, s);
        return v.map((x, i) => {
          if (x === null || x === undefined) {
            add('required', `${path}[]`, `${wire}.${i + 1}.member`, null, 'Member must not be null');
            return x;
          }
          return walk(s.member, x, `${path}[]`, `${wire}.${i + 1}.member`, depth + 1);
        });
      }
      case 'map': {
        if (!isObject(v)) return wrongType();
        const keys = Object.keys(v);
        length(keys.length, s);
        const copy: Record<string, unknown> = {};
        for (const k of keys) {
          walk(s.key, k, `${path}{}`, `${wire}.${k}`, depth + 1);
          setOwn(copy, k, walk(s.value, v[k], `${path}{}`, `${wire}.${k}`, depth + 1));
        }
        return copy;
      }
      case 'string': {
        if (typeof v !== 'string') return wrongType();
        const before = out.length;
        if (s.enum && !s.enum.includes(v)) add('enum', path, wire, v, `Member must satisfy enum value set: [${s.enum.join(', ')}]`);
        else if (s.min !== undefined || s.max !== undefined) {
          length(codePoints(v), s);
        }
        if (s.pattern !== undefined && out.length === before && !modelRegExp(s.pattern).test(v)) add('pattern', path, wire, v, `Member must satisfy regular expression pattern: ${s.pattern}`);
        return v;
      }
      case 'integer': case 'long': case 'float': case 'double': {
        if (typeof v !== 'number' || !Number.isFinite(v) || ((s.type === 'integer' || s.type === 'long') && !Number.isInteger(v))) return wrongType();
        if (s.min !== undefined && v < s.min) add('range', path, wire, v, `Member must have value greater than or equal to ${s.min}`);
        else if (s.max !== undefined && v > s.max) add('range', path, wire, v, `Member must have value less than or equal to ${s.max}`);
        return v;
      }
      case 'boolean':
        return typeof v === 'boolean' ? v : wrongType();
      case 'timestamp':
        return typeof v === 'number' && Number.isFinite(v) ? v : wrongType();
      case 'blob':
        return typeof v === 'string' ? v : wrongType();
      default:
        return v;
    }
  };
  const cleaned = walk(shapeName, value, '', '', 0);
  return { value: cleaned, violations: out };
}

/** A client value in a validation message: short, never the whole text. */
function show(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return `'${v.length > 100 ? `${v.slice(0, 100)}...` : v}'`;
  if (Array.isArray(v)) return `'[${v.length} item${v.length === 1 ? '' : 's'}]'`;
  if (typeof v === 'object') return "'{...}'";
  return `'${String(v)}'`;
}

/** AWS's wording: "2 validation errors detected: Value 'x' at 'name' failed to satisfy constraint: ...; ...". */
export function validationMessage(vs: readonly Violation[]): string {
  const items = vs.map((v) => `Value ${show(v.value)} at '${v.wirePath}' failed to satisfy constraint: ${v.constraint}`);
  return `${vs.length} validation error${vs.length === 1 ? '' : 's'} detected: ${items.join('; ')}`;
}

function covers(o: Override, v: Violation): boolean {
  if (!(o.kinds ?? ['required', 'length', 'pattern', 'range', 'enum']).includes(v.kind)) return false;
  if (v.path === o.path) return true;
  if (!v.path.startsWith(o.path)) return false;
  const next = v.path.charAt(o.path.length);
  return next === '.' || next === '[' || next === '{';
}

const typeMessage = (v: Violation) => `Value ${show(v.value)} at '${v.wirePath}' cannot be read: it must be ${v.constraint}, not ${jsonType(v.value)}.`;

/**
 * The exception a set of violations answers, by the rule at the top of this file: a value of the
 * wrong type first (it stops the body being read at all), else the first violation in member order.
 */
export function violationError(model: ApiModel, operation: string, vs: readonly Violation[], overrides: readonly Override[] = []): ServiceError {
  const typed = vs.find((v) => v.kind === 'type');
  const v = typed ?? vs[0]!;
  const status = (code: string) => model.errorStatus[code] ?? 400;
  const special = overrides.find((o) => o.code !== undefined && covers(o, v));
  if (special) return new ServiceError(special.code!, special.message ?? (typed ? typeMessage(v) : validationMessage([v])), status(special.code!));
  if (typed) return new ServiceError('SerializationException', typeMessage(v), 400);
  const code = model.operations[operation]?.errors.includes('InvalidParameterException') ? 'InvalidParameterException' : 'ValidationException';
  return new ServiceError(code, validationMessage(vs), status(code));
}

/**
 * An operation's input checked against the model: the input with null members left out, or the
 * ServiceError its violations answer (thrown).
 */
export function checkInput<T>(model: ApiModel, operation: string, input: unknown, overrides: readonly Override[] = []): T {
  const shape = model.operations[operation]?.input;
  if (!shape) return (input ?? {}) as T;
  const r = validate(model, shape, input ?? {});
  const violations = r.violations.filter((v) => !overrides.some((o) => o.accept && covers(o, v)));
  if (violations.length > 0) throw violationError(model, operation, violations, overrides);
  return r.value as T;
}
