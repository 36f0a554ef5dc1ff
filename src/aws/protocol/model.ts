/**
 * The service models the gateway decodes requests with: operations, their HTTP bindings and the
 * shapes of their input and output. Generated from AWS's published models by
 * scripts/gen-gateway-models.ts into ./models/<signingName>.json; nothing here is typed by hand.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** The wire protocols a service may speak. A request's own protocol is read off the request. */
export type Protocol = 'awsJson1_0' | 'awsJson1_1' | 'restJson1' | 'awsQuery' | 'ec2Query' | 'restXml' | 'rpcv2Cbor';

/** A member of a structure (or a list's/map's element): its target shape and where it travels. */
export interface ModelMember {
  /** A shape name in `shapes`, or one of string, number, boolean, blob, stream, timestamp, document. */
  target: string;
  /** HTTP binding of a top-level input member (REST protocols); absent: the body. */
  location?: 'label' | 'query' | 'header' | 'prefixHeaders' | 'queryParams' | 'payload';
  /** The query parameter or header name (or header prefix) of a bound member. */
  name?: string;
  jsonName?: string;
  xmlName?: string;
  flattened?: boolean;
  /** Smithy's @required (top-level input members; used to tell operations on one URI apart). */
  required?: boolean;
  /** Smithy's @sensitive: CloudTrail writes HIDDEN_DUE_TO_SECURITY_REASONS for the value. */
  sensitive?: boolean;
}

export type ModelShape =
  | { type: 'structure'; members: Record<string, ModelMember> }
  | { type: 'list'; member: ModelMember }
  | {
    type: 'map'; key: string; value: ModelMember;
    /** awsQuery: an entry's key and value names when not `key` / `value` (SNS: `Name`, `Value`). */
    keyName?: string; valueName?: string;
  };

export interface ModelOperation {
  /** Method and URI template (`/restapis/{restapi_id}/resources/{resource_id}`, `/{Key+}?uploads`). */
  http?: [string, string];
  input: string | null;
  output: string | null;
}

export interface ServiceModel {
  /** The npm package and version the model was read from. */
  source: string;
  /** The service name in SigV4 credential scopes. */
  signingName: string;
  endpointPrefix: string;
  /** The protocol the model names first; requests are decoded by the protocol they arrive in. */
  protocol: Protocol;
  /** awsJson X-Amz-Target prefix; also the service name in rpcv2Cbor paths. */
  target?: string;
  apiVersion: string;
  operations: Record<string, ModelOperation>;
  shapes: Record<string, ModelShape>;
}

const MODELS_DIR = new URL('./models/', import.meta.url);

/** Model file names (ids): the hand-checked services' signing names, and aws-sdk v2's service ids. */
export function modelNames(): string[] {
  return readdirSync(MODELS_DIR).filter((f) => f.endsWith('.json') && f !== 'index.json').map((f) => f.slice(0, -5)).sort();
}

const cache = new Map<string, ServiceModel>();

/** The model of one id (a file in ./models), read once; undefined when none was generated. */
export function loadModel(id: string): ServiceModel | undefined {
  if (!/^[a-z0-9-]+$/.test(id) || id === 'index') return undefined;
  let m = cache.get(id);
  if (!m) {
    try {
      m = JSON.parse(readFileSync(new URL(`${id}.json`, MODELS_DIR), 'utf8')) as ServiceModel;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    cache.set(id, m);
  }
  return m;
}

/**
 * What ./models/index.json says of a model: its id and what tells it apart from other models of
 * the same signing name before it is loaded (protocol, X-Amz-Target prefix, API version).
 */
export interface ModelEntry { id: string; protocol: Protocol; target: string; apiVersion: string }

let index: Map<string, readonly ModelEntry[]> | undefined;

/**
 * The models that sign with a signing name, the one to try first first (the hand-checked model,
 * then the one whose endpoint prefix is the signing name); empty when none does. The index (a few
 * KiB) is read on first use; a model's file only when a request needs it.
 */
export function modelsFor(signingName: string): readonly ModelEntry[] {
  if (!index) {
    const raw = JSON.parse(readFileSync(new URL('index.json', MODELS_DIR), 'utf8')) as Record<string, [string, Protocol, string, string][]>;
    index = new Map(Object.entries(raw).map(([k, v]) => [k, v.map(([id, protocol, target, apiVersion]) => ({ id, protocol, target, apiVersion }))]));
  }
  return index.get(signingName) ?? [];
}
