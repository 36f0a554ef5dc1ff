export * from './s3-object-store.ts';
export * from './sns-topic-directory.ts';
export * from './sns-topic-publisher.ts';
export * from './cloudwatch-logs-sink.ts';
