export * from './webhook-poster.ts';
