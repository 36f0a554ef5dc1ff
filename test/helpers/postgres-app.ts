/**
 * For the end-to-end tests of OpenTrail on PostgreSQL: a PostgreSQL server whose databases belong to
 * a role that is not a superuser (as docs/scale-out.md asks), passwords checked for every role but
 * the harness's own superuser, and `opentrail serve` runs expected to fail at start.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { startPostgres, type StartedPostgres } from './postgres.ts';
import { BIN, tempDir } from './server.ts';

export const APP_ROLE = 'otapp';
export const APP_PASSWORD = 'app-password';

export interface AppPostgres {
  server: StartedPostgres;
  /** A new database owned by the application role; its URL as that role. */
  appDatabase(): Promise<string>;
}

export async function startAppPostgres(): Promise<AppPostgres> {
  const server = await startPostgres();
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE ROLE ${APP_ROLE} LOGIN PASSWORD '${APP_PASSWORD}'`);
    const file = (await admin.query('SHOW hba_file')).rows[0].hba_file as string;
    await admin.query(`COPY (SELECT 'host all opentrail 127.0.0.1/32 trust' UNION ALL SELECT 'host all all 127.0.0.1/32 scram-sha-256') TO '${file}'`);
    await admin.query('SELECT pg_reload_conf()');
  } finally {
    await admin.end();
  }
  return {
    server,
    appDatabase: async () => {
      const name = `app_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
      const c = new pg.Client({ connectionString: server.adminUrl });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name} OWNER ${APP_ROLE}`);
      } finally {
        await c.end();
      }
      return `postgres://${APP_ROLE}:${APP_PASSWORD}@127.0.0.1:${server.port}/${name}`;
    },
  };
}

export interface FailedStart {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `opentrail serve` (bin/opentrail.js) expecting it to fail at start; its exit code and output. */
export function failedStart(env: Record<string, string>, config?: object): Promise<FailedStart> {
  const dir = tempDir();
  const args = [BIN, 'serve', '--port', '0', '--data-dir', join(dir, 'data')];
  if (config) {
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    args.push('--config', join(dir, 'config.json'));
  }
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Exit code 2, nothing on stdout, one line on stderr matching `pattern`, no stack trace, no password. */
export function assertOneLine(r: FailedStart, pattern: RegExp, secrets: string[] = [APP_PASSWORD]): void {
  assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^opentrail: [^\n]+\n$/, 'one line');
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  for (const s of secrets) assert.equal(r.stderr.includes(s), false, 'no password');
}
