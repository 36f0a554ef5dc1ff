/**
 * Issue 18: every CloudTrail operation and PutAuditEvents, fed members made malformed as the model
 * says they can be (wrong type, missing required, too long or too short, out of range, not of the
 * enum, not of the pattern, lists too long or short), over HTTP to ONE real server with signed
 * requests. Each input is a value valid by the model with exactly one member broken, so the answer
 * must be the error that violation answers by the rule of docs/compatibility.md ("Model
 * validation"): an AWS-shaped 4xx (`__type` = `x-amzn-errortype`, a message, the model's status),
 * never a 5xx or a dropped connection.
 *
 * Every way to break every member is tried once per operation (the value drawn by fast-check from the
 * generated model tables), PutAuditEvents' 60 times at random;
 * the expected exception is worked out here from the override table and the operation's modelled
 * errors, not by the validator under test.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import fc from 'fast-check';
import { ACCOUNT_A, startServer, type StartedServer } from './helpers/server.ts';
import { signedFetch } from './helpers/signed-fetch.ts';
import { CLOUDTRAIL_DATA_MODEL, CLOUDTRAIL_DATA_OVERRIDES, CLOUDTRAIL_MODEL, CLOUDTRAIL_OVERRIDES, modelRegExp, type ApiModel, type ApiShape, type Override, type ViolationKind } from '../src/aws/protocol/index.ts';

const alice = ACCOUNT_A.identities[1]!;
const JSON_11 = 'application/x-amz-json-1.1';
const MAX_DEPTH = 5;

let server: StartedServer;
let requests = 0;

before(async () => {
  server = await startServer(undefined, existsSync('/dev/shm') ? { dataDir: mkdtempSync('/dev/shm/opentrail-model-') } : {});
});

after(async () => {
  if (!server) return;
  await server.stop();
  rmSync(server.dataDir, { recursive: true, force: true });
  rmSync(server.configFile, { force: true });
  console.log(`model validation: ${requests} signed requests`);
});

// ---------------------------------------------------------------------------------------------
// Values valid by the model.

const CANDIDATES = [
  'abc', 'arn:aws:cloudtrail:us-east-1:111111111111:channel/abc', 'abcdef12-3456-7890-abcd-ef1234567890', 'cloudtrail.amazonaws.com', 's3://abc-bucket/key', '10:00', '123456', 'a1', 'x',
];

/** A string the shape accepts, or undefined when none of the candidates fits. */
function validString(s: Extract<ApiShape, { type: 'string' }>): string | undefined {
  if (s.enum) return s.enum[0];
  const min = s.min ?? 0;
  const max = s.max ?? Infinity;
  for (const c of CANDIDATES) {
    const v = c.length >= min ? c : c + c.charAt(c.length - 1).repeat(min - c.length);
    if (v.length <= max && (s.pattern === undefined || modelRegExp(s.pattern).test(v))) return v;
  }
  return undefined;
}

/** A value of the shape valid by the model: every member present down to MAX_DEPTH, then required ones only. */
function valid(model: ApiModel, name: string, depth = 0): unknown {
  const s = model.shapes[name]!;
  switch (s.type) {
    case 'structure': {
      const out: Record<string, unknown> = {};
      for (const [m, member] of Object.entries(s.members)) {
        if (!member.required && depth >= MAX_DEPTH) continue;
        const v = valid(model, member.target, depth + 1);
        if (v === undefined) {
          if (member.required) return undefined;
          continue;
        }
        out[m] = v;
      }
      return out;
    }
    case 'list': {
      const n = Math.max(1, s.min ?? 0);
      if (depth >= MAX_DEPTH && (s.min ?? 0) === 0) return [];
      const item = valid(model, s.member, depth + 1);
      return item === undefined ? undefined : Array.from({ length: n }, () => structuredClone(item));
    }
    case 'map': {
      const v = valid(model, s.value, depth + 1);
      return v === undefined ? undefined : { abc: v };
    }
    case 'string': return validString(s);
    case 'integer': case 'long': return s.min ?? 1;
    case 'float': case 'double': return s.min ?? 1.5;
    case 'boolean': return true;
    case 'timestamp': return 1_767_225_600;
    case 'blob': return 'YWJj';
    default: return {};
  }
}

// ---------------------------------------------------------------------------------------------
// Where a value can be broken, and how.

interface Site {
  /** Keys and list positions from the input's root to the member. */
  at: (string | number)[];
  /** The member path as overrides name it (`TagsList[].Key`). */
  path: string;
  shape: ApiShape;
  required: boolean;
}

