export * from './record.ts';
export * from './time.ts';
export * from './ids.ts';
export * from './normalize.ts';
export * from './read-only.ts';
export * from './identity.ts';
export * from './history-attributes.ts';
