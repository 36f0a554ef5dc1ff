export * from './db.ts';
export * from './migrations.ts';
