/**
 * The event store's hand-off to its writer thread, alone: CPU per event on the sending and the
 * receiving thread of a batch of AppendInputs posted as objects (structured clone, the form
 * before issue 11's fourth round) or packed (src/stores/sqlite/append-batch.ts: one transferred
 * buffer of UTF-8 and flat arrays). The receiver only touches what it got (records' lengths).
 *   node bench/proto/handoff.ts [rounds=60] [batch=1000]
 */
import { Worker } from 'node:worker_threads';
import { packBatch } from '../../src/stores/sqlite/append-batch.ts';
import { nth, pool } from './engine-v2-pool.ts';

const ROUNDS = Number(process.argv[2] ?? 60);
const BATCH = Number(process.argv[3] ?? 1000);
const p = pool(5000);
const worker = new Worker(`
  const { parentPort } = require('node:worker_threads');
  const cpu = () => { const u = process.threadCpuUsage(); return u.user + u.system; };
  parentPort.on('message', (m) => {
    if (m === 'cpu') return parentPort.postMessage(cpu());
    let n = 0;
    if (m.objects) for (const e of m.objects) n += e.json.length + (e.history ? e.history.length : 0);
    else n = m.packed.bytes.length + m.packed.hist.length;
    parentPort.postMessage(n);
  });`, { eval: true });
const ask = <T>(msg: unknown, transfer?: ArrayBuffer[]) => new Promise<T>((resolve) => { worker.once('message', resolve); worker.postMessage(msg, transfer); });
const cpu = () => { const u = process.threadCpuUsage(); return u.user + u.system; };
const out: Record<string, { sendUs: number; receiveUs: number }[]> = { objects: [], packed: [] };
for (let r = 0; r < ROUNDS; r++) {
  for (const form of (r % 2 ? ['objects', 'packed'] : ['packed', 'objects']) as ('objects' | 'packed')[]) {
    const batch = Array.from({ length: BATCH }, (_, j) => nth(p, r * BATCH + j));
    const w0 = await ask<number>('cpu');
    const c0 = cpu();
    let done: Promise<number>;
    if (form === 'objects') done = ask({ objects: batch });
    else {
      const { packed, transfer } = packBatch(batch);
      done = ask({ packed }, transfer);
    }
    const sent = cpu() - c0;
    await done;
    const w1 = await ask<number>('cpu');
    if (r >= 10) out[form]!.push({ sendUs: sent / BATCH, receiveUs: (w1 - w0) / BATCH });
  }
}
await worker.terminate();
const med = (a: number[]) => +[...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!.toFixed(2);
console.log(JSON.stringify(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, { sendUsPerEvent: med(v.map((x) => x.sendUs)), receiveUsPerEvent: med(v.map((x) => x.receiveUs)) }]))));
