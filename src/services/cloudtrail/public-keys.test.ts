import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { SqliteControlStore } from '../../stores/sqlite/index.ts';
import { NextTokenCodec } from '../../history/index.ts';
import { SigningKeyStore, type KeyPair } from '../../integrity/index.ts';
import type { CallContext } from '../context.ts';
import { PublicKeyService } from './public-keys.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2024, 0, 1);
const POOL: KeyPair[] = Array.from({ length: 3 }, () => generateKeyPairSync('rsa', { modulusLength: 2048 }));

function setup(pageSize?: number) {
  const control = new SqliteControlStore(':memory:');
  let n = 0;
  const keys = new SigningKeyStore(control, { rotationMs: DAY, generate: () => POOL[n++ % POOL.length]! });
  const svc = new PublicKeyService({ keys, tokens: new NextTokenCodec(NextTokenCodec.randomKey()), pageSize });
  return { control, keys, svc };
}

function ctx(nowMs: number, region = 'us-east-1', accountId = '111111111111'): CallContext {
  return { identity: {} as CallContext['identity'], accountId, region, requestId: 'r', nowMs };
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
  return 'no error';
}

test('no times: the current key, made on first use; Value is PKCS#1 DER whose MD5 is the fingerprint', async () => {
  const { control, keys, svc } = setup();
  const out = await svc.listPublicKeys(ctx(T0 + 5500), {});
  assert.equal(out.PublicKeyList.length, 1);
  assert.equal(out.NextToken, undefined);
  const k = out.PublicKeyList[0]!;
  assert.match(k.Value, /^MIIBCgKCAQEA/);
  const der = Buffer.from(k.Value, 'base64');
  createPublicKey({ key: der, format: 'der', type: 'pkcs1' });
  assert.equal(k.Fingerprint, createHash('md5').update(der).digest('hex'));
  assert.equal(k.ValidityStartTime, (T0 + 5000) / 1000);
  assert.equal(k.ValidityEndTime, (T0 + 5000 + DAY) / 1000);
  assert.equal((await keys.currentKey('us-east-1', T0 + 6000)).fingerprint, k.Fingerprint, 'the key the digest job signs with');
  // Another Region has its own key.
  const west = await svc.listPublicKeys(ctx(T0 + 5500, 'us-west-2'), {});
  assert.notEqual(west.PublicKeyList[0]!.Fingerprint, k.Fingerprint);
  await control.close();
});

test('a range returns every key valid within it, newest first; a historical range makes no key', async () => {
  const { control, keys, svc } = setup();
  assert.deepEqual(await svc.listPublicKeys(ctx(T0), { StartTime: (T0 - 10 * DAY) / 1000, EndTime: (T0 - DAY) / 1000 }), { PublicKeyList: [] });
  assert.deepEqual(await keys.keysBetween('us-east-1', 0, T0 + 100 * DAY), []);
  const k1 = await keys.currentKey('us-east-1', T0);
  const k2 = await keys.currentKey('us-east-1', T0 + DAY);
  const k3 = await keys.currentKey('us-east-1', T0 + 2 * DAY);
  const all = await svc.listPublicKeys(ctx(T0 + 2 * DAY + 5), { StartTime: T0 / 1000 });
  assert.deepEqual(all.PublicKeyList.map((k) => k.Fingerprint), [k3, k2, k1].map((k) => k.fingerprint));
  const mid = await svc.listPublicKeys(ctx(T0 + 2 * DAY + 5), { StartTime: (T0 + DAY + 1) / 1000, EndTime: (T0 + DAY + 2) / 1000 });
  assert.deepEqual(mid.PublicKeyList.map((k) => k.Fingerprint), [k2.fingerprint]);
  // validate-logs asks for [start, end + 2h] with end + 2h in the future.
  const future = await svc.listPublicKeys(ctx(T0 + 2 * DAY + 5), { StartTime: (T0 + 2 * DAY - 3_600_000) / 1000, EndTime: (T0 + 2 * DAY + 7_200_000) / 1000 });
  assert.deepEqual(future.PublicKeyList.map((k) => k.Fingerprint), [k3, k2].map((k) => k.fingerprint));
  await control.close();
});

test('pagination: opaque tokens bound to account, Region and the times sent', async () => {
  const { control, keys, svc } = setup(2);
  for (let i = 0; i < 5; i++) await keys.currentKey('us-east-1', T0 + i * DAY);
  const now = T0 + 4 * DAY + 10;
  const input = { StartTime: T0 / 1000, EndTime: now / 1000 };
  const seen: string[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const out = await svc.listPublicKeys(ctx(now), token ? { ...input, NextToken: token } : input);
    assert.ok(out.PublicKeyList.length <= 2);
    seen.push(...out.PublicKeyList.map((k) => k.Fingerprint));
    token = out.NextToken;
    pages++;
  } while (token);
  assert.equal(pages, 3);
  assert.equal(seen.length, 5);
  const first = await svc.listPublicKeys(ctx(now), input);
  const t = first.NextToken!;
  assert.equal(await code(svc.listPublicKeys(ctx(now), { ...input, NextToken: 'garbage' })), 'InvalidTokenException');
  assert.equal(await code(svc.listPublicKeys(ctx(now), { ...input, NextToken: `${t.slice(0, -2)}AA` })), 'InvalidTokenException');
  assert.equal(await code(svc.listPublicKeys(ctx(now, 'us-west-2'), { ...input, NextToken: t })), 'InvalidTokenException');
  assert.equal(await code(svc.listPublicKeys(ctx(now, 'us-east-1', '222222222222'), { ...input, NextToken: t })), 'InvalidTokenException');
  assert.equal(await code(svc.listPublicKeys(ctx(now), { StartTime: input.StartTime, NextToken: t })), 'InvalidTokenException');
  assert.equal(await code(svc.listPublicKeys(ctx(now), { ...input, NextToken: 5 })), 'SerializationException');
  await control.close();
});

test('time validation: start after end, an EndTime before now without StartTime, wrong types', async () => {
  const { control, svc } = setup();
  assert.equal(await code(svc.listPublicKeys(ctx(T0), { StartTime: T0 / 1000 + 1, EndTime: T0 / 1000 })), 'InvalidTimeRangeException');
  assert.equal(await code(svc.listPublicKeys(ctx(T0), { EndTime: (T0 - DAY) / 1000 })), 'InvalidTimeRangeException');
  assert.equal(await code(svc.listPublicKeys(ctx(T0), { StartTime: (T0 + DAY) / 1000 })), 'InvalidTimeRangeException');
  assert.equal(await code(svc.listPublicKeys(ctx(T0), { StartTime: 'yesterday' })), 'SerializationException');
  assert.equal((await svc.listPublicKeys(ctx(T0), { StartTime: T0 / 1000, EndTime: T0 / 1000 })).PublicKeyList.length, 1, 'start = end = now');
  await control.close();
});
