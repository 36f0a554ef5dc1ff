export * from './worker.ts';
export * from './log-file.ts';
