/**
 * `opentrail serve`: the config (file, environment, flags) resolved by the schema, the server
 * started, its banner printed. Loaded only by `opentrail serve`: the config schema (zod, yaml) and
 * the server are not loaded by the other commands (docs/validate-logs.md "Speed").
 */
import { parseArgs } from 'node:util';
import { checkDatabaseUrl, ConfigError, defaultConfig, readConfigFile, resolveConfig, BOOTSTRAP_PROFILE } from '../config/index.ts';

/**
 * The config file's document with the environment's and then the flags' values over it, so that
 * one validation (the schema's) covers them all. A host or data dir left empty does not count.
 */
function withOverrides(doc: unknown, flags: { host?: string | undefined; port?: string | undefined; 'data-dir'?: string | undefined }): unknown {
  const env = process.env;
  const over: Record<string, unknown> = {};
  const databaseUrl = env.OPENTRAIL_DATABASE_URL;
  // The URL from the environment; the config file's lease time and parallel appends stay.
  const fileDb = (doc as { database?: { leaseTtlMs?: unknown; parallelAppends?: unknown } } | null | undefined)?.database;
  const lease = fileDb?.leaseTtlMs;
  const parallel = fileDb?.parallelAppends;
  if (databaseUrl) {
    over.database = {
      type: 'postgres', url: checkDatabaseUrl(databaseUrl, 'OPENTRAIL_DATABASE_URL'),
      ...(lease === undefined ? {} : { leaseTtlMs: lease }), ...(parallel === undefined ? {} : { parallelAppends: parallel }),
    };
  }
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

export async function serve(argv: string[], usage: string): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' }, port: { type: 'string' }, 'data-dir': { type: 'string' }, config: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
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
  if (c.console.enabled) console.log(`  console: ${server.url}/console/`);
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

