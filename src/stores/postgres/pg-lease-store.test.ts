/**
 * The LeaseStore contract on a real PostgreSQL (one server for the file, one database per case):
 * two lease stores on two pools (two "nodes"), and the PgControlStore of the same database for the
 * fenced writes.
 */
import { after, before } from 'node:test';
import { startPostgres, type StartedPostgres } from '../../../test/helpers/postgres.ts';
import { runLeaseStoreContract } from '../lease-store.suite.ts';
import { openPool } from './db.ts';
import { PgControlStore } from './pg-control-store.ts';
import { PgLeaseStore } from './pg-lease-store.ts';

let server: StartedPostgres;
before(async () => {
  server = await startPostgres();
});
after(() => server.destroy());

runLeaseStoreContract('PgLeaseStore', async () => {
  const url = await server.createDatabase('lease');
  const a = await PgLeaseStore.open(openPool(url, { max: 2 }), { ownsPool: true });
  const b = await PgLeaseStore.open(openPool(url, { max: 2 }), { ownsPool: true });
  const control = await PgControlStore.open(url);
  return {
    a, b, control,
    close: async () => {
      await a.close();
      await b.close();
      await control.close();
    },
  };
});
