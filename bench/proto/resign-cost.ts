/**
 * Prototype (not used by `npm run bench`): CPU of re-signing one gateway request for an upstream
 * with credentials of its own, @smithy/signature-v4's `SignatureV4.sign` (one signer kept per
 * upstream, region and service, as the gateway kept it) against src/core/sigv4-sign.ts
 * `signRequest`; both must give the same headers.
 *
 *   node bench/proto/resign-cost.ts [calls=20000] [bodyBytes=1024]
 */
import { deepStrictEqual } from 'node:assert';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from '../../src/core/sha256.ts';
import { signRequest } from '../../src/core/sigv4-sign.ts';

const calls = Number(process.argv[2] ?? 20000);
const body = Buffer.alloc(Number(process.argv[3] ?? 1024), 'a');
const credentials = { accessKeyId: 'AKIAUPSTREAM0000001', secretAccessKey: 'upstream-secret-key-0000000000000000000' };
const headers: Record<string, string> = {
  'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'GraniteServiceVersion20100801.PutMetricAlarm',
  'user-agent': 'aws-sdk-js/3.0.0 ua/2.1 os/linux lang/js md/nodejs#24.21.0 api/cloudwatch#3.0.0', 'amz-sdk-invocation-id': '0f9b2c1e-1111-2222-3333-444455556666',
  'amz-sdk-request': 'attempt=1; max=3', 'content-length': String(body.length),
};
const nowMs = Date.UTC(2026, 11, 5, 10, 0, 0);
const signer = new SignatureV4({ credentials, region: 'us-east-1', service: 'monitoring', sha256: NodeSha256, uriEscapePath: true, applyChecksum: false });
const smithy = async () => (await signer.sign({ method: 'POST', protocol: 'http:', hostname: '127.0.0.1', port: 5000, path: '/', query: {}, headers: { ...headers, host: '127.0.0.1:5000' }, body }, { signingDate: new Date(nowMs) })).headers;
const ours = () => signRequest({ method: 'POST', host: '127.0.0.1:5000', path: '/', query: {}, headers, body }, { credentials, region: 'us-east-1', service: 'monitoring', uriEscapePath: true, contentSha256: false, nowMs });
deepStrictEqual(ours(), await smithy());
const out: Record<string, number> = {};
for (let round = 0; round < 3; round++) {
  for (const [name, fn] of [['smithy', smithy], ['signRequest', ours]] as const) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < calls; i++) await fn();
    const c = process.cpuUsage(c0);
    out[`${name}UsPerCall`] = Math.round((100 * (c.user + c.system)) / calls) / 100;
  }
}
process.stdout.write(`${JSON.stringify({ calls, bodyBytes: body.length, ...out })}\n`);
