/**
 * One configuration: defaults, then the config file (JSON or YAML), then environment variables,
 * then command-line flags. Validation names the offending key; secrets are never printed.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { partitionOf, uniqueIdFor, type Identity, type IdentityType, type OrganizationConfig } from '../core/index.ts';

export type { OrganizationConfig };

export interface OpenTrailConfig {
  host: string;
  port: number;
  dataDir: string;
  /** Where the event log and control state live: SQLite files in the data dir (default) or a PostgreSQL database (docs/scale-out.md). */
  database: DatabaseConfig;
  regions: string[];
  accounts: AccountConfig[];
  eventHistory: { retentionDays: number; pruneIntervalMs: number };
  ingest: {
    maxBodyBytes: number; maxBatchEvents: number;
    /** Hostile-input limits of the HTTP edge: docs/ingest.md. */
    maxUnverifiedBodyBytes: number; maxDecodedBytes: number; maxInFlightBodyBytes: number; maxRecordsPerRequest: number; maxEventsPageBytes: number;
  };
  /** An AWS Organizations organization whose management account may create organization trails. */
  organization?: OrganizationConfig;
  /** Where trail buckets live: directories under a root (default `<dataDir>/buckets`) or S3. */
  objectStore: ObjectStoreConfig;
  /**
   * When trails' log files close: after `maxAgeMs`, or at `maxBytes` of records. After delivery
   * (SNS, webhooks, CloudWatch Logs) each target has a queue of at most `targetQueueLength` batches
   * and `targetQueueBytes` bytes (the oldest is dropped past either); shutdown waits up to
   * `drainTimeoutMs` for the queues.
   */
  delivery: { maxAgeMs: number; maxBytes: number; pollMs: number; targetQueueLength: number; targetQueueBytes: number; drainTimeoutMs: number };
  /** Log file integrity: how long each digest file covers (AWS: one hour). */
  integrity: { digestPeriodMs: number; keyRotationMs: number; keyEncryption?: KeyEncryptionConfig };
  /** SNS endpoint used to check trails' topics and publish their notifications; absent: topics are checked for form only and not notified. */
  sns?: NotifierConfig;
  /** CloudWatch Logs endpoint trails with a log group stream their records to. */
  cloudWatchLogs?: NotifierConfig;
  /** HTTP endpoints that get every delivery notification (of the trails they name) as a JSON POST. */
  webhooks?: WebhookConfig[];
  /** The recording gateway: a second listener that forwards AWS-protocol calls and records them. */
  gateway?: GatewayConfig;
  /** Least severe JSON log line written (docs/operations.md). */
  logLevel: LogLevel;
  /** Prometheus `GET /metrics`: on the API port, or on its own listener at `port` (same host). */
  metrics: { enabled: boolean; port?: number };
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface UpstreamConfig {
  endpoint: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
}

export interface GatewayConfig {
  host: string;
  port: number;
  /** The upstream of every service not named in `services`. */
  upstream?: UpstreamConfig;
  /** Upstreams by SigV4 signing name (`xray`, `monitoring`, `apigateway`, ...). */
  services: Record<string, UpstreamConfig>;
  /** Largest request body the gateway reads whole (object uploads stream and are not bounded). */
  maxBodyBytes: number;
  /** Finish each answer only once the call's record is stored (default true). */
  recordBeforeAnswer: boolean;
  /** Dotted host names clients reach the gateway by, path style, for S3 (IP addresses and dot-free names always count). */
  hostnames: string[];
}

export interface WebhookConfig {
  url: string;
  /** Only these trails (by ARN); absent: every trail. */
  trailArns?: string[];
  /** Extra request headers, e.g. Authorization. */
  headers?: Record<string, string>;
  timeoutMs: number;
}

export interface NeighbourConfig {
  endpoint?: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
}

/**
 * Where the key that encrypts the digest-signing private keys lives: a key file (absent: the
 * default, `<dataDir>/signing-keys.kek`), or a data key wrapped by a KMS-compatible endpoint.
 */
export type KeyEncryptionConfig =
  | { type: 'file'; path?: string }
  | { type: 'kms'; endpoint?: string; region: string; keyId: string; accessKeyId?: string; secretAccessKey?: string };

/** An SDK neighbour after delivery calls: each attempt is cut at `requestTimeoutMs`, one call makes at most `maxAttempts`. */
export type NotifierConfig = NeighbourConfig & { requestTimeoutMs: number; maxAttempts: number };

