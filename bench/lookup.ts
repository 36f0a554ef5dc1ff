/**
 * LookupEvents latency over HTTP with the AWS SDK, sequential requests, against a dataset built
 * by dataset.ts. Values to look up come from records rebuilt by the generator (so popular
 * values are asked for as often as they occur).
 *
 * Every LookupEvents call is self-audited (a durable write) by the server; after the run the
 * audit records are removed again so the cached dataset stays as built.
 */
import { CloudTrailClient, LookupEventsCommand, type LookupEventsCommandInput } from '@aws-sdk/client-cloudtrail';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { Rng, lookupKeys } from './gen.ts';
import type { DatasetManifest } from './dataset.ts';
import { BENCH_IDENTITY, cpuDelta, fileBytes, log, machineBusySeconds, memoryOf, round, startBenchServer, summarize, threadCpu } from './lib.ts';

export interface LookupOptions {
  samples: number;
  warmup: number;
  /** Pages per paged walk; walks = samples / pages. */
  pages: number;
  nodeFlags?: string[];
}

type Query = { name: string; make(r: Rng): LookupEventsCommandInput };

export interface LookupCase extends ReturnType<typeof summarize> {
  avgEvents: number;
}

export interface LookupResult {
  events: number;
  dbBytes: number;
  buildSeconds: number;
  buildEventsPerSecond: number;
  serverStartMs: number;
  queries: Record<string, LookupCase>;
  pagedWalk: LookupCase & { pagesPerWalk: number; walks: number; walkMs: ReturnType<typeof summarize> };
  server: { rssMiB: number; hwmMiB: number; cpuSeconds: Record<string, { user: number; sys: number }> };
  /** Average cores busy during the run: the server, this client (SDK), and other jobs on the machine. */
  cpuCores?: { server: number; client: number; otherProcesses: number };
}

function maxSeq(dbPath: string): number {
  const db = new DatabaseSync(dbPath);
  try {
    return (db.prepare('SELECT coalesce(max(seq), 0) AS s FROM events').get() as { s: number }).s;
  } finally {
    db.close();
  }
}

/** Removes what the run itself wrote (self-audit records, all newer than the dataset). */
function restoreDataset(dbPath: string, seq: number, sinceSec: number): number {
  const db = new DatabaseSync(dbPath);
  try {
    db.exec('BEGIN IMMEDIATE');
    const keys = db.prepare('SELECT id FROM history_keys').all() as { id: number }[];
    const del = db.prepare('DELETE FROM history WHERE k = ? AND t >= ? AND seq > ?');
    for (const { id } of keys) del.run(id, sinceSec, seq);
    const n = Number(db.prepare('DELETE FROM events WHERE seq > ?').run(seq).changes);
    db.prepare('DELETE FROM batches WHERE first_seq > ?').run(seq);
    db.exec('COMMIT');
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    return n;
  } finally {
    db.close();
  }
}

