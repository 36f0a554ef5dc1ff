/** The ControlStore contract on a real PostgreSQL (one server for the file, one database per store). */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import pg from 'pg';
import { startPostgres, type StartedPostgres } from '../../../test/helpers/postgres.ts';
import { runControlStoreContract } from '../control-store.suite.ts';
import { StoreUnavailableError } from '../errors.ts';
import { accountOfKey, accountOfPrefix, decodeText, encodeText, PgControlStore } from './pg-control-store.ts';
import { openPool } from './db.ts';

let server: StartedPostgres;
before(async () => {
  server = await startPostgres();
});
after(() => server.destroy());

describe('PgControlStore', () => {
  test('keys are stored losslessly: any text, ordered by code point', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => decodeText(encodeText(s)) === s));
    fc.assert(fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
      const cp = (s: string) => [...s].map((c) => c.codePointAt(0)!);
      const [x, y] = [cp(a), cp(b)];
      let order = 0;
      for (let i = 0; i < Math.min(x.length, y.length) && order === 0; i++) order = Math.sign(x[i]! - y[i]!);
      if (order === 0) order = Math.sign(x.length - y.length);
      return Math.sign(Buffer.compare(encodeText(a), encodeText(b))) === order;
    }));
    assert.equal(decodeText(encodeText('a\ud800b\udfffc😀\u0000')), 'a\ud800b\udfffc😀\u0000');
  });

  test('documents are keyed by the account their key names (the Citus distribution column)', async () => {
    assert.equal(accountOfKey('111111111111/us-east-1/trail'), '111111111111');
    assert.equal(accountOfKey('arn:aws:cloudtrail:us-east-1:222222222222:trail/t'), '222222222222');
    assert.equal(accountOfKey('arn:aws:cloudtrail:us-east-1:222222222222:trail/t|AWSLogs/x.json.gz'), '222222222222');
    assert.equal(accountOfKey('us-east-1/abc'), '');
    assert.equal(accountOfKey('1111111111111/x'), '');
    assert.equal(accountOfPrefix('111111111111/'), '111111111111');
    assert.equal(accountOfPrefix('111111111111'), undefined);
    assert.equal(accountOfPrefix('arn:aws:cloudtrail:us-east-1:222222222222:'), '222222222222');
    assert.equal(accountOfPrefix('arn:aws:cloudtrail:us-east-1:222222222222'), undefined);
    const url = await server.createDatabase('ctl');
    const s = await PgControlStore.open(url);
    const pool = openPool(url);
    try {
      await s.put('trail', '111111111111/us-east-1/a', { a: 1 });
      await s.put('delivery-state', 'arn:aws:cloudtrail:us-east-1:222222222222:trail/a', { b: 2 });
      await s.put('signing-key', 'us-east-1/k', { c: 3 });
      const rows = (await pool.query("SELECT account, convert_from(kind, 'UTF8') AS kind, doc FROM control_documents ORDER BY account")).rows;
      assert.deepEqual(rows, [
        { account: '', kind: 'signing-key', doc: '{"c":3}' },
        { account: '111111111111', kind: 'trail', doc: '{"a":1}' },
        { account: '222222222222', kind: 'delivery-state', doc: '{"b":2}' },
      ]);
      assert.deepEqual(await s.list('delivery-state', 'arn:aws:cloudtrail:us-east-1:222222222222:'), [{ key: 'arn:aws:cloudtrail:us-east-1:222222222222:trail/a', doc: { b: 2 } }]);
      assert.deepEqual(await s.list('delivery-state', 'arn:aws:cloudtrail:us-east-1:111111111111:'), []);
    } finally {
      await pool.end();
      await s.close();
    }
  });

  test('documents are stored as the JSON text they were written as (member order kept)', async () => {
    const s = await PgControlStore.open(await server.createDatabase('ctl'));
    try {
      await s.put('trail', 'k', { z: 1, a: { y: [2, 1], b: null }, m: 'x' });
      assert.equal(JSON.stringify(await s.get('trail', 'k')), '{"z":1,"a":{"y":[2,1],"b":null},"m":"x"}');
    } finally {
      await s.close();
    }
  });

  test('putMany with eraseReplaced leaves no byte of the replaced documents in the table files', async () => {
    const url = await server.createDatabase('ctl');
    const s = await PgControlStore.open(url);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const secret = (i: number) => `SECRET-${i}-${'s'.repeat(6000)}`; // TOASTed, as a PEM key would be
      for (let i = 0; i < 3; i++) await s.put('signing-key', `us-east-1/k${i}`, { s: secret(i) });
      await s.put('signing-key', 'us-east-1/k0', { s: `${secret(0)}-v2` });
      const files = async () => {
        await admin.query('CHECKPOINT');
        const dataDir = (await admin.query('SHOW data_directory')).rows[0].data_directory as string;
        const rels = (await admin.query("SELECT pg_relation_filepath('control_documents') AS main, pg_relation_filepath(reltoastrelid) AS toast FROM pg_class WHERE relname = 'control_documents'")).rows[0] as { main: string; toast: string };
        const out: string[] = [];
        for (const rel of [rels.main, rels.toast]) {
          const dir = join(dataDir, rel, '..');
          const base = rel.split('/').pop()!;
          for (const f of readdirSync(dir)) if (f === base || f.startsWith(`${base}.`) || f.startsWith(`${base}_`)) out.push(readFileSync(join(dir, f)).toString('latin1'));
        }
        return out.join('');
      };
      // A secret stored in the clear: an uncompressible one, so its bytes are in the files as they are.
      const raw = (i: number) => `SECRET-${i}-${Array.from({ length: 300 }, (_, j) => ((j * 7919 + i) % 1000003).toString(36)).join('')}`;
      for (let i = 0; i < 3; i++) await s.put('signing-key', `us-east-1/r${i}`, { s: raw(i) });
      assert.ok((await files()).includes('SECRET-'), 'precondition: the secrets are in the files');
      const sealed = [0, 1, 2].flatMap((i) => [{ kind: 'signing-key', key: `us-east-1/k${i}`, doc: { sealed: 'x'.repeat(100) } }, { kind: 'signing-key', key: `us-east-1/r${i}`, doc: { sealed: 'y'.repeat(100) } }]);
      await s.putMany(sealed, { eraseReplaced: true });
      assert.equal((await files()).includes('SECRET-'), false);
      assert.equal((await s.list('signing-key', '')).length, 6);
    } finally {
      await admin.end();
      await s.close();
    }
  });

  test('a database that goes away: calls reject with StoreUnavailableError, then work again', async () => {
    const s = await PgControlStore.open(await server.createDatabase('ctl'));
    try {
      await s.put('trail', 'k', { v: 1 });
      await server.kill();
      for (const call of [() => s.get('trail', 'k'), () => s.put('trail', 'k', { v: 2 }), () => s.list('trail', ''), () => s.delete('trail', 'k'), () => s.putMany([{ kind: 'trail', key: 'k', doc: { v: 2 } }])]) {
        const err = await call().then(() => undefined, (e: unknown) => e);
        assert.ok(err instanceof StoreUnavailableError, String(err));
      }
      await server.restart();
      assert.deepEqual(await s.get('trail', 'k'), { v: 1 });
      await s.put('trail', 'k', { v: 3 });
      assert.deepEqual(await s.get('trail', 'k'), { v: 3 });
    } finally {
      await s.close();
    }
  });
});

// After the tests above: the database checkpoints they take then have less to write.
runControlStoreContract('PgControlStore', async () => PgControlStore.open(await server.createDatabase('ctl')), {
  persistent: async () => {
    const url = await server.createDatabase('ctl');
    return () => PgControlStore.open(url);
  },
  modelRuns: 15,
});
