/**
 * Prototype (not used by `npm run bench`): client CPU per call of the recording gateway's upstream
 * request, node:http with a keep-alive Agent (the gateway until issue 11's sixth round) against
 * undici's Pool through `dispatch` with a handler (what the gateway uses now), and undici's
 * `request` for reference, against the gateway bench's upstream (bench/gateway.ts) with a 1 KB
 * JSON 1.0 POST, `clients` calls in flight. Rounds alternate the clients; CPU is this process's.
 *
 *   node bench/proto/upstream-client.ts [calls=20000] [clients=16] [rounds=3]
 */
import http from 'node:http';
import { Pool } from 'undici';
import { startUpstream } from '../gateway.ts';

const calls = Number(process.argv[2] ?? 20000);
const clients = Number(process.argv[3] ?? 16);
const rounds = Number(process.argv[4] ?? 3);
const upstream = await startUpstream();
const url = new URL(upstream.url);
const body = Buffer.alloc(1024, 'a');
const flat = ['content-type', 'application/x-amz-json-1.0', 'x-amz-target', 'GraniteServiceVersion20100801.PutMetricAlarm', 'host', url.host,
  'x-amz-date', '20261205T100000Z', 'authorization', `AWS4-HMAC-SHA256 Credential=AKIA/20261205/us-east-1/monitoring/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=${'0'.repeat(64)}`,
  'user-agent', 'aws-sdk-js/3.0.0', 'content-length', String(body.length)];

const agent = new http.Agent({ keepAlive: true });
const viaHttp = () => new Promise<void>((resolve, reject) => {
  const req = http.request({ hostname: url.hostname, port: url.port, method: 'POST', path: '/', headers: flat, agent });
  req.on('response', (res) => {
    const raw: string[] = res.rawHeaders;
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => (raw.length > 0 ? resolve() : reject(new Error('no headers'))));
  });
  req.on('error', reject);
  req.end(body);
});
const pool = new Pool(url.origin, { connections: 64 });
const viaDispatch = () => new Promise<void>((resolve, reject) => {
  const chunks: Buffer[] = [];
  pool.dispatch({ method: 'POST', path: '/', headers: flat, body }, {
    onRequestStart() {},
    onResponseStart(controller) {
      if (!controller.rawHeaders) reject(new Error('no headers'));
    },
    onResponseData(_c, chunk: Buffer) {
      chunks.push(chunk);
    },
    onResponseEnd() {
      resolve();
    },
    onResponseError(_c, err: Error) {
      reject(err);
    },
  });
});
const viaRequest = async () => {
  const res = await pool.request({ method: 'POST', path: '/', headers: flat, body });
  for await (const c of res.body) void c;
};

const out: Record<string, number[]> = { http: [], undiciDispatch: [], undiciRequest: [] };
const run = async (fn: () => Promise<void>, n: number) => {
  let left = n;
  await Promise.all(Array.from({ length: clients }, async () => {
    while (left-- > 0) await fn();
  }));
};
try {
  for (let r = 0; r < rounds; r++) {
    for (const [name, fn] of [['http', viaHttp], ['undiciDispatch', viaDispatch], ['undiciRequest', viaRequest]] as const) {
      await run(fn, Math.round(calls / 4));
      const c0 = process.cpuUsage();
      await run(fn, calls);
      const c = process.cpuUsage(c0);
      out[name]!.push(Math.round((c.user + c.system) / calls));
    }
  }
} finally {
  agent.destroy();
  await pool.close();
  await upstream.stop();
}
process.stdout.write(`${JSON.stringify({ calls, clients, clientCpuUsPerCall: out })}\n`);
