/**
 * The service models the gateway decodes requests with: operations, their HTTP bindings and the
 * shapes of their input and output. Generated from AWS's published models by
 * scripts/gen-gateway-models.ts into ./models/<signingName>.json; nothing here is typed by hand.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** The wire protocols a service may speak. A request's own protocol is read off the request. */
export type Protocol = 'awsJson1_0' | 'awsJson1_1' | 'restJson1' | 'awsQuery' | 'restXml' | 'rpcv2Cbor';

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
  | { type: 'map'; key: string; value: ModelMember };

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

/** Signing names of every generated model. */
export function modelNames(): string[] {
  return readdirSync(MODELS_DIR).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
}

const cache = new Map<string, ServiceModel>();

/** The model for a signing name, read once; undefined when none was generated. */
export function loadModel(signingName: string): ServiceModel | undefined {
  if (!/^[a-z0-9-]+$/.test(signingName)) return undefined;
  let m = cache.get(signingName);
  if (!m) {
    try {
      m = JSON.parse(readFileSync(new URL(`${signingName}.json`, MODELS_DIR), 'utf8')) as ServiceModel;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    cache.set(signingName, m);
  }
  return m;
}
