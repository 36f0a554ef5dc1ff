export { KmsDataKeys, type KmsDataKeysConfig } from './kms-data-keys.ts';
