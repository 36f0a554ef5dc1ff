export * from './config.ts';
export * from './bootstrap.ts';
export * from './data-dir-lock.ts';
