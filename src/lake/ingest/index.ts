export * from './worker.ts';
export * from './retention.ts';
export * from './duck.ts';
