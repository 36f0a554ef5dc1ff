/**
 * FetchWebhookPoster against real local servers that misbehave: one that never answers, one that
 * answers and then drips its body for ever; and the caller's signal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { DeliveryTargetError } from '../delivery-targets.ts';
import { FetchWebhookPoster } from './webhook-poster.ts';

async function blackHole() {
  const sockets = new Set<Socket>();
  const srv = createTcpServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/hook`,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => srv.close(r));
    },
  };
}

const code = (c: string) => (e: unknown) => e instanceof DeliveryTargetError && e.code === c;

test('a webhook that never answers is cut at timeoutMs (WebhookTimeout); so is one cut off by the caller\'s signal', { timeout: 30_000 }, async () => {
  const hole = await blackHole();
  try {
    const poster = new FetchWebhookPoster();
    await assert.rejects(poster.post(hole.url, '{}', { timeoutMs: 200 }), code('WebhookTimeout'));
    const ctrl = new AbortController();
    const p = poster.post(hole.url, '{}', { timeoutMs: 60_000, signal: ctrl.signal });
    setTimeout(() => ctrl.abort(), 50);
    await assert.rejects(p, code('WebhookTimeout'));
  } finally {
    await hole.close();
  }
});

test('a 2xx answer whose body never ends is taken, the body cut at timeoutMs; a 500 is WebhookHttp500', { timeout: 30_000 }, async () => {
  const timers = new Set<NodeJS.Timeout>();
  const srv = createHttpServer((req, res) => {
    req.resume();
    if (req.url === '/fail') {
      res.statusCode = 500;
      res.end('no');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    const t = setInterval(() => res.write('x'), 20);
    timers.add(t);
    res.on('close', () => clearInterval(t));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  try {
    const poster = new FetchWebhookPoster();
    await poster.post(`${base}/drip`, '{}', { timeoutMs: 300 });
    await assert.rejects(poster.post(`${base}/fail`, '{}', { timeoutMs: 1000 }), code('WebhookHttp500'));
  } finally {
    for (const t of timers) clearInterval(t);
    srv.closeAllConnections();
    await new Promise((r) => srv.close(r));
  }
});