function sites(model: ApiModel, name: string, value: unknown, at: (string | number)[] = [], path = ''): Site[] {
  const s = model.shapes[name]!;
  const out: Site[] = [];
  if (s.type === 'structure') {
    for (const [m, member] of Object.entries(s.members)) {
      const v = (value as Record<string, unknown>)[m];
      if (v === undefined) continue;
      const p = path ? `${path}.${m}` : m;
      out.push({ at: [...at, m], path: p, shape: model.shapes[member.target]!, required: member.required === true });
      out.push(...sites(model, member.target, v, [...at, m], p));
    }
  } else if (s.type === 'list' && Array.isArray(value) && value.length > 0) {
    const item = model.shapes[s.member]!;
    if (item.type === 'structure' || item.type === 'list') out.push(...sites(model, s.member, value[0], [...at, 0], `${path}[]`));
    else out.push({ at: [...at, 0], path: `${path}[]`, shape: item, required: false });
  }
  return out;
}

interface Mutation {
  kind: ViolationKind;
  /** The new value; undefined: the member is left out. */
  value: unknown;
}

/** The ways a member can be broken, by its shape. */
function mutations(site: Site): fc.Arbitrary<Mutation>[] {
  const s = site.shape;
  const out: fc.Arbitrary<Mutation>[] = [];
  const wrong = (values: unknown[]) => out.push(fc.constantFrom(...values).map((value) => ({ kind: 'type' as const, value })));
  if (site.required) out.push(fc.constant({ kind: 'required' as const, value: undefined }));
  switch (s.type) {
    case 'structure': wrong([1, 'text', true, ['a']]); break;
    case 'list':
      wrong([1, 'text', { a: 1 }]);
      if (s.max !== undefined) out.push(fc.integer({ min: s.max + 1, max: s.max + 5 }).map((n) => ({ kind: 'length' as const, value: n })));
      if ((s.min ?? 0) > 0) out.push(fc.constant({ kind: 'length' as const, value: 0 }));
      break;
    case 'map': wrong([1, 'text', ['a']]); break;
    case 'string': {
      wrong([1, true, ['a'], { a: 1 }]);
      if (s.enum) out.push(fc.string({ minLength: 1, maxLength: 20 }).filter((v) => !s.enum!.includes(v)).map((value) => ({ kind: 'enum' as const, value })));
      else {
        if (s.max !== undefined) out.push(fc.integer({ min: s.max + 1, max: s.max + 50 }).map((n) => ({ kind: 'length' as const, value: 'a'.repeat(n) })));
        if ((s.min ?? 0) > 0) out.push(fc.integer({ min: 0, max: s.min! - 1 }).map((n) => ({ kind: 'length' as const, value: 'a'.repeat(n) })));
        if (s.pattern !== undefined) {
          const re = modelRegExp(s.pattern);
          const min = Math.max(s.min ?? 1, 1);
          const bad = [' ', '#', '\n', '\u0000', '{}', '\u00e9'].map((c) => c.repeat(min)).filter((v) => v.length <= (s.max ?? Infinity) && !re.test(v));
          if (bad.length > 0) out.push(fc.constantFrom(...bad).map((value) => ({ kind: 'pattern' as const, value })));
        }
      }
      break;
    }
    case 'integer': case 'long': case 'float': case 'double':
      wrong(['1', true, [1], { n: 1 }]);
      if (s.max !== undefined) out.push(fc.integer({ min: s.max + 1, max: s.max + 1000 }).map((value) => ({ kind: 'range' as const, value })));
      if (s.min !== undefined) out.push(fc.integer({ min: s.min - 1000, max: s.min - 1 }).map((value) => ({ kind: 'range' as const, value })));
      if (s.type === 'integer' || s.type === 'long') wrong([1.5]);
      break;
    case 'boolean': wrong(['true', 1, ['x']]); break;
    case 'timestamp': wrong(['2026-01-01T00:00:00Z', true, { t: 1 }]); break;
    case 'blob': wrong([1, true, ['YQ==']]); break;
    default: break;
  }
  return out;
}

