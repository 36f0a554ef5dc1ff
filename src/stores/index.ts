export type * from './event-store.ts';
export type * from './control-store.ts';
