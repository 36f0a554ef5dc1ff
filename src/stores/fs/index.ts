export * from './fs-object-store.ts';
