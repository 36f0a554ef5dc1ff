export * from './digest.ts';
export * from './signing-keys.ts';