/** The input with one member broken. A list-length mutation carries the list's new length. */
function apply(input: unknown, site: Site, m: Mutation, model: ApiModel): unknown {
  const copy = structuredClone(input) as Record<string | number, unknown>;
  let parent = copy;
  for (const k of site.at.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const last = site.at[site.at.length - 1]!;
  if (m.value === undefined) delete parent[last];
  else if (m.kind === 'length' && site.shape.type === 'list') {
    const list = parent[last] as unknown[];
    const item = list[0] ?? valid(model, site.shape.member);
    parent[last] = Array.from({ length: m.value as number }, () => structuredClone(item));
  } else parent[last] = m.value;
  return copy;
}

/**
 * The exception the rule gives one violation: an override covering it, else SerializationException
 * for a type, else the generic one; undefined where an override lets it through to the operation.
 */
function expectedCode(model: ApiModel, op: string, overrides: readonly Override[], site: Site, m: Mutation): string | undefined {
  const covers = (o: Override) => (o.kinds ?? ['required', 'length', 'pattern', 'range', 'enum']).includes(m.kind)
    && (site.path === o.path || (site.path.startsWith(o.path) && '.[{'.includes(site.path.charAt(o.path.length))));
  if (overrides.some((o) => o.accept && covers(o))) return undefined;
  const special = overrides.find((o) => o.code !== undefined && covers(o));
  if (special) return special.code;
  if (m.kind === 'type') return 'SerializationException';
  return model.operations[op]!.errors.includes('InvalidParameterException') ? 'InvalidParameterException' : 'ValidationException';
}

async function judge(label: string, res: Response, code: string, model: ApiModel): Promise<void> {
  requests++;
  const text = await res.text();
  const show = `${label}: HTTP ${res.status} ${text.slice(0, 300)}`;
  assert.ok(res.status < 500, `${show}\n--- server output ---\n${server.output().split('\n').slice(-20).join('\n')}`);
  const doc = JSON.parse(text) as Record<string, unknown>;
  assert.deepEqual(Object.keys(doc).sort(), ['__type', 'message'], show);
  assert.equal(doc.__type, code, show);
  assert.equal(res.headers.get('x-amzn-errortype'), code, show);
  assert.ok(typeof doc.message === 'string' && doc.message.length > 0, show);
  assert.equal(res.status, model.errorStatus[code] ?? 400, show);
}

// ---------------------------------------------------------------------------------------------

describe('model validation over HTTP', () => {
  const ops = Object.keys(CLOUDTRAIL_MODEL.operations);

  test('the model tables reach every CloudTrail operation, and valid values are built for each', () => {
    assert.equal(ops.length, 60);
    for (const op of ops) assert.notEqual(valid(CLOUDTRAIL_MODEL, CLOUDTRAIL_MODEL.operations[op]!.input!), undefined, op);
  });

  for (const op of ops) {
    test(`CloudTrail ${op}: each member broken each way the model allows answers the error its violation is given`, async () => {
      const shape = CLOUDTRAIL_MODEL.operations[op]!.input!;
      const base = valid(CLOUDTRAIL_MODEL, shape);
      const candidates = sites(CLOUDTRAIL_MODEL, shape, base).flatMap((site) => mutations(site).map((m) => m.map((mutation) => ({ site, mutation }))));
      // Every way to break every member, once each (a value drawn by fast-check).
      for (const candidate of candidates) {
        await fc.assert(fc.asyncProperty(candidate, async ({ site, mutation }) => {
          const body = JSON.stringify(apply(base, site, mutation, CLOUDTRAIL_MODEL));
          const res = await signedFetch(`${server.url}/`, alice, { body, service: 'cloudtrail', headers: { 'content-type': JSON_11, 'x-amz-target': `CloudTrail_20131101.${op}` } });
          await judge(`${op} ${mutation.kind} at ${site.path} ${body.slice(0, 200)}`, res, expectedCode(CLOUDTRAIL_MODEL, op, CLOUDTRAIL_OVERRIDES[op] ?? [], site, mutation)!, CLOUDTRAIL_MODEL);
        }), { numRuns: 1 });
      }
    });
  }

  test('cloudtrail-data PutAuditEvents: one broken member (query or body) answers its error', async () => {
    const shape = CLOUDTRAIL_DATA_MODEL.operations.PutAuditEvents!.input!;
    const base = valid(CLOUDTRAIL_DATA_MODEL, shape) as Record<string, unknown>;
    const candidates = sites(CLOUDTRAIL_DATA_MODEL, shape, base).flatMap((site) => mutations(site).map((m) => m.map((mutation) => ({ site, mutation }))));
    const members = (CLOUDTRAIL_DATA_MODEL.shapes[shape] as Extract<ApiShape, { type: 'structure' }>).members;
    await fc.assert(fc.asyncProperty(fc.oneof(...candidates), async ({ site, mutation }) => {
      const expected = expectedCode(CLOUDTRAIL_DATA_MODEL, 'PutAuditEvents', CLOUDTRAIL_DATA_OVERRIDES.PutAuditEvents ?? [], site, mutation);
      // A violation the model table lets through is the operation's to judge (a channel id).
      if (expected === undefined) return;
      const input = apply(base, site, mutation, CLOUDTRAIL_DATA_MODEL) as Record<string, unknown>;
      // Query members travel in the query string, as text: a wrong JSON type cannot be sent there.
      if (members[site.path]?.location === 'query' && mutation.kind === 'type') return;
      const query = new URLSearchParams();
      const body: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(input)) {
        if (members[k]?.location === 'query') query.set(members[k].locationName ?? k, String(v));
        else body[k] = v;
      }
      const qs = query.toString().replace(/\+/g, '%20');
      const res = await signedFetch(`${server.url}/PutAuditEvents${qs ? `?${qs}` : ''}`, alice, { body: JSON.stringify(body), service: 'cloudtrail-data', headers: { 'content-type': 'application/json' } });
      await judge(`PutAuditEvents ${mutation.kind} at ${site.path} ?${qs.slice(0, 100)} ${JSON.stringify(body).slice(0, 200)}`, res, expected, CLOUDTRAIL_DATA_MODEL);
    }), { numRuns: 60 });
  });
});
