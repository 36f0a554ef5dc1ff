/**
 * Composition root, database part: opens the stores `config.database` names and the state the
 * nodes of a deployment share (the NextToken key, the first-start account, the digest-signing key
 * chain's key-encryption key).
 *
 * - `sqlite`: events.db and control.db in the data dir; the NextToken key, the first-start account
 *   and (by default) the key-encryption key are files of the data dir, as before.
 * - `postgres`: both stores in the database (src/stores/postgres); what nodes must share lives
 *   there too, created once by whichever node starts first: the first-start steps run under an
 *   advisory lock, one node at a time. The NextToken key and the first-start account's secret key
 *   are sealed under the key-encryption key (AES-256-GCM, as the signing keys are), so the
 *   database alone does not give them away; the key-encryption key itself is a file or a KMS key
 *   that every node must be given the same (docs/scale-out.md). A node whose key is not the one
 *   the deployment recorded is refused at start.
 *
 * Both give the node's LeaseKeeper (docs/scale-out.md, "Several nodes"): the lease table lives in
 * the control store's database (control.db; the deployment's database), so that fenced writes
 * check it in their own transaction. Closing the database first gives the node's leases back.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { bootstrapAccount, ConfigError, loadOrCreateBootstrapAccount, newBootstrapState, type BootstrapResult, type BootstrapState, type OpenTrailConfig } from './config/index.ts';
import type { Clock } from './core/index.ts';
import { KeyEncryptionError, KeyFile, KmsWrappedKey, loadOrCreateSecretFile, seal, SecretFileError, SigningKeyStore, unseal, type KeyEncryptionKey, type KeyEncryptionKeySource, type SealedKey } from './integrity/index.ts';
import { StoreUnavailableError, type ControlStore, type EventStore } from './stores/index.ts';
import { KmsDataKeys } from './stores/kms/index.ts';
import { connectPool, openPool, ping, PgControlStore, PgEventStore, PgLeaseStore, PostgresStartError, redactUrl, withAdvisoryLock, type Pool } from './stores/postgres/index.ts';
import { SqliteControlStore, SqliteEventStore, SqliteLeaseStore } from './stores/sqlite/index.ts';
import { DEFAULT_LEASE_TTL_MS, LeaseKeeper } from './stores/lease-keeper.ts';
import type { LeaseStore } from './stores/index.ts';

export interface DatabaseStatus {
  type: 'sqlite' | 'postgres';
  status: 'ok' | 'unavailable';
  reason?: string;
}

export interface OpenedDatabase {
  events: EventStore;
  control: ControlStore;
  tokenKey: Buffer;
  signingKeys: SigningKeyStore;
  /** This node's leases on background work (delivery, digests, retention, key rotation); started by the server. */
  leases: LeaseKeeper;
  /** The first-start account, when the config declares none. */
  bootstrap?: BootstrapResult;
  /** Whether the database answers (PostgreSQL: one round trip, at most one a second). */
  status(): Promise<DatabaseStatus>;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  clock: Clock;
  logError: (msg: string, err?: unknown) => void;
}

/** The advisory lock of the first-start steps of a PostgreSQL deployment. */
export const FIRST_START_LOCK = 0x6f74_6669_7273_7431n; // "otfirst1"
/** Control-store documents of the deployment's shared state (PostgreSQL). */
export const DEPLOYMENT_KIND = 'deployment';

export async function openDatabase(config: OpenTrailConfig, opts: OpenDatabaseOptions): Promise<OpenedDatabase> {
  return config.database.type === 'postgres' ? openPostgres(config, config.database.url, opts) : openSqlite(config, opts);
}

/** The key-encryption key source `integrity.keyEncryption` names (a key file in the data dir by default). */
function kekSource(config: OpenTrailConfig, control: ControlStore): KeyEncryptionKeySource {
  const ke = config.integrity.keyEncryption;
  return ke?.type === 'kms' ? new KmsWrappedKey(control, new KmsDataKeys(ke)) : new KeyFile(ke?.path ?? join(config.dataDir, 'signing-keys.kek'));
}

async function openSigningKeys(config: OpenTrailConfig, control: ControlStore, source: KeyEncryptionKeySource, leases: LeaseKeeper): Promise<SigningKeyStore> {
  try {
    return (await SigningKeyStore.open(control, source, { rotationMs: config.integrity.keyRotationMs, leases })).keys;
  } catch (e) {
    throw e instanceof KeyEncryptionError ? new ConfigError(e.message) : e;
  }
}

/**
 * The node's lease keeper. On SQLite the server is the only node, under one fixed name, so after a
 * crash it takes its own leases back at once; on PostgreSQL each opened database is a node of its
 * own, `<hostname>:<port>:<random UUID>:<pid>`: host, port and pid say where it runs (readable in
 * the lease table), and the UUID keeps two live nodes apart when those three are alike (containers
 * with a fixed hostname, the same port and pid 1), which would otherwise count as one node and take
 * each other's leases on every pass.
 */
