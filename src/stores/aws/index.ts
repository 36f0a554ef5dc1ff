export * from './sns-topic-directory.ts';
export * from './sns-topic-publisher.ts';
export * from './cloudwatch-logs-sink.ts';
export { callDeadlineMs, type AwsClientOptions, type TargetLimits } from '../aws-clients.ts';
