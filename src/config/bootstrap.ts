/**
 * First start without accounts in the config: create one account with a root access key, keep it
 * in the data dir (mode 0600) and write an AWS shared-credentials file beside it, so the AWS CLI
 * and SDKs can use it at once. Later starts read the same file back.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes, randomInt } from 'node:crypto';
import { ConfigError, type AccountConfig } from './config.ts';

export interface BootstrapResult {
  account: AccountConfig;
  credentialsFile: string;
  created: boolean;
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

export const BOOTSTRAP_PROFILE = 'opentrail';

function randomAccountId(): string {
  let s = String(randomInt(1, 10));
  while (s.length < 12) s += String(randomInt(0, 10));
  return s;
}

function randomAccessKeyId(): string {
  let s = 'AKIA';
  while (s.length < 20) s += ALNUM[randomInt(0, ALNUM.length)];
  return s;
}

/** Loads the bootstrap account from the data dir, creating it on first start. */
export function loadOrCreateBootstrapAccount(dataDir: string, defaultRegion: string): BootstrapResult {
  mkdirSync(dataDir, { recursive: true });
  const stateFile = join(dataDir, 'bootstrap-account.json');
  const credentialsFile = join(dataDir, 'aws-credentials');
  let created = false;
  let state: { accountId: string; accessKeyId: string; secretAccessKey: string };
  if (existsSync(stateFile)) {
    try {
      state = JSON.parse(readFileSync(stateFile, 'utf8'));
    } catch (e) {
      throw new ConfigError(`${stateFile} is unreadable: ${(e as Error).message}`);
    }
  } else {
    state = {
      accountId: randomAccountId(),
      accessKeyId: randomAccessKeyId(),
      secretAccessKey: randomBytes(30).toString('base64').replace(/[+/=]/g, 'x').slice(0, 40),
    };
    writeFileSync(stateFile, JSON.stringify(state, null, 2), { mode: 0o600 });
    created = true;
  }
  if (!existsSync(credentialsFile)) {
    writeFileSync(
      credentialsFile,
      `[${BOOTSTRAP_PROFILE}]\naws_access_key_id = ${state.accessKeyId}\naws_secret_access_key = ${state.secretAccessKey}\nregion = ${defaultRegion}\n`,
      { mode: 0o600 },
    );
  }
  return {
    created,
    credentialsFile,
    account: {
      id: state.accountId,
      identities: [{
        type: 'Root', accountId: state.accountId, accessKeyId: state.accessKeyId,
        secretAccessKey: state.secretAccessKey, principalId: state.accountId, mfaAuthenticated: false,
        isTrustedProducer: false,
      }],
    },
  };
}
