/**
 * The metrics listener of config `metrics.port`: GET /metrics (Prometheus text) and GET /health on
 * a port of their own, so the API port can be reached by clients and /metrics only by the
 * monitoring network (docs/operations.md). Its /health is the whole report (the node, the
 * database and why it fails), which the API port shows only to local callers (docs/security.md).
 * Nothing else is served; nothing is authenticated.
 */
import http from 'node:http';

export function createMetricsListener(
  scrape: () => Promise<{ contentType: string; text: string }>, onError: (err: unknown) => void, health?: () => Promise<{ status: string } & Record<string, unknown>>,
): http.Server {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    const answer = (status: number, contentType: string, body: string) => {
      res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) }).end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(405, 'application/json', '{"__type":"MethodNotAllowed","message":"GET /metrics or GET /health"}');
    if (path === '/health') {
      if (!health) return answer(200, 'application/json', '{"status":"ok"}');
      const ready = new URLSearchParams((req.url ?? '').split('?')[1] ?? '').has('ready');
      health().then((r) => answer(ready && r.status !== 'ok' ? 503 : 200, 'application/json', JSON.stringify(r)), (err: unknown) => {
        onError(err);
        answer(500, 'application/json', '{"__type":"InternalFailure","message":"health could not be read"}');
      });
      return;
    }
    if (path !== '/metrics') return answer(404, 'application/json', '{"__type":"UnknownOperationException","message":"GET /metrics or GET /health"}');
    scrape().then((m) => answer(200, m.contentType, m.text), (err: unknown) => {
      onError(err);
      answer(500, 'application/json', '{"__type":"InternalFailure","message":"metrics could not be collected"}');
    });
  });
  server.requestTimeout = 30_000;
  return server;
}
