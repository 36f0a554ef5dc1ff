/**
 * Prototype (not used by `npm run bench`): the CPU of the recording gateway's per-call steps that
 * need no socket, in process, for the gateway bench's 1 KB recorded cases (bench/gateway.ts
 * makeCases, signed as the bench signs them): SigV4 header check and signature, protocol checks,
 * decoding, and the record's build and normalising (apiCallInput). µs per call, best of 3 rounds.
 *
 *   node bench/proto/gateway-steps.ts [iterations=20000]
 */
import { checkSigV4Headers, expectedSignature, verifySigV4, type VerifyOptions } from '../../src/aws/sigv4.ts';
import { chooseModel, decodeRequest, requestProtocol, type GatewayRequest } from '../../src/aws/protocol/decode.ts';
import { rulesOf } from '../../src/capture/gateway/rules.ts';
import { apiCallInput } from '../../src/capture/self-audit.ts';
import { hash } from 'node:crypto';
import { makeCases, sign } from '../gateway.ts';
import { BENCH_IDENTITY } from '../lib.ts';

const n = Number(process.argv[2] ?? 20000);
const identity = { ...BENCH_IDENTITY, accountId: '111111111111', arn: 'arn:aws:iam::111111111111:user/alice', principalId: 'AIDAALICE' } as never;
const ids = { uuid: () => crypto.randomUUID() } as never;
const time = (f: () => unknown): number => {
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const t = process.cpuUsage();
    for (let i = 0; i < n; i++) f();
    const d = process.cpuUsage(t);
    best = Math.min(best, (d.user + d.system) / n);
  }
  return Math.round(best * 100) / 100;
};
const out: Record<string, Record<string, number>> = {};
for (const c of makeCases(1024).filter((x) => x.record !== 'none')) {
  const signed = await sign(c, '127.0.0.1:4581');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(signed)) headers[k.toLowerCase()] = v;
  const req: GatewayRequest = { method: 'POST', path: c.path, rawQuery: '', headers, body: c.body };
  const nowMs = Date.now();
  const opts: VerifyOptions = { nowMs, services: [c.service], credentialsFor: () => BENCH_IDENTITY, uriEscapePath: true };
  const chosen = chooseModel(c.service, req)!;
  const rule = rulesOf(chosen.id, c.service);
  const dopts = { memberCase: rule.memberCase, pathStyleHosts: [] };
  const bodySha256 = hash('sha256', c.body);
  const checked = checkSigV4Headers(headers, opts);
  const call = decodeRequest(chosen.model, req, dopts);
  const apiCall = {
    identity, region: 'us-east-1', eventSource: rule.eventSource, eventName: call.operation, eventTimeMs: nowMs, requestId: 'r-1', sourceIPAddress: '127.0.0.1',
    userAgent: 'bench', requestParameters: call.params, responseElements: null, category: 'Management' as const, keysAsGiven: true,
  };
  await verifySigV4({ ...req, bodySha256 }, opts, checked);
  out[c.name] = {
    checkSigV4Headers: time(() => checkSigV4Headers(headers, opts)),
    expectedSignature: time(() => expectedSignature({ ...req, bodySha256 }, checked.auth, BENCH_IDENTITY.secretAccessKey, true)),
    bodySha256: time(() => hash('sha256', c.body)),
    requestProtocol: time(() => requestProtocol(req, chosen.model, [])),
    decodeRequest: time(() => decodeRequest(chosen.model, req, dopts)),
    apiCallInput: time(() => apiCallInput(apiCall, ids)),
  };
}
process.stdout.write(`${JSON.stringify(out)}\n`);
