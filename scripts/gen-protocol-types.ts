// Writes src/aws/protocol/generated/<service>.ts for the APIs OpenTrail serves (CloudTrail and
// cloudtrail-data): a TypeScript type for every shape of every operation's input and output, an
// interface naming each operation's input and output types, and the model table the validators
// (src/aws/protocol/validate.ts) check requests against. Nothing of it is typed by hand.
//
// Where each part comes from (all of it AWS's published model, in the forms the packages carry):
//  - shapes, members, @required, enums and the constraint traits (@length, @pattern, @range) and
//    each operation's errors: the model in botocore's JSON form, read from the botocore package that
//    moto and the AWS CLI bring (the JavaScript SDKs drop the constraint traits from what they ship);
//  - checked against the SDK the server answers: @aws-sdk/client-cloudtrail's compiled Smithy
//    schemas (the same operations and members, else the generator stops) and aws-sdk v2's
//    cloudtrail-data model;
//  - the HTTP status of each exception: the compiled schemas' httpError traits (botocore's form
//    leaves them out); cloudtrail-data has no compiled schemas on the registry: its exceptions are 400.
// Run: `node scripts/gen-protocol-types.ts` (also run by scripts/gen-gateway-models.ts).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { NormalizedSchema } from '@smithy/core/schema';
import type { ApiMember, ApiModel, ApiShape } from '../src/aws/protocol/api-model.ts';

const require = createRequire(import.meta.url);
const OUT = 'src/aws/protocol/generated';

interface BotoShape {
  type: string; members?: Record<string, { shape: string; location?: string; locationName?: string }>; required?: string[];
  member?: { shape: string }; key?: { shape: string }; value?: { shape: string };
  min?: number; max?: number; pattern?: string; enum?: string[]; exception?: boolean;
}
interface BotoModel {
  metadata: Record<string, string>;
  operations: Record<string, { input?: { shape: string }; output?: { shape: string }; errors?: { shape: string }[] }>;
  shapes: Record<string, BotoShape>;
}

function version(pkg: string): string {
  return JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')).version;
}

function botocore(): { dir: string; version: string } {
  let out: string;
  try {
    out = execFileSync('python3', ['-c', 'import botocore, os; print(os.path.dirname(botocore.__file__)); print(botocore.__version__)'], { encoding: 'utf8' });
  } catch {
    throw new Error('botocore (Python) is needed to read the constraint traits of the model: it comes with moto (pip install "moto[server]") and the AWS CLI');
  }
  const [dir, v] = out.trim().split('\n');
  return { dir: dir!, version: v! };
}

function readBotocore(dir: string, path: string): BotoModel {
  return JSON.parse(gunzipSync(readFileSync(join(dir, 'data', path, 'service-2.json.gz'))).toString('utf8')) as BotoModel;
}

/** The operations and their input/output member names of an SDK v3 client's compiled schemas. */
async function v3Members(pkg: string): Promise<{ ops: Map<string, { input: Map<string, string>; output: Map<string, string> }>; errorStatus: Record<string, number> }> {
  const sdk = (await import(pkg)) as Record<string, unknown>;
  const ops = new Map<string, { input: Map<string, string>; output: Map<string, string> }>();
  const errorStatus: Record<string, number> = {};
  /** Member name -> its simple type in botocore's words ('' for lists, maps and structures). */
  const names = (s: unknown) => {
    const n = NormalizedSchema.of(s as never);
    if (!n.isStructSchema()) return new Map<string, string>();
    return new Map([...n.structIterator()].map(([m, ms]) => [m, ms.isBooleanSchema() ? 'boolean' : ms.isTimestampSchema() ? 'timestamp'
      : ms.isNumericSchema() ? 'integer' : ms.isBlobSchema() ? 'blob' : ms.isStringSchema() ? 'string' : '']));
  };
  for (const [key, value] of Object.entries(sdk)) {
    if (!key.endsWith('$') || !Array.isArray(value)) continue;
    if (value[0] === 9) ops.set(value[2] as string, { input: names(value[4]), output: names(value[5]) });
    if (value[0] === -3 && typeof (value[3] as Record<string, unknown>)?.httpError === 'number') errorStatus[value[2] as string] = (value[3] as { httpError: number }).httpError;
  }
  return { ops, errorStatus };
}

const NUMERIC = new Set(['integer', 'long', 'float', 'double']);
const SIMPLE = new Set(['string', 'boolean', 'timestamp', 'blob', ...NUMERIC]);

