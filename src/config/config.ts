/**
 * One configuration: defaults, then the config file (JSON or YAML), then environment variables,
 * then command-line flags. What each key is, its default and its rules are declared once, in the
 * zod schema of ./schema.ts; this module reads files, turns the schema's issues into one line that
 * names each offending key, and builds the identities. Secrets are never printed.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { uniqueIdFor, type Identity, type OrganizationConfig } from '../core/index.ts';
import { configSchema, databaseUrlProblem, type ConfigFile, type GatewayConfig, type IdentityConfig } from './schema.ts';

export type { OrganizationConfig };
export {
  DEFAULT_REGIONS, LOG_LEVELS, configSchema,
  type ConfigFile, type ConfigFileInput, type DatabaseConfig, type GatewayConfig, type KeyEncryptionConfig, type LogLevel, type MetricsConfig,
  type NeighbourConfig, type NotifierConfig, type ObjectStoreConfig, type UpstreamConfig, type WebhookConfig,
} from './schema.ts';

export interface AccountConfig {
  id: string;
  alias?: string | undefined;
  identities: Identity[];
}

/** The configuration the server runs with: the config file's schema output, with built identities. */
export type OpenTrailConfig = Omit<ConfigFile, '$schema' | 'allowNonAwsRegions' | 'accounts' | 'gateway'> & {
  accounts: AccountConfig[];
  /** The recording gateway: a second listener that forwards AWS-protocol calls and records them. */
  gateway?: GatewayConfig | undefined;
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function defaultConfig(): OpenTrailConfig {
  return toConfig(configSchema.parse({}), '');
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

/** A postgres:// (or postgresql://) URL with a host and a database name. */
export function checkDatabaseUrl(url: string, where: string): string {
  const problem = databaseUrlProblem(url);
  if (problem) throw new ConfigError(`${where} ${problem}`);
  return url;
}

/** `config.a.b[0].c`: where an issue is, as the messages name it. */
function keyPath(path: readonly PropertyKey[]): string {
  return `config${path.map((p) => (typeof p === 'number' ? `[${p}]` : /^[\w$-]+$/.test(String(p)) ? `.${String(p)}` : `[${JSON.stringify(String(p))}]`)).join('')}`;
}

/** One line for all of a parse's issues, each naming its key. */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues.map((i) => (i.message.includes('{path}') ? i.message.replaceAll('{path}', keyPath(i.path)) : `${keyPath(i.path)} ${i.message}`)).join('; ');
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Merges a parsed config document over `base` and validates it: a key absent from the document
 * (at the top or in a section such as `eventHistory`) keeps `base`'s value.
 * `startedAt` is the creation date given to assumed-role sessions that do not name one.
 */
export function resolveConfig(doc: unknown, base: OpenTrailConfig, startedAt: string): OpenTrailConfig {
  if (doc === undefined || doc === null) return base;
  if (!isObj(doc)) throw new ConfigError('the config must be an object');
  const parsed = configSchema.safeParse(doc);
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error.issues));
  const cfg = toConfig(parsed.data, startedAt);
  const out: Record<string, unknown> = structuredClone(base);
  for (const [key, value] of Object.entries(cfg)) {
    if (!(key in doc)) continue;
    const section = configSchema.shape[key as keyof typeof configSchema.shape];
    // A plain section (not one chosen by `type`): its absent keys keep base's values too.
    out[key] = isObj(doc[key]) && isObj(out[key]) && section.def.type === 'prefault' ? { ...out[key], ...pickPresent(value as Record<string, unknown>, doc[key]) } : value;
  }
  return out as OpenTrailConfig;
}

function pickPresent(value: Record<string, unknown>, doc: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([k]) => k in doc));
}

function toConfig(file: ConfigFile, startedAt: string): OpenTrailConfig {
  const { $schema: _schema, allowNonAwsRegions: _any, accounts, gateway, ...rest } = file;
  return {
    ...rest,
    accounts: accounts.map((a) => ({ id: a.id, alias: a.alias, identities: a.identities.map((r) => toIdentity(r, a.id, a.alias, startedAt)) })),
    ...(gateway ? { gateway } : {}),
  };
}

function toIdentity(raw: IdentityConfig, accountId: string, alias: string | undefined, startedAt: string): Identity {
  const { type, accessKeyId, secretAccessKey, path } = raw;
  const base = { type, accountId, accessKeyId, secretAccessKey, path, sessionToken: raw.sessionToken, mfaAuthenticated: raw.mfaAuthenticated, isTrustedProducer: raw.trustedProducer };
  if (type === 'Root') return { ...base, principalId: accountId, accountAlias: alias };
  if (type === 'IAMUser') {
    const userName = raw.userName!;
    return { ...base, userName, principalId: raw.principalId ?? uniqueIdFor('AIDA', `${accountId}/user${path}${userName}`) };
  }
  const roleName = raw.roleName!;
  const sessionName = raw.sessionName!;
  const roleId = raw.roleId ?? uniqueIdFor('AROA', `${accountId}/role${path}${roleName}`);
  return { ...base, roleName, sessionName, roleId, principalId: `${roleId}:${sessionName}`, sessionCreationDate: raw.sessionCreationDate ?? startedAt };
}
