export * from './config.ts';
export * from './bootstrap.ts';
