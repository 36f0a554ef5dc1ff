/**
 * Test harness: a real PostgreSQL server (Debian's `postgresql` package) on a free loopback port,
 * initdb'd into a temp dir. When the tests run as root (CI), the server runs as the unprivileged
 * user `nobody` (PostgreSQL refuses to run as root). One server per test file (`startPostgres`);
 * each test takes a fresh, empty database from it (`createDatabase`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './moto.ts';
import { reapOnExit } from './reap.ts';

export interface StartedPostgres {
  port: number;
  /** A URL of the server's `postgres` database as the superuser `opentrail` (no password: trust on loopback). */
  adminUrl: string;
  /** The URL of a database of this server. */
  urlOf(database: string): string;
  /** Creates a new, empty database and returns its URL. */
  createDatabase(prefix?: string): Promise<string>;
  output(): string;
  /** SIGINT (fast shutdown) and wait for exit; the data dir stays, for `restart`. */
  stop(): Promise<void>;
  /** SIGKILL the postmaster and wait for exit (its backends end by themselves). */
  kill(): Promise<void>;
  /** Starts the server again on the same port and data dir (after stop or kill). */
  restart(): Promise<void>;
  /** Stops the server and deletes its data dir. */
  destroy(): Promise<void>;
}

const SUPERUSER = 'opentrail';

/** The directory of initdb / postgres: PATH first, then Debian's versioned directories. */
export function postgresBinDir(): string | undefined {
  const onPath = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' }).stdout.trim();
  const candidates: string[] = [];
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    for (const v of readdirSync(debian).sort((a, b) => Number(b) - Number(a))) candidates.push(join(debian, v, 'bin'));
  }
  for (const dir of candidates) if (existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'))) return dir;
  if (onPath) {
    const real = spawnSync('readlink', ['-f', onPath], { encoding: 'utf8' }).stdout.trim();
    const dir = real.slice(0, real.lastIndexOf('/'));
    if (existsSync(join(dir, 'postgres'))) return dir;
  }
  return undefined;
}

/** uid/gid to run the server as: ourselves, or `nobody` when we are root. */
function runAs(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const uid = Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).stdout.trim());
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error('running as root and there is no user `nobody` to run PostgreSQL as');
  return { uid, gid };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dbCounter = 0;

/**
 * `dataDir`: a data directory of the caller's (the bench's cached datasets, bench/pg-bulk-load.ts)
 * instead of a temp one: initdb'd when it does not exist yet, reused as it is when it does, and
 * left in place by `destroy` (which then removes only the socket directory).
 */
/** Whether the process `pid` still runs (a zombie has ended: only its parent's wait is left). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

/** The pids whose parent is `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // Fields after the command's closing parenthesis: state, ppid, ...
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(name));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

/**
 * kill -9 of the database host: the postmaster and every backend at once. A SIGKILLed postmaster
 * alone leaves its backends (each in a session of its own: they call setsid) serving their open
 * connections for a moment, and a restart on the same data directory refuses while they live. The
 * postmaster is stopped first so it forks nothing while its children are listed.
 */
async function killAll(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGSTOP');
  } catch {
    return;
  }
  const kids = childrenOf(pid);
  for (const p of [pid, ...kids]) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  for (const p of kids) while (running(p)) await sleep(5);
}

export async function startPostgres(opts: { settings?: Record<string, string>; dataDir?: string } = {}): Promise<StartedPostgres> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL is not installed (initdb not found): `.ci/run` installs Debian\'s postgresql package, or run `apt-get install -y postgresql`');
  const user = runAs();
  const root = mkdtempSync(join(tmpdir(), 'opentrail-pg-'));
  const dataDir = opts.dataDir ?? join(root, 'data');
  if (user.uid !== undefined) chownSync(root, user.uid, user.gid!);
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    if (opts.dataDir) {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      if (user.uid !== undefined) chownSync(dataDir, user.uid, user.gid!);
    }
    const init = spawnSync(join(bin, 'initdb'), ['-D', dataDir, '-U', SUPERUSER, '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'], { encoding: 'utf8', ...user, cwd: root });
    if (init.status !== 0) throw new Error(`initdb failed (${init.status}):\n${init.stdout}\n${init.stderr}`);
  }
  const port = await freePort();
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: root,
    max_connections: '200',
    shared_buffers: '64MB',
    // Durability as in production: commits are fsynced (the contract under test).
    fsync: 'on',
    synchronous_commit: 'on',
    ...opts.settings,
  };
  let out = '';
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const launch = async () => {
    const args = ['-D', dataDir, '-p', String(port)];
    for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);
    const c = spawn(join(bin, 'postgres'), args, { stdio: ['ignore', 'pipe', 'pipe'], ...user, cwd: root });
    reapOnExit(c);
    child = c;
    let exitCode: number | null | undefined;
    exited = new Promise<void>((resolve) => c.once('exit', (code) => {
      exitCode = code;
      resolve();
    }));
    c.stdout!.on('data', (d) => (out += d));
    c.stderr!.on('data', (d) => (out += d));
    c.once('error', (e) => (out += `\nspawn error: ${e.message}`));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (exitCode !== undefined) throw new Error(`postgres exited with ${exitCode} before accepting connections:\n${out}`);
      const client = new pg.Client({ host: '127.0.0.1', port, user: SUPERUSER, database: 'postgres', connectionTimeoutMillis: 1000 });
      try {
        await client.connect();
        await client.query('SELECT 1');
        await client.end();
        return;
      } catch {
        await client.end().catch(() => undefined);
      }
      if (Date.now() > deadline) {
        c.kill('SIGKILL');
        await exited;
        throw new Error(`postgres did not accept connections on port ${port} within 30 s:\n${out}`);
      }
      await sleep(100);
    }
  };
  await launch();

  const urlOf = (database: string) => `postgres://${SUPERUSER}@127.0.0.1:${port}/${database}`;
  const signal = async (sig: NodeJS.Signals) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    if (sig === 'SIGKILL' && child.pid !== undefined) await killAll(child.pid);
    else child.kill(sig);
    await exited;
  };
  return {
    port,
    adminUrl: urlOf('postgres'),
    urlOf,
    createDatabase: async (prefix = 'ot') => {
      const name = `${prefix}_${process.pid}_${++dbCounter}`;
      const client = new pg.Client({ connectionString: urlOf('postgres') });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return urlOf(name);
    },
    output: () => out,
    stop: () => signal('SIGINT'),
    kill: () => signal('SIGKILL'),
    restart: async () => {
      await signal('SIGINT');
      await launch();
    },
    destroy: async () => {
      await signal('SIGINT');
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Runs `fn` on a client of its own connected to `url`, ended after. */
export async function withSql<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}
