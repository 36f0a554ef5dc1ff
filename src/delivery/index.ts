export * from './worker.ts';
export * from './log-file.ts';
export * from './after-delivery.ts';
export * from './digest-job.ts';
export * from './lag.ts';