function leaseKeeper(config: OpenTrailConfig, store: LeaseStore, logError: OpenDatabaseOptions['logError']): LeaseKeeper {
  const holder = config.database.type === 'sqlite' ? 'local' : `${hostname()}:${config.port}:${randomUUID()}:${process.pid}`;
  return new LeaseKeeper(store, { holder, ttlMs: config.database.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS, logError });
}

async function closeAll(...closers: (() => Promise<void>)[]): Promise<void> {
  for (const c of closers) await c().catch(() => undefined);
}

// ---- SQLite: files of the data dir ----

/** The NextToken key: a 32-byte file of mode 0600 in the data dir, made at the first start. */
function loadTokenKey(dataDir: string): Buffer {
  const file = join(dataDir, 'next-token.key');
  try {
    return loadOrCreateSecretFile(file, 32, `NextToken key file ${file}`);
  } catch (e) {
    throw e instanceof SecretFileError ? new ConfigError(e.message) : e;
  }
}

async function openSqlite(config: OpenTrailConfig, { clock, logError }: OpenDatabaseOptions): Promise<OpenedDatabase> {
  const tokenKey = loadTokenKey(config.dataDir);
  const bootstrap = config.accounts.length === 0 ? loadOrCreateBootstrapAccount(config.dataDir, config.regions[0]!) : undefined;
  const events = new SqliteEventStore({ path: join(config.dataDir, 'events.db'), nowMs: () => clock.nowMs() });
  const control = new SqliteControlStore(join(config.dataDir, 'control.db'));
  const leaseStore = new SqliteLeaseStore(join(config.dataDir, 'control.db'));
  const leases = leaseKeeper(config, leaseStore, logError);
  // Digest-signing keys are encrypted under a key kept outside control.db (docs/storage.md); a
  // missing or unusable key stops the start with a one-line error instead of a new key chain.
  const signingKeys = await openSigningKeys(config, control, kekSource(config, control), leases).catch(async (e: unknown) => {
    await closeAll(() => events.close(), () => leaseStore.close(), () => control.close());
    throw e;
  });
  return {
    events, control, tokenKey, signingKeys, leases, bootstrap,
    status: async () => ({ type: 'sqlite', status: 'ok' }),
    close: async () => {
      await leases.stop();
      await leaseStore.close();
      await events.close();
      await control.close();
    },
  };
}

// ---- PostgreSQL: one database for every node ----

/** What the deployment recorded of the key-encryption key its signing keys are sealed under. */
interface RecordedKek {
  kek: string;
  source: string;
}

/**
 * A key-encryption key source that holds every node of a deployment to the same key: the first
 * node records the id of its key in the database; a node whose key is missing or another is
 * refused with one line, instead of making a key of its own that the others could not open.
 */
class DeploymentKek implements KeyEncryptionKeySource {
  readonly description: string;
  readonly whenMissing: string;
  loaded: KeyEncryptionKey | undefined;
  private readonly inner: KeyEncryptionKeySource;
  private readonly control: ControlStore;

  constructor(inner: KeyEncryptionKeySource, control: ControlStore) {
    this.inner = inner;
    this.control = control;
    this.description = inner.description;
    this.whenMissing = `give every node the same integrity.keyEncryption (docs/scale-out.md); ${inner.whenMissing}`;
  }

  private refuse(recorded: RecordedKek, what: string): KeyEncryptionError {
    return new KeyEncryptionError(
      `this deployment's digest-signing keys are sealed under key-encryption key ${recorded.kek} (${recorded.source}), but on this node ${what}: ` +
      'give every node the same integrity.keyEncryption (one key file copied to each node, or the same KMS key): docs/scale-out.md',
    );
  }

  async load(): Promise<KeyEncryptionKey | undefined> {
    const recorded = await this.control.get<RecordedKek>(DEPLOYMENT_KIND, 'key-encryption-key');
    const kek = await this.inner.load();
    if (recorded && !kek) throw this.refuse(recorded, `the ${this.inner.description} is missing`);
    if (recorded && kek && kek.id !== recorded.kek) throw this.refuse(recorded, `the ${this.inner.description} is key ${kek.id}`);
    if (kek && !recorded) await this.record(kek);
    this.loaded = kek;
    return kek;
  }

  async create(): Promise<KeyEncryptionKey> {
    const kek = await this.inner.create();
    await this.record(kek);
    this.loaded = kek;
    return kek;
  }

  private async record(kek: KeyEncryptionKey): Promise<void> {
    await this.control.put(DEPLOYMENT_KIND, 'key-encryption-key', { kek: kek.id, source: kek.source } satisfies RecordedKek);
  }
}

