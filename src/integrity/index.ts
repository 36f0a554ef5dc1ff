export * from './digest.ts';
export * from './signing-keys.ts';
export * from './key-encryption.ts';
export { loadOrCreateSecretFile, SecretFileError } from './secret-file.ts';
