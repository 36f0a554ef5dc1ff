/**
 * The `opentrail` command. `opentrail serve` starts the server; flags beat environment variables,
 * which beat the config file, which beats the defaults.
 */
import { readFileSync } from 'node:fs';
import { portInUseMessage } from '../http/port-check.ts';

// The server (and, with it, Fastify, SQLite and the rest), the config schema and each command are
// loaded only when their command runs: `opentrail validate-logs` starts in a third of the time
// (docs/validate-logs.md). Errors are told apart by name, not class, for the same reason.

const USAGE = `usage: opentrail serve [--host HOST] [--port PORT] [--data-dir DIR] [--config FILE]
       opentrail validate-logs --trail-arn ARN --start-time TIME [...]   (opentrail validate-logs --help)
       opentrail migrate [--data-dir DIR]   convert an older events.db to this version's layout (opentrail migrate --help)
       opentrail status [--url URL]   a running server's health, event counts, consumer lags and failures (opentrail status --help)
       opentrail tail [--filter EventName=...] [--region R]   the caller's events as they are stored (opentrail tail --help)
       opentrail query "SELECT ... FROM <event data store id>" [--output table|json|csv]   a CloudTrail Lake query (opentrail query --help)
       opentrail import <s3://bucket/prefix | file:///path> --store ID   import trail log files into a Lake event data store (opentrail import --help)
       opentrail --version

  --host      address to listen on (env OPENTRAIL_HOST; default 127.0.0.1)
  --port      port to listen on, 0 for any free port (env OPENTRAIL_PORT; default 4580)
  --data-dir  where events, state and generated credentials live (env OPENTRAIL_DATA_DIR; default .opentrail)
  --config    JSON or YAML config file (env OPENTRAIL_CONFIG); every key: docs/configuration.md,
              its JSON Schema for editors: opentrail.schema.json
  env OPENTRAIL_DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/DB  keeps events and state in PostgreSQL`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'serve':
        await (await import('./serve.ts')).serve(rest, USAGE);
        return -1;
      case 'validate-logs':
        return await (await import('./validate-logs.ts')).validateLogsCommand(rest);
      case 'migrate':
        return await (await import('./migrate.ts')).migrateCommand(rest);
      case 'status':
        return await (await import('./status.ts')).statusCommand(rest);
      case 'tail':
        return await (await import('./tail.ts')).tailCommand(rest);
      case 'query':
        return await (await import('./query.ts')).queryCommand(rest);
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
    const name = (err as Error).name;
    if (name === 'ConfigError' || name === 'LayoutError' || name === 'PortInUseError' || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`opentrail: ${(err as Error).message}`);
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
