/**
 * The form of the API models OpenTrail serves (CloudTrail, cloudtrail-data) as
 * scripts/gen-protocol-types.ts writes them into ./generated/: every shape an operation's input
 * reaches, with the constraints of AWS's model (required members, enums, lengths, patterns,
 * ranges), each operation's input shape and modelled errors, and the HTTP status of each error.
 * validate.ts reads them; nothing of a service is typed here by hand.
 */

export type ApiShape =
  | { type: 'structure'; members: Record<string, ApiMember> }
  | { type: 'list'; member: string; min?: number; max?: number }
  | { type: 'map'; key: string; value: string; min?: number; max?: number }
  | { type: 'string'; min?: number; max?: number; pattern?: string; enum?: readonly string[] }
  | { type: 'integer' | 'long' | 'float' | 'double'; min?: number; max?: number }
  | { type: 'boolean' | 'timestamp' | 'blob' | 'document' };

export interface ApiMember {
  target: string;
  required?: boolean;
  /** REST protocols: where the member travels when not in the body, and its name there. */
  location?: 'query' | 'header' | 'label';
  locationName?: string;
}

export interface ApiOperation {
  /** The input structure's shape name; null when the operation takes none. */
  input: string | null;
  /** The exceptions the model lists for the operation. */
  errors: readonly string[];
}

export interface ApiModel {
  /** The SigV4 signing name. */
  service: string;
  protocol: 'awsJson1_1' | 'restJson1';
  /** Where the model was read from (packages and versions). */
  source: string;
  operations: Record<string, ApiOperation>;
  shapes: Record<string, ApiShape>;
  /** HTTP status of each modelled exception that has one (Smithy's httpError). */
  errorStatus: Record<string, number>;
}
