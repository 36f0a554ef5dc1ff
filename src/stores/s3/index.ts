export * from './s3-object-store.ts';
export * from './sns-topic-directory.ts';