/** A secret of the deployment: read and opened, or made, sealed and stored (under FIRST_START_LOCK). */
async function sharedSecret(control: ControlStore, kek: KeyEncryptionKey, key: string, make: () => Buffer): Promise<{ value: Buffer; created: boolean }> {
  const aad = `opentrail ${DEPLOYMENT_KIND}/${key}`;
  const stored = await control.get<SealedKey>(DEPLOYMENT_KIND, key);
  if (stored) return { value: unseal(kek, stored, aad, `the deployment's ${key}`), created: false };
  const value = make();
  await control.put(DEPLOYMENT_KIND, key, seal(kek, value, aad));
  return { value, created: true };
}

/** A failure at start as ConfigError (one line, exit 2), when it is one the operator must fix. */
function startFailure(err: unknown, url: string): unknown {
  if (err instanceof PostgresStartError || err instanceof KeyEncryptionError) return new ConfigError(err.message);
  if (err instanceof StoreUnavailableError) return new ConfigError(`the PostgreSQL database at ${redactUrl(url)} failed during start: ${err.message}`);
  return err;
}

async function openPostgres(config: OpenTrailConfig, url: string, { logError }: OpenDatabaseOptions): Promise<OpenedDatabase> {
  // One log line per outage seen by idle connections, not one per connection.
  let lastIdleLog = 0;
  const onIdleError = (err: Error) => {
    if (Date.now() - lastIdleLog < 10_000) return;
    lastIdleLog = Date.now();
    logError(`PostgreSQL: a connection was lost (${err.message}); calls answer 503 until the database is back`);
  };
  // Two pools: the control plane's never waits behind Event history reads and group commits.
  const control = await connectPool(url, { max: 4, onIdleError }).catch((e: unknown) => {
    throw startFailure(e, url);
  });
  const eventPool: Pool = openPool(url, { max: 10, onIdleError });
  let controlStore: PgControlStore | undefined;
  let events: PgEventStore | undefined;
  try {
    controlStore = await PgControlStore.open(control);
    events = await PgEventStore.open({ pool: eventPool, historyWindowSec: config.eventHistory.retentionDays * 86_400, ...(config.database.type === 'postgres' && config.database.parallelAppends !== undefined ? { parallelAppends: config.database.parallelAppends } : {}) });
    const leases = leaseKeeper(config, await PgLeaseStore.open(control), logError);
    const cs = controlStore;
    const shared = await withAdvisoryLock(control, FIRST_START_LOCK, async () => {
      const source = new DeploymentKek(kekSource(config, cs), cs);
      const signingKeys = await openSigningKeys(config, cs, source, leases);
      const kek = source.loaded ?? (await source.load());
      if (!kek) throw new ConfigError('no key-encryption key after opening the signing keys');
      const tokenKey = (await sharedSecret(cs, kek, 'next-token-key', () => randomBytes(32))).value;
      let bootstrap: BootstrapResult | undefined;
      if (config.accounts.length === 0) {
        const stored = await cs.get<Omit<BootstrapState, 'secretAccessKey'> & { secretAccessKey: SealedKey }>(DEPLOYMENT_KIND, 'bootstrap-account');
        const aad = (s: { accountId: string; accessKeyId: string }) => `opentrail ${DEPLOYMENT_KIND}/bootstrap-account ${s.accountId} ${s.accessKeyId}`;
        const state: BootstrapState = stored
          ? { accountId: stored.accountId, accessKeyId: stored.accessKeyId, secretAccessKey: unseal(kek, stored.secretAccessKey, aad(stored), "the first-start account's secret key").toString() }
          : newBootstrapState();
        if (!stored) await cs.put(DEPLOYMENT_KIND, 'bootstrap-account', { accountId: state.accountId, accessKeyId: state.accessKeyId, secretAccessKey: seal(kek, Buffer.from(state.secretAccessKey), aad(state)) });
        bootstrap = bootstrapAccount(config.dataDir, config.regions[0]!, state, !stored, { replace: true });
      }
      return { signingKeys, tokenKey, bootstrap };
    }, 'first-start steps');
    const ev = events;
    let last: { at: number; status: Promise<DatabaseStatus> } | undefined;
    return {
      events: ev, control: cs, leases, ...shared,
      status: () => {
        const now = Date.now();
        if (!last || now - last.at >= 1000) {
          last = { at: now, status: ping(control, 2000).then((r) => (r.ok ? { type: 'postgres', status: 'ok' } : { type: 'postgres', status: 'unavailable', reason: r.reason })) };
        }
        return last.status;
      },
      close: async () => {
        await leases.stop();
        await ev.close();
        await cs.close();
        await eventPool.end();
        await control.end();
      },
    };
  } catch (e) {
    const opened = [events, controlStore].filter((s) => s !== undefined);
    await closeAll(...opened.map((s) => () => s.close()), () => eventPool.end(), () => control.end());
    throw startFailure(e, url);
  }
}
