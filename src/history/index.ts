export * from './next-token.ts';
export * from './lookup-events.ts';
export * from './retention.ts';
