/**
 * The `opentrail` command. `opentrail serve` starts the server; flags beat environment variables,
 * which beat the config file, which beats the defaults.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { checkDatabaseUrl, ConfigError, defaultConfig, readConfigFile, resolveConfig, BOOTSTRAP_PROFILE } from '../config/index.ts';
import { PortInUseError, portInUseMessage } from '../http/port-check.ts';

// The server (and, with it, Fastify, SQLite and the rest) and each command are loaded only when
// their command runs: `opentrail validate-logs` starts in a third of the time (docs/validate-logs.md).

const USAGE = `usage: opentrail serve [--host HOST] [--port PORT] [--data-dir DIR] [--config FILE]
       opentrail validate-logs --trail-arn ARN --start-time TIME [...]   (opentrail validate-logs --help)
       opentrail migrate [--data-dir DIR]   convert an older events.db to this version's layout (opentrail migrate --help)
       opentrail status [--url URL]   a running server's health, event counts, consumer lags and failures (opentrail status --help)
       opentrail import <s3://bucket/prefix | file:///path> --store ID   import trail log files into a Lake event data store (opentrail import --help)
       opentrail --version

  --host      address to listen on (env OPENTRAIL_HOST; default 127.0.0.1)
  --port      port to listen on, 0 for any free port (env OPENTRAIL_PORT; default 4580)
  --data-dir  where events, state and generated credentials live (env OPENTRAIL_DATA_DIR; default .opentrail)
  --config    JSON or YAML config file (env OPENTRAIL_CONFIG); every key: docs/configuration.md,
              its JSON Schema for editors: opentrail.schema.json
  env OPENTRAIL_DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/DB  keeps events and state in PostgreSQL`;

/**
 * The config file's document with the environment's and then the flags' values over it, so that
 * one validation (the schema's) covers them all. A host or data dir left empty does not count.
 */
function withOverrides(doc: unknown, flags: { host?: string | undefined; port?: string | undefined; 'data-dir'?: string | undefined }): unknown {
  const env = process.env;
  const over: Record<string, unknown> = {};
  const databaseUrl = env.OPENTRAIL_DATABASE_URL;
  // The URL from the environment; the config file's lease time stays.
  const lease = (doc as { database?: { leaseTtlMs?: unknown } } | null | undefined)?.database?.leaseTtlMs;
  if (databaseUrl) over.database = { type: 'postgres', url: checkDatabaseUrl(databaseUrl, 'OPENTRAIL_DATABASE_URL'), ...(lease === undefined ? {} : { leaseTtlMs: lease }) };
  for (const [key, flag, name] of [['host', flags.host, 'HOST'], ['dataDir', flags['data-dir'], 'DATA_DIR']] as const) {
    const value = flag || env[`OPENTRAIL_${name}`];
    if (value) over[key] = value;
  }
  const [port, source] = flags.port !== undefined ? [flags.port, '--port'] : [env.OPENTRAIL_PORT, 'OPENTRAIL_PORT'];
  if (port !== undefined) {
    if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) throw new ConfigError(`${source} must be 0-65535, not ${port}`);
    over.port = Number(port);
  }
  if (doc === undefined || doc === null) return over;
  return typeof doc === 'object' && !Array.isArray(doc) ? { ...doc, ...over } : doc;
}

async function serve(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' }, port: { type: 'string' }, 'data-dir': { type: 'string' }, config: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const startedAt = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const configFile = values.config ?? process.env.OPENTRAIL_CONFIG;
  const cfg = resolveConfig(withOverrides(configFile ? readConfigFile(configFile) : undefined, values), defaultConfig(), startedAt);

  // Signal handlers are in place before the server starts: a SIGTERM or SIGINT that arrives while
  // it starts (or just as it prints that it listens) stops it in order once it is up, instead of
  // killing it half-way. A signal repeated while shutting down (Ctrl-C reaches both the launcher in
  // bin/ and the server, and the launcher passes its own on) is the same request.
  const { startServer } = await import('../server.ts');
  const { redactUrl } = await import('../stores/postgres/index.ts');
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let requested: string | undefined;
  let stopping = false;
  const shutdown = (signal: string) => {
    if (!server) {
      requested ??= signal;
      return;
    }
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: shutting down`);
    server.close().then(
      () => process.exit(0),
      (err) => {
        console.error('shutdown failed', err);
        process.exit(1);
      },
    );
  };
  const onTerm = () => shutdown('SIGTERM');
  const onInt = () => shutdown('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  try {
    server = await startServer(cfg);
  } catch (e) {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    throw e;
  }
  const c = server.config;
  console.log(`OpenTrail listening on ${server.url}`);
  if (server.gatewayUrl) console.log(`  recording gateway: ${server.gatewayUrl} (point AWS clients' --endpoint-url here)`);
  console.log(`  regions: ${c.regions.join(', ')}`);
  for (const a of c.accounts) {
    console.log(`  account ${a.id}: ${a.identities.map((i) => `${i.type}${i.userName ? ` ${i.userName}` : ''}${i.roleName ? ` ${i.roleName}/${i.sessionName}` : ''} (${i.accessKeyId})`).join(', ')}`);
  }
  if (server.bootstrap) {
    const b = server.bootstrap;
    console.log(`  credentials: ${b.credentialsFile} (profile ${BOOTSTRAP_PROFILE}; ${b.created ? 'created now' : 'created on first start'})`);
    console.log(`  try: AWS_SHARED_CREDENTIALS_FILE=${b.credentialsFile} AWS_PROFILE=${BOOTSTRAP_PROFILE} aws cloudtrail lookup-events --endpoint-url ${server.url} --region ${c.regions[0]}`);
  } else {
    console.log(`  credentials: the access keys declared in ${configFile}`);
  }
  if (server.metricsUrl) console.log(`  metrics: ${server.metricsUrl}`);
  console.log(`  data: ${c.dataDir}`);
  if (c.database.type === 'postgres') console.log(`  database: ${redactUrl(c.database.url)} (PostgreSQL)`);
  // The banner above is for people; log collectors get the same facts as the first JSON line.
  server.logger.info({ url: server.url, gatewayUrl: server.gatewayUrl, metricsUrl: server.metricsUrl, dataDir: c.dataDir }, 'started');
  if (requested) shutdown(requested);
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'serve':
        await serve(rest);
        return -1;
      case 'validate-logs':
        return await (await import('./validate-logs.ts')).validateLogsCommand(rest);
      case 'migrate':
        return await (await import('./migrate.ts')).migrateCommand(rest);
      case 'status':
        return await (await import('./status.ts')).statusCommand(rest);
      case 'import':
        return await (await import('./import.ts')).importCommand(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE);
        return 0;
      case '--version':
      case 'version': {
        const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
        console.log(`opentrail ${pkg.version} (node ${process.version})`);
        return 0;
      }
      default:
        console.error(`opentrail: unknown command ${cmd}\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    // LayoutError: events.db is in a layout this version does not read (the message says how to migrate).
    if (err instanceof ConfigError || (err as Error).name === 'LayoutError' || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`opentrail: ${(err as Error).message}`);
      return 2;
    }
    if (err instanceof PortInUseError) {
      console.error(`opentrail: ${err.message}`);
      return 2;
    }
    const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL') {
      // A port taken between the check at start and the listen itself.
      console.error(`opentrail: ${e.port !== undefined ? portInUseMessage(e.address ?? '', e.port, 'port', e.code === 'EADDRINUSE' ? undefined : e.message) : e.message}`);
      return 2;
    }
    throw err;
  }
}
