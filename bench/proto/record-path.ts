/**
 * Prototype (not used by `npm run bench`): the CPU of the recording gateway's record path in
 * process, without HTTP: `apiCallInput` (the self-audit record built, normalised, routed and
 * mapped) for the bench's read-1k and write-1k calls, then whole records through an Ingester into
 * a SqliteEventStore on a fresh file, one at a time and 16 at once, CPU of every thread of the
 * process per record (process.cpuUsage).
 *
 *   node bench/proto/record-path.ts [calls=4000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiCallInput, apiCallRecorder, type ApiCall } from '../../src/capture/self-audit.ts';
import { randomIds, type Identity } from '../../src/core/index.ts';
import { Ingester } from '../../src/ingest/index.ts';
import { SqliteEventStore } from '../../src/stores/sqlite/index.ts';

const calls = Number(process.argv[2] ?? 4000);
const identity: Identity = {
  type: 'IAMUser', accountId: '111111111111', accessKeyId: 'AKIAEXAMPLE000000001', secretAccessKey: 'x', userName: 'bench', path: '/',
  principalId: 'AIDAEXAMPLE000000001', mfaAuthenticated: false, isTrustedProducer: false,
};
const pad = (n: number) => 'abcdefghijklmnopqrstuvwxyz0123456789 '.repeat(Math.ceil(n / 37)).slice(0, n);
const base = (): Omit<ApiCall, 'eventId' | 'eventName' | 'eventSource' | 'requestParameters' | 'responseElements'> => ({
  identity, region: 'us-east-1', eventTimeMs: Date.now(), requestId: randomIds.uuid(), sourceIPAddress: '127.0.0.1',
  userAgent: 'aws-sdk-js/3 bench', category: 'Management', keysAsGiven: true,
});
const cases: Record<string, () => Omit<ApiCall, 'eventId'>> = {
  'read-1k': () => ({ ...base(), eventSource: 'servicediscovery.amazonaws.com', eventName: 'ListNamespaces', readOnly: true,
    requestParameters: { Filters: [{ Name: 'NAME', Values: [pad(200), pad(200), pad(200), pad(200)], Condition: 'BEGINS_WITH' }], MaxResults: 100 }, responseElements: { Namespaces: [] } }),
  'write-1k': () => ({ ...base(), eventSource: 'monitoring.amazonaws.com', eventName: 'PutMetricAlarm', readOnly: false,
    requestParameters: { AlarmName: 'bench-cpu-high', AlarmDescription: pad(700), ActionsEnabled: true, MetricName: 'CPUUtilization', Namespace: 'AWS/EC2', Statistic: 'Average',
      Dimensions: [{ Name: 'InstanceId', Value: 'i-0123456789abcdef0' }], Period: 300, EvaluationPeriods: 2, Threshold: 80, ComparisonOperator: 'GreaterThanThreshold', TreatMissingData: 'missing' },
    responseElements: null }),
};
const cpuUs = (c: NodeJS.CpuUsage) => c.user + c.system;
const out: Record<string, unknown> = {};
for (const [name, make] of Object.entries(cases)) {
  const inputs = Array.from({ length: calls }, make);
  for (let i = 0; i < 500; i++) apiCallInput(inputs[i]!, randomIds);
  const c0 = process.cpuUsage();
  for (const c of inputs) apiCallInput(c, randomIds);
  const build = cpuUs(process.cpuUsage(c0)) / calls;
  const dir = mkdtempSync(join(tmpdir(), 'record-path-'));
  const store = new SqliteEventStore({ path: join(dir, 'events.db') });
  const record = apiCallRecorder(new Ingester(store, { maxBatchEvents: 5000 }), randomIds);
  for (let i = 0; i < 300; i++) await record(inputs[i]!);
  const c1 = process.cpuUsage();
  const w1 = performance.now();
  for (const c of inputs) await record(c);
  const one = cpuUs(process.cpuUsage(c1)) / calls;
  const oneWall = ((performance.now() - w1) * 1000) / calls;
  const c2 = process.cpuUsage();
  const w2 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < inputs.length) await record(inputs[next++]!);
  }));
  const sixteen = cpuUs(process.cpuUsage(c2)) / calls;
  const sixteenWall = ((performance.now() - w2) * 1000) / calls;
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  out[name] = { apiCallInputUs: Math.round(build), oneAtATime: { cpuUsPerRecord: Math.round(one), wallUs: Math.round(oneWall) }, sixteenAtOnce: { cpuUsPerRecord: Math.round(sixteen), wallUs: Math.round(sixteenWall) } };
  process.stderr.write(`${name}: ${JSON.stringify(out[name])}\n`);
}
console.log(JSON.stringify({ calls, results: out }, null, 2));
