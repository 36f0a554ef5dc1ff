/**
 * A TCP relay the test controls: every connection is forwarded to `target` (a port on 127.0.0.1);
 * with nothing listening there, the client is cut off. A client keeps one endpoint while the
 * server behind it is stopped, restarted on another port, or replaced by another node.
 */
import { createServer, connect, type AddressInfo, type Server } from 'node:net';

export class Relay {
  target = 0;
  readonly server: Server;
  constructor() {
    this.server = createServer((client) => {
      const upstream = connect(this.target, '127.0.0.1');
      client.pipe(upstream).pipe(client);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
  }
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  pointAt(url: string): void {
    this.target = Number(new URL(url).port);
  }
}
