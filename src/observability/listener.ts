/**
 * The metrics listener of config `metrics.port`: GET /metrics (Prometheus text) and GET /health on
 * a port of their own, so the API port can be reached by clients and /metrics only by the
 * monitoring network (docs/operations.md). Nothing else is served; nothing is authenticated.
 */
import http from 'node:http';

export function createMetricsListener(scrape: () => Promise<{ contentType: string; text: string }>, onError: (err: unknown) => void): http.Server {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    const answer = (status: number, contentType: string, body: string) => {
      res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) }).end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(405, 'application/json', '{"__type":"MethodNotAllowed","message":"GET /metrics or GET /health"}');
    if (path === '/health') return answer(200, 'application/json', '{"status":"ok"}');
    if (path !== '/metrics') return answer(404, 'application/json', '{"__type":"UnknownOperationException","message":"GET /metrics or GET /health"}');
    scrape().then((m) => answer(200, m.contentType, m.text), (err: unknown) => {
      onError(err);
      answer(500, 'application/json', '{"__type":"InternalFailure","message":"metrics could not be collected"}');
    });
  });
  server.requestTimeout = 30_000;
  return server;
}
