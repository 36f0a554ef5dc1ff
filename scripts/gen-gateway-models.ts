// Writes src/aws/protocol/models/<signingName>.json: the operations, HTTP bindings and shapes the
// recording gateway decodes requests with, taken from AWS's published models and never typed by hand:
//  - the Smithy schemas compiled into the AWS SDK for JavaScript v3 clients (`<Op>$` exports), read
//    with @smithy/core's NormalizedSchema;
//  - for services whose v3 client on the registry predates compiled schemas, the JSON model in
//    aws-sdk v2's `apis/` folder.
// Then writes the typed models of the APIs OpenTrail serves (scripts/gen-protocol-types.ts).
// To add a service: install its client as a devDependency, add a line to SOURCES, run
// `node scripts/gen-gateway-models.ts`, and add its capture rules (src/capture/gateway/rules.ts).
import { mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { NormalizedSchema } from '@smithy/core/schema';
import type { ModelMember, ModelShape, ServiceModel } from '../src/aws/protocol/model.ts';
import { writeProtocolTypes } from './gen-protocol-types.ts';

const require = createRequire(import.meta.url);
const OUT = 'src/aws/protocol/models';

type Source =
  | { kind: 'v3'; pkg: string; client: string }
  | { kind: 'v2'; file: string; signingName?: string };

const SOURCES: Source[] = [
  { kind: 'v3', pkg: '@aws-sdk/client-xray', client: 'XRayClient' },
  { kind: 'v3', pkg: '@aws-sdk/client-cloudwatch', client: 'CloudWatchClient' },
  { kind: 'v3', pkg: '@aws-sdk/client-api-gateway', client: 'APIGatewayClient' },
  { kind: 'v3', pkg: '@aws-sdk/client-servicediscovery', client: 'ServiceDiscoveryClient' },
  { kind: 'v3', pkg: '@aws-sdk/client-eventbridge', client: 'EventBridgeClient' },
  { kind: 'v3', pkg: '@aws-sdk/client-cloudwatch-logs', client: 'CloudWatchLogsClient' },
  { kind: 'v3', pkg: '@aws-sdk/client-s3', client: 'S3Client' },
  // @aws-sdk/client-devops-guru on the registry is 3.523.0, older than compiled schemas.
  { kind: 'v2', file: 'aws-sdk/apis/devops-guru-2020-12-01.min.json' },
];

const PROTOCOLS: Record<string, ServiceModel['protocol']> = {
  'aws.protocols#awsJson1_0': 'awsJson1_0',
  'aws.protocols#awsJson1_1': 'awsJson1_1',
  'aws.protocols#restJson1': 'restJson1',
  'aws.protocols#awsQuery': 'awsQuery',
  'aws.protocols#restXml': 'restXml',
  'smithy.protocols#rpcv2Cbor': 'rpcv2Cbor',
  'json': 'awsJson1_1', 'rest-json': 'restJson1', 'query': 'awsQuery', 'rest-xml': 'restXml',
};

function version(pkg: string): string {
  return JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')).version;
}

// ---- v3: compiled Smithy schemas ----

function fromV3(pkg: string, clientName: string): Promise<ServiceModel> {
  return import(pkg).then(async (sdk: Record<string, unknown>) => {
    const Client = sdk[clientName] as new (c: object) => { config: Record<string, any> };
    const config = new Client({ region: 'us-east-1' }).config;
    const protocolId: string = config.protocol.getShapeId();
    const settings = config.protocolSettings ?? {};
    const endpoint = config.endpointProvider({ Region: 'us-east-1', UseFIPS: false, UseDualStack: false });
    const endpointPrefix = new URL(endpoint.url.href).hostname.split('.')[0]!;
    // The SigV4 signing name: from the client's auth scheme options, else the endpoint's, else the prefix.
    const auth = await Promise.resolve().then(() => config.httpAuthSchemeProvider({ region: 'us-east-1', operation: '' })).catch(() => []);
    const signingName: string = auth.find((o: any) => o.schemeId === 'aws.auth#sigv4')?.signingProperties?.name
      ?? endpoint.properties?.authSchemes?.find((a: any) => a.name === 'sigv4')?.signingName ?? endpointPrefix;
    const shapes: Record<string, ModelShape> = {};
    const operations: ServiceModel['operations'] = {};

    const ref = (s: NormalizedSchema): string => {
      if (s.isBlobSchema()) return s.isStreaming() ? 'stream' : 'blob';
      if (s.isTimestampSchema()) return 'timestamp';
      if (s.isDocumentSchema()) return 'document';
      if (s.isBooleanSchema()) return 'boolean';
      if (s.isNumericSchema() || s.isBigIntegerSchema() || s.isBigDecimalSchema()) return 'number';
      if (s.isStringSchema()) return 'string';
      // Lists and maps of simple types have no name of their own (a bare number in the schema).
      const anonymous = typeof s.getSchema() === 'number';
      const name = anonymous && s.isListSchema() ? `[${ref(s.getValueSchema())}]`
        : anonymous && s.isMapSchema() ? `{${ref(s.getValueSchema())}}` : s.getName()!;
      if (shapes[name]) return name;
      if (s.isListSchema()) {
        shapes[name] = { type: 'list', member: { target: 'string' } };
        shapes[name] = { type: 'list', member: member(s.getValueSchema(), true) };
      } else if (s.isMapSchema()) {
        shapes[name] = { type: 'map', key: 'string', value: { target: 'string' } };
        shapes[name] = { type: 'map', key: ref(s.getKeySchema()), value: member(s.getValueSchema(), true) };
      } else if (s.isStructSchema() || s.isUnionSchema()) {
        const shape: ModelShape = { type: 'structure', members: {} };
        shapes[name] = shape;
        for (const [m, ms] of s.structIterator()) shape.members[m] = member(ms, false);
      } else {
        return 'string';
      }
      return name;
    };

    const member = (s: NormalizedSchema, inner: boolean): ModelMember => {
      const t = s.getMergedTraits() as Record<string, any>;
      const out: ModelMember = { target: ref(s) };
      if (!inner) {
        if (t.httpLabel) out.location = 'label';
        else if (t.httpQuery !== undefined) { out.location = 'query'; out.name = t.httpQuery; }
        else if (t.httpHeader !== undefined) { out.location = 'header'; out.name = t.httpHeader; }
        else if (t.httpPrefixHeaders !== undefined) { out.location = 'prefixHeaders'; out.name = t.httpPrefixHeaders; }
        else if (t.httpQueryParams) out.location = 'queryParams';
        else if (t.httpPayload) out.location = 'payload';
      }
      if (t.jsonName !== undefined) out.jsonName = t.jsonName;
      if (t.xmlName !== undefined) out.xmlName = t.xmlName;
      if (t.xmlFlattened) out.flattened = true;
      if (t.sensitive) out.sensitive = true;
      return out;
    };

    for (const [key, value] of Object.entries(sdk)) {
      if (!key.endsWith('$') || !Array.isArray(value) || value[0] !== 9) continue;
      const [, , name, traits, input, output] = value as [number, string, string, Record<string, any>, unknown, unknown];
      const http = traits?.http as [string, string, number] | undefined;
      const inSchema = NormalizedSchema.of(input as any);
      const outSchema = NormalizedSchema.of(output as any);
      operations[name] = {
        ...(http ? { http: [http[0], http[1]] as [string, string] } : {}),
        input: inSchema.isUnitSchema() ? null : ref(inSchema),
        output: outSchema.isUnitSchema() ? null : ref(outSchema),
      };
    }
    // Compiled schemas drop @required; routing needs it for the query members and headers that tell
    // operations on one URI apart (S3 DeleteObject vs AbortMultipartUpload's uploadId). aws-sdk v2
    // ships the same model with its required lists.
    markRequired(operations, shapes, `aws-sdk/apis/${endpointPrefix}-${settings.version}.min.json`);
    return {
      source: `${pkg}@${version(pkg)}`,
      signingName,
      endpointPrefix,
      protocol: PROTOCOLS[protocolId] ?? (() => { throw new Error(`unknown protocol ${protocolId}`); })(),
      ...(settings.serviceTarget ? { target: settings.serviceTarget } : {}),
      apiVersion: settings.version,
      operations: sortKeys(operations),
      shapes: sortKeys(shapes),
    } as ServiceModel;
  });
}

function markRequired(operations: ServiceModel['operations'], shapes: Record<string, ModelShape>, v2File: string): void {
  let v2: { operations: Record<string, { input?: V2Shape & { required?: string[] } }>; shapes: Record<string, V2Shape & { required?: string[] }> };
  try {
    v2 = JSON.parse(readFileSync(require.resolve(v2File), 'utf8'));
  } catch {
    return;
  }
  for (const [name, op] of Object.entries(operations)) {
    const input = v2.operations[name]?.input;
    const required = (input?.shape ? v2.shapes[input.shape]?.required : input?.required) ?? [];
    const shape = op.input ? shapes[op.input] : undefined;
    if (shape?.type !== 'structure') continue;
    for (const m of required) if (shape.members[m]) shape.members[m].required = true;
  }
}

// ---- v2: aws-sdk's JSON models (botocore's format, minified) ----

interface V2Shape { type?: string; shape?: string; members?: Record<string, V2Shape>; member?: V2Shape; key?: V2Shape; value?: V2Shape; location?: string; locationName?: string; queryName?: string; sensitive?: boolean; flattened?: boolean; streaming?: boolean; payload?: string; jsonvalue?: boolean; required?: string[] }
interface V2Model { metadata: Record<string, string>; operations: Record<string, { http?: { method?: string; requestUri?: string }; input?: V2Shape; output?: V2Shape }>; shapes: Record<string, V2Shape> }

function v2Protocol(md: Record<string, string>): ServiceModel['protocol'] {
  if (md.protocol === 'json') return md.jsonVersion === '1.0' ? 'awsJson1_0' : 'awsJson1_1';
  if (md.protocol === 'ec2') return 'ec2Query';
  const p = PROTOCOLS[md.protocol!];
  if (!p) throw new Error(`unknown protocol ${md.protocol}`);
  return p;
}

/**
 * A v2 model in the gateway's form. `outputs`: keep the output shapes (responseElements); the
 * generated models of services without hand-checked rules leave them out (input only: smaller, and
 * no answer member, sensitive or not, is ever recorded from them).
 */
function fromV2(file: string, outputs = true): ServiceModel {
  const model = JSON.parse(readFileSync(require.resolve(file), 'utf8')) as V2Model;
  const md = model.metadata;
  const protocol = v2Protocol(md);
  const rest = protocol === 'restJson1' || protocol === 'restXml';
  const query = protocol === 'awsQuery' || protocol === 'ec2Query';
  const shapes: Record<string, ModelShape> = {};
  const resolve = (s: V2Shape): V2Shape => (s.shape ? { ...model.shapes[s.shape]!, ...s, type: model.shapes[s.shape]!.type } : s);

  const ref = (s: V2Shape, nameIfInline: string): string => {
    const r = resolve(s);
    switch (r.type ?? 'string') {
      case 'string': return r.jsonvalue ? 'document' : 'string';
      case 'integer': case 'long': case 'double': case 'float': case 'bigdecimal': case 'biginteger': return 'number';
      case 'boolean': return 'boolean';
      case 'blob': return r.streaming ? 'stream' : 'blob';
      case 'timestamp': return 'timestamp';
    }
    const name = s.shape ?? nameIfInline;
    if (shapes[name]) return name;
    if (r.type === 'list') {
      shapes[name] = { type: 'list', member: { target: 'string' } };
      const item = member(r.member ?? {}, `${name}Member`, undefined, true);
      // awsQuery names list items `member` unless the model says otherwise; ec2Query lists are flat.
      if (protocol === 'awsQuery' && r.member?.locationName !== undefined && r.member.locationName !== 'member') item.xmlName = r.member.locationName;
      shapes[name] = { type: 'list', member: item };
    } else if (r.type === 'map') {
      shapes[name] = { type: 'map', key: 'string', value: { target: 'string' } };
      const map: ModelShape = { type: 'map', key: ref(r.key ?? {}, `${name}Key`), value: member(r.value ?? {}, `${name}Value`, undefined, true) };
      // awsQuery entries: `<Map>.entry.N.key` / `.value` unless the model names them otherwise.
      if (query && r.key?.locationName !== undefined && r.key.locationName !== 'key') map.keyName = r.key.locationName;
      if (query && r.value?.locationName !== undefined && r.value.locationName !== 'value') map.valueName = r.value.locationName;
      shapes[name] = map;
    } else {
      const shape: ModelShape = { type: 'structure', members: {} };
      shapes[name] = shape;
      for (const [m, ms] of Object.entries(r.members ?? {})) shape.members[m] = member(ms, `${name}${m}`, r.payload === m ? 'payload' : undefined, false, m);
      for (const m of r.required ?? []) if (shape.members[m]) shape.members[m].required = true;
    }
    return name;
  };

  const member = (s: V2Shape, inlineName: string, payload: 'payload' | undefined, inner: boolean, memberName?: string): ModelMember => {
    const r = resolve(s);
    const out: ModelMember = { target: ref(s, inlineName) };
    const loc = { uri: 'label', querystring: 'query', header: 'header', headers: 'prefixHeaders' }[s.location ?? ''] as ModelMember['location'] | undefined;
    if (loc) out.location = loc;
    else if (payload) out.location = payload;
    if (s.locationName !== undefined && loc && s.locationName !== memberName) out.name = s.locationName;
    if (!inner && !loc && memberName !== undefined) {
      // The member's name on the wire: botocore's serializers use locationName (ec2: queryName, or
      // locationName with a capital first letter).
      const wire = protocol === 'ec2Query' ? s.queryName ?? (s.locationName ? s.locationName.charAt(0).toUpperCase() + s.locationName.slice(1) : undefined) : s.locationName;
      if (wire !== undefined && wire !== memberName) {
        if (query) out.xmlName = wire;
        else out.jsonName = wire;
      }
    }
    if (query && (r.type === 'list' || r.type === 'map') && (protocol === 'ec2Query' || r.flattened)) out.flattened = true;
    if (r.sensitive) out.sensitive = true;
    return out;
  };

  const operations: ServiceModel['operations'] = {};
  for (const [name, op] of Object.entries(model.operations)) {
    operations[name] = {
      ...(rest ? { http: [op.http?.method ?? 'POST', op.http?.requestUri ?? '/'] as [string, string] } : {}),
      input: op.input ? ref(op.input, `${name}Request`) : null,
      output: outputs && op.output ? ref(op.output, `${name}Response`) : null,
    };
  }
  return {
    source: `aws-sdk@${version('aws-sdk')} ${file.split('/').pop()}`,
    signingName: md.signingName ?? md.endpointPrefix!,
    endpointPrefix: md.endpointPrefix!,
    protocol,
    ...(md.targetPrefix ? { target: md.targetPrefix } : {}),
    apiVersion: md.apiVersion!,
    operations: sortKeys(operations),
    shapes: sortKeys(shapes),
  };
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Every other service aws-sdk v2 bundles (its last release covers every service the SDKs publish
 * up to then), latest API version of each, input shapes only: the generic capture rules
 * (src/capture/gateway/rules.ts) record them. Left out: older API versions of a service, and
 * S3 Control (signs as `s3`, so its calls reach the S3 model; docs/gateway.md "Limits").
 */
function everyV2Service(done: ServiceModel[]): { id: string; model: ServiceModel }[] {
  const apis = dirname(require.resolve('aws-sdk/apis/metadata.json'));
  const meta = JSON.parse(readFileSync(join(apis, 'metadata.json'), 'utf8')) as Record<string, { prefix?: string }>;
  const files = readdirSync(apis).filter((f) => f.endsWith('.min.json'));
  const covered = new Set(done.map((m) => `${m.endpointPrefix} ${m.apiVersion}`));
  const out: { id: string; model: ServiceModel }[] = [];
  for (const [key, { prefix }] of Object.entries(meta)) {
    const base = prefix ?? key;
    const latest = files.filter((f) => f.startsWith(`${base}-`) && /^\d{4}-\d{2}-\d{2}\.min\.json$/.test(f.slice(base.length + 1))).sort().pop();
    if (!latest || base === 's3control') continue;
    const model = fromV2(`aws-sdk/apis/${latest}`, false);
    if (covered.has(`${model.endpointPrefix} ${model.apiVersion}`)) continue;
    covered.add(`${model.endpointPrefix} ${model.apiVersion}`);
    out.push({ id: key.toLowerCase().replace(/[^a-z0-9-]/g, '-'), model });
  }
  return out;
}

mkdirSync(OUT, { recursive: true });
for (const f of readdirSync(OUT)) if (f.endsWith('.json')) unlinkSync(join(OUT, f));
const written: { id: string; model: ServiceModel; checked: boolean }[] = [];
for (const src of SOURCES) {
  const model = src.kind === 'v3' ? await fromV3(src.pkg, src.client) : fromV2(src.file);
  written.push({ id: model.signingName, model, checked: true });
}
for (const { id, model } of everyV2Service(written.map((w) => w.model))) {
  if (written.some((w) => w.id === id)) throw new Error(`two models named ${id}`);
  written.push({ id, model, checked: false });
}
for (const { id, model } of written) writeFileSync(`${OUT}/${id}.json`, JSON.stringify(model) + '\n');
// index.json: per signing name, the models that sign with it, the one to try first first (the
// hand-checked model, then the one whose endpoint prefix is the signing name), with what tells
// them apart before a body is read: protocol, X-Amz-Target prefix, API version.
const index: Record<string, [id: string, protocol: string, target: string, apiVersion: string][]> = {};
const rank = (w: (typeof written)[number]) => (w.checked ? 0 : w.model.endpointPrefix === w.model.signingName ? 1 : 2);
for (const w of [...written].sort((a, b) => rank(a) - rank(b) || (a.id < b.id ? -1 : 1))) {
  (index[w.model.signingName] ??= []).push([w.id, w.model.protocol, w.model.target ?? '', w.model.apiVersion]);
}
writeFileSync(`${OUT}/index.json`, JSON.stringify(sortKeys(index)) + '\n');
let bytes = 0;
for (const { model } of written) bytes += JSON.stringify(model).length;
console.log(`${written.length} models (${written.filter((w) => w.checked).length} hand-checked), ${Object.keys(index).length} signing names, ${(bytes / 1048576).toFixed(1)} MiB`);
for (const { id, model } of written.filter((w) => w.checked)) {
  console.log(`${id}: ${model.protocol}, ${Object.keys(model.operations).length} operations, ${Object.keys(model.shapes).length} shapes (${model.source})`);
}
await writeProtocolTypes();
