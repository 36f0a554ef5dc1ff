/**
 * Prototype (not used by `npm run bench`): LookupEvents in-process, without HTTP, SigV4, the SDK
 * or the self-audit write: lookupEvents() from src/history over SqliteEventStore on a cached
 * dataset. The difference to the HTTP figures is what the request path adds around the index.
 *
 *   node bench/proto/lookup-direct.ts DATASET_DIR [samples=2000]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteEventStore } from '../../src/stores/sqlite/index.ts';
import { lookupEvents, NextTokenCodec } from '../../src/history/index.ts';
import { Rng, lookupKeys } from '../gen.ts';
import type { DatasetManifest } from '../dataset.ts';
import { summarize } from '../lib.ts';

const dir = process.argv[2]!;
const samples = Number(process.argv[3] ?? 2000);
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as DatasetManifest;
const p = manifest.params;
const store = new SqliteEventStore({ path: join(dir, 'events.db') });
const deps = { store, tokens: new NextTokenCodec(NextTokenCodec.randomKey()), retentionDays: 36500 };
const ctx = { accountId: '111111111111', region: 'us-east-1', nowMs: Date.now() };
const ev = (r: Rng) => lookupKeys(p, r.int(p.count));
const kinds: Record<string, (r: Rng) => Record<string, unknown>> = {
  none: () => ({}),
  EventName: (r) => ({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: ev(r).eventName }] }),
  Username: (r) => ({ LookupAttributes: [{ AttributeKey: 'Username', AttributeValue: ev(r).username ?? 'root' }] }),
  ResourceName: (r) => {
    let k = ev(r);
    while (!k.resourceName) k = ev(r);
    return { LookupAttributes: [{ AttributeKey: 'ResourceName', AttributeValue: k.resourceName }] };
  },
  EventId: (r) => ({ LookupAttributes: [{ AttributeKey: 'EventId', AttributeValue: ev(r).eventId }] }),
  TimeRange1h: (r) => {
    const end = Math.floor(p.endMs / 1000) - r.int(Math.floor(p.spanMs / 1000) - 3600);
    return { StartTime: end - 3600, EndTime: end };
  },
};
const out: Record<string, unknown> = {};
for (const [name, make] of Object.entries(kinds)) {
  const r = new Rng(0xbeef + name.length * 7919);
  const inputs = Array.from({ length: samples + 200 }, () => make(r));
  const all: number[] = [];
  const storeOnly: number[] = [];
  for (let i = 0; i < inputs.length; i++) {
    const s = performance.now();
    await lookupEvents(deps, ctx, inputs[i]!);
    const ms = performance.now() - s;
    if (i >= 200) all.push(ms);
  }
  // The store call alone (index range scan + join to the record), for the same attribute.
  for (let i = 200; i < inputs.length; i++) {
    const a = (inputs[i]!.LookupAttributes as { AttributeKey: string; AttributeValue: string }[] | undefined)?.[0];
    const attribute: readonly [string, string] = a ? [a.AttributeKey, a.AttributeValue] : ['*', 'management'];
    const s = performance.now();
    await store.lookup({ accountId: ctx.accountId, region: ctx.region, attribute, startSec: 0, endSec: 2 ** 31, limit: 51 });
    storeOnly.push(performance.now() - s);
  }
  out[name] = { lookupEventsMs: summarize(all), storeLookupMs: summarize(storeOnly) };
  process.stderr.write(`${name}: ${JSON.stringify(out[name])}\n`);
}
await store.close();
console.log(JSON.stringify({ events: manifest.events, samples, results: out }, null, 2));
