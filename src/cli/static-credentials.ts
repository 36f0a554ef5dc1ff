/**
 * Credentials that need no AWS SDK to find: the environment's keys, or a profile's keys in the
 * shared credentials or config file, read as the SDK's default chain reads them (environment first
 * unless AWS_PROFILE is set; then the profile, its credentials-file entries over its config-file
 * ones). A profile that names another source (a role, a process, SSO, web identity) is not static:
 * undefined, and the caller uses the SDK's chain.
 */
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { StaticCredentials } from './cloudtrail-json.ts';

/** Keys that make a profile's credentials something other than its static keys. */
const OTHER_SOURCES = ['role_arn', 'source_profile', 'credential_source', 'credential_process', 'web_identity_token_file', 'sso_start_url', 'sso_session', 'sso_account_id', 'sso_role_name', 'login_session'];
/** A profile file larger than this is left to the SDK. */
const MAX_PROFILE_FILE_BYTES = 1 << 20;

/** The `key = value` pairs of one section of an INI file (top-level keys only), or undefined without the file or section. */
export function iniSection(text: string, section: string): Record<string, string> | undefined {
  let current: string | undefined;
  let found: Record<string, string> | undefined;
  for (const line of text.split(/\r?\n/)) {
    const head = /^\s*\[\s*([^\]]*?)\s*\]\s*(?:[#;].*)?$/.exec(line);
    if (head) {
      current = head[1];
      if (current === section) found ??= {};
      continue;
    }
    if (current !== section || /^\s/.test(line) || /^[#;]/.test(line)) continue;
    const kv = /^([^=]+?)\s*=\s*(.*?)\s*$/.exec(line);
    if (kv) found![kv[1]!.toLowerCase()] = kv[2]!;
  }
  return found;
}

function readProfileFile(path: string): string | undefined {
  try {
    if (statSync(path).size > MAX_PROFILE_FILE_BYTES) return undefined;
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The static credentials the SDK's default chain would pick first, if finding them needs no SDK; else undefined. */
export function staticCredentials(env: NodeJS.ProcessEnv): StaticCredentials | undefined {
  const profile = env.AWS_PROFILE;
  if (!profile && env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    return { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) };
  }
  const name = profile || 'default';
  const home = env.HOME || homedir();
  const credsText = readProfileFile(env.AWS_SHARED_CREDENTIALS_FILE || join(home, '.aws', 'credentials'));
  const configText = readProfileFile(env.AWS_CONFIG_FILE || join(home, '.aws', 'config'));
  const fromConfig = configText === undefined ? undefined : iniSection(configText, name === 'default' ? 'default' : `profile ${name}`);
  const fromCreds = credsText === undefined ? undefined : iniSection(credsText, name);
  const merged = { ...fromConfig, ...fromCreds };
  if (OTHER_SOURCES.some((k) => merged[k] !== undefined)) return undefined;
  const { aws_access_key_id: accessKeyId, aws_secret_access_key: secretAccessKey, aws_session_token: sessionToken } = merged;
  if (!accessKeyId || !secretAccessKey) return undefined;
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}