export type DatabaseConfig =
  | { type: 'sqlite'; leaseTtlMs?: number }
  | { type: 'postgres'; url: string; leaseTtlMs?: number };

export type ObjectStoreConfig =
  | { type: 'filesystem'; root?: string }
  | ({ type: 's3'; forcePathStyle: boolean } & NeighbourConfig);

export interface AccountConfig {
  id: string;
  alias?: string;
  identities: Identity[];
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const DEFAULT_REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1'];

export function defaultConfig(): OpenTrailConfig {
  return {
    host: '127.0.0.1',
    port: 4580,
    dataDir: '.opentrail',
    database: { type: 'sqlite' },
    regions: [...DEFAULT_REGIONS],
    accounts: [],
    eventHistory: { retentionDays: 90, pruneIntervalMs: 60 * 60 * 1000 },
    ingest: {
      maxBodyBytes: 50 * 1024 * 1024, maxBatchEvents: 5000,
      maxUnverifiedBodyBytes: 2 * 1024 * 1024, maxDecodedBytes: 200 * 1024 * 1024, maxInFlightBodyBytes: 256 * 1024 * 1024,
      maxRecordsPerRequest: 5000, maxEventsPageBytes: 8 * 1024 * 1024,
    },
    objectStore: { type: 'filesystem' },
    delivery: { maxAgeMs: 30_000, maxBytes: 16 * 1024 * 1024, pollMs: 1000, targetQueueLength: 100, targetQueueBytes: 64 * 1024 * 1024, drainTimeoutMs: 10_000 },
    integrity: { digestPeriodMs: 60 * 60 * 1000, keyRotationMs: 30 * 24 * 60 * 60 * 1000 },
    logLevel: 'info',
    metrics: { enabled: true },
  };
}

type Raw = Record<string, unknown>;
const isObj = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

function str(o: Raw, key: string, where: string, required: true): string;
function str(o: Raw, key: string, where: string, required?: false): string | undefined;
function str(o: Raw, key: string, where: string, required = false): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) throw new ConfigError(`${where}.${key} is required`);
    return undefined;
  }
  if (typeof v !== 'string' || v.length === 0) throw new ConfigError(`${where}.${key} must be a non-empty string`);
  return v;
}

