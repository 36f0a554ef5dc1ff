/**
 * The columns of an event data store: CloudTrail Lake's schema for CloudTrail events, as DuckDB
 * types. This is the one contract between what writes a store's Parquet files (ingestion, imports)
 * and what reads them (queries): both derive their SQL from `LAKE_COLUMNS`.
 *
 * Names keep the record's own spelling (`eventID`, `sourceIPAddress`, `resources[].ARN`); Lake's SQL
 * and DuckDB both compare identifiers without regard to case, so `eventid` and `EventID` name the
 * same column. `MAP` is MAP(VARCHAR, VARCHAR) as Lake exposes requestParameters and its kin: a
 * member whose value is not a string holds that value's JSON text. `eventJson` is the record as it
 * was stored (the text Event history serves), `eventJsonChecksum` its SHA-256 in hex.
 */
export type LakeType =
  | 'VARCHAR'
  | 'BOOLEAN'
  | 'TIMESTAMP'
  | 'MAP'
  | { readonly struct: Readonly<Record<string, LakeType>> }
  | { readonly list: LakeType };

const S = 'VARCHAR' as const;
const struct = (members: Record<string, LakeType>): LakeType => ({ struct: members });

export const LAKE_COLUMNS: Readonly<Record<string, LakeType>> = {
  eventVersion: S,
  userIdentity: struct({
    type: S,
    principalId: S,
    arn: S,
    accountId: S,
    accessKeyId: S,
    userName: S,
    sessionContext: struct({
      attributes: struct({ creationDate: S, mfaAuthenticated: S }),
      sessionIssuer: struct({ type: S, principalId: S, arn: S, accountId: S, userName: S }),
      webIdFederationData: struct({ federatedProvider: S, attributes: 'MAP' }),
      sourceIdentity: S,
      ec2RoleDelivery: S,
      ec2IssuedInVpc: S,
    }),
    invokedBy: S,
    identityProvider: S,
    credentialId: S,
    onBehalfOf: struct({ userId: S, identityStoreArn: S }),
    inScopeOf: struct({ issuerType: S, credentialsIssuedTo: S }),
  }),
  eventTime: 'TIMESTAMP',
  eventSource: S,
  eventName: S,
  awsRegion: S,
  sourceIPAddress: S,
  userAgent: S,
  errorCode: S,
  errorMessage: S,
  requestParameters: 'MAP',
  responseElements: 'MAP',
  additionalEventData: 'MAP',
  requestID: S,
  eventID: S,
  readOnly: 'BOOLEAN',
  resources: { list: struct({ type: S, ARN: S, accountId: S }) },
  eventType: S,
  apiVersion: S,
  managementEvent: 'BOOLEAN',
  recipientAccountId: S,
  sharedEventID: S,
  annotation: S,
  vpcEndpointId: S,
  vpcEndpointAccountId: S,
  serviceEventDetails: 'MAP',
  addendum: struct({ reason: S, updatedFields: S, originalRequestID: S, originalEventID: S }),
  edgeDeviceDetails: S,
  eventCategory: S,
  tlsDetails: struct({ tlsVersion: S, cipherSuite: S, clientProvidedHostHeader: S }),
  sessionCredentialFromConsole: S,
  eventJson: S,
  eventJsonChecksum: S,
};

/** A column type as DuckDB SQL: `STRUCT("type" VARCHAR, ...)`, `MAP(VARCHAR, VARCHAR)`, `...[]`. */
export function duckType(t: LakeType): string {
  if (t === 'MAP') return 'MAP(VARCHAR, VARCHAR)';
  if (typeof t === 'string') return t;
  if ('list' in t) return `${duckType(t.list)}[]`;
  return `STRUCT(${Object.entries(t.struct).map(([k, v]) => `"${k}" ${duckType(v)}`).join(', ')})`;
}

/** The column list of a `CREATE TABLE`: `"eventVersion" VARCHAR, "userIdentity" STRUCT(...), ...`. */
export function lakeTableColumnsSql(): string {
  return Object.entries(LAKE_COLUMNS).map(([k, v]) => `"${k}" ${duckType(v)}`).join(',\n  ');
}

/** A column type as a `json_transform` structure: `"VARCHAR"`, `{"type":"VARCHAR",...}`, `[...]`. */
function jsonStructure(t: LakeType): unknown {
  if (t === 'MAP') return 'MAP(VARCHAR, VARCHAR)';
  if (typeof t === 'string') return t;
  if ('list' in t) return [jsonStructure(t.list)];
  return Object.fromEntries(Object.entries(t.struct).map(([k, v]) => [k, jsonStructure(v)]));
}

/** The columns read out of the record itself (all but `eventJson` and `eventJsonChecksum`). */
const RECORD_COLUMNS = Object.fromEntries(
  Object.entries(LAKE_COLUMNS).filter(([k]) => k !== 'eventJson' && k !== 'eventJsonChecksum'),
);

/**
 * A SELECT that turns CloudTrail records into rows of `LAKE_COLUMNS`, in that order. `source` is a
 * relation with one record per row in column `json` (DuckDB JSON or VARCHAR), for example
 * `read_json_objects('x.jsonl', format='newline_delimited')`. DuckDB's `json_transform` does the
 * work: members the schema does not name are dropped, a missing member is NULL, a map member's
 * non-string value becomes its JSON text, `eventTime` is parsed as an ISO 8601 UTC timestamp.
 *
 *   COPY (<lakeRowsSql(...)>) TO 'x.parquet' (FORMAT parquet, COMPRESSION zstd)
 */
export function lakeRowsSql(source: string): string {
  const structure = JSON.stringify(jsonStructure({ struct: RECORD_COLUMNS })).replaceAll("'", "''");
  const cols = Object.keys(RECORD_COLUMNS).map((k) => `r."${k}" AS "${k}"`);
  return (
    `SELECT ${cols.join(', ')}, CAST(json AS VARCHAR) AS "eventJson", sha256(CAST(json AS VARCHAR)) AS "eventJsonChecksum"\n` +
    `FROM (SELECT json_transform(json, '${structure}') AS r, json FROM ${source})`
  );
}
