/**
 * Checks that a port can be listened on before the server writes anything: a port in use fails
 * the start with one line naming it, before the data dir is touched (docs/configuration.md).
 */
import { createServer } from 'node:net';

export class PortInUseError extends Error {
  override name = 'PortInUseError';
  readonly code = 'EADDRINUSE';
}

/** Message for a port that cannot be listened on; `what` names the setting (`--port`, `gateway.port`). */
export function portInUseMessage(host: string, port: number, what: string, cause?: string): string {
  return `cannot listen on ${host}:${port}: ${cause ?? 'the port is in use by another process'}; stop it or choose another ${what}`;
}

/** Binds `host:port` for a moment and lets it go; port 0 (any free port) always passes. */
export async function assertPortFree(host: string, port: number, what: string): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (e: NodeJS.ErrnoException) => {
      const cause = e.code === 'EADDRINUSE' ? undefined : e.code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)' : e.code === 'EADDRNOTAVAIL' ? 'no such address on this machine' : e.message;
      reject(new PortInUseError(portInUseMessage(host, port, what, cause)));
    });
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}
