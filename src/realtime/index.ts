export * from './envelope.ts';
export * from './log-consumer.ts';
export * from './eventbridge-forwarder.ts';
export * from './rules.ts';
export * from './live-tail.ts';
