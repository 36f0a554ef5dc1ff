export * from './ingester.ts';
export * from './prepare.ts';
export * from './bulk.ts';
