/**
 * First start without accounts in the config: create one account with a root access key, keep it
 * in the data dir (mode 0600) and write an AWS shared-credentials file beside it, so the AWS CLI
 * and SDKs can use it at once. Later starts read the same file back.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
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

/** What the first-start account is made of. */
export interface BootstrapState {
  accountId: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** A new first-start account: a random account id and a root access key. */
export function newBootstrapState(): BootstrapState {
  return {
    accountId: randomAccountId(),
    accessKeyId: randomAccessKeyId(),
    secretAccessKey: randomBytes(30).toString('base64').replace(/[+/=]/g, 'x').slice(0, 40),
  };
}

/** Loads the bootstrap account from the data dir, creating it on first start. */
export function loadOrCreateBootstrapAccount(dataDir: string, defaultRegion: string): BootstrapResult {
  mkdirSync(dataDir, { recursive: true });
  const stateFile = join(dataDir, 'bootstrap-account.json');
  let created = false;
  let state: BootstrapState;
  if (existsSync(stateFile)) {
    try {
      state = JSON.parse(readFileSync(stateFile, 'utf8'));
    } catch (e) {
      throw new ConfigError(`${stateFile} is unreadable: ${(e as Error).message}`);
    }
  } else {
    state = newBootstrapState();
    writeFileSync(stateFile, JSON.stringify(state, null, 2), { mode: 0o600 });
    created = true;
  }
  return bootstrapAccount(dataDir, defaultRegion, state, created);
}

/**
 * The bootstrap account of `state`, with its AWS shared-credentials file in the data dir (mode
 * 0600): written when missing, and with `replace` also when it holds other credentials (a
 * deployment whose account lives in its database: every node writes the same file).
 */
export function bootstrapAccount(dataDir: string, defaultRegion: string, state: BootstrapState, created: boolean, opts: { replace?: boolean } = {}): BootstrapResult {
  mkdirSync(dataDir, { recursive: true });
  const credentialsFile = join(dataDir, 'aws-credentials');
  const text = `[${BOOTSTRAP_PROFILE}]\naws_access_key_id = ${state.accessKeyId}\naws_secret_access_key = ${state.secretAccessKey}\nregion = ${defaultRegion}\n`;
  if (!existsSync(credentialsFile)) {
    writeFileSync(credentialsFile, text, { mode: 0o600 });
  } else if (opts.replace && readFileSync(credentialsFile, 'utf8') !== text) {
    const tmp = `${credentialsFile}.${process.pid}.tmp`;
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, credentialsFile);
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