function num(o: Raw, key: string, where: string, fallback: number, min: number): number {
  const v = o[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new ConfigError(`${where}.${key} must be a number >= ${min}`);
  return v;
}

/** Reads a config file; `.yaml`/`.yml` are YAML, anything else JSON. */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  try {
    return /\.ya?ml$/i.test(path) ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config file ${path} is not valid ${/\.ya?ml$/i.test(path) ? 'YAML' : 'JSON'}: ${(e as Error).message}`);
  }
}

function parseNeighbour(raw: unknown, where: string): NeighbourConfig {
  if (!isObj(raw)) throw new ConfigError(`${where} must be an object`);
  return {
    endpoint: str(raw, 'endpoint', where),
    region: str(raw, 'region', where) ?? 'us-east-1',
    accessKeyId: str(raw, 'accessKeyId', where),
    secretAccessKey: str(raw, 'secretAccessKey', where),
  };
}

/** A neighbour after delivery calls, with its time limits (defaults: `requestTimeoutMs`, 3 attempts). */
function parseNotifier(raw: unknown, where: string, requestTimeoutMs: number): NotifierConfig {
  const n = parseNeighbour(raw, where);
  const o = raw as Raw;
  const maxAttempts = num(o, 'maxAttempts', where, 3, 1);
  if (!Number.isInteger(maxAttempts) || maxAttempts > 10) throw new ConfigError(`${where}.maxAttempts must be a whole number from 1 to 10`);
  return { ...n, requestTimeoutMs: num(o, 'requestTimeoutMs', where, requestTimeoutMs, 100), maxAttempts };
}

/** A postgres:// (or postgresql://) URL with a host and a database name. */
export function checkDatabaseUrl(url: string, where: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`${where} must be a URL such as postgres://USER:PASSWORD@HOST:5432/DATABASE`);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') throw new ConfigError(`${where} must start with postgres:// or postgresql://`);
  if (!parsed.hostname || parsed.pathname.length <= 1) throw new ConfigError(`${where} must name a host and a database (postgres://USER:PASSWORD@HOST:5432/DATABASE)`);
  return url;
}

function parseDatabase(raw: unknown): DatabaseConfig {
  const where = 'config.database';
  if (!isObj(raw)) throw new ConfigError(`${where} must be an object`);
  const type = str(raw, 'type', where, true);
  // How long a node's lease on background work runs unrenewed (docs/scale-out.md, "Several nodes").
  const lease = raw.leaseTtlMs === undefined ? {} : { leaseTtlMs: num(raw, 'leaseTtlMs', where, 0, 500) };
  if (type === 'sqlite') return { type, ...lease };
  if (type === 'postgres') return { type, url: checkDatabaseUrl(str(raw, 'url', where, true), `${where}.url`), ...lease };
  throw new ConfigError(`${where}.type must be sqlite or postgres`);
}

function parseObjectStore(raw: unknown): ObjectStoreConfig {
  if (!isObj(raw)) throw new ConfigError('config.objectStore must be an object');
  const type = str(raw, 'type', 'config.objectStore', true);
  if (type === 'filesystem') return { type, root: str(raw, 'root', 'config.objectStore') };
  if (type === 's3') return { type, forcePathStyle: raw.forcePathStyle !== false, ...parseNeighbour(raw, 'config.objectStore') };
  throw new ConfigError('config.objectStore.type must be filesystem or s3');
}

const TRAIL_ARN = /^arn:aws[a-z-]*:cloudtrail:[a-z0-9-]+:\d{12}:trail\/[\w.-]{3,128}$/;

function parseWebhook(raw: unknown, where: string): WebhookConfig {
  if (!isObj(raw)) throw new ConfigError(`${where} must be an object`);
  const url = str(raw, 'url', where, true);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`${where}.url must be an http or https URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new ConfigError(`${where}.url must be an http or https URL`);
  const out: WebhookConfig = { url, timeoutMs: num(raw, 'timeoutMs', where, 5000, 100) };
  if (raw.trailArns !== undefined) {
    const arns = raw.trailArns;
    if (!Array.isArray(arns) || arns.length === 0 || !arns.every((a) => typeof a === 'string' && TRAIL_ARN.test(a))) {
      throw new ConfigError(`${where}.trailArns must be a non-empty list of trail ARNs (arn:aws:cloudtrail:<region>:<account>:trail/<name>)`);
    }
    out.trailArns = [...new Set(arns as string[])];
  }
  if (raw.headers !== undefined) {
    const h = raw.headers;
    if (!isObj(h) || !Object.entries(h).every(([k, v]) => /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k) && typeof v === 'string')) {
      throw new ConfigError(`${where}.headers must map header names to strings`);
    }
    out.headers = h as Record<string, string>;
  }
  return out;
}

function parseUpstream(raw: unknown, where: string): UpstreamConfig {
  if (!isObj(raw)) throw new ConfigError(`${where} must be an object`);
  const endpoint = str(raw, 'endpoint', where, true);
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new ConfigError(`${where}.endpoint must be an http or https URL`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || (url.pathname !== '/' && url.pathname !== '')) {
    throw new ConfigError(`${where}.endpoint must be an http or https URL without a path`);
  }
  const out: UpstreamConfig = { endpoint: url.origin };
  const accessKeyId = str(raw, 'accessKeyId', where);
  const secretAccessKey = str(raw, 'secretAccessKey', where);
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) throw new ConfigError(`${where} needs both accessKeyId and secretAccessKey, or neither`);
  if (accessKeyId !== undefined) Object.assign(out, { accessKeyId, secretAccessKey, sessionToken: str(raw, 'sessionToken', where) });
  return out;
}

function parseGateway(raw: unknown): GatewayConfig {
  const where = 'config.gateway';
  if (!isObj(raw)) throw new ConfigError(`${where} must be an object`);
  const out: GatewayConfig = {
    host: str(raw, 'host', where) ?? '127.0.0.1',
    port: num(raw, 'port', where, 4581, 0),
    services: {},
    maxBodyBytes: num(raw, 'maxBodyBytes', where, 16 * 1024 * 1024, 1024),
    recordBeforeAnswer: raw.recordBeforeAnswer !== false,
    hostnames: [],
  };
  if (raw.hostnames !== undefined) {
    const names = raw.hostnames;
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string' && /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/.test(n))) {
      throw new ConfigError(`${where}.hostnames must be a list of dotted host names without port or trailing dot`);
    }
    out.hostnames = [...new Set((names as string[]).map((n) => n.toLowerCase()))];
  }
  if (raw.upstream !== undefined) out.upstream = parseUpstream(raw.upstream, `${where}.upstream`);
  if (raw.services !== undefined) {
    if (!isObj(raw.services)) throw new ConfigError(`${where}.services must map signing names to upstreams`);
    for (const [name, u] of Object.entries(raw.services)) {
      if (!/^[a-z0-9-]+$/.test(name)) throw new ConfigError(`${where}.services: '${name}' is not a SigV4 signing name`);
      out.services[name] = parseUpstream(u, `${where}.services.${name}`);
    }
  }
  if (!out.upstream && Object.keys(out.services).length === 0) throw new ConfigError(`${where} needs an upstream or at least one entry in services`);
  return out;
}

const ACCESS_KEY = /^[A-Z0-9]{16,128}$/;

function parseIdentity(raw: unknown, accountId: string, alias: string | undefined, where: string, startedAt: string): Identity {
  if (!isObj(raw)) throw new ConfigError(`${where} must be an object`);
  const type = str(raw, 'type', where, true) as IdentityType;
  if (!['Root', 'IAMUser', 'AssumedRole'].includes(type)) throw new ConfigError(`${where}.type must be Root, IAMUser or AssumedRole`);
  const accessKeyId = str(raw, 'accessKeyId', where, true);
  if (!ACCESS_KEY.test(accessKeyId)) throw new ConfigError(`${where}.accessKeyId must be 16-128 upper-case letters and digits`);
  const secretAccessKey = str(raw, 'secretAccessKey', where, true);
  const path = str(raw, 'path', where) ?? '/';
  if (!/^\/([\x21-\x7e]*\/)?$/.test(path)) throw new ConfigError(`${where}.path must start and end with /`);
  const base = {
    type, accountId, accessKeyId, secretAccessKey, path,
    sessionToken: str(raw, 'sessionToken', where),
    mfaAuthenticated: raw.mfaAuthenticated === true,
    isTrustedProducer: raw.trustedProducer === true,
  };
  if (type === 'Root') return { ...base, principalId: accountId, accountAlias: alias };
  if (type === 'IAMUser') {
    const userName = str(raw, 'userName', where, true);
    return { ...base, userName, principalId: str(raw, 'principalId', where) ?? uniqueIdFor('AIDA', `${accountId}/user${path}${userName}`) };
  }
  const roleName = str(raw, 'roleName', where, true);
  const sessionName = str(raw, 'sessionName', where, true);
  const roleId = str(raw, 'roleId', where) ?? uniqueIdFor('AROA', `${accountId}/role${path}${roleName}`);
  return {
    ...base, roleName, sessionName, roleId,
    principalId: `${roleId}:${sessionName}`,
    sessionCreationDate: str(raw, 'sessionCreationDate', where) ?? startedAt,
  };
}

/**
 * Merges a parsed config document over the defaults and validates it.
 * `startedAt` is the creation date given to assumed-role sessions that do not name one.
 */
export function resolveConfig(doc: unknown, base: OpenTrailConfig, startedAt: string): OpenTrailConfig {
  if (doc === undefined || doc === null) return base;
  if (!isObj(doc)) throw new ConfigError('the config must be an object');
  const cfg: OpenTrailConfig = structuredClone(base);
  if (doc.host !== undefined) cfg.host = str(doc, 'host', 'config', true);
  cfg.port = num(doc, 'port', 'config', cfg.port, 0);
  if (doc.dataDir !== undefined) cfg.dataDir = str(doc, 'dataDir', 'config', true);
  if (doc.regions !== undefined) {
    if (!Array.isArray(doc.regions) || doc.regions.length === 0 || !doc.regions.every((r) => typeof r === 'string')) {
      throw new ConfigError('config.regions must be a non-empty list of AWS Region names');
    }
    const anyName = doc.allowNonAwsRegions === true;
    if (doc.allowNonAwsRegions !== undefined && typeof doc.allowNonAwsRegions !== 'boolean') throw new ConfigError('config.allowNonAwsRegions must be true or false');
    const unknown = (doc.regions as string[]).filter((r) => anyName ? !/^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$/.test(r) : partitionOf(r) === undefined);
    if (unknown.length > 0 && anyName) throw new ConfigError(`config.regions: ${unknown.map((r) => JSON.stringify(r)).join(', ')}: a region name is 2-64 lower-case letters, digits and hyphens`);
    if (unknown.length > 0) {
      throw new ConfigError(`config.regions: ${unknown.map((r) => JSON.stringify(r)).join(', ')} ${unknown.length === 1 ? 'is not an AWS Region name' : 'are not AWS Region names'} (such as us-east-1 or eu-west-1; every accepted name is listed in docs/configuration.md; allowNonAwsRegions: true accepts other names)`);
    }
    cfg.regions = [...new Set(doc.regions as string[])];
  }
  if (doc.eventHistory !== undefined) {
    if (!isObj(doc.eventHistory)) throw new ConfigError('config.eventHistory must be an object');
    cfg.eventHistory.retentionDays = num(doc.eventHistory, 'retentionDays', 'config.eventHistory', cfg.eventHistory.retentionDays, 1);
    cfg.eventHistory.pruneIntervalMs = num(doc.eventHistory, 'pruneIntervalMs', 'config.eventHistory', cfg.eventHistory.pruneIntervalMs, 1000);
  }
  if (doc.ingest !== undefined) {
    if (!isObj(doc.ingest)) throw new ConfigError('config.ingest must be an object');
    cfg.ingest.maxBodyBytes = num(doc.ingest, 'maxBodyBytes', 'config.ingest', cfg.ingest.maxBodyBytes, 1024);
    cfg.ingest.maxBatchEvents = num(doc.ingest, 'maxBatchEvents', 'config.ingest', cfg.ingest.maxBatchEvents, 1);
    for (const key of ['maxUnverifiedBodyBytes', 'maxDecodedBytes', 'maxInFlightBodyBytes', 'maxEventsPageBytes'] as const) {
      cfg.ingest[key] = num(doc.ingest, key, 'config.ingest', cfg.ingest[key], 1024);
    }
    cfg.ingest.maxRecordsPerRequest = num(doc.ingest, 'maxRecordsPerRequest', 'config.ingest', cfg.ingest.maxRecordsPerRequest, 1);
  }
  if (doc.delivery !== undefined) {
    if (!isObj(doc.delivery)) throw new ConfigError('config.delivery must be an object');
    cfg.delivery.maxAgeMs = num(doc.delivery, 'maxAgeMs', 'config.delivery', cfg.delivery.maxAgeMs, 0);
    cfg.delivery.maxBytes = num(doc.delivery, 'maxBytes', 'config.delivery', cfg.delivery.maxBytes, 1024);
    cfg.delivery.pollMs = num(doc.delivery, 'pollMs', 'config.delivery', cfg.delivery.pollMs, 10);
    cfg.delivery.targetQueueLength = num(doc.delivery, 'targetQueueLength', 'config.delivery', cfg.delivery.targetQueueLength, 1);
    cfg.delivery.targetQueueBytes = num(doc.delivery, 'targetQueueBytes', 'config.delivery', cfg.delivery.targetQueueBytes, 1024);
    cfg.delivery.drainTimeoutMs = num(doc.delivery, 'drainTimeoutMs', 'config.delivery', cfg.delivery.drainTimeoutMs, 0);
  }
  if (doc.integrity !== undefined) {
    if (!isObj(doc.integrity)) throw new ConfigError('config.integrity must be an object');
    cfg.integrity.digestPeriodMs = num(doc.integrity, 'digestPeriodMs', 'config.integrity', cfg.integrity.digestPeriodMs, 1000);
    cfg.integrity.keyRotationMs = num(doc.integrity, 'keyRotationMs', 'config.integrity', cfg.integrity.keyRotationMs, 60_000);
    const ke = doc.integrity.keyEncryption;
    if (ke !== undefined) {
      if (!isObj(ke)) throw new ConfigError('config.integrity.keyEncryption must be an object');
      const where = 'config.integrity.keyEncryption';
      if (ke.type === 'file') cfg.integrity.keyEncryption = { type: 'file', path: str(ke, 'path', where) };
      else if (ke.type === 'kms') {
        const endpoint = str(ke, 'endpoint', where);
        if (endpoint !== undefined && !/^https?:\/\/[^/?#]+\/?$/.test(endpoint)) throw new ConfigError(`${where}.endpoint must be an http(s) URL without a path`);
        const n = parseNeighbour(ke, where);
        if ((n.accessKeyId === undefined) !== (n.secretAccessKey === undefined)) throw new ConfigError(`${where}: accessKeyId and secretAccessKey go together`);
        cfg.integrity.keyEncryption = { type: 'kms', ...n, keyId: str(ke, 'keyId', where, true) };
      } else throw new ConfigError(`${where}.type must be file or kms`);
    }
  }
  if (doc.logLevel !== undefined) {
    if (!LOG_LEVELS.includes(doc.logLevel as LogLevel)) throw new ConfigError(`config.logLevel must be one of ${LOG_LEVELS.join(', ')}`);
    cfg.logLevel = doc.logLevel as LogLevel;
  }
  if (doc.metrics !== undefined) {
    const m = doc.metrics;
    if (!isObj(m)) throw new ConfigError('config.metrics must be an object');
    if (m.enabled !== undefined && typeof m.enabled !== 'boolean') throw new ConfigError('config.metrics.enabled must be true or false');
    cfg.metrics = { enabled: m.enabled !== false };
    if (m.port !== undefined) {
      if (typeof m.port !== 'number' || !Number.isInteger(m.port) || m.port < 0 || m.port > 65535) throw new ConfigError('config.metrics.port must be a port number 0-65535');
      cfg.metrics.port = m.port;
    }
  }
  if (doc.database !== undefined) cfg.database = parseDatabase(doc.database);
  if (doc.objectStore !== undefined) cfg.objectStore = parseObjectStore(doc.objectStore);
  if (doc.sns !== undefined) cfg.sns = parseNotifier(doc.sns, 'config.sns', 5000);
  if (doc.cloudWatchLogs !== undefined) cfg.cloudWatchLogs = parseNotifier(doc.cloudWatchLogs, 'config.cloudWatchLogs', 10_000);
  if (doc.webhooks !== undefined) {
    if (!Array.isArray(doc.webhooks)) throw new ConfigError('config.webhooks must be a list');
    cfg.webhooks = doc.webhooks.map((w, i) => parseWebhook(w, `config.webhooks[${i}]`));
  }
  if (doc.gateway !== undefined && doc.gateway !== null) cfg.gateway = parseGateway(doc.gateway);
  if (doc.organization !== undefined) {
    const o = doc.organization;
    if (!isObj(o)) throw new ConfigError('config.organization must be an object');
    const id = str(o, 'id', 'config.organization', true);
    if (!/^o-[a-z0-9]{10,32}$/.test(id)) throw new ConfigError('config.organization.id must look like o-exampleorgid (o- and 10-32 lower-case letters or digits)');
    const managementAccountId = str(o, 'managementAccountId', 'config.organization', true);
    const members = o.memberAccountIds ?? [];
    if (!Array.isArray(members) || !members.every((m) => typeof m === 'string' && /^\d{12}$/.test(m))) {
      throw new ConfigError('config.organization.memberAccountIds must be a list of 12-digit account ids');
    }
    if (!/^\d{12}$/.test(managementAccountId)) throw new ConfigError('config.organization.managementAccountId must be a 12-digit account id');
    cfg.organization = { id, managementAccountId, memberAccountIds: [...new Set([managementAccountId, ...(members as string[])])] };
  }
  if (doc.accounts !== undefined) {
    if (!Array.isArray(doc.accounts)) throw new ConfigError('config.accounts must be a list');
    const seenKeys = new Set<string>();
    const seenAccounts = new Set<string>();
    cfg.accounts = doc.accounts.map((a, i) => {
      const where = `config.accounts[${i}]`;
      if (!isObj(a)) throw new ConfigError(`${where} must be an object`);
      const id = str(a, 'id', where, true);
      if (!/^\d{12}$/.test(id)) throw new ConfigError(`${where}.id must be a 12-digit account id`);
      if (seenAccounts.has(id)) throw new ConfigError(`${where}.id ${id} is declared twice`);
      seenAccounts.add(id);
      const alias = str(a, 'alias', where);
      if (!Array.isArray(a.identities)) throw new ConfigError(`${where}.identities must be a list`);
      const identities = a.identities.map((r, j) => parseIdentity(r, id, alias, `${where}.identities[${j}]`, startedAt));
      for (const ident of identities) {
        if (seenKeys.has(ident.accessKeyId)) throw new ConfigError(`access key ${ident.accessKeyId} is declared twice`);
        seenKeys.add(ident.accessKeyId);
      }
      return { id, alias, identities };
    });
  }
  return cfg;
}
