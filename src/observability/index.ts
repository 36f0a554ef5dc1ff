export * from './metrics.ts';
export * from './log.ts';
export * from './listener.ts';
