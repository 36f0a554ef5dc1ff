/**
 * Prototype (not used by `npm run bench`): the floor of the recording gateway's two HTTP legs in
 * this runtime. A bare node:http server that forwards each request to one upstream with undici's
 * `Agent.dispatch` and a handler (the gateway's client, src/capture/gateway/gateway.ts) and passes
 * the answer back: no SigV4, no decoding, no record, no log line, no metrics. Run as a child by
 * bench/proto/gateway-cpu.ts (`bare-*` cases), which counts its CPU per call beside the gateway's.
 *
 *   node bench/proto/bare-proxy.ts http://127.0.0.1:UPSTREAM   (prints "listening PORT")
 */
import { createServer } from 'node:http';
import { Agent, type Dispatcher } from 'undici';

const upstream = new URL(process.argv[2]!);
const agent = new Agent({ headersTimeout: 0, bodyTimeout: 0 });
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer']);

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const headers: string[] = [];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      if (!HOP_BY_HOP.has(req.rawHeaders[i]!.toLowerCase())) headers.push(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    }
    let status = 502;
    let raw: string[] = [];
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart() {},
      onResponseStart(controller, statusCode) {
        status = statusCode;
        const r = (controller.rawHeaders ?? []) as (Buffer | string)[];
        raw = [];
        for (let i = 0; i + 1 < r.length; i += 2) {
          const name = r[i]!.toString('latin1');
          if (!HOP_BY_HOP.has(name.toLowerCase())) raw.push(name, r[i + 1]!.toString('latin1'));
        }
        res.writeHead(status, raw);
      },
      onResponseData(_controller, c) {
        res.write(c);
      },
      onResponseEnd() {
        res.end();
      },
      onResponseError(_controller, err) {
        if (process.env.BARE_DEBUG) process.stderr.write(`bare proxy: ${String(err)}\n`);
        if (!res.headersSent) res.writeHead(502);
        res.end();
      },
    };
    agent.dispatch({ origin: upstream.origin, method: req.method ?? 'POST', path: req.url ?? '/', headers, body: Buffer.concat(chunks) }, handler);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${(server.address() as { port: number }).port}\n`));
