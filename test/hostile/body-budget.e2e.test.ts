/**
 * The in-flight body budget cannot be taken for good: a client that resets its connection while
 * its gzip body is being inflated, or that declares a large body and never sends it, leaves the
 * budget as it found it, so other callers' bodies are accepted again.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { ACCOUNT_A, ACCOUNT_B, startServer, type StartedServer } from '../helpers/server.ts';
import { signRequest, signedFetch } from '../helpers/signed-fetch.ts';
import { assertAlive, whileProbing } from './liveness.ts';

const alice = ACCOUNT_A.identities[1]!;
const MiB = 1024 * 1024;
let server: StartedServer;

before(async () => {
  server = await startServer({ accounts: [ACCOUNT_A, ACCOUNT_B], ingest: { maxInFlightBodyBytes: 40 * MiB } });
});

after(async () => {
  await server?.stop();
  if (server) rmSync(server.dataDir, { recursive: true, force: true });
});

/** Sends a request's head and body on a raw socket and returns the socket (not waiting for an answer). */
async function rawPost(path: string, body: Buffer, headers: Record<string, string>, sendBody = true): Promise<Socket> {
  const u = new URL(server.url);
  const s = connect(Number(u.port), u.hostname);
  s.on('error', () => {});
  await new Promise<void>((r) => s.once('connect', () => r()));
  s.write(`POST ${path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\ncontent-length: ${body.length}\r\n\r\n`);
  if (sendBody) s.write(body);
  return s;
}

/** A small signed /ingest: 200 once the budget has room again (retried while it answers 503). */
async function smallIngestStatus(): Promise<number> {
  const body = JSON.stringify({ eventTime: new Date().toISOString(), eventSource: 'test.example.com', eventName: 'Probe', awsRegion: 'us-east-1' }) + '\n';
  let status = 0;
  for (let i = 0; i < 20; i++) {
    const res = await signedFetch(`${server.url}/ingest`, alice, { body });
    await res.arrayBuffer();
    status = res.status;
    if (status !== 503) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  return status;
}

test('connections reset while their gzip bodies inflate give their budget back: later bodies are accepted', async () => {
  // 25 MiB of spaces compress to ~25 KB: each request, once verified, inflates far more than it sent.
  const gz = gzipSync(Buffer.alloc(25 * MiB, 0x20), { level: 9 });
  await whileProbing(server, async () => {
    for (let i = 0; i < 3; i++) {
      const { headers } = await signRequest(`${server.url}/ingest`, alice, { body: gz, headers: { 'content-encoding': 'gzip' } });
      const s = await rawPost('/ingest', gz, headers);
      await new Promise((r) => setTimeout(r, 30));
      s.resetAndDestroy();
      await new Promise((r) => setTimeout(r, 500));
    }
  });
  assert.equal(await smallIngestStatus(), 200, 'a small body is accepted after the resets (the budget was not leaked)');
  assertAlive(server);
});

test('connections that declare bodies and never send them hold the budget only until the idle cut (20 s)', async () => {
  const sockets: Socket[] = [];
  try {
    for (let i = 0; i < 4; i++) {
      // Signed payload hash: the headers verify, so 10 MiB each is reserved for this caller.
      const body = Buffer.alloc(10 * MiB, 0x20);
      const { headers } = await signRequest(`${server.url}/ingest`, alice, { body });
      sockets.push(await rawPost('/ingest', body, headers, false));
    }
    await new Promise((r) => setTimeout(r, 300));
    const held = await signedFetch(`${server.url}/ingest`, alice, { body: Buffer.alloc(2 * MiB, 0x20) });
    await held.arrayBuffer();
    assert.equal(held.status, 503, 'while 40 MiB is reserved by silent connections, the 40 MiB budget is full');
    // BODY_IDLE_MS (20 s) after their last byte the silent connections are cut and give it back.
    await new Promise((r) => setTimeout(r, 21_000));
    assert.equal(await smallIngestStatus(), 200, 'the budget is back after the idle cut');
  } finally {
    for (const s of sockets) s.destroy();
  }
  assertAlive(server);
});
