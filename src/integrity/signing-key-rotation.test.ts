/**
 * Key rotation with several nodes (two SigningKeyStores over one control.db, each with its own
 * lease keeper): nodes that need a Region's next key at the same moment make ONE key between
 * them, and every node signs with it.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteControlStore, SqliteLeaseStore } from '../stores/sqlite/index.ts';
import { LeaseKeeper } from '../stores/lease-keeper.ts';
import { SigningKeyStore, SIGNING_KEY_KIND, type KeyPair } from './signing-keys.ts';
import { ephemeralKek } from './key-encryption.ts';

const DAY = 24 * 60 * 60 * 1000;
const T0 = Date.UTC(2024, 0, 1);
const dir = mkdtempSync(join(tmpdir(), 'opentrail-rotation-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('nodes rotating a Region\'s key at once make one key, and all sign with it', async () => {
  const path = join(dir, 'control.db');
  const kek = ephemeralKek(); // the deployment's key-encryption key, the same on every node
  const pairs: KeyPair[] = Array.from({ length: 8 }, () => generateKeyPairSync('rsa', { modulusLength: 2048 }));
  let made = 0;
  const nodes = [0, 1, 2].map((i) => {
    const control = new SqliteControlStore(path);
    const leaseStore = new SqliteLeaseStore(path);
    const leases = new LeaseKeeper(leaseStore, { holder: `node-${i}`, ttlMs: 10_000, logError: () => undefined });
    // Key generation is slow in real life: slow enough here that the nodes overlap.
    const generate = async () => {
      await new Promise((r) => setTimeout(r, 50));
      return pairs[made++]!;
    };
    return { control, leaseStore, keys: new SigningKeyStore(control, { kek, rotationMs: DAY, generate, leases }) };
  });
  try {
    for (const [round, at] of [T0, T0 + DAY + 1000, T0 + 2 * DAY + 5000].entries()) {
      const got = await Promise.all(nodes.flatMap((n) => [n.keys.currentKey('us-east-1', at), n.keys.currentKey('us-east-1', at + 10)]));
      assert.equal(new Set(got.map((k) => k.fingerprint)).size, 1, `round ${round}: one key for every node`);
      assert.equal((await nodes[0]!.control.list(SIGNING_KEY_KIND, 'us-east-1/')).length, round + 1);
    }
    assert.equal(made, 3, 'one key made per rotation, not one per node');
  } finally {
    for (const n of nodes) {
      await n.control.close();
      await n.leaseStore.close();
    }
  }
});
