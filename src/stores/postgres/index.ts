export * from './db.ts';
export * from './migrations.ts';
export * from './pg-control-store.ts';
export * from './pg-event-store.ts';
export * from './pg-lease-store.ts';
