/**
 * The CloudTrail record: one type for every field CloudTrail writes (eventVersion 1.0 to 1.11).
 * Field names and casing are CloudTrail's own; see docs/ingest.md ("Type quirks that are normalised") and docs/compatibility.md.
 */

export interface SessionIssuer {
  type?: string;
  principalId?: string;
  arn?: string;
  accountId?: string;
  userName?: string;
}

export interface SessionContext {
  sessionIssuer?: SessionIssuer;
  webIdFederationData?: { federatedProvider?: string; attributes?: Record<string, unknown> };
  attributes?: { creationDate?: string; mfaAuthenticated?: string };
  sourceIdentity?: string;
  ec2RoleDelivery?: string;
  assumedRoot?: boolean;
  signInSessionArn?: string;
}

export interface UserIdentity {
  type?: string;
  principalId?: string;
  arn?: string;
  accountId?: string;
  accessKeyId?: string;
  userName?: string;
  sessionContext?: SessionContext;
  invokedBy?: string;
  invokedByDelegate?: { accountId?: string };
  onBehalfOf?: { userId?: string; identityStoreArn?: string };
  inScopeOf?: { sourceArn?: string; sourceAccount?: string; issuerType?: string; credentialsIssuedTo?: string };
  credentialId?: string;
  identityProvider?: string;
  [extra: string]: unknown;
}

export interface RecordResource {
  ARN?: string;
  ARNPrefix?: string;
  accountId?: string;
  type?: string;
}

export interface CloudTrailRecord {
  eventVersion: string;
  userIdentity?: UserIdentity;
  eventTime: string;
  eventSource?: string;
  eventName?: string;
  awsRegion: string;
  sourceIPAddress?: string;
  userAgent?: string;
  errorCode?: string;
  errorMessage?: string;
  requestParameters?: Record<string, unknown> | null;
  responseElements?: Record<string, unknown> | null;
  /** A string only when a producer wrote one that holds no JSON object (kept as it came). */
  additionalEventData?: Record<string, unknown> | string;
  requestID?: string;
  eventID: string;
  readOnly?: boolean;
  resources?: RecordResource[];
  apiVersion?: string;
  eventType?: string;
  recipientAccountId: string;
  sharedEventID?: string;
  vpcEndpointId?: string;
  vpcEndpointAccountId?: string;
  /** A string only when a producer wrote one that holds no JSON object (kept as it came). */
  serviceEventDetails?: Record<string, unknown> | string;
  managementEvent?: boolean;
  eventCategory?: string;
  addendum?: {
    reason?: string;
    updatedFields?: string;
    originalRequestID?: string;
    originalEventID?: string;
    originalUID?: string;
  };
  sessionCredentialFromConsole?: string;
  edgeDeviceDetails?: Record<string, unknown>;
  tlsDetails?: { tlsVersion?: string; cipherSuite?: string; clientProvidedHostHeader?: string; keyExchange?: string };
  insightDetails?: Record<string, unknown>;
  eventContext?: Record<string, unknown>;
  /** Lake integration events (PutAuditEvents) only. */
  metadata?: { ingestionTime?: string; channelARN?: string };
  eventData?: Record<string, unknown>;
  [extra: string]: unknown;
}

/** The eventVersion OpenTrail writes on records it creates, and on records that arrive without one. */
export const CURRENT_EVENT_VERSION = '1.11';

/** CloudTrail's cap on one record (bytes of its JSON, UTF-8) since eventVersion 1.05. */
export const MAX_RECORD_BYTES = 256 * 1024;
