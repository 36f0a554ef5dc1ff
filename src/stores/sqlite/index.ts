export * from './sqlite-event-store.ts';
export * from './sqlite-control-store.ts';