/** The model table of the shapes the operations' inputs reach, with their constraints. */
function modelTable(m: BotoModel, service: string, protocol: ApiModel['protocol'], source: string, errorStatus: Record<string, number>): ApiModel {
  const shapes: Record<string, ApiShape> = {};
  const visit = (name: string): void => {
    if (shapes[name]) return;
    const s = m.shapes[name];
    if (!s) throw new Error(`${service}: no shape ${name}`);
    const bounds = { ...(s.min !== undefined ? { min: s.min } : {}), ...(s.max !== undefined ? { max: s.max } : {}) };
    switch (s.type) {
      case 'structure': {
        const members: Record<string, ApiMember> = {};
        shapes[name] = { type: 'structure', members };
        for (const [mn, mm] of Object.entries(s.members ?? {})) {
          const member: ApiMember = { target: mm.shape };
          if (s.required?.includes(mn)) member.required = true;
          const loc = { querystring: 'query', header: 'header', uri: 'label' }[mm.location ?? ''] as ApiMember['location'];
          if (loc) {
            member.location = loc;
            member.locationName = mm.locationName ?? mn;
          }
          members[mn] = member;
          visit(mm.shape);
        }
        return;
      }
      case 'list':
        shapes[name] = { type: 'list', member: s.member!.shape, ...bounds };
        visit(s.member!.shape);
        return;
      case 'map':
        shapes[name] = { type: 'map', key: s.key!.shape, value: s.value!.shape, ...bounds };
        visit(s.key!.shape);
        visit(s.value!.shape);
        return;
      case 'string':
        shapes[name] = { type: 'string', ...bounds, ...(s.pattern !== undefined ? { pattern: s.pattern } : {}), ...(s.enum ? { enum: s.enum } : {}) };
        return;
      default:
        if (NUMERIC.has(s.type)) shapes[name] = { type: s.type as 'integer', ...bounds };
        else if (SIMPLE.has(s.type)) shapes[name] = { type: s.type as 'boolean' };
        else throw new Error(`${service}: shape ${name} of type ${s.type}`);
    }
  };
  const operations: ApiModel['operations'] = {};
  for (const [op, o] of Object.entries(m.operations).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (o.input) visit(o.input.shape);
    operations[op] = { input: o.input?.shape ?? null, errors: (o.errors ?? []).map((e) => e.shape).sort() };
  }
  const sorted = Object.fromEntries(Object.entries(shapes).sort(([a], [b]) => (a < b ? -1 : 1)));
  return { service, protocol, source, operations, shapes: sorted, errorStatus };
}

// ---- TypeScript types ----

function tsType(m: BotoModel, name: string): string {
  const s = m.shapes[name]!;
  switch (s.type) {
    case 'structure': return name;
    case 'list': return `${wrap(tsType(m, s.member!.shape))}[]`;
    case 'map': return `Record<string, ${tsType(m, s.value!.shape)}>`;
    case 'string': return s.enum ? name : 'string';
    case 'boolean': return 'boolean';
    // AWS JSON: timestamps are epoch seconds, blobs base64 text.
    case 'timestamp': return 'number';
    case 'blob': return 'string';
    default: return NUMERIC.has(s.type) ? 'number' : 'unknown';
  }
}

const wrap = (t: string) => (/[ |]/.test(t) ? `(${t})` : t);
const key = (k: string) => (/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k));
const comment = (s: BotoShape): string => {
  const parts: string[] = [];
  if (s.min !== undefined || s.max !== undefined) parts.push(`${s.type === 'string' || s.type === 'list' || s.type === 'map' ? 'length' : 'range'} ${s.min ?? ''}..${s.max ?? ''}`);
  if (s.pattern !== undefined) parts.push(`pattern ${s.pattern}`);
  return parts.length ? `/** ${parts.join('; ').replace(/\*\//g, '*\\/')} */ ` : '';
};

function typesOf(m: BotoModel, prefix: string): string {
  const out: string[] = [];
  for (const [name, s] of Object.entries(m.shapes).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (s.type === 'string' && s.enum) out.push(`export type ${name} = ${s.enum.map((v) => JSON.stringify(v)).join(' | ')};`);
    if (s.type !== 'structure' || s.exception) continue;
    const members = Object.entries(s.members ?? {});
    if (members.length === 0) {
      out.push(`export type ${name} = Record<string, never>;`);
      continue;
    }
    out.push(`export interface ${name} {`);
    for (const [mn, mm] of members) {
      const target = m.shapes[mm.shape]!;
      out.push(`  ${comment(target)}${key(mn)}${s.required?.includes(mn) ? '' : '?'}: ${tsType(m, mm.shape)};`);
    }
    out.push('}');
  }
  out.push('', `/** Each operation's input and output types. */`, `export interface ${prefix}Operations {`);
  for (const [op, o] of Object.entries(m.operations).sort(([a], [b]) => (a < b ? -1 : 1))) {
    out.push(`  ${op}: { input: ${o.input ? o.input.shape : 'Record<string, never>'}; output: ${o.output ? o.output.shape : 'Record<string, never>'} };`);
  }
  out.push('}');
  return out.join('\n');
}

