export * from './ingester.ts';
export * from './prepare.ts';
export * from './bulk.ts';
export * from './front-door.ts';
export * from './admission.ts';
