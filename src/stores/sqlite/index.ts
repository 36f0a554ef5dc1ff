export * from './sqlite-event-store.ts';
export * from './sqlite-control-store.ts';
export * from './sqlite-lease-store.ts';