function write(file: string, m: BotoModel, table: ApiModel, prefix: string, constName: string): void {
  const header = `// GENERATED by scripts/gen-protocol-types.ts from ${table.source}. Do not edit.\n`
    + "import type { ApiModel } from '../api-model.ts';\n\n";
  const body = `${typesOf(m, prefix)}\n\nexport type ${prefix}Operation = keyof ${prefix}Operations;\n\n`
    + `/** The model the validators check ${table.service} requests against (src/aws/protocol/validate.ts). */\n`
    + `export const ${constName}: ApiModel = ${JSON.stringify(table, null, 1).replace(/\n\s*/g, ' ').replace(/\{ "(\w+)": \{ "type"/g, '{\n  "$1": { "type"').replace(/\}, "(\w+)": \{ "type"/g, '},\n  "$1": { "type"')};\n`;
  writeFileSync(join(OUT, file), header + body);
}

export async function writeProtocolTypes(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const boto = botocore();

  // CloudTrail: botocore's model, checked against the SDK's compiled schemas.
  const ct = readBotocore(boto.dir, 'cloudtrail/2013-11-01');
  const sdk = await v3Members('@aws-sdk/client-cloudtrail');
  const problems: string[] = [];
  const added: string[] = [];
  for (const op of new Set([...sdk.ops.keys(), ...Object.keys(ct.operations)])) {
    const a = sdk.ops.get(op);
    const b = ct.operations[op];
    if (!a || !b) {
      problems.push(`${op}: in ${a ? 'the SDK' : 'botocore'} only`);
      continue;
    }
    for (const [io, sdkMembers] of [['input', a.input], ['output', a.output]] as const) {
      const shape = ct.shapes[b[io]?.shape ?? ''];
      if (!shape?.members) continue;
      for (const [mn, kind] of sdkMembers) {
        if (shape.members[mn]) continue;
        // A member newer than the botocore release: the SDK's type, no constraints known.
        if (!kind) problems.push(`${op} ${io}: member ${mn} of a complex type is in the SDK only`);
        else {
          shape.members[mn] = { shape: { boolean: 'Boolean', timestamp: 'Date', integer: 'Integer', blob: 'ByteBuffer', string: 'String' }[kind]! };
          added.push(`${b[io]!.shape}.${mn}`);
        }
      }
      for (const mn of Object.keys(shape.members)) if (!sdkMembers.has(mn)) problems.push(`${op} ${io}: member ${mn} is in botocore only`);
    }
  }
  for (const [name, type] of [['Boolean', 'boolean'], ['Date', 'timestamp'], ['Integer', 'integer'], ['ByteBuffer', 'blob'], ['String', 'string']] as const) ct.shapes[name] ??= { type };
  if (problems.length > 0) throw new Error(`@aws-sdk/client-cloudtrail ${version('@aws-sdk/client-cloudtrail')} and botocore ${boto.version} disagree:\n${problems.join('\n')}`);
  if (added.length > 0) console.log(`members of the SDK newer than botocore ${boto.version}, typed from the SDK: ${added.join(', ')}`);
  const ctTable = modelTable(ct, 'cloudtrail', 'awsJson1_1', `botocore ${boto.version} cloudtrail/2013-11-01 (checked against @aws-sdk/client-cloudtrail ${version('@aws-sdk/client-cloudtrail')}${added.length ? `; typed from the SDK, newer than botocore: ${added.join(', ')}` : ''})`, Object.fromEntries(Object.entries(sdk.errorStatus).sort(([a], [b]) => (a < b ? -1 : 1))));
  write('cloudtrail.ts', ct, ctTable, 'CloudTrail', 'CLOUDTRAIL_MODEL');

  // cloudtrail-data: botocore's model, checked against aws-sdk v2's (the same form, constraints stripped).
  const data = readBotocore(boto.dir, 'cloudtrail-data/2021-08-11');
  const v2 = JSON.parse(readFileSync(require.resolve('aws-sdk/apis/cloudtrail-data-2021-08-11.min.json'), 'utf8')) as BotoModel;
  for (const [op, o] of Object.entries(v2.operations)) {
    const b = data.operations[op];
    const input = (o.input?.shape ? v2.shapes[o.input.shape] : o.input) as BotoShape | undefined;
    const v2In = Object.keys(input?.members ?? {}).sort().join(',');
    const bIn = Object.keys(data.shapes[b?.input?.shape ?? '']?.members ?? {}).sort().join(',');
    if (v2In !== bIn) throw new Error(`cloudtrail-data ${op}: aws-sdk ${version('aws-sdk')} and botocore ${boto.version} disagree (${v2In} / ${bIn})`);
  }
  const dataTable = modelTable(data, 'cloudtrail-data', 'restJson1', `botocore ${boto.version} cloudtrail-data/2021-08-11 (checked against aws-sdk ${version('aws-sdk')})`, {});
  write('cloudtrail-data.ts', data, dataTable, 'CloudTrailData', 'CLOUDTRAIL_DATA_MODEL');
  console.log(`cloudtrail: ${Object.keys(ctTable.operations).length} operations, ${Object.keys(ctTable.shapes).length} input shapes; cloudtrail-data: ${Object.keys(dataTable.operations).length} operations`);
}

if (import.meta.main) await writeProtocolTypes();