export async function runLookups(dir: string, manifest: DatasetManifest, opts: LookupOptions): Promise<LookupResult> {
  const dbPath = join(dir, 'events.db');
  const p = manifest.params;
  const startSeq = maxSeq(dbPath);
  const runStartSec = Math.floor(Date.now() / 1000) - 5;
  const t0 = performance.now();
  const server = await startBenchServer(dir, opts.nodeFlags ?? []);
  const serverStartMs = performance.now() - t0;
  const client = new CloudTrailClient({
    endpoint: server.url, region: 'us-east-1', maxAttempts: 1,
    credentials: { accessKeyId: BENCH_IDENTITY.accessKeyId, secretAccessKey: BENCH_IDENTITY.secretAccessKey },
  });
  const randomEvent = (r: Rng) => lookupKeys(p, r.int(p.count));
  const queries: Query[] = [
    { name: 'none', make: () => ({}) },
    { name: 'EventName', make: (r) => ({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: randomEvent(r).eventName }] }) },
    { name: 'Username', make: (r) => {
      let k = randomEvent(r);
      while (!k.username) k = randomEvent(r);
      return { LookupAttributes: [{ AttributeKey: 'Username', AttributeValue: k.username }] };
    } },
    { name: 'ResourceName', make: (r) => {
      let k = randomEvent(r);
      while (!k.resourceName) k = randomEvent(r);
      return { LookupAttributes: [{ AttributeKey: 'ResourceName', AttributeValue: k.resourceName }] };
    } },
    { name: 'EventId', make: (r) => ({ LookupAttributes: [{ AttributeKey: 'EventId', AttributeValue: randomEvent(r).eventId }] }) },
    { name: 'TimeRange1h', make: (r) => {
      const end = Math.floor(p.endMs / 1000) - r.int(Math.floor(p.spanMs / 1000) - 3600);
      return { StartTime: new Date((end - 3600) * 1000), EndTime: new Date(end * 1000) };
    } },
    { name: 'EventName+TimeRange1d', make: (r) => {
      const k = randomEvent(r);
      return { LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: k.eventName }], StartTime: new Date((k.timeSec - 86400) * 1000), EndTime: new Date(k.timeSec * 1000) };
    } },
  ];
  const out: LookupResult = {
    events: manifest.events, dbBytes: manifest.dbBytes, buildSeconds: round(manifest.buildSeconds, 1), buildEventsPerSecond: Math.round(manifest.eventsPerSecond),
    serverStartMs: round(serverStartMs, 0),
    queries: {}, pagedWalk: undefined as unknown as LookupResult['pagedWalk'], server: { rssMiB: 0, hwmMiB: 0, cpuSeconds: {} },
  };
  const cpu0 = threadCpu(server.pid);
  const machine0 = machineBusySeconds();
  const client0 = process.cpuUsage();
  const wall0 = performance.now();
  try {
    for (const q of queries) {
      const r = new Rng(0xbeef + q.name.length * 7919);
      // Inputs are built before timing: the generator is not part of the latency.
      const inputs = Array.from({ length: opts.warmup + opts.samples }, () => q.make(r));
      const times: number[] = [];
      let events = 0;
      for (let i = 0; i < inputs.length; i++) {
        const s = performance.now();
        const res = await client.send(new LookupEventsCommand(inputs[i]!));
        const ms = performance.now() - s;
        if (i >= opts.warmup) {
          times.push(ms);
          events += res.Events?.length ?? 0;
        }
      }
      out.queries[q.name] = { ...summarize(times), avgEvents: round(events / opts.samples, 1) };
      log(`lookup ${manifest.events}: ${q.name} p50 ${out.queries[q.name]!.p50} ms p99 ${out.queries[q.name]!.p99} ms (${out.queries[q.name]!.avgEvents} events/page)`);
    }
    // Paged walk: a popular EventName, MaxResults 50, following NextToken.
    const r = new Rng(0xfeed);
    const pageTimes: number[] = [];
    const walkTimes: number[] = [];
    let events = 0;
    const walks = Math.max(1, Math.round(opts.samples / opts.pages));
    for (let w = 0; w < walks + 2; w++) {
      const name = randomEvent(r).eventName;
      let token: string | undefined;
      const ws = performance.now();
      const mine: number[] = [];
      let got = 0;
      for (let pg = 0; pg < opts.pages; pg++) {
        const s = performance.now();
        const res = await client.send(new LookupEventsCommand({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: name }], MaxResults: 50, NextToken: token }));
        mine.push(performance.now() - s);
        got += res.Events?.length ?? 0;
        token = res.NextToken;
        if (!token) break;
      }
      if (w >= 2) {
        pageTimes.push(...mine);
        walkTimes.push(performance.now() - ws);
        events += got;
      }
    }
    out.pagedWalk = { ...summarize(pageTimes), avgEvents: round(events / pageTimes.length, 1), pagesPerWalk: opts.pages, walks, walkMs: summarize(walkTimes) };
    log(`lookup ${manifest.events}: paged walk page p50 ${out.pagedWalk.p50} ms p99 ${out.pagedWalk.p99} ms; ${opts.pages} pages p50 ${out.pagedWalk.walkMs.p50} ms`);
    const mem = memoryOf(server.pid);
    const cpuSeconds = cpuDelta(cpu0, threadCpu(server.pid));
    const serverCpu = Object.values(cpuSeconds).reduce((a, v) => a + v.user + v.sys, 0);
    const clientCpu = process.cpuUsage(client0);
    const wall = (performance.now() - wall0) / 1000;
    out.server = { ...mem, cpuSeconds };
    out.cpuCores = {
      server: round(serverCpu / wall, 2),
      client: round((clientCpu.user + clientCpu.system) / 1e6 / wall, 2),
      otherProcesses: round(Math.max(0, machineBusySeconds() - machine0 - serverCpu - (clientCpu.user + clientCpu.system) / 1e6) / wall, 2),
    };
  } finally {
    client.destroy();
    await server.stop();
    const removed = restoreDataset(dbPath, startSeq, runStartSec);
    log(`lookup ${manifest.events}: removed ${removed} self-audit records; db ${(fileBytes(dbPath) / 2 ** 30).toFixed(2)} GiB`);
  }
  return out;
}
